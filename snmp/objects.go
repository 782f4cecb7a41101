package snmp

import (
	"time"

	"github.com/tandemcc/tandem/cluster"
	"github.com/tandemcc/tandem/contactcenter"
	"github.com/tandemcc/tandem/replication"
)

// snapshot is one request's reading of the node: each source is read at
// most once, when an object first needs it, so one PDU's values agree.
type snapshot struct {
	a     *Agent
	src   Sources
	now   time.Time
	cache map[int][]varbind

	cl   *cluster.Status
	cc   *ccSummary
	repl *replication.Status
}

func (a *Agent) newSnapshot(src Sources) *snapshot {
	return &snapshot{a: a, src: src, now: a.now(), cache: map[int][]varbind{}}
}

func (s *snapshot) cluster() *cluster.Status {
	if s.cl == nil {
		st := cluster.Status{}
		if s.src.Cluster != nil {
			st = s.src.Cluster.Status()
		}
		s.cl = &st
	}
	return s.cl
}

// replication is the manager's status; nil without replication.
func (s *snapshot) replication() *replication.Status {
	if s.repl == nil && s.src.Replication != nil {
		st := s.src.Replication.Status()
		s.repl = &st
	}
	return s.repl
}

// ccSummary is what the MIB shows of the engine state.
type ccSummary struct {
	extensions, agents, loggedIn, connected, paused, busy, wrapUp int
	queues                                                        []queueRow
}

type queueRow struct {
	id, name      string
	waiting       int
	longestWaitMS int64
	serving       int
}

func (s *snapshot) contactCenter() *ccSummary {
	if s.cc != nil {
		return s.cc
	}
	s.cc = &ccSummary{}
	if s.src.Engine == nil {
		return s.cc
	}
	sum := s.cc
	var clock int64
	names := map[string]string{}
	s.src.Engine.View(func(st *contactcenter.State) {
		clock = st.Clock
		sum.extensions = len(st.Config.Extensions)
		sum.agents = len(st.Agents)
		for _, a := range st.Agents {
			switch a.State {
			case contactcenter.StateDisconnected:
				continue
			case contactcenter.StateConnected:
				sum.connected++
			case contactcenter.StatePaused:
				sum.paused++
			}
			sum.loggedIn++
			if a.Offer != "" || a.Line1 != "" || a.Line2 != "" {
				sum.busy++
			}
			if a.WrapUntil != 0 {
				sum.wrapUp++
			}
		}
		for id, q := range st.Config.Queues {
			names[id] = q.Name
		}
	})
	// The engine measures waits up to its clock, the time of the last
	// command applied; the wait goes on until now.
	since := max(0, s.now.UnixNano()-clock) / int64(time.Millisecond)
	for _, q := range s.src.Engine.Queues() {
		r := queueRow{id: q.Queue, name: names[q.Queue], waiting: q.Waiting, serving: q.Connected}
		if q.Waiting > 0 {
			r.longestWaitMS = q.LongestWaitMS + since
		}
		sum.queues = append(sum.queues, r)
	}
	return sum
}

// objects are the MIB's readable objects (TANDEM-MIB.txt), bound to
// their OIDs.
func (a *Agent) objects() []*object {
	oid := func(name string) OID {
		o, ok := a.oids[name]
		if !ok {
			panic("snmp: no MIB node " + name)
		}
		return o
	}
	scalar := func(name string, fn func(*snapshot) value) *object {
		return &object{root: oid(name), scalar: fn}
	}
	cl := func(fn func(*cluster.Status) value) func(*snapshot) value {
		return func(s *snapshot) value { return fn(s.cluster()) }
	}
	cc := func(fn func(*ccSummary) int) func(*snapshot) value {
		return func(s *snapshot) value { return gauge(fn(s.contactCenter())) }
	}
	cnt := func(fn func(*counters) uint64) func(*snapshot) value {
		return func(s *snapshot) value { return counter32(fn(s.a.cnt)) }
	}
	drops := func(why dropCause) func(*snapshot) value {
		return cnt(func(c *counters) uint64 { return c.drops[why].Load() })
	}
	return []*object{
		scalar("tandemNodeId", cl(func(st *cluster.Status) value { return text(st.NodeID) })),
		scalar("tandemNodeRole", cl(func(st *cluster.Status) value { return integer(roleValue(st.Role)) })),
		scalar("tandemLeaderId", cl(func(st *cluster.Status) value { return text(st.LeaderID) })),
		scalar("tandemTerm", cl(func(st *cluster.Status) value { return gauge(st.Term) })),
		scalar("tandemMemberCount", cl(func(st *cluster.Status) value { return gauge(len(st.Nodes)) })),
		scalar("tandemMembersUp", cl(func(st *cluster.Status) value { return gauge(membersUp(st)) })),
		{root: oid("tandemMemberTable"), columns: []uint32{2, 3, 4, 5, 6}, rows: memberRows},
		scalar("tandemClockSkew", cl(func(st *cluster.Status) value { return integer(st.Clock.SkewVsLeaderMS) })),
		scalar("tandemClockAlarm", cl(func(st *cluster.Status) value { return truth(st.Clock.Alarm) })),
		scalar("tandemReady", cl(func(st *cluster.Status) value { return truth(st.Ready) })),

		scalar("tandemExtensionsConfigured", cc(func(c *ccSummary) int { return c.extensions })),
		scalar("tandemAgentsConfigured", cc(func(c *ccSummary) int { return c.agents })),
		scalar("tandemAgentsLoggedIn", cc(func(c *ccSummary) int { return c.loggedIn })),
		scalar("tandemAgentsConnected", cc(func(c *ccSummary) int { return c.connected })),
		scalar("tandemAgentsPaused", cc(func(c *ccSummary) int { return c.paused })),
		scalar("tandemAgentsBusy", cc(func(c *ccSummary) int { return c.busy })),
		scalar("tandemAgentsWrapUp", cc(func(c *ccSummary) int { return c.wrapUp })),
		scalar("tandemQueueCount", cc(func(c *ccSummary) int { return len(c.queues) })),
		{root: oid("tandemQueueTable"), columns: []uint32{2, 3, 4, 5}, rows: queueRows},

		scalar("tandemReplBufferPercent", func(s *snapshot) value {
			if r := s.replication(); r != nil {
				return percentTenths(r.BufferPercent)
			}
			return percentTenths(0)
		}),
		scalar("tandemReplAlarmLevel", func(s *snapshot) value {
			if r := s.replication(); r != nil {
				return integer(levelValue(r.Level))
			}
			return integer(levelValue(""))
		}),
		{root: oid("tandemReplTargetTable"), columns: []uint32{2, 3, 4, 5, 6, 7}, rows: replRows},

		scalar("tandemSnmpPackets", cnt(func(c *counters) uint64 { return c.packets.Load() })),
		scalar("tandemSnmpRequests", cnt((*counters).requestsTotal)),
		scalar("tandemSnmpDropsMalformed", drops(dropMalformed)),
		scalar("tandemSnmpDropsHost", drops(dropHost)),
		scalar("tandemSnmpDropsCommunity", drops(dropCommunity)),
		scalar("tandemSnmpDropsVersion", drops(dropVersion)),
		scalar("tandemSnmpDropsPdu", drops(dropPDU)),
		scalar("tandemSnmpTrapsSent", cnt(func(c *counters) uint64 { return sum(c.trapsSent) })),
		scalar("tandemSnmpTrapsFailed", cnt(func(c *counters) uint64 { return sum(c.trapsFailed) })),
		scalar("tandemSnmpTrapProfile", func(s *snapshot) value { return integer(profileValue(s.a.cfg.TrapProfile)) }),
	}
}

func roleValue(role string) int64 {
	switch role {
	case "leader":
		return 1
	case "candidate":
		return 3
	case "shutdown":
		return 4
	}
	return 2 // follower
}

func membersUp(st *cluster.Status) int {
	n := 0
	for _, m := range st.Nodes {
		if m.State == "up" {
			n++
		}
	}
	return n
}

func memberStateValue(state string) int64 {
	switch state {
	case "up":
		return 1
	case "down":
		return 2
	}
	return 3 // unknown
}

func suffrageValue(s string) int64 {
	if s == "voter" {
		return 1
	}
	return 2
}

// memberRow is a member's columns: address, suffrage, state, admin
// address, is-leader.
func memberRow(st *cluster.Status, m cluster.NodeStatus) row {
	return row{index: stringIndex(m.ID), vals: []value{
		text(m.Address), integer(suffrageValue(m.Suffrage)), integer(memberStateValue(m.State)),
		text(m.AdminAddr), truth(m.ID != "" && m.ID == st.LeaderID),
	}}
}

func memberRows(s *snapshot) []row {
	st := s.cluster()
	rows := make([]row, 0, len(st.Nodes))
	for _, m := range st.Nodes {
		if m.ID != "" {
			rows = append(rows, memberRow(st, m))
		}
	}
	return rows
}

func queueRows(s *snapshot) []row {
	cc := s.contactCenter()
	rows := make([]row, 0, len(cc.queues))
	for _, q := range cc.queues {
		rows = append(rows, row{index: stringIndex(q.id), vals: []value{
			text(q.name), gauge(q.waiting), gauge(q.longestWaitMS / 1000), gauge(q.serving),
		}})
	}
	return rows
}

// replTypes are tandemReplTargetType's values.
var replTypes = map[string]uint32{replication.Reporting: 1, replication.Standby: 2}

func replStateValue(s replication.State) int64 {
	switch s {
	case replication.Active:
		return 1
	case replication.Suspended:
		return 2
	case replication.Stopped:
		return 3
	case replication.Shutdown:
		return 4
	case replication.AutoStopped:
		return 5
	}
	return 3
}

func levelValue(level string) int64 {
	switch level {
	case "50":
		return 2
	case "75":
		return 3
	case "95":
		return 4
	}
	return 1 // normal
}

// replRow is a target's columns: state, buffer %, backlog, last error,
// reason, needs sync.
func replRow(typ uint32, t replication.TargetStatus) row {
	return row{index: OID{typ}, vals: []value{
		integer(replStateValue(t.State)), percentTenths(t.BufferPercent), gauge(t.BacklogEvents),
		text(t.LastError), text(t.Reason), truth(t.NeedsSync),
	}}
}

func replRows(s *snapshot) []row {
	r := s.replication()
	if r == nil {
		return nil
	}
	rows := make([]row, 0, len(r.Targets))
	for name, t := range r.Targets {
		if typ, ok := replTypes[name]; ok {
			rows = append(rows, replRow(typ, t))
		}
	}
	return rows
}
