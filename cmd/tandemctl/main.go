// Command tandemctl is Tandem's admin CLI (interfaces.md, "tandemctl"). It
// speaks the admin API of one node; only `cluster recover`,
// `cluster migrate-log` and `backup restore` work offline on a stopped
// node's data directory.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/tandemcc/tandem/cmd/internal/flagenv"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], env{getenv: os.Getenv, stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr}))
}

// env is what a command may touch besides the network.
type env struct {
	getenv func(string) string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

// usageError is a mistake in the command line (exit 2). cmd names the
// command whose --help the error points to ("" = the command its message
// starts with, else the top level).
type usageError struct{ msg, cmd string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{msg: fmt.Sprintf(format, args...)} }

// helpHint is the command line that shows the usage a mistake is about.
func (e usageError) helpHint() string {
	cmd := e.cmd
	if cmd == "" {
		for _, d := range commandDocs {
			for _, name := range []string{d.name, strings.Fields(d.name)[0]} {
				if len(name) > len(cmd) && (strings.HasPrefix(e.msg, name+":") || strings.HasPrefix(e.msg, name+" ")) {
					cmd = name
				}
			}
		}
	}
	if cmd == "" {
		return "tandemctl --help"
	}
	return "tandemctl " + cmd + " --help"
}

const usageText = `usage: tandemctl [--addr URL] [--token T | --token-file F] [-o text|json] COMMAND

commands:
  status                                   node, cluster, replication and backup state
  cluster join MEMBER_ADMIN_ADDR           make the node at --addr join MEMBER's cluster
  cluster remove NODE_ID                   remove a node from the cluster
  cluster transfer-leader [NODE_ID]        hand leadership to NODE_ID (or any voter)
  cluster snapshot                         take a Raft snapshot of the node at --addr now
  cluster recover --force-quorum --data-dir DIR [--raft-addr A] [--yes]
                                           offline: make a stopped node the only voter
  cluster migrate-log --data-dir DIR       offline: convert a stopped node's raft log
                                           from the raft-wal format of earlier builds
  apply -f FILE [--prune]                  declarative configuration (idempotent)
  hash-password < PASSWORD                 a user's password_hash for the configuration
  phone provision EXTENSION PHONE_ID       a secure phone's provisioning data, its SIP password included
  replication status                       this node's replication targets and buffer
  replication suspend|stop --target T      T is reporting or standby
  replication resume --target T [--rate N] deliver the backlog, at most N events/s
  replication shutdown|restart             all replication of the cluster (restart clears every buffer)
  replication sync --target reporting --recent | --all --run-for D | --continue --run-for D
                                           re-send history from this node's archive (progress bar),
                                           after the administration data
  replication sync --target reporting --admin
                                           the names reports need (agents, queues, users, business units)
  replication sync --target standby --admin
                                           the whole engine state
  replication sync --status --target T     the last sync's progress
  standby status                           this cluster's standby mode, position and lag
  standby promote                          make this standby cluster accept writes (and refuse shipments)
  backup now --level 0|1                   a full (0) or incremental (1) backup of the node now (progress bar)
  backup list                              the backups in the node's --backup-dir, as chains
  backup verify ID                         check a backup without restoring it
  backup restore --from DIR --data-dir DIR [--replace] [--key-file F] [--yes]
                                           offline: write a stopped node's data directory from a backup

--addr defaults to http://127.0.0.1:7070 (TANDEM_ADDR); the token comes from
--token, TANDEM_ADMIN_TOKEN, --token-file or ./tandem-data/admin.token.
` + "`tandemctl COMMAND --help`" + ` describes one command (or group) and its flags.
`

func run(ctx context.Context, args []string, e env) int {
	err := dispatch(ctx, args, e)
	var ue usageError
	var help helpRequest
	switch {
	case err == nil:
		return 0
	case errors.As(err, &help):
		help.write(e.stdout)
		return 0
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprint(e.stdout, usageText)
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(e.stderr, "tandemctl: %s (see %s)\n", flagenv.OneLine(err), ue.helpHint())
		return 2
	default:
		fmt.Fprintf(e.stderr, "tandemctl: %s\n", flagenv.OneLine(err))
		return 1
	}
}

func dispatch(ctx context.Context, args []string, e env) error {
	var g globals
	fs := newFlagSet("tandemctl", &g)
	if err := fs.Parse(args); err != nil {
		return flagErr(err)
	}
	rest := fs.Args()
	if len(rest) == 0 {
		return usagef("missing command")
	}
	switch rest[0] {
	case "status":
		return cmdStatus(ctx, &g, rest[1:], e)
	case "cluster":
		if len(rest) < 2 {
			return missingSub("cluster")
		}
		if isHelpArg(rest[1]) {
			return helpRequest{name: "cluster"}
		}
		switch rest[1] {
		case "join":
			return cmdJoin(ctx, &g, rest[2:], e)
		case "remove":
			return cmdRemove(ctx, &g, rest[2:], e)
		case "transfer-leader":
			return cmdTransfer(ctx, &g, rest[2:], e)
		case "snapshot":
			return cmdSnapshot(ctx, &g, rest[2:], e)
		case "recover":
			return cmdRecover(ctx, &g, rest[2:], e)
		case "migrate-log":
			return cmdMigrateLog(ctx, &g, rest[2:], e)
		}
		return unknownSub("cluster", rest[1])
	case "apply":
		return cmdApply(ctx, &g, rest[1:], e)
	case "replication":
		return cmdReplication(ctx, &g, rest[1:], e)
	case "standby":
		return cmdStandby(ctx, &g, rest[1:], e)
	case "backup":
		return cmdBackup(ctx, &g, rest[1:], e)
	case "hash-password":
		return cmdHashPassword(ctx, &g, rest[1:], e)
	case "phone":
		return cmdPhone(ctx, &g, rest[1:], e)
	case "help":
		// `tandemctl help cluster join` is `tandemctl cluster join --help`.
		if len(rest) > 1 {
			return dispatch(ctx, append(append([]string{}, rest[1:]...), "--help"), e)
		}
		return flag.ErrHelp
	}
	return usagef("unknown command %q", rest[0])
}

func flagErr(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return err
	}
	return usageError{msg: err.Error()}
}
