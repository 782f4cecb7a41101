package snmp

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"log/slog"
	"net"
	"time"

	"github.com/gosnmp/gosnmp"

	"github.com/tandemcc/tandem/cluster"
	"github.com/tandemcc/tandem/replication"
)

// Notifications of TANDEM-MIB, and the subset the noc profile sends.
var (
	notificationNames = []string{"tandemLeaderChange", "tandemNodeLost", "tandemNodeBack",
		"tandemReplBufferThreshold", "tandemReplAutoStopped", "tandemReplStateChanged",
		"tandemNoSpace", "tandemClockSkewAlarm", "tandemBackupFailed", "tandemExtensionsBelowThreshold",
		"tandemMailServerUnreachable", "tandemReplicaDiverged", "tandemReplicaLagging", "tandemReplicaCaughtUp"}
	nocProfile = map[string]bool{"tandemNodeLost": true, "tandemNodeBack": true,
		"tandemReplBufferThreshold": true, "tandemReplAutoStopped": true,
		"tandemNoSpace": true, "tandemClockSkewAlarm": true, "tandemBackupFailed": true,
		"tandemExtensionsBelowThreshold": true, "tandemMailServerUnreachable": true, "tandemReplicaDiverged": true,
		"tandemReplicaLagging": true, "tandemReplicaCaughtUp": true}
)

// SNMPv2-MIB's objects every SNMPv2 notification starts with.
const (
	oidSysUpTime   = ".1.3.6.1.2.1.1.3.0"
	oidSnmpTrapOID = ".1.3.6.1.6.3.1.1.4.1.0"
)

func profileValue(p string) int64 {
	if p == ProfileNOC {
		return 2
	}
	return 1
}

// notification is one SNMPv2 notification's varbinds, ready to send.
type notification struct {
	name string
	vars []gosnmp.SnmpPDU
}

// notify queues notification name with vars (after sysUpTime and
// snmpTrapOID) for every destination, unless the profile leaves it out.
func (a *Agent) notify(name string, vars ...varbind) {
	if a.traps == nil || (a.cfg.TrapProfile == ProfileNOC && !nocProfile[name]) {
		return
	}
	up := a.now().Sub(a.start) / (10 * time.Millisecond)
	pdus := []gosnmp.SnmpPDU{
		{Name: oidSysUpTime, Type: gosnmp.TimeTicks, Value: uint32(max(0, up))},
		{Name: oidSnmpTrapOID, Type: gosnmp.ObjectIdentifier, Value: a.oids[name].String()},
	}
	for _, vb := range vars {
		pdus = append(pdus, vb.pdu())
	}
	a.log.Info("SNMP notification", "notification", name)
	a.traps.enqueue(notification{name: name, vars: pdus})
}

// scalarVB is the instance .0 of a scalar (or notify-only object).
func (a *Agent) scalarVB(name string, v value) varbind {
	return varbind{oid: a.oids[name].Append(0), val: v}
}

// columnVB is a table column's instance at index.
func (a *Agent) columnVB(name string, index OID, v value) varbind {
	return varbind{oid: append(a.oids[name].Append(), index...), val: v}
}

// ReplicationAlarm is replication.Config.OnAlarm: the leader turns each
// buffer fill message (50/75/95 %, their reminders, back to normal) into
// tandemReplBufferThreshold. Followers keep quiet: their buffers follow
// the leader's delivery, and the cluster notifies once.
func (a *Agent) ReplicationAlarm(al replication.Alarm) {
	st, leader := a.isLeader()
	if !leader {
		return
	}
	a.notify("tandemReplBufferThreshold",
		a.scalarVB("tandemNodeId", text(st.NodeID)),
		a.scalarVB("tandemReplAlarmLevel", integer(levelValue(al.Level.String()))),
		a.scalarVB("tandemReplBufferPercent", percentTenths(al.Percent)),
		a.scalarVB("tandemNotifyMessage", text(al.Message)))
}

// isLeader reports whether this node leads the cluster now (false before
// Run).
func (a *Agent) isLeader() (cluster.Status, bool) {
	src := a.src.Load()
	if src == nil || src.Cluster == nil {
		return cluster.Status{}, false
	}
	st := src.Cluster.Status()
	return st, st.Role == "leader"
}

// BackupFailed is the backup package's hook: this node's backup of level
// (BackupFull or BackupIncremental) failed. It sends tandemBackupFailed
// from this node whatever its role: every node backs up its own copy at
// the same time, so each failure is its own node's, and only that node
// knows of it.
func (a *Agent) BackupFailed(level int, run BackupRun) {
	if level != BackupFull && level != BackupIncremental {
		return
	}
	run.Failed = true
	if run.At.IsZero() {
		run.At = a.now()
	}
	src := a.src.Load()
	node := ""
	if src != nil && src.Cluster != nil {
		node = src.Cluster.Status().NodeID
	}
	r := backupRow(level, run)
	a.notify("tandemBackupFailed",
		a.scalarVB("tandemNodeId", text(node)),
		a.columnVB("tandemBackupLastTime", r.index, r.vals[0]),
		a.columnVB("tandemBackupLastResult", r.index, r.vals[1]),
		a.columnVB("tandemBackupLastError", r.index, r.vals[2]))
}

// MailServerUnreachable is the mail channel's hook: the mail server
// (server, host:port) could not be reached; message says what failed,
// without credentials. The leader sends tandemMailServerUnreachable (the
// channel works for the whole cluster; a follower's call is ignored).
func (a *Agent) MailServerUnreachable(server, message string) {
	st, leader := a.isLeader()
	if !leader {
		return
	}
	a.notify("tandemMailServerUnreachable",
		a.scalarVB("tandemNodeId", text(st.NodeID)),
		a.scalarVB("tandemNotifyServer", text(server)),
		a.scalarVB("tandemNotifyMessage", text(message)))
}

// trapQueue bounds the notifications waiting for the sender.
const trapQueue = 256

// trapSender sends queued notifications to every destination, in order,
// from one goroutine: SNMPv2c with the first community, or SNMPv3 as
// --snmp-trap-v3-user, this node's engine being the authoritative one
// (RFC 3414 1.5.1: the receiver knows the user localized to our engine
// ID, which tandemd logs at start).
type trapSender struct {
	dests     []string
	community string
	usm       *usm     // with user: SNMPv3
	user      *usmUser // nil: SNMPv2c
	now       func() time.Time
	cnt       *counters
	log       *slog.Logger
	queue     chan notification
	id        uint32 // request-id and msgID of the last notification
}

func newTrapSender(cfg config, u *usm, now func() time.Time, cnt *counters, log *slog.Logger) *trapSender {
	t := &trapSender{dests: cfg.TrapTo, usm: u, now: now, cnt: cnt, log: log, queue: make(chan notification, trapQueue)}
	if len(cfg.Communities) > 0 {
		t.community = string(cfg.Communities[0])
	}
	if cfg.TrapUser != "" && u != nil {
		t.user = u.users[cfg.TrapUser]
	}
	var seed [4]byte
	rand.Read(seed[:])
	t.id = binary.BigEndian.Uint32(seed[:]) & 0x3fffffff
	return t
}

// enqueue never blocks: a full queue drops the notification (counted as
// failed for every destination).
func (t *trapSender) enqueue(n notification) {
	select {
	case t.queue <- n:
	default:
		t.cnt.trapsFailed[n.name].Add(uint64(len(t.dests)))
		t.log.Warn("SNMP notification dropped: the send queue is full", "notification", n.name)
	}
}

func (t *trapSender) run(ctx context.Context) {
	conns := make([]net.Conn, len(t.dests))
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case n := <-t.queue:
			for i, d := range t.dests {
				t.send(ctx, &conns[i], d, n)
			}
		}
	}
}

// message encodes a notification: an SNMPv2-Trap-PDU, in SNMPv2c or,
// with a trap user, in SNMPv3 at that user's security level (encrypted
// with a fresh salt, authenticated), never reportable (RFC 3412 6.4).
func (t *trapSender) message(n notification) ([]byte, error) {
	t.id = (t.id + 1) & 0x7fffffff
	p := &gosnmp.SnmpPacket{Version: gosnmp.Version2c, Community: t.community, PDUType: gosnmp.SNMPv2Trap,
		RequestID: t.id, Variables: n.vars}
	if t.user != nil {
		p.Version, p.Community = gosnmp.Version3, ""
		p.MsgFlags, p.SecurityModel, p.MsgID, p.MsgMaxSize = t.user.level, gosnmp.UserSecurityModel, t.id, maxReceive
		p.SecurityParameters = t.usm.securityParameters(t.user, t.user.name, t.now(), t.user.level)
		p.ContextEngineID = string(t.usm.engineID)
	}
	return p.MarshalMsg()
}

func (t *trapSender) send(ctx context.Context, c *net.Conn, dest string, n notification) {
	fail := func(err error) {
		t.cnt.trapsFailed[n.name].Add(1)
		t.log.Warn("SNMP notification not sent", "notification", n.name, "to", dest, "err", err)
	}
	msg, err := t.message(n)
	if err != nil {
		fail(err)
		return
	}
	if *c == nil {
		dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		conn, err := (&net.Dialer{}).DialContext(dctx, "udp", dest) // resolves the name
		cancel()
		if err != nil {
			fail(err)
			return
		}
		*c = conn
	}
	(*c).SetWriteDeadline(time.Now().Add(2 * time.Second))
	if _, err := (*c).Write(msg); err != nil {
		fail(err)
		(*c).Close()
		*c = nil
		return
	}
	t.cnt.trapsSent[n.name].Add(1)
}
