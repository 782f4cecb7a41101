package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// The standby replication type with real tandemd processes: a three-node
// primary ships everything it commits to a one-node standby at "another
// site", which applies it read-only, catches up after an outage from the
// primary's buffer, honours suspend/resume, and after promotion accepts
// writes while the primary's shipping is refused in plain sight.

const standbyCenter = `
business_units:
  - {id: sales, name: Sales}
queues:
  - {id: support, name: %s, business_unit: sales, strategy: longest-idle}
extensions:
  - number: "1001"
    phones: [{id: alice-desk, kind: sip}]
users:
  - {id: alice, name: Alice, extension: "1001", business_unit: sales}
agents:
  - {id: alice, name: Alice, user: alice, extension: "1001", queues: [support]}
`

// standbyState is GET /v1/standby/status?hash=true.
type standbyState struct {
	Mode       string `json:"mode"`
	Of         string `json:"of"`
	Position   struct{ Index uint64 }
	N          uint64   `json:"n"`
	Applied    uint64   `json:"applied"`
	NeedsSync  string   `json:"needs_sync"`
	Syncs      uint64   `json:"syncs"`
	EngineHash string   `json:"engine_hash"`
	Target     []string `json:"target"`
	AppliedIdx uint64   `json:"applied_index"`
}

func (n *node) standbyState() (standbyState, error) {
	var st standbyState
	return st, n.getJSON("/v1/standby/status?hash=true", &st)
}

// sameState reports whether the standby's engine equals the primary
// leader's (engine hash and configuration document).
func sameState(primary, sb *node) (bool, string) {
	p, err := primary.standbyState()
	if err != nil {
		return false, err.Error()
	}
	s, err := sb.standbyState()
	if err != nil {
		return false, err.Error()
	}
	if p.EngineHash != s.EngineHash {
		return false, fmt.Sprintf("primary hash %s, standby hash %s (standby at %d, %d commands, needs_sync %q)",
			p.EngineHash, s.EngineHash, s.Position.Index, s.N, s.NeedsSync)
	}
	pc, err := primary.config("stale")
	if err != nil {
		return false, err.Error()
	}
	sc, err := sb.config("stale")
	if err != nil {
		return false, err.Error()
	}
	return pc == sc, "configuration documents differ"
}

// operate runs an operation through the admin-mounted operations API
// (package console), when this build has it. It reports whether it ran.
func operate(t *testing.T, n *node, op, agent string) bool {
	t.Helper()
	code, b, err := n.do(http.MethodPost, "/v1/console/ops/"+op, true, []byte(`{"agent":"`+agent+`"}`), "application/json")
	if err != nil {
		t.Fatalf("%s %s: %v", op, agent, err)
	}
	if code == http.StatusNotFound {
		return false
	}
	if code != http.StatusOK {
		t.Fatalf("%s %s on %s: HTTP %d %s", op, agent, n.name(), code, b)
	}
	return true
}

func (s replStatus) standby() replTarget { return s.Targets["standby"] }

func TestStandbyReplication(t *testing.T) {
	besideTheBurst(t)
	// The standby's flag names the primary; the primary's names the
	// standby: create both before starting either.
	sb := newNode(t, "sb1")
	primaryOpts := []nodeOpt{withArgs("--standby-addr", "http://"+sb.adminAddr)}
	prim := startCluster(t, "p", 3, map[int][]nodeOpt{0: primaryOpts, 1: primaryOpts, 2: primaryOpts})
	primaryURL := "http://" + prim[0].adminAddr
	sb.extra = append(sb.extra, "--standby-of", primaryURL)
	sb.start()
	waitFor(t, waitCluster, "the standby to record standby mode", func() (bool, string) {
		st, err := sb.standbyState()
		return err == nil && st.Mode == "standby", fmt.Sprintf("%+v %v", st, err)
	})
	leader := waitLeader(t, prim, 3)

	// Administration and processing data on the primary reach the standby.
	leader.apply(fmt.Sprintf(standbyCenter, "Support")).ok(t)
	ops := operate(t, leader, "login", "alice")
	if !ops {
		t.Log("this build has no operations API on the admin address; shipping configuration only")
	}
	waitFor(t, waitCluster, "the standby to reach the primary's state", func() (bool, string) { return sameState(leader, sb) })
	st, err := sb.standbyState()
	if err != nil || st.NeedsSync != "" || st.Of != primaryURL || st.Syncs != 0 {
		t.Fatalf("standby state %+v %v", st, err)
	}

	// The standby refuses writes of its own, with one clear line.
	r := sb.apply(fmt.Sprintf(standbyCenter, "Local change"))
	if r.code == 0 || !strings.Contains(r.stderr, "this cluster is a standby of "+primaryURL+"; promote it first") {
		t.Fatalf("apply on the standby: %v", r)
	}
	if ops {
		code, b, _ := sb.do(http.MethodPost, "/v1/console/ops/logout", true, []byte(`{"agent":"alice"}`), "application/json")
		if code == http.StatusOK || !strings.Contains(string(b), "promote it first") {
			t.Fatalf("operation on the standby: HTTP %d %s", code, b)
		}
	}
	status := sb.ctl("status").ok(t)
	if !strings.Contains(status.stdout, "standby of "+primaryURL) {
		t.Fatalf("tandemctl status on the standby:\n%s", status.stdout)
	}
	if got := leader.mustReplStatus().standby(); got.State != "active" {
		t.Fatalf("primary's standby replication: %+v", got)
	}

	// An outage of the standby: the primary's buffer keeps what it
	// misses, and it catches up after a restart.
	if code := sb.stop(30 * time.Second); code != 0 {
		t.Fatalf("standby exit code %d", code)
	}
	leader.apply(fmt.Sprintf(standbyCenter, "Support during outage")).ok(t)
	if ops {
		operate(t, leader, "pause", "alice")
	}
	leader.waitRepl(waitCluster, "the standby's backlog and delivery error", func(s replStatus) bool {
		return s.standby().BacklogEvents > 0 && s.standby().LastError != ""
	})
	sb.start()
	waitFor(t, waitCluster, "the restarted standby to catch up", func() (bool, string) { return sameState(leader, sb) })

	// Suspend: the buffer keeps the data, nothing is shipped; resume
	// delivers the backlog.
	leader.ctl("replication", "suspend", "--target", "standby").ok(t)
	leader.apply(fmt.Sprintf(standbyCenter, "Support while suspended")).ok(t)
	leader.waitRepl(waitCluster, "a standby backlog while suspended", func(s replStatus) bool {
		return s.standby().State == "suspended" && s.standby().BacklogEvents > 0
	})
	if ok, _ := sameState(leader, sb); ok {
		t.Fatal("the standby received data while its replication was suspended")
	}
	leader.ctl("replication", "resume", "--target", "standby").ok(t)
	waitFor(t, waitCluster, "the standby to catch up after resume", func() (bool, string) { return sameState(leader, sb) })

	// Promotion: the standby accepts writes and keeps them across a
	// restart with the same flags; the primary's shipping is refused.
	promo := sb.ctl("standby", "promote").ok(t)
	if !strings.Contains(promo.stdout, "promoted") {
		t.Fatalf("promote: %v", promo)
	}
	sb.apply(fmt.Sprintf(standbyCenter, "Site B")).ok(t)
	if code := sb.stop(30 * time.Second); code != 0 {
		t.Fatalf("standby exit code %d", code)
	}
	sb.start()
	waitLeader(t, []*node{sb}, 1)
	sb.apply(fmt.Sprintf(standbyCenter, "Site B again")).ok(t)
	if st, err := sb.standbyState(); err != nil || st.Mode != "promoted" {
		t.Fatalf("after restart the promoted standby is %+v %v", st, err)
	}
	leader.apply(fmt.Sprintf(standbyCenter, "Primary after promotion")).ok(t)
	leader.waitRepl(waitCluster, "the refusal of the promoted standby", func(s replStatus) bool {
		return strings.Contains(s.standby().LastError, "promoted")
	})
	cfg := sb.mustConfig("stale")
	if !strings.Contains(cfg, "Site B again") || strings.Contains(cfg, "Primary after promotion") {
		t.Fatalf("promoted standby's configuration: %s", cfg)
	}
}

// TestStandbyClusterNeedsSyncAfterLostBuffer: the standby is a three-node
// cluster (its members joined normally and share its mode). The primary's
// buffer is cleared (stop, shutdown, restart) while commands are
// committed: the standby notices the missing commands and applies nothing
// past them; `replication sync --target standby --admin` brings it level.
func TestStandbyClusterNeedsSyncAfterLostBuffer(t *testing.T) {
	p := newNode(t, "p1")
	primaryURL := "http://" + p.adminAddr
	sbs := startCluster(t, "sb", 3, map[int][]nodeOpt{0: {withArgs("--standby-of", primaryURL)}})
	// Ship through two members that may be followers: they forward.
	p.extra = append(p.extra, "--standby-addr", "http://"+sbs[1].adminAddr+",http://"+sbs[2].adminAddr)
	p.start()
	waitLeader(t, []*node{p}, 1)
	for _, n := range sbs {
		waitFor(t, waitCluster, n.name()+" in standby mode", func() (bool, string) {
			st, err := n.standbyState()
			return err == nil && st.Mode == "standby", fmt.Sprintf("%+v %v", st, err)
		})
	}

	p.apply(fmt.Sprintf(standbyCenter, "Support")).ok(t)
	for _, n := range sbs {
		waitFor(t, waitCluster, n.name()+" to reach the primary's state", func() (bool, string) { return sameState(p, n) })
	}
	r := sbs[2].apply(fmt.Sprintf(standbyCenter, "Local"))
	if r.code == 0 || !strings.Contains(r.stderr, "is a standby of "+primaryURL) {
		t.Fatalf("apply on a joined standby member: %v", r)
	}

	// Lose what the buffer held for the standby.
	p.ctl("replication", "stop", "--target", "standby").ok(t)
	p.apply(fmt.Sprintf(standbyCenter, "Lost while stopped")).ok(t)
	p.ctl("replication", "shutdown").ok(t)
	p.ctl("replication", "restart").ok(t)
	p.apply(fmt.Sprintf(standbyCenter, "After the restart")).ok(t)
	p.waitRepl(waitCluster, "the standby to report missing commands", func(s replStatus) bool {
		return strings.Contains(s.standby().LastError, "needs a sync")
	})
	st, err := sbs[0].standbyState()
	if err != nil || !strings.Contains(st.NeedsSync, "missing") {
		t.Fatalf("standby state %+v %v", st, err)
	}
	if cfg := sbs[0].mustConfig("stale"); strings.Contains(cfg, "After the restart") {
		t.Fatalf("the standby applied past missing commands: %s", cfg)
	}

	p.ctl("replication", "sync", "--target", "standby", "--admin").ok(t)
	for _, n := range sbs {
		waitFor(t, waitCluster, n.name()+" to be level after the sync", func() (bool, string) { return sameState(p, n) })
	}
	// Shipping resumes after the sync.
	p.apply(fmt.Sprintf(standbyCenter, "After the sync")).ok(t)
	waitFor(t, waitCluster, "the standby to follow again", func() (bool, string) { return sameState(p, sbs[1]) })
	p.waitRepl(waitCluster, "the primary's standby target to be healthy", func(s replStatus) bool {
		return s.standby().State == "active" && s.standby().LastError == ""
	})
	if st, err := sbs[0].standbyState(); err != nil || st.NeedsSync != "" || st.Syncs != 1 {
		t.Fatalf("standby after sync %+v %v", st, err)
	}
}
