package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// `tandemctl completion SHELL` writes cobra's script for that shell on
// stdout, and bash accepts the bash one.
func TestCompletionScripts(t *testing.T) {
	t.Chdir(t.TempDir())
	for _, tt := range []struct {
		shell string
		want  []string
	}{
		{"bash", []string{"# bash completion V2 for tandemctl", "__start_tandemctl", "complete -o default -F __start_tandemctl tandemctl", "__complete"}},
		{"zsh", []string{"#compdef tandemctl", "__complete"}},
		{"fish", []string{"complete -c tandemctl", "__complete"}},
	} {
		t.Run(tt.shell, func(t *testing.T) {
			r := runCtl(t, nil, "completion", tt.shell)
			if r.code != 0 || r.stderr != "" {
				t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(r.stdout, w) {
					t.Errorf("the %s script lacks %q", tt.shell, w)
				}
			}
			if tt.shell != "bash" {
				return
			}
			bash, err := exec.LookPath("bash")
			if err != nil {
				t.Fatalf("checking the bash script needs bash: %v", err)
			}
			script := filepath.Join(t.TempDir(), "tandemctl.bash")
			if err := os.WriteFile(script, []byte(r.stdout), 0o600); err != nil {
				t.Fatal(err)
			}
			// -n: parse only; then source it and see the completion
			// function registered.
			if out, err := exec.Command(bash, "-n", script).CombinedOutput(); err != nil {
				t.Fatalf("bash -n: %v\n%s", err, out)
			}
			out, err := exec.Command(bash, "--noprofile", "--norc", "-c", "source "+script+" && complete -p tandemctl").CombinedOutput()
			if err != nil || !strings.Contains(string(out), "__start_tandemctl") {
				t.Fatalf("sourcing the script: %v\n%s", err, out)
			}
		})
	}
}

// What the shells ask for through cobra's hidden __complete command:
// commands, subcommands, flags and the values of some flags, without
// the hidden flags, and no request to the node.
func TestCompletionCandidates(t *testing.T) {
	t.Chdir(t.TempDir())
	srv := forbidden(t)
	tests := []struct {
		args    []string // after __complete; the last is the word being completed
		want    []string
		notWant []string
	}{
		{[]string{""}, []string{"status", "cluster", "apply", "hash-password", "phone", "replication", "standby", "backup", "completion", "help"}, nil},
		{[]string{"clu"}, []string{"cluster"}, []string{"status"}},
		{[]string{"cluster", ""}, []string{"join", "remove", "transfer-leader", "snapshot", "recover", "migrate-log"}, nil},
		{[]string{"--addr", srv.URL, "replication", ""}, []string{"status", "suspend", "resume", "stop", "shutdown", "restart", "sync"}, nil},
		{[]string{"replication", "suspend", "--"}, []string{"--target", "--addr", "--token", "--token-file", "--output"}, []string{"--rate"}},
		{[]string{"replication", "resume", "--"}, []string{"--target", "--rate"}, nil},
		{[]string{"replication", "sync", "--target", ""}, []string{"reporting", "standby"}, nil},
		{[]string{"status", "-o", ""}, []string{"text", "json"}, nil},
		{[]string{"backup", "now", "--level", ""}, []string{"0", "1"}, nil},
		{[]string{"backup", "restore", "--"}, []string{"--from", "--data-dir", "--replace", "--no-incremental", "--key-file", "--yes"}, nil},
		{[]string{"completion", ""}, []string{"bash", "zsh", "fish"}, nil},
		{[]string{"help", "backup", ""}, []string{"now", "list", "verify", "restore"}, nil},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			r := runCtl(t, nil, append([]string{"__complete"}, tt.args...)...)
			if r.code != 0 {
				t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
			}
			// One candidate a line (a tab before its description), then
			// ":DIRECTIVE".
			var got []string
			for _, l := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
				if !strings.HasPrefix(l, ":") {
					name, _, _ := strings.Cut(l, "\t")
					got = append(got, name)
				}
			}
			for _, w := range tt.want {
				if !slices.Contains(got, w) {
					t.Errorf("candidates %q lack %q", got, w)
				}
			}
			for _, w := range tt.notWant {
				if slices.Contains(got, w) {
					t.Errorf("candidates %q include %q", got, w)
				}
			}
		})
	}
}
