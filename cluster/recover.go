package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"

	"github.com/hashicorp/raft"
)

// ForceQuorumWarning is printed before a forced recovery (cluster.md,
// "Recovery").
const ForceQuorumWarning = `WARNING: forcing quorum makes this node the only voter of its cluster.
Every other node of the old cluster must be kept off the network (stopped, and
its data removed before it is ever started again), or the engine will run
active on two sides and their states will diverge. Only do this when a majority
of the nodes is lost for good.`

// forceQuorum rewrites this node's Raft configuration so that it is the only
// voter, keeping every entry in its log (raft.RecoverCluster). It runs on
// the node's storage before Raft starts.
func (s *Store) forceQuorum(rc *raft.Config) error {
	s.log.Warn(ForceQuorumWarning)
	tmp, err := newFSM(s.cfg.Machines, s.cfg.Control, nil, s.cfg.Gate) // no sinks: the live FSM replays and publishes
	if err != nil {
		return err
	}
	conf := raft.Configuration{Servers: []raft.Server{{
		ID: raft.ServerID(s.cfg.NodeID), Address: raft.ServerAddress(s.cfg.RaftAddr), Suffrage: raft.Voter,
	}}}
	if err := raft.RecoverCluster(rc, tmp, s.logs, s.logs, s.snaps, s.trans, conf); err != nil {
		return fmt.Errorf("forcing quorum: %w", err)
	}
	s.log.Warn("forced quorum: this node is now the only voter", "node_id", s.cfg.NodeID)
	return nil
}

// RecoverOffline forces quorum on a stopped node's data directory, for
// `tandemctl cluster recover --force-quorum`. machines, control and gate
// must be those the node runs (RecoverCluster replays the log through
// them). raftAddr is
// the address the node will listen on; empty keeps the one recorded for it.
func RecoverOffline(ctx context.Context, dataDir, raftAddr string, machines, control []Machine, gate Gate, logger *slog.Logger) error {
	id, err := ReadIdentity(dataDir)
	if err != nil {
		return fmt.Errorf("%s does not hold a Tandem node: %w", dataDir, err)
	}
	s := &Store{cfg: Config{NodeID: id, DataDir: dataDir, Machines: machines, Timing: LANDefaults, Logger: logger}, log: logger}
	if err := s.openStorage(ctx); err != nil {
		return err
	}
	defer s.closeStorage()
	existing, err := raft.HasExistingState(s.logs, s.logs, s.snaps)
	if err != nil {
		return fmt.Errorf("reading raft state: %w", err)
	}
	if !existing {
		return errors.New("no raft state to recover in " + dataDir)
	}
	if raftAddr == "" {
		raftAddr = lastAddress(s, id)
	}
	if raftAddr == "" {
		return errors.New("cannot tell this node's raft address from its log; pass --raft-addr")
	}
	s.cfg.RaftAddr = raftAddr
	if ln, err := net.Listen("tcp", raftAddr); err != nil {
		return fmt.Errorf("raft address %s is in use: stop the node before recovering it (%v)", raftAddr, err)
	} else {
		ln.Close()
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	_, trans := raft.NewInmemTransport(raft.ServerAddress(raftAddr))
	tmp, err := newFSM(machines, control, nil, gate)
	if err != nil {
		return err
	}
	conf := raft.Configuration{Servers: []raft.Server{{
		ID: raft.ServerID(id), Address: raft.ServerAddress(raftAddr), Suffrage: raft.Voter,
	}}}
	rc := s.raftConfig()
	if err := raft.RecoverCluster(rc, tmp, s.logs, s.logs, s.snaps, trans, conf); err != nil {
		return fmt.Errorf("forcing quorum on %s: %w", dataDir, err)
	}
	return nil
}

// lastAddress finds the node's raft address in the newest configuration
// stored in its log or snapshots.
func lastAddress(s *Store, id string) string {
	addr := ""
	if snaps, err := s.snaps.List(); err == nil && len(snaps) > 0 {
		for _, srv := range snaps[0].Configuration.Servers {
			if string(srv.ID) == id {
				addr = string(srv.Address)
			}
		}
	}
	first, _ := s.logs.FirstIndex()
	last, _ := s.logs.LastIndex()
	for i := first; i <= last && i > 0; i++ {
		var l raft.Log
		if s.logs.GetLog(i, &l) != nil || l.Type != raft.LogConfiguration {
			continue
		}
		for _, srv := range raft.DecodeConfiguration(l.Data).Servers {
			if string(srv.ID) == id {
				addr = string(srv.Address)
			}
		}
	}
	return addr
}
