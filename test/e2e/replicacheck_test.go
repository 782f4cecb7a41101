package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"hash/crc64"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
)

// replicasDoc is the replica check's section of GET /v1/status.
type replicasDoc struct {
	Replicas struct {
		CheckedTo      uint64          `json:"checked_to"`
		Diverged       []divergenceDoc `json:"diverged"`
		StateCheckedTo uint64          `json:"state_checked_to"`
	} `json:"replicas"`
}

// divergenceDoc is one member the replica or state check named.
type divergenceDoc struct {
	Node  string `json:"node"`
	From  uint64 `json:"from"`
	To    uint64 `json:"to"`
	State bool   `json:"state"`
}

// namesDiverged checks that n names exactly want as diverged, each as
// wrong says is right ("" for a good one, else why not).
func namesDiverged(n *node, wrong func(divergenceDoc) string, want ...*node) func() (bool, string) {
	return func() (bool, string) {
		doc, err := n.replicas()
		if err != nil {
			return false, err.Error()
		}
		var got []string
		for _, d := range doc.Replicas.Diverged {
			if why := wrong(d); why != "" {
				return false, why
			}
			got = append(got, d.Node)
		}
		var ids []string
		for _, w := range want {
			ids = append(ids, w.id)
		}
		return strings.Join(got, ",") == strings.Join(ids, ","), fmt.Sprintf("%+v", doc.Replicas)
	}
}

func (n *node) replicas() (replicasDoc, error) {
	var doc replicasDoc
	return doc, n.getJSON("/v1/status", &doc)
}

// TestReplicaCheckFindsDivergedNode: a follower whose Raft log holds, at
// one index, another command than the other members' (edited while it
// was down, as a failing disk or a library bug would leave it) applies it
// when it restarts, and its engine silently differs. Once the window
// holding that index is compared, the replica check names it: in the
// leader's /v1/status, tandemctl status, /metrics and log, and in one
// tandemReplicaDiverged notification snmptrapd receives from the leader;
// the follower names both others, and the two healthy members find each
// other the same.
func TestReplicaCheckFindsDivergedNode(t *testing.T) {
	besideTheBurst(t)
	recv := startTrapReceiver(t)
	nodes, _ := startSNMPCluster(t, "rc", 3, func(int) []string { return []string{"--snmp-trap-to", recv.addr} })
	leader := waitLeader(t, nodes, 3)
	load := startWriteLoad("rc", 8, func(w, i int) *node { return leader })
	waitFor(t, waitCluster, "writes through "+leader.name(), func() (bool, string) {
		load.mu.Lock()
		defer load.mu.Unlock()
		return len(load.acked) >= 100, fmt.Sprint(len(load.acked))
	})
	acked := load.halt()
	victim := followers(nodes, leader)[0]
	healthy := followers(nodes, leader)[1]
	waitFor(t, waitCluster, victim.name()+" to apply every write", func() (bool, string) {
		got, err := victim.config("stale")
		return err == nil && strings.Contains(got, `"`+acked[len(acked)-1]+`"`), fmt.Sprint(err)
	})
	// SIGKILL, not a stop: a stopping node may snapshot, and the edited
	// entry must be one the node replays when it starts again.
	victim.kill()
	target := acked[len(acked)/2]
	index := editLogEntry(t, filepath.Join(victim.dataDir, "raft", "raft.db"), target, "rc-edited")
	victim.start()
	waitLeader(t, nodes, 3)
	waitFor(t, waitCluster, victim.name()+" to apply the edited entry", func() (bool, string) {
		got, err := victim.config("stale")
		return err == nil && strings.Contains(got, `"rc-edited"`) && !strings.Contains(got, `"`+target+`"`), fmt.Sprint(err)
	})

	// Writes go on until the window holding the edited index is closed
	// on every member and compared (a member samples the others once a
	// second).
	more := startWriteLoad("rd", 8, func(w, i int) *node { return leader })
	defer more.halt()
	naming := func(n *node, want ...*node) func() (bool, string) {
		return namesDiverged(n, func(d divergenceDoc) string {
			if d.From > index || d.To < index || d.State {
				return fmt.Sprintf("%s named for indices %d-%d (state %v), the edited entry is at %d", d.Node, d.From, d.To, d.State, index)
			}
			return ""
		}, want...)
	}
	waitFor(t, waitCluster, leader.name()+" to name "+victim.name(), naming(leader, victim))
	first, second := leader, healthy
	if second.name() < first.name() {
		first, second = second, first
	}
	waitFor(t, waitCluster, victim.name()+" to name both others", naming(victim, first, second))
	waitFor(t, waitCluster, healthy.name()+" to name "+victim.name()+" and compare with "+leader.name(), func() (bool, string) {
		ok, why := naming(healthy, victim)()
		if !ok {
			return false, why
		}
		doc, err := healthy.replicas()
		return err == nil && doc.Replicas.CheckedTo > index, fmt.Sprintf("%+v %v", doc.Replicas, err)
	})
	more.halt()
	for _, n := range nodes {
		doc, _ := n.replicas()
		t.Logf("%s: %+v", n.name(), doc.Replicas)
	}
	t.Logf("the edited entry is at index %d", index)

	if r := leader.ctl("status"); r.code != 0 || !strings.Contains(r.stdout, "DIVERGED: "+victim.id+" applied other log entries") {
		t.Errorf("tandemctl status on %s does not name %s:\n%s", leader.name(), victim.name(), r)
	}
	if r := healthy.ctl("status"); r.code != 0 || strings.Contains(r.stdout, "DIVERGED: "+leader.id) {
		t.Errorf("tandemctl status on %s:\n%s", healthy.name(), r)
	}
	if code, body, err := leader.get("/metrics", true); err != nil || code != http.StatusOK ||
		!strings.Contains(string(body), "\ntandem_replica_diverged 1\n") {
		t.Errorf("leader's /metrics (HTTP %d, %v) lacks tandem_replica_diverged 1", code, err)
	}
	if !strings.Contains(leader.log(), "replica check") || !strings.Contains(leader.log(), `"peer":"`+victim.name()+`"`) {
		t.Errorf("%s's log does not name %s:\n%s", leader.name(), victim.name(), leader.logTail(20))
	}
	if strings.Contains(healthy.log(), `"peer":"`+leader.name()+`"`) {
		t.Errorf("%s's log names %s, which applied the same entries", healthy.name(), leader.name())
	}
	var traps []trap
	waitFor(t, waitShort, "tandemReplicaDiverged", func() (bool, string) {
		all := recv.traps(t)
		traps = named(all, "TANDEM-MIB::tandemReplicaDiverged")
		return len(traps) > 0, fmt.Sprintf("%d traps: %v", len(all), all)
	})
	time.Sleep(2 * time.Second) // room for a duplicate to arrive
	traps = named(recv.traps(t), "TANDEM-MIB::tandemReplicaDiverged")
	if len(traps) != 1 {
		t.Fatalf("%d tandemReplicaDiverged, want 1:\n%v", len(traps), traps)
	}
	v := traps[0].vars
	msg := v["TANDEM-MIB::tandemNotifyMessage.0"]
	if v["TANDEM-MIB::tandemNodeId.0"] != "STRING: "+leader.id || !strings.Contains(msg, victim.id+" applied other log entries") ||
		v[fmt.Sprintf("TANDEM-MIB::tandemMemberAddress.%q", victim.id)] == "" {
		t.Fatalf("tandemReplicaDiverged: %s", traps[0].line)
	}
}

// editLogEntry replaces, in a stopped node's raft log, the queue id old in
// the command that created it by new, and returns the entry's index.
func editLogEntry(t *testing.T, path, old, new string) uint64 {
	t.Helper()
	needle := []byte(`"id":"` + old + `"`)
	var edited uint64
	eachLogEntry(t, path, func(store *raftboltdb.BoltStore, l *raft.Log) bool {
		if l.Type != raft.LogCommand || !bytes.Contains(l.Data, needle) {
			return true
		}
		l.Data = bytes.Replace(l.Data, needle, []byte(`"id":"`+new+`"`), 1)
		if err := store.StoreLog(l); err != nil {
			t.Fatal(err)
		}
		edited = l.Index
		return false
	})
	if edited == 0 {
		t.Fatalf("no entry in %s creates queue %s", path, old)
	}
	return edited
}

// eachLogEntry opens a stopped node's raft log and calls fn with each
// entry, in index order, until fn returns false.
func eachLogEntry(t *testing.T, path string, fn func(store *raftboltdb.BoltStore, l *raft.Log) bool) {
	t.Helper()
	store, err := raftboltdb.New(raftboltdb.Options{Path: path, MsgpackUseNewTimeFormat: true})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	first, err := store.FirstIndex()
	if err != nil {
		t.Fatal(err)
	}
	last, err := store.LastIndex()
	if err != nil {
		t.Fatal(err)
	}
	for i := first; i <= last && first > 0; i++ {
		var l raft.Log
		if err := store.GetLog(i, &l); err != nil {
			t.Fatal(err)
		}
		if !fn(store, &l) {
			return
		}
	}
}

// TestStateCheckFindsDivergedState: a follower restarted from a snapshot
// whose engine state was edited while it was down (a queue renamed in
// place, the snapshot's checksum rewritten) replays the same log entries
// as the others, so the replica check of entries finds nothing; the state
// check does: at the next checkpoint (--state-check-interval 1s) the
// members' digests of their state differ, and every member names the
// odd one out, marked as a difference of state, in /v1/status and
// tandemctl status. The two healthy members find each other the same.
func TestStateCheckFindsDivergedState(t *testing.T) {
	besideTheBurst(t)
	opts := map[int][]nodeOpt{}
	for i := range 3 {
		opts[i] = []nodeOpt{withArgs("--state-check-interval", "1s")}
	}
	nodes := startCluster(t, "sc", 3, opts)
	leader := waitLeader(t, nodes, 3)
	leader.apply("queues:\n  - {id: sc1, name: StateCheckAlpha}\n").ok(t)
	victim, healthy := followers(nodes, leader)[0], followers(nodes, leader)[1]
	waitFor(t, waitCluster, "the healthy members to compare a checkpoint", func() (bool, string) {
		doc, err := healthy.replicas()
		return err == nil && doc.Replicas.StateCheckedTo > 0, fmt.Sprintf("%+v %v", doc.Replicas, err)
	})
	waitFor(t, waitCluster, victim.name()+" to hold the queue", func() (bool, string) {
		got, err := victim.config("stale")
		return err == nil && strings.Contains(got, "StateCheckAlpha"), fmt.Sprint(err)
	})
	victim.ctl("cluster", "snapshot").ok(t)
	victim.kill()
	editSnapshot(t, filepath.Join(victim.dataDir, "raft"), "StateCheckAlpha", "StateCheckOmega")
	victim.start()
	waitFor(t, waitCluster, victim.name()+" to restore the edited state", func() (bool, string) {
		got, err := victim.config("stale")
		return err == nil && strings.Contains(got, "StateCheckOmega"), fmt.Sprint(err)
	})

	names := func(n *node, want ...*node) func() (bool, string) {
		return namesDiverged(n, func(d divergenceDoc) string {
			if !d.State {
				return fmt.Sprintf("%s named for entries %d-%d: want a difference of state", d.Node, d.From, d.To)
			}
			return ""
		}, want...)
	}
	waitFor(t, waitCluster, leader.name()+" to name "+victim.name(), names(leader, victim))
	first, second := leader, healthy
	if second.id < first.id {
		first, second = second, first
	}
	waitFor(t, waitCluster, victim.name()+" to name both others", names(victim, first, second))
	// Each member compares when it has applied the checkpoint and heard
	// the others' digests: the healthy follower may come last.
	waitFor(t, waitCluster, healthy.name()+" to name "+victim.name(), names(healthy, victim))
	if r := leader.ctl("status"); r.code != 0 || !strings.Contains(r.stdout, "DIVERGED: "+victim.id+" holds another state") {
		t.Errorf("tandemctl status on %s does not name %s:\n%s", leader.name(), victim.name(), r)
	}
	if !strings.Contains(leader.log(), "state check") || !strings.Contains(leader.log(), `"peer":"`+victim.id+`"`) {
		t.Errorf("%s's log does not name %s", leader.name(), victim.name())
	}
}

// editSnapshot replaces old with new (of the same length) in the latest
// snapshot of the Raft directory dir and rewrites its checksum, as a
// snapshot taken from another state would read.
func editSnapshot(t *testing.T, dir, old, new string) {
	t.Helper()
	if len(old) != len(new) {
		t.Fatal("editSnapshot keeps the size")
	}
	metas, err := filepath.Glob(filepath.Join(dir, "snapshots", "*", "meta.json"))
	if err != nil || len(metas) == 0 {
		t.Fatalf("no snapshot in %s: %v", dir, err)
	}
	var metaPath string
	var meta map[string]any
	for _, p := range metas {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		if idx, _ := m["Index"].(float64); meta == nil || idx > meta["Index"].(float64) {
			metaPath, meta = p, m
		}
	}
	latest := filepath.Join(filepath.Dir(metaPath), "state.bin")
	state, err := os.ReadFile(latest)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(state, []byte(old)) {
		t.Fatalf("%s does not hold %q", latest, old)
	}
	state = bytes.ReplaceAll(state, []byte(old), []byte(new))
	h := crc64.New(crc64.MakeTable(crc64.ECMA))
	h.Write(state)
	meta["CRC"] = h.Sum(nil)
	b, err := json.Marshal(meta)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(latest, state, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(metaPath, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
