package replication

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tandemcc/tandem/internal/syncbuf"
)

// adminHist is a reporting target that takes history and administration
// data, and records the order of what it was sent.
type adminHist struct {
	*histTarget
	amu   sync.Mutex
	calls int
	fail  int           // the next fail administration syncs fail
	block chan struct{} // when set, an administration sync waits for it
	ops   []string      // "admin" and "backfill", in order
}

func newAdminHist() *adminHist {
	a := &adminHist{histTarget: newHist()}
	a.onBatch = func(int) { a.op("backfill") }
	return a
}

func setOnBatch(a *adminHist, f func(int)) {
	a.histTarget.mu.Lock()
	a.onBatch = f
	a.histTarget.mu.Unlock()
}

func (a *adminHist) op(s string) {
	a.amu.Lock()
	a.ops = append(a.ops, s)
	a.amu.Unlock()
}

func (a *adminHist) ClusterName() string { return "site-x" }

func (a *adminHist) SyncAdmin(ctx context.Context, progress func(done, total int64)) error {
	_, err := a.SyncAdminSummary(ctx, progress)
	return err
}

func (a *adminHist) SyncAdminSummary(ctx context.Context, progress func(done, total int64)) (string, error) {
	a.amu.Lock()
	a.calls++
	a.ops = append(a.ops, "admin")
	fail, block := a.fail > 0, a.block
	if fail {
		a.fail--
	}
	a.amu.Unlock()
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
	if fail {
		return "", errors.New("reporting database unreachable")
	}
	if progress != nil {
		progress(0, 3)
		progress(3, 3)
	}
	return "administration data of cluster site-x synchronised to reporting: 3 agents", nil
}

func (a *adminHist) state() (calls int, ops []string) {
	a.amu.Lock()
	defer a.amu.Unlock()
	return a.calls, append([]string(nil), a.ops...)
}

func (a *adminHist) reset() {
	a.amu.Lock()
	a.ops = nil
	a.amu.Unlock()
}

// openAdminManager opens a manager whose reporting target is a, with
// administration-sync retries of a millisecond.
func openAdminManager(t *testing.T, clk *syncClock, a *adminHist, log *syncbuf.Buffer) *Manager {
	t.Helper()
	m := openSyncManager(t, t.TempDir(), clk, map[string]Target{Reporting: a}, func(c *Config) {
		if log != nil {
			c.Logger = slog.New(slog.NewJSONHandler(log, nil))
		}
	})
	m.adminBackoff = func(int) time.Duration { return time.Millisecond }
	return m
}

// `sync --target reporting --admin`: one job that names the cluster and
// reports the target's summary; it does not clear needs_sync, which is
// about the history.
func TestSyncReportingAdmin(t *testing.T) {
	clk := &syncClock{t: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)}
	a := newAdminHist()
	m := openAdminManager(t, clk, a, nil)
	m.Start() // a follower: no automatic sync
	m.Publish(datedEvents(1, 10, clk.now()))
	ctx := context.Background()
	if _, err := m.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		fail      int
		wantState string
		wantMsg   string
	}{
		{"succeeds", 0, SyncDone, "administration data of cluster site-x synchronised to reporting: 3 agents"},
		{"fails", 1, SyncFailed, "admin sync of reporting for cluster site-x failed: reporting database unreachable"},
		{"runs again", 0, SyncDone, "administration data of cluster site-x synchronised to reporting: 3 agents"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a.amu.Lock()
			a.fail = tc.fail
			a.amu.Unlock()
			res, err := m.StartSync(ctx, SyncRequest{Target: Reporting, Admin: true})
			if err != nil {
				t.Fatal(err)
			}
			if res.Message != "admin sync of reporting for cluster site-x started" || res.Sync.Cluster != "site-x" || len(res.Warnings) != 0 {
				t.Errorf("start: %q %+v", res.Message, res.Sync)
			}
			p := waitSync(t, m, Reporting, SyncDone, SyncFailed)
			if p.State != tc.wantState || p.Message != tc.wantMsg || p.Mode != SyncAdmin || p.Cluster != "site-x" {
				t.Errorf("job %+v", p)
			}
			if tc.wantState == SyncDone && (p.Done != 3 || p.Total != 3 || p.Percent != 100) {
				t.Errorf("progress %d of %d (%.1f%%)", p.Done, p.Total, p.Percent)
			}
			if st := m.Status(); !st.Targets[Reporting].NeedsSync || st.Sync[Reporting].Cluster != "site-x" {
				t.Errorf("status after an admin sync: %+v", st.Targets[Reporting])
			}
		})
	}
	if calls, ops := a.state(); calls != 3 || strings.Contains(strings.Join(ops, " "), "backfill") {
		t.Errorf("admin syncs sent %v", ops)
	}
}

// Every full reporting sync (--recent, --all, --continue) sends the
// administration data first, then the history; if that fails the job
// fails before any history is sent.
func TestFullSyncSendsAdminFirst(t *testing.T) {
	clk := &syncClock{t: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)}
	a := newAdminHist()
	m := openAdminManager(t, clk, a, nil)
	m.Start()
	m.Publish(datedEvents(1, 2500, time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)))
	ctx := context.Background()
	tests := []struct {
		name      string
		prep      func(t *testing.T)
		q         SyncRequest
		fail      int
		wantState string
		wantOps   string
		wantMsg   string
	}{
		{name: "recent", q: SyncRequest{Target: Reporting, Recent: true}, wantState: SyncDone,
			wantOps: "admin backfill backfill backfill",
			wantMsg: "recent sync of reporting for cluster site-x done: 2500 events read, 2500 were missing in the target; first administration data of cluster site-x synchronised to reporting: 3 agents"},
		{name: "all", q: SyncRequest{Target: Reporting, All: true, RunFor: time.Hour}, wantState: SyncDone,
			wantOps: "admin backfill backfill backfill",
			wantMsg: "all sync of reporting for cluster site-x done: 2500 events read, 0 were missing"},
		{name: "continue", prep: func(t *testing.T) {
			// An --all interrupted after its first batch.
			setOnBatch(a, func(int) { a.op("backfill"); clk.advance(10 * time.Minute) })
			defer setOnBatch(a, func(int) { a.op("backfill") })
			if _, err := m.StartSync(ctx, SyncRequest{Target: Reporting, All: true, RunFor: 5 * time.Minute}); err != nil {
				t.Fatal(err)
			}
			if p := waitSync(t, m, Reporting, SyncInterrupted, SyncDone, SyncFailed); p.State != SyncInterrupted || p.Done != 1000 {
				t.Fatalf("interrupted --all: %+v", p)
			}
		}, q: SyncRequest{Target: Reporting, Continue: true, RunFor: time.Hour}, wantState: SyncDone,
			wantOps: "admin backfill backfill",
			wantMsg: "all sync of reporting for cluster site-x done: 2500 events read"},
		{name: "administration data refused", q: SyncRequest{Target: Reporting, All: true, RunFor: time.Hour}, fail: 3,
			wantState: SyncFailed, wantOps: "admin admin admin",
			wantMsg: "sync failed at 0.0%: sending the administration data first: reporting database unreachable"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.prep != nil {
				tc.prep(t)
			}
			a.reset()
			a.amu.Lock()
			a.fail = tc.fail
			a.amu.Unlock()
			res, err := m.StartSync(ctx, tc.q)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(res.Message, "for cluster site-x") {
				t.Errorf("start message %q names no cluster", res.Message)
			}
			p := waitSync(t, m, Reporting, SyncDone, SyncFailed, SyncInterrupted)
			if _, ops := a.state(); strings.Join(ops, " ") != tc.wantOps {
				t.Errorf("the target was sent %v, want %s", ops, tc.wantOps)
			}
			if p.State != tc.wantState || !strings.HasPrefix(p.Message, tc.wantMsg) || p.Cluster != "site-x" {
				t.Errorf("job %s %q (cluster %q), want %s %q…", p.State, p.Message, p.Cluster, tc.wantState, tc.wantMsg)
			}
		})
	}
}

// The administration data follows each activation of reporting delivery
// on the leader: start, failover, resume, restart; never on a follower,
// and not again while delivery simply goes on.
func TestAdminSyncOnActivation(t *testing.T) {
	clk := &syncClock{t: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)}
	ctx := context.Background()

	follower := newAdminHist()
	fm := openAdminManager(t, clk, follower, nil)
	fm.Start()

	a := newAdminHist()
	m := openAdminManager(t, clk, a, nil)
	m.SetLeader(true)
	m.Start()
	steps := []struct {
		name string
		act  func(t *testing.T)
		want int // administration syncs so far
	}{
		{"start as leader", func(*testing.T) {}, 1},
		{"delivery goes on", func(t *testing.T) {
			m.Publish(events(1, 50, 10))
			waitFor(t, "delivery", func() bool { return a.delivered() == 50 })
		}, 1},
		{"failover: leadership lost and won back", func(*testing.T) {
			m.SetLeader(false)
			time.Sleep(50 * time.Millisecond)
			m.SetLeader(true)
		}, 2},
		{"suspend", func(t *testing.T) { must(t)(m.Suspend(ctx, Reporting)) }, 2},
		{"resume", func(t *testing.T) { must(t)(m.Resume(ctx, Reporting, 0)) }, 3},
		{"stop", func(t *testing.T) { must(t)(m.Stop(ctx, Reporting)) }, 3},
		{"shutdown and restart", func(t *testing.T) {
			must(t)(m.Shutdown(ctx))
			must(t)(m.Restart(ctx))
		}, 4},
	}
	for _, s := range steps {
		s.act(t)
		waitFor(t, fmt.Sprintf("%s: %d administration syncs", s.name, s.want), func() bool {
			calls, _ := a.state()
			as := m.Status().Targets[Reporting].AdminSync
			return calls == s.want && as != nil && as.State == AdminSyncDone
		})
		time.Sleep(50 * time.Millisecond) // and no more
		if calls, _ := a.state(); calls != s.want {
			t.Fatalf("%s: %d administration syncs, want %d", s.name, calls, s.want)
		}
	}
	as := m.Status().Targets[Reporting].AdminSync
	if as.Cluster != "site-x" || as.Attempts != 1 || !strings.Contains(as.Message, "3 agents") {
		t.Errorf("status: %+v", as)
	}
	if calls, _ := follower.state(); calls != 0 || fm.Status().Targets[Reporting].AdminSync != nil {
		t.Errorf("a follower synchronised administration data %d times", calls)
	}
}

func must(t *testing.T) func(Result, error) {
	return func(_ Result, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
}

// A failing automatic sync is retried with backoff until it succeeds,
// logged once when it first fails and once when it succeeds; delivery
// never waits for it; a node that stops leading abandons it.
func TestAdminSyncOnActivationRetries(t *testing.T) {
	clk := &syncClock{t: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)}
	tests := []struct {
		name      string
		fail      int
		lose      bool // leadership is lost while it fails
		wantState string
		wantLogs  map[string]int
	}{
		{"fails twice, then succeeds", 2, false, AdminSyncDone, map[string]int{
			"could not be synchronised": 1, "synchronised to reporting: 3 agents": 1, "abandoned": 0}},
		{"keeps failing until leadership moves", 1 << 30, true, AdminSyncAbandoned, map[string]int{
			"could not be synchronised": 1, "synchronised to reporting: 3 agents": 0, "abandoned": 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := newAdminHist()
			a.fail = tc.fail
			log := &syncbuf.Buffer{}
			m := openAdminManager(t, clk, a, log)
			m.SetLeader(true)
			m.Start()
			if tc.lose {
				waitFor(t, "a few attempts", func() bool { c, _ := a.state(); return c >= 5 })
				m.SetLeader(false)
			}
			waitFor(t, "the automatic sync to end "+tc.wantState, func() bool {
				as := m.Status().Targets[Reporting].AdminSync
				return as != nil && as.State == tc.wantState
			})
			as := m.Status().Targets[Reporting].AdminSync
			if !tc.lose && (as.Attempts != tc.fail+1 || as.Error != "") {
				t.Errorf("status %+v, want done at attempt %d", as, tc.fail+1)
			}
			for sub, n := range tc.wantLogs {
				// The state is published before its log line is written.
				waitFor(t, fmt.Sprintf("%d log lines with %q", n, sub), func() bool { return count(log, sub) >= n })
				if got := count(log, sub); got != n {
					t.Errorf("%d log lines with %q, want %d\n%s", got, sub, n, log)
				}
			}
		})
	}

	// Blocked administration data does not hold delivery back.
	a := newAdminHist()
	a.block = make(chan struct{})
	m := openAdminManager(t, clk, a, nil)
	m.SetLeader(true)
	m.Start()
	waitFor(t, "the automatic sync to start", func() bool { c, _ := a.state(); return c == 1 })
	m.Publish(events(1, 100, 10))
	waitFor(t, "delivery while the administration sync waits", func() bool { return a.delivered() == 100 })
	close(a.block)
	waitFor(t, "the automatic sync to finish", func() bool {
		as := m.Status().Targets[Reporting].AdminSync
		return as != nil && as.State == AdminSyncDone
	})
}
