package cluster

import (
	"strings"
	"time"

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
	// Removed says why this node is no longer a member (it was removed
	// from the cluster and stopped serving as one).
	Removed string `json:"removed,omitempty"`
	// NoSpace is set while this node refuses writes because the
	// filesystem of its Raft log is short of space (space.go).
	NoSpace *SpaceStatus `json:"no_space,omitempty"`
	// Replicas is what comparing the entries this node applied with its
	// peers' found (replicacheck.go).
	Replicas ReplicaStatus `json:"replicas"`
}

// NodeStatus is one member as Raft's configuration and the metadata know it.
type NodeStatus struct {
	ID        string `json:"id"`
	Address   string `json:"address"`
	Suffrage  string `json:"suffrage"`
	AdminAddr string `json:"admin_addr,omitempty"`
	// HTTPURL is the member's public web server (operator consoles).
	HTTPURL string `json:"http_url,omitempty"`
	// State is "up" (this node, or a member that answered this node
	// within the last 3 s), "down" (it did not) or "unknown" (not yet
	// asked); LastSeen is when a down member last answered.
	State    string     `json:"state"`
	LastSeen *time.Time `json:"last_seen,omitempty"`
	// NoSpace is the member's Raft directory while the filesystem
	// holding it is short of space (as it reported within 3 s).
	NoSpace string `json:"no_space,omitempty"`
	// AppliedIndex is the last log index the member applied (as it
	// reported within the last seconds; 0: not known).
	AppliedIndex uint64 `json:"applied_index,omitempty"`
	// LaggingSince is set while the member, answering, has not applied
	// what this node had committed 5 s before, and stayed that far
	// behind for 5 s (lag.go).
	LaggingSince *time.Time `json:"lagging_since,omitempty"`
	// LogFormat is the highest Raft log entry format the member's build
	// has recorded that it reads (entry.go; 0: an earlier build, or not
	// recorded yet). The leader compresses large entries only while every
	// member shows 1.
	LogFormat int `json:"log_format,omitempty"`
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
		NoSpace:      s.space.status(),
		Replicas:     s.Replicas(),
		Ready:        s.Ready(),
	}
	if e, _ := s.joinErr.Load().(string); e != "" {
		st.JoinError = e
	}
	if why, _ := s.removed.Load().(string); why != "" {
		st.Removed = why
	}
	meta := s.fsm.nodes()
	if f := s.raft.GetConfiguration(); f.Error() == nil {
		for _, srv := range f.Configuration().Servers {
			suf := "voter"
			if srv.Suffrage != raft.Voter {
				suf = "nonvoter"
			}
			ns := NodeStatus{ID: string(srv.ID), Address: string(srv.Address),
				Suffrage: suf, AdminAddr: meta[string(srv.ID)].AdminAddr,
				HTTPURL: meta[string(srv.ID)].HTTPURL, LogFormat: meta[string(srv.ID)].LogFormat, State: "up"}
			if ns.ID == s.cfg.NodeID {
				ns.NoSpace = s.space.shortDir()
				ns.AppliedIndex = st.AppliedIndex
			} else {
				var since time.Time
				if ns.AppliedIndex, since = s.clock.lag.member(ns.ID); !since.IsZero() {
					ns.LaggingSince = &since
				}
				ns.NoSpace, _, _ = s.space.peer(ns.ID)
				var last time.Time
				ns.State, last = s.clock.reach(ns.ID)
				if ns.State == "down" && !last.IsZero() {
					l := last.UTC()
					ns.LastSeen = &l
				}
			}
			st.Nodes = append(st.Nodes, ns)
		}
	}
	return st
}

// Ready reports whether the node knows a leader and the commit index, and
// has applied everything committed. A restarted node's commit index reads
// 0 until a leader tells it (raft keeps it in memory only), and a new
// leader's is its own only once an entry of its term has committed (the
// barrier): before that, "applied ≥ commit" would hold on a node that has
// not replayed its log yet.
func (s *Store) Ready() bool {
	if s.LeaderID() == "" || !s.isMember() {
		return false
	}
	commit := s.raft.CommitIndex()
	if commit == 0 {
		return false
	}
	if s.IsLeader() && s.readyTerm.Load() != s.raft.CurrentTerm() {
		return false
	}
	return s.AppliedIndex() >= commit
}

// Stats exposes raft's own counters (for metrics).
func (s *Store) Stats() map[string]string { return s.raft.Stats() }
