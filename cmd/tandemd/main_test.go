package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/tandemcc/tandem/internal/syncbuf"
)

// TestStopDuringStart: a SIGTERM while the node is still starting (Raft
// restoring a large snapshot, which does not listen to ctx) ends the
// process after the grace instead of waiting for the restore; a start that
// gives up on ctx within the grace is reported as its error.
func TestStopDuringStart(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	for _, tc := range []struct {
		name  string
		start startFunc
		want  string
	}{
		{"start ignores ctx", func(context.Context, options, *slog.Logger, io.Writer) (*node, error) {
			<-release // raft.NewRaft restoring a snapshot
			return nil, errors.New("released")
		}, "stop requested while starting"},
		{"start gives up", func(ctx context.Context, _ options, _ *slog.Logger, _ io.Writer) (*node, error) {
			<-ctx.Done()
			return nil, errors.New("opening the store: interrupted")
		}, "tandemd: opening the store: interrupted"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			var stderr syncbuf.Buffer
			code := make(chan int, 1)
			go func() {
				code <- runWith(ctx, []string{"--data-dir", t.TempDir()}, func(string) string { return "" }, &stderr, tc.start)
			}()
			cancel()
			select {
			case c := <-code:
				if c != 1 {
					t.Errorf("exit code %d, want 1", c)
				}
			case <-time.After(abandonGrace + 10*time.Second):
				t.Fatal("run did not return after the stop")
			}
			if !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("stderr %q does not say %q", stderr.String(), tc.want)
			}
		})
	}
}
