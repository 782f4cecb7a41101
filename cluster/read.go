package cluster

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/hashicorp/raft"
)

// Consistency selects how current a read must be.
type Consistency int

const (
	// Linearizable reads reflect every write acknowledged before the read
	// began, whichever node serves them.
	Linearizable Consistency = iota
	// Stale reads return this node's applied state without a quorum round;
	// responses must say so.
	Stale
)

// String is the level's name, as the consistency parameter spells it.
func (c Consistency) String() string {
	if c == Stale {
		return "stale"
	}
	return "linearizable"
}

// ConsistencyHeader is the response header every read surface sets to the
// level it answered at, so a stale answer is always marked.
const ConsistencyHeader = "X-Tandem-Consistency"

// RequestConsistency reads the consistency query parameter of an HTTP
// read; an unknown value is an error (every surface answers it with 400).
func RequestConsistency(r *http.Request) (Consistency, error) {
	return ParseConsistency(r.URL.Query().Get("consistency"))
}

// MarkConsistency sets ConsistencyHeader on a read's response.
func MarkConsistency(w http.ResponseWriter, c Consistency) {
	w.Header().Set(ConsistencyHeader, c.String())
}

// ParseConsistency reads "linearizable" (or "") and "stale".
func ParseConsistency(s string) (Consistency, error) {
	switch s {
	case "", "linearizable":
		return Linearizable, nil
	case "stale":
		return Stale, nil
	}
	return 0, fmt.Errorf("consistency %q: want linearizable or stale", s)
}

// Read waits until this node's state may be read at level c. After it
// returns nil, reading the machines' local state is linearizable.
//
// The recipe (Raft dissertation §6.4): the leader takes its commit index as
// the read index — only once it has committed an entry of its own term (its
// barrier) — then confirms with a quorum round that it is still leader and
// that the term has not moved. A follower obtains the read index from the
// leader. Either way the node then waits until its FSM has applied it.
func (s *Store) Read(ctx context.Context, c Consistency) error {
	if c == Stale {
		return nil
	}
	var idx uint64
	err := s.retryLeader(ctx, func(ctx context.Context) error {
		var err error
		if s.IsLeader() {
			idx, err = s.leaderReadIndex(ctx)
			return err
		}
		var res Result
		err = s.callLeader(ctx, http.MethodGet, "/v1/internal/readindex", nil, &res)
		idx = res.Index
		return err
	})
	if err != nil {
		return fmt.Errorf("linearizable read: %w", err)
	}
	return s.WaitApplied(ctx, idx)
}

var errTermChanged = errors.New("term changed during read")

func (s *Store) leaderReadIndex(ctx context.Context) (uint64, error) {
	began := time.Now()
	term := s.raft.CurrentTerm()
	if s.readyTerm.Load() != term {
		if err := s.barrier(ctx); err != nil {
			return 0, err
		}
	}
	idx := s.raft.CommitIndex()
	if err := waitFuture(ctx, s.raft.VerifyLeader()); err != nil {
		return 0, fmt.Errorf("verifying leadership: %w", err)
	}
	// VerifyLeader may have counted answers to requests sent before the
	// read began (readproof.go): wait for a quorum's answers to requests
	// sent after it (its own heartbeats: within a round trip).
	if err := s.quorumSince(ctx, term, began); err != nil {
		return 0, err
	}
	if s.raft.CurrentTerm() != term {
		return 0, fmt.Errorf("%w: %w", ErrNoLeader, errTermChanged)
	}
	return idx, nil
}

// quorumSince waits until a quorum of voters, this node included,
// accepted it as leader in term in answer to a request sent after began.
func (s *Store) quorumSince(ctx context.Context, term uint64, began time.Time) error {
	f := s.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return fmt.Errorf("reading the configuration: %w", err)
	}
	var peers []raft.ServerID
	voters := 0
	for _, srv := range f.Configuration().Servers {
		if srv.Suffrage != raft.Voter {
			continue
		}
		voters++
		if srv.ID != raft.ServerID(s.cfg.NodeID) {
			peers = append(peers, srv.ID)
		}
	}
	need := voters/2 + 1 - 1 // this node's own vote counts
	if need <= 0 {
		return nil
	}
	wctx, cancel := context.WithTimeout(ctx, readProofWait)
	defer cancel()
	if err := s.trans.proof.wait(wctx, peers, need, term, began); err != nil {
		return fmt.Errorf("%w: no quorum answered after the read began (%v)", ErrNoLeader, err)
	}
	return nil
}

// readProofWait bounds quorumSince: the heartbeats VerifyLeader sent
// answer within a round trip unless this node no longer leads.
const readProofWait = 2 * time.Second
