package cluster

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tandemcc/tandem/internal/syncbuf"
)

// The space guard's reserve follows the latest snapshot's size without
// listing the snapshot store on every check: while a snapshot is being
// written (a ".tmp" directory in the store), raft's List warned "found
// temporary snapshot" on each of the guard's checks, every 10 ms.
func TestRaftReserveFollowsSnapshots(t *testing.T) {
	var logs syncbuf.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dir := t.TempDir()
	st, err := Open(ctx, Config{
		NodeID: "n1", RaftAddr: freeRaftAddr(t), AdminURL: "http://127.0.0.1:1", DataDir: dir, Token: "t",
		Machines: []Machine{timeMachine{}}, Logger: slog.New(slog.NewTextHandler(&logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close(context.Background())
	waitLeading(t, st, 20*time.Second)
	if got := st.raftReserve(); got != raftReserve {
		t.Fatalf("reserve with no snapshot %d, want %d", got, raftReserve)
	}
	listed := func() int64 {
		metas, err := st.snaps.List()
		if err != nil || len(metas) == 0 {
			t.Fatalf("listing snapshots: %v (%d)", err, len(metas))
		}
		return metas[0].Size
	}
	for i := 0; i < 2; i++ {
		if _, err := st.Propose(ctx, "tm.now", nil); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Snapshot(ctx); err != nil {
			t.Fatalf("snapshot %d: %v", i, err)
		}
		if got, want := st.raftReserve(), raftReserve+listed(); got != want {
			t.Fatalf("reserve after snapshot %d: %d, want %d", i, got, want)
		}
	}
	// A snapshot in progress: the guard's checks do not list the store.
	tmp := filepath.Join(dir, raftDirName, "snapshots", "2-99-123.tmp")
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		t.Fatal(err)
	}
	before := strings.Count(logs.String(), "found temporary snapshot")
	for i := 0; i < 100; i++ {
		st.raftReserve()
	}
	if n := strings.Count(logs.String(), "found temporary snapshot") - before; n != 0 {
		t.Errorf("100 reserve checks logged %d warnings of a snapshot in progress", n)
	}
	// After a restore the size is read again from the store.
	st.snapshotStored(-1)
	if got, want := st.raftReserve(), raftReserve+listed(); got != want {
		t.Fatalf("reserve after a restore: %d, want %d", got, want)
	}
}
