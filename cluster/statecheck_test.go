package cluster

import (
	"log/slog"
	"testing"
	"time"
)

// TestCheckpointDigests: members that applied the same commands digest
// the same state at a checkpoint; one whose state differs does not, and
// compareStates names it once, as a difference of state.
func TestCheckpointDigests(t *testing.T) {
	type member struct {
		f *fsm
		m *fakeMachine
	}
	mk := func() member {
		m := newFake("alpha")
		return member{mustFSM(t, []Machine{m}), m}
	}
	a, b, c := mk(), mk(), mk()
	for _, x := range []member{a, b, c} {
		mustApply(t, x.f, 1, encode(t, "alpha.set", "s1", kv{"k", "v"}))
	}
	c.m.state["k"] = "other" // as a state restored from another snapshot would be
	for _, x := range []member{a, b, c} {
		mustApply(t, x.f, 2, encode(t, TypeCheckpoint, "cp2", nil))
	}
	da, db, dc := a.f.states.all(), b.f.states.all(), c.f.states.all()
	if len(da) != 1 || da[0].Index != 2 || da[0] != db[0] {
		t.Fatalf("same commands, digests %+v and %+v", da, db)
	}
	if dc[0].SHA256 == da[0].SHA256 {
		t.Fatal("a different state has the same digest")
	}

	s := &Store{fsm: a.f, log: slog.New(slog.DiscardHandler), now: time.Now}
	rc := &replicaCheck{s: s}
	rc.compareStates("b", db)
	if st := rc.status(); st.StateCheckedTo != 2 || len(st.Diverged) != 0 {
		t.Fatalf("after b: %+v", st)
	}
	rc.compareStates("c", dc)
	rc.compareStates("c", dc)
	st := rc.status()
	if len(st.Diverged) != 1 || st.Diverged[0].Node != "c" || !st.Diverged[0].State || st.Diverged[0].From != 2 {
		t.Fatalf("after c: %+v", st)
	}
	rc.compareStates("b", []StateDigest{{Index: 9, SHA256: "x"}}) // a checkpoint a did not apply
	if st := rc.status(); len(st.Diverged) != 1 {
		t.Fatalf("a checkpoint not applied here compared: %+v", st)
	}
}
