package contactcenter

import (
	"testing"
	"time"

	"github.com/tandemcc/tandem/command"
)

// TestNextDeadline drives the engine only by ticks at NextDeadline (as the
// leader's ticker does): every deadline fires exactly at the reported time
// and not a nanosecond before.
func TestNextDeadline(t *testing.T) {
	h := talking(t, "c")
	h.tick() // schedules the daily maintenance
	if at, ok := h.e.NextDeadline(); !ok || time.Unix(0, at).UTC().Format("15:04") != DefaultMaintenanceTime {
		t.Fatal("a call in conversation has no deadline but the daily maintenance")
	}
	h.ok(TypeCallTransfer, TransferRequest{Agent: "a1", Target: "3001"})
	h.tick() // publishes the queue statistics the transfer left dirty
	want := []string{EvCallBand, EvCallBand, EvCallReturned, EvCallNoAnswer}
	for i := range want {
		at, ok := h.e.NextDeadline()
		if !ok {
			t.Fatalf("deadline %d: none pending, want one firing %s", i, want[i])
		}
		// One nanosecond early: nothing may fire.
		h.now = time.Unix(0, at-1)
		h.tick()
		if len(h.events) != 0 {
			t.Fatalf("tick 1 ns before the deadline fired %v", h.types())
		}
		h.now = time.Unix(0, at)
		h.tick()
		if len(h.events) == 0 {
			t.Fatalf("tick at the deadline %d fired nothing", at)
		}
		if !h.hasEvent(want[i]) {
			t.Fatalf("deadline %d fired %v, want %s", i, h.types(), want[i])
		}
		if i == 2 {
			// Returned to the personal queue and offered to its free
			// operator: the next deadline is that offer's ring timeout.
			next, _ := h.e.NextDeadline()
			if w := at + int64(15*time.Second); next != w {
				t.Fatalf("after the return: next deadline %d, want the ring timeout %d", next, w)
			}
		}
	}
}

// TestNextDeadlineRestored: the index of timed calls is derived state,
// rebuilt from a snapshot: a restored engine reports the same next
// deadline (an auto-return) and fires it.
func TestNextDeadlineRestored(t *testing.T) {
	h := talking(t, "c")
	h.ok(TypeCallTransfer, TransferRequest{Agent: "a1", Target: "3001"})
	want, ok := h.e.NextDeadline()
	if !ok {
		t.Fatal("no deadline after a transfer")
	}
	r := restored(t, h.e)
	if got, ok := r.NextDeadline(); !ok || got != want {
		t.Fatalf("restored: next deadline %d %v, want %d", got, ok, want)
	}
	if err := r.Check(); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkNextDeadline: the leader's ticker asks every 100 ms; with
// 20,000 e-mails waiting in a queue (none of them timed) it looks only
// at the calls that may have a deadline.
func BenchmarkNextDeadline(b *testing.B) {
	h := mailWaiting(b, 20)
	b.ResetTimer()
	for range b.N {
		h.e.NextDeadline()
	}
}

// TestSupervisedIndex: the index of supervised calls holds exactly the
// calls in supervision (the invariant check holds it so after every
// command of every test); an entry left behind by some other way out
// would be ignored by the readers and dropped at the next tick; a
// restored engine rebuilds the index.
func TestSupervisedIndex(t *testing.T) {
	h := talking(t, "c")
	h.ok(TypeCallPark, ParkRequest{Agent: "a1"})
	if _, ok := h.e.supervised["c"]; !ok || len(h.e.Supervised("a1", false, "")) != 1 || !h.e.ownsSupervised("a1") {
		t.Fatalf("parked call: index %v, listed %v", h.e.supervised, h.e.Supervised("a1", false, ""))
	}
	if r := restored(t, h.e); len(r.supervised) != 1 || len(r.Supervised("a1", true, "")) != 1 {
		t.Fatalf("restored: index %v", r.supervised)
	}
	h.incoming("c2", "sales")
	h.answer("a1")
	h.ok(TypeCallCouple, CoupleRequest{Agent: "a1", Call: "c"})
	if len(h.e.supervised) != 0 || len(h.e.Supervised("a1", true, "")) != 0 || h.e.ownsSupervised("a1") {
		t.Fatalf("coupled: index %v, listed %v", h.e.supervised, h.e.Supervised("a1", true, ""))
	}
	h.e.supervised["c"], h.e.supervised["gone"] = struct{}{}, struct{}{} // left behind
	if len(h.e.Supervised("a1", true, "")) != 0 || h.e.ownsSupervised("a1") {
		t.Fatal("a call no longer in supervision listed")
	}
	h.tick()
	if len(h.e.supervised) != 0 {
		t.Fatalf("after the tick: index %v", h.e.supervised)
	}
}

// BenchmarkSupervisedList: the supervised calls a console lists, with
// 20,000 e-mails waiting in a queue, looked for only among the calls in
// supervision (239 µs before the index, 74 ns with it).
func BenchmarkSupervisedList(b *testing.B) {
	h := mailWaiting(b, 20)
	b.ResetTimer()
	for range b.N {
		h.e.Supervised("a1", true, "")
	}
}

// mailWaiting is the e2e mail benchmark's configuration with thousands
// of e-mails waiting in a queue, none of them timed or supervised.
func mailWaiting(b *testing.B, thousands int) *harness {
	h := newHarness(b, mailBenchDoc)
	h.check = false
	for _, env := range MailBenchBatches(b, thousands, 1000) {
		var em command.Emitter
		env.Time = h.now.UnixNano()
		em.Restart(1, env)
		if _, err := h.e.Apply(env, &em); err != nil {
			b.Fatal(err)
		}
	}
	if n := len(h.e.st.Calls); n != thousands*1000 {
		b.Fatalf("%d calls", n)
	}
	return h
}
