package contactcenter

import (
	"fmt"
	"reflect"
	"testing"
	"time"
)

// stratDoc: one queue q served by agents x1..x4 with various skills.
func stratDoc(strategy string) string {
	return fmt.Sprintf(`
queues:
  - {id: q, strategy: %s}
agents:
  - {id: x1, queues: [q], skills: {english: 2}}
  - {id: x2, queues: [q], skills: {english: 9, german: 3}}
  - {id: x3, queues: [q], skills: {english: 5}}
  - {id: x4, queues: [q]}
`, strategy)
}

func TestStrategies(t *testing.T) {
	cases := []struct {
		strategy string
		setup    func(h *harness)
		call     IncomingRequest
		want     []string // agents the call is offered to
	}{
		{"longest-idle", func(h *harness) {
			// Log in x3 first, then the others: x3 has been idle longest.
			h.connect("x3")
			h.advance(time.Second)
			h.connect("x1", "x2", "x4")
		}, IncomingRequest{}, []string{"x3"}},
		{"longest-idle", func(h *harness) {
			h.connect("x1", "x2", "x3", "x4")
			// x1 takes and ends a call: now idle for the shortest time.
			h.incoming("w", "q")
			h.answer("x1")
			h.advance(time.Second)
			h.ok(TypeCallHangup, HangupRequest{Agent: "x1"})
		}, IncomingRequest{}, []string{"x2"}},
		{"round-robin", func(h *harness) {
			h.connect("x1", "x2", "x3", "x4")
			for i := 0; i < 2; i++ { // x1 then x2 served
				id := fmt.Sprintf("w%d", i)
				h.incoming(id, "q")
				h.ok(TypeCallRemoteHangup, RemoteHangupRequest{Call: id})
			}
		}, IncomingRequest{}, []string{"x3"}},
		{"round-robin", func(h *harness) {
			h.connect("x1", "x2", "x3", "x4")
			for i := 0; i < 4; i++ { // wraps around to x1
				id := fmt.Sprintf("w%d", i)
				h.incoming(id, "q")
				h.ok(TypeCallRemoteHangup, RemoteHangupRequest{Call: id})
			}
		}, IncomingRequest{}, []string{"x1"}},
		{"ring-all", func(h *harness) {
			h.connect("x1", "x2", "x3", "x4")
		}, IncomingRequest{}, []string{"x1", "x2", "x3", "x4"}},
		{"ring-all", func(h *harness) {
			h.connect("x1", "x2", "x3", "x4")
		}, IncomingRequest{Skills: map[string]int{"english": 3}}, []string{"x2", "x3"}},
		{"fewest-calls", func(h *harness) {
			h.connect("x1", "x2", "x3", "x4")
			// x1, x2, x3 each answer a call; x4 has answered none.
			for _, a := range []string{"x1", "x2", "x3"} {
				h.ok(TypeAgentLogout, AgentRequest{Agent: "x4"})
				id := "w" + a
				h.incoming(id, "q")
				got := h.answer(a)
				if got != id {
					h.t.Fatalf("setup: %s got %s", a, got)
				}
				h.ok(TypeCallHangup, HangupRequest{Agent: a})
				h.ok(TypeAgentLogin, AgentRequest{Agent: "x4"})
			}
		}, IncomingRequest{}, []string{"x4"}},
		{"skills", func(h *harness) {
			h.connect("x1", "x2", "x3", "x4")
		}, IncomingRequest{Skills: map[string]int{"english": 1}}, []string{"x2"}},
		{"skills", func(h *harness) {
			h.connect("x1", "x3", "x4")
		}, IncomingRequest{Skills: map[string]int{"english": 1}}, []string{"x3"}},
		{"skills", func(h *harness) {
			h.connect("x1", "x3", "x4")
		}, IncomingRequest{Skills: map[string]int{"german": 1}}, nil},
	}
	for i, tc := range cases {
		t.Run(fmt.Sprintf("%d-%s", i, tc.strategy), func(t *testing.T) {
			h := newHarness(t, stratDoc(tc.strategy))
			tc.setup(h)
			h.advance(time.Second)
			req := tc.call
			req.Call, req.Queue = "c", "q"
			h.ok(TypeCallIncoming, req)
			c := h.mustCall("c")
			if len(tc.want) == 0 {
				if c.Place != PlaceQueue {
					t.Fatalf("call %s, want waiting (no eligible agent)", describe(&c))
				}
				return
			}
			if !reflect.DeepEqual(c.Offered, tc.want) {
				t.Fatalf("offered to %v, want %v", c.Offered, tc.want)
			}
		})
	}
}

func TestRingAllFirstAnswerWins(t *testing.T) {
	h := newHarness(t, stratDoc("ring-all"))
	h.connect("x1", "x2", "x3")
	h.incoming("c", "q")
	h.answer("x2")
	var w WithdrawnEvent
	h.event(EvCallOfferWithdrawn, &w)
	if !reflect.DeepEqual(w.Agents, []string{"x1", "x3"}) || w.Reason != "answered_elsewhere" {
		t.Fatalf("withdrawn %+v", w)
	}
	h.fail(TypeCallAnswer, AgentCallRequest{Agent: "x1"}, ErrNothingRinging)
	// Rejection by one of several leaves it ringing on the others.
	h.incoming("d", "q")
	h.ok(TypeCallReject, AgentCallRequest{Agent: "x1"})
	if c := h.mustCall("d"); !reflect.DeepEqual(c.Offered, []string{"x3"}) {
		t.Fatalf("after reject: %v", c.Offered)
	}
	// Ring-out on all puts it back in the queue, then it is offered again.
	h.at(15 * time.Second)
	if c := h.mustCall("d"); c.Place != PlaceRinging || !reflect.DeepEqual(c.Offered, []string{"x1", "x3"}) {
		t.Fatalf("after ring-out: %s %v", describe(&c), c.Offered)
	}
}

func TestCallerPriorityAndPosition(t *testing.T) {
	h := newHarness(t, baseDoc)
	for i, p := range []int{0, 0, 5, 0, 9} {
		h.advance(time.Second)
		h.ok(TypeCallIncoming, IncomingRequest{Call: fmt.Sprintf("c%d", i), Queue: "sales", Priority: p})
	}
	var order []string
	h.e.View(func(s *State) { order = append(order, s.Queues["sales"].Waiting.IDs()...) })
	if want := []string{"c4", "c2", "c0", "c1", "c3"}; !reflect.DeepEqual(order, want) {
		t.Fatalf("waiting order %v, want %v", order, want)
	}
	p, ok := h.e.CallPosition("c1")
	if !ok || p.Position != 4 || p.Waiting != 5 || p.ExpectedWaitSeconds != -1 {
		t.Fatalf("position %+v (no agent connected: unknown wait)", p)
	}
	h.connect("a2") // serves sales: takes the top-priority call
	if h.offerOf("a2") != "c4" {
		t.Fatalf("a2 offered %q, want c4", h.offerOf("a2"))
	}
	h.ok(TypeAgentPause, PauseRequest{Agent: "a2", Reason: "lunch"})
	h.connect("a4")
	p, _ = h.e.CallPosition("c1")
	// Position 2 after c4 (ringing) and c2 (ringing on a4): c0 first.
	if p.Position != 2 || p.ExpectedWaitSeconds != 2*DefaultHandleSeconds {
		t.Fatalf("position %+v", p)
	}
	p, _ = h.e.CallPosition("c4")
	if p.Position != 0 {
		t.Fatalf("ringing call position %+v", p)
	}
	if _, ok := h.e.CallPosition("nope"); ok {
		t.Fatal("position of an unknown call")
	}
}

func TestSkillsEligibilityAcrossQueues(t *testing.T) {
	h := newHarness(t, baseDoc)
	h.connect("a1", "a2")
	h.ok(TypeCallIncoming, IncomingRequest{Call: "fr", Queue: "sales", Skills: map[string]int{"french": 2}})
	if h.offerOf("a2") != "fr" {
		t.Fatalf("french call offered to %v", h.mustCall("fr").Offered)
	}
	h.ok(TypeCallIncoming, IncomingRequest{Call: "de", Queue: "sales", Skills: map[string]int{"german": 1}})
	h.wantPlace("de", PlaceQueue)
	// An agent becoming free takes the best call it is eligible for.
	h.ok(TypeCallIncoming, IncomingRequest{Call: "en", Queue: "sales", Skills: map[string]int{"english": 5}})
	if h.offerOf("a1") != "en" {
		t.Fatalf("english call: %s", describe(ptr(h.mustCall("en"))))
	}
	h.fail(TypeCallIncoming, IncomingRequest{Call: "x", Queue: "sales", Skills: map[string]int{"english": 11}}, nil)
}

func ptr(c Call) *Call { return &c }

func TestMissedAgentNotOfferedAgainWhileOthersFree(t *testing.T) {
	h := newHarness(t, stratDoc("longest-idle"))
	h.connect("x1")
	h.advance(time.Second)
	h.connect("x2")
	h.incoming("c", "q")
	if h.offerOf("x1") != "c" {
		t.Fatal("want x1 (longest idle)")
	}
	h.at(15 * time.Second)
	if h.offerOf("x2") != "c" {
		t.Fatalf("after x1 let it ring out: offered %v, want x2", h.mustCall("c").Offered)
	}
	h.ok(TypeCallReject, AgentCallRequest{Agent: "x2"})
	// Both missed it: the one idle longest gets it again.
	if o := h.mustCall("c").Offered; len(o) != 1 {
		t.Fatalf("offered %v", o)
	}
}

func TestQueueStatistics(t *testing.T) {
	h := newHarness(t, baseDoc)
	h.connect("a2")
	h.incoming("c1", "sales") // offered at once
	h.advance(5 * time.Second)
	h.answer("a2") // within the 20 s service level
	h.incoming("c2", "sales")
	h.incoming("c3", "sales")
	h.advance(30 * time.Second)
	h.ok(TypeCallRemoteHangup, RemoteHangupRequest{Call: "c3"}) // abandoned
	h.ok(TypeCallHangup, HangupRequest{Agent: "a2"})            // c1 done, c2 offered
	h.answer("a2")                                              // after 30 s: outside the service level
	v, ok := h.e.Queue("sales")
	if !ok {
		t.Fatal("no queue view")
	}
	if v.Entered != 3 || v.Answered != 2 || v.Abandoned != 1 || v.AnsweredInSL != 1 || v.Waiting != 0 {
		t.Fatalf("stats %+v", v)
	}
	if v.ServiceLevelPct < 33.3 || v.ServiceLevelPct > 33.4 {
		t.Fatalf("service level %.2f, want 33.3", v.ServiceLevelPct)
	}
	if v.MaxWaitMS != 30000 || v.Talked != 1 || v.TalkMS != 30000 {
		t.Fatalf("max wait %d talked %d talk %d", v.MaxWaitMS, v.Talked, v.TalkMS)
	}
	// Waiting, longest wait and colour levels.
	h.ok(TypeAgentLogout, AgentRequest{Agent: "a2"})
	for i := 0; i < 5; i++ {
		h.incoming(fmt.Sprintf("w%d", i), "sales")
		h.advance(time.Second)
	}
	h.tick()
	var qs QueueView
	h.event(EvQueueStats, &qs)
	if qs.Queue != "sales" || qs.Waiting != 5 || qs.Level != 3 || qs.LongestWaitMS != 5000 {
		t.Fatalf("queue.stats %+v", qs)
	}
	h.tick()
	if h.hasEvent(EvQueueStats) {
		t.Fatal("queue.stats repeated without a change")
	}
	for n, want := range map[int]int{0: 0, 1: 1, 2: 1, 3: 2, 4: 2, 5: 3, 40: 3} {
		if got := WaitingLevel(n); got != want {
			t.Errorf("WaitingLevel(%d) = %d, want %d", n, got, want)
		}
	}
}

func TestIncomingValidation(t *testing.T) {
	h := newHarness(t, baseDoc)
	cases := []struct {
		name string
		req  IncomingRequest
		want error
	}{
		{"no destination", IncomingRequest{Call: "c"}, nil},
		{"two destinations", IncomingRequest{Call: "c", Queue: "sales", Agent: "a1"}, nil},
		{"unknown queue", IncomingRequest{Call: "c", Queue: "nope"}, ErrUnknownQueue},
		{"unknown agent", IncomingRequest{Call: "c", Agent: "nope"}, ErrUnknownAgent},
		{"logged-out agent", IncomingRequest{Call: "c", Agent: "a1"}, ErrAgentState},
		{"unknown extension", IncomingRequest{Call: "c", Extension: "9999"}, ErrUnknownExtension},
		{"bad id", IncomingRequest{Call: "c c", Queue: "sales"}, nil},
		{"priority", IncomingRequest{Call: "c", Queue: "sales", Priority: 10}, nil},
		{"control char", IncomingRequest{Call: "c", Queue: "sales", Name: "a\x01"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h.t = t
			h.fail(TypeCallIncoming, tc.req, tc.want)
		})
	}
	h.t = t
	h.incoming("dup", "sales")
	h.fail(TypeCallIncoming, IncomingRequest{Call: "dup", Queue: "sales"}, nil)
}

func TestConfigChangesRespectRunningState(t *testing.T) {
	h := newHarness(t, baseDoc)
	h.connect("a3")
	d, _ := ParseDocument([]byte(`
queues: [{id: sales}, {id: support}]
agents:
  - {id: a1, queues: [sales]}
  - {id: a2, queues: [sales]}
  - {id: a4, queues: [sales]}
`))
	// Pruning a3 while it is logged in is refused.
	_, err := h.apply(TypeConfigApply, ApplyRequest{Document: d, Prune: true})
	if err == nil {
		t.Fatal("removing a logged-in agent accepted")
	}
	h.errContains(err, "a3")
	// A queue with calls waiting cannot be removed.
	h.ok(TypeAgentLogout, AgentRequest{Agent: "a3"})
	h.ok(TypeAgentLogout, AgentRequest{Agent: "a3"})
	h.incoming("c", "support")
	d2, _ := ParseDocument([]byte(baseDoc))
	d2.Queues = d2.Queues[:1]
	d2.Agents = []Agent{{ID: "a2", Queues: []string{"sales"}}}
	_, err = h.apply(TypeConfigApply, ApplyRequest{Document: d2, Prune: true})
	h.errContains(err, "support")
	// Adding a queue membership routes the waiting call at once.
	h.connect("a2")
	d3, _ := ParseDocument([]byte(`agents: [{id: a2, user: u2, extension: "2002", queues: [sales, support], skills: {english: 3, french: 4}}]`))
	h.ok(TypeConfigApply, ApplyRequest{Document: d3})
	if h.offerOf("a2") != "c" {
		t.Fatal("call not routed after the agent joined the queue")
	}
}
