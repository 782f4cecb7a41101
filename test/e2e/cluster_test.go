package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestThreeNodeCluster: three nodes form a cluster through --join and
// agree on one leader and three voters; a configuration applied through a
// follower is forwarded and applied once; bad documents are refused with
// the field named and change nothing; a linearizable read on a follower
// sees a write acknowledged just before; SIGTERM of the leader exits 0 and
// hands leadership over.
func TestThreeNodeCluster(t *testing.T) {
	besideTheBurst(t)
	nodes := startCluster(t, "n", 3, nil)
	// tandemctl status -o json on each: same leader, three voters, and the
	// fields interfaces.md promises.
	leader := waitCtlAgree(t, nodes, 3)
	fol := followers(nodes, leader)
	for _, n := range nodes {
		waitFor(t, waitShort, n.name()+" to know every member's admin address", func() (bool, string) {
			st, err := n.status()
			if err != nil {
				return false, err.Error()
			}
			for _, m := range st.Nodes {
				if m.AdminAddr == "" {
					return false, fmt.Sprintf("%+v", st.Nodes)
				}
			}
			return true, ""
		})
	}
	for _, n := range nodes {
		r := n.ctl("status", "-o", "json").ok(t)
		var raw map[string]any
		if err := json.Unmarshal([]byte(r.stdout), &raw); err != nil {
			t.Fatalf("status -o json on %s is not JSON: %v\n%s", n.name(), err, r.stdout)
		}
		for _, k := range []string{"node_id", "role", "leader_id", "term", "commit_index", "nodes", "replication", "backup"} {
			if _, ok := raw[k]; !ok {
				t.Errorf("status of %s lacks %q", n.name(), k)
			}
		}
		if b, ok := raw["backup"].(map[string]any); ok {
			for _, k := range []string{"last_full", "last_incremental"} {
				if _, ok := b[k]; !ok {
					t.Errorf("status of %s: backup lacks %q", n.name(), k)
				}
			}
		}
		for _, m := range n.ctlStatus().Nodes {
			if m.ID == "" || m.Address == "" || m.Suffrage != "voter" {
				t.Errorf("status of %s: member %+v incomplete", n.name(), m)
			}
		}
		code, body, err := n.get("/readyz", false)
		if err != nil || code != http.StatusOK {
			t.Errorf("/readyz on %s: HTTP %d %s %v", n.name(), code, body, err)
		}
		_, body, _ = n.get("/metrics", false)
		if v, ok := metric(string(body), "tandem_cluster_voters"); !ok || v != 3 {
			t.Errorf("/metrics on %s: tandem_cluster_voters = %v (present %v), want 3", n.name(), v, ok)
		}
		if n != leader {
			if _, ok := metric(string(body), "tandem_raft_last_contact_milliseconds"); !ok {
				t.Errorf("/metrics on follower %s lacks tandem_raft_last_contact_milliseconds", n.name())
			}
		}
		if strings.Contains(n.log(), sharedToken) {
			t.Errorf("log of %s contains the admin token", n.name())
		}
		checkJSONLog(t, n)
	}
	// The text form names the leader too.
	if r := fol[0].ctl("status").ok(t); !strings.Contains(r.stdout, leader.id) {
		t.Errorf("tandemctl status (text) on %s does not name leader %s:\n%s", fol[0].name(), leader.id, r.stdout)
	}

	// A write sent to a follower is forwarded and applied on every node.
	r := fol[0].apply(baseConfig).ok(t)
	if !strings.Contains(r.stdout, "5 created") {
		t.Errorf("apply through follower %s: want 5 created, got %q", fol[0].name(), r.stdout)
	}
	want := leader.mustConfig("linearizable")
	if !strings.Contains(want, `"support"`) {
		t.Fatalf("leader's config lacks the applied queue: %s", want)
	}
	waitSameConfig(t, nodes, want)

	// Applying the same file again changes nothing (also through the other
	// follower, and as JSON output).
	for _, n := range nodes {
		if r := n.apply(baseConfig).ok(t); !strings.Contains(r.stdout, "no changes") {
			t.Errorf("re-apply through %s: want no changes, got %q", n.name(), r.stdout)
		}
	}
	r = fol[1].apply(baseConfig, "-o", "json").ok(t)
	var res struct {
		Result struct{ Created, Updated, Removed, Unchanged int }
	}
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil || res.Result.Created+res.Result.Updated+res.Result.Removed != 0 || res.Result.Unchanged != 5 {
		t.Errorf("re-apply -o json: %+v (%v) from %q; want 5 unchanged, nothing else", res.Result, err, r.stdout)
	}

	// Bad documents: refused by tandemctl and by the API (a follower's),
	// naming the field, nothing applied.
	bad := []struct {
		name, doc, field string
	}{
		{"invalid YAML", "queues: [unclosed\n", "line"},
		{"unknown field", "queues:\n  - id: q9\n    strategy: round-robin\n    colour: blue\n", "colour"},
		{"agent with unknown queue", "agents:\n  - id: a9\n    queues: [nosuch]\n", "agents[0].queues[0]"},
		{"bad strategy", "queues:\n  - id: q9\n    strategy: random\n", "queues[0].strategy"},
		{"bad extension", "extensions:\n  - number: x1\n", "extensions[0].number"},
	}
	for _, b := range bad {
		r := fol[0].apply(b.doc)
		lines := nonEmptyLines(r.stderr)
		if r.code == 0 || len(lines) != 1 || !strings.Contains(lines[0], b.field) {
			t.Errorf("%s: %v\nwant non-zero exit and one line naming %q", b.name, r, b.field)
		}
		// The engine's refusals come from the leader (the follower
		// forwards the document) in the error shape, the field kept.
		code, body, err := fol[1].do(http.MethodPost, "/v1/config", true, []byte(b.doc), "application/yaml")
		var e struct{ Code, Message, Field string }
		if err != nil || code != http.StatusBadRequest || json.Unmarshal(body, &e) != nil || e.Code != "bad_request" ||
			!strings.Contains(e.Message, b.field) || (strings.Contains(b.field, "[") && e.Field != b.field) {
			t.Errorf("%s: POST /v1/config on follower %s: HTTP %d %s %v; want 400 bad_request naming %q", b.name, fol[1].name(), code, body, err, b.field)
		}
	}
	if got := leader.mustConfig("linearizable"); got != want {
		t.Errorf("config changed by refused documents:\n got %s\nwant %s", got, want)
	}

	// Linearizable reads on a follower see a write acknowledged just
	// before through the other follower — every time.
	for i := 0; i < 5; i++ {
		q := fmt.Sprintf("lin%d", i)
		fol[0].apply(fmt.Sprintf("queues:\n  - id: %s\n    strategy: ring-all\n", q)).ok(t)
		for _, n := range []*node{fol[1], fol[0]} {
			got := n.mustConfig("linearizable")
			if !strings.Contains(got, `"`+q+`"`) {
				t.Fatalf("linearizable read on %s right after the write does not see queue %s: %s", n.name(), q, got)
			}
		}
	}
	if code, _, _ := fol[0].get("/v1/config?consistency=sometimes", true); code != http.StatusBadRequest {
		t.Errorf("GET /v1/config?consistency=sometimes: HTTP %d, want 400", code)
	}

	// SIGTERM on the leader: exit 0 and the others carry on with a new
	// leader, without waiting for an election timeout.
	start := time.Now()
	if code := leader.stop(waitShort); code != 0 {
		t.Errorf("SIGTERM on leader %s: exit %d, want 0", leader.name(), code)
	}
	newLeader := waitLeader(t, fol, 3)
	t.Logf("leader %s stopped gracefully; %s leads after %v", leader.name(), newLeader.name(), time.Since(start).Round(time.Millisecond))
	fol[0].apply("queues:\n  - id: after-stop\n").ok(t)
}

// waitSameConfig waits until every node's stale (local) config is want.
func waitSameConfig(t *testing.T, nodes []*node, want string) {
	t.Helper()
	for _, n := range nodes {
		waitFor(t, waitShort, n.name()+"'s config to match", func() (bool, string) {
			got, err := n.config("stale")
			if err != nil {
				return false, err.Error()
			}
			return got == want, got
		})
	}
}

// TestTransferAndRemove: leadership moves to a named node on demand (the
// request sent to a follower); removing a follower leaves two voters that
// still accept writes.
func TestTransferAndRemove(t *testing.T) {
	besideTheBurst(t)
	nodes := startCluster(t, "t", 3, nil)
	leader := waitLeader(t, nodes, 3)
	fol := followers(nodes, leader)
	target, via := fol[0], fol[1]

	r := via.ctl("cluster", "transfer-leader", target.id).ok(t)
	if !strings.Contains(r.stdout, "leader is now "+target.id) {
		t.Errorf("transfer-leader output does not name the new leader %s: %q", target.id, r.stdout)
	}
	if got := waitCtlAgree(t, nodes, 3); got != target {
		t.Fatalf("after transfer-leader %s the leader is %s", target.id, got.id)
	}
	// Transferring to the leader itself is a no-op; to a stranger, refused.
	target.ctl("cluster", "transfer-leader", target.id).ok(t)
	if r := via.ctl("cluster", "transfer-leader", "nobody"); r.code == 0 || !strings.Contains(r.stderr, "nobody") {
		t.Errorf("transfer to an unknown node: %v; want a refusal naming it", r)
	}

	// Remove a follower (the old leader), asking the other follower.
	gone := leader
	var rest []*node
	for _, n := range nodes {
		if n != gone {
			rest = append(rest, n)
		}
	}
	asker := via
	termBefore := target.ctlStatus().Term
	asker.ctl("cluster", "remove", gone.id).ok(t)
	waitCtlAgree(t, rest, 2)
	// The removed node, still running, knows it is out: not ready, and it
	// does not disturb the others (no new term).
	waitFor(t, waitShort, "removed "+gone.name()+" to report not ready", func() (bool, string) {
		code, body, err := gone.get("/readyz", false)
		if err != nil {
			return false, err.Error()
		}
		return code == http.StatusServiceUnavailable, fmt.Sprintf("HTTP %d %s", code, body)
	})
	// It was told: it says so in its log and status, and stopped serving
	// as a member.
	waitFor(t, waitShort, "removed "+gone.name()+" to know it", func() (bool, string) {
		st, err := gone.status()
		if err != nil {
			return false, err.Error()
		}
		return strings.Contains(st.Removed, "removed by") && st.Role == "shutdown" &&
			strings.Contains(gone.log(), "this node was removed from the cluster"), fmt.Sprintf("%+v", st)
	})
	for _, n := range rest {
		st := n.ctlStatus()
		if v := st.voters(); len(v) != 2 || contains(v, gone.id) {
			t.Errorf("status of %s after removing %s: voters %v", n.name(), gone.id, v)
		}
		for _, m := range st.Nodes {
			if m.ID == gone.id {
				t.Errorf("status of %s still lists removed %s: %+v", n.name(), gone.id, m)
			}
		}
	}
	if r := asker.ctl("cluster", "remove", gone.id); r.code == 0 {
		t.Errorf("removing %s twice succeeded: %v", gone.id, r)
	}
	rest[0].apply(baseConfig).ok(t)
	want := target.mustConfig("linearizable")
	waitSameConfig(t, rest, want)
	// A removed node that campaigned would show a term above the
	// cluster's (a loaded machine may see an ordinary extra election, so
	// the cluster's own term may move; the removed node's must not lead).
	st, err := gone.status()
	if err != nil {
		t.Fatal(err)
	}
	cur := target.ctlStatus()
	if st.Role == "leader" || st.Role == "candidate" || st.Term > cur.Term {
		t.Errorf("removed %s: role %s term %d (cluster term %d, was %d)", gone.id, st.Role, st.Term, cur.Term, termBefore)
	}
	if cur.Term != termBefore {
		t.Logf("note: cluster term moved from %d to %d during the removal", termBefore, cur.Term)
	}
	gone.kill()

	// A fresh machine takes the removed node's ID (new ports, empty data)
	// and joins through a follower: three voters again, and it catches up.
	fresh := newNode(t, gone.id)
	fresh.start("--join", rest[1].adminAddr)
	all := append(append([]*node{}, rest...), fresh)
	waitCtlAgree(t, all, 3)
	waitSameConfig(t, all, want)
	for _, n := range all {
		waitFor(t, waitShort, n.name()+" to list the replacement's addresses", func() (bool, string) {
			st, err := n.status()
			if err != nil {
				return false, err.Error()
			}
			for _, m := range st.Nodes {
				if m.ID == fresh.id {
					return m.Address == fresh.raftAddr && m.AdminAddr == "http://"+fresh.adminAddr, fmt.Sprintf("%+v", m)
				}
			}
			return false, fmt.Sprintf("%+v", st.Nodes)
		})
	}
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// checkJSONLog checks that a node whose stderr is not a terminal logs one
// JSON object per line.
func checkJSONLog(t *testing.T, n *node) {
	t.Helper()
	for i, line := range nonEmptyLines(n.log()) {
		if strings.HasPrefix(line, "=== e2e:") {
			continue
		}
		var v map[string]any
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Errorf("log of %s, line %d is not a JSON object: %q", n.name(), i+1, line)
			return
		}
	}
}

// TestJoinWithWrongToken: a node that cannot be admitted because it holds
// another token says so in its status; the cluster is untouched.
func TestJoinWithWrongToken(t *testing.T) {
	besideTheBurst(t)
	n1 := newNode(t, "w1")
	n1.start()
	waitLeader(t, []*node{n1}, 1)
	n2 := newNode(t, "w2", withToken("another-token-entirely-1234"))
	n2.start("--join", n1.adminAddr)
	waitFor(t, waitShort, n2.name()+" to report the refused join", func() (bool, string) {
		code, body, err := n2.get("/v1/status", true)
		if err != nil {
			return false, err.Error()
		}
		return code == http.StatusOK && strings.Contains(string(body), "token"), string(body)
	})
	if st := n1.ctlStatus(); len(st.voters()) != 1 {
		t.Errorf("cluster changed by a refused join: voters %v", st.voters())
	}
	if strings.Contains(n2.log(), "another-token-entirely-1234") || strings.Contains(n1.log(), "another-token-entirely-1234") {
		t.Errorf("a token appears in a log")
	}
}
