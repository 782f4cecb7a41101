package contactcenter

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/tandemcc/tandem/command"
)

func TestEveryCommandHasAFamily(t *testing.T) {
	e := New()
	fams := map[string]bool{}
	for _, f := range e.Families() {
		fams[f] = true
	}
	for _, typ := range CommandTypes() {
		env := command.Envelope{Type: typ}
		if !fams[env.Family()] {
			t.Errorf("command %s: family %q not claimed", typ, env.Family())
		}
	}
}

// A snapshot of the engine before agents, queues and calls had runtime
// state (configuration and counter only) still restores.
func TestRestoreConfigOnlySnapshot(t *testing.T) {
	old := New()
	d, err := ParseDocument([]byte(baseDoc))
	if err != nil {
		t.Fatal(err)
	}
	cfg := emptyConfig()
	cfg, err = merge(cfg, d, false)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(map[string]any{"config": cfg, "applied": 3})
	if err := old.Restore(b); err != nil {
		t.Fatal(err)
	}
	if err := old.Check(); err != nil {
		t.Fatal(err)
	}
	var n int
	old.View(func(s *State) {
		n = len(s.Agents)
		if s.Agents["a1"].State != StateDisconnected || s.Applied != 3 {
			t.Errorf("restored agent %+v applied %d", s.Agents["a1"], s.Applied)
		}
	})
	if n != 4 {
		t.Fatalf("%d agents", n)
	}
	// And it works on.
	env := command.Envelope{Type: TypeAgentLogin, Version: 1, Time: t0.UnixNano(), ID: "x", Payload: []byte(`{"agent":"a1"}`)}
	if _, err := old.Apply(env, command.NewEmitter(1, env)); err != nil {
		t.Fatal(err)
	}
}

func TestClockNeverGoesBack(t *testing.T) {
	h := newHarness(t, baseDoc)
	h.connect("a1")
	h.incoming("c", "sales")
	later := h.now
	h.now = h.now.Add(-5e9) // a new leader's clock a little behind
	h.answer("a1")
	if c := h.mustCall("c"); c.AnsweredAt != later.UnixNano() {
		t.Fatalf("answered at %d, want the engine clock %d", c.AnsweredAt, later.UnixNano())
	}
}

// The configuration family keeps its contract: counts of an apply, an
// idempotent re-apply, and a document read back (GET /v1/config) that
// applies as "no changes".
func TestConfigApplyContract(t *testing.T) {
	const doc = `business_units:
  - id: bu1
    name: Sales
extensions:
  - number: "2001"
    phones:
      - id: desk
        position: 0
        order: 1
users:
  - id: alice
    name: Alice
    extension: "2001"
    business_unit: bu1
queues:
  - id: support
    business_unit: bu1
    strategy: round-robin
agents:
  - id: a1
    user: alice
    extension: "2001"
    queues: [support]
    skills: {english: 5}
`
	h := newHarness(t, "")
	if r := h.config(doc); r.Created != 5 || r.Updated+r.Removed != 0 {
		t.Fatalf("first apply %+v", r)
	}
	if r := h.config(doc); r.Changed() || r.Unchanged != 5 {
		t.Fatalf("re-apply %+v", r)
	}
	var back Document
	h.e.View(func(s *State) { back = s.Config.Document() })
	res := h.ok(TypeConfigApply, ApplyRequest{Document: back, Prune: true})
	if r := res.(ApplyResult); r.Changed() {
		t.Fatalf("applying the document read back changed %+v", r)
	}
}

// The engine hands a command's events to the Emitter once it has
// succeeded, their data in one array: each event's data is its own
// (capped: appending to one never reaches the next), and events of a
// command before do not linger into the next.
func TestEventsHandedOverPerCommand(t *testing.T) {
	h := newHarness(t, baseDoc)
	h.connect("a1")
	h.incoming("c1", "sales")
	evs := h.events
	if len(evs) != 2 || evs[0].Type != EvCallQueued || evs[1].Type != EvCallOffered {
		t.Fatalf("events %v, want call.queued and call.offered", h.types())
	}
	want1 := string(evs[1].Data)
	for i, ev := range evs {
		if cap(ev.Data) != len(ev.Data) || ev.Seq != i || ev.Index != h.index {
			t.Fatalf("event %d: seq %d index %d, cap %d for %d bytes", i, ev.Seq, ev.Index, cap(ev.Data), len(ev.Data))
		}
		var v map[string]any
		if err := json.Unmarshal(ev.Data, &v); err != nil || v["call"] != "c1" {
			t.Fatalf("event %d data %s: %v", i, ev.Data, err)
		}
	}
	_ = append(evs[0].Data, `XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX`...)
	if string(evs[1].Data) != want1 {
		t.Fatalf("appending to event 0 changed event 1: %s", evs[1].Data)
	}
	h.fail(TypeCallAnswer, AgentCallRequest{Agent: "a2"}, ErrNothingRinging) // no events (the harness checks)
	h.answer("a1")
	if got := h.types(); len(got) != 1 || got[0] != EvCallAnswered {
		t.Fatalf("answer emitted %v", got)
	}
	// config.apply: its own events first, then what routing did.
	h.connect("a2")
	h.incoming("c2", "support") // a1 is busy, a3 logged out: c2 waits
	doc := strings.Replace(baseDoc, "queues: [sales], skills: {english: 3", "queues: [sales, support], skills: {english: 3", 1)
	if r := h.config(doc); r.Updated != 1 {
		t.Fatalf("config.apply %+v", r)
	}
	if got := h.types(); len(got) != 2 || got[0] != "config.agent.updated" || got[1] != EvCallOffered {
		t.Fatalf("config.apply emitted %v, want config.agent.updated then call.offered", got)
	}
}
