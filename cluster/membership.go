package cluster

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/hashicorp/raft"
)

// Join adds a node to the cluster (on the leader; forwarded otherwise). A
// node that rejoins with the same ID and address is left as it is; the
// same ID at a new address replaces the old entry.
func (s *Store) Join(ctx context.Context, jr JoinRequest) (err error) {
	defer func() { err = classify(err) }()
	if jr.ID == "" || jr.RaftAddr == "" || jr.AdminAddr == "" {
		return &Refusal{Msg: "join needs id, raft_addr and admin_addr"}
	}
	if !s.IsLeader() {
		return s.retryLeader(ctx, func(ctx context.Context) error {
			return s.callLeader(ctx, http.MethodPost, "/v1/internal/join", jr, nil)
		})
	}
	if err := s.space.check(); err != nil {
		return err // a configuration entry needs log space too
	}
	cf := s.raft.GetConfiguration()
	if err := cf.Error(); err != nil {
		return fmt.Errorf("reading configuration: %w", err)
	}
	member := false
	for _, srv := range cf.Configuration().Servers {
		sameID, sameAddr := string(srv.ID) == jr.ID, string(srv.Address) == jr.RaftAddr
		switch {
		case sameID && sameAddr && (srv.Suffrage == raft.Voter) == !jr.NonVoter:
			member = true
		case sameID || sameAddr:
			if err := waitFuture(ctx, s.raft.RemoveServer(srv.ID, 0, 0)); err != nil {
				return fmt.Errorf("removing stale entry %s at %s: %w", srv.ID, srv.Address, err)
			}
		}
	}
	if !member {
		var f raft.IndexFuture
		if jr.NonVoter {
			f = s.raft.AddNonvoter(raft.ServerID(jr.ID), raft.ServerAddress(jr.RaftAddr), 0, 0)
		} else {
			f = s.raft.AddVoter(raft.ServerID(jr.ID), raft.ServerAddress(jr.RaftAddr), 0, 0)
		}
		if err := waitFuture(ctx, f); err != nil {
			return fmt.Errorf("adding %s at %s: %w", jr.ID, jr.RaftAddr, err)
		}
		s.log.Info("node joined", "node_id", jr.ID, "raft_addr", jr.RaftAddr, "voter", !jr.NonVoter)
	}
	_, err = s.Propose(ctx, TypeNodeUpsert, NodeMeta{ID: jr.ID, RaftAddr: jr.RaftAddr, AdminAddr: jr.AdminAddr, HTTPURL: jr.HTTPURL})
	return err
}

// Remove takes a node out of the cluster for good.
func (s *Store) Remove(ctx context.Context, id string) (err error) {
	defer func() { err = classify(err) }()
	if id == "" {
		return &Refusal{Msg: "remove needs a node id"}
	}
	if !s.IsLeader() {
		return s.retryLeader(ctx, func(ctx context.Context) error {
			return s.callLeader(ctx, http.MethodPost, "/v1/internal/remove", struct{ ID string }{id}, nil)
		})
	}
	cf := s.raft.GetConfiguration()
	if err := cf.Error(); err != nil {
		return fmt.Errorf("reading configuration: %w", err)
	}
	found, voters := false, 0
	for _, srv := range cf.Configuration().Servers {
		if srv.Suffrage == raft.Voter {
			voters++
		}
		if string(srv.ID) == id {
			found = true
		}
	}
	if !found {
		return &Refusal{Msg: fmt.Sprintf("node %q is not a member of the cluster", id)}
	}
	if voters == 1 && id == s.cfg.NodeID {
		return &Refusal{Msg: "refusing to remove the last voter"}
	}
	admin := s.fsm.nodesBefore(id) // to tell it afterwards
	// Forget the metadata first, while this node is surely still leader.
	if _, err := s.Propose(ctx, TypeNodeRemove, NodeMeta{ID: id}); err != nil {
		return fmt.Errorf("forgetting node %s: %w", id, err)
	}
	if err := waitFuture(ctx, s.raft.RemoveServer(raft.ServerID(id), 0, 0)); err != nil {
		return fmt.Errorf("removing node %s: %w", id, err)
	}
	s.log.Info("node removed", "node_id", id)
	if admin != "" && id != s.cfg.NodeID {
		// Tell it, best effort: it stops serving as a member. A node that
		// does not hear it finds out from its configuration (memberWatch).
		tctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := s.call(tctx, admin, http.MethodPost, "/v1/internal/removed", removedNotice{By: s.cfg.NodeID}, nil)
		cancel()
		if err != nil {
			s.log.Warn("telling the removed node it was removed", "node_id", id, "err", err)
		}
	}
	return nil
}

// removedNotice is the body of POST /v1/internal/removed.
type removedNotice struct {
	By string `json:"by"`
}

// markRemoved records that this node is no longer a member, says so in
// the log and status, and stops its Raft (a removed node that kept
// running would campaign); its admin API keeps answering status.
func (s *Store) markRemoved(why string) {
	if !s.removed.CompareAndSwap(nil, why) {
		return
	}
	s.log.Warn("this node was removed from the cluster; it no longer serves as a member (start it with an empty data directory and --join to add it again)",
		"why", why)
	go func() {
		if err := s.raft.Shutdown().Error(); err != nil {
			s.log.Warn("stopping raft after removal", "err", err)
		}
	}()
}

// memberWatch notices that this node, once a member, is no longer in the
// cluster's configuration (removed while it did not hear the notice).
func (s *Store) memberWatch(ctx context.Context) {
	was := false
	gone := 0
	for sleepCtx(ctx, time.Second) == nil {
		switch {
		case s.isMember():
			was, gone = true, 0
		case was:
			// Only a leader's configuration change drops a member.
			if gone++; gone >= 3 {
				s.markRemoved("the cluster's configuration no longer lists this node")
				return
			}
		}
	}
}

// TransferLeader hands leadership to id, or to the most up-to-date voter
// when id is empty.
func (s *Store) TransferLeader(ctx context.Context, id string) (err error) {
	defer func() { err = classify(err) }()
	if !s.IsLeader() {
		return s.retryLeader(ctx, func(ctx context.Context) error {
			return s.callLeader(ctx, http.MethodPost, "/v1/internal/transfer", struct{ ID string }{id}, nil)
		})
	}
	if id == s.cfg.NodeID {
		return nil // already the leader
	}
	if s.voterCount() < 2 {
		return &Refusal{Msg: "this cluster has one voter: there is no other node to hand leadership to"}
	}
	var f raft.Future
	if id == "" {
		f = s.raft.LeadershipTransfer()
	} else {
		addr := ""
		for _, srv := range s.raft.GetConfiguration().Configuration().Servers {
			if string(srv.ID) == id && srv.Suffrage == raft.Voter {
				addr = string(srv.Address)
			}
		}
		if addr == "" {
			return &Refusal{Msg: fmt.Sprintf("node %q is not a voter of the cluster", id)}
		}
		f = s.raft.LeadershipTransferToServer(raft.ServerID(id), raft.ServerAddress(addr))
	}
	if err := waitFuture(ctx, f); err != nil {
		return fmt.Errorf("transferring leadership: %w", err)
	}
	return nil
}

// retryLeader calls fn until it succeeds, fails for good, or ctx ends.
func (s *Store) retryLeader(ctx context.Context, fn func(context.Context) error) error {
	var err error
	for attempt := 0; attempt < 100; attempt++ {
		if err = fn(ctx); err == nil || !retryable(err) {
			return err
		}
		if werr := sleepCtx(ctx, backoff(attempt)); werr != nil {
			return fmt.Errorf("%w (last error: %v)", werr, err)
		}
	}
	return classify(err)
}

// joinLoop asks the member at addr to add this node, until it succeeds or
// the join deadline passes.
func (s *Store) joinLoop(ctx context.Context, addr string) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.JoinRetry)
	defer cancel()
	jr := JoinRequest{ID: s.cfg.NodeID, RaftAddr: s.cfg.RaftAddr, AdminAddr: s.cfg.AdminURL, HTTPURL: s.cfg.HTTPURL}
	for attempt := 0; ; attempt++ {
		err := s.call(ctx, addr, http.MethodPost, "/v1/internal/join", jr, nil)
		if err == nil {
			s.log.Info("joined cluster", "via", addr)
			s.joinErr.Store("")
			return
		}
		s.joinErr.Store(err.Error())
		var ref *Refusal
		if errors.As(err, &ref) {
			s.log.Error("join refused", "via", addr, "err", err)
			return
		}
		s.log.Warn("join attempt failed; retrying", "via", addr, "err", err)
		if sleepCtx(ctx, min(time.Duration(attempt+1)*200*time.Millisecond, 2*time.Second)) != nil {
			s.log.Error("giving up joining the cluster", "via", addr, "err", err)
			return
		}
	}
}

// JoinVia makes this node join the cluster of the member at addr. Only a
// node that never formed a cluster of its own (started with --join) can:
// a node that bootstrapped holds its own log, and merging two logs would
// lose one side's commands.
func (s *Store) JoinVia(ctx context.Context, addr string) error {
	if s.isMember() {
		return &Refusal{Msg: fmt.Sprintf("node %s already belongs to a cluster (leader %q); start a node with an empty --data-dir and --join to add it", s.cfg.NodeID, s.LeaderID())}
	}
	jr := JoinRequest{ID: s.cfg.NodeID, RaftAddr: s.cfg.RaftAddr, AdminAddr: s.cfg.AdminURL, HTTPURL: s.cfg.HTTPURL}
	if err := s.call(ctx, addr, http.MethodPost, "/v1/internal/join", jr, nil); err != nil {
		s.joinErr.Store(err.Error())
		return fmt.Errorf("joining via %s: %w", addr, err)
	}
	s.joinErr.Store("")
	return nil
}
