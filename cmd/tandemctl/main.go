// Command tandemctl is Tandem's admin CLI (interfaces.md, "tandemctl"). It
// speaks the admin API of one node; only `cluster recover`,
// `cluster migrate-log` and `backup restore` work offline on a stopped
// node's data directory. Its command line (commands, per-command help,
// shell completion) is github.com/spf13/cobra's, built in cli.go; the
// files beside it hold each command's definition and body.
package main

import (
	"context"
	"errors"
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

// usageError is a mistake in the command line (exit 2). cmd names the
// command whose --help the error points to ("cluster join"; "" = the
// command that was running, or the top level).
type usageError struct{ msg, cmd string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{msg: fmt.Sprintf(format, args...)} }

// helpHint is the command line that shows the usage a mistake is about.
func (e usageError) helpHint() string {
	if e.cmd == "" {
		return "tandemctl --help"
	}
	return "tandemctl " + e.cmd + " --help"
}

// run runs one command line and returns the exit code: 0 done (or help
// shown), 2 a usage mistake, 1 anything else, each error one line on
// stderr.
func run(ctx context.Context, args []string, e env) int {
	var g globals
	root := newRootCmd(&g, e)
	ran, err := execute(ctx, root, args)
	var ue usageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ue):
		if ue.cmd == "" && ran != nil {
			ue.cmd = commandName(ran)
		}
		fmt.Fprintf(e.stderr, "tandemctl: %s (see %s)\n", flagenv.OneLine(err), ue.helpHint())
		return 2
	default:
		fmt.Fprintf(e.stderr, "tandemctl: %s\n", flagenv.OneLine(err))
		return 1
	}
}
