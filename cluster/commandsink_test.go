package cluster

import (
	"reflect"
	"sync"
	"testing"

	"github.com/tandemcc/tandem/command"
)

// cmdSink is a CommandSink recording what it was given.
type cmdSink struct {
	mu     sync.Mutex
	events []command.Event
	cmds   []Committed
	plain  int // Publish calls (must stay 0: PublishCommitted replaces it)
}

func (s *cmdSink) Publish([]command.Event) { s.mu.Lock(); s.plain++; s.mu.Unlock() }
func (s *cmdSink) Sync() error             { return nil }
func (s *cmdSink) PublishCommitted(events []command.Event, cmds []Committed) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, events...)
	s.cmds = append(s.cmds, cmds...)
}

// primaryRun applies a mixed sequence on a primary FSM and returns the
// machine and what its command sink saw.
func primaryRun(t *testing.T) (*fakeMachine, *cmdSink) {
	t.Helper()
	m := newFake("kv")
	sink := &cmdSink{}
	f := mustFSM(t, []Machine{m}, sink)
	mustApply(t, f, 1, encode(t, TypeNoop, "p-noop", nil))
	mustApply(t, f, 2, encode(t, "kv.set", "p1", kv{"a", "1"}))
	if r := applyOne(t, f, 3, encode(t, "kv.refuse", "p2", nil)); r.err == nil {
		t.Fatal("kv.refuse applied")
	}
	mustApply(t, f, 4, encode(t, "kv.set", "p1", kv{"a", "dup"})) // duplicate ID: not re-applied
	mustApply(t, f, 5, encode(t, "kv.set", "p3", kv{"b", "2"}))
	mustApply(t, f, 6, encode(t, TypeNodeUpsert, "p-node", NodeMeta{ID: "n1", RaftAddr: "r", AdminAddr: "a"}))
	mustApply(t, f, 7, encode(t, "kv.set", "p4", kv{"a", "3"}))
	return m, sink
}

func TestCommandSinkGetsEngineCommandsOnly(t *testing.T) {
	m, sink := primaryRun(t)
	if sink.plain != 0 {
		t.Fatalf("Publish called %d times on a CommandSink", sink.plain)
	}
	var got []string
	for _, c := range sink.cmds {
		got = append(got, c.Env.ID)
		if c.Events != 2 {
			t.Errorf("command %s: Events = %d, want 2", c.Env.ID, c.Events)
		}
	}
	if want := []string{"p1", "p3", "p4"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("committed commands %v, want %v (no cluster command, refusal or duplicate)", got, want)
	}
	for i, c := range sink.cmds {
		if c.N != uint64(i+1) {
			t.Errorf("command %s: N = %d, want %d", c.Env.ID, c.N, i+1)
		}
	}
	if m.state["a"] != "3" || m.state["b"] != "2" {
		t.Fatalf("primary state %v", m.state)
	}
}
