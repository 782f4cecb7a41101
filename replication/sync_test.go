package replication

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tandemcc/tandem/command"
)

// syncClock is a clock the test moves (safe for the sync goroutine).
type syncClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *syncClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *syncClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// histTarget is a reporting target that also takes history: Backfill is
// idempotent by position, like reporting.DB.Backfill.
type histTarget struct {
	*fakeTarget
	mu        sync.Mutex
	stored    map[command.Position]int // every position ever stored, and how often
	batches   int
	onBatch   func(n int) // after each Backfill (the n-th, from 1)
	block     chan struct{}
	blockAt   int
	warnings  []string
	retention time.Duration // the cluster retention RetentionWarnings was asked about
	failNext  int
}

func newHist() *histTarget {
	return &histTarget{fakeTarget: newFake(), stored: map[command.Position]int{}}
}

func (h *histTarget) Deliver(ctx context.Context, evs []command.Event) (command.Position, error) {
	pos, err := h.fakeTarget.Deliver(ctx, evs)
	if err == nil {
		h.mu.Lock()
		for _, e := range evs {
			if _, ok := h.stored[e.Pos()]; !ok {
				h.stored[e.Pos()] = 1
			}
		}
		h.mu.Unlock()
	}
	return pos, err
}

func (h *histTarget) Backfill(ctx context.Context, evs []command.Event) (int, error) {
	h.mu.Lock()
	h.batches++
	n, block, blockAt, onBatch := h.batches, h.block, h.blockAt, h.onBatch
	if h.failNext > 0 {
		h.failNext--
		h.mu.Unlock()
		return 0, errors.New("reporting database unreachable")
	}
	h.mu.Unlock()
	if block != nil && n == blockAt {
		select {
		case <-block:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	h.mu.Lock()
	added := 0
	for _, e := range evs {
		if _, ok := h.stored[e.Pos()]; !ok {
			h.stored[e.Pos()] = 1
			added++
		}
	}
	h.mu.Unlock()
	if onBatch != nil {
		onBatch(n)
	}
	return added, nil
}

func (h *histTarget) RetentionWarnings(ctx context.Context, cluster time.Duration) ([]string, error) {
	h.fakeTarget.mu.Lock()
	down := h.fakeTarget.down
	h.fakeTarget.mu.Unlock()
	h.mu.Lock()
	defer h.mu.Unlock()
	h.retention = cluster
	if down {
		return nil, errors.New("connecting to reporting database: connection refused")
	}
	return h.warnings, nil
}

func (h *histTarget) has(from, to uint64) (missing []uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i := from; i <= to; i++ {
		if h.stored[command.Position{Index: i}] != 1 {
			missing = append(missing, i)
		}
	}
	return missing
}

// adminTarget is a standby target that can synchronise administration data.
type adminTarget struct {
	*fakeTarget
	calls int
}

func (a *adminTarget) SyncAdmin(ctx context.Context, progress func(done, total int64)) error {
	a.calls++
	for i := int64(1); i <= 4; i++ {
		progress(i, 4)
	}
	return nil
}

// datedEvents returns n events from index from, dated at.
func datedEvents(from uint64, n int, at time.Time) []command.Event {
	evs := events(from, n, 10)
	for i := range evs {
		evs[i].Time = at.UnixNano()
	}
	return evs
}

func openSyncManager(t *testing.T, dir string, clk *syncClock, targets map[string]Target, cfg func(*Config)) *Manager {
	t.Helper()
	c := Config{Dir: dir, BufferSize: 1 << 20, Targets: targets, Now: clk.now, TrackEvery: 20 * time.Millisecond,
		HistoryRetention: 396 * 24 * time.Hour}
	if cfg != nil {
		cfg(&c)
	}
	m, err := openLocal(c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func waitSync(t *testing.T, m *Manager, target string, states ...string) *SyncProgress {
	t.Helper()
	var p *SyncProgress
	waitFor(t, "sync to reach "+strings.Join(states, "/"), func() bool {
		p = m.SyncStatus(target)
		if p == nil {
			return false
		}
		for _, s := range states {
			if p.State == s {
				return true
			}
		}
		return false
	})
	return p
}

func TestSyncRefusalsChangeNothing(t *testing.T) {
	clk := &syncClock{t: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)}
	dir := t.TempDir()
	rep := newHist()
	m := openSyncManager(t, dir, clk, map[string]Target{Reporting: rep, Standby: newFake()}, nil)
	m.Start()
	only := openSyncManager(t, t.TempDir(), clk, map[string]Target{Reporting: newHist()}, nil)
	only.Start()
	tests := []struct {
		name string
		m    *Manager
		q    SyncRequest
		want string
	}{
		{"no target", m, SyncRequest{Recent: true}, "--target is required"},
		{"unknown target", m, SyncRequest{Target: "archive", Recent: true}, `unknown replication target "archive"`},
		{"standby not configured", only, SyncRequest{Target: Standby, Admin: true}, "standby replication is not configured on this node (configured: reporting)"},
		{"reporting cannot sync admin data", m, SyncRequest{Target: Reporting, Admin: true}, "the reporting target on this node cannot synchronise administration data"},
		{"admin with all", m, SyncRequest{Target: Reporting, Admin: true, All: true, RunFor: time.Hour}, "--admin sends the administration data alone; --recent, --all and --continue send it first anyway"},
		{"admin with recent", m, SyncRequest{Target: Reporting, Admin: true, Recent: true}, "send it first anyway"},
		{"run-for with admin", m, SyncRequest{Target: Reporting, Admin: true, RunFor: time.Hour}, "--run-for applies to --all and --continue, not to --admin"},
		{"recent with standby", m, SyncRequest{Target: Standby, Recent: true}, "--recent, --all and --continue apply to --target reporting"},
		{"run-for with standby", m, SyncRequest{Target: Standby, Admin: true, RunFor: time.Hour}, "--run-for applies to --target reporting"},
		{"standby cannot sync admin data", m, SyncRequest{Target: Standby, Admin: true}, "cannot synchronise administration data"},
		{"no mode", m, SyncRequest{Target: Reporting}, "needs one of --admin, --recent, --all --run-for D or --continue --run-for D"},
		{"two modes", m, SyncRequest{Target: Reporting, Recent: true, All: true, RunFor: time.Hour}, "exclude each other"},
		{"run-for with recent", m, SyncRequest{Target: Reporting, Recent: true, RunFor: time.Hour}, "--run-for applies to --all and --continue"},
		{"all without run-for", m, SyncRequest{Target: Reporting, All: true}, "need --run-for D"},
		{"negative run-for", m, SyncRequest{Target: Reporting, All: true, RunFor: -time.Hour}, "positive duration"},
		{"continue without an interrupted sync", m, SyncRequest{Target: Reporting, Continue: true, RunFor: time.Hour}, "no interrupted full sync of reporting"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.m.StartSync(context.Background(), tc.q)
			var ref *Refusal
			if !errors.As(err, &ref) || !strings.Contains(ref.Msg, tc.want) || strings.Contains(ref.Msg, "\n") {
				t.Fatalf("StartSync(%+v) = %v; want one line containing %q", tc.q, err, tc.want)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, syncFileName)); !os.IsNotExist(err) {
		t.Errorf("a refused sync wrote %s: %v", syncFileName, err)
	}
	if m.SyncStatus(Reporting) != nil {
		t.Error("a refused sync left a job")
	}

	// Clock skew: refused, with a diagnostic file saying why.
	m.cfg.ClockCheck = func() error { return errors.New("this node's clock is 3100 ms off the leader's") }
	res, err := m.StartSync(context.Background(), SyncRequest{Target: Reporting, Recent: true})
	var ref *Refusal
	if !errors.As(err, &ref) || !strings.Contains(ref.Msg, "3100 ms") || res.Diagnostic == "" {
		t.Fatalf("sync with a skewed clock: %v (%+v)", err, res)
	}
	if b, _ := os.ReadFile(res.Diagnostic); !strings.Contains(string(b), "command: sync") || !strings.Contains(string(b), "clock skew: FAIL") {
		t.Errorf("diagnostic file:\n%s", b)
	}
	m.cfg.ClockCheck = func() error { return nil }

	// An unreachable reporting database: one line, nothing started.
	rep.setDown(true)
	if _, err := m.StartSync(context.Background(), SyncRequest{Target: Reporting, Recent: true}); !errors.As(err, &ref) ||
		!strings.Contains(ref.Msg, "cannot be read") {
		t.Fatalf("sync with the database down: %v", err)
	}
	if m.SyncStatus(Reporting) != nil {
		t.Error("a refused sync left a job")
	}
}

// The spec's procedure after an outage: the target missed data (restart
// cleared the buffer), a full sync bounded by --run-for stops part way,
// --continue finishes it — every event stored once — and needs_sync
// clears. The retention warning comes before the sync.
func TestSyncAllRunForThenContinue(t *testing.T) {
	clk := &syncClock{t: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)}
	rep := newHist()
	rep.warnings = []string{"reporting table calls keeps 90 days, the cluster keeps 396 days"}
	m := openSyncManager(t, t.TempDir(), clk, map[string]Target{Reporting: rep}, nil)
	m.SetLeader(true)
	m.Start()
	// 2,000 events in September, 3,000 in November; the target is down.
	rep.setDown(true)
	m.Publish(datedEvents(1, 2000, time.Date(2026, 9, 5, 0, 0, 0, 0, time.UTC)))
	m.Publish(datedEvents(2001, 3000, time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)))
	ctx := context.Background()
	if _, err := m.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if st := m.Status().Targets[Reporting]; !st.NeedsSync {
		t.Fatalf("after restart: %+v, want needs_sync", st)
	}
	rep.setDown(false)

	// Each batch takes "10 minutes": --run-for 25m stops after three.
	rep.onBatch = func(int) { clk.advance(10 * time.Minute) }
	res, err := m.StartSync(ctx, SyncRequest{Target: Reporting, All: true, RunFor: 25 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Warnings) != 1 || rep.retention != 396*24*time.Hour || res.Sync == nil || res.Sync.Total != 5000 {
		t.Fatalf("start: %+v (retention asked %v)", res, rep.retention)
	}
	p := waitSync(t, m, Reporting, SyncInterrupted, SyncDone, SyncFailed)
	if p.State != SyncInterrupted || p.Done != 3000 || p.Percent != 60 || !strings.Contains(p.Message, "--continue") {
		t.Fatalf("after --run-for: %+v", p)
	}
	if st := m.Status(); !st.Targets[Reporting].NeedsSync || st.Sync[Reporting].State != SyncInterrupted {
		t.Fatalf("status after an interrupted sync: %+v", st)
	}
	if _, err := m.StartSync(ctx, SyncRequest{Target: Reporting, Continue: true, RunFor: 10 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	p = waitSync(t, m, Reporting, SyncDone, SyncFailed)
	if p.State != SyncDone || p.Done != 5000 || p.Runs != 2 || p.Written != 5000 {
		t.Fatalf("after --continue: %+v", p)
	}
	if miss := rep.has(1, 5000); len(miss) > 0 {
		t.Fatalf("%d positions not stored exactly once, first %d", len(miss), miss[0])
	}
	if st := m.Status().Targets[Reporting]; st.NeedsSync {
		t.Fatalf("after a complete sync: %+v, want needs_sync cleared", st)
	}
	// Re-running writes nothing new; --continue of a finished sync refuses.
	if _, err := m.StartSync(ctx, SyncRequest{Target: Reporting, All: true, RunFor: 10 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	if p = waitSync(t, m, Reporting, SyncDone, SyncFailed); p.Written != 0 || p.Done != 5000 {
		t.Fatalf("re-run: %+v", p)
	}
	var ref *Refusal
	if _, err := m.StartSync(ctx, SyncRequest{Target: Reporting, Continue: true, RunFor: time.Hour}); !errors.As(err, &ref) {
		t.Fatalf("--continue after a finished sync: %v", err)
	}
}

// A sync interrupted by the node stopping continues after it restarts.
func TestSyncContinuesAfterRestart(t *testing.T) {
	clk := &syncClock{t: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)}
	dir := t.TempDir()
	rep := newHist()
	rep.block, rep.blockAt = make(chan struct{}), 2
	m, err := openLocal(Config{Dir: dir, BufferSize: 1 << 20, Targets: map[string]Target{Reporting: rep}, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	m.Start()
	m.Publish(datedEvents(1, 2500, clk.now()))
	if _, err := m.StartSync(context.Background(), SyncRequest{Target: Reporting, All: true, RunFor: time.Hour}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the first batch", func() bool { p := m.SyncStatus(Reporting); return p != nil && p.Done == 1000 })
	if err := m.Close(); err != nil { // cancels the blocked batch
		t.Fatal(err)
	}
	rep.block = nil
	m = openSyncManager(t, dir, clk, map[string]Target{Reporting: rep}, nil)
	m.Start()
	if p := m.SyncStatus(Reporting); p.State != SyncInterrupted || p.Done != 1000 {
		t.Fatalf("after restart: %+v", p)
	}
	if _, err := m.StartSync(context.Background(), SyncRequest{Target: Reporting, Continue: true, RunFor: time.Hour}); err != nil {
		t.Fatal(err)
	}
	if p := waitSync(t, m, Reporting, SyncDone, SyncFailed); p.State != SyncDone || p.Done != 2500 {
		t.Fatalf("continued: %+v", p)
	}
	if miss := rep.has(1, 2500); len(miss) > 0 {
		t.Fatalf("%d positions missing or doubled", len(miss))
	}
}

// --recent sends the current and the previous month only; a failure
// stops it with the error, and it can simply be run again.
func TestSyncRecent(t *testing.T) {
	clk := &syncClock{t: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)}
	rep := newHist()
	m := openSyncManager(t, t.TempDir(), clk, map[string]Target{Reporting: rep}, nil)
	m.Start()
	m.Publish(datedEvents(1, 100, time.Date(2026, 9, 30, 0, 0, 0, 0, time.UTC)))
	m.Publish(datedEvents(101, 100, time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)))
	m.Publish(datedEvents(201, 100, time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)))
	rep.failNext = 3
	if _, err := m.StartSync(context.Background(), SyncRequest{Target: Reporting, Recent: true}); err != nil {
		t.Fatal(err)
	}
	if p := waitSync(t, m, Reporting, SyncDone, SyncFailed); p.State != SyncFailed || !strings.Contains(p.Error, "unreachable") {
		t.Fatalf("failing sync: %+v", p)
	}
	res, err := m.StartSync(context.Background(), SyncRequest{Target: Reporting, Recent: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Sync.Total != 200 || res.Sync.From != (command.Position{Index: 100}) {
		t.Fatalf("recent range: %+v", res.Sync)
	}
	if p := waitSync(t, m, Reporting, SyncDone, SyncFailed); p.State != SyncDone || p.Done != 200 {
		t.Fatalf("recent: %+v", p)
	}
	if len(rep.has(101, 300)) != 0 || len(rep.has(1, 100)) != 100 {
		t.Fatal("recent sync sent the wrong months")
	}
}

func TestSyncAdmin(t *testing.T) {
	clk := &syncClock{t: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)}
	sb := &adminTarget{fakeTarget: newFake()}
	m := openSyncManager(t, t.TempDir(), clk, map[string]Target{Reporting: newHist(), Standby: sb}, nil)
	m.Start()
	if _, err := m.StartSync(context.Background(), SyncRequest{Target: Standby, Admin: true}); err != nil {
		t.Fatal(err)
	}
	p := waitSync(t, m, Standby, SyncDone, SyncFailed)
	if p.State != SyncDone || p.Done != 4 || p.Total != 4 || sb.calls != 1 {
		t.Fatalf("admin sync: %+v", p)
	}
}

// A snapshot restored before Start is the node's own: no gap. One
// installed from the leader afterwards leaves a gap in the buffer and a
// hole in the archive; the leader's delivery past it clears the gap, and a
// sync from this node names the hole.
func TestRestoredSnapshotRecordsAGap(t *testing.T) {
	clk := &syncClock{t: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)}
	rep := newHist()
	m := openSyncManager(t, t.TempDir(), clk, map[string]Target{Reporting: rep}, nil)
	m.Publish(datedEvents(1, 10, clk.now()))
	m.Restored(50) // at start: own snapshot
	if m.Status().Targets[Reporting].NeedsSync || m.arc.Months()[0].Holes != 0 {
		t.Fatal("restoring the node's own snapshot recorded a gap")
	}
	m.Start()     // follower
	m.Restored(5) // behind what it has: nothing
	m.Restored(80)
	if st := m.Status(); !st.Targets[Reporting].NeedsSync || st.Archive.Holes != 1 {
		t.Fatalf("after an installed snapshot: %+v", st)
	}
	m.Publish(datedEvents(70, 20, clk.now())) // 70..80 are covered by the snapshot
	// The leader delivered past the gap: the follower's tracking clears it.
	rep.Deliver(context.Background(), datedEvents(81, 9, clk.now()))
	waitFor(t, "the gap to clear", func() bool { return !m.Status().Targets[Reporting].NeedsSync })

	if _, err := m.StartSync(context.Background(), SyncRequest{Target: Reporting, All: true, RunFor: time.Hour}); err != nil {
		t.Fatal(err)
	}
	p := waitSync(t, m, Reporting, SyncDone, SyncFailed)
	if p.State != SyncDone || len(p.Holes) != 1 || p.Holes[0].First.Index != 11 || !strings.Contains(p.Message, "lacks 1 range") {
		t.Fatalf("sync over a hole: %+v", p)
	}
	if p.Done != 19 { // 1..10 and 81..89
		t.Fatalf("sync read %d events, want 19", p.Done)
	}
}
