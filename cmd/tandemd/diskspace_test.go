package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tandemcc/tandem/internal/tmpfstest"
)

func TestCheckDiskSpace(t *testing.T) {
	const MiB = 1 << 20
	dsn := "postgres://tandem@127.0.0.1:1/reporting"
	tests := []struct {
		name    string
		o       options
		free    int64
		freeErr error
		want    string // error prefix; "" = accepted
	}{
		{"no replication: no buffer to check", options{ReplicationBufferSize: 8 * MiB}, 0, nil, ""},
		{"fits", options{ReportingDSN: dsn, ReplicationBufferSize: 8 * MiB}, 64 * MiB, nil, ""},
		{"does not fit", options{ReportingDSN: dsn, ReplicationBufferSize: 8 * MiB}, 4 * MiB, nil, "--replication-buffer-size: 8.0 MiB (8388608 bytes) does not fit"},
		{"standby only, does not fit", options{StandbyAddr: "http://127.0.0.1:9", ReplicationBufferSize: 8 * MiB}, 4 * MiB, nil, "--replication-buffer-size: "},
		{"cannot measure", options{ReportingDSN: dsn, ReplicationBufferSize: 8 * MiB}, 0, errors.New("statfs: input/output error"), "--data-dir: "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.o.DataDir = filepath.Join(t.TempDir(), "data")
			err := checkDiskSpace(tc.o, func(string) (int64, error) { return tc.free, tc.freeErr })
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("got %v, want one line starting %q", err, tc.want)
			}
			if _, err := os.Stat(tc.o.DataDir); !os.IsNotExist(err) {
				t.Fatalf("the check created the data dir: %v", err)
			}
		})
	}
}

// tandemd with --data-dir on a 4 MiB filesystem and an 8 MiB buffer
// refuses with one line naming the flag, exits non-zero and creates
// nothing.
func TestRunRefusesBufferLargerThanTheDisk(t *testing.T) {
	mnt := tmpfstest.Mount(t, 4<<20)
	var stderr bytes.Buffer
	code := run(context.Background(), []string{"--data-dir", filepath.Join(mnt, "data"),
		"--reporting-dsn", "postgres://tandem@127.0.0.1:1/reporting", "--replication-buffer-size", "8MiB"}, noEnv, &stderr)
	out := stderr.String()
	if code == 0 || strings.Count(out, "\n") != 1 || !strings.HasPrefix(out, "tandemd: --replication-buffer-size: ") ||
		!strings.Contains(out, "does not fit on the filesystem of "+mnt) {
		t.Fatalf("exit %d, stderr %q", code, out)
	}
	if entries, _ := os.ReadDir(mnt); len(entries) != 0 {
		t.Fatalf("created %v", entries)
	}
	t.Log(strings.TrimSpace(out))
}
