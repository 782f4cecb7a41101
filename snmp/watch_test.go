package snmp

import (
	"context"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gosnmp/gosnmp"

	"github.com/tandemcc/tandem/cluster"
	"github.com/tandemcc/tandem/contactcenter"
	"github.com/tandemcc/tandem/replication"
)

// queued drains the notifications queued so far: name → varbinds by
// MIB-relative name ("tandemLeaderId.0").
func queued(t *testing.T, a *Agent) []notification {
	t.Helper()
	var out []notification
	for {
		select {
		case n := <-a.traps.queue:
			out = append(out, n)
		default:
			return out
		}
	}
}

func names(ns []notification) string {
	var s []string
	for _, n := range ns {
		s = append(s, n.name)
	}
	return strings.Join(s, " ")
}

// vars maps a notification's varbinds by OID to values (strings for
// octet strings).
func vars(n notification) map[string]any {
	out := map[string]any{}
	for _, v := range n.vars {
		val := v.Value
		if b, ok := val.([]byte); ok {
			val = string(b)
		}
		out[v.Name] = val
	}
	return out
}

func trapAgent(t *testing.T, profile string) *Agent {
	return newTestAgent(t, func(f *Flags) { f.TrapTo.Set("127.0.0.1:9"); f.TrapProfile.Set(profile) })
}

func TestLeaderChangeNotification(t *testing.T) {
	a := trapAgent(t, ProfileAll)
	src, cl, _ := testSources()
	src.Replication = nil
	// A follower that knows n2 as leader: nothing.
	cl.set(func(s *cluster.Status) { s.NodeID, s.Role, s.LeaderID = "n1", "follower", "n2" })
	a.poll(src)
	a.poll(src)
	// An election: candidate, then leader — one notification, with the
	// leader before.
	cl.set(func(s *cluster.Status) { s.Role, s.LeaderID, s.Term = "candidate", "", 8 })
	a.poll(src)
	cl.set(func(s *cluster.Status) { s.Role, s.LeaderID = "leader", "n1" })
	a.poll(src)
	a.poll(src)
	ns := queued(t, a)
	if names(ns) != "tandemLeaderChange" {
		t.Fatalf("notifications %q, want one tandemLeaderChange", names(ns))
	}
	v := vars(ns[0])
	for oid, want := range map[string]any{
		oidSysUpTime:                                 uint32(6000), // a minute, in hundredths
		oidSnmpTrapOID:                               oidOf(t, a, "tandemLeaderChange"),
		oidOf(t, a, "tandemNodeId", 0):               "n1",
		oidOf(t, a, "tandemLeaderId", 0):             "n1",
		oidOf(t, a, "tandemTerm", 0):                 uint32(8),
		oidOf(t, a, "tandemNotifyPreviousLeader", 0): "n2",
		oidOf(t, a, "tandemMembersUp", 0):            uint32(2),
		oidOf(t, a, "tandemMemberCount", 0):          uint32(3),
	} {
		if v[oid] != want {
			t.Errorf("%s = %#v, want %#v", oid, v[oid], want)
		}
	}
	if ns[0].vars[0].Name != oidSysUpTime || ns[0].vars[1].Name != oidSnmpTrapOID {
		t.Errorf("varbinds must start with sysUpTime and snmpTrapOID: %v", ns[0].vars[:2])
	}
	// Losing and regaining leadership is a new change.
	cl.set(func(s *cluster.Status) { s.Role, s.LeaderID = "follower", "n2" })
	a.poll(src)
	cl.set(func(s *cluster.Status) { s.Role, s.LeaderID, s.Term = "leader", "n1", 10 })
	a.poll(src)
	if ns := queued(t, a); names(ns) != "tandemLeaderChange" || vars(ns[0])[oidOf(t, a, "tandemNotifyPreviousLeader", 0)] != "n2" {
		t.Fatalf("after re-election: %q", names(ns))
	}
}

func TestMemberNotifications(t *testing.T) {
	for _, profile := range []string{ProfileAll, ProfileNOC} {
		t.Run(profile, func(t *testing.T) {
			a := trapAgent(t, profile)
			src, cl, _ := testSources()
			src.Replication = nil
			setState := func(id, state string) {
				cl.set(func(s *cluster.Status) {
					for i := range s.Nodes {
						if s.Nodes[i].ID == id {
							s.Nodes[i].State = state
						}
					}
				})
			}
			a.poll(src) // n1 is leader already: a leader change (profile all)
			queued(t, a)
			setState("n2", "down")
			a.poll(src)
			a.poll(src)
			setState("n2", "up")
			setState("n3", "up") // n3 was down: back
			a.poll(src)
			ns := queued(t, a)
			if got := names(ns); got != "tandemNodeLost tandemNodeBack tandemNodeBack" {
				t.Fatalf("notifications %q", got)
			}
			lost := vars(ns[0])
			idx := stringIndex("n2")
			for oid, want := range map[string]any{
				oidOf(t, a, "tandemMemberEntry", append([]uint32{2}, idx...)...): "127.0.0.1:7002",
				oidOf(t, a, "tandemMemberEntry", append([]uint32{5}, idx...)...): "http://127.0.0.1:7072",
				oidOf(t, a, "tandemMemberEntry", append([]uint32{4}, idx...)...): 2, // down
				oidOf(t, a, "tandemLeaderId", 0):                                 "n1",
				oidOf(t, a, "tandemMembersUp", 0):                                uint32(1),
				oidOf(t, a, "tandemMemberCount", 0):                              uint32(3),
			} {
				if lost[oid] != want {
					t.Errorf("%s = %#v, want %#v", oid, lost[oid], want)
				}
			}
			// A follower sees members come and go but never notifies.
			cl.set(func(s *cluster.Status) { s.Role, s.LeaderID = "follower", "n2" })
			setState("n3", "down")
			a.poll(src)
			if ns := queued(t, a); len(ns) != 0 {
				t.Fatalf("a follower notified %q", names(ns))
			}
		})
	}
}

func TestReplicationNotifications(t *testing.T) {
	a := trapAgent(t, ProfileAll)
	src, _, repl := testSources()
	setTarget := func(state replication.State, reason string) {
		repl.mu.Lock()
		defer repl.mu.Unlock()
		ts := repl.st.Targets[replication.Reporting]
		ts.State, ts.Reason = state, reason
		repl.st.Targets[replication.Reporting] = ts
	}
	a.poll(src)
	queued(t, a)
	setTarget(replication.AutoStopped, "buffer 95.2% full")
	a.poll(src)
	setTarget(replication.Stopped, "operator")
	a.poll(src)
	ns := queued(t, a)
	if got := names(ns); got != "tandemReplAutoStopped tandemReplStateChanged" {
		t.Fatalf("notifications %q", got)
	}
	stop := vars(ns[0])
	if stop[oidOf(t, a, "tandemReplTargetEntry", 2, 1)] != 5 || stop[oidOf(t, a, "tandemReplTargetEntry", 6, 1)] != "buffer 95.2% full" ||
		!strings.Contains(stop[oidOf(t, a, "tandemNotifyMessage", 0)].(string), "tandemctl replication restart") {
		t.Fatalf("auto-stop varbinds %v", stop)
	}
	if ch := vars(ns[1]); ch[oidOf(t, a, "tandemNotifyPreviousState", 0)] != 5 || ch[oidOf(t, a, "tandemReplTargetEntry", 2, 1)] != 3 {
		t.Fatalf("state change varbinds %v", ch)
	}

	// Buffer alarms: the leader notifies, a follower does not; the noc
	// profile keeps them.
	a.src.Store(&src)
	a.ReplicationAlarm(replication.Alarm{Level: replication.Level75, Percent: 75.04, Message: "replication buffer 75.0% used"})
	ns = queued(t, a)
	if names(ns) != "tandemReplBufferThreshold" {
		t.Fatalf("alarm notifications %q", names(ns))
	}
	v := vars(ns[0])
	if v[oidOf(t, a, "tandemReplAlarmLevel", 0)] != 3 || v[oidOf(t, a, "tandemReplBufferPercent", 0)] != uint32(750) ||
		v[oidOf(t, a, "tandemNotifyMessage", 0)] != "replication buffer 75.0% used" {
		t.Fatalf("alarm varbinds %v", v)
	}
	src.Cluster.(*fakeCluster).set(func(s *cluster.Status) { s.Role = "follower" })
	a.ReplicationAlarm(replication.Alarm{Level: replication.Level95, Percent: 96})
	if ns := queued(t, a); len(ns) != 0 {
		t.Fatalf("a follower notified %q", names(ns))
	}

	noc := trapAgent(t, ProfileNOC)
	src2, _, _ := testSources()
	noc.src.Store(&src2)
	noc.poll(src2) // a leader change: not in the noc profile
	noc.ReplicationAlarm(replication.Alarm{Level: replication.Level50, Percent: 50})
	if got := names(queued(t, noc)); got != "tandemReplBufferThreshold" {
		t.Fatalf("noc profile sent %q", got)
	}
}

// TestTrapsSent: notifications reach a real UDP receiver as SNMPv2c traps
// with the first community, and are counted.
func TestTrapsSent(t *testing.T) {
	recv, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer recv.Close()
	a := newTestAgent(t, func(f *Flags) { f.TrapTo.Set(recv.LocalAddr().String()) })
	src, _, _ := testSources()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- a.Run(ctx, src) }()
	recv.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 65535)
	n, _, err := recv.ReadFromUDP(buf)
	if err != nil {
		t.Fatalf("no trap: %v", err)
	}
	p, err := (&gosnmp.GoSNMP{Version: gosnmp.Version2c}).SnmpDecodePacket(buf[:n])
	if err != nil {
		t.Fatal(err)
	}
	if p.PDUType != gosnmp.SNMPv2Trap || p.Community != testCommunity || len(p.Variables) < 3 ||
		p.Variables[1].Value != oidOf(t, a, "tandemLeaderChange") {
		t.Fatalf("trap %v community %q varbinds %v", p.PDUType, p.Community, p.Variables)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := a.cnt.trapsSent["tandemLeaderChange"].Load(); got != 1 {
		t.Fatalf("traps sent %d", got)
	}
}

func TestExtensionThresholdNotification(t *testing.T) {
	a := trapAgent(t, ProfileNOC)
	src, cl, _ := testSources()
	src.Replication = nil
	eng := src.Engine.(*fakeEngine)
	set := func(operational int) {
		eng.setUsage(contactcenter.ExtensionUsage{Configured: 40, Operational: operational})
	}
	steps := []struct {
		role        string
		operational int
		want        string
	}{
		{"leader", 40, ""},
		{"leader", 36, ""}, // 90 %: at the threshold
		{"leader", 35, "tandemExtensionsBelowThreshold"},
		{"leader", 20, ""}, // still below: once per fall
		{"leader", 38, ""}, // back
		{"leader", 10, "tandemExtensionsBelowThreshold"},
		{"follower", 40, ""},
		{"follower", 10, ""}, // a follower never sends
		{"leader", 10, ""},   // elected: it saw the fall as a follower
	}
	for i, s := range steps {
		cl.set(func(st *cluster.Status) { st.Role = s.role })
		set(s.operational)
		a.poll(src)
		if got := names(queued(t, a)); got != s.want {
			t.Fatalf("step %d (%s, %d/40): %q, want %q", i, s.role, s.operational, got, s.want)
		}
	}
	set(40)
	a.poll(src)
	set(30)
	a.poll(src)
	ns := queued(t, a)
	v := vars(ns[0])
	for oid, want := range map[string]any{
		oidOf(t, a, "tandemExtensionsConfigured", 0):     uint32(40),
		oidOf(t, a, "tandemExtensionsRegistered", 0):     uint32(30),
		oidOf(t, a, "tandemExtensionsOperationalPct", 0): uint32(750),
		oidOf(t, a, "tandemExtensionThreshold", 0):       uint32(90),
	} {
		if v[oid] != want {
			t.Errorf("%s = %#v, want %#v", oid, v[oid], want)
		}
	}
	// No extension configured is nothing missing; threshold 0 never
	// alarms.
	eng.setUsage(contactcenter.ExtensionUsage{})
	a.poll(src)
	b := newTestAgent(t, func(f *Flags) {
		f.TrapTo.Set("127.0.0.1:9")
		f.TrapProfile.Set(ProfileNOC)
		f.ExtensionThreshold.Set("0")
	})
	eng.setUsage(contactcenter.ExtensionUsage{Configured: 40})
	b.poll(src)
	if got := names(queued(t, a)) + names(queued(t, b)); got != "" {
		t.Fatalf("sent %q", got)
	}
}

func TestClockSkewNotification(t *testing.T) {
	a := trapAgent(t, ProfileNOC)
	src, cl, _ := testSources()
	src.Replication = nil
	skew := func(role string, ms int64) string {
		cl.set(func(st *cluster.Status) {
			st.Role = role
			st.Clock.PeersMS = map[string]int64{"n2": ms, "n3": 10}
		})
		a.poll(src)
		return names(queued(t, a))
	}
	for i, s := range []struct {
		role string
		ms   int64
		want string
	}{
		{"leader", 2000, ""},
		{"leader", -2001, "tandemClockSkewAlarm"},
		{"leader", -2600, ""},
		{"leader", 100, ""},
		{"leader", 3000, "tandemClockSkewAlarm"},
		{"follower", 100, ""},
		{"follower", 3000, ""},
		{"leader", 3000, ""},
	} {
		if got := skew(s.role, s.ms); got != s.want {
			t.Fatalf("step %d (%s, %d ms): %q, want %q", i, s.role, s.ms, got, s.want)
		}
	}
	skew("leader", 0)
	skew("leader", -4321)
	cl.set(func(st *cluster.Status) { st.Clock.PeersMS["n2"] = 0 })
	a.poll(src)
	cl.set(func(st *cluster.Status) { st.Clock.PeersMS = map[string]int64{"n2": -4321} })
	a.poll(src)
	ns := queued(t, a)
	if len(ns) != 1 {
		t.Fatalf("%q", names(ns))
	}
	v := vars(ns[0])
	idx := stringIndex("n2")
	if v[oidOf(t, a, "tandemMemberEntry", append([]uint32{7}, idx...)...)] != -4321 ||
		v[oidOf(t, a, "tandemMemberEntry", append([]uint32{2}, idx...)...)] != "127.0.0.1:7002" ||
		!strings.Contains(v[oidOf(t, a, "tandemNotifyMessage", 0)].(string), "n2") {
		t.Fatalf("varbinds %v", v)
	}
}

// A member the replica check names is notified once, by the leader; a
// follower notes it, so that it does not notify again once it leads.
func TestReplicaDivergedNotification(t *testing.T) {
	a := trapAgent(t, ProfileNOC)
	src, cl, _ := testSources()
	src.Replication = nil
	step := func(role string, diverged ...string) string {
		cl.set(func(st *cluster.Status) {
			st.Role = role
			st.Replicas.Diverged = nil
			for _, n := range diverged {
				st.Replicas.Diverged = append(st.Replicas.Diverged, cluster.Divergence{Node: n, From: 257, To: 512})
			}
		})
		a.poll(src)
		return names(queued(t, a))
	}
	for i, s := range []struct {
		role     string
		diverged []string
		want     string
	}{
		{"leader", nil, ""},
		{"follower", []string{"n3"}, ""},
		{"leader", []string{"n3"}, ""}, // noted as a follower
		{"leader", []string{"n3", "n2"}, "tandemReplicaDiverged"},
		{"leader", []string{"n3", "n2"}, ""},
	} {
		if got := step(s.role, s.diverged...); got != s.want {
			t.Fatalf("step %d (%s, %v): %q, want %q", i, s.role, s.diverged, got, s.want)
		}
	}
	b := trapAgent(t, ProfileNOC)
	cl.set(func(st *cluster.Status) {
		st.Role = "leader"
		st.Replicas.Diverged = []cluster.Divergence{{Node: "n2", From: 257, To: 512}}
	})
	b.poll(src)
	v, msg := memberNotification(t, b, "n2")
	if !strings.Contains(msg, "257-512") {
		t.Fatalf("varbinds %v", v)
	}
	// A difference of state (the state check) says so.
	c := trapAgent(t, ProfileNOC)
	cl.set(func(st *cluster.Status) {
		st.Replicas.Diverged = []cluster.Divergence{{Node: "n2", From: 700, To: 700, State: true}}
	})
	c.poll(src)
	if v, msg := memberNotification(t, c, "n2"); !strings.Contains(msg, "another state") || !strings.Contains(msg, "index 700") {
		t.Fatalf("varbinds %v", v)
	}
}

// memberNotification is the one notification a queued about member id,
// sent by n1: its varbinds and message.
func memberNotification(t *testing.T, a *Agent, id string) (map[string]any, string) {
	t.Helper()
	ns := queued(t, a)
	if len(ns) != 1 {
		t.Fatalf("%q", names(ns))
	}
	v := vars(ns[0])
	msg, _ := v[oidOf(t, a, "tandemNotifyMessage", 0)].(string)
	if v[oidOf(t, a, "tandemMemberEntry", append([]uint32{2}, stringIndex(id)...)...)] != "127.0.0.1:7002" ||
		v[oidOf(t, a, "tandemNodeId", 0)] != "n1" || !strings.Contains(msg, id) {
		t.Fatalf("varbinds %v", v)
	}
	return v, msg
}

func TestNoSpaceNotification(t *testing.T) {
	a := trapAgent(t, ProfileNOC)
	src, cl, repl := testSources()
	cl.set(func(st *cluster.Status) { st.Role, st.LeaderID = "follower", "n2" }) // any node sends its own
	a.poll(src)
	setFull := func(store string, full bool) {
		repl.mu.Lock()
		defer repl.mu.Unlock()
		if repl.st.NoSpace == nil {
			repl.st.NoSpace = map[string]replication.NoSpaceStatus{}
		}
		repl.st.NoSpace[store] = replication.NoSpaceStatus{Path: "/data/replication/" + store, Full: full, Message: "free space on " + store}
	}
	setFull("buffer", true)
	a.poll(src)
	a.poll(src)
	ns := queued(t, a)
	if names(ns) != "tandemNoSpace" {
		t.Fatalf("%q", names(ns))
	}
	v := vars(ns[0])
	if v[oidOf(t, a, "tandemNotifyStore", 0)] != 1 || v[oidOf(t, a, "tandemNotifyPath", 0)] != "/data/replication/buffer" ||
		v[oidOf(t, a, "tandemNodeId", 0)] != "n1" {
		t.Fatalf("varbinds %v", v)
	}
	setFull("buffer", false) // an episode ends, another starts
	setFull("archive", true)
	a.poll(src)
	setFull("buffer", true)
	cl.set(func(st *cluster.Status) { st.NoSpace = &cluster.SpaceStatus{Path: "/data/raft", Message: "raft log"} })
	a.poll(src)
	ns = queued(t, a)
	var stores []any
	for _, n := range ns {
		stores = append(stores, vars(n)[oidOf(t, a, "tandemNotifyStore", 0)])
	}
	if len(ns) != 3 || stores[0] != 2 || !slices.Contains(stores[1:], any(1)) || !slices.Contains(stores[1:], any(3)) {
		t.Fatalf("notifications %q stores %v", names(ns), stores)
	}
}

func TestHookNotifications(t *testing.T) {
	a := trapAgent(t, ProfileNOC)
	src, cl, _ := testSources()
	a.src.Store(&src)
	cl.set(func(st *cluster.Status) { st.Role = "follower" })
	at := time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC)
	a.BackupFailed(BackupIncremental, BackupRun{At: at, Error: "no space left on /backup"})
	a.BackupFailed(7, BackupRun{})
	a.MailServerUnreachable("imap.example:993", "dial tcp: i/o timeout") // a follower: ignored
	ns := queued(t, a)
	if names(ns) != "tandemBackupFailed" {
		t.Fatalf("%q", names(ns))
	}
	v := vars(ns[0])
	if v[oidOf(t, a, "tandemBackupEntry", 3, 2)] != 3 || v[oidOf(t, a, "tandemBackupEntry", 4, 2)] != "no space left on /backup" ||
		v[oidOf(t, a, "tandemBackupEntry", 2, 2)] != string([]byte{0x07, 0xea, 12, 1, 3, 0, 0, 0, '+', 0, 0}) {
		t.Fatalf("varbinds %v", v)
	}
	cl.set(func(st *cluster.Status) { st.Role = "leader" })
	a.MailServerUnreachable("imap.example:993", "dial tcp: i/o timeout")
	ns = queued(t, a)
	if names(ns) != "tandemMailServerUnreachable" || vars(ns[0])[oidOf(t, a, "tandemNotifyServer", 0)] != "imap.example:993" {
		t.Fatalf("%q %v", names(ns), ns)
	}
}

// TestTrapsSentV3: with --snmp-trap-v3-user the notifications are SNMPv3
// messages of this engine, at the user's level (authenticated and
// encrypted), not reportable; a receiver with the user's keys reads them.
func TestTrapsSentV3(t *testing.T) {
	recv, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer recv.Close()
	a := v3Agent(t, func(f *Flags) { f.TrapTo.Set(recv.LocalAddr().String()); f.TrapV3User.Set("noc") })
	src, _, _ := testSources()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- a.Run(ctx, src) }()
	recv.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 65535)
	n, _, err := recv.ReadFromUDP(buf)
	if err != nil {
		t.Fatalf("no trap: %v", err)
	}
	cancel()
	<-done
	m, ok := parseV3(buf[:n])
	if !ok || m.flags != gosnmp.AuthPriv || string(m.user) != "noc" {
		t.Fatalf("trap flags %v user %q", m.flags, m.user)
	}
	p := decodeV3(t, a, v3Req{user: "noc"}, buf[:n])
	if p.PDUType != gosnmp.SNMPv2Trap || len(p.Variables) < 3 || p.Variables[1].Value != oidOf(t, a, "tandemLeaderChange") {
		t.Fatalf("trap %v %v", p.PDUType, p.Variables)
	}
	if got := a.cnt.trapsSent["tandemLeaderChange"].Load(); got != 1 {
		t.Fatalf("traps sent %d", got)
	}
}

// A member that lags is notified once by the leader, and again once it
// has caught up; one that goes down instead is not notified as caught up.
func TestReplicaLaggingNotification(t *testing.T) {
	a := trapAgent(t, ProfileNOC)
	src, cl, _ := testSources()
	src.Replication = nil
	since := time.Date(2026, 12, 5, 4, 0, 0, 0, time.UTC)
	step := func(role, state string, lagging ...string) string {
		cl.set(func(st *cluster.Status) {
			st.Role = role
			for i := range st.Nodes {
				m := &st.Nodes[i]
				m.LaggingSince, m.AppliedIndex = nil, 900
				if m.ID != st.NodeID {
					m.State = state
				}
				if slices.Contains(lagging, m.ID) {
					m.LaggingSince, m.AppliedIndex = &since, 120
				}
			}
		})
		a.poll(src)
		return names(queued(t, a))
	}
	for i, s := range []struct {
		role, state string
		lagging     []string
		want        string
	}{
		{"leader", "up", nil, ""},
		{"follower", "up", []string{"n3"}, ""},
		{"leader", "up", []string{"n3"}, ""}, // noted as a follower
		{"leader", "up", []string{"n3", "n2"}, "tandemReplicaLagging"},
		{"leader", "up", []string{"n3", "n2"}, ""},
		{"leader", "up", []string{"n2"}, "tandemReplicaCaughtUp"},
		{"leader", "down", nil, "tandemNodeLost tandemNodeLost"}, // n2 went down: not caught up
		{"leader", "up", []string{"n2"}, "tandemNodeBack tandemNodeBack tandemReplicaLagging"},
	} {
		if got := step(s.role, s.state, s.lagging...); got != s.want {
			t.Fatalf("step %d (%s, %s, %v): %q, want %q", i, s.role, s.state, s.lagging, got, s.want)
		}
	}
	b := trapAgent(t, ProfileNOC)
	cl.set(func(st *cluster.Status) {
		st.Role = "leader"
		for i := range st.Nodes {
			st.Nodes[i].State, st.Nodes[i].LaggingSince = "up", nil
			if st.Nodes[i].ID == "n2" {
				st.Nodes[i].LaggingSince, st.Nodes[i].AppliedIndex = &since, 120
			}
		}
	})
	b.poll(src)
	v, msg := memberNotification(t, b, "n2")
	if v[oidOf(t, b, "tandemMemberEntry", append([]uint32{8}, stringIndex("n2")...)...)] != 1 || !strings.Contains(msg, "index 120") {
		t.Fatalf("varbinds %v", v)
	}
}
