package cluster

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tandemcc/tandem/command"
)

// timeMachine answers each command with the time it was applied at.
type timeMachine struct{}

func (timeMachine) Families() []string          { return []string{"tm"} }
func (timeMachine) Section() (string, int, int) { return "tm", 1, 1 }
func (timeMachine) Apply(env command.Envelope, _ *command.Emitter) (any, error) {
	return env.Time, nil
}
func (timeMachine) Snapshot() ([]byte, error) { return []byte("{}"), nil }
func (timeMachine) Restore([]byte) error      { return nil }

// Propose stamps a command with the leader's clock, never earlier than the
// last command applied, and a key makes a retry apply once.
func TestProposeTimeAndKey(t *testing.T) {
	base := time.Unix(1_800_000_000, 0)
	var offset atomic.Int64
	now := func() time.Time { return base.Add(time.Duration(offset.Load())) }
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := Open(ctx, Config{
		NodeID: "n1", RaftAddr: freeRaftAddr(t), AdminURL: "http://127.0.0.1:1", DataDir: t.TempDir(), Token: "t",
		Machines: []Machine{timeMachine{}}, Logger: slog.New(slog.DiscardHandler), Now: now,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close(context.Background())
	waitLeading(t, st, 20*time.Second)
	at := func(opts ...ProposeOption) (int64, Result) {
		t.Helper()
		r, err := st.Propose(ctx, "tm.now", nil, opts...)
		if err != nil {
			t.Fatal(err)
		}
		v, err := strconv.ParseInt(string(r.Result), 10, 64)
		if err != nil {
			t.Fatalf("result %s: %v", r.Result, err)
		}
		return v, r
	}

	if got, _ := at(); got != base.UnixNano() {
		t.Errorf("command time %d, want the leader's clock %d", got, base.UnixNano())
	}
	offset.Store(int64(-10 * time.Second)) // the clock steps back (a new leader's, say)
	if got, _ := at(); got != base.UnixNano() {
		t.Errorf("after the clock stepped back: command time %d, want the last applied %d", got, base.UnixNano())
	}
	offset.Store(int64(5 * time.Second))
	first, r1 := at(WithKey("retry-me"))
	if first != base.Add(5*time.Second).UnixNano() {
		t.Errorf("command time %d, want %d", first, base.Add(5*time.Second).UnixNano())
	}
	offset.Store(int64(6 * time.Second))
	again, r2 := at(WithKey("retry-me"))
	if !r2.Duplicate || r2.Index != r1.Index || again != first {
		t.Errorf("retry with the same key: %+v (time %d), want the first answer %+v (time %d) flagged duplicate", r2, again, r1, first)
	}
}

// stuckMachine blocks every apply until release is closed.
type stuckMachine struct{ release chan struct{} }

func (stuckMachine) Families() []string          { return []string{"stuck"} }
func (stuckMachine) Section() (string, int, int) { return "stuck", 1, 1 }
func (m stuckMachine) Apply(command.Envelope, *command.Emitter) (any, error) {
	<-m.release
	return nil, nil
}
func (stuckMachine) Snapshot() ([]byte, error) { return []byte("{}"), nil }
func (stuckMachine) Restore([]byte) error      { return nil }

// openStuck opens a one-node store whose only machine is a stuckMachine.
func openStuck(ctx context.Context, t *testing.T) (*Store, stuckMachine) {
	t.Helper()
	m := stuckMachine{release: make(chan struct{})}
	st, err := Open(ctx, Config{
		NodeID: "n1", RaftAddr: freeRaftAddr(t), AdminURL: "http://127.0.0.1:1", DataDir: t.TempDir(), Token: "t",
		Machines: []Machine{m}, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	return st, m
}

// TestCloseBounded: Close returns, with an error, when Raft does not stop
// (here its FSM goroutine never returns from an apply), instead of
// waiting forever; a node stopped so exits as after a crash.
func TestCloseBounded(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, m := openStuck(ctx, t)
	waitLeading(t, st, 20*time.Second)
	pctx, pcancel := context.WithTimeout(ctx, 500*time.Millisecond)
	if _, err := st.Propose(pctx, "stuck.now", nil); err == nil {
		t.Fatal("a command the machine never finishes applying was answered")
	}
	pcancel()
	st.shutdownWait = 300 * time.Millisecond
	done := make(chan error, 1)
	go func() { done <- st.Close(context.Background()) }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "not stopped within") {
			t.Fatalf("Close: %v, want the bound's error", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return")
	}
	close(m.release) // what a crash would have ended
	st.raft.Shutdown().Error()
	st.closeStorage()
}

// TestProposeEnqueued: WithEnqueued calls back once the command holds its
// place in the log, before it commits (here its apply waits), so a
// command proposed after the callback is appended after it; a command
// that fails before Raft takes it still calls back, when Propose returns.
func TestProposeEnqueued(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, m := openStuck(ctx, t)
	defer st.Close(context.Background())
	waitLeading(t, st, 20*time.Second)
	type outcome struct {
		res Result
		err error
	}
	propose := func() (enqueued chan struct{}, done chan outcome) {
		enqueued, done = make(chan struct{}), make(chan outcome, 1)
		calls := 0
		go func() {
			r, err := st.Propose(ctx, "stuck.now", nil, WithEnqueued(func() { calls++; close(enqueued) }))
			if calls != 1 {
				err = fmt.Errorf("called back %d times", calls)
			}
			done <- outcome{r, err}
		}()
		return enqueued, done
	}
	enqA, doneA := propose()
	<-enqA
	enqB, doneB := propose()
	<-enqB
	select {
	case o := <-doneA:
		t.Fatalf("the first command answered (%+v) before its apply could end", o)
	default:
	}
	close(m.release)
	a, b := <-doneA, <-doneB
	if a.err != nil || b.err != nil {
		t.Fatalf("answers: %v, %v", a.err, b.err)
	}
	if a.res.Index >= b.res.Index {
		t.Errorf("indexes %d and %d: the command proposed after the first's callback was not appended after it", a.res.Index, b.res.Index)
	}
	// A payload that cannot be encoded fails before Raft: the callback
	// still comes, once.
	called := 0
	if _, err := st.Propose(ctx, "stuck.now", func() {}, WithEnqueued(func() { called++ })); err == nil || called != 1 {
		t.Errorf("an unencodable payload: %v, called back %d times; want a refusal and one call", err, called)
	}
}
