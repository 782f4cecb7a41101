package voice

import (
	"context"
	"testing"

	"github.com/tandemcc/tandem/contactcenter"
)

// The forward of a direct call is the engine's decision for the
// extension's user; the edge finds the user, the no-answer time and
// RFC 5806's reason.
func TestForwardLookups(t *testing.T) {
	r := newRig(t)
	doc, err := contactcenter.ParseDocument([]byte(testDoc + `
users:
  - {id: ann, name: Ann, extension: "2001"}
  - {id: bob, name: Bob, extension: "2002"}
`))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := r.store.Propose(ctx, contactcenter.TypeConfigApply, contactcenter.ApplyRequest{Document: doc}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.store.Propose(ctx, contactcenter.TypeUserForwarding, contactcenter.ForwardingRequest{User: "ann",
		Forwarding: contactcenter.Forwarding{NoAnswer: contactcenter.ForwardRule{Number: "2002"}, NoAnswerSeconds: 7}}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.store.Propose(ctx, contactcenter.TypeUserForwarding, contactcenter.ForwardingRequest{User: "bob",
		Forwarding: contactcenter.Forwarding{NoAnswerSeconds: 9}}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		ext, user string
		secs      int
	}{
		{"2001", "ann", 7},
		{"2002", "bob", 0}, // seconds without a forward on no answer: the waves' own time
		{"2003", "", 0},
		{"9999", "", 0},
	} {
		if u := r.s.userOfExtension(tc.ext); u != tc.user {
			t.Errorf("user of %s = %q, want %q", tc.ext, u, tc.user)
		}
		if s := r.s.noAnswerSeconds(tc.ext); s != tc.secs {
			t.Errorf("no-answer seconds of %s = %d, want %d", tc.ext, s, tc.secs)
		}
	}
	for cond, want := range map[string]string{
		contactcenter.ForwardUnconditional: "unconditional",
		contactcenter.ForwardCalendar:      "time-of-day",
		contactcenter.ForwardNotConnected:  "unavailable",
		contactcenter.ForwardBusy:          "user-busy",
		contactcenter.ForwardNoAnswer:      "no-answer",
	} {
		if got := diversionReason(cond); got != want {
			t.Errorf("diversionReason(%s) = %s, want %s", cond, got, want)
		}
	}
}
