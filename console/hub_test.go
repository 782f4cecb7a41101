package console

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tandemcc/tandem/command"
)

func evs(index uint64, n int) []command.Event {
	out := make([]command.Event, n)
	for i := range out {
		out[i] = command.Event{Index: index, Seq: i, Type: "t"}
	}
	return out
}

func positions(list []command.Event) []command.Position {
	var out []command.Position
	for _, ev := range list {
		out = append(out, ev.Pos())
	}
	return out
}

func next(t *testing.T, s *Subscription) ([]command.Event, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return s.Next(ctx)
}

func TestHubResume(t *testing.T) {
	h := &Hub{Size: 4, Applied: func() uint64 { return 9 }}
	h.Publish(evs(10, 2)) // 10.0 10.1
	h.Publish(evs(12, 1)) // 12.0
	for _, tc := range []struct {
		name  string
		since command.Position
		want  []command.Position
		err   error
	}{
		{"from the state before the first event", command.EndOf(9), []command.Position{{Index: 10, Seq: 0}, {Index: 10, Seq: 1}, {Index: 12, Seq: 0}}, nil},
		{"mid command", command.Position{Index: 10, Seq: 0}, []command.Position{{Index: 10, Seq: 1}, {Index: 12, Seq: 0}}, nil},
		{"after a command without events", command.EndOf(11), []command.Position{{Index: 12, Seq: 0}}, nil},
		{"before the hub's first event", command.EndOf(8), nil, ErrGap},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := h.Subscribe(tc.since)
			if !errors.Is(err, tc.err) {
				t.Fatalf("subscribe: %v, want %v", err, tc.err)
			}
			if err != nil {
				return
			}
			defer s.Close()
			got, err := next(t, s)
			if err != nil || len(got) != len(tc.want) {
				t.Fatalf("got %v %v, want %v", positions(got), err, tc.want)
			}
			for i := range got {
				if got[i].Pos() != tc.want[i] {
					t.Fatalf("got %v, want %v", positions(got), tc.want)
				}
			}
		})
	}
	// Up to date: a live subscriber gets new events once, replays skipped.
	s, err := h.Subscribe(command.EndOf(12))
	if err != nil {
		t.Fatal(err)
	}
	h.Publish(evs(12, 1)) // replay of a held event
	h.Publish(evs(13, 1))
	got, err := next(t, s)
	if err != nil || len(got) != 1 || got[0].Pos() != (command.Position{Index: 13}) {
		t.Fatalf("live: %v %v", positions(got), err)
	}
	// Eviction moves the base: the ring holds 4 events (10.1 12.0 13.0 14.0).
	h.Publish(evs(14, 1))
	if _, err := h.Subscribe(command.Position{Index: 10, Seq: 0}); err != nil {
		t.Fatalf("just inside the ring: %v", err)
	}
	if _, err := h.Subscribe(command.EndOf(9)); !errors.Is(err, ErrGap) {
		t.Fatalf("evicted range: %v, want ErrGap", err)
	}
	// A restored snapshot breaks continuity: subscribers must reload.
	h.Restored(20)
	if _, err := next(t, s); !errors.Is(err, ErrGap) {
		t.Fatalf("after restore: %v, want ErrGap", err)
	}
	if _, err := h.Subscribe(command.EndOf(14)); !errors.Is(err, ErrGap) {
		t.Fatalf("subscribe before the restored index: %v", err)
	}
	if _, err := h.Subscribe(command.EndOf(20)); err != nil {
		t.Fatalf("subscribe at the restored index: %v", err)
	}
}

func TestHubBaseWithoutEvents(t *testing.T) {
	// No event published yet: the base is the applied index at the first
	// subscription.
	h := &Hub{Applied: func() uint64 { return 7 }}
	if _, err := h.Subscribe(command.EndOf(6)); !errors.Is(err, ErrGap) {
		t.Fatalf("before applied: %v", err)
	}
	s, err := h.Subscribe(command.EndOf(7))
	if err != nil {
		t.Fatal(err)
	}
	h.Publish(evs(8, 2))
	got, err := next(t, s)
	if err != nil || len(got) != 2 {
		t.Fatalf("got %v %v", positions(got), err)
	}
}

func TestHubSlowSubscriber(t *testing.T) {
	h := &Hub{Size: 100, QueueLimit: 3}
	s, err := h.Subscribe(command.EndOf(0))
	if err != nil {
		t.Fatal(err)
	}
	for i := uint64(1); i <= 4; i++ {
		h.Publish(evs(i, 1))
	}
	if _, err := next(t, s); !errors.Is(err, ErrSlow) {
		t.Fatalf("got %v, want ErrSlow", err)
	}
	// Other subscribers are not affected, and Publish never blocked.
	s2, err := h.Subscribe(command.EndOf(2))
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := next(t, s2); len(got) != 2 {
		t.Fatalf("resumed subscriber got %v", positions(got))
	}
}

// dataEvs are n events of command index, each with size bytes of data.
func dataEvs(index uint64, n, size int) []command.Event {
	out := evs(index, n)
	for i := range out {
		out[i].Data = make([]byte, size)
	}
	return out
}

// TestHubByteBound: the ring holds at most MaxBytes of event data, the
// oldest events leaving first (the base moves with them, and their data
// is not held on to); an event larger than the bound is held alone; a
// subscriber more than MaxBytes behind is dropped (ErrSlow) and resumes
// from what the ring still holds.
func TestHubByteBound(t *testing.T) {
	h := &Hub{Size: 100, MaxBytes: 10, Applied: func() uint64 { return 0 }}
	slow, err := h.Subscribe(command.EndOf(0))
	if err != nil {
		t.Fatal(err)
	}
	h.Publish(dataEvs(1, 2, 4)) // 1.0 1.1: 8 bytes
	h.Publish(dataEvs(2, 1, 4)) // 2.0: 12 bytes, so 1.0 leaves
	if base, last := h.Position(); base != (command.Position{Index: 1, Seq: 0}) || last != (command.Position{Index: 2, Seq: 0}) {
		t.Fatalf("held after %v up to %v, want after 1.0 up to 2.0", base, last)
	}
	if h.count != 2 || h.bytes != 8 {
		t.Fatalf("ring holds %d events of %d bytes, want 2 of 8", h.count, h.bytes)
	}
	for i, ev := range h.ring {
		if ev.Data != nil && i != h.head && i != (h.head+1)%len(h.ring) {
			t.Fatalf("slot %d still holds an evicted event's data", i)
		}
	}
	if _, err := h.Subscribe(command.EndOf(0)); !errors.Is(err, ErrGap) {
		t.Fatalf("subscribe before the evicted event: %v, want ErrGap", err)
	}
	s, err := h.Subscribe(command.Position{Index: 1, Seq: 0})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := next(t, s); err != nil || len(got) != 2 {
		t.Fatalf("resumed inside the ring: %v %v", positions(got), err)
	}
	// The slow subscriber has read nothing: 12 bytes queued > 10.
	if _, err := next(t, slow); !errors.Is(err, ErrSlow) {
		t.Fatalf("subscriber 12 bytes behind: %v, want ErrSlow", err)
	}
	// A reader keeping up is not dropped, however much passes through.
	for i := uint64(3); i < 20; i++ {
		h.Publish(dataEvs(i, 2, 4))
		if got, err := next(t, s); err != nil || len(got) != 2 {
			t.Fatalf("live reader at %d: %v %v", i, positions(got), err)
		}
	}
	// An event larger than the bound is held, alone.
	h.Publish(dataEvs(20, 1, 25))
	if h.count != 1 || h.bytes != 25 {
		t.Fatalf("after a 25-byte event the ring holds %d events of %d bytes, want 1 of 25", h.count, h.bytes)
	}
	if got, err := next(t, s); err != nil || len(got) != 1 || got[0].Index != 20 {
		t.Fatalf("the large event: %v %v", positions(got), err)
	}
	// Restored: nothing held.
	h.Restored(30)
	if h.count != 0 || h.bytes != 0 {
		t.Fatalf("after a restore the ring holds %d events of %d bytes", h.count, h.bytes)
	}
	h.Publish(dataEvs(31, 3, 4))
	if base, _ := h.Position(); base != (command.Position{Index: 31, Seq: 0}) || h.count != 2 {
		t.Fatalf("after the restore and 12 bytes: held after %v, %d events; want after 31.0, 2", base, h.count)
	}
}
