package contactcenter

import (
	"bytes"
	"fmt"
	"math/rand/v2"
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

// The list by priority holds the calls in the order of one slice sorted
// by before, through entries (at the end of a priority, or put back in
// the middle with their old entry) and departures (heads of long lists,
// heads of short ones, the middle), with positions, the oldest entry and
// the routing mark to match.
func TestWaitListMatchesSortedSlice(t *testing.T) {
	for _, tc := range []struct {
		name       string
		seed       uint64
		ops, prios int
	}{
		{"one priority, long", 1, 3000, 1},
		{"ten priorities", 2, 3000, 10},
		{"two priorities, short", 3, 500, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(tc.seed, 7))
			var l waitList
			var ref, out []*Call
			seq, now := uint64(0), int64(0)
			for op := range tc.ops {
				switch k := r.IntN(10); {
				case k < 6 || len(ref) == 0: // a new entry
					seq++
					now += int64(r.IntN(3))
					c := &Call{ID: fmt.Sprintf("c%d", seq), Priority: r.IntN(tc.prios), Enqueued: now, Seq: seq}
					l.insert(waiting{c: c})
					ref = append(ref, c)
				case k < 8 && len(out) > 0: // one put back with its old entry
					i := r.IntN(len(out))
					c := out[i]
					out = slices.Delete(out, i, i+1)
					l.insert(waiting{c: c})
					ref = append(ref, c)
				default: // one leaves: often the head
					slices.SortFunc(ref, func(a, b *Call) int {
						if before(a, b) {
							return -1
						}
						return 1
					})
					i := 0
					if r.IntN(2) == 0 {
						i = r.IntN(len(ref))
					}
					c := ref[i]
					if _, ok := l.remove(c); !ok {
						t.Fatalf("op %d: %s not found", op, c.ID)
					}
					ref = slices.Delete(ref, i, i+1)
					out = append(out, c)
				}
				if op%7 == 0 {
					l.settleAll()
				}
				if op%50 != 0 && op != tc.ops-1 {
					continue
				}
				slices.SortFunc(ref, func(a, b *Call) int {
					if before(a, b) {
						return -1
					}
					return 1
				})
				want := make([]string, len(ref))
				oldest := int64(-1)
				for i, c := range ref {
					want[i] = c.ID
					if oldest < 0 || c.Enqueued < oldest {
						oldest = c.Enqueued
					}
					if p := l.position(c); p != i+1 {
						t.Fatalf("op %d: %s at %d, want %d", op, c.ID, p, i+1)
					}
				}
				if got := l.IDs(); !slices.Equal(got, want) || l.Len() != len(want) {
					t.Fatalf("op %d: order %v, want %v", op, got, want)
				}
				if got := l.oldest(); got != oldest {
					t.Fatalf("op %d: oldest %d, want %d", op, got, oldest)
				}
				if err := l.check(); err != nil {
					t.Fatalf("op %d: %v", op, err)
				}
			}
			if len(ref) < 100 && tc.ops >= 3000 {
				t.Fatalf("only %d calls left waiting: the long lists were not exercised", len(ref))
			}
		})
	}
}
