package contactcenter

import (
	"testing"
	"time"
)

func TestAgentLoginLogoutSteps(t *testing.T) {
	type step struct {
		cmd      string
		want     string // state after, or "" when refused
		loggedIn int
	}
	cases := []struct {
		name  string
		steps []step
	}{
		{"two-step log-in", []step{
			{TypeAgentLogin, StatePaused, 1},
			{TypeAgentLogin, StateConnected, 1},
			{TypeAgentLogin, "", 1},
		}},
		{"two-step log-out", []step{
			{TypeAgentLogin, StatePaused, 1},
			{TypeAgentLogin, StateConnected, 1},
			{TypeAgentLogout, StatePaused, 1},
			{TypeAgentLogout, StateDisconnected, 0},
			{TypeAgentLogout, "", 0},
		}},
		{"log-out while paused", []step{
			{TypeAgentLogin, StatePaused, 1},
			{TypeAgentLogout, StateDisconnected, 0},
		}},
		{"log-out when logged out", []step{
			{TypeAgentLogout, "", 0},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, baseDoc)
			for i, s := range tc.steps {
				if s.want == "" {
					h.fail(s.cmd, AgentRequest{Agent: "a1"}, ErrAgentState)
				} else {
					var r AgentResult
					remarshal(t, h.ok(s.cmd, AgentRequest{Agent: "a1"}), &r)
					if r.State != s.want {
						t.Fatalf("step %d %s: state %s, want %s", i, s.cmd, r.State, s.want)
					}
					var ev AgentStateEvent
					h.event(EvAgentStateChanged, &ev)
					if ev.State != s.want || ev.LoggedIn != s.loggedIn {
						t.Fatalf("step %d: event %+v, want state %s logged_in %d", i, ev, s.want, s.loggedIn)
					}
				}
				var n int
				h.e.View(func(st *State) { n = st.LoggedIn() })
				if n != s.loggedIn {
					t.Fatalf("step %d: logged in %d, want %d", i, n, s.loggedIn)
				}
			}
		})
	}
}

func TestAgentUnknownAndBadPayload(t *testing.T) {
	h := newHarness(t, baseDoc)
	err := h.fail(TypeAgentLogin, AgentRequest{Agent: "nobody"}, ErrUnknownAgent)
	h.errContains(err, `"nobody"`)
	h.fail(TypeAgentLogin, AgentRequest{}, nil)
	h.fail(TypeAgentLogin, `{"agent":"a1","colour":"blue"}`, nil)
	h.fail(TypeAgentLogin, `{"agent":5}`, nil)
	h.fail(TypeAgentLogin, nil, nil)
	h.fail(TypeAgentLogin, `{"agent":"a1"} {}`, nil)
	if _, err := h.apply("agent.dance", AgentRequest{Agent: "a1"}); err == nil {
		t.Fatal("unknown command type accepted")
	}
}

// The table of the spec: which calls reach an agent in each state.
func TestAgentStatesAndCalls(t *testing.T) {
	cases := []struct {
		name              string
		logins            int
		general, personal bool
	}{
		{"disconnected", 0, false, false},
		{"paused", 1, false, true},
		{"connected", 2, true, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, baseDoc)
			for i := 0; i < tc.logins; i++ {
				h.ok(TypeAgentLogin, AgentRequest{Agent: "a3"})
			}
			h.incoming("g1", "support")
			if got := h.offerOf("a3") == "g1"; got != tc.general {
				t.Fatalf("general call offered: %v, want %v", got, tc.general)
			}
			if tc.general {
				h.ok(TypeCallReject, AgentCallRequest{Agent: "a3"}) // back to the queue, re-offered (only agent)
				h.ok(TypeCallRemoteHangup, RemoteHangupRequest{Call: "g1"})
			}
			_, err := h.apply(TypeCallIncoming, IncomingRequest{Call: "p1", Agent: "a3", Number: "2001"})
			if !tc.personal {
				if err == nil {
					t.Fatal("personal call accepted for a logged-out agent")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if h.offerOf("a3") != "p1" {
				t.Fatalf("personal call not offered: %+v", h.agent("a3"))
			}
		})
	}
}

func TestPauseReasons(t *testing.T) {
	h := newHarness(t, baseDoc)
	h.fail(TypeAgentPause, PauseRequest{Agent: "a1", Reason: "lunch"}, ErrAgentState)
	h.connect("a1")
	h.ok(TypeAgentPause, PauseRequest{Agent: "a1", Reason: "lunch"})
	a := h.agent("a1")
	if a.State != StatePaused || a.Reason != "lunch" {
		t.Fatalf("after pause: %s %q", a.State, a.Reason)
	}
	h.fail(TypeAgentPause, PauseRequest{Agent: "a1", Reason: "nap"}, nil)
	h.ok(TypeAgentPause, PauseRequest{Agent: "a1", Reason: "training"})
	if h.agent("a1").Reason != "training" {
		t.Fatal("reason not changed while paused")
	}
	h.ok(TypeAgentLogin, AgentRequest{Agent: "a1"})
	if a := h.agent("a1"); a.State != StateConnected || a.Reason != "" {
		t.Fatalf("resume: %s %q", a.State, a.Reason)
	}
	// System codes cannot be configured.
	d, _ := ParseDocument([]byte("pause_reasons: [{code: no-answer}]"))
	h.fail(TypeConfigApply, ApplyRequest{Document: d}, nil)
}

func TestCloseWarnsThenRemovesPhone(t *testing.T) {
	h := newHarness(t, baseDoc)
	h.ok(TypeAgentClose, CloseRequest{Agent: "a3"}) // logged out: closes quietly
	h.connect("a3")
	h.incoming("c1", "support")
	if h.offerOf("a3") != "c1" {
		t.Fatal("not offered")
	}
	err := h.fail(TypeAgentClose, CloseRequest{Agent: "a3"}, ErrStillLoggedIn)
	h.errContains(err, "confirm")
	h.ok(TypeAgentClose, CloseRequest{Agent: "a3", Confirm: true})
	h.wantState("a3", StateDisconnected)
	h.wantPlace("c1", PlaceQueue)
	if !h.hasEvent(EvCallOfferWithdrawn) {
		t.Fatalf("no withdrawal: %v", h.types())
	}
}

func TestLogoutKeepsConversationAndReturnsPersonalCalls(t *testing.T) {
	h := newHarness(t, baseDoc)
	h.connect("a3")
	h.incoming("c1", "support")
	h.answer("a3")
	// A personal call waiting while a3 talks; one from the queue (via
	// transfer-busy) would go back there; a direct one stays.
	h.ok(TypeCallIncoming, IncomingRequest{Call: "p1", Agent: "a3"})
	h.ok(TypeAgentLogout, AgentRequest{Agent: "a3"})
	h.ok(TypeAgentLogout, AgentRequest{Agent: "a3"})
	h.wantState("a3", StateDisconnected)
	h.wantPlace("c1", PlaceLine) // finishes its current call
	h.wantPlace("p1", PlacePersonal)
	h.ok(TypeCallHangup, HangupRequest{Agent: "a3"})
	h.wantPlace("p1", PlacePersonal) // not offered while logged out
	h.ok(TypeAgentLogin, AgentRequest{Agent: "a3"})
	if h.offerOf("a3") != "p1" {
		t.Fatal("personal call not offered after logging in again (paused)")
	}
}

func TestWrapUp(t *testing.T) {
	h := newHarness(t, baseDoc)
	h.connect("a4")
	h.incoming("c1", "sales")
	h.answer("a4")
	h.advance(30 * time.Second)
	h.ok(TypeCallHangup, HangupRequest{Agent: "a4"})
	if !h.hasEvent(EvAgentWrapUp) {
		t.Fatalf("no wrap-up: %v", h.types())
	}
	h.incoming("c2", "sales")
	h.wantPlace("c2", PlaceQueue)
	h.at(9 * time.Second)
	h.wantPlace("c2", PlaceQueue)
	r := h.at(time.Second)
	if r.WrapUpsEnded != 1 || h.offerOf("a4") != "c2" {
		t.Fatalf("after wrap-up: %+v, offer %q", r, h.offerOf("a4"))
	}
	// Ending wrap-up early.
	h.answer("a4")
	h.ok(TypeCallHangup, HangupRequest{Agent: "a4"})
	h.fail(TypeAgentWrapUpEnd, AgentRequest{Agent: "a1"}, ErrAgentState)
	h.incoming("c3", "sales")
	h.ok(TypeAgentWrapUpEnd, AgentRequest{Agent: "a4"})
	if h.offerOf("a4") != "c3" {
		t.Fatal("not offered after ending wrap-up")
	}
}

func TestAutoPauseAfterUnansweredOffers(t *testing.T) {
	h := newHarness(t, baseDoc)
	h.connect("a4") // max_no_answer: 2
	h.incoming("c1", "sales")
	h.at(15 * time.Second) // rings out, offered again (only agent)
	if h.offerOf("a4") != "c1" || h.agent("a4").NoAnswer != 1 {
		t.Fatalf("after first ring-out: %+v", h.agent("a4"))
	}
	if !h.hasEvent(EvCallNoAnswer) {
		t.Fatalf("no call.no_answer: %v", h.types())
	}
	h.at(15 * time.Second)
	a := h.agent("a4")
	if a.State != StatePaused || a.Reason != ReasonNoAnswer || a.Offer != "" {
		t.Fatalf("after second ring-out: %s %q offer %q", a.State, a.Reason, a.Offer)
	}
	var ev AgentStateEvent
	h.event(EvAgentStateChanged, &ev)
	if !ev.Auto || ev.Reason != ReasonNoAnswer {
		t.Fatalf("state event %+v", ev)
	}
	h.wantPlace("c1", PlaceQueue)
	// Another agent gets it; answering resets the count.
	h.connect("a2")
	if h.offerOf("a2") != "c1" {
		t.Fatal("not offered to a2")
	}
	h.ok(TypeAgentLogin, AgentRequest{Agent: "a4"})
	h.incoming("c2", "sales")
	h.at(15 * time.Second)
	h.answer("a4")
	if h.agent("a4").NoAnswer != 0 {
		t.Fatal("answer did not reset the unanswered count")
	}
}
