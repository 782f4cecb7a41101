package contactcenter

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// The checker must catch what it promises to: corrupt a healthy engine in
// each way and expect a violation.
func TestCheckCatchesCorruption(t *testing.T) {
	build := func() *harness {
		h := newHarness(t, baseDoc)
		h.connect("a1", "a3")
		h.incoming("c1", "sales") // rings on a1
		h.incoming("c2", "sales") // waits (a2, a4 out; a1 ringing)
		h.advance(time.Second)
		h.incoming("c3", "sales") // waits behind c2
		h.incoming("s1", "support")
		h.answer("a3")
		return h
	}
	corruptions := map[string]func(s *State){
		"call in two places":       func(s *State) { s.Agents["a3"].Personal = []string{"c2"} },
		"lost call":                func(s *State) { s.Queues["sales"].Waiting = waitList{} },
		"dangling offer":           func(s *State) { s.Agents["a2"].Offer = "c1" },
		"offer without agent":      func(s *State) { s.Agents["a1"].Offer = "" },
		"offering counter":         func(s *State) { s.Queues["sales"].Offering = 0 },
		"entered counter":          func(s *State) { s.Queues["sales"].Stats.Entered++ },
		"line not back-referenced": func(s *State) { s.Agents["a3"].Line1 = "" },
		"unknown place":            func(s *State) { s.Calls["c2"].Place = "limbo" },
		"waiting order":            func(s *State) { w := s.Queues["sales"].Waiting.b[MaxPriority]; w[0], w[1] = w[1], w[0] },
		"dangling waiting entry":   func(s *State) { s.Queues["sales"].Waiting.insert(waiting{c: &Call{ID: "x", Seq: 1 << 40}}) },
		"waiting call in another priority's list": func(s *State) {
			w := &s.Queues["sales"].Waiting
			w.b[0] = append(w.b[0], w.b[MaxPriority][len(w.b[MaxPriority])-1])
			w.b[MaxPriority] = w.b[MaxPriority][:len(w.b[MaxPriority])-1]
		},
		"waiting count": func(s *State) { s.Queues["sales"].Waiting.n++ },
		"work not conserved": func(s *State) {
			s.Agents["a1"].Offer = ""
			s.Calls["c1"].Offered = []string{"a3"}
			s.Agents["a3"].Offer = "c1"
		},
		"logged-in count": func(s *State) { s.Agents["a2"].State = StatePaused },
	}
	for name, corrupt := range corruptions {
		t.Run(name, func(t *testing.T) {
			h := build()
			if err := h.e.Check(); err != nil {
				t.Fatalf("healthy engine: %v", err)
			}
			h.e.mu.Lock()
			corrupt(h.e.st)
			h.e.mu.Unlock()
			if err := h.e.Check(); err == nil {
				t.Fatal("corruption not detected")
			}
		})
	}
}

func TestLogoutSendsQueueCallsBack(t *testing.T) {
	h := newHarness(t, baseDoc)
	h.connect("a1")
	h.incoming("c", "sales")
	h.answer("a1")
	h.ok(TypeCallTransfer, TransferRequest{Agent: "a1", Target: "3001"})
	h.incoming("c2", "sales")
	h.answer("a1")
	h.ok(TypeCallRemoteBusy, CallRequest{Call: "c"})
	h.wantPlace("c", PlacePersonal)
	h.ok(TypeAgentLogout, AgentRequest{Agent: "a1"})
	h.ok(TypeAgentLogout, AgentRequest{Agent: "a1"})
	h.wantPlace("c", PlaceQueue)
	var q QueuedEvent
	h.event(EvCallQueued, &q)
	if q.Queue != "sales" || q.Reason != "logout" {
		t.Fatalf("queued %+v", q)
	}
	// The same when the auto-return fires after the operator left.
	h2 := newHarness(t, baseDoc)
	h2.connect("a1")
	h2.incoming("c", "sales")
	h2.answer("a1")
	h2.ok(TypeCallPark, ParkRequest{Agent: "a1"})
	h2.ok(TypeAgentLogout, AgentRequest{Agent: "a1"})
	h2.ok(TypeAgentLogout, AgentRequest{Agent: "a1"})
	h2.at(2 * time.Minute)
	h2.wantPlace("c", PlaceQueue)
}

// Readers (View and the queries, CTI, excluded numbers and voicemail
// included) run beside Apply; run with -race.
func TestConcurrentReaders(t *testing.T) {
	h := newHarness(t, baseDoc)
	h.config(ctiDoc)
	h.check = false
	h.connect("a1", "a2")
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				h.e.Queues()
				h.e.Supervised("a1", true, "")
				entries(h.e.Directory("a", nil, 0))
				h.e.History("a1", false)
				h.e.View(func(s *State) { _ = s.LoggedIn() })
				_ = h.e.Hash()
				h.e.MatchCaller("0161 5527789")
				h.e.ActiveCalls("a1")
				h.e.IsExcluded("+441615527789")
				h.e.Voicemail("3001")
				h.e.UserMailboxes("bob")
			}
		}()
	}
	for i := 0; i < 200; i++ {
		h.ok(TypeCallIncoming, IncomingRequest{Call: "c", Queue: "sales", Number: "0161 5527789"})
		h.answer(h.mustCall("c").Offered[0])
		h.ok(TypeCallPark, ParkRequest{Agent: h.mustCall("c").Agent})
		h.ok(TypeVoicemailDeposited, VoicemailDepositRequest{Mailbox: "3001", Message: fmt.Sprintf("m%d", i)})
		h.ok(TypeCallRemoteHangup, RemoteHangupRequest{Call: "c"})
		h.advance(time.Second)
		h.tick()
		if i%50 == 0 {
			h.config(fmt.Sprintf("excluded_numbers: [\"0161 55%05d\"]", i))
		}
	}
	close(stop)
	wg.Wait()
}
