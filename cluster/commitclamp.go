package cluster

import (
	"sync"

	"github.com/hashicorp/raft"
)

// clampTransport is the Raft transport with one correction on the
// receiving side: an AppendEntries request's LeaderCommitIndex is lowered
// to the index of the last entry the request carries (PrevLogEntry when
// it carries none). That is the Raft paper's receiver rule — "if
// leaderCommit > commitIndex, set commitIndex = min(leaderCommit, index
// of last new entry)" — and the only entries a request vouches for.
//
// hashicorp/raft v1.8.0 (raft.go, appendEntries) takes min(leaderCommit,
// its own last log index) instead. A former leader whose log still holds
// entries of its old term past the point a request verified (a request
// whose entries all matched, or carried none) then applies those stale
// entries as committed, in place of the ones the cluster committed at
// the same indices, and never applies the latter: its engine silently
// diverges. TestSuffixClearedNodeRestarts (test/e2e) caught it when a
// frozen leader kept appending; TestClampCommit pins the rule.
//
// Lowering the index is always safe: a follower learns the rest from the
// next request (the leader's pipeline sends one at least every
// CommitTimeout, from its last index once the follower has caught up).
type clampTransport struct {
	*raft.NetworkTransport
	rpcs chan raft.RPC
	stop chan struct{}
	once sync.Once
}

func newClampTransport(t *raft.NetworkTransport) *clampTransport {
	c := &clampTransport{NetworkTransport: t, rpcs: make(chan raft.RPC), stop: make(chan struct{})}
	go c.forward(t.Consumer())
	return c
}

// forward hands the transport's requests to Raft in their order,
// AppendEntries clamped.
func (c *clampTransport) forward(in <-chan raft.RPC) {
	for {
		select {
		case rpc := <-in:
			clampCommit(rpc.Command)
			select {
			case c.rpcs <- rpc:
			case <-c.stop:
				return
			}
		case <-c.stop:
			return
		}
	}
}

// Consumer implements raft.Transport.
func (c *clampTransport) Consumer() <-chan raft.RPC { return c.rpcs }

// SetHeartbeatHandler implements raft.Transport: heartbeats, which the
// network transport hands over without the consumer, are clamped too
// (they carry no commit index today).
func (c *clampTransport) SetHeartbeatHandler(cb func(raft.RPC)) {
	if cb == nil {
		c.NetworkTransport.SetHeartbeatHandler(nil)
		return
	}
	c.NetworkTransport.SetHeartbeatHandler(func(rpc raft.RPC) {
		clampCommit(rpc.Command)
		cb(rpc)
	})
}

// Close implements raft.WithClose.
func (c *clampTransport) Close() error {
	c.once.Do(func() { close(c.stop) })
	return c.NetworkTransport.Close()
}

// clampCommit lowers an AppendEntries request's commit index to the last
// entry it carries.
func clampCommit(cmd any) {
	a, ok := cmd.(*raft.AppendEntriesRequest)
	if !ok {
		return
	}
	last := a.PrevLogEntry
	if n := len(a.Entries); n > 0 {
		last = a.Entries[n-1].Index
	}
	if a.LeaderCommitIndex > last {
		a.LeaderCommitIndex = last
	}
}
