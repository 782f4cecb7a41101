package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestSNMPMIB: TANDEM-MIB is clean at smilint -s -l 3 (which exits 0 even
// on errors, so its output is what counts: it must be empty), and
// net-snmp's snmptranslate resolves its names with -m +TANDEM-MIB.
func TestSNMPMIB(t *testing.T) {
	smilint := snmpTool(t, "smilint")
	base := snmpBaseMIBs(t)
	mib, err := filepath.Abs(filepath.Join("..", "..", "snmp", "TANDEM-MIB.txt"))
	if err != nil {
		t.Fatal(err)
	}
	lint := func(file string) toolResult {
		return runTool([]string{"SMIPATH=" + base}, smilint, "-s", "-l", "3", file)
	}
	if r := lint(mib); r.code != 0 || strings.TrimSpace(r.stdout+r.stderr) != "" {
		t.Fatalf("smilint reports problems in TANDEM-MIB:\n%v", r)
	}
	// The check can fail: a copy with an undefined object in a group is
	// reported.
	b, err := os.ReadFile(mib)
	if err != nil {
		t.Fatal(err)
	}
	broken := filepath.Join(t.TempDir(), "TANDEM-MIB.txt")
	os.WriteFile(broken, bytes.Replace(b, []byte("tandemReady\n"), []byte("tandemReady,\n                    tandemNoSuchObject\n"), 1), 0o644)
	if r := lint(broken); !strings.Contains(r.stdout+r.stderr, "tandemNoSuchObject") {
		t.Fatalf("smilint does not report an undefined object, so its silence proves nothing:\n%v", r)
	}

	translate := snmpTool(t, "snmptranslate")
	for name, oid := range map[string]string{
		"TANDEM-MIB::tandemMIB":                 ".1.3.6.1.4.1.32473.1",
		"TANDEM-MIB::tandemNodeRole.0":          ".1.3.6.1.4.1.32473.1.1.1.2.0",
		"TANDEM-MIB::tandemQueueLongestWait":    ".1.3.6.1.4.1.32473.1.1.2.9.1.4",
		"TANDEM-MIB::tandemReplTargetState":     ".1.3.6.1.4.1.32473.1.1.3.3.1.2",
		"TANDEM-MIB::tandemSnmpDropsCommunity":  ".1.3.6.1.4.1.32473.1.1.4.5",
		"TANDEM-MIB::tandemLeaderChange":        ".1.3.6.1.4.1.32473.1.0.1",
		"TANDEM-MIB::tandemReplBufferThreshold": ".1.3.6.1.4.1.32473.1.0.4",
	} {
		r := runTool(nil, translate, "-M", snmpMIBPath(t), "-m", "+TANDEM-MIB", "-On", name)
		if r.code != 0 || strings.TrimSpace(r.stdout) != oid {
			t.Errorf("snmptranslate %s: want %s\n%v", name, oid, r)
		}
	}
	// And back, from the number to the name.
	r := runTool(nil, translate, "-M", snmpMIBPath(t), "-m", "+TANDEM-MIB", ".1.3.6.1.4.1.32473.1.1.2.9.1.4")
	if strings.TrimSpace(r.stdout) != "TANDEM-MIB::tandemQueueLongestWait" {
		t.Errorf("snmptranslate of the number: %v", r)
	}
}

// TestSNMPRefusesWellKnownCommunity: tandemd will not start with the
// community public or private; the error is one line naming the flag.
func TestSNMPRefusesWellKnownCommunity(t *testing.T) {
	for _, args := range [][]string{
		{"--snmp-community", "public"},
		{"--snmp-community", "n0c,Private"},
	} {
		dir := t.TempDir()
		ctx, cancel := context.WithTimeout(context.Background(), waitShort)
		cmd := exec.CommandContext(ctx, tandemdBin, append([]string{"--data-dir", filepath.Join(dir, "data"),
			"--raft-addr", loopback(t), "--admin-addr", loopback(t), "--snmp-addr", loopback(t)}, args...)...)
		cmd.Env = cleanEnv()
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		cancel()
		code := -1
		if cmd.ProcessState != nil {
			code = cmd.ProcessState.ExitCode()
		}
		out := stderr.String()
		if err == nil || code != 2 || strings.Count(out, "\n") != 1 || !strings.HasPrefix(out, "tandemd: --snmp-community: ") {
			t.Errorf("tandemd %s: exit %d, stderr %q", strings.Join(args, " "), code, out)
		}
		if _, err := os.Stat(filepath.Join(dir, "data")); !os.IsNotExist(err) {
			t.Errorf("tandemd %s created its data dir", strings.Join(args, " "))
		}
	}
}

// TestSNMPWalk: on a three-node cluster, snmpwalk -v2c and snmpbulkwalk
// of the leader and of a follower return the whole TANDEM-MIB tree with
// every name resolved, and the values tandemctl status shows; a wrong
// community times out and is counted in the MIB and /metrics; SET is
// answered notWritable.
func TestSNMPWalk(t *testing.T) {
	snmpTool(t, "snmpwalk")
	nodes, addrs := startSNMPCluster(t, "s", 3, nil)
	leader := waitLeader(t, nodes, 3)
	leader.apply(baseConfig).ok(t)
	waitMembersUp(t, nodes) // reachability is live: let it settle
	addrOf := map[*node]string{}
	for i, n := range nodes {
		addrOf[n] = addrs[i]
	}
	for _, n := range append([]*node{leader}, followers(nodes, leader)...) {
		var walk, bulk map[string]string
		var order []string
		// Polled: an election between the two readings changes the term.
		waitFor(t, waitCluster, "snmpwalk of "+n.name()+" to match tandemctl status", func() (bool, string) {
			st := n.ctlStatus()
			r := snmp(t, "snmpwalk", snmpCommunity, addrOf[n], "TANDEM-MIB::tandemMIB")
			if r.code != 0 {
				return false, r.String()
			}
			walk, order = snmpLines(t, r)
			rb := snmp(t, "snmpbulkwalk", snmpCommunity, addrOf[n], "TANDEM-MIB::tandemMIB")
			if rb.code != 0 {
				return false, rb.String()
			}
			bulk, _ = snmpLines(t, rb)
			if again := n.ctlStatus(); again.Term != st.Term || again.LeaderID != st.LeaderID {
				return false, "the cluster changed during the walk"
			}
			want := map[string]string{
				"tandemNodeId.0":                     "STRING: " + st.NodeID,
				"tandemNodeRole.0":                   fmt.Sprintf("INTEGER: %s(%d)", st.Role, map[string]int{"leader": 1, "follower": 2, "candidate": 3}[st.Role]),
				"tandemLeaderId.0":                   "STRING: " + st.LeaderID,
				"tandemTerm.0":                       "Gauge32: " + strconv.FormatUint(st.Term, 10),
				"tandemMemberCount.0":                "Gauge32: " + strconv.Itoa(len(st.Nodes)),
				"tandemMembersUp.0":                  "Gauge32: 3",
				"tandemReady.0":                      "INTEGER: true(1)",
				"tandemExtensionsConfigured.0":       "Gauge32: 1",
				"tandemAgentsConfigured.0":           "Gauge32: 1",
				"tandemAgentsLoggedIn.0":             "Gauge32: 0",
				"tandemQueueCount.0":                 "Gauge32: 1",
				`tandemQueueWaiting."support"`:       "Gauge32: 0",
				`tandemQueueLongestWait."support"`:   "Gauge32: 0 seconds",
				`tandemQueueAgentsServing."support"`: "Gauge32: 0",
				"tandemSnmpTrapProfile.0":            "INTEGER: all(1)",
			}
			for _, m := range st.Nodes {
				want[fmt.Sprintf("tandemMemberAddress.%q", m.ID)] = "STRING: " + m.Address
				want[fmt.Sprintf("tandemMemberSuffrage.%q", m.ID)] = "INTEGER: voter(1)"
				want[fmt.Sprintf("tandemMemberState.%q", m.ID)] = "INTEGER: " + m.State + "(1)"
				want[fmt.Sprintf("tandemMemberIsLeader.%q", m.ID)] = map[bool]string{true: "INTEGER: true(1)", false: "INTEGER: false(2)"}[m.ID == st.LeaderID]
			}
			var diff []string
			for k, v := range want {
				if walk[k] != v {
					diff = append(diff, fmt.Sprintf("%s: walk %q, want %q", k, walk[k], v))
				}
			}
			if len(diff) > 0 {
				return false, strings.Join(diff, "; ")
			}
			return true, ""
		})
		// The whole tree, in the same order both ways; the two walks
		// differ only in the agent's own counters and in the clock skews,
		// measured again between them (1 ms, then 0), which keep their
		// type.
		if len(walk) != len(bulk) || len(order) < 40 {
			t.Fatalf("%s: snmpwalk %d objects, snmpbulkwalk %d", n.name(), len(walk), len(bulk))
		}
		for k, v := range walk {
			bv, ok := bulk[k]
			live := strings.HasPrefix(k, "tandemSnmp") || strings.HasPrefix(k, "tandemClockSkew.") || strings.HasPrefix(k, "tandemMemberClockSkew.")
			if typ, _, _ := strings.Cut(v, ":"); !ok || (bv != v && (!live || !strings.HasPrefix(bv, typ+":"))) {
				t.Errorf("%s: %s: snmpwalk %q, snmpbulkwalk %q", n.name(), k, v, bv)
			}
		}
		for _, k := range []string{"tandemClockSkew.0", "tandemReplBufferPercent.0", "tandemReplAlarmLevel.0", `tandemQueueName."support"`,
			"tandemMembersUp.0", "tandemSnmpRequests.0", "tandemSnmpDropsHost.0"} {
			if _, ok := walk[k]; !ok {
				t.Errorf("%s: the walk has no %s", n.name(), k)
			}
		}
	}

	// A wrong community gets no answer at all, and is counted.
	f := followers(nodes, leader)[0]
	r := snmp(t, "snmpget", "not-"+snmpCommunity, addrOf[f], "-r", "0", "TANDEM-MIB::tandemNodeId.0")
	if r.code == 0 || !strings.Contains(r.stdout+r.stderr, "Timeout") {
		t.Fatalf("a wrong community was answered:\n%v", r)
	}
	vals, _ := snmpLines(t, snmp(t, "snmpget", snmpCommunity, addrOf[f], "TANDEM-MIB::tandemSnmpDropsCommunity.0"))
	if v := vals["tandemSnmpDropsCommunity.0"]; v == "" || v == "Counter32: 0" {
		t.Fatalf("tandemSnmpDropsCommunity.0 = %q after a wrong community", v)
	}
	code, body, err := f.get("/metrics", false)
	if err != nil || code != http.StatusOK {
		t.Fatalf("/metrics: %d %v", code, err)
	}
	if v, ok := labelled(string(body), `tandem_snmp_dropped_total{cause="community"}`); !ok || v < 1 {
		t.Fatalf("/metrics: tandem_snmp_dropped_total{cause=\"community\"} = %v (%v)", v, ok)
	}
	if v, ok := labelled(string(body), `tandem_snmp_requests_total{pdu="getbulk"}`); !ok || v < 1 {
		t.Fatalf("/metrics: tandem_snmp_requests_total{pdu=\"getbulk\"} = %v (%v)", v, ok)
	}

	// SET is refused, the value unchanged.
	set := snmp(t, "snmpset", snmpCommunity, addrOf[f], "TANDEM-MIB::tandemNodeId.0", "s", "evil")
	if set.code == 0 || !strings.Contains(set.stdout+set.stderr, "notWritable") {
		t.Fatalf("snmpset:\n%v", set)
	}
	vals, _ = snmpLines(t, snmp(t, "snmpget", snmpCommunity, addrOf[f], "TANDEM-MIB::tandemNodeId.0"))
	if vals["tandemNodeId.0"] != "STRING: "+f.id {
		t.Fatalf("after SET: %q", vals["tandemNodeId.0"])
	}
}

// waitMembersUp waits until every node sees every member up.
func waitMembersUp(t *testing.T, nodes []*node) {
	t.Helper()
	waitFor(t, waitCluster, "every member up in every node's view", func() (bool, string) {
		for _, n := range nodes {
			st, err := n.status()
			if err != nil {
				return false, err.Error()
			}
			for _, m := range st.Nodes {
				if m.State != "up" {
					return false, fmt.Sprintf("%s: %+v", n.name(), st.Nodes)
				}
			}
		}
		return true, ""
	})
}

// labelled returns a metric line's value by its exact name and labels.
func labelled(text, series string) (float64, bool) {
	for _, line := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return f, err == nil
		}
	}
	return 0, false
}

// TestSNMPLeaderChangeTrap: snmptrapd receives tandemLeaderChange when
// the leader of a three-node cluster is SIGKILLed — exactly once, from
// the new leader, naming the old one — then tandemNodeLost for the dead
// node once, and tandemNodeBack once when it returns.
func TestSNMPLeaderChangeTrap(t *testing.T) {
	recv := startTrapReceiver(t)
	nodes, _ := startSNMPCluster(t, "t", 3, func(int) []string { return []string{"--snmp-trap-to", recv.addr} })
	leader := waitLeader(t, nodes, 3)
	// A node reports a member lost only once it has seen it up.
	waitMembersUp(t, nodes)
	before := len(recv.traps(t))

	leader.kill()
	survivors := followers(nodes, leader)
	newLeader := waitLeader(t, survivors, 3)
	var lost []trap
	waitFor(t, waitCluster, "tandemLeaderChange and tandemNodeLost", func() (bool, string) {
		after := recv.traps(t)[before:]
		lost = named(after, "TANDEM-MIB::tandemNodeLost")
		return len(named(after, "TANDEM-MIB::tandemLeaderChange")) > 0 && len(lost) > 0, fmt.Sprintf("%d traps since the kill", len(after))
	})
	time.Sleep(3 * time.Second) // room for a duplicate to arrive
	after := recv.traps(t)[before:]
	changes := named(after, "TANDEM-MIB::tandemLeaderChange")
	if len(changes) != 1 {
		t.Fatalf("%d tandemLeaderChange since the kill, want 1:\n%v", len(changes), changes)
	}
	ch := changes[0].vars
	for k, want := range map[string]string{
		"TANDEM-MIB::tandemNodeId.0":               "STRING: " + newLeader.id,
		"TANDEM-MIB::tandemLeaderId.0":             "STRING: " + newLeader.id,
		"TANDEM-MIB::tandemNotifyPreviousLeader.0": "STRING: " + leader.id,
		"TANDEM-MIB::tandemMemberCount.0":          "Gauge32: 3",
	} {
		if ch[k] != want {
			t.Errorf("tandemLeaderChange %s = %q, want %q\n%s", k, ch[k], want, changes[0].line)
		}
	}
	if len(lost) != 1 || lost[0].vars[fmt.Sprintf("TANDEM-MIB::tandemMemberState.%q", leader.id)] != "INTEGER: down(2)" ||
		lost[0].vars["TANDEM-MIB::tandemLeaderId.0"] != "STRING: "+newLeader.id ||
		lost[0].vars["TANDEM-MIB::tandemMembersUp.0"] != "Gauge32: 2" {
		t.Fatalf("tandemNodeLost: %d, want one for %s from %s:\n%v", len(lost), leader.id, newLeader.id, lost)
	}

	// The old leader returns: tandemNodeBack, once.
	leader.start()
	waitFor(t, waitCluster, "tandemNodeBack", func() (bool, string) {
		back := named(recv.traps(t)[before:], "TANDEM-MIB::tandemNodeBack")
		return len(back) > 0, ""
	})
	time.Sleep(2 * time.Second)
	back := named(recv.traps(t)[before:], "TANDEM-MIB::tandemNodeBack")
	if len(back) != 1 || back[0].vars[fmt.Sprintf("TANDEM-MIB::tandemMemberState.%q", leader.id)] != "INTEGER: up(1)" {
		t.Fatalf("tandemNodeBack: %v", back)
	}
	// The sender counted what it sent.
	code, body, err := newLeader.get("/metrics", false)
	if err != nil || code != http.StatusOK {
		t.Fatalf("/metrics: %d %v", code, err)
	}
	if v, _ := labelled(string(body), `tandem_snmp_traps_sent_total{type="tandemLeaderChange"}`); v != 1 {
		t.Errorf("%s sent %v tandemLeaderChange", newLeader.name(), v)
	}
}
