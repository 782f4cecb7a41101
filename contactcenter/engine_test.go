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
