package cluster

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tandemcc/tandem/contactcenter"
)

// restartEntries is how many log entries TestRestartWithLongLog writes
// since the last snapshot: a smoke-sized run in `make test`, 100,000 under
// `make bench` (TANDEM_RESTART_ENTRIES).
func restartEntries(t *testing.T) int {
	v := os.Getenv("TANDEM_RESTART_ENTRIES")
	if v == "" {
		return 5000
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 10_000_000 {
		t.Fatalf("TANDEM_RESTART_ENTRIES=%q: want 1..10000000", v)
	}
	return n
}

// TestRestartWithLongLog: a node whose log holds many entries since its
// last snapshot restarts, replays them and serves (a write acknowledged)
// quickly. It prints the figure bench/raft.sh reports; it asserts no
// time (a slow machine is not a failure), only that the state is whole.
func TestRestartWithLongLog(t *testing.T) {
	n := restartEntries(t)
	dir, addr := t.TempDir(), freeRaftAddr(t)
	noSnapshots := Timing{Heartbeat: 400 * time.Millisecond, Election: 400 * time.Millisecond,
		LeaderLease: 400 * time.Millisecond, Commit: 10 * time.Millisecond,
		SnapshotThreshold: 1 << 40, SnapshotInterval: 24 * time.Hour}
	open := func(eng *contactcenter.Engine) *Store {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		st, err := Open(ctx, Config{
			NodeID: "n1", RaftAddr: addr, AdminURL: "http://127.0.0.1:1", DataDir: dir, Token: "t",
			Machines: []Machine{eng}, Logger: slog.New(slog.DiscardHandler),
			Timing: noSnapshots,
		})
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	waitServing := func(st *Store) {
		t.Helper()
		waitLeading(t, st, 2*time.Minute)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := st.Propose(ctx, TypeNoop, nil); err != nil {
			t.Fatalf("write after start: %v", err)
		}
	}

	eng := contactcenter.New()
	st := open(eng)
	waitServing(st)
	doc, err := contactcenter.ParseDocument([]byte(engineDoc))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if _, err := st.Propose(ctx, contactcenter.TypeConfigApply, contactcenter.ApplyRequest{Document: doc}); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	var errOnce sync.Once
	var firstErr error
	payload := make([]byte, 256)
	for w := 0; w < 64; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				if _, err := st.Propose(ctx, TypeNoop, payload); err != nil {
					errOnce.Do(func() { firstErr = err })
					return
				}
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		t.Fatal(firstErr)
	}
	wrote := time.Since(began)
	last := st.AppliedIndex()
	want := eng.Hash()
	if err := st.Close(ctx); err != nil {
		t.Fatal(err)
	}

	eng2 := contactcenter.New()
	began = time.Now()
	st2 := open(eng2)
	defer st2.Close(context.Background())
	waitServing(st2)
	took := time.Since(began)
	if got := st2.AppliedIndex(); got <= last {
		t.Fatalf("applied index after restart %d, want > %d", got, last)
	}
	if eng2.Hash() != want {
		t.Fatal("engine state after restart differs")
	}
	line := fmt.Sprintf("restart: %d log entries since the last snapshot (256 B no-op commands, written in %v); start to a write acknowledged: %d ms",
		n, wrote.Round(time.Millisecond), took.Milliseconds())
	t.Log(line)
	if out := os.Getenv("TANDEM_RESTART_OUT"); out != "" {
		if err := os.WriteFile(out, []byte(line+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
