package cluster

import (
	"strings"

	"github.com/hashicorp/raft"
)

// Status is this node's view of the cluster.
type Status struct {
	NodeID       string       `json:"node_id"`
	Role         string       `json:"role"`
	LeaderID     string       `json:"leader_id"`
	Term         uint64       `json:"term"`
	CommitIndex  uint64       `json:"commit_index"`
	AppliedIndex uint64       `json:"applied_index"`
	Nodes        []NodeStatus `json:"nodes"`
	Clock        ClockStatus  `json:"clock"`
	Ready        bool         `json:"ready"`
	JoinError    string       `json:"join_error,omitempty"`
}

// NodeStatus is one member as Raft's configuration and the metadata know it.
type NodeStatus struct {
	ID        string `json:"id"`
	Address   string `json:"address"`
	Suffrage  string `json:"suffrage"`
	AdminAddr string `json:"admin_addr,omitempty"`
}

// Status reports the node's role, the leader, indexes and members.
func (s *Store) Status() Status {
	st := Status{
		NodeID:       s.cfg.NodeID,
		Role:         strings.ToLower(s.raft.State().String()),
		LeaderID:     s.LeaderID(),
		Term:         s.raft.CurrentTerm(),
		CommitIndex:  s.raft.CommitIndex(),
		AppliedIndex: s.AppliedIndex(),
		Clock:        s.clock.status(),
		Ready:        s.Ready(),
	}
	if e, _ := s.joinErr.Load().(string); e != "" {
		st.JoinError = e
	}
	meta := s.fsm.nodes()
	if f := s.raft.GetConfiguration(); f.Error() == nil {
		for _, srv := range f.Configuration().Servers {
			suf := "voter"
			if srv.Suffrage != raft.Voter {
				suf = "nonvoter"
			}
			st.Nodes = append(st.Nodes, NodeStatus{ID: string(srv.ID), Address: string(srv.Address),
				Suffrage: suf, AdminAddr: meta[string(srv.ID)].AdminAddr})
		}
	}
	return st
}

// Ready reports whether the node knows a leader and has applied everything
// it knows to be committed.
func (s *Store) Ready() bool {
	if s.LeaderID() == "" || !s.isMember() {
		return false
	}
	return s.AppliedIndex() >= s.raft.CommitIndex()
}

// Stats exposes raft's own counters (for metrics).
func (s *Store) Stats() map[string]string { return s.raft.Stats() }
