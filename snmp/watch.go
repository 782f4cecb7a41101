package snmp

import (
	"context"
	"fmt"
	"time"

	"github.com/tandemcc/tandem/cluster"
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
	if src.Replication != nil {
		a.pollReplication(src.Replication.Status(), st.NodeID, leader)
	}
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
