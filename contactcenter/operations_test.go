package contactcenter

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

// talking sets up agent a1 (Connected) in conversation with call id from
// the sales queue.
func talking(t *testing.T, id string) *harness {
	h := newHarness(t, baseDoc)
	h.connect("a1")
	h.incoming(id, "sales")
	h.answer("a1")
	return h
}

func TestAnswer(t *testing.T) {
	h := newHarness(t, baseDoc)
	h.connect("a1")
	err := h.fail(TypeCallAnswer, AgentCallRequest{Agent: "a1"}, ErrNothingRinging)
	if err.Error() != `answer: nothing is ringing on agent "a1"` {
		t.Fatalf("message %q", err)
	}
	h.incoming("c1", "sales")
	var off OfferedEvent
	h.event(EvCallOffered, &off)
	if !reflect.DeepEqual(off.Agents, []string{"a1"}) || off.Queue != "sales" || off.RingUntil != h.now.Add(15*time.Second).UnixNano() {
		t.Fatalf("offered %+v", off)
	}
	h.advance(3 * time.Second)
	h.ok(TypeCallAnswer, AgentCallRequest{Agent: "a1"})
	var ans AnsweredEvent
	h.event(EvCallAnswered, &ans)
	if ans.Call != "c1" || ans.WaitMS != 3000 || ans.Queue != "sales" {
		t.Fatalf("answered %+v", ans)
	}
	a := h.agent("a1")
	if a.Line1 != "c1" || a.Offer != "" {
		t.Fatalf("agent %+v", a)
	}
	// Busy now: a new call waits.
	h.incoming("c2", "sales")
	h.wantPlace("c2", PlaceQueue)
}

func TestHangup(t *testing.T) {
	cases := []struct {
		name   string
		setup  func(h *harness)
		req    HangupRequest
		want   error
		result HangupResult
	}{
		{"idle phone reset", func(h *harness) {}, HangupRequest{Agent: "a1"}, nil, HangupResult{Agent: "a1", Reset: true}},
		{"ringing: rejects", func(h *harness) { h.incoming("c", "sales") }, HangupRequest{Agent: "a1"}, nil, HangupResult{Agent: "a1", Rejected: "c"}},
		{"line 1", func(h *harness) { h.incoming("c", "sales"); h.answer("a1") }, HangupRequest{Agent: "a1"}, nil, HangupResult{Agent: "a1", Ended: "c"}},
		{"line 2 when none", func(h *harness) { h.incoming("c", "sales"); h.answer("a1") }, HangupRequest{Agent: "a1", Line: 2}, ErrNoConsult, HangupResult{}},
		{"line 1 when none", func(h *harness) {}, HangupRequest{Agent: "a1", Line: 1}, ErrNoCall, HangupResult{}},
		{"bad line", func(h *harness) {}, HangupRequest{Agent: "a1", Line: 3}, nil, HangupResult{}},
		{"consultation first", func(h *harness) {
			h.incoming("c", "sales")
			h.answer("a1")
			h.ok(TypeCallConsult, ConsultRequest{Agent: "a1", Call: "k", Target: "3001"})
		}, HangupRequest{Agent: "a1"}, nil, HangupResult{Agent: "a1", Ended: "k"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, baseDoc)
			h.connect("a1")
			tc.setup(h)
			if tc.want != nil || tc.result.Agent == "" {
				h.fail(TypeCallHangup, tc.req, tc.want)
				return
			}
			var r HangupResult
			remarshal(t, h.ok(TypeCallHangup, tc.req), &r)
			if r != tc.result {
				t.Fatalf("result %+v, want %+v", r, tc.result)
			}
			if tc.result.Reset && !h.hasEvent(EvAgentPhoneReset) {
				t.Fatalf("no phone reset event: %v", h.types())
			}
		})
	}
	// After hanging up line 2, the caller is still held on line 1.
	h := talking(t, "c")
	h.ok(TypeCallConsult, ConsultRequest{Agent: "a1", Call: "k", Target: "3001"})
	h.ok(TypeCallHangup, HangupRequest{Agent: "a1"})
	if c := h.mustCall("c"); c.Place != PlaceLine || c.State != CallHeld {
		t.Fatalf("caller %s", describe(&c))
	}
	// Hanging up the held caller during a consultation leaves line 2's
	// call as the current call on line 1.
	h.ok(TypeCallConsult, ConsultRequest{Agent: "a1", Call: "k2", Target: "3001"})
	h.ok(TypeCallHangup, HangupRequest{Agent: "a1", Line: 1})
	if a := h.agent("a1"); a.Line1 != "k2" || a.Line2 != "" {
		t.Fatalf("lines %q %q", a.Line1, a.Line2)
	}
}

func TestDial(t *testing.T) {
	h := newHarness(t, baseDoc)
	h.fail(TypeCallDial, DialRequest{Agent: "a1", Call: "d", Number: "44-161"}, nil)
	h.fail(TypeCallDial, DialRequest{Agent: "a1", Call: "d", Number: ""}, nil)
	h.ok(TypeCallDial, DialRequest{Agent: "a1", Call: "d", Number: "+44 (161) 5527789"})
	c := h.mustCall("d")
	if c.Number != "+441615527789" || c.State != CallDialing || c.Direction != DirOutbound {
		t.Fatalf("dialled %+v", c)
	}
	h.fail(TypeCallDial, DialRequest{Agent: "a1", Call: "d2", Number: "3001"}, ErrLineBusy)
	h.ok(TypeCallRemoteAnswer, CallRequest{Call: "d"})
	if h.mustCall("d").State != CallTalking {
		t.Fatal("not talking after remote answer")
	}
	h.fail(TypeCallRemoteAnswer, CallRequest{Call: "d"}, ErrNotOutgoing)
	h.ok(TypeCallHangup, HangupRequest{Agent: "a1"})
	h.wantPlace("d", "ended")
	// Busy ends a dial.
	h.ok(TypeCallDial, DialRequest{Agent: "a1", Call: "d3", Number: "3001"})
	if h.mustCall("d3").Direction != DirInternal {
		t.Fatal("3001 is internal")
	}
	h.ok(TypeCallRemoteBusy, CallRequest{Call: "d3"})
	h.wantPlace("d3", "ended")
	var ended CallEndedEvent
	h.event(EvCallEnded, &ended)
	if ended.Reason != "busy" {
		t.Fatalf("ended %+v", ended)
	}
	// Dialling while a call rings is refused.
	h.connect("a1")
	h.incoming("c", "sales")
	h.fail(TypeCallDial, DialRequest{Agent: "a1", Call: "d4", Number: "3001"}, ErrLineBusy)
	v, _ := h.e.History("a1", false)
	if v.Trend.Made != 2 {
		t.Fatalf("trend %+v", v.Trend)
	}
}

func TestHoldRetrieve(t *testing.T) {
	h := talking(t, "c")
	h.fail(TypeCallRetrieve, RetrieveRequest{Agent: "a1"}, ErrNotHeld)
	h.ok(TypeCallHold, AgentCallRequest{Agent: "a1"})
	h.fail(TypeCallHold, AgentCallRequest{Agent: "a1"}, ErrNotTalking)
	if h.mustCall("c").State != CallHeld {
		t.Fatal("not held")
	}
	// Held: the agent is still busy; no new call is offered.
	h.incoming("c2", "sales")
	h.wantPlace("c2", PlaceQueue)
	h.ok(TypeCallRetrieve, RetrieveRequest{Agent: "a1"})
	if h.mustCall("c").State != CallTalking {
		t.Fatal("not retrieved")
	}
	h.fail(TypeCallHold, AgentCallRequest{Agent: "a2"}, ErrNoCall)
}

func TestBlindTransfer(t *testing.T) {
	t.Run("answered leaves supervision", func(t *testing.T) {
		h := talking(t, "c")
		h.ok(TypeCallTransfer, TransferRequest{Agent: "a1", Target: "3001"})
		h.wantPlace("c", "supervised:T")
		if s := h.e.Supervised("a1", false, ""); len(s) != 1 || s[0].Target != "3001" || s[0].Type != "T" {
			t.Fatalf("supervised %+v", s)
		}
		h.ok(TypeCallRemoteAnswer, CallRequest{Call: "c"})
		h.wantPlace("c", PlaceExtension)
		if s := h.e.Supervised("a1", true, ""); len(s) != 0 {
			t.Fatalf("still supervised %+v", s)
		}
		if st, _ := h.e.LineStatus("3001"); st != LineBusyExternal {
			t.Fatalf("3001 line %s", st)
		}
		h.ok(TypeCallRemoteHangup, RemoteHangupRequest{Call: "c", Side: "target"})
		h.wantPlace("c", "ended")
	})
	t.Run("busy: held with the operator", func(t *testing.T) {
		h := talking(t, "c")
		h.ok(TypeCallTransfer, TransferRequest{Agent: "a1", Target: "3001"})
		h.ok(TypeCallRemoteBusy, CallRequest{Call: "c"})
		c := h.mustCall("c")
		if c.Place != PlaceLine || c.State != CallHeld || h.agent("a1").Line1 != "c" {
			t.Fatalf("after busy: %s", describe(&c))
		}
		var ev TransferEvent
		h.event(EvCallTransferBusy, &ev)
		if ev.To != "hold" || ev.Target != "3001" {
			t.Fatalf("event %+v", ev)
		}
	})
	t.Run("busy while the operator is on another call: personal queue", func(t *testing.T) {
		h := talking(t, "c")
		h.ok(TypeCallTransfer, TransferRequest{Agent: "a1", Target: "3001"})
		h.incoming("c2", "sales")
		h.answer("a1")
		h.ok(TypeCallRemoteBusy, CallRequest{Call: "c"})
		h.wantPlace("c", PlacePersonal)
		h.ok(TypeCallHangup, HangupRequest{Agent: "a1"})
		if h.offerOf("a1") != "c" {
			t.Fatal("personal call not offered when the operator became free")
		}
	})
	t.Run("unanswered: retrieve", func(t *testing.T) {
		h := talking(t, "c")
		h.ok(TypeCallTransfer, TransferRequest{Agent: "a1", Target: "3001"})
		h.at(30 * time.Second)
		h.ok(TypeCallRetrieve, RetrieveRequest{Agent: "a1", Call: "c"})
		if c := h.mustCall("c"); c.Place != PlaceLine || c.State != CallTalking {
			t.Fatalf("after retrieve: %s", describe(&c))
		}
	})
	t.Run("unanswered: auto-return to the personal queue with colour bands", func(t *testing.T) {
		h := talking(t, "c")
		h.ok(TypeCallTransfer, TransferRequest{Agent: "a1", Target: "3001"})
		h.incoming("c2", "sales")
		h.answer("a1") // busy when the transfer returns
		bands := []struct {
			at   time.Duration
			band int
			ev   bool
		}{{30 * time.Second, 0, false}, {6 * time.Second, 1, true}, {12 * time.Second, 1, false}, {1 * time.Second, 2, true}}
		for _, b := range bands {
			h.at(b.at)
			if s := h.e.Supervised("a1", false, ""); len(s) != 1 || s[0].Band != b.band {
				t.Fatalf("after +%v: %+v, want band %d", b.at, s, b.band)
			}
			if h.hasEvent(EvCallBand) != b.ev {
				t.Fatalf("after +%v: band event %v, want %v", b.at, h.types(), b.ev)
			}
		}
		r := h.at(11 * time.Second) // 60 s after the transfer
		if r.Returned != 1 {
			t.Fatalf("tick %+v", r)
		}
		h.wantPlace("c", PlacePersonal)
		var q QueuedEvent
		h.event(EvCallQueued, &q)
		if q.Agent != "a1" || q.Reason != "auto_return" {
			t.Fatalf("queued %+v", q)
		}
		h.ok(TypeCallHangup, HangupRequest{Agent: "a1"})
		if h.offerOf("a1") != "c" {
			t.Fatal("returned call not offered")
		}
	})
	t.Run("refusals", func(t *testing.T) {
		h := talking(t, "c")
		err := h.fail(TypeCallTransfer, TransferRequest{Agent: "a1", Target: "9999"}, ErrUnknownExtension)
		h.errContains(err, "9999")
		h.fail(TypeCallTransfer, TransferRequest{Agent: "a1", Target: "2001"}, ErrSelfTransfer)
		h.fail(TypeCallTransfer, TransferRequest{Agent: "a1"}, nil)
		h.fail(TypeCallTransfer, TransferRequest{Agent: "a2", Target: "3001"}, ErrNoCall)
		h.ok(TypeCallDial, DialRequest{Agent: "a2", Call: "d", Number: "3002"})
		h.fail(TypeCallTransfer, TransferRequest{Agent: "a2", Target: "3001"}, ErrNotTalking)
	})
}

func TestAttendedTransfer(t *testing.T) {
	t.Run("confirm", func(t *testing.T) {
		h := talking(t, "c")
		h.ok(TypeCallConsult, ConsultRequest{Agent: "a1", Call: "k", Target: "3001"})
		if c := h.mustCall("c"); c.State != CallHeld {
			t.Fatal("caller not held")
		}
		h.fail(TypeCallComplete, CompleteRequest{Agent: "a1"}, ErrNotAnswered)
		h.fail(TypeCallConsult, ConsultRequest{Agent: "a1", Call: "k2", Target: "3002"}, ErrConsultActive)
		h.fail(TypeCallRetrieve, RetrieveRequest{Agent: "a1"}, ErrConsultActive)
		h.ok(TypeCallRemoteAnswer, CallRequest{Call: "k"})
		h.ok(TypeCallComplete, CompleteRequest{Agent: "a1"})
		h.wantPlace("k", "ended")
		h.wantPlace("c", PlaceExtension)
		if c := h.mustCall("c"); c.Target != "3001" {
			t.Fatalf("caller with %q", c.Target)
		}
		if a := h.agent("a1"); !a.idle() {
			t.Fatalf("operator still busy %+v", a)
		}
	})
	t.Run("end line 2 and retrieve", func(t *testing.T) {
		h := talking(t, "c")
		h.fail(TypeCallCancelConsult, AgentCallRequest{Agent: "a1"}, ErrNoConsult)
		h.ok(TypeCallConsult, ConsultRequest{Agent: "a1", Call: "k", Target: "3001"})
		h.ok(TypeCallRemoteAnswer, CallRequest{Call: "k"})
		h.ok(TypeCallCancelConsult, AgentCallRequest{Agent: "a1"})
		h.wantPlace("k", "ended")
		if c := h.mustCall("c"); c.State != CallTalking || c.Place != PlaceLine {
			t.Fatalf("caller %s", describe(&c))
		}
	})
	t.Run("camp-on on a busy target", func(t *testing.T) {
		h := talking(t, "c")
		h.ok(TypeCallConsult, ConsultRequest{Agent: "a1", Call: "k", Target: "3001"})
		h.fail(TypeCallCampOn, AgentCallRequest{Agent: "a1"}, ErrNotBusy)
		h.ok(TypeCallRemoteBusy, CallRequest{Call: "k"})
		if h.mustCall("k").State != CallBusy {
			t.Fatal("consultation not busy")
		}
		h.ok(TypeCallCampOn, AgentCallRequest{Agent: "a1"})
		h.wantPlace("k", "ended")
		h.wantPlace("c", "supervised:O")
		h.ok(TypeCallRemoteBusy, CallRequest{Call: "c"}) // still busy: keeps waiting
		h.wantPlace("c", "supervised:O")
		h.ok(TypeCallRemoteAnswer, CallRequest{Call: "c"})
		h.wantPlace("c", PlaceExtension)
	})
	t.Run("camp-on returns after the limit", func(t *testing.T) {
		h := talking(t, "c")
		h.ok(TypeCallConsult, ConsultRequest{Agent: "a1", Call: "k", Target: "3001"})
		h.ok(TypeCallRemoteBusy, CallRequest{Call: "k"})
		h.ok(TypeCallCampOn, AgentCallRequest{Agent: "a1"})
		h.at(60 * time.Second)
		// a1 is free: the returned call is offered at once.
		if h.offerOf("a1") != "c" {
			t.Fatalf("camp-on not returned: %s", h.place("c"))
		}
	})
}

func TestChain(t *testing.T) {
	for _, attended := range []bool{false, true} {
		name := "blind"
		if attended {
			name = "attended"
		}
		t.Run(name, func(t *testing.T) {
			h := talking(t, "c")
			if attended {
				h.ok(TypeCallConsult, ConsultRequest{Agent: "a1", Call: "k", Target: "3001"})
				h.ok(TypeCallRemoteAnswer, CallRequest{Call: "k"})
				h.ok(TypeCallComplete, CompleteRequest{Agent: "a1", Chain: true})
			} else {
				h.ok(TypeCallTransfer, TransferRequest{Agent: "a1", Target: "3001", Chain: true})
				h.ok(TypeCallRemoteAnswer, CallRequest{Call: "c"})
			}
			c := h.mustCall("c")
			if c.Place != PlaceSupervised || c.Kind != KindChain || c.State != CallTalking || c.Deadline != 0 {
				t.Fatalf("chained call %s deadline %d", describe(&c), c.Deadline)
			}
			h.fail(TypeCallRetrieve, RetrieveRequest{Agent: "a1", Call: "c"}, ErrNotRetrievable)
			h.at(10 * time.Minute) // no auto-return during the conversation
			h.wantPlace("c", "supervised:C")
			h.incoming("c2", "sales")
			h.answer("a1")
			h.ok(TypeCallRemoteHangup, RemoteHangupRequest{Call: "c", Side: "target"})
			h.wantPlace("c", PlacePersonal)
			var r ReturnedEvent
			h.event(EvCallReturned, &r)
			if r.Reason != "chain_return" {
				t.Fatalf("returned %+v", r)
			}
			// Put through again from the personal queue.
			h.ok(TypeCallHangup, HangupRequest{Agent: "a1"})
			h.answer("a1")
			h.ok(TypeCallTransfer, TransferRequest{Agent: "a1", Target: "3002", Chain: true})
			h.ok(TypeCallRemoteAnswer, CallRequest{Call: "c"})
			h.ok(TypeCallRemoteHangup, RemoteHangupRequest{Call: "c"}) // the caller hangs up
			h.wantPlace("c", "ended")
		})
	}
}

func TestParkCoupleDirectedPark(t *testing.T) {
	t.Run("park with note, retrieve", func(t *testing.T) {
		h := talking(t, "c")
		h.ok(TypeCallPark, ParkRequest{Agent: "a1", Note: "wants Bob"})
		s := h.e.Supervised("a1", false, "bob")
		if len(s) != 1 || s[0].Type != KindPark || s[0].Note != "wants Bob" || s[0].Owner != "a1" {
			t.Fatalf("supervised %+v", s)
		}
		h.connect("a2")
		if len(h.e.Supervised("a2", false, "")) != 0 || len(h.e.Supervised("a2", true, "")) != 1 {
			t.Fatal("own/all supervised lists")
		}
		h.ok(TypeCallNote, NoteRequest{Agent: "a2", Call: "c", Note: "Bob is out"})
		if h.mustCall("c").Note != "Bob is out" {
			t.Fatal("note not updated")
		}
		h.ok(TypeCallRetrieve, RetrieveRequest{Agent: "a2", Call: "c"})
		if c := h.mustCall("c"); c.Agent != "a2" || c.Place != PlaceLine {
			t.Fatalf("retrieved %s by %s", describe(&c), c.Agent)
		}
	})
	t.Run("parked call returns after the park limit", func(t *testing.T) {
		h := talking(t, "c")
		h.ok(TypeCallPark, ParkRequest{Agent: "a1"})
		h.at(119 * time.Second)
		h.wantPlace("c", "supervised:P")
		h.at(time.Second)
		if h.offerOf("a1") != "c" {
			t.Fatalf("park not returned: %s", h.place("c"))
		}
	})
	t.Run("couple", func(t *testing.T) {
		h := talking(t, "c")
		h.ok(TypeCallPark, ParkRequest{Agent: "a1"})
		h.incoming("c2", "sales")
		h.answer("a1")
		h.fail(TypeCallCouple, CoupleRequest{Agent: "a1", Call: "c2"}, ErrNotParked)
		h.ok(TypeCallCouple, CoupleRequest{Agent: "a1", Call: "c"})
		if c, c2 := h.mustCall("c"), h.mustCall("c2"); c.Place != PlaceBridged || c2.Peer != "c" || c.Peer != "c2" {
			t.Fatalf("coupled %s / %s", describe(&c), describe(&c2))
		}
		if a := h.agent("a1"); !a.idle() {
			t.Fatal("operator not free after coupling")
		}
		h.ok(TypeCallRemoteHangup, RemoteHangupRequest{Call: "c"})
		h.wantPlace("c2", "ended")
	})
	t.Run("directed park, *55 from any phone", func(t *testing.T) {
		h := talking(t, "c")
		h.fail(TypeCallParkOn, ParkOnRequest{Agent: "a1", Extension: "9999"}, ErrUnknownExtension)
		h.ok(TypeCallParkOn, ParkOnRequest{Agent: "a1", Extension: "3001", Note: "for Bob"})
		h.wantPlace("c", "supervised:D")
		h.fail(TypeCallParkPickup, ParkPickupRequest{Extension: "3002", By: "3002"}, ErrNothingParked)
		h.ok(TypeCallParkPickup, ParkPickupRequest{Extension: "3001", By: "+447700900123"})
		c := h.mustCall("c")
		if c.Place != PlaceExtension || c.Target != "+447700900123" {
			t.Fatalf("picked up %s at %q", describe(&c), c.Target)
		}
		if len(h.e.Supervised("a1", true, "")) != 0 {
			t.Fatal("still in supervision")
		}
	})
	t.Run("directed park, *55 dialled by an operator", func(t *testing.T) {
		h := talking(t, "c")
		h.ok(TypeCallParkOn, ParkOnRequest{Agent: "a1", Extension: "3001"})
		h.connect("a2")
		h.fail(TypeCallDial, DialRequest{Agent: "a2", Number: "*553002"}, ErrNothingParked)
		h.ok(TypeCallDial, DialRequest{Agent: "a2", Number: "*553001"})
		if c := h.mustCall("c"); c.Place != PlaceLine || c.Agent != "a2" {
			t.Fatalf("after *55: %s", describe(&c))
		}
	})
}

func TestRetrieveRules(t *testing.T) {
	h := talking(t, "c")
	h.ok(TypeCallPark, ParkRequest{Agent: "a1"})
	h.incoming("c2", "sales")
	h.answer("a1")
	h.fail(TypeCallRetrieve, RetrieveRequest{Agent: "a1", Call: "c"}, ErrLineBusy)
	h.fail(TypeCallRetrieve, RetrieveRequest{Agent: "a1", Call: "nope"}, ErrUnknownCall)
	h.ok(TypeCallHangup, HangupRequest{Agent: "a1"})
	h.ok(TypeCallRetrieve, RetrieveRequest{Agent: "a1", Call: "c"})
	h.ok(TypeCallIncoming, IncomingRequest{Call: "p", Agent: "a1"})
	h.wantPlace("p", PlacePersonal)
	h.connect("a2")
	h.fail(TypeCallRetrieve, RetrieveRequest{Agent: "a2", Call: "p"}, ErrNotRetrievable) // a1's personal queue
	h.incoming("c3", "sales")
	h.wantPlace("c3", PlaceRinging) // on a2
	h.fail(TypeCallRetrieve, RetrieveRequest{Agent: "a1", Call: "c3"}, ErrLineBusy)
	h.ok(TypeCallHangup, HangupRequest{Agent: "a1"})
	h.fail(TypeCallRetrieve, RetrieveRequest{Agent: "a1", Call: "c3"}, ErrNotRetrievable) // ringing on a2
}

// retrieveDoc: a1 serves a queue alone (sales) and a ring-all queue with
// a2 (all).
const retrieveDoc = `
settings: {ring_timeout_seconds: 15, auto_return_seconds: 60, park_return_seconds: 120}
extensions:
  - {number: "2001", phones: [{id: desk, position: 0, order: 1}]}
  - {number: "2002", phones: [{id: desk, position: 0, order: 1}]}
  - {number: "3001", phones: [{id: desk, position: 0, order: 1}]}
queues:
  - {id: sales, strategy: longest-idle}
  - {id: all, strategy: ring-all}
agents:
  - {id: a1, extension: "2001", queues: [sales, all]}
  - {id: a2, extension: "2002", queues: [all]}
`

// A call rings on the operator while it retrieves a parked call. The spec
// (contactcenter.md, Calls and operator operations):
//
//	**Retrieve**: when not in a conversation, retrieve a call from
//	supervision or the personal queue; while retrieving, other incoming
//	calls are redirected to the personal queue.
//
// So the ringing call waits in the operator's personal queue — a
// general-queue call too (it leaves its queue counted as redirected) —
// and rings again once the operator is free. A ring-all call still
// ringing on other agents is not the operator's alone: it keeps ringing
// there.
func TestRetrieveRedirectsRingingCall(t *testing.T) {
	cases := []struct {
		name       string
		arrive     func(h *harness) // the call "r" arrives, ringing on a1
		place      string           // r's place after a1 retrieves
		offered    []string         // r rings on (place ringing)
		queued     bool             // call.queued reason retrieve
		redirected uint64           // sales' Redirected
	}{
		{"general queue call", func(h *harness) { h.incoming("r", "sales") }, PlacePersonal, nil, true, 1},
		{"personal queue call", func(h *harness) {
			h.ok(TypeCallIncoming, IncomingRequest{Call: "r", Agent: "a1"})
		}, PlacePersonal, nil, false, 0},
		{"ring-all call ringing on others too", func(h *harness) {
			h.connect("a2")
			h.incoming("r", "all")
		}, PlaceRinging, []string{"a2"}, false, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, retrieveDoc)
			h.connect("a1")
			h.ok(TypeCallIncoming, IncomingRequest{Call: "p", Agent: "a1"})
			h.answer("a1")
			h.ok(TypeCallPark, ParkRequest{Agent: "a1"})
			tc.arrive(h)
			if h.offerOf("a1") != "r" {
				t.Fatalf("r is %s, not ringing on a1", h.place("r"))
			}
			h.ok(TypeCallRetrieve, RetrieveRequest{Agent: "a1", Call: "p"})
			h.wantPlace("p", PlaceLine)
			h.wantPlace("r", tc.place)
			r := h.mustCall("r")
			if tc.place == PlacePersonal && r.Agent != "a1" {
				t.Fatalf("r in %s's personal queue", r.Agent)
			}
			if tc.place == PlaceRinging && !reflect.DeepEqual(r.Offered, tc.offered) {
				t.Fatalf("r rings on %v, want %v", r.Offered, tc.offered)
			}
			var w WithdrawnEvent
			h.event(EvCallOfferWithdrawn, &w)
			if w.Call != "r" || w.Reason != "retrieve" || !reflect.DeepEqual(w.Agents, []string{"a1"}) {
				t.Fatalf("withdrawn %+v", w)
			}
			if tc.queued {
				var q QueuedEvent
				h.event(EvCallQueued, &q)
				if q.Call != "r" || q.Agent != "a1" || q.Queue != "" || q.Reason != "retrieve" {
					t.Fatalf("queued %+v", q)
				}
			}
			if v, _ := h.e.Queue("sales"); v.Redirected != tc.redirected || v.Waiting != 0 {
				t.Fatalf("sales redirected %d waiting %d, want %d, 0", v.Redirected, v.Waiting, tc.redirected)
			}
			// Free again, the operator gets its personal call.
			h.ok(TypeCallHangup, HangupRequest{Agent: "a1"})
			if tc.place == PlacePersonal && h.offerOf("a1") != "r" {
				t.Fatalf("r is %s, not offered to a1 once free", h.place("r"))
			}
		})
	}
}

func TestReportProblem(t *testing.T) {
	h := talking(t, "c")
	req := ReportProblemRequest{Agent: "a1", Report: "r1", Call: "c", Description: "echo on the line", Reset: true}
	h.fail(TypeAgentReportProblem, req, ErrConfirmRequired)
	h.fail(TypeAgentReportProblem, ReportProblemRequest{Agent: "a1", Report: "r1", Call: "zz", Description: "x"}, ErrNotInHistory)
	h.fail(TypeAgentReportProblem, ReportProblemRequest{Agent: "a1", Report: "r1", Call: "c"}, nil)
	h.ok(TypeAgentReportProblem, ReportProblemRequest{Agent: "a1", Report: "r0", Call: "c", Description: "noise"})
	h.wantPlace("c", PlaceLine) // plain send keeps the call
	req.Confirm = true
	req.Report = "r1"
	h.ok(TypeAgentReportProblem, req)
	h.wantPlace("c", "ended")
	var pr Problem
	h.event(EvProblemReported, &pr)
	if pr.Call != "c" || !pr.Reset || pr.Description != "echo on the line" {
		t.Fatalf("problem %+v", pr)
	}
	var reset PhoneResetEvent
	h.event(EvAgentPhoneReset, &reset)
	if !reflect.DeepEqual(reset.Ended, []string{"c"}) {
		t.Fatalf("reset %+v", reset)
	}
	h.fail(TypeAgentReportProblem, ReportProblemRequest{Agent: "a1", Report: "r1", Call: "c", Description: "again"}, nil)
}

func TestRemoteHangupEverywhere(t *testing.T) {
	// The caller may hang up in every place; the call ends and nothing
	// keeps a reference to it (the invariants check that).
	setups := map[string]func(h *harness){
		"queue":   func(h *harness) { h.ok(TypeAgentLogout, AgentRequest{Agent: "a1"}); h.incoming("c", "sales") },
		"ringing": func(h *harness) { h.incoming("c", "sales") },
		"personal": func(h *harness) {
			h.incoming("x", "sales")
			h.answer("a1")
			h.ok(TypeCallIncoming, IncomingRequest{Call: "c", Agent: "a1"})
		},
		"line": func(h *harness) { h.incoming("c", "sales"); h.answer("a1") },
		"held": func(h *harness) {
			h.incoming("c", "sales")
			h.answer("a1")
			h.ok(TypeCallConsult, ConsultRequest{Agent: "a1", Call: "k", Target: "3001"})
		},
		"transfer": func(h *harness) {
			h.incoming("c", "sales")
			h.answer("a1")
			h.ok(TypeCallTransfer, TransferRequest{Agent: "a1", Target: "3001"})
		},
		"parked": func(h *harness) {
			h.incoming("c", "sales")
			h.answer("a1")
			h.ok(TypeCallPark, ParkRequest{Agent: "a1"})
		},
		"direct": func(h *harness) { h.ok(TypeCallIncoming, IncomingRequest{Call: "c", Extension: "3001"}) },
	}
	for name, setup := range setups {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, baseDoc)
			h.connect("a1")
			setup(h)
			h.ok(TypeCallRemoteHangup, RemoteHangupRequest{Call: "c"})
			h.wantPlace("c", "ended")
			var ev CallEndedEvent
			h.event(EvCallEnded, &ev)
			if name == "queue" || name == "ringing" || name == "personal" {
				if ev.Reason != "abandoned" {
					t.Fatalf("ended %+v", ev)
				}
			}
			if name == "held" {
				if a := h.agent("a1"); a.Line1 != "k" {
					t.Fatalf("consultation not moved to line 1: %+v", a)
				}
			}
		})
	}
	h := newHarness(t, baseDoc)
	h.fail(TypeCallRemoteHangup, RemoteHangupRequest{Call: "c", Side: "left"}, nil)
	h.fail(TypeCallRemoteHangup, RemoteHangupRequest{Call: "c"}, ErrUnknownCall)
}

func TestDirectCallToExtension(t *testing.T) {
	h := newHarness(t, baseDoc)
	h.ok(TypeCallIncoming, IncomingRequest{Call: "c", Extension: "3001", Number: "2002"})
	var r RingingEvent
	h.event(EvCallRinging, &r)
	if !reflect.DeepEqual(r.Waves, [][]string{{"desk"}, {"mob"}}) {
		t.Fatalf("waves %v", r.Waves)
	}
	h.ok(TypeCallRemoteAnswer, CallRequest{Call: "c"})
	if st, _ := h.e.LineStatus("3001"); st != LineBusyInternal {
		t.Fatalf("line %s", st)
	}
	h.ok(TypeCallIncoming, IncomingRequest{Call: "d", Extension: "3002"})
	h.ok(TypeCallRemoteBusy, CallRequest{Call: "d"})
	h.wantPlace("d", "ended")
}

func TestNoteRules(t *testing.T) {
	h := talking(t, "c")
	h.ok(TypeCallNote, NoteRequest{Agent: "a1", Call: "c", Note: "VIP"})
	h.fail(TypeCallNote, NoteRequest{Agent: "a2", Call: "c", Note: "mine"}, ErrNotYours)
	h.fail(TypeCallNote, NoteRequest{Agent: "a1", Call: "c", Note: strings.Repeat("x", MaxNoteLen+1)}, nil)
	// The note travels with the call.
	h.ok(TypeCallTransfer, TransferRequest{Agent: "a1", Target: "3001"})
	if s := h.e.Supervised("a1", false, "vip"); len(s) != 1 || s[0].Note != "VIP" {
		t.Fatalf("supervised %+v", s)
	}
}
