package replication

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tandemcc/tandem/internal/apierr"
	"github.com/tandemcc/tandem/internal/syncbuf"
	"github.com/tandemcc/tandem/internal/tmpfstest"
)

// diskFault is the Config.WriteFault seam: while on, writes to files
// whose path contains one of the substrings fail with ENOSPC.
type diskFault struct {
	mu    sync.Mutex
	match []string
}

func (d *diskFault) hook(path string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, m := range d.match {
		if strings.Contains(path, m) {
			return syscall.ENOSPC
		}
	}
	return nil
}

func (d *diskFault) set(match ...string) {
	d.mu.Lock()
	d.match = match
	d.mu.Unlock()
}

// count is how many times sub was written to b.
func count(b *syncbuf.Buffer, sub string) int { return strings.Count(b.String(), sub) }

// The buffer's disk fills while the leader delivers: the node keeps
// running, the lost range is a gap the target stops at with needs_sync,
// a log line (once a minute) and the status say so, snapshots wait while
// the gap is only in memory, and a sync from the archive (whose disk had
// space) covers it.
func TestBufferDiskFullStopsTargetAtTheGapAndSyncCoversIt(t *testing.T) {
	clk := &syncClock{t: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)}
	dir := t.TempDir()
	rep := newHist()
	fault := &diskFault{}
	logs := &syncbuf.Buffer{}
	m := openSyncManager(t, dir, clk, map[string]Target{Reporting: rep}, func(c *Config) {
		c.WriteFault = fault.hook
		c.Logger = slog.New(slog.NewTextHandler(logs, nil))
	})
	m.SetLeader(true)
	m.Start()
	at := clk.now()
	m.Publish(datedEvents(1, 10, at))
	waitFor(t, "delivery of 1..10", func() bool { return len(rep.has(1, 10)) == 0 })

	bufDir := filepath.Join(dir, "buffer")
	fault.set(bufDir + "/")
	m.Publish(datedEvents(11, 5, at))
	m.Publish(datedEvents(16, 5, at))
	if n := count(logs, "no space left on "+bufDir); n != 1 {
		t.Fatalf("%d no-space lines in a minute, want 1:\n%s", n, logs)
	}
	clk.advance(2 * time.Minute)
	m.Publish(datedEvents(21, 5, at))
	if n := count(logs, "no space left on "+bufDir); n != 2 {
		t.Fatalf("%d no-space lines after two minutes, want 2", n)
	}
	st := m.Status()
	ns, ok := st.NoSpace["buffer"]
	if !ok || !ns.Full || !ns.Pending || ns.LostEvents != 15 || ns.FirstIndex != 11 || ns.LastIndex != 25 || ns.Path != bufDir {
		t.Fatalf("status no_space %+v", st.NoSpace)
	}
	if !st.Targets[Reporting].NeedsSync {
		t.Fatal("reporting does not show needs_sync while the gap is pending")
	}
	if err := m.Sync(); err == nil || !strings.Contains(err.Error(), "no space left on "+bufDir) {
		t.Fatalf("Sync with the gap only in memory: %v", err)
	}

	fault.set()
	m.Publish(datedEvents(26, 5, at))
	if err := m.Sync(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "space again on "+bufDir) {
		t.Fatal("no line when space came back")
	}
	waitFor(t, "reporting auto-stopped at the gap", func() bool {
		return m.Status().Targets[Reporting].State == AutoStopped
	})
	ts := m.Status().Targets[Reporting]
	if !ts.NeedsSync || !strings.Contains(ts.Reason, "no space left on") {
		t.Fatalf("reporting after the gap: %+v", ts)
	}
	if got := rep.has(11, 30); len(got) != 20 {
		t.Fatalf("delivered past the gap: missing only %v", got)
	}
	if ns := m.Status().NoSpace["buffer"]; ns.Full || ns.Pending || ns.Until.IsZero() {
		t.Fatalf("status after space came back %+v", ns)
	}

	if _, err := m.StartSync(context.Background(), SyncRequest{Target: Reporting, All: true, RunFor: time.Hour}); err != nil {
		t.Fatal(err)
	}
	p := waitSync(t, m, Reporting, SyncDone, SyncFailed)
	if p.State != SyncDone || len(p.Holes) != 0 {
		t.Fatalf("sync %+v", p)
	}
	if missing := rep.has(1, 30); len(missing) > 0 {
		t.Fatalf("after the sync the target lacks %v", missing)
	}
	if m.Status().Targets[Reporting].NeedsSync {
		t.Fatal("needs_sync not cleared by a sync that covered the gap")
	}
}

// When the archive's disk is full too, the sync names the hole instead of
// claiming to cover it.
func TestArchiveDiskFullIsAHoleTheSyncReports(t *testing.T) {
	clk := &syncClock{t: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)}
	dir := t.TempDir()
	rep := newHist()
	fault := &diskFault{}
	logs := &syncbuf.Buffer{}
	m := openSyncManager(t, dir, clk, map[string]Target{Reporting: rep}, func(c *Config) {
		c.WriteFault = fault.hook
		c.Logger = slog.New(slog.NewTextHandler(logs, nil))
	})
	at := clk.now()
	m.Publish(datedEvents(1, 10, at))
	fault.set(dir + "/") // buffer and archive
	m.Publish(datedEvents(11, 10, at))
	arcDir := filepath.Join(dir, "archive")
	if !strings.Contains(logs.String(), "no space left on "+arcDir) || !strings.Contains(logs.String(), "not archived") {
		t.Fatalf("no archive line:\n%s", logs)
	}
	if ns := m.Status().NoSpace["archive"]; !ns.Full || ns.LostEvents != 10 {
		t.Fatalf("archive no_space %+v", ns)
	}
	fault.set()
	m.Publish(datedEvents(21, 5, at))
	m.SetLeader(true)
	m.Start()
	waitFor(t, "reporting auto-stopped at the gap", func() bool {
		return m.Status().Targets[Reporting].State == AutoStopped
	})
	if _, err := m.StartSync(context.Background(), SyncRequest{Target: Reporting, All: true, RunFor: time.Hour}); err != nil {
		t.Fatal(err)
	}
	p := waitSync(t, m, Reporting, SyncDone, SyncFailed)
	if p.State != SyncDone || len(p.Holes) != 1 || p.Holes[0].First.Index != 11 || p.Holes[0].Last.Index != 20 {
		t.Fatalf("sync %+v", p)
	}
	if !m.Status().Targets[Reporting].NeedsSync {
		t.Fatal("needs_sync cleared although the archive lacks the lost range")
	}
}

// snapshotFiles reads every file under dir except the diagnostic files,
// for "changes nothing" comparisons.
func snapshotFiles(t *testing.T, dir string, withDiag bool) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		name := filepath.Base(p)
		if !withDiag && (strings.HasPrefix(name, "replication.")) {
			return nil
		}
		b, err := os.ReadFile(p)
		out[p] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func sameFiles(t *testing.T, before, after map[string]string) {
	t.Helper()
	for p, b := range before {
		if a, ok := after[p]; !ok || a != b {
			t.Errorf("%s changed", p)
		}
	}
	for p := range after {
		if _, ok := before[p]; !ok {
			t.Errorf("%s created", p)
		}
	}
}

// Administration commands that write answer one clear line on a full
// disk and change nothing: not the states, not the buffer, not the sync
// progress, and (when it is the diagnostic file that does not fit) not
// the diagnostic files either.
func TestAdminCommandsOnFullDiskChangeNothing(t *testing.T) {
	tests := []struct {
		name  string
		full  string // the file that does not fit
		setup func(t *testing.T, m *Manager)
		run   func(m *Manager) error
	}{
		// The states are cluster state (committed through Raft, whose
		// disk-full refusal is the cluster's); what a command writes on
		// this node before committing is its diagnostic file.
		{"restart: diagnostic file", "replication.0", shutdown, restart},
		{"stop: diagnostic file", "replication.0", nil, func(m *Manager) error {
			_, err := m.Stop(context.Background(), Reporting)
			return err
		}},
		{"shutdown: diagnostic sequence", "replication.seq", nil, func(m *Manager) error {
			_, err := m.Shutdown(context.Background())
			return err
		}},
		{"suspend: diagnostic file", "replication.0", nil, func(m *Manager) error {
			_, err := m.Suspend(context.Background(), Reporting)
			return err
		}},
		{"sync: progress file", "sync.json", nil, syncAll},
		{"sync: diagnostic file", "replication.0", nil, syncAll},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := &syncClock{t: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)}
			dir := t.TempDir()
			fault := &diskFault{}
			m := openSyncManager(t, dir, clk, map[string]Target{Reporting: newHist()}, func(c *Config) { c.WriteFault = fault.hook })
			m.Start()
			m.Publish(datedEvents(1, 10, clk.now()))
			if err := m.Sync(); err != nil {
				t.Fatal(err)
			}
			if tc.setup != nil {
				tc.setup(t, m)
			}
			withDiag := strings.HasPrefix(tc.full, "replication.")
			before, states := snapshotFiles(t, dir, withDiag), m.Status()
			fault.set(tc.full)
			err := tc.run(m)
			var ref *Refusal
			want := "no space left on " + dir + ": free space and retry"
			if !errors.As(err, &ref) || ref.Msg != want {
				t.Fatalf("got %v, want refusal %q", err, want)
			}
			if e := apierr.From(err); e.Code != apierr.NoSpace || e.Status() != 507 {
				t.Errorf("%v answers %d %s, want 507 no_space", err, e.Status(), e.Code)
			}
			sameFiles(t, before, snapshotFiles(t, dir, withDiag))
			after := m.Status()
			for n, ts := range states.Targets {
				if a := after.Targets[n]; a.State != ts.State || a.Cursor != ts.Cursor || a.BacklogEvents != ts.BacklogEvents {
					t.Errorf("%s: %+v became %+v", n, ts, a)
				}
			}
			if after.Sync[Reporting] != nil {
				t.Errorf("a refused sync left a job: %+v", after.Sync[Reporting])
			}
			fault.set()
			if err := tc.run(m); err != nil {
				t.Fatalf("with space again: %v", err)
			}
		})
	}
}

func shutdown(t *testing.T, m *Manager) {
	t.Helper()
	if _, err := m.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func restart(m *Manager) error {
	_, err := m.Restart(context.Background())
	return err
}

func syncAll(m *Manager) error {
	_, err := m.StartSync(context.Background(), SyncRequest{Target: Reporting, All: true, RunFor: time.Hour})
	return err
}

// The same on a real full filesystem (a 4 MiB tmpfs): events published
// while it is full are a gap, restart is refused with one line and
// changes nothing, and both work again once space is freed.
func TestRealFullDisk(t *testing.T) {
	mnt := tmpfstest.Mount(t, 4<<20)
	clk := &syncClock{t: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)}
	dir := filepath.Join(mnt, "replication")
	m := openSyncManager(t, dir, clk, map[string]Target{Reporting: newHist()}, nil)
	m.Start()
	m.Publish(datedEvents(1, 10, clk.now()))
	if err := m.Sync(); err != nil {
		t.Fatal(err)
	}
	shutdown(t, m)
	filler := filepath.Join(mnt, "filler")
	tmpfstest.Fill(t, filler)
	next := uint64(11)
	for i := 0; i < 10000 && !m.Status().NoSpace["buffer"].Pending; i++ {
		m.Publish(datedEvents(next, 5, clk.now()))
		next += 5
	}
	st := m.Status()
	if ns := st.NoSpace["buffer"]; !ns.Full || !ns.Pending || ns.LostEvents == 0 {
		t.Fatalf("no_space %+v", st.NoSpace)
	}
	before := snapshotFiles(t, dir, true)
	_, err := m.Restart(context.Background())
	var ref *Refusal
	if !errors.As(err, &ref) || ref.Msg != "no space left on "+dir+": free space and retry" {
		t.Fatalf("restart on a full disk: %v", err)
	}
	sameFiles(t, before, snapshotFiles(t, dir, true))
	if s := m.Status().Targets[Reporting].State; s != Shutdown {
		t.Fatalf("state %s after a refused restart", s)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	m.Publish(datedEvents(next, 5, clk.now()))
	if err := m.Sync(); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Restart(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s := m.Status().Targets[Reporting]; s.State != Active || !s.NeedsSync {
		t.Fatalf("after restart %+v", s)
	}
}
