package contactcenter

import (
	"bytes"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"
)

// waitingScenario fills queue sales with calls and callbacks of mixed
// priorities (several per priority, in and out of order of entry), one
// of them offered, rejected and put back at its place, one abandoned and
// one cancelled from the middle of their priorities.
func waitingScenario(h *harness) {
	h.t.Helper()
	for i := range 12 {
		h.advance(time.Second)
		h.ok(TypeCallIncoming, IncomingRequest{Call: fmt.Sprintf("c%d", i), Queue: "sales", Number: fmt.Sprintf("+4416155501%02d", i), Priority: (i * 7) % 4})
		h.advance(time.Second)
		r := baseCB(fmt.Sprintf("cb%d", i))
		r.Phone, r.Priority = fmt.Sprintf("+34 91 555 02%02d", i), 1+(i*37)%40
		h.ok(TypeCallbackCreate, r)
	}
	h.advance(time.Second)
	h.ok(TypeCallRemoteHangup, CallRequest{Call: "c5"})
	h.ok(TypeCallbackCancel, CallbackCancelRequest{Callback: "cb4"})
	h.ok(TypeAgentLogin, AgentRequest{Agent: "a2"})
	h.ok(TypeAgentLogin, AgentRequest{Agent: "a2"})
	h.advance(time.Second)
	h.ok(TypeCallReject, AgentRequest{Agent: "a2"})
	h.ok(TypeAgentLogout, AgentRequest{Agent: "a2"})
}

const waitingGoldenFile = "testdata/snapshot_waiting.json"

// The waiting list's snapshot format is the one of earlier versions:
// "waiting" is the queue's call ids in offer order. A snapshot written by
// the version before the waiting lists were bucketed by priority
// (testdata/snapshot_waiting.json, recorded from it) is what this one
// writes for the same commands, and restores to the same state, order
// and positions, which then routes as the original engine does.
func TestWaitingSnapshotCompatible(t *testing.T) {
	h := newCBHarness(t)
	waitingScenario(h)
	snap, err := h.e.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if os.Getenv("TANDEM_RECORD_WAITING_GOLDEN") == "1" {
		if err := os.WriteFile(waitingGoldenFile, snap, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	golden, err := os.ReadFile(waitingGoldenFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(snap, golden) {
		t.Fatalf("snapshot differs from %s:\n got %s\nwant %s", waitingGoldenFile, snap, golden)
	}
	r := New()
	if err := r.Restore(golden); err != nil {
		t.Fatal(err)
	}
	if got, want := r.Hash(), h.e.Hash(); got != want {
		t.Fatalf("restored hash %s, want %s", got, want)
	}
	var ids []string
	h.e.View(func(s *State) { ids = waitingIDs(s.Queues["sales"]) })
	if len(ids) < 15 {
		t.Fatalf("only %d calls wait: %v", len(ids), ids)
	}
	for i, id := range ids {
		p, ok := r.CallPosition(id)
		want, _ := h.e.CallPosition(id)
		if !ok || p.Position != i+1 || p != want {
			t.Fatalf("restored: %s at %+v, want position %d: %+v", id, p, i+1, want)
		}
	}
	// Both route the same from here.
	h2 := &harness{t: t, e: r, now: h.now, seq: h.seq, index: h.index, check: true}
	for _, x := range []*harness{h, h2} {
		x.ok(TypeAgentLogin, AgentRequest{Agent: "a1"})
		x.ok(TypeAgentLogin, AgentRequest{Agent: "a1"})
		x.advance(time.Second)
		x.ok(TypeCallIncoming, IncomingRequest{Call: "late", Queue: "sales", Number: "+441615559999", Priority: 9})
		x.answer("a1")
	}
	if got, want := h2.e.Hash(), h.e.Hash(); got != want {
		t.Fatalf("after routing: restored hash %s, want %s", got, want)
	}
	if a, b := h.offerOf("a1"), h2.offerOf("a1"); a != b {
		t.Fatalf("offers differ: %q vs %q", a, b)
	}
	var after, want []string
	h2.e.View(func(s *State) { after = waitingIDs(s.Queues["sales"]) })
	h.e.View(func(s *State) { want = waitingIDs(s.Queues["sales"]) })
	if !slices.Equal(after, want) || len(after) != len(ids) {
		t.Fatalf("restored engine's order after routing %v, want %v", after, want)
	}
}

func waitingIDs(q *QueueState) []string { return q.Waiting.IDs() }

// at is the i-th waiting call (0-based) in offer order.
func (l *waitList) at(i int) *Call {
	for _, items := range l.b {
		if i < len(items) {
			return items[i].c
		}
		i -= len(items)
	}
	panic(fmt.Sprintf("waiting list: index %d out of range", i))
}
