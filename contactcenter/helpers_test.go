package contactcenter

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tandemcc/tandem/command"
)

// t0 is the tests' epoch: commands carry chosen times, nothing sleeps.
var t0 = time.Date(2025, 3, 3, 9, 0, 0, 0, time.UTC) // a Monday

// baseDoc is the configuration most tests start from.
const baseDoc = `
settings:
  ring_timeout_seconds: 15
  auto_return_seconds: 60
  park_return_seconds: 120
pause_reasons:
  - {code: lunch, name: Lunch}
  - {code: training}
extensions:
  - number: "2001"
    phones: [{id: desk, position: 0, order: 1}]
  - number: "2002"
    phones: [{id: desk, position: 0, order: 1}]
  - number: "2003"
    phones: [{id: desk, position: 0, order: 1}]
  - number: "2004"
    phones: [{id: desk, position: 0, order: 1}]
  - number: "3001"
    phones: [{id: desk, position: 0, order: 1}, {id: mob, kind: mobile, position: 2, order: 2}]
  - number: "3002"
    phones: [{id: desk, position: 0, order: 1}]
users:
  - {id: u1, name: Ann Operator, first_name: Ann, last_name: Operator, extension: "2001"}
  - {id: u2, name: Ben Operator, first_name: Ben, last_name: Operator, extension: "2002"}
  - {id: bob, name: Bob Target, first_name: Bob, last_name: Target, company: Acme, extension: "3001", mobile: "+44 7700 900123"}
  - {id: carol, name: Carol Sales, first_name: Carol, last_name: Sales, company: Acme, extension: "3002"}
queues:
  - {id: sales, strategy: longest-idle, service_level_seconds: 20}
  - {id: support, strategy: round-robin}
agents:
  - {id: a1, user: u1, extension: "2001", queues: [sales, support], skills: {english: 5}}
  - {id: a2, user: u2, extension: "2002", queues: [sales], skills: {english: 3, french: 4}}
  - {id: a3, extension: "2003", queues: [support]}
  - {id: a4, extension: "2004", queues: [sales], wrap_up_seconds: 10, max_no_answer: 2}
`

type harness struct {
	t      testing.TB
	e      *Engine
	now    time.Time
	seq    int
	index  uint64
	events []command.Event
	all    []command.Event
	log    []command.Envelope
	check  bool
	// hash is the state's hash after the last command, "" when unknown.
	hash string
}

func newHarness(t testing.TB, doc string) *harness {
	t.Helper()
	h := &harness{t: t, e: New(), now: t0, check: true}
	if doc != "" {
		h.config(doc)
	}
	return h
}

func (h *harness) config(doc string) ApplyResult {
	h.t.Helper()
	d, err := ParseDocument([]byte(doc))
	if err == nil {
		err = ResolveZones(&d) // as the admin API does
	}
	if err != nil {
		h.t.Fatalf("parse: %v", err)
	}
	res := h.ok(TypeConfigApply, ApplyRequest{Document: d})
	var r ApplyResult
	remarshal(h.t, res, &r)
	return r
}

func remarshal(t testing.TB, in, out any) {
	t.Helper()
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatalf("marshal %T: %v", in, err)
	}
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatalf("unmarshal into %T: %v (%s)", out, err, b)
	}
}

func (h *harness) env(typ string, payload any) command.Envelope {
	h.seq++
	var raw json.RawMessage
	switch p := payload.(type) {
	case nil:
	case string:
		raw = json.RawMessage(p)
	case []byte:
		raw = p
	default:
		b, err := json.Marshal(p)
		if err != nil {
			h.t.Fatalf("payload: %v", err)
		}
		raw = b
	}
	return command.Envelope{Type: typ, Version: command.CurrentVersion, Time: h.now.UnixNano(), ID: fmt.Sprintf("cmd-%d", h.seq), Payload: raw}
}

// apply applies a command. A refusal must leave the state (hash)
// unchanged and emit nothing; after every command the invariants hold.
func (h *harness) apply(typ string, payload any) (any, error) {
	h.t.Helper()
	env := h.env(typ, payload)
	return h.applyEnv(env)
}

func (h *harness) applyEnv(env command.Envelope) (any, error) {
	h.t.Helper()
	before := ""
	if h.check {
		if h.hash == "" {
			h.hash = h.e.Hash()
		}
		before = h.hash
	}
	h.index++
	em := command.NewEmitter(h.index, env)
	res, err := h.e.Apply(env, em)
	h.log = append(h.log, env)
	h.events = em.Events()
	if err != nil {
		if len(h.events) != 0 {
			h.t.Fatalf("%s refused (%v) but emitted %d events", env.Type, err, len(h.events))
		}
		if h.check && h.e.Hash() != before {
			h.t.Fatalf("%s refused (%v) but changed the state", env.Type, err)
		}
	} else {
		h.hash = ""
		h.all = append(h.all, h.events...)
	}
	if h.check {
		if cerr := h.e.Check(); cerr != nil {
			h.t.Fatalf("after %s %s: invariant violated: %v", env.Type, env.Payload, cerr)
		}
	}
	return res, err
}

func (h *harness) ok(typ string, payload any) any {
	h.t.Helper()
	res, err := h.apply(typ, payload)
	if err != nil {
		h.t.Fatalf("%s %v: %v", typ, payload, err)
	}
	return res
}

// fail applies a command that must be refused with the sentinel (or, for
// nil, any *FieldError) and returns the error.
func (h *harness) fail(typ string, payload any, want error) error {
	h.t.Helper()
	_, err := h.apply(typ, payload)
	if err == nil {
		h.t.Fatalf("%s %v: accepted, want refusal %v", typ, payload, want)
	}
	if want == nil {
		var fe *FieldError
		if !errors.As(err, &fe) {
			h.t.Fatalf("%s %v: %v, want a field error", typ, payload, err)
		}
	} else if !errors.Is(err, want) {
		h.t.Fatalf("%s %v: %v, want %v", typ, payload, err, want)
	}
	return err
}

func (h *harness) advance(d time.Duration) { h.now = h.now.Add(d) }

func (h *harness) tick() TickResult {
	h.t.Helper()
	var r TickResult
	remarshal(h.t, h.ok(TypeClockTick, nil), &r)
	return r
}

// at advances the clock by d and ticks.
func (h *harness) at(d time.Duration) TickResult {
	h.advance(d)
	return h.tick()
}

func (h *harness) types() []string {
	var out []string
	for _, ev := range h.events {
		out = append(out, ev.Type)
	}
	return out
}

func (h *harness) hasEvent(typ string) bool {
	for _, ev := range h.events {
		if ev.Type == typ {
			return true
		}
	}
	return false
}

// event decodes the last command's first event of type typ.
func (h *harness) event(typ string, out any) {
	h.t.Helper()
	for _, ev := range h.events {
		if ev.Type == typ {
			if err := json.Unmarshal(ev.Data, out); err != nil {
				h.t.Fatalf("event %s: %v", typ, err)
			}
			return
		}
	}
	h.t.Fatalf("no %s event among %v", typ, h.types())
}

func (h *harness) agent(id string) AgentState {
	h.t.Helper()
	var a AgentState
	h.e.View(func(s *State) {
		x, ok := s.Agents[id]
		if !ok {
			h.t.Fatalf("no agent %s", id)
		}
		a = *x
	})
	return a
}

func (h *harness) call(id string) (Call, bool) {
	var c Call
	var ok bool
	h.e.View(func(s *State) {
		var x *Call
		x, ok = s.Calls[id]
		if ok {
			c = *x
		}
	})
	return c, ok
}

func (h *harness) mustCall(id string) Call {
	h.t.Helper()
	c, ok := h.call(id)
	if !ok {
		h.t.Fatalf("call %s has ended", id)
	}
	return c
}

func (h *harness) place(id string) string {
	c, ok := h.call(id)
	if !ok {
		return "ended"
	}
	if c.Kind != "" {
		return c.Place + ":" + c.Kind
	}
	return c.Place
}

func (h *harness) wantPlace(id, want string) {
	h.t.Helper()
	if got := h.place(id); got != want {
		h.t.Fatalf("call %s is %s, want %s", id, got, want)
	}
}

func (h *harness) wantState(agent, want string) {
	h.t.Helper()
	if got := h.agent(agent).State; got != want {
		h.t.Fatalf("agent %s is %s, want %s", agent, got, want)
	}
}

// connect logs agents in fully (two steps).
func (h *harness) connect(agents ...string) {
	h.t.Helper()
	for _, a := range agents {
		h.ok(TypeAgentLogin, AgentRequest{Agent: a})
		h.ok(TypeAgentLogin, AgentRequest{Agent: a})
	}
}

func (h *harness) incoming(call, queue string) {
	h.t.Helper()
	h.ok(TypeCallIncoming, IncomingRequest{Call: call, Queue: queue, Number: "+441615550" + fmt.Sprint(len(call))})
}

func (h *harness) offerOf(agent string) string { return h.agent(agent).Offer }

func (h *harness) answer(agent string) string {
	h.t.Helper()
	id := h.offerOf(agent)
	if id == "" {
		h.t.Fatalf("nothing rings on %s", agent)
	}
	h.ok(TypeCallAnswer, AgentCallRequest{Agent: agent})
	return id
}

func (h *harness) errContains(err error, want string) {
	h.t.Helper()
	if err == nil || !strings.Contains(err.Error(), want) {
		h.t.Fatalf("error %v does not mention %q", err, want)
	}
}

// restored is a new engine restored from e's snapshot.
func restored(t testing.TB, e *Engine) *Engine {
	t.Helper()
	snap, err := e.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	r := New()
	if err := r.Restore(snap); err != nil {
		t.Fatal(err)
	}
	return r
}
