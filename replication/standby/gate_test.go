package standby

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tandemcc/tandem/cluster"
	"github.com/tandemcc/tandem/command"
)

// The gate's rules, on the narrow cluster.Engine a standby applies
// through. Package cluster tests that the FSM calls a gate as these tests
// do; standby_test.go runs the whole path on real clusters.

var testTime = time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)

// fakeEngine is a key/value engine: "kv.set" (payload {k,v}) sets,
// "kv.refuse" is refused, other families have no machine.
type fakeEngine struct {
	state    map[string]string
	commands uint64
	calls    int
}

func newEngine() *fakeEngine { return &fakeEngine{state: map[string]string{}} }

func (e *fakeEngine) Apply(env command.Envelope) ([]command.Event, error) {
	e.calls++
	switch env.Type {
	case "kv.set":
		var p struct{ K, V string }
		if err := json.Unmarshal(env.Payload, &p); err != nil {
			return nil, err
		}
		e.state[p.K] = p.V
	case "kv.refuse":
		return nil, errors.New("refused by the engine")
	default:
		return nil, errors.New("command " + env.Type + " has no machine here")
	}
	e.commands++
	return nil, nil
}

func (e *fakeEngine) Commands() uint64 { return e.commands }

func (e *fakeEngine) Restore(ms map[string]json.RawMessage) error {
	b, ok := ms["kv"]
	if !ok {
		return nil
	}
	st := map[string]string{}
	if err := json.Unmarshal(b, &st); err != nil {
		return err
	}
	e.state = st
	return nil
}

// gateRig is a receiver and its engine, applying commands as the FSM
// would: in order, each with its own envelope.
type gateRig struct {
	r   *Receiver
	eng *fakeEngine
	n   int
}

func newRig(t *testing.T) *gateRig {
	t.Helper()
	g := &gateRig{r: NewReceiver("", nil), eng: newEngine()}
	g.mustApply(t, TypeSet, Set{Of: "http://primary:7070"})
	return g
}

func (g *gateRig) apply(t *testing.T, typ string, payload any) (any, error) {
	t.Helper()
	g.n++
	env, err := command.New(typ, "cmd-"+string(rune('a'+g.n)), testTime.Add(time.Duration(g.n)*time.Second), payload)
	if err != nil {
		t.Fatal(err)
	}
	return g.r.Apply(env, g.eng, command.NewEmitter(uint64(g.n), env))
}

func (g *gateRig) mustApply(t *testing.T, typ string, payload any) Result {
	t.Helper()
	res, err := g.apply(t, typ, payload)
	if err != nil {
		t.Fatalf("%s refused: %v", typ, err)
	}
	r, _ := res.(Result)
	return r
}

func (g *gateRig) state(t *testing.T) string {
	t.Helper()
	b, err := g.r.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	e, _ := json.Marshal(g.eng.state)
	return string(b) + string(e)
}

// shipment is three primary commands setting a=1, b=2, a=3, numbered 1..3.
func shipment(t *testing.T) []Shipped {
	t.Helper()
	var out []Shipped
	for i, kv := range [][2]string{{"a", "1"}, {"b", "2"}, {"a", "3"}} {
		out = append(out, Shipped{Pos: command.Position{Index: uint64(2 + 2*i), Seq: 2}, N: uint64(i + 1),
			Env: encoded(t, "kv.set", "p"+kv[0]+kv[1], map[string]string{"k": kv[0], "v": kv[1]})})
	}
	return out
}

func encoded(t *testing.T, typ, id string, payload any) json.RawMessage {
	t.Helper()
	env, err := command.New(typ, id, testTime, payload)
	if err != nil {
		t.Fatal(err)
	}
	b, err := command.Encode(env)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func promoteRig(t *testing.T, g *gateRig) { t.Helper(); g.mustApply(t, TypePromote, nil) }

func TestGateRules(t *testing.T) {
	ship := shipment(t)
	tests := []struct {
		name   string
		setup  func(t *testing.T, g *gateRig)
		typ    string
		pay    any
		refuse string // "" = applies
	}{
		{"standby applies a shipment", nil, TypeApply, Batch{Commands: ship, Through: ship[2].Pos}, ""},
		{"shipment out of order", nil, TypeApply, Batch{Commands: []Shipped{ship[1], ship[0]}, Through: ship[1].Pos}, "out of order"},
		{"through before the last command", nil, TypeApply, Batch{Commands: ship[:2], Through: ship[0].Pos}, "before the last command"},
		{"bad sync part", nil, TypeSync, SyncPart{ID: "s", Part: 1, Parts: 1}, "bad part"},
		{"promoted refuses shipments", promoteRig, TypeApply, Batch{Commands: ship, Through: ship[2].Pos}, "promoted"},
		{"promoted refuses syncs", promoteRig, TypeSync, SyncPart{ID: "s", Parts: 1, Data: []byte("{}")}, "promoted"},
		{"promoted cannot become a standby again", promoteRig, TypeSet, Set{Of: "http://other:7070"}, "was promoted"},
		{"promote twice", promoteRig, TypePromote, nil, ""},
		{"set without a primary", nil, TypeSet, Set{}, "missing primary address"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := newRig(t)
			if tc.setup != nil {
				tc.setup(t, g)
			}
			before, calls := g.state(t), g.eng.calls
			_, err := g.apply(t, tc.typ, tc.pay)
			if tc.refuse == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.refuse) {
				t.Fatalf("err = %v, want a refusal containing %q", err, tc.refuse)
			}
			if after := g.state(t); after != before || g.eng.calls != calls {
				t.Fatalf("a refusal changed the state:\n%s\n%s", before, after)
			}
		})
	}
}

// TestGateRefusesOwnWrites: the FSM's question (Refuse) and the edge's
// (Admit) across the life of a standby.
func TestGateRefusesOwnWrites(t *testing.T) {
	fresh := NewReceiver("", nil)
	if fresh.Refuse() != nil || fresh.Admit() != nil {
		t.Fatal("a cluster that never was a standby refuses writes")
	}
	asked := NewReceiver("http://primary:7070", nil)
	if asked.Refuse() != nil {
		t.Fatal("the FSM refuses before the mode is replicated")
	}
	if err := asked.Admit(); err == nil || !strings.Contains(err.Error(), "standby of http://primary:7070") {
		t.Fatalf("a node started with --standby-of admits writes: %v", err)
	}
	g := newRig(t)
	for _, err := range []error{g.r.Refuse(), g.r.Admit()} {
		var ref *cluster.Refusal
		if !errors.As(err, &ref) || !strings.Contains(ref.Msg, "promote it first") {
			t.Fatalf("standby: %v, want a refusal", err)
		}
	}
	promoteRig(t, g)
	if g.r.Refuse() != nil || g.r.Admit() != nil || g.r.RefusesWrites() {
		t.Fatal("a promoted standby refuses writes")
	}
}

func TestGateSetNeedsAnEmptyCluster(t *testing.T) {
	g := &gateRig{r: NewReceiver("", nil), eng: newEngine()}
	g.eng.commands = 1
	if _, err := g.apply(t, TypeSet, Set{Of: "http://p:1"}); err == nil || !strings.Contains(err.Error(), "never a standby") {
		t.Fatalf("err = %v, want refusal of a cluster with data", err)
	}
	if _, ok := g.r.State(); ok {
		t.Fatal("standby state recorded after a refusal")
	}
}

// TestGateApplyIsIdempotent ships the same commands in overlapping
// batches: each applies once and the standby ends in the primary's state.
func TestGateApplyIsIdempotent(t *testing.T) {
	ship := shipment(t)
	g := newRig(t)
	r := g.mustApply(t, TypeApply, Batch{Commands: ship[:2], Through: ship[1].Pos})
	if r.Applied != 2 || r.N != 2 || r.NeedsSync != "" {
		t.Fatalf("first batch: %+v", r)
	}
	through := command.Position{Index: 9, Seq: 0} // the primary read past the last command
	r = g.mustApply(t, TypeApply, Batch{Commands: ship, Through: through})
	if r.Applied != 1 || r.Skipped != 2 || r.Position != through || r.N != 3 {
		t.Fatalf("overlapping batch: %+v", r)
	}
	calls := g.eng.calls
	r = g.mustApply(t, TypeApply, Batch{Commands: ship, Through: through})
	if r.Applied != 0 || r.Skipped != 3 || g.eng.calls != calls {
		t.Fatalf("redelivered batch: %+v, engine calls %d → %d", r, calls, g.eng.calls)
	}
	if want := map[string]string{"a": "3", "b": "2"}; !reflect.DeepEqual(g.eng.state, want) {
		t.Fatalf("standby state %v, want %v", g.eng.state, want)
	}
	sb, _ := g.r.State()
	if sb.Applied != 3 || sb.Position != through || sb.LastCommandTime != testTime.UnixNano() {
		t.Fatalf("standby state %+v", sb)
	}
}

func TestGateApplyStopsAtAGapOrARefusal(t *testing.T) {
	ship := shipment(t)
	tests := []struct {
		name    string
		cmds    []Shipped
		applied int
		want    string
	}{
		{"missing command", []Shipped{ship[0], ship[2]}, 1, "commands 2 to 2 are missing"},
		{"first command missing", ship[1:], 0, "commands 1 to 1 are missing"},
		{"numbered before", []Shipped{ship[0], {Pos: ship[1].Pos, N: 1, Env: ship[1].Env}}, 1, "the primary's history differs"},
		{"refused here", []Shipped{ship[0], {Pos: ship[1].Pos, N: 2, Env: encoded(t, "kv.refuse", "bad", nil)}}, 1, "was refused here"},
		{"unknown family", []Shipped{{Pos: ship[0].Pos, N: 1, Env: encoded(t, "other.x", "x", nil)}}, 0, "has no machine here"},
		{"unreadable", []Shipped{{Pos: ship[0].Pos, N: 1, Env: json.RawMessage(`{"v":99}`)}}, 0, "cannot be read by this build"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := newRig(t)
			r := g.mustApply(t, TypeApply, Batch{Commands: tc.cmds, Through: tc.cmds[len(tc.cmds)-1].Pos})
			if r.Applied != tc.applied || !strings.Contains(r.NeedsSync, tc.want) {
				t.Fatalf("result %+v, want %d applied and needs_sync containing %q", r, tc.applied, tc.want)
			}
			sb, _ := g.r.State()
			if sb.NeedsSync != r.NeedsSync || sb.N != uint64(tc.applied) {
				t.Fatalf("standby state %+v", sb)
			}
			if tc.applied == 0 && len(g.eng.state) != 0 {
				t.Fatalf("state changed: %v", g.eng.state)
			}
			if sb.Position.After(tc.cmds[tc.applied].Pos) || sb.Position == tc.cmds[len(tc.cmds)-1].Pos {
				t.Fatalf("position %v moved past the stop", sb.Position)
			}
		})
	}
}

// TestGateSyncRestoresInParts ships a primary's engine state in parts:
// the last one replaces the state; an older state changes nothing.
func TestGateSyncRestoresInParts(t *testing.T) {
	primary := map[string]string{"a": "3", "b": "2"}
	kvState, _ := json.Marshal(primary)
	ex := cluster.EngineExport{Position: command.Position{Index: 7, Seq: command.MaxSeq}, N: 3, Machines: map[string]json.RawMessage{"kv": kvState}}
	doc, _ := json.Marshal(ex)
	g := newRig(t)
	g.eng.state["stale"] = "x"
	ship := shipment(t)
	g.mustApply(t, TypeApply, Batch{Commands: ship[2:], Through: ship[2].Pos}) // a gap: needs a sync
	half := len(doc) / 2
	r := g.mustApply(t, TypeSync, SyncPart{ID: "sync1", Part: 0, Parts: 2, Data: doc[:half]})
	if r.Synced || g.eng.state["stale"] != "x" {
		t.Fatalf("first part restored already: %+v", r)
	}
	if _, err := g.apply(t, TypeSync, SyncPart{ID: "other", Part: 1, Parts: 2, Data: doc[half:]}); err == nil {
		t.Fatal("a part of another sync was accepted")
	}
	r = g.mustApply(t, TypeSync, SyncPart{ID: "sync1", Part: 1, Parts: 2, Data: doc[half:]})
	if !r.Synced || r.Position != ex.Position || r.N != 3 {
		t.Fatalf("sync result %+v", r)
	}
	if !reflect.DeepEqual(g.eng.state, primary) {
		t.Fatalf("standby state %v, primary %v", g.eng.state, primary)
	}
	sb, _ := g.r.State()
	if sb.NeedsSync != "" || sb.Syncs != 1 {
		t.Fatalf("standby after sync: %+v", sb)
	}
	if b, _ := g.r.Snapshot(); strings.Contains(string(b), "sync_data") {
		t.Fatalf("a finished sync keeps its parts: %s", b)
	}
	// Shipments after the sync: what it covers is skipped.
	r = g.mustApply(t, TypeApply, Batch{Commands: ship, Through: ship[2].Pos})
	if r.Applied != 0 || r.Skipped != 3 {
		t.Fatalf("shipment covered by the sync: %+v", r)
	}
	// An older state is not restored.
	g.eng.state["later"] = "y"
	old := ex
	old.Position = command.Position{Index: 2, Seq: command.MaxSeq}
	doc2, _ := json.Marshal(old)
	r = g.mustApply(t, TypeSync, SyncPart{ID: "sync2", Part: 0, Parts: 1, Data: doc2})
	if r.Synced || g.eng.state["later"] != "y" || !strings.Contains(r.Message, "nothing restored") {
		t.Fatalf("older state: %+v, state %v", r, g.eng.state)
	}
}

// TestGateStateSurvivesSnapshots, including the state as the build before
// the gate wrote it (the same JSON, then a field of the cluster state).
func TestGateStateSurvivesSnapshots(t *testing.T) {
	ship := shipment(t)
	g := newRig(t)
	g.mustApply(t, TypeApply, Batch{Commands: ship, Through: ship[2].Pos})
	b, err := g.r.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	h := NewReceiver("", nil)
	if err := h.Restore(b); err != nil {
		t.Fatal(err)
	}
	a, _ := g.r.State()
	c, ok := h.State()
	if !ok || !reflect.DeepEqual(a, c) || h.Refuse() == nil {
		t.Fatalf("restored standby %+v, want %+v", c, a)
	}
	legacy := `{"of":"http://p:1","active":true,"since":5,"position":{"index":12,"seq":3},"n":4,"applied":4,"needs_sync":"gap"}`
	if err := h.Restore(json.RawMessage(legacy)); err != nil {
		t.Fatal(err)
	}
	if st, _ := h.State(); st.Of != "http://p:1" || st.Position != (command.Position{Index: 12, Seq: 3}) || st.N != 4 || st.NeedsSync != "gap" {
		t.Fatalf("legacy state restored as %+v", st)
	}
	if err := h.Restore(nil); err != nil {
		t.Fatal(err)
	}
	if _, ok := h.State(); ok || h.Refuse() != nil {
		t.Fatal("restoring no state kept a standby")
	}
}
