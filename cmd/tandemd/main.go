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
	"os"
	"os/signal"
	"syscall"

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
	n, err := startNode(ctx, opts, logger, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "tandemd: %s\n", flagenv.OneLine(err))
		return 1
	}
	<-ctx.Done()
	logger.Info("stopping: transferring leadership and flushing")
	if err := n.stop(); err != nil {
		logger.Error("stop failed", "err", err)
		return 1
	}
	logger.Info("stopped")
	return 0
}
