package contactcenter

import (
	"strings"
	"testing"
)

// Regression: a blind transfer whose target is busy while the
// transferring operator is logged out used to put the caller on hold on
// that operator's free line 1 — on a disconnected agent, where nobody
// would ever retrieve it (invariant 6 now catches that). The caller must
// go where someone serves it, by the logged-out personal-queue rule:
// back to its general queue, else the user's forward, else unattended.
func TestTransferBusyAfterLogoutIsNotStranded(t *testing.T) {
	logout := func(h *harness) {
		h.ok(TypeAgentLogout, AgentRequest{Agent: "a1"})
		h.ok(TypeAgentLogout, AgentRequest{Agent: "a1"})
		h.wantState("a1", StateDisconnected)
	}
	transfer := func(chain bool) func(h *harness) {
		return func(h *harness) {
			h.ok(TypeCallTransfer, TransferRequest{Agent: "a1", Target: "3001", Chain: chain})
		}
	}
	busy := func(h *harness) { h.ok(TypeCallRemoteBusy, CallRequest{Call: "c"}) }
	declined := func(h *harness) { h.ok(TypeCallRemoteHangup, RemoteHangupRequest{Call: "c", Side: "target"}) }
	cases := []struct {
		name string
		// queue: the call comes through the sales queue, else it is a
		// direct personal call to a1.
		queue bool
		fwd   *Forwarding // u1's (a1's user)
		steps []func(h *harness)
		place string
	}{
		{"logs out while the transfer rings; queue call", true, nil, []func(*harness){transfer(false), logout, busy}, PlaceQueue},
		{"logged out before transferring; queue call", true, nil, []func(*harness){logout, transfer(false), busy}, PlaceQueue},
		{"logs out while the transfer rings; personal call", false, nil, []func(*harness){transfer(false), logout, busy}, PlaceSupervised + ":" + KindUnattended},
		{"logged out before transferring; personal call", false, nil, []func(*harness){logout, transfer(false), busy}, PlaceSupervised + ":" + KindUnattended},
		{"personal call, user forwards", false, &Forwarding{Unconditional: ForwardRule{Number: "3002"}}, []func(*harness){logout, transfer(false), busy}, PlaceExtension},
		{"target declines", true, nil, []func(*harness){transfer(false), logout, declined}, PlaceQueue},
		{"chain target busy", false, nil, []func(*harness){logout, transfer(true), busy}, PlaceSupervised + ":" + KindUnattended},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, baseDoc)
			if tc.fwd != nil {
				h.ok(TypeUserForwarding, ForwardingRequest{User: "u1", Forwarding: *tc.fwd})
			}
			h.connect("a1")
			if tc.queue {
				h.incoming("c", "sales")
			} else {
				h.ok(TypeCallIncoming, IncomingRequest{Call: "c", Agent: "a1"})
			}
			h.answer("a1")
			for _, step := range tc.steps {
				step(h) // h checks every invariant after each command
			}
			h.wantPlace("c", tc.place)
			var ev TransferEvent
			h.event(EvCallTransferBusy, &ev)
			if ev.To != "personal" || ev.Agent != "a1" || ev.Target != "3001" {
				t.Fatalf("transfer_busy %+v, want to the personal queue (then moved on)", ev)
			}
			if a := h.agent("a1"); a.Line1 != "" || len(a.Personal) != 0 {
				t.Fatalf("a1 keeps line 1 %q, personal %v", a.Line1, a.Personal)
			}
		})
	}
}

// The other ways a call was left on hold on a logged-out operator's line
// (found by invariant 6 in the randomized test): the operator logs out or
// closes the console with a call on hold, or a consultation on line 2
// ends after the log-out and leaves the caller held alone on line 1. Each
// time the caller moves on by the logged-out personal-queue rule; a
// cancelled consultation instead resumes the conversation (the operator
// is talking to the caller again, nothing waits).
func TestHeldCallOfLoggedOutOperatorMovesOn(t *testing.T) {
	logout := func(h *harness) {
		h.ok(TypeAgentLogout, AgentRequest{Agent: "a1"})
		h.ok(TypeAgentLogout, AgentRequest{Agent: "a1"})
	}
	hold := func(h *harness) { h.ok(TypeCallHold, AgentCallRequest{Agent: "a1"}) }
	consult := func(h *harness) {
		h.ok(TypeCallConsult, ConsultRequest{Agent: "a1", Call: "k", Target: "3001"})
	}
	cases := []struct {
		name  string
		queue bool // c came through sales, else a direct personal call
		steps []func(h *harness)
		place string
	}{
		{"logs out with a call on hold", true, []func(*harness){hold, logout}, PlaceQueue},
		{"logs out with a personal call on hold", false, []func(*harness){hold, logout}, PlaceSupervised + ":" + KindUnattended},
		{"closes the console with a call on hold", true, []func(*harness){hold, func(h *harness) {
			h.ok(TypeAgentClose, CloseRequest{Agent: "a1", Confirm: true})
		}}, PlaceQueue},
		{"hangs up the consultation after logging out", true, []func(*harness){consult, logout, func(h *harness) {
			h.ok(TypeCallHangup, HangupRequest{Agent: "a1", Line: 2})
		}}, PlaceQueue},
		{"consulted party hangs up after the log-out", false, []func(*harness){consult, logout, func(h *harness) {
			h.ok(TypeCallRemoteAnswer, CallRequest{Call: "k"})
			h.ok(TypeCallRemoteHangup, RemoteHangupRequest{Call: "k"})
		}}, PlaceSupervised + ":" + KindUnattended},
		{"consultation busy, ended after the log-out", true, []func(*harness){consult, func(h *harness) {
			h.ok(TypeCallRemoteBusy, CallRequest{Call: "k"})
		}, logout, func(h *harness) { h.ok(TypeCallHangup, HangupRequest{Agent: "a1"}) }}, PlaceQueue},
		{"consultation cancelled after the log-out", true, []func(*harness){consult, logout, func(h *harness) {
			h.ok(TypeCallCancelConsult, AgentCallRequest{Agent: "a1"})
		}}, PlaceLine},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, baseDoc)
			h.connect("a1")
			if tc.queue {
				h.incoming("c", "sales")
			} else {
				h.ok(TypeCallIncoming, IncomingRequest{Call: "c", Agent: "a1"})
			}
			h.answer("a1")
			for _, step := range tc.steps {
				step(h) // h checks every invariant after each command
			}
			h.wantState("a1", StateDisconnected)
			h.wantPlace("c", tc.place)
			if tc.place == PlaceLine {
				if c := h.mustCall("c"); c.State != CallTalking || c.Agent != "a1" {
					t.Fatalf("c %s on %s", describe(&c), c.Agent)
				}
			}
		})
	}
}

// A logged-out operator finishing a call may not put it on hold: it would
// wait for nobody. Transfer and park still work.
func TestHoldRefusedWhileLoggedOut(t *testing.T) {
	h := newHarness(t, baseDoc)
	h.connect("a1")
	h.incoming("c", "sales")
	h.answer("a1")
	h.ok(TypeAgentLogout, AgentRequest{Agent: "a1"})
	h.ok(TypeCallHold, AgentCallRequest{Agent: "a1"}) // paused: still logged in
	h.ok(TypeCallRetrieve, RetrieveRequest{Agent: "a1"})
	h.ok(TypeAgentLogout, AgentRequest{Agent: "a1"})
	err := h.fail(TypeCallHold, AgentCallRequest{Agent: "a1"}, ErrAgentState)
	h.errContains(err, "logged out")
	// Nor does the CTI offer it.
	list, _ := h.e.ActiveCalls("a1")
	if len(list) != 1 || strings.Contains(strings.Join(list[0].Operations, " "), TypeCallHold) {
		t.Fatalf("active calls %+v", list)
	}
	h.ok(TypeCallPark, ParkRequest{Agent: "a1"})
	h.wantPlace("c", PlaceSupervised+":"+KindPark)
}

// Invariant 6 tells a call someone will serve from a stranded one: held
// on a logged-out operator's line it is stranded, unless that operator is
// consulting on line 2 (it comes back to the caller from there).
func TestCheckCatchesStrandedCall(t *testing.T) {
	cases := []struct {
		name    string
		consult bool
		want    string // "" for no violation
	}{
		{"held alone", false, "call c is stranded: held on line 1 of a1"},
		{"held during a consultation", true, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := talking(t, "c")
			if tc.consult {
				h.ok(TypeCallConsult, ConsultRequest{Agent: "a1", Call: "k", Target: "3001"})
			}
			h.ok(TypeAgentLogout, AgentRequest{Agent: "a1"})
			h.ok(TypeAgentLogout, AgentRequest{Agent: "a1"}) // c goes on, in conversation
			h.e.mu.Lock()
			h.e.st.Calls["c"].State = CallHeld // as the old transfer-busy rule left it
			h.e.mu.Unlock()
			err := h.e.Check()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("healthy engine: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("Check() = %v, want %q", err, tc.want)
			}
		})
	}
}
