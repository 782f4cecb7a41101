package main

import (
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
)

// cmdDoc is what `tandemctl COMMAND --help` says about one command.
type cmdDoc struct {
	name  string // "cluster join"
	args  string // what follows the name in its synopsis
	about string
}

// commandDocs lists every command, in the order of the top-level usage;
// a group (cluster, replication, standby, backup) lists its subcommands from here.
var commandDocs = []cmdDoc{
	{"status", "", "node, cluster, replication and backup state of the node at --addr"},
	{"cluster join", "MEMBER_ADMIN_ADDR", "make the node at --addr join MEMBER's cluster"},
	{"cluster remove", "NODE_ID", "remove a node from the cluster"},
	{"cluster transfer-leader", "[NODE_ID]", "hand leadership to NODE_ID (or any voter)"},
	{"cluster snapshot", "", "take a Raft snapshot of the node at --addr now"},
	{"cluster recover", "--force-quorum --data-dir DIR [--raft-addr A] [--yes]",
		"offline: make a stopped node the only voter of its cluster, from its data (a majority is lost for good)"},
	{"cluster migrate-log", "--data-dir DIR", "offline: convert a stopped node's Raft log from the raft-wal format of earlier builds"},
	{"apply", "-f FILE [--prune]", "declarative configuration (idempotent)"},
	{"hash-password", "< PASSWORD", "a user's password_hash for the configuration (the password is read from standard input)"},
	{"phone provision", "EXTENSION PHONE_ID", "a secure phone's provisioning data: SIP user, password, realm, servers, expiry (administrators only; shown here, never logged)"},
	{"replication status", "", "this node's replication targets and buffer"},
	{"replication suspend", "--target T", "pause delivery to target T (reporting or standby); the buffer keeps filling"},
	{"replication resume", "--target T [--rate N]", "deliver the backlog of target T, at most N events/s"},
	{"replication stop", "--target T", "stop replicating to target T"},
	{"replication shutdown", "", "shut down all replication of the cluster"},
	{"replication restart", "", "restart all replication of the cluster (clears every buffer)"},
	{"replication sync", "--target reporting --recent | --all --run-for D | --continue --run-for D | --admin\n" +
		"       tandemctl [global flags] replication sync --target standby --admin\n" +
		"       tandemctl [global flags] replication sync --status --target T",
		"re-send history from this node's archive (after the administration data), or the administration data alone"},
	{"standby status", "", "this cluster's standby mode, position and lag"},
	{"standby promote", "", "make this standby cluster accept writes (and refuse shipments)"},
	{"backup now", "--level 0|1 [--no-wait]", "take a full (0) or incremental (1) backup on the node at --addr now, into its --backup-dir (progress bar)"},
	{"backup list", "", "the backups in the node's --backup-dir: each full backup and its incrementals, sizes, age"},
	{"backup verify", "ID", "check a backup without restoring it: checksums, decryption, decoding, its full backup"},
	{"backup restore", "--from DIR --data-dir DIR [--replace] [--no-incremental] [--key-file F] [--yes]",
		"offline: write a stopped node's data directory from a backup (full, or full + latest incremental), as a new one-node cluster or, with --replace, as the backed-up node rejoining its cluster"},
}

// globalFlags are defined on every flag set (newFlagSet); a command's help
// names them once instead of listing them again.
var globalFlags = []string{"addr", "token", "token-file", "o"}

const globalFlagsLine = "global flags: --addr URL, --token T | --token-file F, -o text|json (see tandemctl --help)"

// helpRequest is a command's --help or -h: run prints the usage of that
// command (or group) on stdout and exits 0.
type helpRequest struct {
	name string        // "cluster", "cluster join", …
	fs   *flag.FlagSet // the command's flags; nil for a group
	only []string      // when set, the flags that apply to this command
}

func (h helpRequest) Error() string { return h.name + ": help requested" }

// Is lets errors.Is(err, flag.ErrHelp) keep meaning "help was asked for".
func (h helpRequest) Is(target error) bool { return target == flag.ErrHelp }

func isHelpArg(s string) bool {
	switch s {
	case "-h", "-help", "--help", "help":
		return true
	}
	return false
}

// subcommands returns the names of a group's subcommands ("join", …).
func subcommands(group string) []string {
	var subs []string
	for _, d := range commandDocs {
		if sub, ok := strings.CutPrefix(d.name, group+" "); ok {
			subs = append(subs, sub)
		}
	}
	return subs
}

// unknownSub is the one-line error for a subcommand a group does not have.
func unknownSub(group, sub string) error {
	return usageError{msg: fmt.Sprintf("%s: unknown subcommand %q, want one of %s", group, sub, strings.Join(subcommands(group), ", ")), cmd: group}
}

func missingSub(group string) error {
	return usageError{msg: fmt.Sprintf("%s: missing subcommand, one of %s", group, strings.Join(subcommands(group), ", ")), cmd: group}
}

// valueNames name the values of flags in help, where the flag's Go type
// ("string") would say less.
var valueNames = map[string]string{
	"f": "FILE", "data-dir": "DIR", "raft-addr": "HOST:PORT", "target": "reporting|standby",
	"rate": "N", "run-for": "DURATION", "poll": "DURATION",
}

func (h helpRequest) write(w io.Writer) {
	if h.fs == nil && len(subcommands(h.name)) > 0 {
		writeGroupHelp(w, h.name)
		return
	}
	doc := cmdDoc{name: h.name}
	for _, d := range commandDocs {
		if d.name == h.name {
			doc = d
		}
	}
	synopsis := strings.TrimSpace(doc.name + " " + doc.args)
	fmt.Fprintf(w, "usage: tandemctl [global flags] %s\n", synopsis)
	if doc.about != "" {
		fmt.Fprintf(w, "\n%s\n", doc.about)
	}
	var flags []*flag.Flag
	if h.fs != nil {
		h.fs.VisitAll(func(f *flag.Flag) {
			if slices.Contains(globalFlags, f.Name) || (h.only != nil && !slices.Contains(h.only, f.Name)) {
				return
			}
			flags = append(flags, f)
		})
	}
	if len(flags) > 0 {
		fmt.Fprintf(w, "\nflags:\n")
		for _, f := range flags {
			dash := "--"
			if len(f.Name) == 1 {
				dash = "-"
			}
			typ, usage := flag.UnquoteUsage(f)
			if v, ok := valueNames[f.Name]; ok && typ != "" {
				typ = v
			} else {
				typ = strings.ToUpper(typ)
			}
			line := "  " + dash + f.Name
			if typ != "" {
				line += " " + typ
			}
			if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" && f.DefValue != "0s" {
				usage += fmt.Sprintf(" (default %s)", f.DefValue)
			}
			fmt.Fprintf(w, "%s\n      %s\n", line, usage)
		}
	}
	fmt.Fprintf(w, "\n%s\n", globalFlagsLine)
}

func writeGroupHelp(w io.Writer, group string) {
	fmt.Fprintf(w, "usage: tandemctl [global flags] %s SUBCOMMAND [flags]\n\nsubcommands:\n", group)
	type row struct{ synopsis, about string }
	var rows []row
	width := 0
	for _, d := range commandDocs {
		if sub, ok := strings.CutPrefix(d.name, group+" "); ok {
			// Only the first line of a long synopsis fits the list.
			first, _, _ := strings.Cut(strings.TrimSpace(sub+" "+d.args), "\n")
			rows = append(rows, row{first, d.about})
			width = max(width, len(first))
		}
	}
	width = min(width, 32) // a longer synopsis gets a line of its own
	for _, r := range rows {
		if len(r.synopsis) > width {
			fmt.Fprintf(w, "  %s\n  %-*s  %s\n", r.synopsis, width, "", r.about)
			continue
		}
		fmt.Fprintf(w, "  %-*s  %s\n", width, r.synopsis, r.about)
	}
	fmt.Fprintf(w, "\n`tandemctl %s SUBCOMMAND --help` describes one subcommand and its flags.\n%s\n", group, globalFlagsLine)
}
