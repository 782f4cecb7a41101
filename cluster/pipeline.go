package cluster

import (
	"sync"

	"github.com/hashicorp/raft"
)

// AppendEntriesPipeline implements raft.Transport: the transport's
// pipeline, with its answers relayed (see pipeline).
func (c *raftTransport) AppendEntriesPipeline(id raft.ServerID, target raft.ServerAddress) (raft.AppendPipeline, error) {
	p, err := c.NetworkTransport.AppendEntriesPipeline(id, target)
	if err != nil {
		return nil, err
	}
	return newPipeline(p), nil
}

// pipeline takes every answer from the transport's pipeline as soon as it
// is decoded and holds it until Raft reads it, so that a send never waits
// for Raft to read an answer.
//
// hashicorp/raft v1.8.0 deadlocks without it. With the default of two RPCs
// in flight, the transport's pipeline hands answers over, and takes sends
// in, through unbuffered channels. The leader's decoder of a follower's
// answers (pipelineDecode) stops at the first refusal or newer term; the
// sending loop stops at its next turn, but a send already under way then
// waits for the transport's decoder, which waits for someone to take the
// answer before it: neither ever returns. The follower gets no more
// entries while it goes on hearing heartbeats (so it never calls an
// election), and raft.Shutdown waits for the stuck goroutine forever — a
// node that hung on SIGTERM after a leader change
// (TestSuffixClearedNodeRestarts; grafana/pyroscope#5518 describes the
// same deadlock).
//
// The sends in flight stay bounded by the transport (its decoder takes a
// send only once the previous answer is decoded); what pipeline holds is
// the answers Raft has not read yet, which the sending loop stops adding
// to as soon as its decoder has stopped.
type pipeline struct {
	raft.AppendPipeline
	out    chan raft.AppendFuture
	closed chan struct{}
	once   sync.Once
}

func newPipeline(p raft.AppendPipeline) *pipeline {
	r := &pipeline{AppendPipeline: p, out: make(chan raft.AppendFuture), closed: make(chan struct{})}
	go r.relay(p.Consumer())
	return r
}

// relay moves answers from in to Consumer, in order, never blocking on
// Consumer while in has one to give.
func (p *pipeline) relay(in <-chan raft.AppendFuture) {
	var held []raft.AppendFuture
	for {
		var out chan raft.AppendFuture
		var next raft.AppendFuture
		if len(held) > 0 {
			out, next = p.out, held[0]
		}
		select {
		case f := <-in:
			held = append(held, f)
		case out <- next:
			held[0] = nil
			held = held[1:]
		case <-p.closed:
			return
		}
	}
}

// Consumer implements raft.AppendPipeline.
func (p *pipeline) Consumer() <-chan raft.AppendFuture { return p.out }

// Close implements raft.AppendPipeline.
func (p *pipeline) Close() error {
	p.once.Do(func() { close(p.closed) })
	return p.AppendPipeline.Close()
}
