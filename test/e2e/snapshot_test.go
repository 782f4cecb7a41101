package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestFollowerInstallsLeaderSnapshot: with a small --snapshot-threshold
// the leader compacts its log behind a snapshot (`tandemctl cluster
// snapshot` takes one on demand); a follower that was down meanwhile is
// further behind than the log the leader kept, so it must install the
// leader's snapshot — named sections, restored whole — and its engine
// then hashes as the leader's (issue 11.4).
func TestFollowerInstallsLeaderSnapshot(t *testing.T) {
	besideTheBurst(t)
	nodes := startCluster(t, "sn", 3, smallSnapshots(3))
	leader := waitLeader(t, nodes, 3)
	behind := followers(nodes, leader)[0]
	post := func(i int) {
		t.Helper()
		doc := fmt.Sprintf("queues:\n  - {id: q%03d, name: Queue %d}\nagents:\n  - {id: a%03d, name: Agent %d, queues: [q%03d]}\n",
			i, i, i, i, i)
		code, body, err := leader.do(http.MethodPost, "/v1/config", true, []byte(doc), "application/yaml")
		if err != nil || code != http.StatusOK {
			t.Fatalf("config apply %d: HTTP %d %s %v", i, code, body, err)
		}
	}
	for i := 0; i < 5; i++ {
		post(i)
	}
	behind.kill()
	// The others show it down (it no longer answers), the others up.
	waitFor(t, waitShort, "the leader's status to show "+behind.name()+" down", func() (bool, string) {
		st, err := leader.status()
		if err != nil {
			return false, err.Error()
		}
		ok := len(st.Nodes) == 3
		for _, m := range st.Nodes {
			ok = ok && (m.State == "down") == (m.ID == behind.id)
		}
		return ok, fmt.Sprintf("%+v", st.Nodes)
	})
	for i := 5; i < 120; i++ {
		post(i)
	}
	r := leader.ctl("cluster", "snapshot").ok(t)
	if !strings.Contains(r.stdout, "taken at index") && !strings.Contains(r.stdout, "nothing committed since snapshot") {
		t.Fatalf("tandemctl cluster snapshot: %q", r.stdout)
	}
	behind.start()
	waitFor(t, waitCluster, behind.name()+" to install the leader's snapshot", func() (bool, string) {
		return strings.Contains(behind.log(), "Installed remote snapshot"), behind.logTail(3)
	})
	waitFor(t, waitShort, behind.name()+" to hash as the leader", func() (bool, string) {
		a, err := leader.standbyState()
		if err != nil {
			return false, err.Error()
		}
		b, err := behind.standbyState()
		if err != nil {
			return false, err.Error()
		}
		return a.EngineHash != "" && a.EngineHash == b.EngineHash, fmt.Sprintf("leader %s, %s %s", a.EngineHash, behind.name(), b.EngineHash)
	})
	post(120) // and it follows the log from there
	waitFor(t, waitShort, behind.name()+" to apply past the snapshot", func() (bool, string) {
		a, _ := leader.standbyState()
		b, _ := behind.standbyState()
		return a.EngineHash == b.EngineHash && b.AppliedIdx >= a.AppliedIdx, fmt.Sprintf("leader %+v, %s %+v", a, behind.name(), b)
	})
}

// smallSnapshots has each of n nodes snapshot every 32 entries (checked
// every second), keeping 32 entries of log behind a snapshot: a node
// away for a few hundred writes can only catch up by installing one.
func smallSnapshots(n int) map[int][]nodeOpt {
	opts := map[int][]nodeOpt{}
	for i := range n {
		opts[i] = []nodeOpt{withArgs("--snapshot-threshold", "32", "--snapshot-interval", "1s")}
	}
	return opts
}

// TestDeposedLeaderCatchesUpBySnapshot: a leader that goes on appending
// after losing its followers, frozen while they elect another and commit
// far past its stale entries (compacting their logs, so that it can only
// catch up by installing a snapshot), thaws and must catch up: install
// the new leader's snapshot once and follow, with the same state as the
// others and no divergence in the replica check.
func TestDeposedLeaderCatchesUpBySnapshot(t *testing.T) {
	besideTheBurst(t)
	nodes := startCluster(t, "d", 3, smallSnapshots(3))
	old := waitLeader(t, nodes, 3)
	survivors := followers(nodes, old)
	load, burst := strandLeader(t, old, survivors, "0")
	// The others elect a leader and commit far past the stale entries;
	// their snapshots (every 32 entries, checked every second) compact
	// their logs past them.
	more := startWriteLoad("n", 8, func(w, i int) *node { return survivors[w%2] })
	waitFor(t, waitCluster, "400 writes through the survivors", func() (bool, string) {
		more.mu.Lock()
		defer more.mu.Unlock()
		return len(more.acked) >= 400, fmt.Sprint(len(more.acked))
	})
	time.Sleep(2500 * time.Millisecond) // two snapshot checks
	old.signal(syscall.SIGCONT)
	var acked []string
	acked = append(acked, load.halt()...)
	acked = append(acked, burst.halt()...)
	acked = append(acked, more.halt()...)
	leader := waitLeader(t, nodes, 3)
	checkAllHave(t, nodes, leader, acked)
	installs := strings.Count(old.log(), "Installed remote snapshot")
	t.Logf("%s installed %d snapshots after it thawed; cleared a suffix: %v", old.name(), installs,
		strings.Contains(old.log(), "clearing log suffix"))
	if installs > 3 {
		t.Errorf("%s installed %d snapshots: it asks for the same one again", old.name(), installs)
	}
}
