package cluster

import (
	"bytes"
	"io"
	"testing"
)

// FuzzRestore: Restore never panics on any snapshot bytes; a refused
// snapshot leaves the FSM as it was; an accepted one leaves an FSM that
// applies commands and snapshots to the same state again.
func FuzzRestore(f *testing.F) {
	src := mustFSM(f, []Machine{newFake("alpha")})
	mustApply(f, src, 1, encode(f, "alpha.set", "s1", kv{"a", "1"}))
	mustApply(f, src, 2, encode(f, TypeNodeUpsert, "s2", NodeMeta{ID: "n1", RaftAddr: "10.0.0.1:7000", AdminAddr: "http://10.0.0.1:7070"}))
	f.Add(snapshotBytes(f, src))
	for _, s := range []string{
		`{"format":1,"cluster":{},"machines":{}}`,
		`{"format":1,"index":9,"cluster":{"nodes":null,"recent":{"x":3},"order":["x","y","x"]},"machines":{"alpha":null}}`,
		`{"format":1,"cluster":{"user_commands":18446744073709551615},"machines":{"alpha":{"k":"v"},"beta":[]}}`,
		`{"format":1,"machines":{"alpha":7}}`,
		`{"format":2}`, `null`, `[]`, ``, `{"format":1}{"format":1}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		g := mustFSM(t, []Machine{newFake("alpha")})
		mustApply(t, g, 1, encode(t, "alpha.set", "g1", kv{"b", "2"}))
		before, applied := stateOf(t, g), g.appliedIndex()
		if err := g.Restore(io.NopCloser(bytes.NewReader(data))); err != nil {
			if after := stateOf(t, g); after != before || g.appliedIndex() != applied {
				t.Fatalf("refused snapshot (%v) changed the FSM:\n%s\n%s", err, before, after)
			}
			return
		}
		next := g.appliedIndex() + 1
		applyOne(t, g, next, encode(t, "alpha.set", "after-restore", kv{"c", "3"}))
		applyOne(t, g, next+1, encode(t, TypeNodeUpsert, "after-restore-2", NodeMeta{ID: "n2", RaftAddr: "10.0.0.2:7000", AdminAddr: "http://10.0.0.2:7070"}))
		h := mustFSM(t, []Machine{newFake("alpha")})
		if err := h.Restore(io.NopCloser(bytes.NewReader(snapshotBytes(t, g)))); err != nil {
			t.Fatalf("our own snapshot does not restore: %v", err)
		}
		if a, b := stateOf(t, g), stateOf(t, h); a != b {
			t.Fatalf("snapshot round trip changed state:\n%s\n%s", a, b)
		}
	})
}
