package contactcenter

import (
	"encoding/json"
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
