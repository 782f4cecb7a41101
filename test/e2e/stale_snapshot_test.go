package e2e

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestDeposedLeaderCatchesUpBySnapshot: a leader that goes on appending
// after losing its followers, frozen while they elect another and commit
// far past its stale entries (compacting their logs, so that it can only
// catch up by installing a snapshot), thaws and must catch up: install
// the new leader's snapshot once and follow, with the same state as the
// others and no divergence in the replica check.
func TestDeposedLeaderCatchesUpBySnapshot(t *testing.T) {
	opts := map[int][]nodeOpt{}
	for i := range 3 {
		opts[i] = []nodeOpt{withArgs("--snapshot-threshold", "32", "--snapshot-interval", "1s")}
	}
	nodes := startCluster(t, "d", 3, opts)
	old := waitLeader(t, nodes, 3)
	survivors := followers(nodes, old)
	load := startWriteLoad("s", 8, func(w, i int) *node { return old })
	waitFor(t, waitShort, "writes through "+old.name(), func() (bool, string) {
		load.mu.Lock()
		defer load.mu.Unlock()
		return len(load.acked) >= 20, fmt.Sprint(len(load.acked))
	})
	for _, f := range survivors {
		f.signal(syscall.SIGSTOP)
	}
	burst := startWriteLoad("b", 16, func(w, i int) *node { return old })
	time.Sleep(300 * time.Millisecond)
	old.signal(syscall.SIGSTOP)
	for _, f := range survivors {
		f.signal(syscall.SIGCONT)
	}
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
