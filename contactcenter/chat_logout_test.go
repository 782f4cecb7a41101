package contactcenter

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// A chat lives only in the console: when the agent holding one goes
// Disconnected — by any path — the session goes back to its queue with
// its original entry time and priority, its transcript kept, status
// queued, chat.requeued recording why, and routing offers it to a free
// agent in the same command (DESIGN.md, "Web chat").
func TestChatAgentLogsOut(t *testing.T) {
	logoutStep := func(h *harness) { h.ok(TypeAgentLogout, AgentRequest{Agent: "a3"}) }
	closeConfirm := func(h *harness) { h.ok(TypeAgentClose, CloseRequest{Agent: "a3", Confirm: true}) }
	paths := []struct {
		name string
		// before: steps that leave a3 logged in with the chat on its
		// line; the last step (leave) takes a3 to Disconnected.
		before []func(h *harness)
		leave  func(h *harness)
	}{
		{"log-out, Paused then Disconnected", []func(*harness){logoutStep}, logoutStep},
		{"console closed with confirmation while Connected", nil, closeConfirm},
		{"console closed with confirmation while Paused", []func(*harness){logoutStep}, closeConfirm},
		{"paused with a reason, then console closed", []func(*harness){func(h *harness) {
			h.ok(TypeAgentPause, PauseRequest{Agent: "a3", Reason: "lunch"})
		}}, closeConfirm},
		{"chat on hold, then log-out", []func(*harness){func(h *harness) {
			h.ok(TypeCallHold, AgentCallRequest{Agent: "a3"})
		}, logoutStep}, logoutStep},
		{"chat on hold while consulting on line 2, then console closed", []func(*harness){func(h *harness) {
			h.ok(TypeCallConsult, ConsultRequest{Agent: "a3", Call: "k1", Target: "3001"})
		}}, closeConfirm},
	}
	for _, path := range paths {
		for _, freeAgent := range []bool{false, true} {
			name := path.name + "/nobody free"
			if freeAgent {
				name = path.name + "/a1 free"
			}
			t.Run(name, func(t *testing.T) {
				h := newChatHarness(t, "")
				h.check = true // every invariant after every command
				h.connect("a3")
				h.ok(TypeChatCreate, baseChat("s1"))
				h.answer("a3")
				h.ok(TypeChatMessage, ChatMessageRequest{Session: "s1", From: ChatFromCustomer, Text: "hello"})
				h.ok(TypeChatMessage, ChatMessageRequest{Session: "s1", From: ChatFromAgent, Agent: "a3", Text: "hi, one moment"})
				h.advance(time.Second)
				if freeAgent {
					h.connect("a1")
				} else {
					// s2 asks after s1 was answered: it waits.
					h.ok(TypeChatCreate, baseChat("s2"))
				}
				for _, step := range path.before {
					step(h)
				}
				if a := h.agent("a3"); a.State == StateDisconnected {
					t.Fatalf("a3 disconnected before the last step")
				}
				if v, _ := h.e.Chat("s1"); v.Status != ChatConnected || v.Agent != "a3" {
					t.Fatalf("before the log-out: %+v", v)
				}
				// Still logged in (Paused finishes current calls): a3 writes.
				h.ok(TypeChatMessage, ChatMessageRequest{Session: "s1", From: ChatFromAgent, Agent: "a3", Text: "still here"})
				h.advance(time.Second)
				path.leave(h)
				h.wantState("a3", StateDisconnected)

				var ev ChatEvent
				h.event(EvChatRequeued, &ev)
				if ev.Session != "s1" || ev.Status != ChatQueued || ev.Reason != ReasonAgentLogout || ev.Previous != "a3" || ev.Queue != "support" || ev.Messages != 3 || ev.Agent != "" {
					t.Fatalf("chat.requeued %+v", ev)
				}
				var q QueuedEvent
				h.event(EvCallQueued, &q)
				if q.Call != "s1" || q.Reason != "logout" || q.Queue != "support" {
					t.Fatalf("call.queued %+v", q)
				}
				if h.agent("a3").Line1 == "s1" || h.agent("a3").Line2 == "s1" {
					t.Fatalf("s1 still on a3's line: %+v", h.agent("a3"))
				}
				// The transcript is kept; a3 may no longer write, the customer may.
				msgs, v, _ := h.e.ChatMessages("s1", 0, 10)
				if len(msgs) != 3 || msgs[2].Text != "still here" || v.Status != ChatQueued || v.Agent != "" {
					t.Fatalf("after the log-out: %+v %+v", msgs, v)
				}
				h.fail(TypeChatMessage, ChatMessageRequest{Session: "s1", From: ChatFromAgent, Agent: "a3", Text: "x"}, ErrNotYours)
				if res := h.ok(TypeChatMessage, ChatMessageRequest{Session: "s1", From: ChatFromCustomer, Text: "hello?"}); res.(ChatMessageResult).Seq != 4 {
					t.Fatalf("customer's message: %+v", res)
				}

				if freeAgent {
					// Routed in the log-out's own command.
					if h.offerOf("a1") != "s1" {
						t.Fatalf("s1 not offered to the free a1: %+v, place %s", h.agent("a1"), h.place("s1"))
					}
				} else {
					// Served first: ahead of s2, which asked later.
					h.wantPlace("s1", PlaceQueue)
					if p, _ := h.e.CallPosition("s1"); p.Position != 1 {
						t.Fatalf("s1 at position %d, want 1 (ahead of s2)", p.Position)
					}
					h.connect("a1")
					if h.offerOf("a1") != "s1" {
						t.Fatalf("a1 is offered %q, want s1 first", h.offerOf("a1"))
					}
				}
				h.answer("a1")
				var ans ChatEvent
				h.event(EvChatAnswered, &ans)
				if ans.Agent != "a1" {
					t.Fatalf("chat.answered %+v", ans)
				}
				if res := h.ok(TypeChatMessage, ChatMessageRequest{Session: "s1", From: ChatFromAgent, Agent: "a1", Text: "I take over"}); res.(ChatMessageResult).Seq != 5 {
					t.Fatalf("a1's message: %+v", res)
				}
				if v, _ := h.e.Chat("s1"); v.Status != ChatConnected || v.Agent != "a1" || v.Messages != 5 {
					t.Fatalf("after a1 answered: %+v", v)
				}
			})
		}
	}
}

// An operator who is logged out cannot take a chat onto its line (the
// personal-queue rule would send it back at once): retrieve and *55 are
// refused, naming the log-in.
func TestChatNotTakenWhileLoggedOut(t *testing.T) {
	h := newChatHarness(t, "")
	h.check = true
	h.connect("a3")
	h.ok(TypeChatCreate, baseChat("s1"))
	h.answer("a3")
	h.ok(TypeCallParkOn, ParkOnRequest{Agent: "a3", Extension: "2001"})
	h.ok(TypeAgentClose, CloseRequest{Agent: "a3", Confirm: true})
	err := h.fail(TypeCallRetrieve, RetrieveRequest{Agent: "a3", Call: "s1"}, ErrAgentState)
	h.errContains(err, "log in to take chat")
	err = h.fail(TypeCallDial, DialRequest{Agent: "a3", Call: "d1", Number: "*552001"}, ErrAgentState)
	h.errContains(err, "log in to take chat")
	// Logged in, another operator picks it up: the chat is theirs.
	h.connect("a1")
	h.ok(TypeCallDial, DialRequest{Agent: "a1", Call: "d1", Number: "*552001"})
	if v, _ := h.e.Chat("s1"); v.Status != ChatConnected || v.Agent != "a1" {
		t.Fatalf("picked up by a1: %+v", v)
	}
	h.ok(TypeChatMessage, ChatMessageRequest{Session: "s1", From: ChatFromAgent, Agent: "a1", Text: "hello from a1"})
}

// Regression: a chat parked by an operator who then logged out came back
// (auto-return) into its queue still "connected" to that operator; it
// is queued again.
func TestChatParkedReturnsQueued(t *testing.T) {
	h := newChatHarness(t, "")
	h.check = true
	h.connect("a3")
	h.ok(TypeChatCreate, baseChat("s1"))
	h.answer("a3")
	h.ok(TypeCallPark, ParkRequest{Agent: "a3"})
	h.ok(TypeAgentClose, CloseRequest{Agent: "a3", Confirm: true})
	h.at(121 * time.Second) // past park_return_seconds
	h.wantPlace("s1", PlaceQueue)
	if v, _ := h.e.Chat("s1"); v.Status != ChatQueued || v.Agent != "" {
		t.Fatalf("returned to the queue: %+v", v)
	}
}

// The invariant names the stranded chat: a connected chat on the line of
// a logged-out agent.
func TestCheckCatchesStrandedChat(t *testing.T) {
	h := newChatHarness(t, "")
	h.connect("a3")
	h.ok(TypeChatCreate, baseChat("s1"))
	h.answer("a3")
	if err := h.e.Check(); err != nil {
		t.Fatalf("healthy engine: %v", err)
	}
	h.e.mu.Lock()
	a := h.e.st.Agents["a3"]
	a.State = StateDisconnected // as the log-out did before: the chat left on the line
	h.e.loggedIn--
	for _, q := range a.queues {
		q.connected--
	}
	h.e.mu.Unlock()
	err := h.e.Check()
	if err == nil || !strings.Contains(err.Error(), "chat s1 on line 1 of a3, who is logged out") {
		t.Fatalf("Check: %v", err)
	}
}

// A snapshot taken before this rule (a chat left on the line of an agent
// who logged out) restores; the next clock.tick sends the chat back to
// its queue and the state is sound again.
func TestChatStrandedInOldSnapshot(t *testing.T) {
	h := newChatHarness(t, "")
	h.connect("a3")
	h.ok(TypeChatCreate, baseChat("s1"))
	h.answer("a3")
	snap, err := h.e.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	// Rewrite a3 as the old engine left it: Disconnected, chat on line 1.
	var doc map[string]any
	if err := json.Unmarshal(snap, &doc); err != nil {
		t.Fatal(err)
	}
	a3 := doc["agents"].(map[string]any)["a3"].(map[string]any)
	a3["state"], a3["reason"] = StateDisconnected, ""
	old, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	r := newChatHarness(t, "")
	if err := r.e.Restore(old); err != nil {
		t.Fatalf("restoring the old snapshot: %v", err)
	}
	r.now = h.now
	if err := r.e.Check(); err == nil || !strings.Contains(err.Error(), "chat s1") {
		t.Fatalf("restored: want the stranded chat reported, got %v", err)
	}
	r.check = true
	r.tick()
	r.wantPlace("s1", PlaceQueue)
	if v, _ := r.e.Chat("s1"); v.Status != ChatQueued {
		t.Fatalf("after the tick: %+v", v)
	}
	if !r.hasEvent(EvChatRequeued) {
		t.Fatalf("no chat.requeued among %v", r.types())
	}
}

// A chat whose agent left and which then ends while it waits (the
// customer gave up) keeps what it had: the transcript, and the right to
// have it e-mailed (an agent took it), by the last agent's name; its
// end goes to the queue's agents (no agent in chat.ended).
func TestChatRequeuedThenAbandoned(t *testing.T) {
	h := newChatHarness(t, "")
	h.check = true
	h.config("mail:\n  imap: {host: imap.example.org, user: u, password: p}\n  smtp: {host: smtp.example.org, messages_per_minute: 30}\n  aliases: [{address: chat@example.org, queue: support}]\n")
	h.connect("a3")
	h.ok(TypeChatCreate, baseChat("s1"))
	h.answer("a3")
	h.ok(TypeChatMessage, ChatMessageRequest{Session: "s1", From: ChatFromAgent, Agent: "a3", Text: "your order ships today"})
	h.ok(TypeAgentClose, CloseRequest{Agent: "a3", Confirm: true})
	h.ok(TypeChatEnd, ChatEndRequest{Session: "s1", By: ChatFromCustomer})
	var ev ChatEvent
	h.event(EvChatEnded, &ev)
	if ev.Agent != "" || ev.Messages != 1 {
		t.Fatalf("chat.ended %+v", ev)
	}
	h.ok(TypeChatTranscript, ChatTranscriptRequest{Session: "s1", Reply: "t1", To: "ana@example.com"})
	msgs, v, _ := h.e.ChatMessages("s1", 0, 10)
	if len(msgs) != 1 || v.Status != ChatEnded {
		t.Fatalf("ended: %+v %+v", msgs, v)
	}
}

// Its queue removed after it was answered, a chat whose agent leaves
// waits in the configured chat queue; with none it has nowhere to wait:
// the session ends (reason no_queue), its transcript kept, as a removed
// queue ends a waiting one.
func TestChatRequeuedWithoutItsQueue(t *testing.T) {
	for _, tc := range []struct {
		name, chat string
		queue      string // "" : the session ends
	}{
		{"chat queue configured", "chat:\n  languages: [en]\n  queue: sales\n", "sales"},
		{"no chat queue", "chat:\n  languages: [en]\n", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newChatHarness(t, "")
			h.check = true
			h.connect("a3")
			h.ok(TypeChatCreate, baseChat("s1"))
			h.answer("a3")
			h.ok(TypeChatMessage, ChatMessageRequest{Session: "s1", From: ChatFromCustomer, Text: "hello"})
			doc := strings.NewReplacer(
				"  - {id: support, strategy: round-robin}\n", "",
				"queues: [sales, support]", "queues: [sales]",
				"queues: [support]", "queues: [sales]",
			).Replace(baseDoc) + tc.chat
			d, err := ParseDocument([]byte(doc))
			if err != nil {
				t.Fatal(err)
			}
			h.ok(TypeConfigApply, ApplyRequest{Document: d, Prune: true})
			if _, ok := h.e.Queue("support"); ok {
				t.Fatal("support not removed")
			}
			h.ok(TypeAgentClose, CloseRequest{Agent: "a3", Confirm: true})
			msgs, v, _ := h.e.ChatMessages("s1", 0, 10)
			if len(msgs) != 1 {
				t.Fatalf("transcript %+v", msgs)
			}
			if tc.queue != "" {
				h.wantPlace("s1", PlaceQueue)
				if v.Status != ChatQueued || v.Queue != tc.queue {
					t.Fatalf("requeued: %+v", v)
				}
				return
			}
			var ev ChatEvent
			h.event(EvChatEnded, &ev)
			if ev.Reason != "no_queue" || ev.Messages != 1 || v.Status != ChatEnded {
				t.Fatalf("chat.ended %+v, view %+v", ev, v)
			}
			if _, live := h.call("s1"); live {
				t.Fatal("the chat's call is still live")
			}
		})
	}
}
