// Package flagenv fills a flag.FlagSet from, in order of precedence, the
// command line, TANDEM_* environment variables and a YAML config file
// (interfaces.md: every flag also reads TANDEM_<FLAG_IN_CAPS> and may come
// from --config FILE). It owns only that lookup order and its errors.
package flagenv

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// EnvName is the environment variable of a flag: --data-dir ↔ TANDEM_DATA_DIR.
func EnvName(flagName string) string {
	return "TANDEM_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// Parse parses args into fs, then fills every flag not given on the command
// line from its environment variable, then from the YAML file named by the
// flag configFlag (if fs has it and it is set). getenv is os.Getenv in
// production. Errors name the flag, variable or field and the problem.
func Parse(fs *flag.FlagSet, args []string, configFlag string, getenv func(string) string) error {
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if err != nil || set[f.Name] {
			return
		}
		if v := getenv(EnvName(f.Name)); v != "" {
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("%s: invalid value %q: %v", EnvName(f.Name), v, e)
				return
			}
			set[f.Name] = true
		}
	})
	if err != nil {
		return err
	}
	cf := fs.Lookup(configFlag)
	if cf == nil || cf.Value.String() == "" {
		return nil
	}
	return loadFile(fs, cf.Value.String(), set)
}

func loadFile(fs *flag.FlagSet, path string, set map[string]bool) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("--config: %w", err)
	}
	// Decode into nodes, not map[string]any: a value must reach the flag
	// as written (a token of digits, 0x1F, 007, 1e3 or a date would
	// otherwise be reformatted as a number or time before Set sees it).
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return fmt.Errorf("config %s: %s", path, oneLine(err))
	}
	if len(doc.Content) == 0 {
		return nil // empty file
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return fmt.Errorf("config %s: line %d: want a mapping of flag names to values", path, root.Line)
	}
	fields := map[string]*yaml.Node{}
	keys := make([]string, 0, len(root.Content)/2)
	for i := 0; i+1 < len(root.Content); i += 2 {
		k := root.Content[i].Value
		if _, dup := fields[k]; dup {
			return fmt.Errorf("config %s: line %d: field %q given twice", path, root.Content[i].Line, k)
		}
		fields[k] = root.Content[i+1]
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		f := fs.Lookup(k)
		if f == nil || k == "config" {
			return fmt.Errorf("config %s: unknown field %q", path, k)
		}
		if set[k] {
			continue
		}
		vals, err := scalars(fields[k])
		if err != nil {
			return fmt.Errorf("config %s: field %q: %v", path, k, err)
		}
		for _, v := range vals {
			if err := fs.Set(k, v); err != nil {
				return fmt.Errorf("config %s: field %q: invalid value %q: %v", path, k, v, err)
			}
		}
	}
	return nil
}

// scalars returns a field's value as written: one scalar, or each item of
// a list of scalars (a repeatable flag). Aliases are followed once, never
// recursively (an anchor may contain an alias to itself).
func scalars(n *yaml.Node) ([]string, error) {
	n = deref(n)
	switch n.Kind {
	case yaml.ScalarNode:
		v, err := scalar(n)
		return []string{v}, err
	case yaml.SequenceNode:
		out := make([]string, 0, len(n.Content))
		for _, item := range n.Content {
			item = deref(item)
			if item.Kind != yaml.ScalarNode {
				return nil, fmt.Errorf("line %d: a list may hold only plain values", item.Line)
			}
			v, err := scalar(item)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	}
	return nil, fmt.Errorf("line %d: want a value or a list of values", n.Line)
}

func deref(n *yaml.Node) *yaml.Node {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		return n.Alias
	}
	return n
}

func scalar(n *yaml.Node) (string, error) {
	if n.Tag == "!!null" {
		return "", fmt.Errorf("line %d: no value", n.Line)
	}
	return n.Value, nil
}

// oneLine flattens a YAML error (which may span lines) to one line.
func oneLine(err error) string {
	return strings.Join(strings.Fields(strings.TrimPrefix(err.Error(), "yaml: ")), " ")
}

// OneLine joins a multi-line error (YAML reports several problems on
// separate lines) into the one line a failed command prints.
func OneLine(err error) string {
	lines := strings.Split(strings.TrimSpace(err.Error()), "\n")
	out := lines[:0]
	for _, l := range lines {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return strings.Join(out, " ")
}
