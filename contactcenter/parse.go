package contactcenter

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/tandemcc/tandem/command"
	"github.com/tandemcc/tandem/internal/jsonin"
)

// Limits of a configuration document as text (DESIGN.md, "Limits of
// input"). A document is parsed into YAML's node tree first, which is
// proportional to the text (aliases are refused, so nothing in it is
// ever expanded), and the tree is bounded and checked against
// Document's shape before anything is decoded.
const (
	// MaxDocumentBytes bounds a document's text (POST /v1/config takes
	// no more).
	MaxDocumentBytes = command.MaxPayload / 2
	// MaxDocumentNodes bounds the values of a document: every scalar,
	// list and mapping, keys included (YAML nodes; in JSON, the values).
	MaxDocumentNodes = 500_000
	// MaxDocumentDepth bounds how deep lists and mappings nest (a
	// document's deepest field is 5 levels down).
	MaxDocumentDepth = 32
)

// errAliases is the refusal of an alias. An alias (*name) repeats the
// node its anchor (&name) marks: 999 aliases of an anchored 1 MiB string
// would make a 1 MiB document decode and encode as 1 GiB. A configuration
// has no need of them.
const errAliases = "config: YAML aliases (*name) are not accepted"

// ParseDocument reads a configuration document from YAML (or JSON, which
// is YAML). The text is at most MaxDocumentBytes; aliases and merge keys
// are refused; at most MaxDocumentNodes values nested at most
// MaxDocumentDepth deep; then every field must be one Document has, of
// the right kind. Errors start with "config:", give the line, and name
// the field (a *FieldError inside) when there is one. The document is not
// validated: Validate does that.
func ParseDocument(b []byte) (Document, error) {
	if len(b) > MaxDocumentBytes {
		return Document{}, fmt.Errorf("config: %d bytes, at most %d", len(b), MaxDocumentBytes)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var root yaml.Node
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return Document{}, errors.New("config: empty document")
		}
		return Document{}, fmt.Errorf("config: %s", yamlMessage(err))
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return Document{}, errors.New("config: more than one YAML document in the file")
	}
	var budget nodeBudget
	if err := budget.walk(&root, 0); err != nil {
		return Document{}, err
	}
	n := &root
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return Document{}, errors.New("config: empty document")
		}
		n = n.Content[0]
	}
	if err := checkShape(reflect.TypeFor[Document](), n, "", kindNone); err != nil {
		return Document{}, err
	}
	var d Document
	if err := n.Decode(&d); err != nil {
		return Document{}, fmt.Errorf("config: %s", yamlMessage(err))
	}
	return d, nil
}

// nodeBudget counts a tree's nodes and value bytes.
type nodeBudget struct {
	nodes, bytes int
}

func (b *nodeBudget) walk(n *yaml.Node, depth int) error {
	if n.Kind == yaml.AliasNode {
		return fmt.Errorf("%s (line %d: *%s)", errAliases, n.Line, clip(n.Value))
	}
	b.nodes++
	b.bytes += len(n.Value)
	switch {
	case b.nodes > MaxDocumentNodes:
		return fmt.Errorf("config: line %d: more than %d values", n.Line, MaxDocumentNodes)
	case b.bytes > MaxDocumentBytes:
		return fmt.Errorf("config: line %d: more than %d bytes of values", n.Line, MaxDocumentBytes)
	case depth > MaxDocumentDepth:
		return fmt.Errorf("config: line %d: nested more than %d levels deep", n.Line, MaxDocumentDepth)
	}
	for _, c := range n.Content {
		if err := b.walk(c, depth+1); err != nil {
			return err
		}
	}
	return nil
}

// shapeErr refuses node n of field path ("" for the document itself).
func shapeErr(n *yaml.Node, path, format string, args ...any) error {
	if path == "" {
		return fmt.Errorf("config: line %d: the document: %s", n.Line, fmt.Sprintf(format, clipArgs(format, args)...))
	}
	return fmt.Errorf("config: line %d: %w", n.Line, fieldErr(path, format, args...))
}

// checkShape checks that node n fits t, the type of field path (of text
// kind kind, when a string, a list of strings or a map): a mapping for a
// struct, with only its fields, each once; a list for a slice; a scalar
// of the right kind for a string, number or boolean. A null fits
// anything (it leaves the field empty). The refusal names the field and
// says what it wants in the document's terms, never in Go's.
func checkShape(t reflect.Type, n *yaml.Node, path string, kind textKind) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return nil
	}
	wrong := func() error {
		return shapeErr(n, path, "want %s, not %s", yamlWant(t, kind), yamlGot(n))
	}
	switch t.Kind() {
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			return wrong()
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		// yaml.v3 would truncate 1.5 to 1: a whole number is wanted.
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || n.Decode(reflect.New(t).Interface()) != nil {
			return wrong()
		}
	case reflect.Bool, reflect.Float32, reflect.Float64:
		if n.Kind != yaml.ScalarNode || n.Decode(reflect.New(t).Interface()) != nil {
			return wrong()
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return wrong()
		}
		for i, c := range n.Content {
			if err := checkShape(t.Elem(), c, jsonin.Index(path, i), kind); err != nil {
				return err
			}
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			return wrong()
		}
		seen := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if err := checkKey(k, path, seen); err != nil {
				return err
			}
			if k.Decode(reflect.New(t.Key()).Interface()) != nil {
				return shapeErr(k, path, "want %s as keys, not %s", yamlWant(t.Key(), kind), yamlGot(k))
			}
			if err := checkShape(t.Elem(), v, jsonin.Join(path, clip(k.Value)), kindNone); err != nil {
				return err
			}
		}
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return wrong()
		}
		fields := yamlFields(t)
		kinds := textFields[t]
		seen := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if err := checkKey(k, path, seen); err != nil {
				return err
			}
			f, ok := fields[k.Value]
			if !ok {
				return shapeErr(k, jsonin.Join(path, clip(k.Value)), "unknown field")
			}
			if err := checkShape(f.Type, v, jsonin.Join(path, k.Value), kinds[k.Value]); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkKey refuses a mapping key that is not a plain scalar, is a merge
// key (<<, which copies another mapping in: an alias by other means), or
// repeats an earlier one.
func checkKey(k *yaml.Node, path string, seen map[string]int) error {
	switch {
	case k.Kind != yaml.ScalarNode:
		return shapeErr(k, path, "want plain keys, not %s", yamlGot(k))
	case k.ShortTag() == "!!merge":
		return shapeErr(k, path, "YAML merge keys (<<) are not accepted")
	}
	if line, dup := seen[k.Value]; dup {
		return shapeErr(k, jsonin.Join(path, clip(k.Value)), "given twice (first at line %d)", line)
	}
	seen[k.Value] = k.Line
	return nil
}

// yamlFields maps a struct's YAML names to its fields.
func yamlFields(t reflect.Type) map[string]reflect.StructField {
	m := map[string]reflect.StructField{}
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(sf.Tag.Get("yaml"), ",")
		switch name {
		case "-":
			continue
		case "":
			name = strings.ToLower(sf.Name)
		}
		m[name] = sf
	}
	return m
}

// yamlWant says what a field of type t (and text kind kind) takes.
func yamlWant(t reflect.Type, kind textKind) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return textKinds[kind].noun
	case reflect.Slice:
		e := t.Elem()
		for e.Kind() == reflect.Pointer {
			e = e.Elem()
		}
		switch e.Kind() {
		case reflect.String:
			return "a list of " + textKinds[kind].plural
		case reflect.Struct, reflect.Map:
			return "a list of mappings"
		case reflect.Slice:
			return "a list of lists"
		}
		return "a list of " + strings.TrimPrefix(strings.TrimPrefix(yamlWant(e, kind), "an "), "a ") + "s"
	case reflect.Map, reflect.Struct:
		return "a mapping"
	}
	return jsonin.Want(t)
}

// yamlGot names the kind of node n.
func yamlGot(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "a mapping"
	}
	switch n.ShortTag() {
	case "!!str":
		return "a string"
	case "!!int", "!!float":
		return "a number"
	case "!!bool":
		return "true or false"
	}
	return "a value"
}

// yamlGoType matches the Go type names of a yaml.v3 type error ("into
// []string", "into contactcenter.Agent").
var yamlGoType = regexp.MustCompile(` into [^\s;]+`)

// yamlMessage is a yaml.v3 error as one line without Go type names (a
// type error reaches it only if checkShape missed one).
func yamlMessage(err error) string {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	msg = strings.ReplaceAll(msg, "unmarshal errors:\n  ", "")
	msg = strings.ReplaceAll(msg, "\n  ", "; ")
	msg = yamlGoType.ReplaceAllString(msg, " into this field")
	return jsonin.ClipTo(strings.ReplaceAll(msg, "\n", " "), maxArgRunes)
}
