package cluster

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/tandemcc/tandem/contactcenter"
)

const engineDoc = `
business_units:
  - id: north
extensions:
  - number: "201"
    phones:
      - {id: desk, position: 0, order: 1, kind: sip}
      - {id: cell, position: 3, order: 2, kind: mobile, secure: true}
users:
  - {id: ann, name: Ann, extension: "201", business_unit: north}
queues:
  - {id: sales, business_unit: north, strategy: round-robin}
  - {id: support}
agents:
  - id: a1
    user: ann
    extension: "201"
    queues: [support, sales, sales]
    skills: {french: 3}
`

func configApply(t testing.TB, id, yamlDoc string, prune bool) []byte {
	t.Helper()
	doc, err := contactcenter.ParseDocument([]byte(yamlDoc))
	if err != nil {
		t.Fatalf("ParseDocument: %v", err)
	}
	return encode(t, contactcenter.TypeConfigApply, id, contactcenter.ApplyRequest{Document: doc, Prune: prune})
}

func TestFSMWithContactCenterEngine(t *testing.T) {
	eng := contactcenter.New()
	emptyHash := eng.Hash()
	sink := &fakeSink{}
	f := mustFSM(t, []Machine{eng}, sink)

	res := mustApply(t, f, 1, configApply(t, "cfg-1", engineDoc, false))
	var ar contactcenter.ApplyResult
	if err := json.Unmarshal(res.Result, &ar); err != nil {
		t.Fatalf("result %s: %v", res.Result, err)
	}
	if ar != (contactcenter.ApplyResult{Created: 6}) {
		t.Fatalf("apply result = %+v, want 6 created", ar)
	}
	evs := sink.events()
	if len(evs) != 6 {
		t.Fatalf("got %d events, want 6: %+v", len(evs), evs)
	}
	for i, ev := range evs {
		if ev.Index != 1 || ev.Seq != i || ev.CommandID != "cfg-1" || !strings.HasSuffix(ev.Type, ".created") {
			t.Errorf("event %d = %+v", i, ev)
		}
	}
	h1 := eng.Hash()
	if h1 == emptyHash {
		t.Fatal("engine hash did not change after a config.apply")
	}

	// A refused config (unknown queue reference) leaves the engine as it was.
	bad := "agents:\n  - {id: a2, queues: [nowhere]}\n"
	r := applyOne(t, f, 2, configApply(t, "cfg-2", bad, false))
	var ref *Refusal
	if !errors.As(r.err, &ref) || ref.Field != "agents[0].queues[0]" {
		t.Fatalf("bad config: err %v, want refusal on agents[0].queues[0]", r.err)
	}
	if eng.Hash() != h1 {
		t.Fatal("refused config.apply changed the engine")
	}
	if len(sink.events()) != 6 {
		t.Fatalf("refused config.apply published events: %+v", sink.events()[6:])
	}

	// Unknown engine command: refused, nothing changes.
	r = applyOne(t, f, 3, encode(t, "config.explode", "cfg-3", nil))
	if !errors.As(r.err, &ref) || !strings.Contains(ref.Msg, "unknown command type") {
		t.Fatalf("config.explode: %v", r.err)
	}
	if eng.Hash() != h1 {
		t.Fatal("unknown command changed the engine")
	}

	// Snapshot, restore into a fresh FSM with a fresh engine.
	snap := snapshotBytes(t, f)
	eng2 := contactcenter.New()
	g := mustFSM(t, []Machine{eng2})
	if err := g.Restore(io.NopCloser(bytes.NewReader(snap))); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	if eng2.Hash() != h1 {
		t.Fatalf("restored engine hash %s, want %s", eng2.Hash(), h1)
	}
	if stateOf(t, g) != stateOf(t, f) {
		t.Fatal("restored FSM state differs")
	}

	// Both continue identically: re-applying the same document (new ID) is
	// unchanged everywhere, and a change is the same change on both.
	for i, step := range []struct {
		id, doc string
		want    contactcenter.ApplyResult
	}{
		{"cfg-4", engineDoc, contactcenter.ApplyResult{Unchanged: 6}},
		{"cfg-5", "queues:\n  - {id: support, service_level_seconds: 30}\n", contactcenter.ApplyResult{Updated: 1, Unchanged: 5}},
	} {
		d := configApply(t, step.id, step.doc, false)
		idx := uint64(10 + i)
		r1, r2 := mustApply(t, f, idx, d), mustApply(t, g, idx, d)
		if !bytes.Equal(r1.Result, r2.Result) {
			t.Fatalf("%s: results diverge after restore: %s vs %s", step.id, r1.Result, r2.Result)
		}
		var got contactcenter.ApplyResult
		json.Unmarshal(r1.Result, &got)
		if got != step.want {
			t.Errorf("%s: result %+v, want %+v", step.id, got, step.want)
		}
		if eng.Hash() != eng2.Hash() {
			t.Fatalf("%s: engines diverge after restore", step.id)
		}
	}

	// The dedupe memory came through the snapshot too.
	dup := mustApply(t, g, 20, configApply(t, "cfg-1", "queues: [{id: late}]\n", false))
	if !dup.Duplicate || dup.Index != 1 {
		t.Fatalf("retry of cfg-1 on the restored FSM = %+v, want duplicate of 1", dup)
	}
	// ... and so did its result: the retry is answered as the first time.
	var again contactcenter.ApplyResult
	if err := json.Unmarshal(dup.Result, &again); err != nil || again != (contactcenter.ApplyResult{Created: 6}) {
		t.Fatalf("retry of cfg-1: result %s (%v), want the first apply's", dup.Result, err)
	}
}

// TestFSMUnderRaft drives the FSM through a real (in-memory, no network)
// Raft: the FSM's applied index must reach the commit index once a command
// commits, and a node restarted from a snapshot must report the snapshot's
// index as applied (reads and readiness wait on it).
func TestFSMUnderRaft(t *testing.T) {
	conf := raft.DefaultConfig()
	conf.LocalID = "n1"
	conf.HeartbeatTimeout = 50 * time.Millisecond
	conf.ElectionTimeout = 50 * time.Millisecond
	conf.LeaderLeaseTimeout = 50 * time.Millisecond
	conf.CommitTimeout = 5 * time.Millisecond
	conf.LogOutput = io.Discard
	store := raft.NewInmemStore()
	snaps := raft.NewInmemSnapshotStore()

	start := func(f *fsm) *raft.Raft {
		t.Helper()
		_, trans := raft.NewInmemTransport("n1-addr")
		r, err := raft.NewRaft(conf, f, store, store, snaps, trans)
		if err != nil {
			t.Fatalf("NewRaft: %v", err)
		}
		return r
	}
	waitLeader := func(r *raft.Raft) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for r.State() != raft.Leader {
			if time.Now().After(deadline) {
				t.Fatal("no leader after 5s")
			}
			time.Sleep(5 * time.Millisecond)
		}
	}

	eng := contactcenter.New()
	f := mustFSM(t, []Machine{eng})
	r := start(f)
	if err := r.BootstrapCluster(raft.Configuration{Servers: []raft.Server{{ID: "n1", Address: "n1-addr"}}}).Error(); err != nil {
		t.Fatalf("bootstrap: %v", err)
	}
	waitLeader(r)
	for i, d := range [][]byte{
		encode(t, TypeNodeUpsert, "m1", NodeMeta{ID: "n1", RaftAddr: "n1-addr", AdminAddr: "http://127.0.0.1:7070"}),
		configApply(t, "c1", engineDoc, false),
		encode(t, TypeNoop, "anchor", nil),
	} {
		fut := r.Apply(d, 5*time.Second)
		if err := fut.Error(); err != nil {
			t.Fatalf("apply %d: %v", i, err)
		}
		if resp := fut.Response().(*applyResponse); resp.err != nil {
			t.Fatalf("apply %d refused: %v", i, resp.err)
		}
	}
	if f.appliedIndex() != r.CommitIndex() {
		t.Fatalf("after a command: FSM applied %d, raft commit %d", f.appliedIndex(), r.CommitIndex())
	}
	if err := r.Snapshot().Error(); err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	applied, hash := f.appliedIndex(), eng.Hash()
	if err := r.Shutdown().Error(); err != nil {
		t.Fatal(err)
	}

	eng2 := contactcenter.New()
	f2 := mustFSM(t, []Machine{eng2})
	r2 := start(f2)
	defer r2.Shutdown()
	if f2.appliedIndex() != applied {
		t.Errorf("restarted from snapshot: FSM applied %d, want %d", f2.appliedIndex(), applied)
	}
	if eng2.Hash() != hash {
		t.Errorf("restarted engine hash differs")
	}
	if n := f2.nodes(); n["n1"].AdminAddr != "http://127.0.0.1:7070" {
		t.Errorf("node metadata after restart = %v", n)
	}
}
