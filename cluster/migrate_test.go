package cluster

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tandemcc/tandem/contactcenter"
)

func freeRaftAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// openNode opens a one-node store on dir and waits until it serves.
func openNode(t *testing.T, dir, addr string, eng *contactcenter.Engine, openLog func(string) (logStore, error)) (*Store, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st, err := Open(ctx, Config{
		NodeID: "n1", RaftAddr: addr, AdminURL: "http://127.0.0.1:1", DataDir: dir, Token: "t",
		Machines: []Machine{eng}, Logger: slog.New(slog.DiscardHandler),
		openLog: openLog,
	})
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { st.Close(context.Background()) }) // also when waitLeading fails; Close tolerates a closed store
	waitLeading(t, st, 20*time.Second)
	return st, nil
}

// waitLeading waits (bounded) until the one-node store st leads and is
// ready to serve.
func waitLeading(t *testing.T, st *Store, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !(st.Ready() && st.IsLeader()) {
		if time.Now().After(deadline) {
			t.Fatalf("node not ready after %v", within)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A data dir written by an earlier build (raft-wal) is refused at start,
// never read as an empty log, and serves its state again after MigrateLog.
func TestMigrateLegacyLog(t *testing.T) {
	dir, addr := t.TempDir(), freeRaftAddr(t)
	openLegacy := func(dir string) (logStore, error) { // as builds before issue 9 did
		walDir := filepath.Join(dir, legacyWALName)
		if err := os.MkdirAll(walDir, 0o700); err != nil {
			return nil, err
		}
		return openWAL(walDir)
	}

	eng := contactcenter.New()
	st, err := openNode(t, dir, addr, eng, openLegacy)
	if err != nil {
		t.Fatalf("open with raft-wal: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	doc, err := contactcenter.ParseDocument([]byte(engineDoc))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Propose(ctx, contactcenter.TypeConfigApply, contactcenter.ApplyRequest{Document: doc}); err != nil {
		t.Fatalf("config apply: %v", err)
	}
	want := eng.Hash()
	if err := st.Close(ctx); err != nil {
		t.Fatalf("close: %v", err)
	}

	// The new build refuses the old log, with the command that fixes it.
	_, err = openNode(t, dir, addr, contactcenter.New(), nil)
	if !errors.Is(err, ErrLegacyLog) || !strings.Contains(err.Error(), "tandemctl cluster migrate-log --data-dir "+dir) {
		t.Fatalf("open of a raft-wal data dir: err = %v, want ErrLegacyLog naming migrate-log", err)
	}
	if _, serr := os.Stat(filepath.Join(dir, raftDirName, logFileName)); serr == nil {
		t.Fatal("the refused start created a new log store")
	}

	var progress bytes.Buffer
	res, err := MigrateLog(ctx, dir, &progress)
	if err != nil {
		t.Fatalf("MigrateLog: %v", err)
	}
	if res.First != 1 || res.Last < 3 || res.Kept == "" {
		t.Fatalf("MigrateLog result = %+v", res)
	}
	if _, err := os.Stat(res.Kept); err != nil {
		t.Fatalf("old log not kept: %v", err)
	}
	if !strings.Contains(progress.String(), "copying log entries") {
		t.Errorf("progress = %q", progress.String())
	}
	if _, err := MigrateLog(ctx, dir, nil); err == nil {
		t.Fatal("a second MigrateLog succeeded")
	}

	eng2 := contactcenter.New()
	st2, err := openNode(t, dir, addr, eng2, nil)
	if err != nil {
		t.Fatalf("open after migration: %v", err)
	}
	defer st2.Close(context.Background())
	if got := eng2.Hash(); got != want {
		t.Fatalf("engine after migration: hash %s, want %s", got, want)
	}
}

func TestMigrateRefusesWhatItCannotMigrate(t *testing.T) {
	ctx := context.Background()
	if _, err := MigrateLog(ctx, t.TempDir(), nil); err == nil || !strings.Contains(err.Error(), "does not hold a Tandem node") {
		t.Errorf("empty dir: %v", err)
	}
}
