package backup

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tandemcc/tandem/cluster"
)

func mustLoc(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// Every wall-clock time an expression names is due once, DST changes
// included: a time in a spring-forward gap runs after it (robfig/cron's
// own runner would skip it), a repeated time runs once.
func TestScheduleNextAcrossDST(t *testing.T) {
	paris := mustLoc(t, "Europe/Paris")
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	tests := []struct {
		name string
		spec string
		loc  *time.Location
		from string
		want []string // the next due times, in order
	}{
		{"daily, spring-forward gap", "30 2 * * *", paris, "2026-03-28T12:00:00+01:00",
			[]string{"2026-03-29T03:30:00+02:00", "2026-03-30T02:30:00+02:00"}},
		{"daily, fall-back repeat", "30 2 * * *", paris, "2026-10-24T12:00:00+02:00",
			[]string{"2026-10-25T02:30:00+01:00", "2026-10-26T02:30:00+01:00"}},
		{"daily, from inside the first occurrence", "30 2 * * *", paris, "2026-10-25T02:10:00+02:00",
			[]string{"2026-10-25T02:30:00+01:00", "2026-10-26T02:30:00+01:00"}},
		{"hourly, spring forward", "0 * * * *", paris, "2026-03-29T01:30:00+01:00",
			[]string{"2026-03-29T03:00:00+02:00", "2026-03-29T04:00:00+02:00"}},
		{"hourly, fall back", "0 * * * *", paris, "2026-10-25T00:30:00+02:00",
			[]string{"2026-10-25T01:00:00+02:00", "2026-10-25T02:00:00+01:00", "2026-10-25T03:00:00+01:00"}},
		{"UTC has no DST", "30 2 * * *", time.UTC, "2026-03-28T12:00:00Z",
			[]string{"2026-03-29T02:30:00Z", "2026-03-30T02:30:00Z"}},
		{"descriptor", "@daily", paris, "2026-01-01T10:00:00+01:00",
			[]string{"2026-01-02T00:00:00+01:00"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := ParseSchedule(tt.spec, tt.loc)
			if err != nil {
				t.Fatal(err)
			}
			cur := at(tt.from)
			for _, w := range tt.want {
				cur = s.Next(cur)
				if !cur.Equal(at(w)) {
					t.Fatalf("next %s, want %s", cur.In(tt.loc).Format(time.RFC3339), w)
				}
			}
		})
	}
}

func TestParseScheduleRefusals(t *testing.T) {
	for _, spec := range []string{"", "61 * * * *", "* * *", "TZ=Europe/Paris 0 2 * * *", "CRON_TZ=UTC 0 2 * * *", "0 0 30 2 *"} {
		if _, err := ParseSchedule(spec, time.UTC); err == nil {
			t.Errorf("%q accepted", spec)
		}
	}
}

// ------------------------------------------------------------ fake clock

type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []fakeWaiter
	added   chan struct{}
}

type fakeWaiter struct {
	at time.Time
	ch chan time.Time
}

func newFakeClock(now time.Time) *fakeClock {
	return &fakeClock{now: now, added: make(chan struct{}, 100)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- c.now
		return ch
	}
	c.waiters = append(c.waiters, fakeWaiter{at: c.now.Add(d), ch: ch})
	c.added <- struct{}{}
	return ch
}

// nextWaiter waits until someone waits on the clock and returns when
// that waiter is due.
func (c *fakeClock) nextWaiter(t *testing.T) time.Time {
	t.Helper()
	select {
	case <-c.added:
	case <-time.After(10 * time.Second):
		t.Fatal("nobody waits on the clock")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.waiters[len(c.waiters)-1].at
}

// set moves the clock to now and wakes every waiter due.
func (c *fakeClock) set(now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = now
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if !w.at.After(now) {
			w.ch <- now
		} else {
			kept = append(kept, w)
		}
	}
	c.waiters = kept
}

// ------------------------------------------------------------ fake source

// fakeSource stands for a node in the scheduling tests: its cut can
// block until released, or panic.
type fakeSource struct {
	mu      sync.Mutex
	mode    string // "", "block", "panic", "fail"
	started chan struct{}
	release chan struct{}
	index   uint64
}

func (s *fakeSource) setMode(m string) {
	s.mu.Lock()
	s.mode = m
	s.mu.Unlock()
}

func (s *fakeSource) LatestSnapshot(ctx context.Context) (cluster.SnapshotFile, io.ReadCloser, error) {
	s.mu.Lock()
	idx := s.index + 1
	s.mu.Unlock()
	doc := fmt.Sprintf(`{"format":2,"index":%d}`, idx)
	return cluster.SnapshotFile{ID: "snap", Index: idx, Term: 1, Size: int64(len(doc))}, io.NopCloser(strings.NewReader(doc)), nil
}

func (s *fakeSource) BackupCut(ctx context.Context, hashes bool) (cluster.BackupCut, error) {
	s.mu.Lock()
	mode := s.mode
	s.index += 10
	idx := s.index
	s.mu.Unlock()
	switch mode {
	case "block":
		s.started <- struct{}{}
		<-s.release
	case "panic":
		panic("boom in the cut")
	case "fail":
		return cluster.BackupCut{}, fmt.Errorf("disk on fire")
	}
	cut := cluster.BackupCut{Index: idx, Term: 1, Hashes: map[string]string{},
		Members: []cluster.Member{{ID: "n1", Address: "127.0.0.1:7000", Suffrage: "voter"}}}
	return cut, nil
}

func (s *fakeSource) LogTerm(uint64) (uint64, error) { return 1, nil }

func (s *fakeSource) ReadLog(ctx context.Context, from, to uint64, fn func(cluster.LogEntry) error) error {
	for i := from; i <= to; i++ {
		if err := fn(cluster.LogEntry{Index: i, Term: 1, Type: 0, Data: []byte("x")}); err != nil {
			return err
		}
	}
	return nil
}

// A scheduled run that finds the previous one still running is skipped
// and reported; a panicking run fails and the next one runs; the days
// around a DST change run at the expected instants.
func TestScheduledRuns(t *testing.T) {
	paris := mustLoc(t, "Europe/Paris")
	clock := newFakeClock(time.Date(2026, 3, 28, 23, 55, 0, 0, paris))
	src := &fakeSource{started: make(chan struct{}), release: make(chan struct{})}
	full, err := ParseSchedule("30 2 * * *", paris)
	if err != nil {
		t.Fatal(err)
	}
	results := make(chan Result, 10)
	m, err := New(Config{Settings: Settings{Dir: t.TempDir(), Full: full, Location: paris},
		NodeID: "n1", DataDir: t.TempDir(), Source: src, Logger: slog.New(slog.DiscardHandler), Clock: clock,
		OnResult: func(r Result) { results <- r }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	result := func() Result {
		t.Helper()
		select {
		case r := <-results:
			return r
		case <-time.After(20 * time.Second):
			t.Fatal("no result")
		}
		return Result{}
	}
	expect := func(want string) time.Time {
		t.Helper()
		at := clock.nextWaiter(t)
		if w, _ := time.Parse(time.RFC3339, want); !at.Equal(w) {
			t.Fatalf("next run at %s, want %s", at.In(paris).Format(time.RFC3339), want)
		}
		return at
	}

	// 1: the spring-forward night: 02:30 does not exist, it runs at 03:30.
	src.setMode("block")
	clock.set(expect("2026-03-29T03:30:00+02:00"))
	<-src.started
	// 2: the next night's run finds it still running: skipped.
	clock.set(expect("2026-03-30T02:30:00+02:00"))
	if r := result(); r.Result != ResultSkipped || !strings.Contains(r.Error, "had not finished") {
		t.Fatalf("overlapping run: %+v", r)
	}
	src.setMode("")
	src.release <- struct{}{}
	if r := result(); r.Result != ResultOK || r.Trigger != TriggerSchedule {
		t.Fatalf("first run: %+v", r)
	}
	// 3: a panicking run fails ...
	src.setMode("panic")
	clock.set(expect("2026-03-31T02:30:00+02:00"))
	if r := result(); r.Result != ResultFailed || !strings.Contains(r.Error, "panic: boom") {
		t.Fatalf("panicking run: %+v", r)
	}
	// 4: ... and the next runs.
	src.setMode("")
	clock.set(expect("2026-04-01T02:30:00+02:00"))
	if r := result(); r.Result != ResultOK {
		t.Fatalf("run after the panic: %+v", r)
	}
	// 5: a clock that jumps three days ahead: one run, two missed.
	at := clock.nextWaiter(t)
	clock.set(at.Add(48*time.Hour + time.Minute))
	if r := result(); r.Result != ResultOK {
		t.Fatalf("run after the jump: %+v", r)
	}
	st := m.Status()
	if st.LastFull == nil || st.LastFull.Result != ResultOK || st.LastSkipped == nil || m.MissedCount(Full) != 2 {
		t.Fatalf("status %+v, missed %d", st, m.MissedCount(Full))
	}
	c := m.Counts()[Full]
	if c[ResultOK] != 3 || c[ResultFailed] != 1 || c[ResultSkipped] != 1 {
		t.Fatalf("counts %v", c)
	}
}

// Runs due while the node was down are reported at start (from the
// schedule state in the data directory), and results survive a restart.
func TestMissedRunsReportedAtStart(t *testing.T) {
	paris := mustLoc(t, "Europe/Paris")
	dataDir, bdir := t.TempDir(), t.TempDir()
	full, _ := ParseSchedule("30 2 * * *", paris)
	incr, _ := ParseSchedule("0 12 * * *", paris)
	last := time.Date(2026, 5, 1, 12, 0, 0, 0, paris)
	st := persisted{LastDue: map[string]time.Time{"full": last.Add(-(9*time.Hour + 30*time.Minute)), "incremental": last},
		LastFull: &Result{ID: "20260501T003000Z-n1-full", Level: Full, Result: ResultOK, Index: 42}}
	b, _ := json.Marshal(st)
	os.MkdirAll(filepath.Join(dataDir, "backup"), 0o700)
	os.WriteFile(filepath.Join(dataDir, "backup", "state.json"), b, 0o600)

	clock := newFakeClock(time.Date(2026, 5, 4, 9, 0, 0, 0, paris)) // down for 2 days 21 hours
	m, err := New(Config{Settings: Settings{Dir: bdir, Full: full, Incremental: incr, Location: paris},
		NodeID: "n1", DataDir: dataDir, Source: &fakeSource{}, Logger: slog.New(slog.DiscardHandler), Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.Run(ctx); close(done) }()
	clock.nextWaiter(t)
	s := m.Status()
	cancel()
	<-done
	if m.MissedCount(Full) != 3 || m.MissedCount(Incremental) != 2 {
		t.Fatalf("missed full %d incremental %d, want 3 and 2 (%+v)", m.MissedCount(Full), m.MissedCount(Incremental), s.Missed)
	}
	if s.LastFull == nil || s.LastFull.Index != 42 || s.Schedule == nil || s.Schedule.NextFull == nil ||
		!s.Schedule.NextFull.Equal(time.Date(2026, 5, 5, 2, 30, 0, 0, paris)) {
		t.Fatalf("status %+v", s)
	}
}
