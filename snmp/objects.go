package snmp

import (
	"slices"
	"sync"
	"time"

	"github.com/gosnmp/gosnmp"

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
	cache map[int]*rowSet // tables' rows, by object

	cl   *cluster.Status
	cc   *ccSummary
	repl *replication.Status
}

func (a *Agent) newSnapshot(src Sources) *snapshot {
	return &snapshot{a: a, src: src, now: a.now(), cache: map[int]*rowSet{}}
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

// ccSummary is what the MIB shows of the engine state but the queues.
type ccSummary struct {
	extensions, agents, loggedIn, connected, paused, busy, wrapUp int
	usage                                                         contactcenter.ExtensionUsage
	calls                                                         int // calls the engine holds
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
	s.src.Engine.View(func(st *contactcenter.State) {
		for _, c := range st.Calls {
			if c.Medium == "" && c.Chat == "" && c.Callback == "" { // e-mail contacts are the mail channel's (Sources.Email), chats and callbacks the web edge's
				sum.calls++
			}
		}
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
	})
	sum.usage = s.src.Engine.ExtensionUsage()
	return sum
}

// queueCache is the queue table as the engine's state last had it: the
// rows sorted by index, kept while the state has applied no other
// command (State.Applied). Every node applies the same log, so equal
// counts are equal states; the values depending on the time (the longest
// wait) are computed when answered.
type queueCache struct {
	mu      sync.Mutex
	engine  Engine
	applied uint64
	valid   bool
	clock   int64 // the engine's clock: waits are measured up to it
	rows    []queueRow
	index   []OID
}

// queueTable is the cached table for this snapshot's engine state.
func (s *snapshot) queueTable() (rows []queueRow, index []OID, clock int64) {
	if s.src.Engine == nil {
		return nil, nil, 0
	}
	var applied uint64
	s.src.Engine.View(func(st *contactcenter.State) { applied, clock = st.Applied, st.Clock })
	c := &s.a.queues
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.valid && c.engine == s.src.Engine && c.applied == applied {
		return c.rows, c.index, c.clock
	}
	views := s.src.Engine.Queues()
	rows = make([]queueRow, len(views))
	s.src.Engine.View(func(st *contactcenter.State) {
		applied, clock = st.Applied, st.Clock
		for i, q := range views {
			rows[i] = queueRow{id: q.Queue, name: st.Config.Queues[q.Queue].Name, waiting: q.Waiting,
				serving: q.Connected, longestWaitMS: q.LongestWaitMS}
		}
	})
	slices.SortFunc(rows, func(a, b queueRow) int { return stringIndex(a.id).Compare(stringIndex(b.id)) })
	index = make([]OID, len(rows))
	for i, r := range rows {
		index[i] = stringIndex(r.id)
	}
	// Queues and the second View may straddle a command: the counts
	// are then those of the later state, which the next request reads
	// again.
	c.engine, c.applied, c.valid, c.clock, c.rows, c.index = s.src.Engine, applied, true, clock, rows, index
	return rows, index, clock
}

// queues are the engine's queues.
func (s *snapshot) queues() []queueRow {
	rows, _, _ := s.queueTable()
	return rows
}

// queueSet is tandemQueueTable: name, waiting, longest wait (up to now:
// the engine measured it up to its clock, the time of the last command),
// agents serving.
func queueSet(s *snapshot) *rowSet {
	rows, index, clock := s.queueTable()
	since := max(0, s.now.UnixNano()-clock) / int64(time.Millisecond)
	return &rowSet{index: index, value: func(i, ci int) value {
		q := rows[i]
		switch ci {
		case 0:
			return text(q.name)
		case 1:
			return gauge(q.waiting)
		case 2:
			if q.waiting == 0 {
				return gauge(0)
			}
			return gauge((q.longestWaitMS + since) / 1000)
		}
		return gauge(q.serving)
	}}
}

// operationalTenths is the share of configured extensions that are
// operational, in tenths of a percent: 100 % when none is configured
// (none is missing).
func operationalTenths(u contactcenter.ExtensionUsage) int64 {
	if u.Configured == 0 {
		return 1000
	}
	return int64(u.Operational) * 1000 / int64(u.Configured)
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
		{root: oid("tandemMemberTable"), columns: []uint32{2, 3, 4, 5, 6, 7, 8}, rows: memberRows},
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
		scalar("tandemQueueCount", func(s *snapshot) value { return gauge(len(s.queues())) }),
		{root: oid("tandemQueueTable"), columns: []uint32{2, 3, 4, 5}, set: queueSet},
		scalar("tandemExtensionsRegistered", cc(func(c *ccSummary) int { return c.usage.Operational })),
		scalar("tandemExtensionsInUse", cc(func(c *ccSummary) int { return c.usage.InUse })),
		scalar("tandemExtensionsOperationalPct", func(s *snapshot) value {
			return gauge(operationalTenths(s.contactCenter().usage))
		}),
		scalar("tandemExtensionThreshold", func(s *snapshot) value { return gauge(s.a.cfg.Threshold) }),
		{root: oid("tandemContactTable"), columns: []uint32{2, 3, 4, 5, 6, 7}, rows: contactRows},
		{root: oid("tandemBackupTable"), columns: []uint32{2, 3, 4}, rows: backupRows},

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
		scalar("tandemSnmpDropsUnknownEngineId", drops(dropUnknownEngineID)),
		scalar("tandemSnmpDropsUnknownUser", drops(dropUnknownUser)),
		scalar("tandemSnmpDropsUnsupportedSecLevel", drops(dropUnsupportedLevel)),
		scalar("tandemSnmpDropsWrongDigest", drops(dropWrongDigest)),
		scalar("tandemSnmpDropsNotInTimeWindow", drops(dropNotInTimeWindow)),
		scalar("tandemSnmpDropsDecryption", drops(dropDecryption)),
		scalar("tandemSnmpDropsUnknownContext", drops(dropUnknownContext)),
		scalar("tandemSnmpReports", cnt(func(c *counters) uint64 { return c.reports.Load() })),
		scalar("tandemSnmpEngineId", func(s *snapshot) value {
			if s.a.usm == nil {
				return value{typ: gosnmp.OctetString, v: []byte{}}
			}
			return value{typ: gosnmp.OctetString, v: s.a.usm.engineID}
		}),
		scalar("tandemSnmpEngineBoots", func(s *snapshot) value {
			if s.a.usm == nil {
				return gauge(0)
			}
			return gauge(uint64(s.a.usm.boots))
		}),
		scalar("tandemSnmpEngineTime", func(s *snapshot) value {
			if s.a.usm == nil {
				return gauge(0)
			}
			return gauge(uint64(s.a.usm.engineTime(s.now)))
		}),
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
// address, is-leader, clock skew.
func memberRow(st *cluster.Status, m cluster.NodeStatus) row {
	return row{index: stringIndex(m.ID), vals: []value{
		text(m.Address), integer(suffrageValue(m.Suffrage)), integer(memberStateValue(m.State)),
		text(m.AdminAddr), truth(m.ID != "" && m.ID == st.LeaderID), integer(st.Clock.PeersMS[m.ID]),
		truth(m.LaggingSince != nil),
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

// contactRow is a medium's columns: counted, current, last hour, last
// day, web requests accepted and refused.
func contactRow(medium uint32, counted bool, c ContactCounts) row {
	return row{index: OID{medium}, vals: []value{truth(counted), gauge(c.Current), gauge(c.LastHour), gauge(c.LastDay),
		counter32(c.Accepted), counter32(c.Refused)}}
}

func contactRows(s *snapshot) []row {
	voice := ContactCounts{Current: s.contactCenter().calls}
	voice.LastHour, voice.LastDay = s.a.voice.window.Counts(s.now)
	rows := []row{contactRow(MediumVoice, s.src.Engine != nil, voice)}
	for _, m := range []struct {
		medium uint32
		c      Contacts
	}{{MediumCallback, s.src.Callback}, {MediumChat, s.src.Chat}, {MediumEmail, s.src.Email}} {
		var c ContactCounts
		if m.c != nil {
			c = m.c.ContactCounts(s.now)
		}
		rows = append(rows, contactRow(m.medium, m.c != nil, c))
	}
	return rows
}

// Values of tandemBackupLastResult.
const (
	backupNever  = 1
	backupOK     = 2
	backupFailed = 3
)

func backupResult(r BackupRun) int64 {
	switch {
	case r.At.IsZero():
		return backupNever
	case r.Failed:
		return backupFailed
	}
	return backupOK
}

// backupRow is a level's columns: last time, result, error.
func backupRow(level int, r BackupRun) row {
	return row{index: OID{uint32(level + 1)}, vals: []value{dateAndTime(r.At), integer(backupResult(r)), text(r.Error)}}
}

func backupRows(s *snapshot) []row {
	var st BackupStatus
	if s.src.Backups != nil {
		st = s.src.Backups.BackupStatus()
	}
	return []row{backupRow(BackupFull, st.Full), backupRow(BackupIncremental, st.Incremental)}
}
