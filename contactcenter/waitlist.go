package contactcenter

import (
	"encoding/json"
	"fmt"
	"slices"
)

// waitList is a general queue's waiting calls (not ringing) in offer
// order: caller priority (high first), then time of entry, then entry
// order (before). It keeps one list per caller priority, so that a call
// entering the queue is appended to the end of its priority's list — or,
// coming back from ringing with its original entry, put at its place in
// that list by binary search — instead of moving every call of a lower
// priority, and one leaving at the head of its priority moves nothing.
//
// Its snapshot encoding is the one of earlier versions: the JSON array of
// the call ids in offer order ("waiting" of a queue), which Restore reads
// back (restored, then resolved by syncRouting).
type waitList struct {
	// b[bucket(p)] holds the calls of priority p in before order.
	b [MaxPriority + 1][]waiting
	n int
	// gen is the routing mark (acd.go, "settled" calls): an entry whose
	// gen is below it was passed over by the queue's last routing pass.
	// routeQueue marks every call at once by incrementing it.
	gen uint64
	// restored: the ids of a decoded snapshot, until syncRouting.
	restored []string
}

// waiting is a call waiting in a queue, as routing sees it.
type waiting struct {
	c    *Call
	need []skillNeed // compileNeed(c, its queue)
	gen  uint64      // the list's gen when the call entered it
}

// bucket is the list index of caller priority p (priorities outside
// 0..MaxPriority, which commands refuse, go with the nearest).
func bucket(p int) int { return MaxPriority - min(max(p, 0), MaxPriority) }

// Len is the number of waiting calls.
func (l *waitList) Len() int { return l.n }

// IsZero tells the snapshot encoder to omit an empty list (as the
// omitempty of the earlier []string did).
func (l waitList) IsZero() bool { return l.n == 0 && len(l.restored) == 0 }

// settled tells whether w was passed over by the last routing pass.
func (l *waitList) settled(w *waiting) bool { return w.gen < l.gen }

// settleAll marks every waiting call settled.
func (l *waitList) settleAll() { l.gen++ }

// insert puts w at its place (unsettled) and returns its 1-based
// position in the queue.
func (l *waitList) insert(w waiting) int {
	k := bucket(w.c.Priority)
	items := l.b[k]
	i := len(items)
	if i > 0 && before(w.c, items[i-1].c) {
		lo, hi := 0, i
		for lo < hi {
			m := int(uint(lo+hi) >> 1)
			if before(w.c, items[m].c) {
				hi = m
			} else {
				lo = m + 1
			}
		}
		i = lo
	}
	w.gen = l.gen
	l.b[k] = slices.Insert(items, i, w)
	l.n++
	return l.prefix(k) + i + 1
}

// prefix counts the calls of the buckets before k.
func (l *waitList) prefix(k int) int {
	n := 0
	for _, x := range l.b[:k] {
		n += len(x)
	}
	return n
}

// locate finds c: its bucket and index, or -1, -1.
func (l *waitList) locate(c *Call) (int, int) {
	k := bucket(c.Priority)
	items := l.b[k]
	lo, hi := 0, len(items)
	for lo < hi { // the first entry not before c
		m := int(uint(lo+hi) >> 1)
		if before(items[m].c, c) {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo < len(items) && items[lo].c == c {
		return k, lo
	}
	for k := range l.b { // not at its place (never in a checked state)
		for i := range l.b[k] {
			if l.b[k][i].c == c {
				return k, i
			}
		}
	}
	return -1, -1
}

// remove takes c out of the list and returns its compiled requirement.
func (l *waitList) remove(c *Call) (need []skillNeed, ok bool) {
	k, i := l.locate(c)
	if k < 0 {
		return nil, false
	}
	items := l.b[k]
	need = items[i].need
	if i == 0 && len(items) > frontCut {
		// The head of a long list: step past it instead of moving the
		// rest (the backing array is replaced when append outgrows it).
		items[0] = waiting{}
		l.b[k] = items[1:]
	} else {
		l.b[k] = slices.Delete(items, i, i+1) // keeps the backing array
	}
	l.n--
	return need, true
}

// frontCut: a list longer than this loses its head by re-slicing; a
// shorter one moves its few entries and keeps its backing array (no
// allocation as calls come and go).
const frontCut = 256

// position is c's 1-based position, 0 when it is not in the list.
func (l *waitList) position(c *Call) int {
	k, i := l.locate(c)
	if k < 0 {
		return 0
	}
	return l.prefix(k) + i + 1
}

// oldest is the earliest entry time of a waiting call, -1 for none (the
// first call of each priority entered first).
func (l *waitList) oldest() int64 {
	t := int64(-1)
	for _, items := range l.b {
		if len(items) > 0 && (t < 0 || items[0].c.Enqueued < t) {
			t = items[0].c.Enqueued
		}
	}
	return t
}

// calls appends the waiting calls in offer order to out.
func (l *waitList) calls(out []*Call) []*Call {
	for _, items := range l.b {
		for i := range items {
			out = append(out, items[i].c)
		}
	}
	return out
}

// IDs returns the ids of the waiting calls in offer order.
func (l *waitList) IDs() []string {
	if l.n == 0 {
		return slices.Clone(l.restored)
	}
	out := make([]string, 0, l.n)
	for _, items := range l.b {
		for i := range items {
			out = append(out, items[i].c.ID)
		}
	}
	return out
}

// reset empties the list (for syncRouting, which rebuilds it). The
// routing mark is kept: entries inserted afterwards are unsettled.
func (l *waitList) reset() {
	for k := range l.b {
		clear(l.b[k])
		l.b[k] = l.b[k][:0]
	}
	l.n = 0
	l.restored = nil
}

// MarshalJSON encodes the ids in offer order.
func (l waitList) MarshalJSON() ([]byte, error) {
	b, err := json.Marshal(l.IDs())
	if err != nil {
		return nil, fmt.Errorf("encoding a waiting list: %w", err)
	}
	return b, nil
}

// UnmarshalJSON reads the ids of a snapshot; syncRouting resolves them.
func (l *waitList) UnmarshalJSON(b []byte) error {
	var ids []string
	if err := json.Unmarshal(b, &ids); err != nil {
		return fmt.Errorf("decoding a waiting list: %w", err)
	}
	*l = waitList{restored: ids}
	return nil
}

// count is how many entries are call id (the invariants' check).
func (l *waitList) count(id string) int {
	n := 0
	for _, items := range l.b {
		for i := range items {
			if items[i].c.ID == id {
				n++
			}
		}
	}
	return n
}

// check verifies the list's own structure (the invariants' check): each
// call in its priority's list, the count, no restored ids left, no mark
// from the future.
func (l *waitList) check() error {
	if l.restored != nil {
		return fmt.Errorf("waiting list restored but not resolved: %v", l.restored)
	}
	n := 0
	for k, items := range l.b {
		for i := range items {
			if c := items[i].c; bucket(c.Priority) != k {
				return fmt.Errorf("call %s of priority %d is listed with priority %d", c.ID, c.Priority, MaxPriority-k)
			}
			if items[i].gen > l.gen {
				return fmt.Errorf("call %s has routing mark %d, above the queue's %d", items[i].c.ID, items[i].gen, l.gen)
			}
		}
		n += len(items)
	}
	if n != l.n {
		return fmt.Errorf("waiting count %d, but %d calls are listed", l.n, n)
	}
	return nil
}
