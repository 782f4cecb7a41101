package mail

import (
	"errors"
	"testing"

	cc "github.com/tandemcc/tandem/contactcenter"
)

// TestGroupBatches: a commit takes the batches already waiting, in order,
// up to MaxMailBatch messages; a batch that does not fit, or an error,
// is held for the next; nothing is waited for.
func TestGroupBatches(t *testing.T) {
	batch := func(from, n int) fetched {
		f := fetched{last: uint32(from + n - 1)}
		for u := from; u < from+n; u++ {
			f.reqs = append(f.reqs, cc.MailReceivedRequest{UIDValidity: 1, UID: uint32(u), After: uint32(u - 1)})
		}
		return f
	}
	boom := errors.New("fetch failed")
	for _, tc := range []struct {
		name     string
		first    fetched
		waiting  []fetched
		closed   bool
		wantN    int
		wantLast uint32
		held     string // "", "batch", "error"
		left     int    // batches left waiting
	}{
		{"alone", batch(1, 500), nil, false, 500, 500, "", 0},
		{"two waiting", batch(1, 500), []fetched{batch(501, 500)}, false, 1000, 1000, "", 0},
		{"full", batch(1, 500), []fetched{batch(501, 500), batch(1001, 500)}, false, 1000, 1000, "", 1},
		{"does not fit", batch(1, 600), []fetched{batch(601, 500), batch(1101, 10)}, false, 600, 600, "batch", 1},
		{"error after", batch(1, 10), []fetched{batch(11, 10), {err: boom}}, false, 20, 20, "error", 0},
		{"closed", batch(1, 10), []fetched{batch(11, 5)}, true, 15, 15, "", 0},
		{"empty batch", fetched{last: 40}, []fetched{batch(41, 3)}, false, 3, 43, "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			more := make(chan fetched, len(tc.waiting))
			for _, f := range tc.waiting {
				more <- f
			}
			if tc.closed {
				close(more)
			}
			reqs, last, held := groupBatches(tc.first, more)
			if len(reqs) != tc.wantN || last != tc.wantLast {
				t.Fatalf("%d messages up to %d, want %d up to %d", len(reqs), last, tc.wantN, tc.wantLast)
			}
			for i, r := range reqs {
				if i > 0 && r.After != reqs[i-1].UID {
					t.Fatalf("message %d after %d, not %d: out of order", r.UID, r.After, reqs[i-1].UID)
				}
			}
			switch {
			case tc.held == "" && held != nil, tc.held == "batch" && (held == nil || held.err != nil), tc.held == "error" && (held == nil || !errors.Is(held.err, boom)):
				t.Fatalf("held %+v, want %s", held, tc.held)
			}
			if !tc.closed && len(more) != tc.left {
				t.Fatalf("%d batches left waiting, want %d", len(more), tc.left)
			}
		})
	}
	// The first batch's list is not written past its end.
	first := batch(1, 2)
	first.reqs[1].UID = 99
	first.reqs = first.reqs[:1:2]
	more := make(chan fetched, 1)
	more <- batch(2, 1)
	reqs, _, _ := groupBatches(first, more)
	if reqs[1].UID != 2 || first.reqs[:2][1].UID != 99 {
		t.Fatalf("grouped %+v", reqs)
	}
}
