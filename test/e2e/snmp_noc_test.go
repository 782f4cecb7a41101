package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// benchCommit commits one engine command through --bench-api (the way
// the telephony edge will propose them: checked, then through Raft).
func (n *node) benchCommit(t *testing.T, typ string, payload any) {
	t.Helper()
	b, err := json.Marshal(map[string]any{"type": typ, "payload": payload})
	if err != nil {
		t.Fatal(err)
	}
	code, body, err := n.do(http.MethodPost, "/v1/bench/commit", true, b, "application/json")
	if err != nil || code != http.StatusOK {
		t.Fatalf("%s: HTTP %d %s %v", typ, code, body, err)
	}
}

// nocDoc is ten extensions with one SIP phone each, a queue and an agent
// on the first extension.
func nocDoc() string {
	var b strings.Builder
	b.WriteString("queues:\n  - {id: support, strategy: longest-idle}\nextensions:\n")
	for i := 1; i <= 10; i++ {
		fmt.Fprintf(&b, "  - number: \"%d\"\n    phones: [{id: desk, kind: sip, position: 0, order: 1}]\n", 2000+i)
	}
	b.WriteString("agents:\n  - {id: a1, extension: \"2001\", queues: [support]}\n")
	return b.String()
}

// TestSNMPExtensionsContactsAndTraps, on a three-node cluster sending
// SNMPv3 notifications (each node's engine ID set ahead in its data dir,
// so that snmptrapd knows the user localized to each):
//   - registrations reported through the telephony edge's commands
//     (phone.registration) show as operational extensions, a call as an
//     extension in use and a voice contact, current then ended, with the
//     same values on a follower as on the leader;
//   - when registrations drop below --snmp-extension-threshold (90 %),
//     snmptrapd receives tandemExtensionsBelowThreshold once, in SNMPv3
//     from the leader, with the counts;
//   - a member whose clock is 5 s ahead (--clock-offset) is reported
//     once by the leader, tandemClockSkewAlarm.
func TestSNMPExtensionsContactsAndTraps(t *testing.T) {
	besideTheBurst(t)
	snmpTool(t, "snmpget")
	engineIDs := []string{"80007ed905746e6f632d31", "80007ed905746e6f632d32", "80007ed905746e6f632d33"}
	var conf strings.Builder
	for _, id := range engineIDs {
		fmt.Fprintf(&conf, "createUser -e 0x%s noc SHA-256 %s AES %s\n", id, v3AuthPass, v3PrivPass)
	}
	recv := startTrapReceiverConf(t, conf.String())
	files := v3Files(t)
	nodes := make([]*node, 3)
	addrs := make([]string, 3)
	for i := range nodes {
		nodes[i] = newNode(t, fmt.Sprintf("x%d", i+1))
		addrs[i] = loopback(t)
		nodes[i].extra = append(nodes[i].extra, snmpFlags(addrs[i], "--snmp-trap-to", recv.addr, "--snmp-trap-v3-user", "noc",
			"--bench-api")...)
		nodes[i].extra = append(nodes[i].extra, files...)
		// An operator may set the engine ID: the file tandemd keeps it in.
		if err := os.MkdirAll(nodes[i].dataDir, 0o700); err != nil {
			t.Fatal(err)
		}
		doc := fmt.Sprintf(`{"engine_id":%q,"boots":0}`, engineIDs[i])
		if err := os.WriteFile(filepath.Join(nodes[i].dataDir, "snmp-engine.json"), []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	nodes[2].extra = append(nodes[2].extra, "--clock-offset", "5s")
	nodes[0].start()
	waitLeader(t, nodes[:1], 1)
	for _, n := range nodes[1:] {
		n.start("--join", nodes[0].adminAddr)
	}
	leader := waitLeader(t, nodes, 3)
	addrOf := map[*node]string{}
	for i, n := range nodes {
		addrOf[n] = addrs[i]
	}
	leader.apply(nocDoc()).ok(t)

	// The clock 5 s ahead, reported once, by the leader.
	var skews []trap
	waitFor(t, waitCluster, "tandemClockSkewAlarm", func() (bool, string) {
		skews = named(recv.traps(t), "TANDEM-MIB::tandemClockSkewAlarm")
		return len(skews) > 0, fmt.Sprintf("%d traps", len(recv.traps(t)))
	})

	// Configured before any phone registered, the extensions are all
	// down (0 %): the leader's watcher (every 250 ms) reports it once.
	// Waited for before the phones register, or a quick registration
	// could pass between two of its looks (a CI run saw no notification).
	waitFor(t, waitCluster, "tandemExtensionsBelowThreshold of the extensions configured", func() (bool, string) {
		n := len(named(recv.traps(t), "TANDEM-MIB::tandemExtensionsBelowThreshold"))
		return n > 0, fmt.Sprintf("%d traps", len(recv.traps(t)))
	})

	register := func(from, to int, registered bool) {
		for i := from; i <= to; i++ {
			leader.benchCommit(t, "phone.registration", map[string]any{"extension": fmt.Sprint(2000 + i), "phone": "desk", "registered": registered})
		}
	}
	register(1, 10, true)
	f := followers(nodes, leader)[0]
	values := func(n *node, names ...string) map[string]string {
		t.Helper()
		r := snmpV3(t, "snmpget", addrOf[n], v3Cred{"noc", "SHA-256", v3AuthPass, "AES", v3PrivPass}.args(), names...)
		v, _ := snmpLines(t, r)
		return v
	}
	expect := func(what string, want map[string]string) {
		t.Helper()
		var names []string
		for k := range want {
			names = append(names, "TANDEM-MIB::"+k)
		}
		for _, n := range []*node{leader, f} {
			waitFor(t, waitShort, what+" on "+n.name(), func() (bool, string) {
				got := values(n, names...)
				for k, v := range want {
					if got[k] != v {
						return false, fmt.Sprintf("%s = %q, want %q", k, got[k], v)
					}
				}
				return true, ""
			})
		}
	}
	expect("ten extensions registered", map[string]string{
		"tandemExtensionsConfigured.0":     "Gauge32: 10",
		"tandemExtensionsRegistered.0":     "Gauge32: 10",
		"tandemExtensionsInUse.0":          "Gauge32: 0",
		"tandemExtensionsOperationalPct.0": "Gauge32: 100.0",
		"tandemExtensionThreshold.0":       "Gauge32: 90 percent",
		"tandemContactCounted.voice":       "INTEGER: true(1)",
		"tandemContactCounted.chat":        "INTEGER: true(1)", // the web edge counts chats
		"tandemBackupLastResult.full":      "INTEGER: never(1)",
	})
	// A call: answered (an extension in use), then hung up (a voice
	// contact of the last hour, counted on every node).
	leader.benchCommit(t, "agent.login", map[string]any{"agent": "a1"})
	leader.benchCommit(t, "agent.login", map[string]any{"agent": "a1"})
	leader.benchCommit(t, "call.incoming", map[string]any{"call": "c1", "queue": "support", "number": "+441615550001"})
	leader.benchCommit(t, "call.answer", map[string]any{"agent": "a1"})
	expect("a call in progress", map[string]string{
		"tandemExtensionsInUse.0":        "Gauge32: 1",
		"tandemContactsCurrent.voice":    "Gauge32: 1",
		"tandemContactsLastHour.voice":   "Gauge32: 0",
		"tandemContactsLastDay.voice":    "Gauge32: 0",
		"tandemContactsCurrent.callback": "Gauge32: 0",
	})
	leader.benchCommit(t, "call.hangup", map[string]any{"agent": "a1"})
	expect("the call ended", map[string]string{
		"tandemExtensionsInUse.0":      "Gauge32: 0",
		"tandemContactsCurrent.voice":  "Gauge32: 0",
		"tandemContactsLastHour.voice": "Gauge32: 1",
		"tandemContactsLastDay.voice":  "Gauge32: 1",
	})
	// The one notification of the extensions configured (0 %), none
	// while the phones registered.
	before := named(recv.traps(t), "TANDEM-MIB::tandemExtensionsBelowThreshold")
	if len(before) != 1 || before[0].vars["TANDEM-MIB::tandemExtensionsRegistered.0"] != "Gauge32: 0" {
		t.Fatalf("%d tandemExtensionsBelowThreshold before the drop, want one of 0 registered:\n%v", len(before), before)
	}

	// Two phones lose their registration: 80 % < 90 %. The leader's
	// watcher polls every 250 ms: let it see the registrations first, or
	// the drop is no change to it.
	time.Sleep(time.Second)
	register(9, 10, false)
	var below []trap
	waitFor(t, waitCluster, "tandemExtensionsBelowThreshold", func() (bool, string) {
		below = named(recv.traps(t), "TANDEM-MIB::tandemExtensionsBelowThreshold")
		return len(below) > 1, ""
	})
	register(8, 8, false) // still below: nothing more
	time.Sleep(3 * time.Second)
	below = named(recv.traps(t), "TANDEM-MIB::tandemExtensionsBelowThreshold")
	if len(below) != 2 {
		t.Fatalf("%d tandemExtensionsBelowThreshold, want 2 (at the configuration, at the drop):\n%v", len(below), below)
	}
	b := below[1]
	for k, want := range map[string]string{
		"TANDEM-MIB::tandemNodeId.0":                   "STRING: " + leader.id,
		"TANDEM-MIB::tandemExtensionsConfigured.0":     "Gauge32: 10",
		"TANDEM-MIB::tandemExtensionsRegistered.0":     "Gauge32: 8",
		"TANDEM-MIB::tandemExtensionsOperationalPct.0": "Gauge32: 80.0",
		"TANDEM-MIB::tandemExtensionThreshold.0":       "Gauge32: 90 percent",
	} {
		if b.vars[k] != want {
			t.Errorf("tandemExtensionsBelowThreshold %s = %q, want %q\n%s", k, b.vars[k], want, b.line)
		}
	}
	if !strings.Contains(b.line, "noc") {
		t.Errorf("not an SNMPv3 notification of user noc: %s", b.line)
	}

	skews = named(recv.traps(t), "TANDEM-MIB::tandemClockSkewAlarm")
	if len(skews) != 1 || skews[0].vars["TANDEM-MIB::tandemNodeId.0"] != "STRING: "+leader.id {
		t.Fatalf("tandemClockSkewAlarm: %d, want one from %s:\n%v", len(skews), leader.id, skews)
	}
	// Counted by type, by the leader only.
	for _, n := range nodes {
		code, body, err := n.get("/metrics", false)
		if err != nil || code != http.StatusOK {
			t.Fatalf("/metrics: %d %v", code, err)
		}
		want := map[bool]float64{true: 2, false: 0}[n == leader]
		if v, _ := labelled(string(body), `tandem_snmp_traps_sent_total{type="tandemExtensionsBelowThreshold"}`); v != want {
			t.Errorf("%s sent %v tandemExtensionsBelowThreshold, want %v", n.name(), v, want)
		}
	}
	skew := skews[0].vars[fmt.Sprintf("TANDEM-MIB::tandemMemberClockSkew.%q", nodes[2].id)]
	var ms int
	if _, err := fmt.Sscanf(skew, "INTEGER: %d", &ms); err != nil || ms < 4000 || ms > 6000 {
		t.Fatalf("tandemMemberClockSkew of %s: %q, want about 5000 ms\n%s", nodes[2].id, skew, skews[0].line)
	}
}
