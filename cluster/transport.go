package cluster

import (
	"sync"

	"github.com/hashicorp/raft"
)

// raftTransport is Raft's TCP transport with two corrections on the
// receiving side, each closing a way hashicorp/raft v1.8.0 lets replicas
// diverge (TestSuffixClearedNodeRestarts in test/e2e found both: a frozen
// leader that kept appending, thawed after the others elected a leader),
// and one on the sending side, a deadlock of the leader's pipeline to a
// follower (pipeline.go).
//
// Heartbeats go through Raft's main goroutine. The library handles them
// on the transport's goroutine (a fast path, so that a follower busy
// writing to disk still hears its leader), and a heartbeat of a newer
// term sets the term and steps the node down there, unsynchronised with
// the main goroutine. A leader that was just handing a batch of writes to
// its log then stamps them with the new term (dispatchLogs reads the
// current term): entries of a term whose leader never wrote them, at
// indices where that leader wrote others. The real leader's entries then
// look already present (same index, same term), are skipped, and the node
// applies its own in their place — hashicorp/raft#695, open upstream.
// Delivered through Consumer instead, a heartbeat is handled between the
// main loop's steps, like any AppendEntries: it waits at most for the
// log write in progress (milliseconds; tens under a loaded disk, against
// the 400 ms heartbeat timeout of LANDefaults); a request that keeps a
// follower busy longer (a large write, a snapshot install) renews its
// contact with the leader when it ends, as a heartbeat does.
//
// An AppendEntries request's LeaderCommitIndex is lowered to the index of
// the last entry it carries (PrevLogEntry when it carries none). That is
// the Raft paper's receiver rule — "if leaderCommit > commitIndex, set
// commitIndex = min(leaderCommit, index of last new entry)" — and the only
// entries a request vouches for. hashicorp/raft v1.8.0 (raft.go,
// appendEntries) takes min(leaderCommit, its own last log index) instead:
// a former leader whose log still holds entries of its old term past the
// point a request verified (a request whose entries all matched, or
// carried none) applies those stale entries as committed, in place of the
// ones the cluster committed at the same indices. Lowering the index is
// always safe: a follower learns the rest from the next request (the
// leader's pipeline sends one at least every CommitTimeout, from its last
// index once the follower has caught up). TestClampCommit pins the rule.
type raftTransport struct {
	*raft.NetworkTransport
	rpcs chan raft.RPC
	stop chan struct{}
	once sync.Once
	// proof records the peers' successful answers for linearizable
	// reads on the leader (readproof.go).
	proof *readProof
}

func newRaftTransport(t *raft.NetworkTransport) *raftTransport {
	c := &raftTransport{NetworkTransport: t, rpcs: make(chan raft.RPC), stop: make(chan struct{}), proof: newReadProof()}
	t.SetHeartbeatHandler(nil) // every request through the consumer
	go c.forward(t.Consumer())
	return c
}

// forward hands the transport's requests to Raft in their order,
// AppendEntries clamped.
func (c *raftTransport) forward(in <-chan raft.RPC) {
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
func (c *raftTransport) Consumer() <-chan raft.RPC { return c.rpcs }

// SetHeartbeatHandler implements raft.Transport by declining the fast
// path: heartbeats reach Raft through Consumer, on its main goroutine
// (see raftTransport).
func (c *raftTransport) SetHeartbeatHandler(func(raft.RPC)) {}

// Close implements raft.WithClose.
func (c *raftTransport) Close() error {
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
