package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/tandemcc/tandem/cluster"
	"github.com/tandemcc/tandem/command"
	"github.com/tandemcc/tandem/contactcenter"
)

// compactingTiming snapshots every 32 entries and keeps 32 behind a
// snapshot: a few hundred commands compact the log far past a full.
func compactingTiming() cluster.Timing {
	t := quietTiming
	t.SnapshotThreshold = 32
	return t
}

// load commits k commands — a configuration change every tenth, no-op
// commands between — taking a snapshot every 64; it returns their
// indexes.
func (n *testNode) load(k, first int) []uint64 {
	n.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out []uint64
	for i := 0; i < k; i++ {
		var r cluster.Result
		var err error
		if i%10 == 0 {
			q := first + i/10
			doc := fmt.Sprintf("queues:\n  - {id: jq%d, name: Queue %d}\n", q, q)
			d, perr := contactcenter.ParseDocument([]byte(doc))
			if perr != nil {
				n.t.Fatal(perr)
			}
			r, err = n.st.Propose(ctx, contactcenter.TypeConfigApply, contactcenter.ApplyRequest{Document: d})
		} else {
			r, err = n.st.Propose(ctx, cluster.TypeNoop, nil)
		}
		if err != nil {
			n.t.Fatal(err)
		}
		out = append(out, r.Index)
		if i%64 == 63 {
			if _, err := n.st.Snapshot(ctx); err != nil {
				n.t.Fatal(err)
			}
		}
	}
	return out
}

// incrementalEntries reads an incremental's log: every entry, in order.
func incrementalEntries(t *testing.T, dir, id string, key *Key) []cluster.LogEntry {
	t.Helper()
	m, err := readManifest(filepath.Join(dir, id))
	if err != nil {
		t.Fatal(err)
	}
	f, _ := m.file(logName)
	var out []cluster.LogEntry
	err = readFile(filepath.Join(dir, id), id, f, key, func(r io.Reader) error {
		return readLog(r, func(e cluster.LogEntry) error {
			out = append(out, e)
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// commandsOf checks that entries are after..to without a gap and returns
// the indexes of the commands among them.
func commandsOf(t *testing.T, entries []cluster.LogEntry, after, to uint64) []uint64 {
	t.Helper()
	var cmds []uint64
	for i, e := range entries {
		if e.Index != after+1+uint64(i) {
			t.Fatalf("entry %d at position %d: want %d", e.Index, i, after+1+uint64(i))
		}
		switch e.Type {
		case raft.LogCommand:
			cmds = append(cmds, e.Index)
		case raft.LogNoop:
			if len(e.Data) != 0 {
				t.Fatalf("no-op entry %d with data", e.Index)
			}
		}
	}
	if n := uint64(len(entries)); after+n != to {
		t.Fatalf("entries %d..%d, want up to %d", after+1, after+n, to)
	}
	return cmds
}

// The case: a busy node compacts its log far past the last full
// backup (hundreds of commands, snapshots every 32 entries, 32 kept).
// The incremental is still an incremental, read from the journal: it
// holds exactly the commands committed since the full, records the
// node's last snapshot as its checkpoint, and restores to the state
// hash the engine had at its index — the replay reproducing the node's
// own snapshot document at the checkpoint.
func TestJournalIncrementalBeyondCompaction(t *testing.T) {
	n := startNode(t, t.TempDir(), freeAddr(t), "n1", compactingTiming())
	bdir := t.TempDir()
	m := n.manager(bdir, nil, 0, &steppingClock{t: time.Date(2026, 5, 1, 2, 0, 0, 0, time.UTC)})
	n.configure(0, 3)
	full := take(t, m, Full)
	want := n.load(700, 0)
	if _, err := n.st.LogTerm(full.Index); !errors.Is(err, cluster.ErrLogCompacted) {
		t.Fatalf("the log still holds the full's index %d (%v): the test compacts nothing", full.Index, err)
	}
	atIncr, applied := n.eng.Hash(), n.st.AppliedIndex()
	incr := take(t, m, Incremental)
	if incr.Level != Incremental || incr.Note != "" || incr.Index != applied {
		t.Fatalf("incremental %+v (applied %d): want an incremental at the applied index", incr, applied)
	}
	im, err := readManifest(filepath.Join(bdir, incr.ID))
	if err != nil {
		t.Fatal(err)
	}
	if im.Source != SourceJournal || im.Base != full.ID || im.Checkpoint == nil || im.Checkpoint.Index <= full.Index ||
		len(im.StateHashes) != 0 {
		t.Fatalf("incremental manifest: source %q base %s checkpoint %+v hashes %v", im.Source, im.Base, im.Checkpoint, im.StateHashes)
	}
	got := commandsOf(t, incrementalEntries(t, bdir, incr.ID, nil), full.Index, incr.Index)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("the incremental holds %d commands, %d were committed since the full (first %v, want %v)", len(got), len(want), got[:min(5, len(got))], want[:5])
	}
	if _, err := m.Verify(context.Background(), incr.ID); err != nil {
		t.Fatal(err)
	}
	fm, _ := readManifest(filepath.Join(bdir, full.ID))
	t.Logf("full %d B at %d; incremental %d B, %d entries to %d, checkpoint at %d", fm.Size, full.Index, im.Size, im.Entries, im.Index, im.Checkpoint.Index)
	n.close()

	target := filepath.Join(t.TempDir(), "restored")
	_, r := restore(t, restoreReq(filepath.Join(bdir, incr.ID), target, nil))
	if r.Index != incr.Index || r.Hashes["contactcenter"] != atIncr || !reflect.DeepEqual(r.Checked, []uint64{im.Checkpoint.Index}) {
		t.Fatalf("restored at %d, hash %s, checked %v; want %d, %s, [%d]", r.Index, r.Hashes["contactcenter"], r.Checked, incr.Index, atIncr, im.Checkpoint.Index)
	}
	back := startNode(t, target, r.RaftAddr, "n1", quietTiming)
	if h := back.eng.Hash(); h != atIncr {
		t.Fatalf("the restored node's engine hash %s, want %s", h, atIncr)
	}
	back.close()

	// A checkpoint the replay does not reproduce refuses the restore.
	rewriteManifest(t, filepath.Join(bdir, incr.ID), func(m *Manifest) { m.Checkpoint.SHA256 = strings.Repeat("0", 64) })
	bad := filepath.Join(t.TempDir(), "refused")
	req := restoreReq(filepath.Join(bdir, incr.ID), bad, nil)
	p, err := PlanRestore(req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Restore(context.Background(), p, req); err == nil || !strings.Contains(err.Error(), "differs from the snapshot the node took there") {
		t.Fatalf("restore with a wrong checkpoint: %v", err)
	}
	if _, err := os.Stat(bad); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a refused restore left %s: %v", bad, err)
	}
}

// The journal survives a restart, including one that lost its unsynced
// tail (a crash): Raft applies again what followed its last snapshot,
// and the journal takes what it lacks. Entries Raft applies again are
// not recorded twice.
func TestJournalAcrossRestart(t *testing.T) {
	dir, addr := t.TempDir(), freeAddr(t)
	n := startNode(t, dir, addr, "n1", compactingTiming())
	bdir := t.TempDir()
	clock := &steppingClock{t: time.Date(2026, 5, 1, 2, 0, 0, 0, time.UTC)}
	m := n.manager(bdir, nil, 0, clock)
	n.configure(0, 2)
	full := take(t, m, Full)
	want := n.load(300, 0) // ends 44 entries after its last snapshot
	n.close()
	// A crash lost the journal's tail: cut into its last record.
	path := filepath.Join(dir, "backup", journalName)
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, st.Size()-3); err != nil {
		t.Fatal(err)
	}

	n = startNode(t, dir, addr, "n1", compactingTiming())
	m = n.manager(bdir, nil, 0, clock)
	want = append(want, n.load(50, 100)...)
	atIncr := n.eng.Hash()
	incr := take(t, m, Incremental)
	im, err := readManifest(filepath.Join(bdir, incr.ID))
	if err != nil || incr.Level != Incremental || im.Source != SourceJournal {
		t.Fatalf("after a restart: %+v, source %q, %v", incr, im.Source, err)
	}
	cmds := commandsOf(t, incrementalEntries(t, bdir, incr.ID, nil), full.Index, incr.Index)
	// The restarted leader committed its own cluster.noop: a command
	// since the full too.
	extra := 0
	for _, c := range cmds {
		if !containsIndex(want, c) {
			extra++
		}
	}
	if len(cmds)-extra != len(want) || extra > 2 {
		t.Fatalf("%d commands in the incremental (%d not proposed by the test), %d proposed", len(cmds), extra, len(want))
	}
	n.close()
	_, r := restore(t, restoreReq(filepath.Join(bdir, incr.ID), filepath.Join(t.TempDir(), "r"), nil))
	if r.Hashes["contactcenter"] != atIncr {
		t.Fatalf("restored hash %s, want %s", r.Hashes["contactcenter"], atIncr)
	}
}

func containsIndex(s []uint64, v uint64) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// When the journal cannot cover the gap — here the state jumped past
// its end, as when a follower installs the leader's snapshot — status
// says so; the incremental is read from the Raft log while it holds the
// entries (its note says why), then is a full backup whose note and
// manifest say why; that full starts the journal again.
func TestJournalGapIsReported(t *testing.T) {
	n := startNode(t, t.TempDir(), freeAddr(t), "n1", compactingTiming())
	bdir := t.TempDir()
	m := n.manager(bdir, nil, 0, &steppingClock{t: time.Date(2026, 5, 1, 2, 0, 0, 0, time.UTC)})
	n.configure(0, 2)
	take(t, m, Full)
	if js := m.Status().Journal; js == nil || js.State != "recording" {
		t.Fatalf("journal status after a full: %+v", js)
	}
	n.noops(5)
	n.j.Restored(n.st.AppliedIndex() + 1000) // as an installed snapshot would
	js := m.Status().Journal
	if js == nil || js.State != "off" || !strings.Contains(js.Why, "replaced by a snapshot at index") {
		t.Fatalf("journal status after the gap: %+v", js)
	}
	r := take(t, m, Incremental)
	im, _ := readManifest(filepath.Join(bdir, r.ID))
	if r.Level != Incremental || im.Source != SourceLog || !strings.Contains(r.Note, "taken from the Raft log: the journal holds nothing to follow: this node's state was replaced") || im.Note != r.Note {
		t.Fatalf("incremental after the gap: %+v, manifest source %q note %q", r, im.Source, im.Note)
	}
	n.load(200, 0)
	r = take(t, m, Incremental)
	fm, _ := readManifest(filepath.Join(bdir, r.ID))
	if r.Level != Full || !strings.Contains(r.Note, "this node's state was replaced") || !strings.Contains(r.Note, "the log was compacted past index") ||
		fm.Note != r.Note || m.Status().LastFull == nil || m.Status().LastFull.Note != r.Note {
		t.Fatalf("incremental after the gap and a compaction: %+v, manifest note %q", r, fm.Note)
	}
	n.noops(3)
	if r := take(t, m, Incremental); r.Level != Incremental || r.Note != "" {
		t.Fatalf("after the fall-back full: %+v", r)
	}
}

// The journal is bounded: past the larger of its floor and the full's
// state it stops (an incremental would cost more than a full), and the
// next incremental is a full that says so.
func TestJournalBound(t *testing.T) {
	defer func(v int64) { minJournalMax = v }(minJournalMax)
	minJournalMax = 16 << 10
	n := startNode(t, t.TempDir(), freeAddr(t), "n1", compactingTiming())
	bdir := t.TempDir()
	m := n.manager(bdir, nil, 0, &steppingClock{t: time.Date(2026, 5, 1, 2, 0, 0, 0, time.UTC)})
	n.configure(0, 1)
	full := take(t, m, Full)
	fm, _ := readManifest(filepath.Join(bdir, full.ID))
	n.load(400, 0)
	js := m.Status().Journal
	if js.State != "off" || !strings.Contains(js.Why, "an incremental would cost more than a full") {
		t.Fatalf("journal after %d bytes of state: %+v", fm.RawSize, js)
	}
	if r := take(t, m, Incremental); r.Level != Full || !strings.Contains(r.Note, "would cost more than a full") {
		t.Fatalf("incremental past the bound: %+v", r)
	}
}

// A full backup that fails leaves the journal following the previous
// full.
func TestJournalFailedFull(t *testing.T) {
	n := startNode(t, t.TempDir(), freeAddr(t), "n1", compactingTiming())
	bdir := t.TempDir()
	m := n.manager(bdir, nil, 0, &steppingClock{t: time.Date(2026, 5, 1, 2, 0, 0, 0, time.UTC)})
	n.configure(0, 1)
	full := take(t, m, Full)
	n.noops(10)
	// The next full is cancelled: it fails after the journal began
	// recording for it.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if r, err := m.Take(ctx, Full); err != nil || r.Result != ResultFailed {
		t.Fatalf("a cancelled full: %+v %v", r, err)
	}
	js := m.Status().Journal
	if js.State != "recording" || js.Full != full.ID {
		t.Fatalf("journal after a failed full: %+v", js)
	}
	n.noops(5)
	if r := take(t, m, Incremental); r.Level != Incremental || r.Note != "" {
		t.Fatalf("incremental after a failed full: %+v", r)
	}
}

// --backup-on-apply: every configuration apply is followed by an
// incremental (trigger "apply") that holds it; other commands take none.
func TestBackupOnApply(t *testing.T) {
	n := startNode(t, t.TempDir(), freeAddr(t), "n1", quietTiming)
	bdir := t.TempDir()
	m, err := New(Config{Settings: Settings{Dir: bdir, Location: time.UTC, OnApply: true}, NodeID: "n1", DataDir: n.dir,
		Source: n.st, Logger: n.discard(), Clock: &steppingClock{t: time.Date(2026, 5, 1, 2, 0, 0, 0, time.UTC)},
		Journal: n.j, ApplyTypes: []string{contactcenter.TypeConfigApply}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go m.Run(ctx)
	for i := 0; ; i++ { // Run starts watching the journal
		n.j.mu.Lock()
		ok := n.j.watchCh != nil
		n.j.mu.Unlock()
		if ok {
			break
		}
		if i == 3000 {
			t.Fatal("the manager does not watch the journal")
		}
		time.Sleep(time.Millisecond)
	}
	n.configure(0, 1)
	waitResult := func(what string, ok func(*Result) bool) *Result {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			st := m.Status()
			if r := st.LastIncremental; r != nil && ok(r) {
				return r
			}
			if r := st.LastFull; r != nil && ok(r) {
				return r
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: status %+v %+v", what, st.LastFull, st.LastIncremental)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	// No full yet: the first is a full, and says why.
	first := waitResult("a backup after the first apply", func(r *Result) bool { return r.Trigger == TriggerApply })
	if first.Level != Full || !strings.Contains(first.Note, "no full backup") {
		t.Fatalf("first backup on apply: %+v", first)
	}
	n.noops(5)
	n.configure(1, 3)
	applied := n.st.AppliedIndex()
	r := waitResult("an incremental after an apply", func(r *Result) bool {
		return r.Trigger == TriggerApply && r.Level == Incremental && r.Index >= applied
	})
	if r.Result != ResultOK || r.Note != "" {
		t.Fatalf("incremental on apply: %+v", r)
	}
	// Only the watched types signal.
	n.j.mu.Lock()
	defer n.j.mu.Unlock()
	noop, _ := command.New(cluster.TypeNoop, "x", time.Now(), nil)
	cfg, _ := command.New(contactcenter.TypeConfigApply, "y", time.Now(), map[string]string{"note": `"cluster.noop"`})
	for _, tc := range []struct {
		env  command.Envelope
		want bool
	}{{noop, false}, {cfg, true}} {
		b, err := command.Encode(tc.env)
		if err != nil {
			t.Fatal(err)
		}
		if got := n.j.watched(b); got != tc.want {
			t.Errorf("%s watched: %v", tc.env.Type, got)
		}
	}
}
