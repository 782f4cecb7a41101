package main

import (
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// testTree is the command tree as run builds it, with cobra's help and
// completion commands added as execute adds them.
func testTree(t *testing.T) *cobra.Command {
	t.Helper()
	var g globals
	root := newRootCmd(&g, env{getenv: func(string) string { return "" }, stdin: strings.NewReader(""), stdout: &strings.Builder{}, stderr: &strings.Builder{}})
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	return root
}

// walk calls fn on every command below root.
func walk(root *cobra.Command, fn func(*cobra.Command)) {
	for _, c := range root.Commands() {
		fn(c)
		walk(c, fn)
	}
}

// The commands, arguments and flags of interfaces.md ("tandemctl") and of
// the usage text before cobra: each must exist as written, so that no
// script breaks.
func TestCommandLineContract(t *testing.T) {
	root := testTree(t)
	global := []string{"addr", "token", "token-file", "o"}
	tests := []struct {
		cmd   string   // command path
		args  string   // its Use line's arguments and flags, as documented
		flags []string // its own flags (besides the global ones)
	}{
		{"status", "", nil},
		{"cluster join", "MEMBER_ADMIN_ADDR", nil},
		{"cluster remove", "NODE_ID", nil},
		{"cluster transfer-leader", "[NODE_ID]", nil},
		{"cluster snapshot", "", nil},
		{"cluster recover", "--force-quorum --data-dir DIR [--raft-addr A] [--yes]", []string{"force-quorum", "data-dir", "raft-addr", "yes"}},
		{"cluster migrate-log", "--data-dir DIR", []string{"data-dir"}},
		{"apply", "-f FILE [--prune]", []string{"f", "prune"}},
		{"hash-password", "[flags] < PASSWORD", nil},
		{"phone provision", "EXTENSION PHONE_ID", nil},
		{"replication status", "", nil},
		{"replication suspend", "--target T", []string{"target"}},
		{"replication stop", "--target T", []string{"target"}},
		{"replication resume", "--target T [--rate N]", []string{"target", "rate"}},
		{"replication shutdown", "", nil},
		{"replication restart", "", nil},
		{"replication sync", "--target reporting|standby (--admin | --recent | --all --run-for D | --continue --run-for D | --status)",
			[]string{"target", "admin", "recent", "all", "continue", "run-for", "status", "no-wait", "poll"}},
		{"standby status", "", nil},
		{"standby promote", "", nil},
		{"backup now", "--level 0|1 [--no-wait]", []string{"level", "no-wait", "poll"}},
		{"backup list", "", nil},
		{"backup verify", "ID", nil},
		{"backup restore", "--from DIR --data-dir DIR [--replace] [--no-incremental] [--key-file F] [--yes]",
			[]string{"from", "data-dir", "replace", "no-incremental", "key-file", "node-id", "raft-addr", "node", "yes"}},
		{"completion bash", "", nil},
		{"completion zsh", "", nil},
		{"completion fish", "", nil},
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		seen[tt.cmd] = true
		t.Run(tt.cmd, func(t *testing.T) {
			c, rest, err := root.Find(strings.Fields(tt.cmd))
			if err != nil || len(rest) != 0 || commandName(c) != tt.cmd {
				t.Fatalf("Find(%q) = %q, %q, %v", tt.cmd, commandName(c), rest, err)
			}
			if !strings.HasPrefix(tt.cmd, "completion") {
				if _, args, _ := strings.Cut(c.Use, " "); args != tt.args {
					t.Errorf("Use %q, want arguments %q", c.Use, tt.args)
				}
			}
			has := func(fs *pflag.FlagSet, name string) bool {
				f := fs.Lookup(name)
				if len(name) == 1 {
					f = fs.ShorthandLookup(name) // -o, -f
				}
				return f != nil && !f.Hidden
			}
			for _, name := range global {
				if !has(c.InheritedFlags(), name) {
					t.Errorf("no global flag %s", name)
				}
			}
			for _, name := range tt.flags {
				if !has(c.LocalNonPersistentFlags(), name) {
					t.Errorf("no flag %s", name)
				}
			}
			if strings.HasPrefix(tt.cmd, "completion") {
				return // cobra's
			}
			// Only the flags above: a new one needs this table (and the
			// spec) to say so.
			c.LocalNonPersistentFlags().VisitAll(func(f *pflag.Flag) {
				if f.Name != "help" && !f.Hidden && !slices.Contains(tt.flags, f.Name) && !slices.Contains(tt.flags, f.Shorthand) {
					t.Errorf("flag --%s is not in the table", f.Name)
				}
			})
		})
	}
	walk(root, func(c *cobra.Command) {
		if c.Runnable() && !c.Hidden && c.Name() != "help" && c.Name() != "powershell" && !seen[commandName(c)] {
			t.Errorf("command %q is not in the table", commandName(c))
		}
	})
}

// Every command of tandemctl's own checks the count of its arguments
// (cobra takes any count when Args is nil) and completes no file names
// in their place.
func TestEveryCommandChecksItsArguments(t *testing.T) {
	root := testTree(t)
	walk(root, func(c *cobra.Command) {
		if !c.Runnable() || c.Name() == "help" || c.Parent().Name() == "completion" {
			return
		}
		if c.Args == nil {
			t.Errorf("%s: Args is nil", commandName(c))
		}
		if c.ValidArgsFunction == nil {
			t.Errorf("%s: no ValidArgsFunction", commandName(c))
		}
	})
}

// Every group and every command answers --help, -h and `help CMD` with
// its own help on stdout, exit 0, and nothing sent anywhere (the
// forbidden server fails the test if a help request reached it).
func TestHelpOfEachCommand(t *testing.T) {
	t.Chdir(t.TempDir())
	srv := forbidden(t)
	tests := []struct {
		cmd  string   // the command line before --help
		want []string // in stdout besides "Usage:\n  tandemctl <cmd>"
	}{
		{"", []string{"Available Commands:", "status ", "cluster ", "apply ", "hash-password ", "phone ", "replication ", "standby ", "backup ", "completion ",
			"TANDEM_ADDR", "TANDEM_ADMIN_TOKEN", "./tandem-data/admin.token", "--addr URL", "--token TOKEN", "--token-file FILE", "-o, --output text|json"}},
		{"cluster", []string{"join ", "remove ", "transfer-leader ", "snapshot ", "recover ", "migrate-log ", `"tandemctl cluster [command] --help"`}},
		{"replication", []string{"status ", "suspend ", "resume ", "stop ", "shutdown ", "restart ", "sync "}},
		{"standby", []string{"status ", "promote "}},
		{"status", []string{"Global Flags:", "--addr URL"}},
		{"apply", []string{"-f FILE [--prune]", "-f, --filename FILE", "--prune "}},
		{"hash-password", []string{"standard input"}},
		{"phone", []string{"provision "}},
		{"phone provision", []string{"EXTENSION PHONE_ID", "never logged"}},
		{"cluster join", []string{"MEMBER_ADMIN_ADDR"}},
		{"cluster remove", []string{"NODE_ID"}},
		{"cluster transfer-leader", []string{"[NODE_ID]"}},
		{"cluster snapshot", []string{"Raft snapshot"}},
		{"cluster recover", []string{"--force-quorum ", "--data-dir DIR ", "--raft-addr HOST:PORT ", "--yes "}},
		{"cluster migrate-log", []string{"--data-dir DIR "}},
		{"replication status", nil},
		{"replication suspend", []string{"--target reporting|standby "}},
		{"replication resume", []string{"--target reporting|standby ", "--rate N "}},
		{"replication stop", []string{"--target reporting|standby "}},
		{"replication shutdown", nil},
		{"replication restart", nil},
		{"replication sync", []string{"--target reporting|standby ", "--admin ", "--recent ", "--all ", "--continue ", "--run-for DURATION ", "--status ", "--no-wait ", "--poll DURATION ", "Examples:"}},
		{"standby status", nil},
		{"standby promote", nil},
		{"backup", []string{"now ", "list ", "verify ", "restore "}},
		{"backup now", []string{"--level 0|1 ", "--no-wait ", "--poll DURATION "}},
		{"backup list", nil},
		{"backup verify", []string{"verify ID"}},
		{"backup restore", []string{"--from DIR ", "--data-dir DIR ", "--replace ", "--no-incremental ", "--key-file FILE ", "--node-id ID ", "--raft-addr HOST:PORT ", "--node NODE_ID ", "--yes "}},
		{"completion", []string{"bash ", "zsh ", "fish "}},
		{"completion bash", []string{"source <(tandemctl completion bash)"}},
	}
	// The table must cover every command.
	covered := map[string]bool{}
	for _, tt := range tests {
		covered[tt.cmd] = true
	}
	walk(testTree(t), func(c *cobra.Command) {
		if name := commandName(c); !covered[name] && name != "help" && !strings.HasPrefix(name, "completion ") {
			t.Errorf("command %q has no help test", name)
		}
	})
	// Flags that do not apply are not listed (the replication
	// subcommands but sync take --target and --rate, to refuse them with
	// a reason).
	notIn := map[string][]string{
		"replication status":   {"--target", "--rate"},
		"replication shutdown": {"--target", "--rate"},
		"replication restart":  {"--target", "--rate"},
		"replication suspend":  {"--rate"},
		"replication stop":     {"--rate"},
		"cluster join":         {"--data-dir", "--yes"},
	}
	for _, tt := range tests {
		words := strings.Fields(tt.cmd)
		for _, form := range [][]string{
			append(slices.Clone(words), "--help"),
			append(slices.Clone(words), "-h"),
			append([]string{"--addr", srv.URL, "--token", "t"}, append(slices.Clone(words), "--help")...),
			append([]string{"help"}, words...),
		} {
			t.Run(strings.Join(form, " "), func(t *testing.T) {
				r := runCtl(t, nil, form...)
				if r.code != 0 || r.stderr != "" {
					t.Fatalf("exit %d, stderr %q, want 0 and nothing", r.code, r.stderr)
				}
				head := strings.TrimSpace("Usage:\n  tandemctl " + tt.cmd)
				if !strings.Contains(r.stdout, head) {
					t.Errorf("stdout lacks %q:\n%s", head, r.stdout)
				}
				for _, w := range tt.want {
					if !strings.Contains(r.stdout, w) {
						t.Errorf("stdout lacks %q:\n%s", w, r.stdout)
					}
				}
				for _, w := range notIn[tt.cmd] {
					if strings.Contains(r.stdout, w) {
						t.Errorf("stdout lists %q, which %s does not take:\n%s", w, tt.cmd, r.stdout)
					}
				}
			})
		}
	}
}

// A subcommand a group does not have, or none, is one line on stderr and
// exit 2 (the CLI's usage errors), pointing at the group's --help, even
// when --help follows it or `help` precedes it (cobra alone would show
// the group's help and exit 0, hiding a typo in a script).
func TestUnknownOrMissingSubcommand(t *testing.T) {
	t.Chdir(t.TempDir())
	srv := forbidden(t)
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"cluster", "merge"}, []string{`cluster: unknown subcommand "merge"`, "join, migrate-log, recover, remove, snapshot, transfer-leader", "(see tandemctl cluster --help)"}},
		{[]string{"cluster", "merge", "--help"}, []string{`unknown subcommand "merge"`, "(see tandemctl cluster --help)"}},
		{[]string{"help", "cluster", "merge"}, []string{`unknown subcommand "merge"`, "(see tandemctl cluster --help)"}},
		{[]string{"cluster", "jion"}, []string{`unknown subcommand "jion"`, "(did you mean join?)"}},
		{[]string{"replication", "suspnd", "--target", "reporting"}, []string{`unknown subcommand "suspnd"`, "(did you mean suspend?)", "(see tandemctl replication --help)"}},
		{[]string{"backup", "--level", "0", "nwo"}, []string{`unknown subcommand "nwo"`, "(did you mean now?)"}},
		{[]string{"replication", "--target", "reporting"}, []string{"replication: unknown flag: --target"}},
		{[]string{"replication", "pause"}, []string{`replication: unknown subcommand "pause"`, "sync", "(see tandemctl replication --help)"}},
		{[]string{"replication", "pause", "-h"}, []string{`unknown subcommand "pause"`, "(see tandemctl replication --help)"}},
		{[]string{"standby", "demote"}, []string{`standby: unknown subcommand "demote"`, "promote, status", "(see tandemctl standby --help)"}},
		{[]string{"standby", "demote", "--help"}, []string{`unknown subcommand "demote"`}},
		{[]string{"backup", "delete"}, []string{`backup: unknown subcommand "delete"`, "list, now, restore, verify"}},
		{[]string{"completion", "tcsh"}, []string{`completion: unknown subcommand "tcsh"`, "bash", "(see tandemctl completion --help)"}},
		{[]string{"cluster"}, []string{"cluster: missing subcommand", "(see tandemctl cluster --help)"}},
		{[]string{"replication"}, []string{"replication: missing subcommand", "(see tandemctl replication --help)"}},
		{[]string{"standby"}, []string{"standby: missing subcommand", "(see tandemctl standby --help)"}},
		{[]string{"backup"}, []string{"backup: missing subcommand", "(see tandemctl backup --help)"}},
		{[]string{"completion"}, []string{"completion: missing subcommand", "(see tandemctl completion --help)"}},
		{[]string{"help", "frobnicate"}, []string{`unknown command "frobnicate"`, "(see tandemctl --help)"}},
		{[]string{"help", "stauts"}, []string{`unknown command "stauts" (did you mean status?)`}},
		{[]string{"frobnicate", "--help"}, []string{`unknown command "frobnicate"`, "(see tandemctl --help)"}},
		// A command's mistake points at that command's help.
		{[]string{"cluster", "join", "--bogus"}, []string{"cluster join: unknown flag: --bogus", "(see tandemctl cluster join --help)"}},
		{[]string{"replication", "resume"}, []string{"--target reporting|standby is required", "(see tandemctl replication resume --help)"}},
		{[]string{"completion", "bash", "extra"}, []string{"extra", "(see tandemctl completion bash --help)"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			r := runCtl(t, nil, append([]string{"--addr", srv.URL, "--token", "t"}, tt.args...)...)
			if r.code != 2 {
				t.Errorf("exit %d, want 2 (stderr %q)", r.code, r.stderr)
			}
			if r.stdout != "" {
				t.Errorf("stdout %q, want nothing", r.stdout)
			}
			assertOneLine(t, "stderr", r.stderr)
			if !strings.HasPrefix(r.stderr, "tandemctl: ") {
				t.Errorf("stderr %q does not start with \"tandemctl: \"", r.stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr %q lacks %q", r.stderr, w)
				}
			}
		})
	}
}
