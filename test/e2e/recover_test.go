package e2e

import (
	"strings"
	"testing"

	"github.com/tandemcc/tandem/cluster"
)

// TestForceQuorumOffline: two of three nodes are lost for good; the
// survivor is stopped, `tandemctl cluster recover --force-quorum` rewrites
// its data after printing the warning, and the survivor starts as the
// leader of a one-voter cluster holding every committed change.
func TestForceQuorumOffline(t *testing.T) {
	besideTheBurst(t)
	nodes := startCluster(t, "r", 3, nil)
	survivor := nodes[1] // a node that joined, not the bootstrapper
	nodes[0].apply(baseConfig).ok(t)
	nodes[2].apply("queues:\n  - id: before-loss\n").ok(t)
	want := survivor.mustConfig("linearizable")

	nodes[0].kill()
	nodes[2].kill()
	// Not while the node runs: refused, in bounded time, data untouched.
	r := runCtl(survivor.cwd, "cluster", "recover", "--force-quorum", "--data-dir", survivor.dataDir)
	if lines := nonEmptyLines(r.stderr); r.code == 0 || !strings.Contains(lines[len(lines)-1], "running") {
		t.Errorf("recover on a running node: %v\nwant a refusal saying the node is running", r)
	}
	if st := survivor.ctlStatus(); len(st.voters()) != 3 {
		t.Errorf("recover refused, yet the running survivor's voters changed: %v", st.voters())
	}
	if code := survivor.stop(waitCluster); code != 0 {
		t.Errorf("SIGTERM on the survivor of a lost majority: exit %d, want 0", code)
	}

	// The recovery needs --force-quorum.
	if r := runCtl(survivor.cwd, "cluster", "recover", "--data-dir", survivor.dataDir); r.code == 0 {
		t.Fatalf("recover without --force-quorum succeeded: %v", r)
	}
	r = runCtl(survivor.cwd, "cluster", "recover", "--force-quorum", "--data-dir", survivor.dataDir).ok(t)
	if !strings.Contains(r.stderr, cluster.ForceQuorumWarning) {
		t.Errorf("recover did not print the forced-quorum warning:\n%v", r)
	}

	survivor.start()
	checkAlone(t, survivor, want)
}

// TestForceQuorumAtStart: the same with `tandemd --force-quorum` on the
// survivor's next start.
func TestForceQuorumAtStart(t *testing.T) {
	besideTheBurst(t)
	nodes := startCluster(t, "q", 3, nil)
	survivor := nodes[2]
	nodes[1].apply(baseConfig).ok(t)
	want := survivor.mustConfig("linearizable")

	for _, n := range nodes {
		n.kill()
	}
	survivor.start("--force-quorum")
	if !strings.Contains(survivor.log(), strings.Split(cluster.ForceQuorumWarning, "\n")[0]) {
		t.Errorf("tandemd --force-quorum did not print the warning")
	}
	checkAlone(t, survivor, want)

	// Restarted without the flag, it stays a one-node cluster.
	want = survivor.mustConfig("linearizable")
	survivor.kill()
	survivor.start()
	checkAlone(t, survivor, want)
}

// checkAlone checks n leads a one-voter cluster, holds want and accepts a
// write.
func checkAlone(t *testing.T, n *node, want string) {
	t.Helper()
	waitLeader(t, []*node{n}, 1)
	st := n.ctlStatus()
	if st.Role != "leader" || st.LeaderID != n.id || len(st.voters()) != 1 || st.voters()[0] != n.id {
		t.Fatalf("after forced quorum %s: role %q leader %q voters %v; want the only voter and leader", n.name(), st.Role, st.LeaderID, st.voters())
	}
	if got := n.mustConfig("linearizable"); got != want {
		t.Errorf("config after forced quorum:\n got %s\nwant %s", got, want)
	}
	n.apply("queues:\n  - id: after-recovery\n").ok(t)
	if got := n.mustConfig("linearizable"); !strings.Contains(got, `"after-recovery"`) {
		t.Errorf("write after forced quorum not visible: %s", got)
	}
}
