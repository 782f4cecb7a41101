package cluster

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/tandemcc/tandem/command"
)

// latch is a Gate for tests: closed, it refuses engine commands; it ships
// encoded engine commands through the nested Engine and restores machines.
type latch struct {
	Closed bool `json:"closed"`
	// restored is what Restore was handed last (not part of the state).
	restored json.RawMessage
}

const (
	typeLatchClose   = "cluster.latch_close"
	typeLatchShip    = "cluster.latch_ship"    // payload: []json.RawMessage of encoded envelopes
	typeLatchRestore = "cluster.latch_restore" // payload: map[string]json.RawMessage
	typeLatchFail    = "cluster.latch_fail"
)

func (l *latch) Types() []string {
	return []string{typeLatchClose, typeLatchShip, typeLatchRestore, typeLatchFail}
}

func (l *latch) Refuse() error {
	if l.Closed {
		return &Refusal{Msg: "latch closed"}
	}
	return nil
}

func (l *latch) Admit() error { return l.Refuse() }

func (l *latch) Apply(env command.Envelope, eng Engine, em *command.Emitter) (any, error) {
	switch env.Type {
	case typeLatchClose:
		l.Closed = true
	case typeLatchShip:
		var envs []json.RawMessage
		if err := json.Unmarshal(env.Payload, &envs); err != nil {
			return nil, err
		}
		for _, b := range envs {
			inner, err := command.Decode(b)
			if err != nil {
				return nil, err
			}
			if _, err := eng.Apply(inner); err != nil {
				return nil, err
			}
		}
		em.Emit("cluster.latch.shipped", map[string]uint64{"commands": eng.Commands()})
		return map[string]uint64{"commands": eng.Commands()}, nil
	case typeLatchRestore:
		var ms map[string]json.RawMessage
		if err := json.Unmarshal(env.Payload, &ms); err != nil {
			return nil, err
		}
		return nil, eng.Restore(ms)
	case typeLatchFail:
		return nil, errors.New("latch failure")
	}
	return nil, nil
}

func (l *latch) Snapshot() (json.RawMessage, error) { return json.Marshal(l) }

func (l *latch) Restore(b json.RawMessage) error {
	l.restored = b
	l.Closed = false
	if len(b) == 0 {
		return nil
	}
	return json.Unmarshal(b, l)
}

func gatedFSM(t *testing.T, g Gate, sinks ...EventSink) (*fsm, *fakeMachine) {
	t.Helper()
	m := newFake("kv")
	f, err := newFSM([]Machine{m}, nil, sinks, g)
	if err != nil {
		t.Fatalf("newFSM: %v", err)
	}
	return f, m
}

func envBytes(t *testing.T, typ, id string, payload any) json.RawMessage {
	t.Helper()
	return encode(t, typ, id, payload)
}

func TestGateTypesStayInTheClusterFamily(t *testing.T) {
	if _, err := newFSM(nil, nil, nil, &badGate{}); err == nil || !strings.Contains(err.Error(), `"kv.steal"`) {
		t.Fatalf("newFSM with a gate claiming an engine type: %v", err)
	}
}

type badGate struct{ latch }

func (*badGate) Types() []string { return []string{"kv.steal"} }

// TestGateRefusesEngineCommands: a closed gate refuses every engine
// command before its machine sees it; cluster commands still apply.
func TestGateRefusesEngineCommands(t *testing.T) {
	f, m := gatedFSM(t, &latch{})
	mustApply(t, f, 1, encode(t, "kv.set", "open", kv{"a", "1"}))
	mustApply(t, f, 2, encode(t, typeLatchClose, "close", nil))
	before, calls := stateOf(t, f), m.calls
	r := applyOne(t, f, 3, encode(t, "kv.set", "closed", kv{"a", "2"}))
	if r.err == nil || r.err.Error() != "latch closed" {
		t.Fatalf("engine command through a closed gate: %v", r.err)
	}
	if m.calls != calls || stateOf(t, f) != before {
		t.Fatal("a refused command reached the machine or changed the state")
	}
	mustApply(t, f, 4, encode(t, TypeNoop, "noop", nil))
	if r := applyOne(t, f, 5, encode(t, typeLatchFail, "fail", nil)); r.err == nil {
		t.Fatal("a failing gate command applied")
	}
}

// TestGateAppliesNestedCommands: commands applied through the gate count
// as engine commands, are remembered by ID and emit their own events
// first, numbered in one sequence with the gate's.
func TestGateAppliesNestedCommands(t *testing.T) {
	sink := &fakeSink{}
	f, m := gatedFSM(t, &latch{}, sink)
	ship := []json.RawMessage{envBytes(t, "kv.set", "p1", kv{"a", "1"}), envBytes(t, "kv.set", "p2", kv{"b", "2"})}
	res := mustApply(t, f, 7, encode(t, typeLatchShip, "ship", ship))
	if string(res.Result) != `{"commands":2}` || f.st.UserCommands != 2 {
		t.Fatalf("result %s, user commands %d", res.Result, f.st.UserCommands)
	}
	if m.state["a"] != "1" || m.state["b"] != "2" {
		t.Fatalf("machine state %v", m.state)
	}
	var got []string
	for i, ev := range sink.events() {
		if ev.Index != 7 || ev.Seq != i {
			t.Errorf("event %d at %d.%d, want 7.%d", i, ev.Index, ev.Seq, i)
		}
		got = append(got, ev.Type+"/"+ev.CommandID)
	}
	want := []string{"kv.setting/p1", "kv.set/p1", "kv.setting/p2", "kv.set/p2", "cluster.latch.shipped/ship"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	if r := mustApply(t, f, 8, encode(t, "kv.set", "p1", kv{"a", "again"})); !r.Duplicate || m.state["a"] != "1" {
		t.Fatalf("a shipped ID proposed again: %+v, state %v", r, m.state)
	}
}

// TestGateRestoreTellsRestoreSinks: a gate that replaced the machines'
// state makes the FSM tell RestoreSinks, once, at the batch's end.
func TestGateRestoreTellsRestoreSinks(t *testing.T) {
	rec := &restoreRec{}
	f, m := gatedFSM(t, &latch{}, rec)
	mustApply(t, f, 1, encode(t, "kv.set", "own", kv{"stale", "x"}))
	if len(rec.restored) != 0 {
		t.Fatalf("Restored told without a restore: %v", rec.restored)
	}
	mustApply(t, f, 2, encode(t, typeLatchRestore, "restore", map[string]json.RawMessage{"kv": json.RawMessage(`{"a":"1"}`)}))
	if !reflect.DeepEqual(m.state, map[string]string{"a": "1"}) || !reflect.DeepEqual(rec.restored, []uint64{2}) {
		t.Fatalf("state %v, Restored calls %v", m.state, rec.restored)
	}
	mustApply(t, f, 3, encode(t, TypeNoop, "noop", nil))
	if len(rec.restored) != 1 {
		t.Fatalf("Restored told again: %v", rec.restored)
	}
}

type restoreRec struct {
	fakeSink
	restored []uint64
}

func (r *restoreRec) Restored(index uint64) { r.restored = append(r.restored, index) }

// TestGateStateInSnapshots: the gate's state travels in snapshots under
// the key older builds wrote the standby mode to, so their snapshots
// restore into the gate unchanged.
func TestGateStateInSnapshots(t *testing.T) {
	g := &latch{}
	f, _ := gatedFSM(t, g)
	mustApply(t, f, 1, encode(t, typeLatchClose, "close", nil))
	snap := snapshotBytes(t, f)
	var doc struct {
		Cluster map[string]json.RawMessage `json:"cluster"`
	}
	if err := json.Unmarshal(snap, &doc); err != nil {
		t.Fatal(err)
	}
	if string(doc.Cluster["standby"]) != `{"closed":true}` {
		t.Fatalf("gate state under cluster.standby: %s", doc.Cluster["standby"])
	}
	h := &latch{}
	f2, _ := gatedFSM(t, h)
	if err := f2.Restore(io.NopCloser(bytes.NewReader(snap))); err != nil {
		t.Fatal(err)
	}
	if !h.Closed {
		t.Fatal("restored gate is open")
	}
	if r := applyOne(t, f2, 2, encode(t, "kv.set", "x", kv{"a", "1"})); r.err == nil {
		t.Fatal("restored FSM let an engine command through a closed gate")
	}
	// A snapshot written before gates existed: the standby mode was a
	// field of the cluster state, with this very shape.
	legacy := `{"format":1,"index":9,"cluster":{"nodes":{},"recent":{},"order":[],"user_commands":0,` +
		`"standby":{"of":"http://p:1","active":true,"since":5,"position":{"index":0,"seq":0},"n":0,"applied":0}},"machines":{"kv":{}}}`
	if err := f2.Restore(io.NopCloser(strings.NewReader(legacy))); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(h.restored), `"of":"http://p:1"`) {
		t.Fatalf("gate handed %s from a legacy snapshot", h.restored)
	}
	// A snapshot without gate state resets it.
	if err := f2.Restore(io.NopCloser(strings.NewReader(`{"format":2,"cluster":{},"sections":{"fake-kv":{"version":1,"data":{}}}}`))); err != nil {
		t.Fatal(err)
	}
	if h.Closed || len(h.restored) != 0 {
		t.Fatalf("gate after a snapshot without its state: %+v", h)
	}
}
