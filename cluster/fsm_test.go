package cluster

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/tandemcc/tandem/command"
)

// ---- fakes ----------------------------------------------------------------

type kv struct {
	K string `json:"k"`
	V string `json:"v"`
}

type fieldError struct{ field string }

func (e *fieldError) Error() string     { return e.field + ": must not be empty" }
func (e *fieldError) FieldName() string { return e.field }

// fakeMachine is a deterministic key/value machine for its families. Its
// command types are "<family>.set" (payload kv) and "<family>.refuse"
// (which emits an event and then refuses, to check the FSM drops it).
type fakeMachine struct {
	fams  []string
	state map[string]string
	calls int // Apply calls, refused or not: not part of the state
}

func newFake(fams ...string) *fakeMachine {
	return &fakeMachine{fams: fams, state: map[string]string{}}
}

func (m *fakeMachine) Families() []string { return m.fams }

func (m *fakeMachine) Section() (string, int, int) {
	if len(m.fams) == 0 {
		return "", 1, 1
	}
	return "fake-" + m.fams[0], 1, 1
}

func (m *fakeMachine) Apply(env command.Envelope, em *command.Emitter) (any, error) {
	m.calls++
	_, name, _ := strings.Cut(env.Type, ".")
	switch name {
	case "set":
		var p kv
		if err := json.Unmarshal(env.Payload, &p); err != nil {
			return nil, err
		}
		if p.K == "" {
			return nil, &fieldError{"k"}
		}
		em.Emit(env.Family()+".setting", map[string]string{"k": p.K})
		m.state[p.K] = p.V
		em.Emit(env.Family()+".set", p)
		return map[string]int{"size": len(m.state)}, nil
	case "refuse":
		em.Emit(env.Family()+".leaked", nil) // a careless machine: the FSM must drop it
		return nil, errors.New("refused on purpose")
	}
	return nil, fmt.Errorf("fake: unknown command %q", env.Type)
}

func (m *fakeMachine) Snapshot() ([]byte, error) { return json.Marshal(m.state) }

func (m *fakeMachine) Restore(b []byte) error {
	st := map[string]string{}
	if b == nil { // a section an older snapshot lacked: empty
		m.state = st
		return nil
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return err
	}
	if st == nil { // the snapshot held null
		st = map[string]string{}
	}
	m.state = st
	return nil
}

// recorder keeps the order in which sinks and snapshot sinks were used.
type recorder struct {
	mu  sync.Mutex
	ops []string
}

func (r *recorder) add(op string) {
	if r == nil {
		return
	}
	r.mu.Lock()
	r.ops = append(r.ops, op)
	r.mu.Unlock()
}

func (r *recorder) list() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.ops...)
}

type fakeSink struct {
	name    string
	rec     *recorder
	mu      sync.Mutex
	batches [][]command.Event
	syncErr error
}

func (s *fakeSink) Publish(events []command.Event) {
	s.mu.Lock()
	s.batches = append(s.batches, append([]command.Event(nil), events...))
	s.mu.Unlock()
	s.rec.add("publish " + s.name)
}

func (s *fakeSink) Sync() error {
	s.rec.add("sync " + s.name)
	return s.syncErr
}

func (s *fakeSink) events() []command.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []command.Event
	for _, b := range s.batches {
		out = append(out, b...)
	}
	return out
}

// snapSink is an in-memory raft.SnapshotSink.
type snapSink struct {
	rec       *recorder
	buf       bytes.Buffer
	closed    bool
	cancelled bool
}

func (s *snapSink) Write(p []byte) (int, error) {
	s.rec.add("write")
	return s.buf.Write(p)
}
func (s *snapSink) Close() error  { s.rec.add("close"); s.closed = true; return nil }
func (s *snapSink) Cancel() error { s.rec.add("cancel"); s.cancelled = true; return nil }
func (s *snapSink) ID() string    { return "test" }

// ---- helpers --------------------------------------------------------------

var testNow = time.Date(2026, 5, 4, 9, 30, 0, 0, time.UTC)

func encode(t testing.TB, typ, id string, payload any) []byte {
	t.Helper()
	env, err := command.New(typ, id, testNow, payload)
	if err != nil {
		t.Fatalf("command.New(%s): %v", typ, err)
	}
	b, err := command.Encode(env)
	if err != nil {
		t.Fatalf("command.Encode(%s): %v", typ, err)
	}
	return b
}

func cmdLog(index uint64, data []byte) *raft.Log {
	return &raft.Log{Index: index, Term: 1, Type: raft.LogCommand, Data: data}
}

func mustFSM(t testing.TB, machines []Machine, sinks ...EventSink) *fsm {
	t.Helper()
	f, err := newFSM(machines, nil, sinks, nil)
	if err != nil {
		t.Fatalf("newFSM: %v", err)
	}
	return f
}

func applyOne(t testing.TB, f *fsm, index uint64, data []byte) *applyResponse {
	t.Helper()
	out := f.ApplyBatch([]*raft.Log{cmdLog(index, data)})
	if len(out) != 1 {
		t.Fatalf("ApplyBatch returned %d responses for 1 log", len(out))
	}
	r, ok := out[0].(*applyResponse)
	if !ok {
		t.Fatalf("response is %T, want *applyResponse", out[0])
	}
	return r
}

func mustApply(t testing.TB, f *fsm, index uint64, data []byte) Result {
	t.Helper()
	r := applyOne(t, f, index, data)
	if r.err != nil {
		t.Fatalf("apply at %d refused: %v", index, r.err)
	}
	return r.res
}

// snapshotBytes runs Snapshot and Persist into memory.
func snapshotBytes(t testing.TB, f *fsm) []byte {
	t.Helper()
	s, err := f.Snapshot()
	if err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	defer s.Release()
	sink := &snapSink{}
	if err := s.Persist(sink); err != nil {
		t.Fatalf("Persist: %v", err)
	}
	if !sink.closed || sink.cancelled {
		t.Fatalf("Persist: closed=%v cancelled=%v", sink.closed, sink.cancelled)
	}
	return sink.buf.Bytes()
}

// stateOf is the replicated state of f (cluster state and machines),
// without the applied index, which advances on refusals too.
func stateOf(t testing.TB, f *fsm) string {
	t.Helper()
	var doc snapshotDoc
	if err := json.Unmarshal(snapshotBytes(t, f), &doc); err != nil {
		t.Fatalf("decoding snapshot: %v", err)
	}
	doc.Index = 0
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// ---- tests ----------------------------------------------------------------

func TestNewFSMRefusesBadMachineSets(t *testing.T) {
	tests := []struct {
		name     string
		machines []Machine
		wantErr  string
	}{
		{"reserved cluster family", []Machine{newFake("a", Family)}, `reserved family "cluster"`},
		{"two machines, one family", []Machine{newFake("a", "b"), newFake("b")}, `two machines claim family "b"`},
		{"machine with no family", []Machine{newFake()}, "no command family"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := newFSM(tt.machines, nil, nil, nil)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("newFSM = %v, %v; want error containing %q", f, err, tt.wantErr)
			}
		})
	}
	if _, err := newFSM(nil, nil, nil, nil); err != nil {
		t.Fatalf("newFSM with no machines: %v", err)
	}
}

func TestApplyDispatchesByFamily(t *testing.T) {
	alpha, beta := newFake("alpha"), newFake("beta", "gamma")
	sink := &fakeSink{}
	f := mustFSM(t, []Machine{alpha, beta}, sink)

	tests := []struct {
		typ                   string
		wantAlpha, wantBeta   int // calls after this command
		wantUser              uint64
		wantRefusal           string
		wantAlphaK, wantBetaK string
	}{
		{typ: "alpha.set", wantAlpha: 1, wantUser: 1, wantAlphaK: "v1"},
		{typ: "beta.set", wantAlpha: 1, wantBeta: 1, wantUser: 2, wantAlphaK: "v1", wantBetaK: "v2"},
		{typ: "gamma.set", wantAlpha: 1, wantBeta: 2, wantUser: 3, wantAlphaK: "v1", wantBetaK: "v3"},
		{typ: "cluster.noop", wantAlpha: 1, wantBeta: 2, wantUser: 3, wantAlphaK: "v1", wantBetaK: "v3"},
		{typ: "zeta.set", wantAlpha: 1, wantBeta: 2, wantUser: 3, wantAlphaK: "v1", wantBetaK: "v3", wantRefusal: `no machine applies command family "zeta"`},
		{typ: "alphabet.set", wantAlpha: 1, wantBeta: 2, wantUser: 3, wantAlphaK: "v1", wantBetaK: "v3", wantRefusal: `family "alphabet"`},
	}
	for i, tt := range tests {
		index := uint64(i + 1)
		before := stateOf(t, f)
		nEvents := len(sink.events())
		r := applyOne(t, f, index, encode(t, tt.typ, fmt.Sprintf("id-%d", i), kv{"k", fmt.Sprintf("v%d", i+1)}))
		if tt.wantRefusal != "" {
			var ref *Refusal
			if !errors.As(r.err, &ref) || !strings.Contains(ref.Msg, tt.wantRefusal) {
				t.Fatalf("%s: err = %v, want refusal containing %q", tt.typ, r.err, tt.wantRefusal)
			}
			if after := stateOf(t, f); after != before {
				t.Errorf("%s: refused command changed state:\n%s\n%s", tt.typ, before, after)
			}
			if n := len(sink.events()); n != nEvents {
				t.Errorf("%s: refused command published %d events", tt.typ, n-nEvents)
			}
		} else if r.err != nil {
			t.Fatalf("%s: %v", tt.typ, r.err)
		}
		if r.res.Index != index {
			t.Errorf("%s: result index %d, want %d", tt.typ, r.res.Index, index)
		}
		if alpha.calls != tt.wantAlpha || beta.calls != tt.wantBeta {
			t.Errorf("%s: calls alpha=%d beta=%d, want %d %d", tt.typ, alpha.calls, beta.calls, tt.wantAlpha, tt.wantBeta)
		}
		if alpha.state["k"] != tt.wantAlphaK || beta.state["k"] != tt.wantBetaK {
			t.Errorf("%s: state alpha=%v beta=%v", tt.typ, alpha.state, beta.state)
		}
		if got := f.userCommands(); got != tt.wantUser {
			t.Errorf("%s: userCommands = %d, want %d", tt.typ, got, tt.wantUser)
		}
		if f.appliedIndex() != index {
			t.Errorf("%s: appliedIndex = %d, want %d", tt.typ, f.appliedIndex(), index)
		}
	}
}

func TestRefusalChangesNothing(t *testing.T) {
	validV2 := []byte(`{"type":"alpha.set","v":2,"time":1,"id":"newer","payload":{"k":"x","v":"y"}}`)
	tests := []struct {
		name      string
		data      []byte
		wantMsg   string
		wantField string
	}{
		{"machine refuses after emitting", encode(t, "alpha.refuse", "r1", nil), "refused on purpose", ""},
		{"field error", encode(t, "alpha.set", "r2", kv{"", "v"}), "k: must not be empty", "k"},
		{"bad payload", encode(t, "alpha.set", "r3", []int{1}), "cannot unmarshal", ""},
		{"unknown machine command", encode(t, "alpha.nope", "r4", nil), "unknown command", ""},
		{"unknown family", encode(t, "omega.set", "r5", kv{"k", "v"}), `family "omega"`, ""},
		{"newer envelope version", validV2, "unsupported envelope version", ""},
		{"undecodable log entry", []byte("\x00garbage"), "decoding command", ""},
		{"unknown cluster command", encode(t, "cluster.explode", "r6", nil), `unknown cluster command "cluster.explode"`, ""},
		{"node upsert without id", encode(t, TypeNodeUpsert, "r7", NodeMeta{RaftAddr: "a:1", AdminAddr: "http://a:2"}), "missing node id", ""},
		{"node upsert without addresses", encode(t, TypeNodeUpsert, "r8", NodeMeta{ID: "n9"}), "needs raft_addr and admin_addr", ""},
		{"node remove bad payload", encode(t, TypeNodeRemove, "r9", "n1"), "decoding cluster.node_remove", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			alpha := newFake("alpha")
			sink := &fakeSink{}
			f := mustFSM(t, []Machine{alpha}, sink)
			mustApply(t, f, 1, encode(t, "alpha.set", "seed", kv{"k", "v"}))
			mustApply(t, f, 2, encode(t, TypeNodeUpsert, "meta", NodeMeta{ID: "n1", RaftAddr: "10.0.0.1:7000", AdminAddr: "http://10.0.0.1:7070"}))
			before := stateOf(t, f)
			published := len(sink.batches)

			r := applyOne(t, f, 3, tt.data)
			var ref *Refusal
			if !errors.As(r.err, &ref) {
				t.Fatalf("err = %v (%T), want *Refusal", r.err, r.err)
			}
			if !strings.Contains(ref.Msg, tt.wantMsg) || ref.Field != tt.wantField {
				t.Errorf("refusal = %+v, want message containing %q and field %q", ref, tt.wantMsg, tt.wantField)
			}
			if r.res.Index != 3 || r.res.Duplicate || r.res.Result != nil {
				t.Errorf("result = %+v, want index 3 only", r.res)
			}
			if after := stateOf(t, f); after != before {
				t.Errorf("refusal changed state:\n before %s\n after  %s", before, after)
			}
			if len(sink.batches) != published {
				t.Errorf("refusal published events: %+v", sink.batches[published:])
			}
			if f.appliedIndex() != 3 {
				t.Errorf("appliedIndex = %d, want 3 (a refused entry is still applied)", f.appliedIndex())
			}
		})
	}
}

func TestDuplicateIDIsNotReapplied(t *testing.T) {
	alpha := newFake("alpha")
	sink := &fakeSink{}
	f := mustFSM(t, []Machine{alpha}, sink)

	first := mustApply(t, f, 5, encode(t, "alpha.set", "same", kv{"k", "first"}))
	if first.Duplicate || first.Index != 5 {
		t.Fatalf("first apply = %+v", first)
	}
	nEvents := len(sink.events())
	before := stateOf(t, f)

	tests := []struct {
		name string
		logs []*raft.Log
	}{
		{"retry in a later entry", []*raft.Log{cmdLog(6, encode(t, "alpha.set", "same", kv{"k", "second"}))}},
		{"retry with another type", []*raft.Log{cmdLog(7, encode(t, "cluster.noop", "same", nil))}},
		{"retry twice in one batch", []*raft.Log{
			cmdLog(8, encode(t, "alpha.set", "same", kv{"k", "third"})),
			cmdLog(9, encode(t, "alpha.set", "same", kv{"k", "fourth"})),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for i, out := range f.ApplyBatch(tt.logs) {
				r := out.(*applyResponse)
				if r.err != nil || !r.res.Duplicate || r.res.Index != 5 {
					t.Errorf("entry %d: response %+v, %v; want Duplicate of index 5", i, r.res, r.err)
				}
				// A retry is answered as the first time was.
				if string(r.res.Result) != string(first.Result) {
					t.Errorf("entry %d: result %s, want the first's %s", i, r.res.Result, first.Result)
				}
			}
			if alpha.calls != 1 {
				t.Errorf("machine applied %d times", alpha.calls)
			}
			if alpha.state["k"] != "first" {
				t.Errorf("state = %v", alpha.state)
			}
			if got := stateOf(t, f); got != before {
				t.Errorf("duplicate changed state")
			}
			if n := len(sink.events()); n != nEvents {
				t.Errorf("duplicate published %d events", n-nEvents)
			}
		})
	}

	// A refused command is not remembered: the same ID may then succeed.
	ref := applyOne(t, f, 10, encode(t, "alpha.set", "fixed-later", kv{"", "x"}))
	if ref.err == nil {
		t.Fatal("expected a refusal")
	}
	if r := mustApply(t, f, 11, encode(t, "alpha.set", "fixed-later", kv{"k2", "x"})); r.Duplicate || r.Index != 11 {
		t.Fatalf("retry after refusal = %+v, want a fresh apply at 11", r)
	}
}

func TestDedupeWindowEvictsOldest(t *testing.T) {
	f := mustFSM(t, nil)
	logs := make([]*raft.Log, 0, recentIDs+1)
	for i := 0; i <= recentIDs; i++ {
		logs = append(logs, cmdLog(uint64(i+1), encode(t, TypeNoop, fmt.Sprintf("n%d", i), nil)))
	}
	for i, out := range f.ApplyBatch(logs) {
		if r := out.(*applyResponse); r.err != nil || r.res.Duplicate {
			t.Fatalf("entry %d: %+v %v", i, r.res, r.err)
		}
	}
	if len(f.st.Recent) != recentIDs || len(f.st.Order)-f.head != recentIDs {
		t.Fatalf("window holds %d ids / %d order, want %d", len(f.st.Recent), len(f.st.Order)-f.head, recentIDs)
	}
	next := uint64(recentIDs + 2)
	if r := mustApply(t, f, next, encode(t, TypeNoop, "n0", nil)); r.Duplicate {
		t.Errorf("n0 fell out of the window but was answered as duplicate: %+v", r)
	}
	if r := mustApply(t, f, next+1, encode(t, TypeNoop, "n2", nil)); !r.Duplicate || r.Index != 3 {
		t.Errorf("n2 = %+v, want duplicate of index 3", r)
	}
}

func TestEventsCarryIndexAndSeq(t *testing.T) {
	alpha := newFake("alpha")
	rec := &recorder{}
	s1, s2 := &fakeSink{name: "s1", rec: rec}, &fakeSink{name: "s2", rec: rec}
	f := mustFSM(t, []Machine{alpha}, s1, s2)
	var notified []uint64
	f.notify = func(i uint64) { notified = append(notified, i) }

	logs := []*raft.Log{
		cmdLog(10, encode(t, "alpha.set", "a", kv{"x", "1"})),
		{Index: 11, Term: 1, Type: raft.LogConfiguration, Data: []byte("ignored")},
		cmdLog(12, encode(t, "alpha.refuse", "b", nil)),
		cmdLog(13, encode(t, TypeNodeUpsert, "c", NodeMeta{ID: "n1", RaftAddr: "10.0.0.1:7000", AdminAddr: "http://10.0.0.1:7070"})),
		cmdLog(14, encode(t, "alpha.set", "d", kv{"y", "2"})),
	}
	out := f.ApplyBatch(logs)
	if len(out) != len(logs) {
		t.Fatalf("%d responses for %d logs", len(out), len(logs))
	}
	if out[1] != nil {
		t.Errorf("configuration entry got response %v", out[1])
	}
	want := []struct {
		index uint64
		seq   int
		typ   string
		id    string
	}{
		{10, 0, "alpha.setting", "a"},
		{10, 1, "alpha.set", "a"},
		{13, 0, "cluster.node.updated", "c"},
		{14, 0, "alpha.setting", "d"},
		{14, 1, "alpha.set", "d"},
	}
	for _, s := range []*fakeSink{s1, s2} {
		if len(s.batches) != 1 {
			t.Fatalf("sink %s got %d Publish calls, want 1 per batch", s.name, len(s.batches))
		}
		got := s.batches[0]
		if len(got) != len(want) {
			t.Fatalf("sink %s got %d events, want %d: %+v", s.name, len(got), len(want), got)
		}
		for i, w := range want {
			ev := got[i]
			if ev.Index != w.index || ev.Seq != w.seq || ev.Type != w.typ || ev.CommandID != w.id || ev.Time != testNow.UnixNano() {
				t.Errorf("sink %s event %d = %+v, want %+v", s.name, i, ev, w)
			}
			if i > 0 && !ev.Pos().After(got[i-1].Pos()) {
				t.Errorf("event %d position %+v not after %+v", i, ev.Pos(), got[i-1].Pos())
			}
		}
	}
	if ops := rec.list(); !reflect.DeepEqual(ops, []string{"publish s1", "publish s2"}) {
		t.Errorf("sink calls = %v", ops)
	}
	if !reflect.DeepEqual(notified, []uint64{14}) {
		t.Errorf("notify calls = %v, want [14]", notified)
	}
	if f.appliedIndex() != 14 {
		t.Errorf("appliedIndex = %d", f.appliedIndex())
	}

	// A batch without events publishes nothing but still advances.
	f.ApplyBatch([]*raft.Log{cmdLog(15, encode(t, TypeNoop, "e", nil))})
	if len(s1.batches) != 1 {
		t.Errorf("empty batch was published: %+v", s1.batches[1:])
	}
	if f.appliedIndex() != 15 || !reflect.DeepEqual(notified, []uint64{14, 15}) {
		t.Errorf("appliedIndex %d, notified %v", f.appliedIndex(), notified)
	}
}

func TestApplyReturnsMachineResult(t *testing.T) {
	f := mustFSM(t, []Machine{newFake("alpha")})
	resp := f.Apply(cmdLog(1, encode(t, "alpha.set", "a", kv{"x", "1"})))
	r, ok := resp.(*applyResponse)
	if !ok || r.err != nil {
		t.Fatalf("Apply = %#v", resp)
	}
	if string(r.res.Result) != `{"size":1}` || r.res.Index != 1 {
		t.Fatalf("result = %+v (%s)", r.res, r.res.Result)
	}
	if r := mustApply(t, f, 2, encode(t, TypeNoop, "b", json.RawMessage(`"opaque"`))); r.Result != nil {
		t.Errorf("noop result = %s, want none", r.Result)
	}
}

func TestClusterNodeMetadata(t *testing.T) {
	sink := &fakeSink{}
	f := mustFSM(t, nil, sink)
	n1 := NodeMeta{ID: "n1", RaftAddr: "10.0.0.1:7000", AdminAddr: "http://10.0.0.1:7070"}
	n1moved := NodeMeta{ID: "n1", RaftAddr: "10.0.0.9:7000", AdminAddr: "http://10.0.0.9:7070"}
	n2 := NodeMeta{ID: "n2", RaftAddr: "10.0.0.2:7000", AdminAddr: "http://10.0.0.2:7070"}
	tests := []struct {
		name      string
		typ       string
		meta      NodeMeta
		wantEvent string // "" = none
		wantNodes map[string]NodeMeta
	}{
		{"add n1", TypeNodeUpsert, n1, "cluster.node.updated", map[string]NodeMeta{"n1": n1}},
		{"add n2", TypeNodeUpsert, n2, "cluster.node.updated", map[string]NodeMeta{"n1": n1, "n2": n2}},
		{"same n1 again", TypeNodeUpsert, n1, "", map[string]NodeMeta{"n1": n1, "n2": n2}},
		{"n1 moved", TypeNodeUpsert, n1moved, "cluster.node.updated", map[string]NodeMeta{"n1": n1moved, "n2": n2}},
		{"remove n2", TypeNodeRemove, NodeMeta{ID: "n2"}, "cluster.node.removed", map[string]NodeMeta{"n1": n1moved}},
		{"remove unknown", TypeNodeRemove, NodeMeta{ID: "n7"}, "", map[string]NodeMeta{"n1": n1moved}},
	}
	for i, tt := range tests {
		before := len(sink.events())
		mustApply(t, f, uint64(i+1), encode(t, tt.typ, fmt.Sprintf("m%d", i), tt.meta))
		evs := sink.events()[before:]
		switch {
		case tt.wantEvent == "" && len(evs) != 0:
			t.Errorf("%s: events %+v, want none", tt.name, evs)
		case tt.wantEvent != "" && (len(evs) != 1 || evs[0].Type != tt.wantEvent):
			t.Errorf("%s: events %+v, want one %s", tt.name, evs, tt.wantEvent)
		case tt.wantEvent != "" && !bytes.Contains(evs[0].Data, []byte(`"`+tt.meta.ID+`"`)):
			t.Errorf("%s: event data %s does not name %s", tt.name, evs[0].Data, tt.meta.ID)
		}
		if got := f.nodes(); !reflect.DeepEqual(got, tt.wantNodes) {
			t.Errorf("%s: nodes = %v, want %v", tt.name, got, tt.wantNodes)
		}
	}
	if f.userCommands() != 0 {
		t.Errorf("cluster commands counted as user commands: %d", f.userCommands())
	}
	got := f.nodes()
	delete(got, "n1")
	if _, ok := f.nodes()["n1"]; !ok {
		t.Error("nodes() returned the FSM's own map")
	}
}

// populate applies a mix of commands and returns the next free index.
func populate(t *testing.T, f *fsm) uint64 {
	t.Helper()
	i := uint64(1)
	for _, d := range [][]byte{
		encode(t, "alpha.set", "p1", kv{"a", "1"}),
		encode(t, "beta.set", "p2", kv{"b", "2"}),
		encode(t, TypeNodeUpsert, "p3", NodeMeta{ID: "n1", RaftAddr: "10.0.0.1:7000", AdminAddr: "http://10.0.0.1:7070"}),
		encode(t, TypeNodeUpsert, "p4", NodeMeta{ID: "n2", RaftAddr: "10.0.0.2:7000", AdminAddr: "http://10.0.0.2:7070"}),
		encode(t, "alpha.refuse", "p5", nil),
		encode(t, "alpha.set", "p6", kv{"a", "3"}),
	} {
		f.ApplyBatch([]*raft.Log{cmdLog(i, d)})
		i++
	}
	return i
}

func TestSnapshotRestoreIntoFreshFSM(t *testing.T) {
	src := mustFSM(t, []Machine{newFake("alpha"), newFake("beta")})
	next := populate(t, src)
	snap := snapshotBytes(t, src)

	a2, b2 := newFake("alpha"), newFake("beta")
	sink := &fakeSink{}
	dst := mustFSM(t, []Machine{a2, b2}, sink)
	var notified []uint64
	dst.notify = func(i uint64) { notified = append(notified, i) }
	if err := dst.Restore(io.NopCloser(bytes.NewReader(snap))); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	if got, want := stateOf(t, dst), stateOf(t, src); got != want {
		t.Fatalf("restored state differs:\n got %s\nwant %s", got, want)
	}
	if !reflect.DeepEqual(a2.state, map[string]string{"a": "3"}) || !reflect.DeepEqual(b2.state, map[string]string{"b": "2"}) {
		t.Errorf("machines restored to %v %v", a2.state, b2.state)
	}
	if !reflect.DeepEqual(dst.nodes(), src.nodes()) || len(dst.nodes()) != 2 {
		t.Errorf("nodes = %v, want %v", dst.nodes(), src.nodes())
	}
	if dst.userCommands() != 3 {
		t.Errorf("userCommands = %d, want 3", dst.userCommands())
	}
	if dst.appliedIndex() != next-1 || !reflect.DeepEqual(notified, []uint64{next - 1}) {
		t.Errorf("after Restore appliedIndex = %d, notified %v; want %d", dst.appliedIndex(), notified, next-1)
	}
	if len(sink.batches) != 0 {
		t.Errorf("Restore published events: %+v", sink.batches)
	}

	// The dedupe memory survived: a retry of p2 is a duplicate of index 2.
	if r := mustApply(t, dst, next, encode(t, "beta.set", "p2", kv{"b", "again"})); !r.Duplicate || r.Index != 2 {
		t.Errorf("retry after restore = %+v, want duplicate of index 2", r)
	}
	if b2.calls != 0 {
		t.Errorf("duplicate reached the machine after restore")
	}

	// Both sides continue identically.
	cmd := encode(t, "alpha.set", "p7", kv{"z", "9"})
	r1, r2 := mustApply(t, src, next+1, cmd), mustApply(t, dst, next+1, cmd)
	if !reflect.DeepEqual(r1, r2) {
		t.Errorf("results diverge: %+v vs %+v", r1, r2)
	}
	if got, want := stateOf(t, dst), stateOf(t, src); got != want {
		t.Errorf("state diverged after restore:\n got %s\nwant %s", got, want)
	}
}

func TestRestoreReplacesExistingState(t *testing.T) {
	src := mustFSM(t, []Machine{newFake("alpha"), newFake("beta")})
	populate(t, src)
	snap := snapshotBytes(t, src)

	dst := mustFSM(t, []Machine{newFake("alpha"), newFake("beta")})
	mustApply(t, dst, 1, encode(t, "alpha.set", "other", kv{"stale", "x"}))
	mustApply(t, dst, 2, encode(t, TypeNodeUpsert, "other-node", NodeMeta{ID: "gone", RaftAddr: "10.9.9.9:1", AdminAddr: "http://x:1"}))
	if err := dst.Restore(io.NopCloser(bytes.NewReader(snap))); err != nil {
		t.Fatal(err)
	}
	if got, want := stateOf(t, dst), stateOf(t, src); got != want {
		t.Fatalf("restore did not replace state:\n got %s\nwant %s", got, want)
	}
	if r := mustApply(t, dst, 100, encode(t, TypeNoop, "other", nil)); r.Duplicate {
		t.Error("dedupe memory from before the restore survived it")
	}
}

func TestRestoreRefusesBadSnapshots(t *testing.T) {
	tests := []struct {
		name, data, wantErr string
	}{
		{"not json", "{", "decoding snapshot"},
		{"newer format", `{"format":3,"cluster":{},"sections":{}}`, "snapshot format 3, this build reads 1 to 2: written by a newer build"},
		{"no format", `{"cluster":{},"machines":{}}`, "snapshot format 0"},
		{"bad machine state", `{"format":2,"cluster":{},"sections":{"fake-alpha":{"version":1,"data":[1]}}}`, "restoring snapshot section fake-alpha"},
		{"bad machine state, format 1", `{"format":1,"cluster":{},"machines":{"alpha":[1]}}`, "restoring snapshot section fake-alpha"},
		// A snapshot that does not name the engine's part is refused,
		// never restored as an empty engine.
		{"section missing", `{"format":2,"cluster":{},"sections":{}}`, "lacks the fake-alpha section this build needs; refusing to restore an empty fake-alpha"},
		{"section missing, format 1", `{"format":1,"cluster":{},"machines":{}}`, `snapshot (format 1) lacks the fake-alpha section (keyed "alpha")`},
		{"unknown section", `{"format":2,"cluster":{},"sections":{"fake-alpha":{"version":1,"data":{}},"billing":{"version":1,"data":{}}}}`,
			"holds sections this build does not know (billing)"},
		{"unknown section, format 1", `{"format":1,"cluster":{},"machines":{"alpha":{},"zeta":{}}}`, "does not know (zeta)"},
		{"newer section", `{"format":2,"cluster":{},"sections":{"fake-alpha":{"version":2,"data":{}}}}`,
			"snapshot section fake-alpha is version 2, this build reads up to 1: written by a newer build"},
		{"empty section", `{"format":2,"cluster":{},"sections":{"fake-alpha":{"version":1}}}`, "snapshot section fake-alpha is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := mustFSM(t, []Machine{newFake("alpha")})
			mustApply(t, f, 1, encode(t, "alpha.set", "x", kv{"k", "v"}))
			before := stateOf(t, f)
			err := f.Restore(io.NopCloser(strings.NewReader(tt.data)))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Restore = %v, want error containing %q", err, tt.wantErr)
			}
			if after := stateOf(t, f); after != before {
				t.Errorf("failed Restore changed state:\n%s\n%s", before, after)
			}
			if f.appliedIndex() != 1 {
				t.Errorf("failed Restore moved appliedIndex to %d", f.appliedIndex())
			}
		})
	}
}

func TestPersistSyncsSinksBeforeWriting(t *testing.T) {
	rec := &recorder{}
	s1, s2 := &fakeSink{name: "s1", rec: rec}, &fakeSink{name: "s2", rec: rec}
	f := mustFSM(t, []Machine{newFake("alpha")}, s1, s2)
	mustApply(t, f, 1, encode(t, "alpha.set", "x", kv{"k", "v"}))
	rec.ops = nil

	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if ops := rec.list(); len(ops) != 0 {
		t.Fatalf("Snapshot (under the apply lock) already touched sinks: %v", ops)
	}
	sink := &snapSink{rec: rec}
	if err := snap.Persist(sink); err != nil {
		t.Fatalf("Persist: %v", err)
	}
	want := []string{"sync s1", "sync s2", "write", "close"}
	if ops := rec.list(); !reflect.DeepEqual(ops, want) {
		t.Fatalf("Persist order = %v, want %v", ops, want)
	}

	// A sink that cannot sync cancels the snapshot before anything is written.
	rec.ops = nil
	s2.syncErr = errors.New("disk full")
	sink = &snapSink{rec: rec}
	err = snap.Persist(sink)
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("Persist with failing sink = %v", err)
	}
	if want := []string{"sync s1", "sync s2", "cancel"}; !reflect.DeepEqual(rec.list(), want) {
		t.Fatalf("Persist order = %v, want %v", rec.list(), want)
	}
	if sink.buf.Len() != 0 || sink.closed {
		t.Fatalf("failed Persist wrote %d bytes, closed=%v", sink.buf.Len(), sink.closed)
	}
}

// The snapshot is taken under the apply lock: commands applied after
// Snapshot returns are not in it.
func TestSnapshotIsPointInTime(t *testing.T) {
	alpha := newFake("alpha")
	f := mustFSM(t, []Machine{alpha})
	mustApply(t, f, 1, encode(t, "alpha.set", "x", kv{"k", "before"}))
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	mustApply(t, f, 2, encode(t, "alpha.set", "y", kv{"k", "after"}))
	sink := &snapSink{}
	if err := snap.Persist(sink); err != nil {
		t.Fatal(err)
	}
	a2 := newFake("alpha")
	g := mustFSM(t, []Machine{a2})
	if err := g.Restore(io.NopCloser(&sink.buf)); err != nil {
		t.Fatal(err)
	}
	if a2.state["k"] != "before" || g.appliedIndex() != 1 {
		t.Fatalf("restored %v at %d, want k=before at 1", a2.state, g.appliedIndex())
	}
}

// newMachine is a machine whose section exists since snapshot format 2.
type newMachine struct{ *fakeMachine }

func (m newMachine) Section() (string, int, int) { return "fake-new", 1, 2 }

// TestRestoreFormat1: a snapshot written before sections were named
// restores each machine from its first family's key; a machine whose
// section is newer than format 1 starts empty, whatever it held before.
func TestRestoreFormat1(t *testing.T) {
	old, added := newFake("alpha"), newMachine{newFake("beta")}
	f := mustFSM(t, []Machine{old, added})
	mustApply(t, f, 1, encode(t, "beta.set", "b", kv{"stale", "1"}))
	doc := `{"format":1,"index":7,"cluster":{"nodes":{},"recent":{}},"machines":{"alpha":{"k":"v"}}}`
	if err := f.Restore(io.NopCloser(strings.NewReader(doc))); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(old.state, map[string]string{"k": "v"}) || len(added.state) != 0 {
		t.Fatalf("after a format-1 restore: %v, %v", old.state, added.state)
	}
	// Written again, the snapshot names both sections.
	var again snapshotDoc
	if err := json.Unmarshal(snapshotBytes(t, f), &again); err != nil {
		t.Fatal(err)
	}
	if again.Format != snapshotFormat || len(again.Sections) != 2 || again.Machines != nil {
		t.Fatalf("snapshot written after it: %+v", again)
	}
}

func TestNewFSMRefusesBadSections(t *testing.T) {
	if _, err := newFSM([]Machine{newFake("a"), newMachine{newFake("b")}, newMachine{newFake("c")}}, nil, nil, nil); err == nil ||
		!strings.Contains(err.Error(), `two machines name snapshot section "fake-new"`) {
		t.Fatalf("two machines, one section: %v", err)
	}
}
