package cluster

import (
	"bytes"
	"encoding/json"
	"io"
	"reflect"
	"strings"
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

// shipped turns what a primary's sink saw into a shipment, as the
// standby target builds it.
func shipped(t *testing.T, cmds []Committed) []ShippedCommand {
	t.Helper()
	var out []ShippedCommand
	for _, c := range cmds {
		b, err := command.Encode(c.Env)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, ShippedCommand{Pos: command.Position{Index: c.Index, Seq: c.Events}, N: c.N, Env: b})
	}
	return out
}

func standbyResult(t *testing.T, r *applyResponse) StandbyResult {
	t.Helper()
	if r.err != nil {
		t.Fatalf("refused: %v", r.err)
	}
	var res StandbyResult
	if err := json.Unmarshal(r.res.Result, &res); err != nil {
		t.Fatalf("decoding result %s: %v", r.res.Result, err)
	}
	return res
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

func newStandbyFSM(t *testing.T) (*fsm, *fakeMachine) {
	t.Helper()
	m := newFake("kv")
	f := mustFSM(t, []Machine{m})
	mustApply(t, f, 1, encode(t, TypeStandbySet, "s-set", StandbySet{Of: "http://primary:7070"}))
	return f, m
}

func TestStandbyRefusalRules(t *testing.T) {
	_, sink := primaryRun(t)
	ship := shipped(t, sink.cmds)
	tests := []struct {
		name   string
		setup  func(t *testing.T, f *fsm)
		typ    string
		pay    any
		refuse string // "" = applies
	}{
		{"standby refuses an engine command", nil, "kv.set", kv{"x", "1"}, "is a standby of http://primary:7070; promote it first"},
		{"standby applies cluster commands", nil, TypeNoop, nil, ""},
		{"standby applies a shipment", nil, TypeStandbyApply, StandbyBatch{Commands: ship, Through: ship[len(ship)-1].Pos}, ""},
		{"shipment out of order", nil, TypeStandbyApply, StandbyBatch{Commands: []ShippedCommand{ship[1], ship[0]}, Through: ship[1].Pos}, "out of order"},
		{"through before the last command", nil, TypeStandbyApply, StandbyBatch{Commands: ship[:2], Through: ship[0].Pos}, "before the last command"},
		{"promoted accepts engine commands", promote, "kv.set", kv{"x", "1"}, ""},
		{"promoted refuses shipments", promote, TypeStandbyApply, StandbyBatch{Commands: ship, Through: ship[2].Pos}, "promoted"},
		{"promoted refuses syncs", promote, TypeStandbySync, StandbySyncPart{ID: "s", Parts: 1, Data: []byte("{}")}, "promoted"},
		{"promoted cannot become a standby again", promote, TypeStandbySet, StandbySet{Of: "http://other:7070"}, "was promoted"},
		{"promote twice", promote, TypeStandbyPromote, nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, m := newStandbyFSM(t)
			if tc.setup != nil {
				tc.setup(t, f)
			}
			before := stateOf(t, f)
			calls := m.calls
			r := applyOne(t, f, 10, encode(t, tc.typ, "cmd-under-test", tc.pay))
			if tc.refuse == "" {
				if r.err != nil {
					t.Fatalf("refused: %v", r.err)
				}
				return
			}
			if r.err == nil || !strings.Contains(r.err.Error(), tc.refuse) {
				t.Fatalf("err = %v, want a refusal containing %q", r.err, tc.refuse)
			}
			if after := stateOf(t, f); after != before {
				t.Fatalf("a refusal changed the state:\n%s\n%s", before, after)
			}
			if m.calls != calls {
				t.Fatalf("the machine was called for a refused command")
			}
		})
	}
}

func promote(t *testing.T, f *fsm) {
	t.Helper()
	mustApply(t, f, 5, encode(t, TypeStandbyPromote, "s-promote", nil))
}

func TestStandbySetNeedsAnEmptyCluster(t *testing.T) {
	m := newFake("kv")
	f := mustFSM(t, []Machine{m})
	mustApply(t, f, 1, encode(t, "kv.set", "own", kv{"a", "1"}))
	r := applyOne(t, f, 2, encode(t, TypeStandbySet, "set", StandbySet{Of: "http://p:1"}))
	if r.err == nil || !strings.Contains(r.err.Error(), "never a standby") {
		t.Fatalf("err = %v, want refusal of a cluster with data", r.err)
	}
	if _, ok := f.standby(); ok {
		t.Fatal("standby state recorded after a refusal")
	}
}

// TestStandbyApplyIsIdempotent ships the same commands in overlapping
// batches: each applies once and the standby ends in the primary's state.
func TestStandbyApplyIsIdempotent(t *testing.T) {
	pm, sink := primaryRun(t)
	ship := shipped(t, sink.cmds)
	f, m := newStandbyFSM(t)
	idx := uint64(2)
	apply := func(b StandbyBatch) StandbyResult {
		t.Helper()
		idx++
		return standbyResult(t, applyOne(t, f, idx, encode(t, TypeStandbyApply, cluster0ID(idx), b)))
	}
	r := apply(StandbyBatch{Commands: ship[:2], Through: ship[1].Pos})
	if r.Applied != 2 || r.N != 2 || r.NeedsSync != "" {
		t.Fatalf("first batch: %+v", r)
	}
	through := command.Position{Index: 9, Seq: 0} // the primary read past the last command
	r = apply(StandbyBatch{Commands: ship, Through: through})
	if r.Applied != 1 || r.Skipped != 2 || r.Position != through || r.N != 3 {
		t.Fatalf("overlapping batch: %+v", r)
	}
	calls := m.calls
	r = apply(StandbyBatch{Commands: ship, Through: through})
	if r.Applied != 0 || r.Skipped != 3 || m.calls != calls {
		t.Fatalf("redelivered batch: %+v, machine calls %d → %d", r, calls, m.calls)
	}
	if !reflect.DeepEqual(m.state, pm.state) {
		t.Fatalf("standby state %v, primary %v", m.state, pm.state)
	}
	sb, _ := f.standby()
	if sb.Applied != 3 || sb.Position != through {
		t.Fatalf("standby state %+v", sb)
	}
}

func cluster0ID(i uint64) string { return "ship-" + string(rune('a'+i)) }

func TestStandbyApplyStopsAtAGapOrARefusal(t *testing.T) {
	_, sink := primaryRun(t)
	ship := shipped(t, sink.cmds)
	refused, err := command.New("kv.refuse", "bad", testNow, nil)
	if err != nil {
		t.Fatal(err)
	}
	refusedEnv, _ := command.Encode(refused)
	tests := []struct {
		name    string
		cmds    []ShippedCommand
		applied int
		want    string
	}{
		{"missing command", []ShippedCommand{ship[0], ship[2]}, 1, "commands 2 to 2 are missing"},
		{"first command missing", ship[1:], 0, "commands 1 to 1 are missing"},
		{"refused here", []ShippedCommand{ship[0], {Pos: ship[1].Pos, N: 2, Env: refusedEnv}}, 1, "was refused here"},
		{"unknown family", []ShippedCommand{{Pos: ship[0].Pos, N: 1, Env: mustEnv(t, "other.x")}}, 0, "has no machine here"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, m := newStandbyFSM(t)
			r := standbyResult(t, applyOne(t, f, 5, encode(t, TypeStandbyApply, "ship", StandbyBatch{Commands: tc.cmds, Through: tc.cmds[len(tc.cmds)-1].Pos})))
			if r.Applied != tc.applied || !strings.Contains(r.NeedsSync, tc.want) {
				t.Fatalf("result %+v, want %d applied and needs_sync containing %q", r, tc.applied, tc.want)
			}
			sb, _ := f.standby()
			if sb.NeedsSync != r.NeedsSync || sb.N != uint64(tc.applied) {
				t.Fatalf("standby state %+v", sb)
			}
			if tc.applied == 0 && len(m.state) != 0 {
				t.Fatalf("state changed: %v", m.state)
			}
			if sb.Position.After(tc.cmds[tc.applied].Pos) || sb.Position == tc.cmds[len(tc.cmds)-1].Pos {
				t.Fatalf("position %v moved past the stop", sb.Position)
			}
		})
	}
}

func mustEnv(t *testing.T, typ string) json.RawMessage {
	t.Helper()
	env, err := command.New(typ, "x-"+typ, testNow, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := command.Encode(env)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestStandbySyncRestoresInParts ships a primary's engine state in parts:
// the last one replaces the state; an older state changes nothing.
func TestStandbySyncRestoresInParts(t *testing.T) {
	pm, sink := primaryRun(t)
	b, err := pm.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	ex := EngineExport{Position: command.Position{Index: 7, Seq: command.MaxSeq}, N: 3, Machines: map[string]json.RawMessage{"kv": b}}
	doc, _ := json.Marshal(ex)
	f, m := newStandbyFSM(t)
	m.state["stale"] = "x"
	// Gap first: the standby needs a sync.
	ship := shipped(t, sink.cmds)
	standbyResult(t, applyOne(t, f, 2, encode(t, TypeStandbyApply, "gap", StandbyBatch{Commands: ship[2:], Through: ship[2].Pos})))
	half := len(doc) / 2
	r := standbyResult(t, applyOne(t, f, 3, encode(t, TypeStandbySync, "s0", StandbySyncPart{ID: "sync1", Part: 0, Parts: 2, Data: doc[:half]})))
	if r.Synced || m.state["stale"] != "x" {
		t.Fatalf("first part restored already: %+v", r)
	}
	if r := applyOne(t, f, 4, encode(t, TypeStandbySync, "bad", StandbySyncPart{ID: "other", Part: 1, Parts: 2, Data: doc[half:]})); r.err == nil {
		t.Fatal("a part of another sync was accepted")
	}
	r = standbyResult(t, applyOne(t, f, 5, encode(t, TypeStandbySync, "s1", StandbySyncPart{ID: "sync1", Part: 1, Parts: 2, Data: doc[half:]})))
	if !r.Synced || r.Position != ex.Position || r.N != 3 {
		t.Fatalf("sync result %+v", r)
	}
	if !reflect.DeepEqual(m.state, pm.state) {
		t.Fatalf("standby state %v, primary %v", m.state, pm.state)
	}
	sb, _ := f.standby()
	if sb.NeedsSync != "" || sb.SyncData != nil {
		t.Fatalf("standby after sync: %+v", sb)
	}
	// Shipments after the sync: what it covers is skipped.
	r = standbyResult(t, applyOne(t, f, 6, encode(t, TypeStandbyApply, "after", StandbyBatch{Commands: ship, Through: ship[2].Pos})))
	if r.Applied != 0 || r.Skipped != 3 {
		t.Fatalf("shipment covered by the sync: %+v", r)
	}
	// An older state is not restored.
	m.state["later"] = "y"
	old := ex
	old.Position = command.Position{Index: 2, Seq: command.MaxSeq}
	doc2, _ := json.Marshal(old)
	r = standbyResult(t, applyOne(t, f, 7, encode(t, TypeStandbySync, "s2", StandbySyncPart{ID: "sync2", Part: 0, Parts: 1, Data: doc2})))
	if r.Synced || m.state["later"] != "y" || !strings.Contains(r.Message, "nothing restored") {
		t.Fatalf("older state: %+v, state %v", r, m.state)
	}
}

func TestStandbyStateSurvivesSnapshots(t *testing.T) {
	_, sink := primaryRun(t)
	ship := shipped(t, sink.cmds)
	f, _ := newStandbyFSM(t)
	standbyResult(t, applyOne(t, f, 2, encode(t, TypeStandbyApply, "ship", StandbyBatch{Commands: ship, Through: ship[2].Pos})))
	snap := snapshotBytes(t, f)
	g := mustFSM(t, []Machine{newFake("kv")})
	if err := g.Restore(io.NopCloser(bytes.NewReader(snap))); err != nil {
		t.Fatal(err)
	}
	a, _ := f.standby()
	b, ok := g.standby()
	if !ok || !reflect.DeepEqual(a, b) {
		t.Fatalf("restored standby %+v, want %+v", b, a)
	}
	if r := applyOne(t, g, 3, encode(t, "kv.set", "local", kv{"x", "1"})); r.err == nil {
		t.Fatal("restored standby accepted a local write")
	}
}

type restoreRec struct {
	fakeSink
	restored []uint64
}

func (r *restoreRec) Restored(index uint64) { r.restored = append(r.restored, index) }

// TestStandbySyncTellsRestoreSinks: consumers that follow the state (the
// console hub) learn that a sync replaced it; a shipment does not.
func TestStandbySyncTellsRestoreSinks(t *testing.T) {
	pm, sink := primaryRun(t)
	b, _ := pm.Snapshot()
	doc, _ := json.Marshal(EngineExport{Position: command.Position{Index: 7, Seq: command.MaxSeq}, N: 3, Machines: map[string]json.RawMessage{"kv": b}})
	rec := &restoreRec{}
	f := mustFSM(t, []Machine{newFake("kv")}, rec)
	mustApply(t, f, 1, encode(t, TypeStandbySet, "set", StandbySet{Of: "http://p:1"}))
	ship := shipped(t, sink.cmds)
	mustApply(t, f, 2, encode(t, TypeStandbyApply, "ship", StandbyBatch{Commands: ship[:1], Through: ship[0].Pos}))
	if len(rec.restored) != 0 {
		t.Fatalf("a shipment told RestoreSinks: %v", rec.restored)
	}
	mustApply(t, f, 3, encode(t, TypeStandbySync, "sync", StandbySyncPart{ID: "s", Parts: 1, Data: doc}))
	if !reflect.DeepEqual(rec.restored, []uint64{3}) {
		t.Fatalf("Restored calls %v, want [3]", rec.restored)
	}
	mustApply(t, f, 4, encode(t, TypeNoop, "noop", nil))
	if len(rec.restored) != 1 {
		t.Fatalf("Restored called again: %v", rec.restored)
	}
}
