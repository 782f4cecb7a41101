package main

import (
	"strings"
	"testing"
)

// Every group and every command answers --help and -h with its own usage
// on stdout, exit 0, and nothing sent anywhere (the forbidden server fails
// the test if a help request reached it).
func TestHelpOfEachCommand(t *testing.T) {
	t.Chdir(t.TempDir())
	srv := forbidden(t)
	tests := []struct {
		cmd  string   // the command line before --help
		want []string // in stdout besides "usage: tandemctl [global flags] <cmd>"
	}{
		{"cluster", []string{"join MEMBER_ADMIN_ADDR", "remove NODE_ID", "transfer-leader [NODE_ID]", "snapshot", "recover --force-quorum", "migrate-log --data-dir DIR", "tandemctl cluster SUBCOMMAND --help"}},
		{"replication", []string{"status", "suspend --target T", "resume --target T [--rate N]", "stop --target T", "shutdown", "restart", "sync --target reporting", "tandemctl replication SUBCOMMAND --help"}},
		{"standby", []string{"status", "promote", "tandemctl standby SUBCOMMAND --help"}},
		{"status", []string{"global flags: --addr URL"}},
		{"apply", []string{"-f FILE", "--prune"}},
		{"hash-password", []string{"standard input"}},
		{"phone", []string{"provision EXTENSION PHONE_ID", "tandemctl phone SUBCOMMAND --help"}},
		{"phone provision", []string{"EXTENSION PHONE_ID", "never logged"}},
		{"cluster join", []string{"MEMBER_ADMIN_ADDR"}},
		{"cluster remove", []string{"NODE_ID"}},
		{"cluster transfer-leader", []string{"[NODE_ID]"}},
		{"cluster snapshot", []string{"Raft snapshot"}},
		{"cluster recover", []string{"--force-quorum\n", "--data-dir DIR\n", "--raft-addr HOST:PORT\n", "--yes\n"}},
		{"cluster migrate-log", []string{"--data-dir DIR\n"}},
		{"replication status", nil},
		{"replication suspend", []string{"--target reporting|standby\n"}},
		{"replication resume", []string{"--target reporting|standby\n", "--rate N\n"}},
		{"replication stop", []string{"--target reporting|standby\n"}},
		{"replication shutdown", nil},
		{"replication restart", nil},
		{"replication sync", []string{"--target reporting|standby\n", "--admin\n", "--recent\n", "--all\n", "--continue\n", "--run-for DURATION\n", "--status\n", "--no-wait\n"}},
		{"standby status", nil},
		{"standby promote", nil},
		{"backup", []string{"now --level 0|1", "list", "verify ID", "restore --from DIR", "tandemctl backup SUBCOMMAND --help"}},
		{"backup now", []string{"--level 0|1\n", "--no-wait\n", "--poll DURATION\n"}},
		{"backup list", nil},
		{"backup verify", []string{"ID"}},
		{"backup restore", []string{"--from DIR\n", "--data-dir DIR\n", "--replace\n", "--no-incremental\n", "--key-file FILE\n", "--node-id ID\n", "--raft-addr HOST:PORT\n", "--yes\n"}},
	}
	// The table above must cover every command the CLI documents.
	covered := map[string]bool{}
	for _, tt := range tests {
		covered[tt.cmd] = true
	}
	for _, d := range commandDocs {
		if !covered[d.name] {
			t.Errorf("command %q has no help test", d.name)
		}
	}
	// Flags that do not apply must not be listed (replication shares one
	// flag set between its simple subcommands).
	notIn := map[string][]string{
		"replication status":   {"--target", "--rate"},
		"replication shutdown": {"--target", "--rate"},
		"replication suspend":  {"--rate"},
		"cluster join":         {"--data-dir", "\nflags:\n"},
	}
	for _, tt := range tests {
		for _, form := range [][]string{
			append(strings.Fields(tt.cmd), "--help"),
			append(strings.Fields(tt.cmd), "-h"),
			append([]string{"--addr", srv.URL, "--token", "t"}, append(strings.Fields(tt.cmd), "--help")...),
			append([]string{"help"}, strings.Fields(tt.cmd)...),
		} {
			t.Run(strings.Join(form, " "), func(t *testing.T) {
				r := runCtl(t, nil, form...)
				if r.code != 0 || r.stderr != "" {
					t.Fatalf("exit %d, stderr %q, want 0 and nothing", r.code, r.stderr)
				}
				head := "usage: tandemctl [global flags] " + tt.cmd
				if !strings.HasPrefix(r.stdout, head) {
					t.Errorf("stdout does not start with %q:\n%s", head, r.stdout)
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
// when --help follows it.
func TestUnknownOrMissingSubcommand(t *testing.T) {
	t.Chdir(t.TempDir())
	srv := forbidden(t)
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"cluster", "merge"}, []string{`cluster: unknown subcommand "merge"`, "join, remove, transfer-leader", "(see tandemctl cluster --help)"}},
		{[]string{"cluster", "merge", "--help"}, []string{`unknown subcommand "merge"`, "(see tandemctl cluster --help)"}},
		{[]string{"replication", "pause"}, []string{`replication: unknown subcommand "pause"`, "sync", "(see tandemctl replication --help)"}},
		{[]string{"replication", "pause", "-h"}, []string{`unknown subcommand "pause"`, "(see tandemctl replication --help)"}},
		{[]string{"standby", "demote"}, []string{`standby: unknown subcommand "demote"`, "status, promote", "(see tandemctl standby --help)"}},
		{[]string{"standby", "demote", "--help"}, []string{`unknown subcommand "demote"`}},
		{[]string{"cluster"}, []string{"cluster: missing subcommand", "(see tandemctl cluster --help)"}},
		{[]string{"replication"}, []string{"replication: missing subcommand", "(see tandemctl replication --help)"}},
		{[]string{"standby"}, []string{"standby: missing subcommand", "(see tandemctl standby --help)"}},
		{[]string{"help", "frobnicate"}, []string{`unknown command "frobnicate"`, "(see tandemctl --help)"}},
		// A command's flag mistake points at that command's help.
		{[]string{"cluster", "join", "--bogus"}, []string{"-bogus", "(see tandemctl cluster join --help)"}},
		{[]string{"replication", "resume"}, []string{"--target reporting|standby is required", "(see tandemctl replication resume --help)"}},
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
