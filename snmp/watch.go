package snmp

import (
	"context"
	"fmt"
	"time"

	"github.com/tandemcc/tandem/cluster"
	"github.com/tandemcc/tandem/contactcenter"
	"github.com/tandemcc/tandem/replication"
)

// watchEvery is how often the agent compares the node's state with what
// it saw last, to notify changes.
const watchEvery = 250 * time.Millisecond

// watchState is what the watcher saw at its last poll. Every node keeps
// it, so that a node elected leader compares with what it saw as a
// follower; only the leader notifies.
type watchState struct {
	role       string
	lastLeader string // the last leader known (kept through elections)
	members    map[string]string
	repl       map[string]replication.State
	skewed     map[string]bool // members over cluster.MaxSkew in this node's view
	diverged   map[string]bool // members the replica check named
	lagging    map[string]bool // members lagging in this node's view (cluster/lag.go)
	noSpace    map[int]bool    // this node's stores short of space, by tandemNotifyStore value
	below      bool            // operational extensions below the threshold
}

func (a *Agent) watchLoop(ctx context.Context, src Sources) {
	t := time.NewTicker(watchEvery)
	defer t.Stop()
	for {
		a.poll(src)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// poll notifies what changed since the last poll: leadership (from the
// new leader), members lost and back, replication states.
func (a *Agent) poll(src Sources) {
	if src.Cluster == nil {
		return
	}
	w := &a.watch
	st := src.Cluster.Status()
	leader := st.Role == "leader"
	if leader && w.role != "leader" {
		a.notify("tandemLeaderChange",
			a.scalarVB("tandemNodeId", text(st.NodeID)),
			a.scalarVB("tandemLeaderId", text(st.LeaderID)),
			a.scalarVB("tandemTerm", gauge(st.Term)),
			a.scalarVB("tandemNotifyPreviousLeader", text(w.lastLeader)),
			a.scalarVB("tandemMembersUp", gauge(membersUp(&st))),
			a.scalarVB("tandemMemberCount", gauge(len(st.Nodes))))
	}
	members := make(map[string]string, len(st.Nodes))
	for _, m := range st.Nodes {
		members[m.ID] = m.State
		prev, seen := w.members[m.ID]
		if !leader || !seen {
			continue
		}
		switch {
		case prev == "up" && m.State == "down":
			a.notifyMember("tandemNodeLost", &st, m)
		case prev == "down" && m.State == "up":
			a.notifyMember("tandemNodeBack", &st, m)
		}
	}
	w.members, w.role = members, st.Role
	if st.LeaderID != "" {
		w.lastLeader = st.LeaderID
	}
	var rs *replication.Status
	if src.Replication != nil {
		r := src.Replication.Status()
		rs = &r
		a.pollReplication(r, st.NodeID, leader)
	}
	a.pollClock(&st, leader)
	a.pollReplicas(&st, leader)
	a.pollLagging(&st, leader)
	a.pollNoSpace(&st, rs)
	if src.Engine != nil {
		a.pollExtensions(src.Engine.ExtensionUsage(), st.NodeID, leader)
	}
}

// pollClock notifies a member whose clock went more than cluster.MaxSkew
// away from the leader's: the leader measures every member every second
// (tandemMemberClockSkew), so it alone notifies, once per excursion.
func (a *Agent) pollClock(st *cluster.Status, leader bool) {
	w := &a.watch
	skewed := make(map[string]bool, len(st.Nodes))
	for _, m := range st.Nodes {
		ms := st.Clock.PeersMS[m.ID]
		if m.ID == st.NodeID || (ms <= cluster.MaxSkew.Milliseconds() && ms >= -cluster.MaxSkew.Milliseconds()) {
			continue
		}
		skewed[m.ID] = true
		if !leader || w.skewed[m.ID] {
			continue
		}
		r := memberRow(st, m)
		a.notify("tandemClockSkewAlarm",
			a.scalarVB("tandemNodeId", text(st.NodeID)),
			a.columnVB("tandemMemberAddress", r.index, r.vals[0]),
			a.columnVB("tandemMemberClockSkew", r.index, r.vals[5]),
			a.scalarVB("tandemNotifyMessage", text(fmt.Sprintf(
				"the clock of %s is %d ms off the leader's (more than 2 s): replication administration is refused there until its time is fixed (NTP)",
				m.ID, ms))))
	}
	w.skewed = skewed
}

// pollReplicas notifies a member the replica check found to have applied
// other log entries than this node (cluster.ReplicaStatus): every node
// notes the members its check named, the leader alone notifies, once per
// member (a divergence stays in the status until the node restarts).
func (a *Agent) pollReplicas(st *cluster.Status, leader bool) {
	w := &a.watch
	for _, d := range st.Replicas.Diverged {
		if w.diverged[d.Node] {
			continue
		}
		if w.diverged == nil {
			w.diverged = map[string]bool{}
		}
		w.diverged[d.Node] = true
		if !leader {
			continue
		}
		m := cluster.NodeStatus{ID: d.Node}
		for _, n := range st.Nodes {
			if n.ID == d.Node {
				m = n
			}
		}
		r := memberRow(st, m)
		msg := fmt.Sprintf("%s applied other log entries than %s in indices %d-%d: one of the two engines has diverged; rebuild the odd one out from a healthy member",
			d.Node, st.NodeID, d.From, d.To)
		if d.State {
			msg = fmt.Sprintf("%s holds another state than %s after the same commands (checkpoint at index %d): one of the two engines has diverged; rebuild the odd one out from a healthy member",
				d.Node, st.NodeID, d.From)
		}
		a.notify("tandemReplicaDiverged",
			a.scalarVB("tandemNodeId", text(st.NodeID)),
			a.columnVB("tandemMemberAddress", r.index, r.vals[0]),
			a.scalarVB("tandemNotifyMessage", text(msg)))
	}
}

// pollLagging notifies a member that answers but has stayed behind what
// was committed 5 s before, for 5 s (tandemMemberLagging), and again once it has
// caught up; the leader alone notifies, once per excursion. A member that
// went down instead is not notified as caught up (tandemNodeLost is).
func (a *Agent) pollLagging(st *cluster.Status, leader bool) {
	w := &a.watch
	lagging := make(map[string]bool, len(st.Nodes))
	for _, m := range st.Nodes {
		if m.ID == st.NodeID {
			continue
		}
		r := memberRow(st, m)
		switch {
		case m.LaggingSince != nil:
			lagging[m.ID] = true
			if !leader || w.lagging[m.ID] {
				continue
			}
			a.notify("tandemReplicaLagging",
				a.scalarVB("tandemNodeId", text(st.NodeID)),
				a.columnVB("tandemMemberAddress", r.index, r.vals[0]),
				a.columnVB("tandemMemberLagging", r.index, r.vals[6]),
				a.scalarVB("tandemNotifyMessage", text(fmt.Sprintf(
					"%s answers but has applied only up to index %d, and has stayed behind what %s had committed 5 s before for 5 s: it is catching up, short of disk space, or no longer sent log entries",
					m.ID, m.AppliedIndex, st.NodeID))))
		case w.lagging[m.ID] && leader && m.State == "up":
			a.notify("tandemReplicaCaughtUp",
				a.scalarVB("tandemNodeId", text(st.NodeID)),
				a.columnVB("tandemMemberAddress", r.index, r.vals[0]),
				a.columnVB("tandemMemberLagging", r.index, r.vals[6]),
				a.scalarVB("tandemNotifyMessage", text(fmt.Sprintf("%s caught up: it has applied up to index %d", m.ID, m.AppliedIndex))))
		}
	}
	w.lagging = lagging
}

// Values of tandemNotifyStore.
const (
	storeBuffer  = 1
	storeArchive = 2
	storeRaftLog = 3
)

// pollNoSpace notifies this node's stores that ran out of disk space: the
// replication buffer, the event archive, the Raft log. Each node sends
// its own (only it knows its disk), once per episode.
func (a *Agent) pollNoSpace(st *cluster.Status, rs *replication.Status) {
	type full struct{ path, message string }
	now := map[int]full{}
	if st.NoSpace != nil {
		now[storeRaftLog] = full{st.NoSpace.Path, st.NoSpace.Message}
	}
	if rs != nil {
		for name, ns := range rs.NoSpace {
			if !ns.Full {
				continue
			}
			switch name {
			case "buffer":
				now[storeBuffer] = full{ns.Path, ns.Message}
			case "archive":
				now[storeArchive] = full{ns.Path, ns.Message}
			}
		}
	}
	w := &a.watch
	next := make(map[int]bool, len(now))
	for store, f := range now {
		next[store] = true
		if w.noSpace[store] {
			continue
		}
		a.notify("tandemNoSpace",
			a.scalarVB("tandemNodeId", text(st.NodeID)),
			a.scalarVB("tandemNotifyStore", integer(int64(store))),
			a.scalarVB("tandemNotifyPath", text(f.path)),
			a.scalarVB("tandemNotifyMessage", text(f.message)))
	}
	w.noSpace = next
}

// pollExtensions notifies when the operational extensions fall below
// --snmp-extension-threshold % of those configured: the leader, once per
// fall (every node follows the replicated counts, so a new leader does
// not repeat it).
func (a *Agent) pollExtensions(u contactcenter.ExtensionUsage, nodeID string, leader bool) {
	w := &a.watch
	pct := operationalTenths(u)
	below := u.Configured > 0 && pct < int64(a.cfg.Threshold)*10
	if below && !w.below && leader {
		a.notify("tandemExtensionsBelowThreshold",
			a.scalarVB("tandemNodeId", text(nodeID)),
			a.scalarVB("tandemExtensionsConfigured", gauge(u.Configured)),
			a.scalarVB("tandemExtensionsRegistered", gauge(u.Operational)),
			a.scalarVB("tandemExtensionsOperationalPct", gauge(pct)),
			a.scalarVB("tandemExtensionThreshold", gauge(a.cfg.Threshold)),
			a.scalarVB("tandemNotifyMessage", text(fmt.Sprintf(
				"%d of %d extensions operational (%.1f%%), below the threshold of %d%%: phones lost their registration",
				u.Operational, u.Configured, float64(pct)/10, a.cfg.Threshold))))
	}
	w.below = below
}

func (a *Agent) notifyMember(name string, st *cluster.Status, m cluster.NodeStatus) {
	r := memberRow(st, m)
	a.notify(name,
		a.columnVB("tandemMemberAddress", r.index, r.vals[0]),
		a.columnVB("tandemMemberAdminAddress", r.index, r.vals[3]),
		a.columnVB("tandemMemberState", r.index, r.vals[2]),
		a.scalarVB("tandemLeaderId", text(st.LeaderID)),
		a.scalarVB("tandemMembersUp", gauge(membersUp(st))),
		a.scalarVB("tandemMemberCount", gauge(len(st.Nodes))))
}

// pollReplication notifies target state changes: an auto-stop (the
// delivering leader's decision, committed as cluster state) or an
// administrator's command.
func (a *Agent) pollReplication(rs replication.Status, nodeID string, leader bool) {
	w := &a.watch
	prev := w.repl
	w.repl = make(map[string]replication.State, len(rs.Targets))
	for name, t := range rs.Targets {
		w.repl[name] = t.State
		was, seen := prev[name]
		typ, known := replTypes[name]
		if !leader || !seen || was == t.State || !known {
			continue
		}
		r := replRow(typ, t)
		if t.State == replication.AutoStopped {
			a.notify("tandemReplAutoStopped",
				a.scalarVB("tandemNodeId", text(nodeID)),
				a.columnVB("tandemReplTargetState", r.index, r.vals[0]),
				a.columnVB("tandemReplTargetBufferPercent", r.index, r.vals[1]),
				a.columnVB("tandemReplTargetReason", r.index, r.vals[4]),
				a.scalarVB("tandemReplBufferPercent", percentTenths(rs.BufferPercent)),
				a.scalarVB("tandemNotifyMessage", text(fmt.Sprintf(
					"%s replication auto-stopped (%s); it never restarts by itself: fix the target, then tandemctl replication restart and sync",
					name, t.Reason))))
			continue
		}
		a.notify("tandemReplStateChanged",
			a.scalarVB("tandemNodeId", text(nodeID)),
			a.columnVB("tandemReplTargetState", r.index, r.vals[0]),
			a.scalarVB("tandemNotifyPreviousState", integer(replStateValue(was))),
			a.columnVB("tandemReplTargetReason", r.index, r.vals[4]))
	}
}
