package contactcenter

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
)

// recordSink keeps the events a diff emits.
type recordSink struct{ events []string }

func (s *recordSink) Emit(typ string, data any) {
	s.events = append(s.events, fmt.Sprintf("%s %v", typ, data))
}

// TestCallerIndexUpdatedInPlace applies random directory changes (merges
// that create, update and renumber contacts, some sharing numbers with
// users and with each other; prunes; settings changes; queues added
// beside them, which leave the index's inputs alone; users added, which
// do not) and checks after each that the caller index updated in place
// equals one built anew, and
// that a merge's diff at the document's contacts alone gives the events
// and counts of a diff of the whole directory, which the apply and its
// preview (the edge's "would anything change?") both answer.
func TestCallerIndexUpdatedInPlace(t *testing.T) {
	h := newHarness(t, baseDoc)
	h.config(ctiDoc)
	rng := rand.New(rand.NewPCG(7, 11))
	numbers := []string{"0161 552 7789", "+44 (161) 5527789", "07700 900999", "+44 7700 900123", "3001", "2002", "020 7946 0000", "5527789", ""}
	names := []string{"Ann", "ann", "Bob", "Zed", "Émile", ""}
	pick := func(s []string) string { return s[rng.IntN(len(s))] }
	incremental, kept := 0, 0
	for round := 0; round < 300; round++ {
		var d Document
		prune := rng.IntN(15) == 0
		for i := 0; i < 1+rng.IntN(6); i++ {
			id := fmt.Sprintf("k%d", rng.IntN(12))
			if rng.IntN(4) == 0 {
				id = "K" + id[1:] // an id differing only in case
			}
			dup := false
			for _, c := range d.Contacts {
				dup = dup || c.ID == id
			}
			if dup {
				continue
			}
			d.Contacts = append(d.Contacts, Contact{ID: id, FirstName: pick(names), LastName: pick(names), Company: pick(names),
				Phone: pick(numbers), Mobile: pick(numbers), Extension: pick([]string{"", "", "3002", "2001"})})
		}
		// Queues and users new or written again (the same or changed):
		// the diff at the document's entries must count and emit as the
		// whole diff does.
		if rng.IntN(4) == 0 {
			d.Queues = append(d.Queues, Queue{ID: fmt.Sprintf("rq%d", rng.IntN(round+1)), Strategy: pick([]string{"longest-idle", "round-robin"})})
		}
		if rng.IntN(10) == 0 {
			d.Users = append(d.Users, User{ID: fmt.Sprintf("ru%d", rng.IntN(round/4+1)), Name: pick(names), Mobile: pick(numbers)})
		}
		if rng.IntN(20) == 0 {
			d.Settings = &Settings{InternalNumberLength: 4, DefaultCountryCode: pick([]string{"44", "33"}), DefaultAreaCode: "161"}
		}
		req := ApplyRequest{Document: d, Prune: prune}
		if prune {
			// A prune keeps the rest of the configuration as it is.
			full := h.e.st.Config.Document()
			full.Contacts = d.Contacts
			if d.Settings != nil {
				full.Settings = d.Settings
			}
			req.Document = full
		}
		// The detailed diff at the document's ids equals the whole diff.
		next, err := merge(h.e.st.Config, req.Document, req.Prune)
		if err != nil {
			t.Fatalf("round %d: merge: %v", round, err)
		}
		staged, err := mergeStaged(h.e.st.Config, req.Document, req.Prune)
		if err != nil {
			t.Fatalf("round %d: mergeStaged: %v", round, err)
		}
		var whole, some recordSink
		rw := diff(h.e.st.Config, next, &whole)
		rs, ch := diffDetail(h.e.st.Config, staged, &some)
		if rw != rs || !reflect.DeepEqual(whole.events, some.events) {
			t.Fatalf("round %d (prune %v): diff %+v %q\nat the document's ids %+v %q", round, prune, rw, whole.events, rs, some.events)
		}
		if ch.contactsOnly {
			incremental++
		}
		// Queues alone leave what the index reads as it was (a prune
		// applies only the document's contacts and settings).
		if len(d.Users) == 0 && d.Settings == nil && !prune && !ch.callersKept {
			t.Fatalf("round %d: callers not kept with no users or settings in the document", round)
		}
		if ch.callersKept && !ch.contactsOnly {
			kept++
		}
		preview, err := h.e.Preview(req)
		if err != nil {
			t.Fatalf("round %d: preview: %v", round, err)
		}
		res, err := h.apply(TypeConfigApply, req)
		if err != nil {
			t.Fatalf("round %d: apply: %v", round, err)
		}
		if res.(ApplyResult) != preview || preview != rw {
			t.Fatalf("round %d: apply %+v, preview %+v, whole diff %+v", round, res, preview, rw)
		}
		got := h.e.callers
		h.e.buildCallerIndex()
		if !reflect.DeepEqual(got, h.e.callers) {
			t.Fatalf("round %d (prune %v, contacts only %v): index updated in place\n%v\nbuilt anew\n%v", round, prune, ch.contactsOnly, got, h.e.callers)
		}
	}
	if incremental < 100 || kept < 20 {
		t.Fatalf("only %d of 300 applies took the in-place path, %d with more than contacts changed", incremental+kept, kept)
	}
	t.Logf("%d of 300 applies updated the index in place, %d of them with more than contacts changed", incremental+kept, kept)
}
