package cluster

import (
	"bytes"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// entries returns log entries from..to: commands, with a configuration
// entry every 100 indices.
func digestEntries(from, to uint64, data func(i uint64) string) []*raft.Log {
	var out []*raft.Log
	for i := from; i <= to; i++ {
		l := &raft.Log{Index: i, Term: 2, Type: raft.LogCommand, Data: []byte(data(i))}
		if i%100 == 0 {
			l.Type = raft.LogConfiguration
		}
		out = append(out, l)
	}
	return out
}

func plain(i uint64) string { return fmt.Sprintf(`{"id":"c%d"}`, i) }

// digestsOf feeds entries to a fresh applyDigests in batches of the given
// size, restoring at restoreAt first when it is not 0.
func digestsOf(entries []*raft.Log, batch int, restoreAt uint64) []WindowDigest {
	var d applyDigests
	if restoreAt > 0 {
		d.restored(restoreAt)
	}
	for len(entries) > 0 {
		n := min(batch, len(entries))
		for _, l := range entries[:n] {
			d.add(l)
		}
		entries = entries[n:]
	}
	return d.closed()
}

func TestApplyDigests(t *testing.T) {
	all := digestEntries(1, 5*digestWindow+10, plain)
	want := digestsOf(all, 1, 0)
	if len(want) != 5 || want[0].From != 1 || want[4].To != 5*digestWindow {
		t.Fatalf("closed windows %+v, want the five complete ones", want)
	}
	for _, tc := range []struct {
		name    string
		got     []WindowDigest
		differs map[uint64]bool // windows (From) whose digest must differ from want's
		missing map[uint64]bool // windows this node has no digest of
	}{
		{name: "same entries in other batches", got: digestsOf(all, 37, 0)},
		{name: "one command's data differs", got: digestsOf(digestEntries(1, 5*digestWindow+10, func(i uint64) string {
			if i == 2*digestWindow+5 {
				return `{"id":"other"}`
			}
			return plain(i)
		}), 64, 0), differs: map[uint64]bool{2*digestWindow + 1: true}},
		{name: "one entry's term differs", got: func() []WindowDigest {
			e := digestEntries(1, 5*digestWindow+10, plain)
			e[3*digestWindow].Term = 3 // index 3*digestWindow+1
			return digestsOf(e, 64, 0)
		}(), differs: map[uint64]bool{3*digestWindow + 1: true}},
		{name: "restored mid-window: that window has no digest, the next ones match",
			got: digestsOf(all[digestWindow+40:], 50, digestWindow+40), missing: map[uint64]bool{1: true, digestWindow + 1: true}},
		{name: "restored at a window's end", got: digestsOf(all[2*digestWindow:], 50, 2*digestWindow),
			missing: map[uint64]bool{1: true, digestWindow + 1: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := map[uint64]WindowDigest{}
			for _, d := range tc.got {
				got[d.From] = d
			}
			for _, w := range want {
				g, ok := got[w.From]
				switch {
				case tc.missing[w.From]:
					if ok {
						t.Errorf("window %d-%d has a digest, want none", w.From, w.To)
					}
				case !ok:
					t.Errorf("window %d-%d has no digest", w.From, w.To)
				case tc.differs[w.From] && g.SHA256 == w.SHA256:
					t.Errorf("window %d-%d: same digest, want a different one", w.From, w.To)
				case !tc.differs[w.From] && g.SHA256 != w.SHA256:
					t.Errorf("window %d-%d: digest differs", w.From, w.To)
				}
			}
		})
	}
	// Only the latest keptDigests windows are kept.
	many := digestsOf(digestEntries(1, (keptDigests+3)*digestWindow+1, plain), 500, 0)
	if len(many) != keptDigests || many[len(many)-1].To != (keptDigests+3)*digestWindow {
		t.Fatalf("kept %d windows ending at %d", len(many), many[len(many)-1].To)
	}
}

// A peer whose digest of a window differs is reported once, in the log
// and the status; matching windows advance CheckedTo.
func TestReplicaCheckCompare(t *testing.T) {
	var logs bytes.Buffer
	now := time.Date(2026, 12, 5, 1, 0, 0, 0, time.UTC)
	s := &Store{fsm: &fsm{}, log: slog.New(slog.NewTextHandler(&logs, nil)), now: func() time.Time { return now }}
	rc := &replicaCheck{s: s}
	for _, l := range digestEntries(1, 3*digestWindow+1, plain) {
		s.fsm.digests.add(l)
	}
	mine := s.fsm.digests.closed()
	rc.compare("n2", mine[:2])
	if st := rc.status(); st.CheckedTo != 2*digestWindow || len(st.Diverged) != 0 {
		t.Fatalf("status %+v after matching digests", st)
	}
	other := digestsOf(digestEntries(1, 3*digestWindow+1, func(i uint64) string {
		if i == 2*digestWindow+1 {
			return `{"id":"other"}`
		}
		return plain(i)
	}), 10, 0)
	for range 3 {
		rc.compare("n3", other)
	}
	rc.compare("n2", []WindowDigest{{From: 99, To: 1000, SHA256: "x"}}) // no window of mine: nothing to say
	st := rc.status()
	if st.CheckedTo != 2*digestWindow || len(st.Diverged) != 1 {
		t.Fatalf("status %+v", st)
	}
	if d := st.Diverged[0]; d.Node != "n3" || d.From != 2*digestWindow+1 || d.To != 3*digestWindow || !d.Since.Equal(now) {
		t.Fatalf("divergence %+v", d)
	}
	if n := bytes.Count(logs.Bytes(), []byte("replica check")); n != 1 {
		t.Fatalf("%d log lines about the divergence, want 1:\n%s", n, logs.String())
	}
}
