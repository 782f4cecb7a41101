package cluster

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	"github.com/tandemcc/tandem/command"
)

// TypeCheckpoint names a log index at which every member digests the state
// of its machines (the state check). The leader proposes one every
// Timing.CheckpointInterval while commands are applied.
const TypeCheckpoint = "cluster.checkpoint"

// StateDigest is a member's digest of its machines' state right after it
// applied the checkpoint at Index.
type StateDigest struct {
	Index  uint64 `json:"index"`
	SHA256 string `json:"sha256"`
}

// keepStateDigests bounds the checkpoints a member remembers.
const keepStateDigests = 8

// stateDigests are the latest checkpoints' digests, oldest first. Apply
// adds to them; the clock sample reads them.
type stateDigests struct {
	mu   sync.Mutex
	list []StateDigest
}

func (d *stateDigests) add(sd StateDigest) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.list = append(d.list, sd)
	if n := len(d.list); n > keepStateDigests {
		d.list = append(d.list[:0], d.list[n-keepStateDigests:]...)
	}
}

func (d *stateDigests) all() []StateDigest {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]StateDigest(nil), d.list...)
}

// checkpoint digests every machine's state, as its snapshot section
// encodes it (deterministic: members that applied the same commands
// encode the same bytes). It runs inside apply (f.mu held) and never
// fails: a section that cannot be encoded leaves this checkpoint without
// a digest rather than refusing the command on one member only.
func (f *fsm) checkpoint(index uint64) error {
	h := sha256.New()
	for _, m := range f.all() {
		b, err := m.Snapshot()
		if err != nil {
			return nil
		}
		sec := sectionOf(m)
		fmt.Fprintf(h, "%s %d %d\n", sec.Name, sec.Version, len(b))
		h.Write(b)
	}
	f.states.add(StateDigest{Index: index, SHA256: hex.EncodeToString(h.Sum(nil))})
	return nil
}

// checkpointLoop is the leader's: a checkpoint every interval, when
// anything was applied since the last one.
func (s *Store) checkpointLoop(ctx context.Context) {
	every := s.cfg.Timing.CheckpointInterval
	if every <= 0 {
		return
	}
	var last uint64
	for sleepCtx(ctx, every) == nil {
		if !s.IsLeader() || s.AppliedIndex() <= last {
			continue
		}
		env, err := command.New(TypeCheckpoint, NewID(), s.now(), nil)
		if err != nil {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		res, err := s.commitLocal(cctx, env)
		cancel()
		if err == nil {
			last = res.Index
		}
	}
}

// compareStates checks a peer's state digests against this node's at the
// checkpoints both applied. A difference is reported once, like a
// divergence of entries (replicaCheck.compare): the entries matched, so
// the two applied the same commands into different states — an engine
// whose apply differs (two builds that disagree during an upgrade), or a
// state restored from a snapshot that was not the cluster's.
func (rc *replicaCheck) compareStates(peer string, theirs []StateDigest) {
	if peer == "" || len(theirs) == 0 {
		return
	}
	mine := map[uint64]string{}
	for _, d := range rc.s.fsm.states.all() {
		mine[d.Index] = d.SHA256
	}
	for _, t := range theirs {
		m, ok := mine[t.Index]
		if !ok {
			continue
		}
		if m == t.SHA256 {
			rc.matched(&rc.stateCheckedTo, t.Index)
			continue
		}
		if rc.found(Divergence{Node: peer, From: t.Index, To: t.Index, State: true}) {
			rc.s.log.Error("state check: a member holds another state than this node after the same commands; one of the two engines has diverged and must be rebuilt from a healthy member (cluster/DESIGN.md, \"State check\")",
				"peer", peer, "checkpoint_index", t.Index)
		}
		return
	}
}
