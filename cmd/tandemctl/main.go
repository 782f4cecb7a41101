// Command tandemctl is Tandem's admin CLI (interfaces.md, "tandemctl"). It
// speaks the admin API of one node; only `cluster recover` and
// `cluster migrate-log` work offline on a stopped node's data directory.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
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

// usageError is a mistake in the command line (exit 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

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

--addr defaults to http://127.0.0.1:7070 (TANDEM_ADDR); the token comes from
--token, TANDEM_ADMIN_TOKEN, --token-file or ./tandem-data/admin.token.
`

func run(ctx context.Context, args []string, e env) int {
	err := dispatch(ctx, args, e)
	var ue usageError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprint(e.stdout, usageText)
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(e.stderr, "tandemctl: %s (see tandemctl --help)\n", flagenv.OneLine(err))
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
			return usagef("cluster: missing subcommand (join, remove, transfer-leader, snapshot, recover, migrate-log)")
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
		return usagef("cluster: unknown subcommand %q", rest[1])
	case "apply":
		return cmdApply(ctx, &g, rest[1:], e)
	case "replication":
		return cmdReplication(ctx, &g, rest[1:], e)
	case "standby":
		return cmdStandby(ctx, &g, rest[1:], e)
	case "hash-password":
		return cmdHashPassword(ctx, &g, rest[1:], e)
	case "help":
		return flag.ErrHelp
	}
	return usagef("unknown command %q", rest[0])
}

func flagErr(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return err
	}
	return usageError{err.Error()}
}
