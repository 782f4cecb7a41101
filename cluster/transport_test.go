package cluster

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// TestClampCommit: a follower learns a commit index no further than the
// last entry the request carries (the Raft paper's receiver rule), never
// up to entries of its own log the request did not verify.
func TestClampCommit(t *testing.T) {
	entries := func(from, to uint64) []*raft.Log {
		var l []*raft.Log
		for i := from; i <= to; i++ {
			l = append(l, &raft.Log{Index: i, Term: 5})
		}
		return l
	}
	for _, tc := range []struct {
		name       string
		req        raft.AppendEntriesRequest
		wantCommit uint64
	}{
		{"entries end before the commit", raft.AppendEntriesRequest{PrevLogEntry: 383, Entries: entries(384, 387), LeaderCommitIndex: 400}, 387},
		{"no entries: the previous entry is the last verified", raft.AppendEntriesRequest{PrevLogEntry: 383, LeaderCommitIndex: 400}, 383},
		{"commit within the entries", raft.AppendEntriesRequest{PrevLogEntry: 383, Entries: entries(384, 420), LeaderCommitIndex: 400}, 400},
		{"caught up: empty request from the leader's last index", raft.AppendEntriesRequest{PrevLogEntry: 420, LeaderCommitIndex: 420}, 420},
		{"heartbeat", raft.AppendEntriesRequest{}, 0},
		{"from the start", raft.AppendEntriesRequest{Entries: entries(1, 3), LeaderCommitIndex: 9}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := tc.req
			clampCommit(&req)
			if req.LeaderCommitIndex != tc.wantCommit {
				t.Errorf("commit index %d, want %d", req.LeaderCommitIndex, tc.wantCommit)
			}
		})
	}
	clampCommit(&raft.RequestVoteRequest{}) // other requests pass untouched
}

// The transport Raft runs on hands AppendEntries over clamped, through
// the consumer and in order; heartbeats come the same way, never through
// the handler Raft registers for its fast path (hashicorp/raft#695).
// transportPair opens two transports on loopback, closed when t ends.
func transportPair(t *testing.T) (a, b *raftTransport) {
	t.Helper()
	for _, p := range []**raftTransport{&a, &b} {
		tr, err := newTransport(freeRaftAddr(t), hclog.NewNullLogger())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { tr.Close() })
		*p = tr
	}
	return a, b
}

func TestRaftTransport(t *testing.T) {
	a, b := transportPair(t)
	var fastPath atomic.Int32
	b.SetHeartbeatHandler(func(rpc raft.RPC) { // as raft.NewRaft does
		fastPath.Add(1)
		rpc.Respond(&raft.AppendEntriesResponse{Term: 2, Success: true}, nil)
	})
	errs := make(chan error, 2)
	for _, commit := range []uint64{50, 7} {
		go func() {
			req := &raft.AppendEntriesRequest{RPCHeader: raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax},
				Term: 2, PrevLogEntry: 10, PrevLogTerm: 1, LeaderCommitIndex: commit}
			errs <- a.AppendEntries("b", b.LocalAddr(), req, &raft.AppendEntriesResponse{})
		}()
		select {
		case rpc := <-b.Consumer():
			got := rpc.Command.(*raft.AppendEntriesRequest).LeaderCommitIndex
			if want := min(commit, 10); got != want {
				t.Errorf("commit index %d handed to Raft, want %d", got, want)
			}
			rpc.Respond(&raft.AppendEntriesResponse{Term: 2, Success: true}, nil)
		case <-time.After(10 * time.Second):
			t.Fatal("no request reached the consumer")
		}
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	// A heartbeat, as the leader's heartbeat goroutine sends it (no
	// entries, no previous entry, no commit index).
	go func() {
		hb := &raft.AppendEntriesRequest{RPCHeader: raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax,
			ID: []byte("a"), Addr: []byte(a.LocalAddr())}, Term: 3}
		errs <- a.AppendEntries("b", b.LocalAddr(), hb, &raft.AppendEntriesResponse{})
	}()
	select {
	case rpc := <-b.Consumer():
		if hb := rpc.Command.(*raft.AppendEntriesRequest); hb.Term != 3 || len(hb.Entries) != 0 {
			t.Errorf("got %+v, want the heartbeat", hb)
		}
		rpc.Respond(&raft.AppendEntriesResponse{Term: 3, Success: true}, nil)
	case <-time.After(10 * time.Second):
		t.Fatal("the heartbeat did not reach the consumer")
	}
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	if n := fastPath.Load(); n != 0 {
		t.Errorf("the fast-path handler ran %d times", n)
	}
}

// TestPipelineAfterRefusal: once Raft's decoder of a follower's answers
// has stopped (as pipelineDecode does at a refusal), sends through the
// pipeline still return and Close still closes it. Without the relay of
// pipeline.go the third send waits forever (hashicorp/raft v1.8.0's
// unbuffered pipeline: its decoder holds the second answer for a reader
// that is gone).
func TestPipelineAfterRefusal(t *testing.T) {
	a, b := transportPair(t)
	go func() { // the follower refuses every request
		for {
			select {
			case rpc := <-b.Consumer():
				rpc.Respond(&raft.AppendEntriesResponse{Term: 2, Success: false}, nil)
			case <-time.After(30 * time.Second):
				return
			}
		}
	}()
	p, err := a.AppendEntriesPipeline("b", b.LocalAddr())
	if err != nil {
		t.Fatal(err)
	}
	send := func(i int) error {
		done := make(chan error, 1)
		go func() {
			req := &raft.AppendEntriesRequest{RPCHeader: raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax},
				Term: 2, PrevLogEntry: uint64(10 + i), PrevLogTerm: 1}
			_, err := p.AppendEntries(req, &raft.AppendEntriesResponse{})
			done <- err
		}()
		select {
		case err := <-done:
			return err
		case <-time.After(10 * time.Second):
			t.Fatalf("send %d through the pipeline did not return", i)
			return nil
		}
	}
	if err := send(1); err != nil {
		t.Fatal(err)
	}
	select {
	case f := <-p.Consumer(): // the decoder reads one answer, a refusal, and stops
		if f.Response().Success {
			t.Fatal("want a refusal")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no answer from the pipeline")
	}
	for i := 2; i <= 4; i++ {
		if err := send(i); err != nil {
			t.Fatal(err)
		}
	}
	closed := make(chan error, 1)
	go func() { closed <- p.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the pipeline did not close")
	}
}
