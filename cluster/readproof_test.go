package cluster

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// TestReadProof: a read waits for a quorum's answers to requests sent
// after it began, in its term; answers to earlier requests (a thawed
// leader's stale ones), of another term, or from too few peers do not do.
func TestReadProof(t *testing.T) {
	t0 := time.Unix(1000, 0)
	peers := []raft.ServerID{"b", "c"}
	type rec struct {
		id   raft.ServerID
		term uint64
		sent time.Time
	}
	cases := []struct {
		name    string
		records []rec
		need    int
		ok      bool
	}{
		{"none", nil, 1, false},
		{"stale answer, sent before the read", []rec{{"b", 5, t0.Add(-time.Millisecond)}}, 1, false},
		{"fresh answer", []rec{{"b", 5, t0.Add(time.Millisecond)}}, 1, true},
		{"fresh answer of an older term", []rec{{"b", 4, t0.Add(time.Millisecond)}}, 1, false},
		{"one of two needed", []rec{{"c", 5, t0.Add(time.Millisecond)}}, 2, false},
		{"two of two", []rec{{"c", 5, t0.Add(time.Millisecond)}, {"b", 5, t0.Add(2 * time.Millisecond)}}, 2, true},
		{"a peer not in the configuration", []rec{{"x", 5, t0.Add(time.Millisecond)}}, 1, false},
		{"an older send recorded after a newer one", []rec{{"b", 5, t0.Add(time.Millisecond)}, {"b", 5, t0.Add(-time.Second)}}, 1, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := newReadProof()
			for _, r := range tc.records {
				p.record(r.id, r.term, r.sent)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
			defer cancel()
			err := p.wait(ctx, peers, tc.need, 5, t0)
			if tc.ok && err != nil {
				t.Fatalf("wait: %v", err)
			}
			if !tc.ok && !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("wait = %v, want it to wait", err)
			}
		})
	}

	// A wait returns as soon as the answer it needs is recorded.
	p := newReadProof()
	done := make(chan error, 1)
	go func() { done <- p.wait(context.Background(), peers, 1, 5, t0) }()
	p.record("b", 5, t0.Add(-time.Millisecond)) // stale: still waiting
	select {
	case err := <-done:
		t.Fatalf("returned on a stale answer: %v", err)
	case <-time.After(20 * time.Millisecond):
	}
	p.record("c", 5, t0.Add(time.Millisecond))
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("still waiting after a fresh answer")
	}
}
