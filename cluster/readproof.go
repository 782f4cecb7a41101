package cluster

import (
	"context"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// readProof is the evidence a linearizable read on the leader waits for:
// a quorum of voters that accepted this node as leader, in the read's
// term, in answer to a request sent after the read began.
//
// hashicorp/raft's VerifyLeader is not that. It counts, for every
// confirmation registered, the next successful answer from each follower,
// whenever its request was sent (replication.go: notifyAll). A leader
// frozen (SIGSTOP, a VM pause, a long collector stop) with a heartbeat's
// answer in its socket, thawed after the others elected a leader and
// committed writes, then confirms a read it takes after thawing with
// that answer, and serves its old state: make chaos (test/e2e
// TestFaultRun, 10 minutes) saw a linearizable read on a thawed leader
// miss writes acknowledged before it began. The transport records, for
// each peer, the latest send time of a request it answered with success,
// and the read waits until a quorum's is after its start (the heartbeats
// VerifyLeader sends make one within a round trip). A deposed leader's
// fresh requests are refused: its read fails and is retried on the leader.
type readProof struct {
	mu    sync.Mutex
	acked map[raft.ServerID]ack
	ch    chan struct{} // closed and replaced at every record
}

type ack struct {
	term uint64
	sent time.Time
}

func newReadProof() *readProof {
	return &readProof{acked: map[raft.ServerID]ack{}, ch: make(chan struct{})}
}

// record notes that id accepted a request of term sent at sent.
func (p *readProof) record(id raft.ServerID, term uint64, sent time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if a := p.acked[id]; a.term > term || (a.term == term && !sent.After(a.sent)) {
		return
	}
	p.acked[id] = ack{term: term, sent: sent}
	close(p.ch)
	p.ch = make(chan struct{})
}

// wait returns once need of peers accepted, in term, a request sent after
// since, or ctx's error.
func (p *readProof) wait(ctx context.Context, peers []raft.ServerID, need int, term uint64, since time.Time) error {
	for {
		p.mu.Lock()
		n := 0
		for _, id := range peers {
			if a := p.acked[id]; a.term == term && a.sent.After(since) {
				n++
			}
		}
		ch := p.ch
		p.mu.Unlock()
		if n >= need {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// AppendEntries implements raft.Transport, recording a successful answer
// (heartbeats, and replication outside the pipeline) for readProof.
func (c *raftTransport) AppendEntries(id raft.ServerID, target raft.ServerAddress, args *raft.AppendEntriesRequest, resp *raft.AppendEntriesResponse) error {
	sent := time.Now()
	err := c.NetworkTransport.AppendEntries(id, target, args, resp)
	if err == nil && resp.Success && resp.Term == args.Term {
		c.proof.record(id, args.Term, sent)
	}
	return err
}
