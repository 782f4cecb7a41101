package contactcenter

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"github.com/tandemcc/tandem/internal/apierr"
)

// TestPreferencesRevision: a save names the revision it was made from;
// the engine accepts it only while that is the current revision (then
// the revision advances by one), and refuses one made from an older or
// a future revision with ErrPreferencesChanged (412
// precondition_failed), changing nothing (the harness checks the hash
// and that no event is emitted), so two consoles of one user never lose
// each other's saves. A save without a revision (a log entry written
// before revisions existed) applies unconditionally and advances it too.
func TestPreferencesRevision(t *testing.T) {
	rev := revision
	a := Preferences{Language: "es", OwnSpeedDials: true,
		SpeedDials: []SpeedDial{{Label: "Desk", Number: "3001", Page: 1, Position: 1}}}
	b := Preferences{Language: "en", TextSize: "large"}
	type step struct {
		name     string
		user     string
		revision *uint64
		prefs    Preferences
		refused  bool   // with ErrPreferencesChanged
		want     uint64 // the user's revision after the step
		stored   Preferences
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"first save names 0", []step{
			{"from 0", "u1", rev(0), a, false, 1, a},
		}},
		{"first save from a revision never reached", []step{
			{"from 1", "u1", rev(1), a, true, 0, Preferences{}},
			{"from 0", "u1", rev(0), a, false, 1, a},
		}},
		{"two consoles: the stale one is refused, reloads and reapplies", []step{
			{"console A from 0", "u1", rev(0), a, false, 1, a},
			{"console B, still at 0", "u1", rev(0), b, true, 1, a},
			{"console B again at 0", "u1", rev(0), b, true, 1, a},
			{"console B from a future revision", "u1", rev(7), b, true, 1, a},
			{"console B after reloading (1)", "u1", rev(1), b, false, 2, b},
			{"console A, now stale at 1", "u1", rev(1), a, true, 2, b},
			{"console A after reloading (2)", "u1", rev(2), a, false, 3, a},
		}},
		{"revisions are per user", []step{
			{"u1 from 0", "u1", rev(0), a, false, 1, a},
			{"u2 from 0", "u2", rev(0), b, false, 1, b},
			{"u2 from 1", "u2", rev(1), a, false, 2, a},
			{"u1 from 2 (u2's)", "u1", rev(2), b, true, 1, a},
		}},
		{"a save without revision (an older log entry) applies and advances", []step{
			{"unconditional", "u1", nil, a, false, 1, a},
			{"unconditional again", "u1", nil, b, false, 2, b},
			{"stale after it", "u1", rev(1), a, true, 2, b},
			{"current", "u1", rev(2), a, false, 3, a},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, baseDoc)
			for _, s := range tc.steps {
				req := PreferencesRequest{User: s.user, Preferences: s.prefs, Revision: s.revision}
				if s.refused {
					err := h.fail(TypeUserPreferences, req, ErrPreferencesChanged)
					if c := apierr.From(err); c.Code != apierr.PreconditionFailed || c.Status() != 412 || c.Field != "" {
						t.Fatalf("%s: answered %d %+v, want 412 precondition_failed", s.name, c.Status(), *c)
					}
					if !strings.Contains(err.Error(), "reload") {
						t.Errorf("%s: the message %q does not say what to do", s.name, err)
					}
				} else {
					res := h.ok(TypeUserPreferences, req)
					var ev PreferencesEvent
					h.event(EvUserPreferences, &ev)
					if ev.Revision != s.want || res.(PreferencesEvent).Revision != s.want {
						t.Fatalf("%s: event revision %d, result %+v, want %d", s.name, ev.Revision, res, s.want)
					}
				}
				got, r, _ := h.e.UserPreferences(s.user)
				if r != s.want || !reflect.DeepEqual(got, s.stored) {
					t.Fatalf("%s: stored revision %d %+v, want %d %+v", s.name, r, got, s.want, s.stored)
				}
			}
		})
	}
}

// TestPreferencesRevisionSnapshot: the revision is in the engine's
// snapshot section, so a member restoring it refuses the same stale
// saves; a snapshot of the build before revisions (no
// preferences_revision) still restores, its saved preferences at
// revision 0, which a save then names.
func TestPreferencesRevisionSnapshot(t *testing.T) {
	h := newHarness(t, baseDoc)
	p := Preferences{Language: "es"}
	h.ok(TypeUserPreferences, PreferencesRequest{User: "u1", Preferences: p})
	h.ok(TypeUserPreferences, PreferencesRequest{User: "u1", Preferences: p})
	snap, err := h.e.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(snap, []byte(`"preferences_revision":2`)) {
		t.Fatalf("the snapshot does not carry the revision: %s", snap)
	}
	restored := New()
	if err := restored.Restore(snap); err != nil {
		t.Fatal(err)
	}
	if _, r, _ := restored.UserPreferences("u1"); r != 2 || restored.Hash() != h.e.Hash() {
		t.Fatalf("restored at revision %d (hash equal: %v), want 2", r, restored.Hash() == h.e.Hash())
	}

	// The same state as the previous build wrote it: no revision.
	old := bytes.Replace(snap, []byte(`,"preferences_revision":2`), nil, 1)
	if bytes.Equal(old, snap) {
		t.Fatal("could not make the previous build's snapshot")
	}
	h2 := newHarness(t, baseDoc)
	if err := h2.e.Restore(old); err != nil {
		t.Fatalf("restoring the previous build's snapshot: %v", err)
	}
	if got, r, saved := h2.e.UserPreferences("u1"); !saved || r != 0 || !reflect.DeepEqual(got, p) {
		t.Fatalf("old snapshot restored %+v revision %d saved %v", got, r, saved)
	}
	h2.fail(TypeUserPreferences, PreferencesRequest{User: "u1", Preferences: p, Revision: revision(1)}, ErrPreferencesChanged)
	h2.ok(TypeUserPreferences, PreferencesRequest{User: "u1", Preferences: p, Revision: revision(0)})
	if _, r, _ := h2.e.UserPreferences("u1"); r != 1 {
		t.Fatalf("after a save from 0: revision %d, want 1", r)
	}
}

func revision(n uint64) *uint64 { return &n }
