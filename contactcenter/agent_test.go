package contactcenter

import (
	"errors"
	"reflect"
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
	// Not left unseen in the personal queue: a3 has no user (so no
	// forwarding), the call waits unattended in its supervision.
	h.wantPlace("p1", PlaceSupervised+":"+KindUnattended)
	h.ok(TypeCallHangup, HangupRequest{Agent: "a3"})
	h.wantPlace("p1", PlaceSupervised+":"+KindUnattended) // not offered while logged out
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

// A call waiting in a logged-out operator's personal queue never waits
// there unseen: the operator's user's forward (unconditional, calendar,
// not connected) takes it, else it waits unattended in supervision.
func TestLoggedOutPersonalQueueForward(t *testing.T) {
	cases := []struct {
		name      string
		fwd       *Forwarding // u1's (agent a1's user)
		place     string
		target    string
		condition string
	}{
		{"no forwarding: unattended", nil, PlaceSupervised + ":" + KindUnattended, "", ""},
		{"unconditional to a number", &Forwarding{Unconditional: ForwardRule{Number: "3002"}}, PlaceExtension, "3002", ForwardUnconditional},
		{"not connected to voicemail (phone registered, operator logged out)", &Forwarding{NotConnected: ForwardRule{Voicemail: true}}, PlaceExtension, "2001", ForwardNotConnected},
		{"calendar entry on now", &Forwarding{Calendar: []CalendarForward{{ID: "now", Start: t0.Add(-time.Hour), End: t0.Add(time.Hour), ForwardRule: ForwardRule{Number: "+44 161 5550000"}}}}, PlaceExtension, "+441615550000", ForwardCalendar},
		{"calendar entry later", &Forwarding{Calendar: []CalendarForward{{ID: "later", Start: t0.Add(5 * time.Hour), End: t0.Add(6 * time.Hour), ForwardRule: ForwardRule{Voicemail: true}}}}, PlaceSupervised + ":" + KindUnattended, "", ""},
		{"busy and no answer do not apply", &Forwarding{Busy: ForwardRule{Voicemail: true}, NoAnswer: ForwardRule{Number: "3002"}}, PlaceSupervised + ":" + KindUnattended, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, baseDoc)
			h.ok(TypePhoneRegistration, PhoneRegistrationRequest{Extension: "2001", Phone: "desk", Registered: true})
			if tc.fwd != nil {
				h.ok(TypeUserForwarding, ForwardingRequest{User: "u1", Forwarding: *tc.fwd})
			}
			h.connect("a1")
			h.ok(TypeCallIncoming, IncomingRequest{Call: "p1", Agent: "a1", Number: "+441615559999"})
			if h.offerOf("a1") != "p1" {
				t.Fatal("personal call not offered")
			}
			h.ok(TypeAgentLogout, AgentRequest{Agent: "a1"})
			h.ok(TypeAgentLogout, AgentRequest{Agent: "a1"}) // the offer is withdrawn into the personal queue, then released
			h.wantPlace("p1", tc.place)
			c := h.mustCall("p1")
			if tc.place == PlaceExtension {
				var ev ForwardedEvent
				h.event(EvCallForwarded, &ev)
				if c.Target != tc.target || c.State != CallRinging || ev.Condition != tc.condition || ev.Agent != "a1" || ev.User != "u1" || ev.Reason != "logout" {
					t.Fatalf("forwarded %+v, call %+v", ev, c)
				}
				if ev.Voicemail != (ev.Mailbox != "") || (!ev.Voicemail && ev.Number != tc.target) {
					t.Fatalf("forward destination %+v", ev)
				}
				// The far side answers and hangs up like any direct call.
				h.ok(TypeCallRemoteAnswer, CallRequest{Call: "p1"})
				h.ok(TypeCallRemoteHangup, RemoteHangupRequest{Call: "p1"})
				h.wantPlace("p1", "ended")
				return
			}
			var ev UnattendedEvent
			h.event(EvCallUnattended, &ev)
			if ev.Call != "p1" || ev.Agent != "a1" || ev.Number != "+441615559999" {
				t.Fatalf("unattended %+v", ev)
			}
			sup := h.e.Supervised("a2", true, "")
			if len(sup) != 1 || sup[0].Type != KindUnattended || sup[0].Owner != "a1" || sup[0].ReturnAt != 0 {
				t.Fatalf("not visible to all operators: %+v", sup)
			}
			// No timer moves it: it waits, seen, until someone takes it.
			h.at(time.Hour)
			h.wantPlace("p1", PlaceSupervised+":"+KindUnattended)
		})
	}
}

// Every way a call can come back to a logged-out operator ends the same
// way: no call waits in its personal queue.
func TestLoggedOutPersonalQueuePaths(t *testing.T) {
	cases := []struct {
		name  string
		run   func(h *harness)
		place string
	}{
		{"queue call goes back to its queue", func(h *harness) {
			h.incoming("q1", "sales")
			h.answer("a1")
			h.ok(TypeCallPark, ParkRequest{Agent: "a1"})
			h.ok(TypeAgentLogout, AgentRequest{Agent: "a1"})
			h.ok(TypeAgentLogout, AgentRequest{Agent: "a1"})
			h.at(3 * time.Minute) // auto-return
		}, PlaceQueue},
		{"auto-return of a dialled call", func(h *harness) {
			h.ok(TypeCallDial, DialRequest{Agent: "a1", Call: "q1", Number: "+44 161 5550000"})
			h.ok(TypeCallRemoteAnswer, CallRequest{Call: "q1"})
			h.ok(TypeCallPark, ParkRequest{Agent: "a1", Note: "for Bob"})
			h.ok(TypeAgentLogout, AgentRequest{Agent: "a1"})
			h.ok(TypeAgentLogout, AgentRequest{Agent: "a1"})
			r := h.at(3 * time.Minute)
			if r.Returned != 1 || !h.hasEvent(EvCallReturned) || !h.hasEvent(EvCallUnattended) {
				h.t.Fatalf("tick %+v: %v", r, h.types())
			}
		}, PlaceSupervised + ":" + KindUnattended},
		{"chain return", func(h *harness) {
			h.ok(TypeCallIncoming, IncomingRequest{Call: "q1", Agent: "a1"})
			h.answer("a1")
			h.ok(TypeCallTransfer, TransferRequest{Agent: "a1", Target: "3001", Chain: true})
			h.ok(TypeCallRemoteAnswer, CallRequest{Call: "q1"})
			h.ok(TypeAgentLogout, AgentRequest{Agent: "a1"})
			h.ok(TypeAgentLogout, AgentRequest{Agent: "a1"})
			h.ok(TypeCallRemoteHangup, RemoteHangupRequest{Call: "q1", Side: "target"})
		}, PlaceSupervised + ":" + KindUnattended},
		{"busy transfer target while the operator talks", func(h *harness) {
			h.ok(TypeCallIncoming, IncomingRequest{Call: "q1", Agent: "a1"})
			h.answer("a1")
			h.ok(TypeCallTransfer, TransferRequest{Agent: "a1", Target: "3001"})
			h.ok(TypeCallDial, DialRequest{Agent: "a1", Call: "d1", Number: "3002"})
			h.ok(TypeAgentLogout, AgentRequest{Agent: "a1"})
			h.ok(TypeAgentLogout, AgentRequest{Agent: "a1"})
			h.ok(TypeCallRemoteBusy, CallRequest{Call: "q1"})
		}, PlaceSupervised + ":" + KindUnattended},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, baseDoc)
			h.connect("a1")
			tc.run(h)
			h.wantState("a1", StateDisconnected)
			h.wantPlace("q1", tc.place)
		})
	}
}

// An unattended call may be taken by any operator; if nobody does, its
// operator gets it back on logging in, ahead of newer calls.
func TestUnattendedCallTakenOrReclaimed(t *testing.T) {
	h := newHarness(t, baseDoc)
	h.connect("a1", "a2")
	h.ok(TypeCallIncoming, IncomingRequest{Call: "p1", Agent: "a1"})
	h.answer("a1")
	h.ok(TypeCallIncoming, IncomingRequest{Call: "p2", Agent: "a1"})
	h.advance(time.Second)
	h.ok(TypeCallIncoming, IncomingRequest{Call: "p3", Agent: "a1"})
	h.ok(TypeAgentLogout, AgentRequest{Agent: "a1"})
	h.ok(TypeAgentLogout, AgentRequest{Agent: "a1"})
	h.wantPlace("p2", PlaceSupervised+":"+KindUnattended)
	h.wantPlace("p3", PlaceSupervised+":"+KindUnattended)
	// Another operator takes p3.
	h.ok(TypeCallRetrieve, RetrieveRequest{Agent: "a2", Call: "p3"})
	h.wantPlace("p3", PlaceLine)
	var rv RetrievedEvent
	h.event(EvCallRetrieved, &rv)
	if rv.Kind != KindUnattended || rv.From != "supervision" {
		t.Fatalf("retrieved %+v", rv)
	}
	// a1 cannot be removed while it owns an unattended call.
	var doc Document
	h.e.View(func(s *State) { doc = s.Config.Document() })
	var agents []Agent
	for _, a := range doc.Agents {
		if a.ID != "a1" {
			agents = append(agents, a)
		}
	}
	doc.Agents = agents
	h.fail(TypeConfigApply, ApplyRequest{Document: doc, Prune: true}, nil)
	// a1 logs in again: p2 comes back into its personal queue and rings.
	h.ok(TypeCallHangup, HangupRequest{Agent: "a1"}) // p1, still on its line
	h.ok(TypeAgentLogin, AgentRequest{Agent: "a1"})
	var q QueuedEvent
	h.event(EvCallQueued, &q)
	if q.Call != "p2" || q.Agent != "a1" || q.Reason != "login" {
		t.Fatalf("queued %+v", q)
	}
	if h.offerOf("a1") != "p2" {
		t.Fatalf("p2 not offered to a1 (%s)", h.place("p2"))
	}
}

// TestLoginTiedToPhone: once the voice edge has reported a phone of the
// operator's extension, log-in needs one of them registered, and the
// refusal is the spec's message and changes nothing (spec "Log-in is
// tied to the operator's phone").
func TestLoginTiedToPhone(t *testing.T) {
	h := newHarness(t, baseDoc)
	reg := func(ext, phone string, on bool) {
		h.ok(TypePhoneRegistration, PhoneRegistrationRequest{Extension: ext, Phone: phone, Registered: on})
	}
	// Never reported: unknown, not "not registered".
	h.ok(TypeAgentLogin, AgentRequest{Agent: "a1"})
	h.ok(TypeAgentLogout, AgentRequest{Agent: "a1"})

	reg("2001", "desk", true)
	reg("2001", "desk", false)
	err := h.fail(TypeAgentLogin, AgentRequest{Agent: "a1"}, ErrPhoneNotConnected)
	if err.Error() != "login: "+MsgPhoneNotConnected || MsgPhoneNotConnected != "your phone is not connected: check it or restart it" {
		t.Fatalf("message %q", err)
	}
	if a := h.agent("a1"); a.State != StateDisconnected {
		t.Fatalf("state after refusal %s", a.State)
	}
	// Another operator's phone does not help; its own does.
	reg("2002", "desk", true)
	h.fail(TypeAgentLogin, AgentRequest{Agent: "a1"}, ErrPhoneNotConnected)
	reg("2001", "desk", true)
	h.connect("a1")
	if a := h.agent("a1"); a.State != StateConnected {
		t.Fatalf("state %s", a.State)
	}
	// A phone lost while logged in does not log the operator out; the
	// next log-in from Disconnected is what is refused.
	reg("2001", "desk", false)
	h.ok(TypeAgentLogout, AgentRequest{Agent: "a1"})
	h.ok(TypeAgentLogin, AgentRequest{Agent: "a1"}) // Paused → Connected: not a log-in
	h.ok(TypeAgentLogout, AgentRequest{Agent: "a1"})
	h.ok(TypeAgentLogout, AgentRequest{Agent: "a1"})
	h.fail(TypeAgentLogin, AgentRequest{Agent: "a1"}, ErrPhoneNotConnected)
	// Of a multi-phone extension, any registered phone will do.
	h2 := newHarness(t, baseDoc+`  - {id: a5, extension: "3001", queues: [sales]}
`)
	h2.ok(TypePhoneRegistration, PhoneRegistrationRequest{Extension: "3001", Phone: "desk", Registered: false})
	h2.fail(TypeAgentLogin, AgentRequest{Agent: "a5"}, ErrPhoneNotConnected)
	h2.ok(TypePhoneRegistration, PhoneRegistrationRequest{Extension: "3001", Phone: "mob", Registered: true})
	h2.ok(TypeAgentLogin, AgentRequest{Agent: "a5"})
}

// TestPreferences: a user's console preferences are replaced whole,
// checked (form, bounds, enumerations) before anything changes, kept in
// the state (so in snapshots) and announced only with the user's name.
func TestPreferences(t *testing.T) {
	h := newHarness(t, baseDoc)
	if got, _, ok := h.e.UserPreferences("u1"); ok || !reflect.DeepEqual(got, Preferences{}) {
		t.Fatalf("before any: %+v %v", got, ok)
	}
	want := Preferences{Language: "es", TimeFormat: "cumulative", OnIncoming: "notify", RingTone: true, TextSize: "large",
		AutoFailover: true, FailoverGraceSeconds: 7, SupervisionGeneral: true,
		HiddenColumns: []string{"supervision.note", "queues.service_level"},
		Shortcuts: []Shortcut{{State: "connected", Key: "F4", Action: "hangup"}, {State: "paused", Key: "F4", Action: "login"},
			{State: "global", Key: "Ctrl+K", Action: "park"}},
		SpeedDialLineState: true, OwnSpeedDials: true,
		SpeedDials: []SpeedDial{{Label: "Desk", Label2: "Bob", Number: "3001", Colour: "purple", Page: 2, Position: 1}}}
	h.ok(TypeUserPreferences, PreferencesRequest{User: "u1", Preferences: want})
	var ev PreferencesEvent
	h.event(EvUserPreferences, &ev)
	if ev.User != "u1" || !reflect.DeepEqual(ev.Preferences, want) {
		t.Fatalf("event %+v", ev)
	}
	if got, _, _ := h.e.UserPreferences("u1"); !reflect.DeepEqual(got, want) {
		t.Fatalf("stored %+v", got)
	}
	if got, _, ok := h.e.UserPreferences("u2"); ok || !reflect.DeepEqual(got, Preferences{}) {
		t.Fatalf("another user's %+v", got)
	}
	// Through a snapshot, as a new member would get them.
	e2 := restored(t, h.e)
	if got, _, _ := e2.UserPreferences("u1"); !reflect.DeepEqual(got, want) {
		t.Fatalf("restored %+v", got)
	}

	for _, tc := range []struct {
		p     string
		field string
	}{
		{`{"language":"english"}`, "preferences.language"},
		{`{"time_format":"iso"}`, "preferences.time_format"},
		{`{"on_incoming":"shout"}`, "preferences.on_incoming"},
		{`{"text_size":"huge"}`, "preferences.text_size"},
		{`{"failover_grace_seconds":-1}`, "preferences.failover_grace_seconds"},
		{`{"failover_grace_seconds":601}`, "preferences.failover_grace_seconds"},
		{`{"failover_grace_seconds":"5"}`, "preferences.failover_grace_seconds"},
		{`{"hidden_columns":["note"]}`, "preferences.hidden_columns[0]"},
		{`{"hidden_columns":["a.b","a.b"]}`, "preferences.hidden_columns[1]"},
		{`{"shortcuts":[{"state":"busy","key":"F4","action":"hangup"}]}`, "preferences.shortcuts[0].state"},
		{`{"shortcuts":[{"state":"paused","key":"F13","action":"hangup"}]}`, "preferences.shortcuts[0].key"},
		{`{"shortcuts":[{"state":"paused","key":"F4","action":"Hang up"}]}`, "preferences.shortcuts[0].action"},
		{`{"shortcuts":[{"state":"paused","key":"F4","action":"a"},{"state":"paused","key":"F4","action":"b"}]}`, "preferences.shortcuts[1].key"},
		{`{"colour":"red"}`, "preferences.colour"},
	} {
		payload := `{"user":"u1","preferences":` + tc.p + `}`
		err := CheckPayload(TypeUserPreferences, []byte(payload))
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != tc.field {
			t.Errorf("CheckPayload %s: %v, want field %s", tc.p, err, tc.field)
		}
		h.fail(TypeUserPreferences, payload, nil) // Apply refuses it too, changing nothing
	}
	h.fail(TypeUserPreferences, PreferencesRequest{User: "nobody"}, ErrUnknownUser)
	if got, _, _ := h.e.UserPreferences("u1"); !reflect.DeepEqual(got, want) {
		t.Fatalf("after refusals %+v", got)
	}
}
