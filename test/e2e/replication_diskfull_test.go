package e2e

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tandemcc/tandem/internal/tmpfstest"
)

// TestReplicationBufferLargerThanDisk: tandemd with --data-dir on a 4 MiB
// filesystem and an 8 MiB --replication-buffer-size refuses to start with
// one line naming the flag, exits non-zero and creates nothing there.
func TestReplicationBufferLargerThanDisk(t *testing.T) {
	mnt := tmpfstest.Mount(t, 4<<20)
	args := []string{"--node-id", "full", "--data-dir", filepath.Join(mnt, "data"),
		"--raft-addr", loopback(t), "--admin-addr", loopback(t), "--admin-token", sharedToken,
		"--reporting-dsn", "postgres://tandem@127.0.0.1:1/reports", "--replication-buffer-size", "8MiB"}
	ctx, cancel := context.WithTimeout(context.Background(), waitShort)
	defer cancel()
	cmd := exec.CommandContext(ctx, tandemdBin, args...)
	cmd.Dir = t.TempDir()
	cmd.Env = cleanEnv()
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() == 0 {
		t.Fatalf("tandemd %v; want a non-zero exit\n%s", err, out)
	}
	lines := nonEmptyLines(string(out))
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "tandemd: --replication-buffer-size: ") ||
		!strings.Contains(lines[0], "does not fit on the filesystem of "+mnt) {
		t.Fatalf("want one line naming --replication-buffer-size, got:\n%s", out)
	}
	if entries, err := os.ReadDir(mnt); err != nil || len(entries) != 0 {
		t.Fatalf("the refused start created %v (%v)", entries, err)
	}
}
