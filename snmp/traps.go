package snmp

import (
	"context"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/gosnmp/gosnmp"

	"github.com/tandemcc/tandem/replication"
)

// Notifications of TANDEM-MIB, and the subset the noc profile sends.
var (
	notificationNames = []string{"tandemLeaderChange", "tandemNodeLost", "tandemNodeBack",
		"tandemReplBufferThreshold", "tandemReplAutoStopped", "tandemReplStateChanged"}
	nocProfile = map[string]bool{"tandemNodeLost": true, "tandemNodeBack": true,
		"tandemReplBufferThreshold": true, "tandemReplAutoStopped": true}
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
	src := a.src.Load()
	if src == nil || src.Cluster == nil || src.Cluster.Status().Role != "leader" {
		return
	}
	st := src.Cluster.Status()
	a.notify("tandemReplBufferThreshold",
		a.scalarVB("tandemNodeId", text(st.NodeID)),
		a.scalarVB("tandemReplAlarmLevel", integer(levelValue(al.Level.String()))),
		a.scalarVB("tandemReplBufferPercent", percentTenths(al.Percent)),
		a.scalarVB("tandemNotifyMessage", text(al.Message)))
}

// trapQueue bounds the notifications waiting for the sender.
const trapQueue = 256

// trapSender sends queued notifications to every destination, in order,
// from one goroutine (gosnmp's client is not safe for concurrent use).
type trapSender struct {
	dests     []string
	community string
	cnt       *counters
	log       *slog.Logger
	queue     chan notification
}

func newTrapSender(dests []string, community string, cnt *counters, log *slog.Logger) *trapSender {
	return &trapSender{dests: dests, community: community, cnt: cnt, log: log, queue: make(chan notification, trapQueue)}
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
	clients := make([]*gosnmp.GoSNMP, len(t.dests))
	defer func() {
		for _, c := range clients {
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
				t.send(ctx, &clients[i], d, n)
			}
		}
	}
}

func (t *trapSender) send(ctx context.Context, c **gosnmp.GoSNMP, dest string, n notification) {
	if *c == nil {
		host, port, _ := net.SplitHostPort(dest) // checked by Flags
		p, _ := strconv.ParseUint(port, 10, 16)
		g := &gosnmp.GoSNMP{Target: host, Port: uint16(p), Transport: "udp", Community: t.community,
			Version: gosnmp.Version2c, Timeout: 2 * time.Second, Context: ctx}
		if err := g.Connect(); err != nil {
			t.cnt.trapsFailed[n.name].Add(1)
			t.log.Warn("SNMP notification not sent", "notification", n.name, "to", dest, "err", err)
			return
		}
		*c = g
	}
	if _, err := (*c).SendTrap(gosnmp.SnmpTrap{Variables: n.vars}); err != nil {
		t.cnt.trapsFailed[n.name].Add(1)
		t.log.Warn("SNMP notification not sent", "notification", n.name, "to", dest, "err", err)
		(*c).Close()
		*c = nil
		return
	}
	t.cnt.trapsSent[n.name].Add(1)
}
