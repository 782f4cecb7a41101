package replication

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tandemcc/tandem/command"
)

// fakeTarget stores what it is given, exactly once per position, and can be
// taken down.
type fakeTarget struct {
	mu     sync.Mutex
	down   bool
	got    []command.Event
	counts map[command.Position]int
	last   command.Position
}

func newFake() *fakeTarget { return &fakeTarget{counts: map[command.Position]int{}} }

func (f *fakeTarget) Deliver(ctx context.Context, evs []command.Event) (command.Position, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return command.Position{}, errors.New("target down")
	}
	for _, e := range evs {
		p := command.Position{Index: e.Index, Seq: e.Seq}
		if !p.After(f.last) {
			continue
		}
		f.counts[p]++
		f.got = append(f.got, e)
		f.last = p
	}
	return f.last, nil
}

func (f *fakeTarget) LastDelivered(ctx context.Context) (command.Position, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return command.Position{}, errors.New("target down")
	}
	return f.last, nil
}

func (f *fakeTarget) Diagnose(ctx context.Context) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return "connectivity: FAIL", errors.New("target down")
	}
	return "connectivity: ok", nil
}

func (f *fakeTarget) setDown(d bool) {
	f.mu.Lock()
	f.down = d
	f.mu.Unlock()
}

func (f *fakeTarget) delivered() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.got)
}

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func events(from uint64, n int, size int) []command.Event {
	out := make([]command.Event, n)
	pad := strings.Repeat("x", size)
	for i := range out {
		out[i] = command.Event{Index: from + uint64(i), Seq: 0, Type: "call.offered", Time: int64(from) + int64(i),
			CommandID: fmt.Sprintf("c%d", from+uint64(i)), Data: []byte(`{"pad":"` + pad + `"}`)}
	}
	return out
}

func openManager(t *testing.T, dir string, size int64, clk *clock, targets map[string]Target) *Manager {
	t.Helper()
	m, err := openLocal(Config{Dir: dir, BufferSize: size, Targets: targets, Now: clk.now, TrackEvery: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestLeaderDeliversEverythingOnce(t *testing.T) {
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	rep := newFake()
	m := openManager(t, t.TempDir(), 1<<20, clk, map[string]Target{Reporting: rep})
	m.SetLeader(true)
	m.Start()
	for i := 0; i < 10; i++ {
		m.Publish(events(uint64(1+i*50), 50, 20))
	}
	m.Publish(events(1, 100, 20)) // a replay after restart: skipped by the buffer
	waitFor(t, "500 events delivered", func() bool { return rep.delivered() == 500 })
	for p, n := range rep.counts {
		if n != 1 {
			t.Fatalf("position %v delivered %d times", p, n)
		}
	}
	// The target stored everything; the acknowledgement follows.
	waitFor(t, "cursor at 500", func() bool {
		st := m.Status().Targets[Reporting]
		return st.State == Active && st.Delivered.Index == 500 && st.Cursor.Index == 500 && st.BacklogEvents == 0
	})
}

func TestSuspendKeepsFillingResumeDeliversBacklog(t *testing.T) {
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	rep := newFake()
	m := openManager(t, t.TempDir(), 1<<20, clk, map[string]Target{Reporting: rep})
	m.SetLeader(true)
	m.Start()
	ctx := context.Background()
	if _, err := m.Suspend(ctx, Reporting); err != nil {
		t.Fatal(err)
	}
	m.Publish(events(1, 100, 100))
	time.Sleep(50 * time.Millisecond) // give a wrongly running loop the chance to deliver
	if n := rep.delivered(); n != 0 {
		t.Fatalf("suspended target got %d events", n)
	}
	if st := m.Status(); st.Targets[Reporting].BacklogEvents != 100 || st.BufferPercent <= 0 {
		t.Fatalf("buffer did not keep the data: %+v", st)
	}
	if _, err := m.Resume(ctx, Reporting, 0); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "backlog delivered", func() bool { return rep.delivered() == 100 })
}

func TestFillAlarmsAndAutoStop(t *testing.T) {
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	rep, stb := newFake(), newFake()
	var alarms []Alarm
	m, err := openLocal(Config{Dir: t.TempDir(), BufferSize: 256 << 10, Now: clk.now,
		Targets: map[string]Target{Reporting: rep, Standby: stb},
		OnAlarm: func(a Alarm) { alarms = append(alarms, a) }})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ctx := context.Background()
	m.SetLeader(true) // the delivering leader decides auto-stops
	// No delivery loops run: reporting's cursor stays put (target down);
	// standby keeps up by acknowledging as we go.
	idx := uint64(1)
	fillTo := func(pct float64) {
		t.Helper()
		for i := 0; m.Status().BufferPercent < pct; i++ {
			if i > 10000 {
				t.Fatalf("buffer never reached %.0f%%", pct)
			}
			evs := events(idx, 10, 200)
			idx += 10
			m.Publish(evs)
			last := evs[len(evs)-1]
			if err := m.cons[Standby].Ack(command.Position{Index: last.Index, Seq: last.Seq}); err != nil {
				t.Fatal(err)
			}
		}
	}
	fillTo(50)
	m.Tick(clk.t)
	if len(alarms) != 1 || alarms[0].Level != Level50 || alarms[0].Severity != "error" {
		t.Fatalf("at 50%%: %+v", alarms)
	}
	clk.t = clk.t.Add(30 * time.Minute)
	m.Tick(clk.t)
	if len(alarms) != 1 {
		t.Fatalf("50%% alarm repeated within the hour: %+v", alarms)
	}
	clk.t = clk.t.Add(30 * time.Minute)
	m.Tick(clk.t)
	if len(alarms) != 2 {
		t.Fatalf("50%% alarm not repeated after an hour: %+v", alarms)
	}
	fillTo(75)
	clk.t = clk.t.Add(time.Minute)
	m.Tick(clk.t)
	m.commitPending(ctx)
	a := alarms[len(alarms)-1]
	if a.Level != Level75 || len(a.Stop) != 1 || a.Stop[0] != Reporting {
		t.Fatalf("at 75%% with only reporting filling: %+v", a)
	}
	st := m.Status()
	if st.Targets[Reporting].State != AutoStopped || st.Targets[Standby].State != Active {
		t.Fatalf("after 75%%: %+v", st.Targets)
	}
	if !st.Targets[Reporting].NeedsSync {
		t.Fatalf("auto-stopped target should need a sync")
	}
	// Never restarts by itself, and resume refuses.
	if _, err := m.Resume(ctx, Reporting, 0); err == nil {
		t.Fatal("resume of an auto-stopped target accepted")
	}
	if _, err := m.Restart(ctx); err == nil || !strings.Contains(err.Error(), "shutdown") {
		t.Fatalf("restart while standby runs: %v", err)
	}
	if _, err := m.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	res, err := m.Restart(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.States[Reporting] != Active || res.States[Standby] != Active || !strings.Contains(res.Message, "sync") {
		t.Fatalf("restart: %+v", res)
	}
	if p := m.Status().BufferPercent; p != 0 {
		t.Fatalf("restart did not clear the buffer: %.1f%%", p)
	}
}

func TestNinetyFiveStopsAll(t *testing.T) {
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	m := openManager(t, t.TempDir(), 128<<10, clk, map[string]Target{Reporting: newFake(), Standby: newFake()})
	idx := uint64(1)
	for i := 0; m.Status().BufferPercent < 95; i++ {
		if i > 10000 {
			t.Fatal("never reached 95%")
		}
		m.Publish(events(idx, 10, 200))
		idx += 10
	}
	m.SetLeader(true)
	m.Tick(clk.t)
	m.commitPending(context.Background())
	st := m.Status()
	if st.LastAlarm == nil || st.LastAlarm.Severity != "warning" || st.LastAlarm.Level != Level95 {
		t.Fatalf("alarm %+v", st.LastAlarm)
	}
	for n, ts := range st.Targets {
		if ts.State != AutoStopped {
			t.Errorf("%s is %s after 95%%", n, ts.State)
		}
	}
}

// TestStatesAreClusterState: the states live in the cluster's Control
// machine, not in the node: a leader change keeps a suspended or stopped
// target as it is (replication/DESIGN.md, "States are cluster state"),
// and a manager opened again (a restarted node) finds them.
func TestStatesAreClusterState(t *testing.T) {
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	ctl := NewControl()
	dir := t.TempDir()
	m, err := openLocal(Config{Dir: dir, Now: clk.now, Control: ctl, Targets: map[string]Target{Reporting: newFake(), Standby: newFake()}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := m.Suspend(ctx, Reporting); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Stop(ctx, Standby); err != nil {
		t.Fatal(err)
	}
	m.SetLeader(true)
	m.SetLeader(false)
	m.SetLeader(true)
	st := m.Status()
	if st.Targets[Reporting].State != Suspended || st.Targets[Standby].State != Stopped {
		t.Fatalf("after a leader change: %+v", st.Targets)
	}
	if !st.Targets[Standby].Since.Equal(clk.t) || st.Targets[Standby].Reason != "stopped by administrator" {
		t.Fatalf("stop recorded as %+v", st.Targets[Standby])
	}
	if cs := m.cons[Standby].Stats(); cs.Attached {
		t.Fatal("a stopped target still holds buffer space")
	}
	m.Close()
	m2, err := openLocal(Config{Dir: dir, Now: clk.now, Control: ctl, Targets: map[string]Target{Reporting: newFake(), Standby: newFake()}})
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close()
	if s := m2.Status().Targets[Reporting].State; s != Suspended {
		t.Fatalf("state after reopen: %s", s)
	}
}

// TestLegacyStateFileIsAdopted: a node that kept its states in
// state.json (before they were cluster state) has its non-active states
// committed once it leads; a target the cluster already has a state for
// keeps it.
func TestLegacyStateFileIsAdopted(t *testing.T) {
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	dir := t.TempDir()
	legacy := `{"targets":{"reporting":{"state":"auto-stopped","reason":"buffer 96.0% full","since":"2026-01-02T03:04:05Z","needs_sync":true,"held_95":true},` +
		`"standby":{"state":"suspended","since":"2026-01-02T03:04:05Z"}}}`
	if err := os.WriteFile(filepath.Join(dir, "state.json"), []byte(legacy), 0o600); err != nil {
		t.Fatal(err)
	}
	ctl := NewControl()
	m, err := openLocal(Config{Dir: dir, Now: clk.now, Control: ctl, Targets: map[string]Target{Reporting: newFake(), Standby: newFake()}})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ctx := context.Background()
	if _, err := m.Resume(ctx, Standby, 0); err != nil { // the cluster's own decision, before adoption
		t.Fatal(err)
	}
	m.commitPending(ctx) // not leading: nothing adopted
	if ts, ok := ctl.State(Reporting); ok || ts.State != Active {
		t.Fatalf("adopted by a follower: %+v", ts)
	}
	m.SetLeader(true)
	m.commitPending(ctx)
	st := m.Status().Targets
	if st[Reporting].State != AutoStopped || !st[Reporting].NeedsSync || st[Standby].State != Active {
		t.Fatalf("after adoption: %+v", st)
	}
	if ts, _ := ctl.State(Reporting); !ts.Held95 {
		t.Fatalf("adopted without its 95%% hold: %+v", ts)
	}
}

func TestCommandRefusals(t *testing.T) {
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	ctx := context.Background()
	m := openManager(t, t.TempDir(), 0, clk, map[string]Target{Reporting: newFake()})
	if _, err := m.Suspend(ctx, "archive"); err == nil || !strings.Contains(err.Error(), "reporting") {
		t.Fatalf("unknown target: %v", err)
	}
	if _, err := m.Resume(ctx, Reporting, -1); err == nil {
		t.Fatal("negative rate accepted")
	}
	skewed, err := openLocal(Config{Dir: t.TempDir(), Now: clk.now, Targets: map[string]Target{Reporting: newFake()},
		ClockCheck: func() error { return errors.New("clock 5s off the leader") }})
	if err != nil {
		t.Fatal(err)
	}
	defer skewed.Close()
	res, err := skewed.Suspend(ctx, Reporting)
	var ref *Refusal
	if !errors.As(err, &ref) || !strings.Contains(err.Error(), "clock") {
		t.Fatalf("skewed clock: %v", err)
	}
	if s := skewed.Status().Targets[Reporting].State; s != Active {
		t.Fatalf("refused command changed state to %s", s)
	}
	b, _ := os.ReadFile(res.Diagnostic)
	if !strings.Contains(string(b), "clock skew: FAIL") {
		t.Fatalf("diagnostic file lacks the clock check:\n%s", b)
	}
}

func TestDiagnosticFilesRotate(t *testing.T) {
	dir := t.TempDir()
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	m := openManager(t, dir, 0, clk, map[string]Target{Reporting: newFake()})
	ctx := context.Background()
	var last string
	for i := 0; i < DiagFiles+2; i++ {
		res, err := m.Suspend(ctx, Reporting)
		if err != nil {
			t.Fatal(err)
		}
		last = res.Diagnostic
	}
	if filepath.Base(last) != "replication.001" {
		t.Fatalf("28th run wrote %s, want replication.001", last)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "replication.[0-9][0-9][0-9]"))
	if len(files) != DiagFiles {
		t.Fatalf("%d diagnostic files, want %d", len(files), DiagFiles)
	}
	b, _ := os.ReadFile(last)
	for _, want := range []string{"command: suspend", "clock skew: ok", "[reporting]", "connectivity: ok"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("diagnostic file lacks %q:\n%s", want, b)
		}
	}
}

func TestFollowerReleasesWhatLeaderDelivered(t *testing.T) {
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	rep := newFake()
	m := openManager(t, t.TempDir(), 1<<20, clk, map[string]Target{Reporting: rep})
	m.Start() // a follower
	m.Publish(events(1, 100, 100))
	if _, err := rep.Deliver(context.Background(), events(1, 60, 100)); err != nil { // the leader's work
		t.Fatal(err)
	}
	waitFor(t, "follower cursor at 60", func() bool { return m.Status().Targets[Reporting].Cursor.Index == 60 })
	if rep.delivered() != 60 {
		t.Fatal("a follower delivered")
	}
}
