// Command tandemd runs one Tandem node: the Raft member that replicates the
// contact-center engine, and the admin API around it (interfaces.md,
// "tandemd"). With no flags it is a working one-node system in
// ./tandem-data.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/tandemcc/tandem/cmd/internal/flagenv"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Getenv, os.Stderr))
}

// run starts the node and blocks until ctx ends. It returns the exit code:
// 0 after a graceful stop, 1 on a runtime failure, 2 on bad flags or config.
func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) int {
	return runWith(ctx, args, getenv, stderr, startNode)
}

// startFunc starts a node; startNode, or a stand-in in tests.
type startFunc func(ctx context.Context, o options, logger *slog.Logger, rawLog io.Writer) (*node, error)

// abandonGrace is how long a stop requested during start-up waits for the
// start to finish (and then stops gracefully) before it gives up on it.
const abandonGrace = 2 * time.Second

// runWith is run with the function that starts the node.
func runWith(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer, start startFunc) int {
	opts, err := parseOptions(args, getenv)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stderr, usage())
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "tandemd: %s\n", flagenv.OneLine(err))
		return 2
	}
	logger := newLogger(stderr)
	// Opening Raft restores the latest snapshot before it returns, which
	// takes minutes for a large state and does not listen to ctx: a stop
	// requested meanwhile must not wait for it. Nothing has been
	// acknowledged by this process yet, and what is on disk is what any
	// crash leaves, so leaving the start unfinished loses nothing.
	type started struct {
		n   *node
		err error
	}
	done := make(chan started, 1)
	go func() {
		n, err := start(ctx, opts, logger, stderr)
		done <- started{n, err}
	}()
	var s started
	select {
	case s = <-done:
	case <-ctx.Done():
		select {
		case s = <-done:
		case <-time.After(abandonGrace):
			logger.Warn("stop requested while starting (restoring the snapshot): exiting without finishing the start; committed data is on disk")
			return 1
		}
	}
	if s.err != nil {
		fmt.Fprintf(stderr, "tandemd: %s\n", flagenv.OneLine(s.err))
		return 1
	}
	n := s.n
	<-ctx.Done()
	logger.Info("stopping: transferring leadership and flushing")
	if err := n.stop(); err != nil {
		logger.Error("stop failed", "err", err)
		return 1
	}
	logger.Info("stopped")
	return 0
}
