package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

const rootLong = `tandemctl administers a Tandem node through its admin API (--addr).
cluster recover, cluster migrate-log and backup restore work offline, on a
stopped node's data directory.

--addr defaults to http://127.0.0.1:7070 (TANDEM_ADDR); the token comes from
--token, TANDEM_ADMIN_TOKEN, --token-file or ./tandem-data/admin.token.
Global flags go before or after the command. Exit status: 0 done, 2 a
mistake in the command line, 1 anything else (one line on stderr).
Shell completion: tandemctl completion bash|zsh|fish --help.`

// newRootCmd is tandemctl's command tree. The global flags land in g;
// each command's own flags in its RunE's closure, which hands them to the
// command's body with e.
func newRootCmd(g *globals, e env) *cobra.Command {
	root := &cobra.Command{
		Use:   "tandemctl",
		Short: "Tandem's admin CLI",
		Long:  rootLong,
		// run prints errors (one line) and exit codes; cobra prints help
		// only when asked.
		SilenceErrors:              true,
		SilenceUsage:               true,
		SuggestionsMinimumDistance: 2,
	}
	root.SetIn(e.stdin)
	root.SetOut(e.stdout)
	root.SetErr(e.stderr)
	pf := root.PersistentFlags()
	pf.StringVar(&g.addr, "addr", "", "admin API `URL` of a node (default http://127.0.0.1:7070, TANDEM_ADDR)")
	pf.StringVar(&g.token, "token", "", "admin bearer `TOKEN` (default TANDEM_ADMIN_TOKEN)")
	pf.StringVar(&g.tokenFile, "token-file", "", "`FILE` holding the admin token (default ./tandem-data/admin.token)")
	pf.StringVarP(&g.output, "output", "o", "text", "output format, `text|json`")
	completeFlag(root, "output", cobra.FixedCompletions([]string{"text", "json"}, cobra.ShellCompDirectiveNoFileComp))
	must(root.MarkPersistentFlagFilename("token-file"))
	completeFlag(root, "addr", cobra.NoFileCompletions)
	completeFlag(root, "token", cobra.NoFileCompletions)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageError{msg: prefixed(c, err.Error()), cmd: commandName(c)}
	})
	root.AddCommand(
		newStatusCmd(g, e),
		newClusterCmd(g, e),
		newApplyCmd(g, e),
		newHashPasswordCmd(g, e),
		newPhoneCmd(g, e),
		newReplicationCmd(g, e),
		newStandbyCmd(g, e),
		newBackupCmd(g, e),
	)
	return root
}

// execute runs args through root and returns the command it ran. What
// cobra would answer with help and exit 0 is refused first (see
// checkCommandLine); an error before any command's body ran is a usage
// error.
func execute(ctx context.Context, root *cobra.Command, args []string) (*cobra.Command, error) {
	args = append([]string{}, args...) // never nil: cobra reads os.Args for nil
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd(args...)
	if err := checkCommandLine(root, args); err != nil {
		return nil, err
	}
	started := false
	root.PersistentPreRunE = func(*cobra.Command, []string) error {
		started = true // flags and arguments passed cobra's checks
		return nil
	}
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	if ue := (usageError{}); err != nil && !errors.As(err, &ue) && !started {
		err = usageError{msg: prefixed(cmd, err.Error())}
	}
	return cmd, err
}

// checkCommandLine refuses what cobra would answer with a group's help
// and exit 0: no command, a group (cluster, …) without a subcommand, and
// a command or subcommand that does not exist, also with --help or as
// `help GROUP SUB`, so that a typo in a script or a README fails.
func checkCommandLine(root *cobra.Command, args []string) error {
	if len(args) > 0 && (args[0] == cobra.ShellCompRequestCmd || args[0] == cobra.ShellCompNoDescRequestCmd) {
		return nil // cobra's completion protocol
	}
	cmd, rest, err := root.Find(args)
	if err != nil {
		return unknownCommand(root, args, err)
	}
	pos, help, known, err := positionals(cmd, rest)
	if err != nil {
		return nil // a flag mistake: cobra reports it
	}
	if cmd.Name() == "help" && cmd.Parent() == root {
		// `help cluster join` is `cluster join --help`.
		if cmd, rest, err = root.Find(pos); err != nil {
			return unknownCommand(root, pos, err)
		}
		if pos, _, known, err = positionals(cmd, rest); err != nil {
			return nil
		}
		help = true
	}
	switch {
	case !cmd.HasSubCommands():
		return nil // a command's own arguments are its Args' business
	case len(pos) > 0:
		msg := fmt.Sprintf("%s: unknown subcommand %q, want one of %s", commandName(cmd), pos[0], strings.Join(subcommands(cmd), ", "))
		return usageError{msg: msg + didYouMean(cmd, pos[0]), cmd: commandName(cmd)}
	case help || !known:
		return nil // help, or cobra reports the unknown flag
	case cmd == root:
		return usagef("missing command")
	}
	return usageError{msg: fmt.Sprintf("%s: missing subcommand, one of %s", commandName(cmd), strings.Join(subcommands(cmd), ", ")), cmd: commandName(cmd)}
}

// positionals parses cmd's flags in args and returns what is left, and
// whether --help or -h was among them. known is false when args hold a
// flag cmd lacks: it is skipped (with its value, when one follows), as
// `replication suspnd --target reporting` is about the subcommand, not
// about the flag replication lacks.
func positionals(cmd *cobra.Command, args []string) (pos []string, help, known bool, err error) {
	cmd.InitDefaultHelpFlag()
	parse := func(skipUnknown bool) (*pflag.FlagSet, error) {
		fs := pflag.NewFlagSet(cmd.Name(), pflag.ContinueOnError)
		fs.SetOutput(io.Discard)
		fs.ParseErrorsAllowlist.UnknownFlags = skipUnknown
		fs.AddFlagSet(cmd.Flags())
		fs.AddFlagSet(cmd.InheritedFlags())
		return fs, fs.Parse(args)
	}
	known = true
	fs, err := parse(false)
	if err != nil {
		if fs, err = parse(true); err != nil {
			return nil, false, false, err
		}
		known = false
	}
	help, _ = fs.GetBool("help")
	return fs.Args(), help, known, nil
}

// unknownCommand is the usage error for a first word that is no command;
// findErr is what cobra said about it.
func unknownCommand(root *cobra.Command, args []string, findErr error) error {
	pos, _, _, err := positionals(root, args)
	if err != nil || len(pos) == 0 {
		first, _, _ := strings.Cut(findErr.Error(), "\n")
		return usagef("%s", first)
	}
	return usagef("unknown command %q%s", pos[0], didYouMean(root, pos[0]))
}

func didYouMean(cmd *cobra.Command, typed string) string {
	if s := cmd.SuggestionsFor(typed); len(s) > 0 {
		return fmt.Sprintf(" (did you mean %s?)", s[0])
	}
	return ""
}

// subcommands names a group's subcommands, as its help lists them.
func subcommands(cmd *cobra.Command) []string {
	var names []string
	for _, c := range cmd.Commands() {
		if c.IsAvailableCommand() {
			names = append(names, c.Name())
		}
	}
	return names
}

// commandName is cmd's command line without "tandemctl" ("cluster
// join"; "" for tandemctl itself).
func commandName(cmd *cobra.Command) string {
	if cmd == nil {
		return ""
	}
	return strings.TrimPrefix(strings.TrimPrefix(cmd.CommandPath(), cmd.Root().Name()), " ")
}

// prefixed leads msg with the command it is about, unless that is
// tandemctl itself or msg already names it.
func prefixed(cmd *cobra.Command, msg string) string {
	name := commandName(cmd)
	if name == "" || strings.HasPrefix(msg, name+":") {
		return msg
	}
	return name + ": " + msg
}

// group is a command that only holds subcommands (cluster, backup, …).
func group(use, short, long string, subs ...*cobra.Command) *cobra.Command {
	c := &cobra.Command{Use: use, Short: short, Long: long, SuggestionsMinimumDistance: 2}
	c.AddCommand(subs...)
	return c
}

// argsBetween checks the count of a command's positional arguments; a
// missing one is named as in the command's Use line.
func argsBetween(min, max int) cobra.PositionalArgs {
	return func(c *cobra.Command, args []string) error {
		if len(args) < min {
			name := "argument"
			if names := argNames(c); len(args) < len(names) {
				name += " " + names[len(args)]
			}
			return usagef("%s: missing %s", commandName(c), name)
		}
		if len(args) > max {
			return usagef("%s: unexpected argument %q", commandName(c), args[max])
		}
		return nil
	}
}

// argNames are the positional arguments of a Use line ("join
// MEMBER_ADMIN_ADDR" → MEMBER_ADMIN_ADDR), optional ones unbracketed.
func argNames(c *cobra.Command) []string {
	var names []string
	for _, f := range strings.Fields(c.Use)[1:] {
		f = strings.Trim(f, "[]")
		if f != "" && f != "flags" && !strings.HasPrefix(f, "-") {
			names = append(names, f)
		}
	}
	return names
}

// completeFlag registers how the shell completes a flag's value.
func completeFlag(c *cobra.Command, flag string, fn cobra.CompletionFunc) {
	must(c.RegisterFlagCompletionFunc(flag, fn))
}

// completeTarget completes --target with the two replication targets.
func completeTarget(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
	return []cobra.Completion{"reporting", "standby"}, cobra.ShellCompDirectiveNoFileComp
}

// must stops on a mistake in the command tree's definition (a flag
// named for completion that does not exist), which the tests exercise.
func must(err error) {
	if err != nil {
		panic("tandemctl command tree: " + err.Error())
	}
}
