package cluster

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash"
	"sort"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// The replica check: every node digests the log entries its FSM applies,
// in windows of digestWindow indices, and members compare their digests
// with each other's once a second (the clock sample carries them). Raft
// promises that every node applies the same entries at the same indices;
// a node that applied something else — a library bug (hashicorp/raft#695,
// transport.go), a disk that returned other bytes, a log edited by hand —
// shows as a window whose digest differs, and is reported (log, status,
// /metrics) instead of serving its diverged engine silently.
//
// What is compared is what apply saw (index, term, type and data of each
// entry handed to the FSM), not the engine's state: apply is deterministic
// (no clock, no randomness, no I/O), so the same entries make the same
// state, and a digest of entries costs a hash of bytes the node already
// holds, where hashing the state would cost a walk of it.

// digestWindow is how many log indices one digest covers. A window is
// compared once every node applied past its end: within seconds under
// load, within minutes on an idle cluster (the leader's clock ticks
// commit about one entry a second).
const digestWindow = 256

// keptDigests is how many closed windows a node keeps to compare.
const keptDigests = 16

// WindowDigest is the SHA-256 of the entries one node applied with
// indices in [From, To].
type WindowDigest struct {
	From   uint64 `json:"from"`
	To     uint64 `json:"to"`
	SHA256 string `json:"sha256"`
}

// applyDigests accumulates the digest of the window being applied and
// keeps the last closed ones. Its methods are called with the FSM's lock
// held (add, restored), or take their own (closed).
type applyDigests struct {
	// base is the index the FSM's state started from (its last restored
	// snapshot, 0 for an empty start): a window that begins at or before
	// it was not applied entry by entry here and has no digest.
	base uint64
	cur  uint64 // window being accumulated: it covers (cur-1)*digestWindow+1 ..
	h    hash.Hash
	buf  [17]byte

	mu   sync.Mutex
	done []WindowDigest // oldest first, at most keptDigests
}

func windowOf(index uint64) uint64 { return (index-1)/digestWindow + 1 }

// add digests one applied entry.
func (d *applyDigests) add(l *raft.Log) {
	w := windowOf(l.Index)
	if w != d.cur {
		d.close()
		d.cur = w
		d.h = nil
		if first := (w-1)*digestWindow + 1; d.base < first {
			d.h = sha256.New()
		}
	}
	if d.h == nil {
		return
	}
	binary.BigEndian.PutUint64(d.buf[0:8], l.Index)
	binary.BigEndian.PutUint64(d.buf[8:16], l.Term)
	d.buf[16] = byte(l.Type)
	d.h.Write(d.buf[:])
	d.h.Write(l.Data)
}

// close keeps the digest of the window being accumulated, if it has one.
// It is called when an entry of a later window arrives: every entry of
// this one was applied (Raft hands entries to the FSM in index order).
func (d *applyDigests) close() {
	if d.h == nil {
		return
	}
	wd := WindowDigest{From: (d.cur-1)*digestWindow + 1, To: d.cur * digestWindow, SHA256: hex.EncodeToString(d.h.Sum(nil))}
	d.mu.Lock()
	d.done = append(d.done, wd)
	if len(d.done) > keptDigests {
		d.done = append(d.done[:0], d.done[len(d.done)-keptDigests:]...)
	}
	d.mu.Unlock()
	d.h = nil
}

// restored starts over after the FSM's state was replaced by a snapshot
// at index: the windows kept so far stay comparable (they were applied
// here), the one in progress is dropped.
func (d *applyDigests) restored(index uint64) {
	d.base, d.cur, d.h = index, 0, nil
}

// closed returns the kept digests, oldest first.
func (d *applyDigests) closed() []WindowDigest {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]WindowDigest(nil), d.done...)
}

// ReplicaStatus is what this node found comparing its applied entries
// with its peers'.
type ReplicaStatus struct {
	// CheckedTo is the end of the latest window this node compared with
	// a peer's and found the same (0: none yet).
	CheckedTo uint64 `json:"checked_to"`
	// Diverged lists the peers that applied other entries than this node,
	// each with the first window found to differ.
	Diverged []Divergence `json:"diverged,omitempty"`
	// Lagging lists the members that answer but have not applied what
	// this node had committed 5 s before, for 5 s (lag.go).
	Lagging []string `json:"lagging,omitempty"`
	// StateCheckedTo is the latest checkpoint at which this node compared
	// its state's digest with a peer's and found the same (0: none yet;
	// statecheck.go).
	StateCheckedTo uint64 `json:"state_checked_to"`
}

// Divergence is a peer whose digest of a window differs from this node's
// — or, with State, whose digest of its state at checkpoint From (= To)
// does, the entries having matched.
type Divergence struct {
	Node  string    `json:"node"`
	From  uint64    `json:"from"`
	To    uint64    `json:"to"`
	State bool      `json:"state,omitempty"`
	Since time.Time `json:"since"`
}

// replicaCheck compares this node's window digests with its peers'.
type replicaCheck struct {
	s         *Store
	mu        sync.Mutex
	checkedTo uint64
	diverged  map[string]Divergence
	// stateCheckedTo is the latest checkpoint found the same (statecheck.go).
	stateCheckedTo uint64
}

// compare checks a peer's digests against this node's, and reports a
// divergence once (it stays in the status until the node restarts: a
// diverged replica needs an administrator, see cluster/DESIGN.md).
func (rc *replicaCheck) compare(peer string, theirs []WindowDigest) {
	if peer == "" || len(theirs) == 0 {
		return
	}
	mine := map[uint64]WindowDigest{}
	for _, d := range rc.s.fsm.digests.closed() {
		mine[d.From] = d
	}
	sort.Slice(theirs, func(i, j int) bool { return theirs[i].From < theirs[j].From })
	for _, t := range theirs {
		m, ok := mine[t.From]
		if !ok || m.To != t.To {
			continue
		}
		if m.SHA256 == t.SHA256 {
			rc.matched(&rc.checkedTo, t.To)
			continue
		}
		if rc.found(Divergence{Node: peer, From: t.From, To: t.To}) {
			rc.s.log.Error("replica check: a member applied other commands than this node; one of the two engines has diverged and must be rebuilt from a healthy member (cluster/DESIGN.md, \"Replica check\")",
				"peer", peer, "from_index", t.From, "to_index", t.To)
		}
		return
	}
}

// matched raises *to (a field of rc) to index.
func (rc *replicaCheck) matched(to *uint64, index uint64) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if index > *to {
		*to = index
	}
}

// found records d unless its peer was already found to diverge (it stays
// recorded until the node restarts: a diverged replica needs an
// administrator), and says whether it is new.
func (rc *replicaCheck) found(d Divergence) bool {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if _, known := rc.diverged[d.Node]; known {
		return false
	}
	if rc.diverged == nil {
		rc.diverged = map[string]Divergence{}
	}
	d.Since = rc.s.now().UTC()
	rc.diverged[d.Node] = d
	return true
}

func (rc *replicaCheck) status() ReplicaStatus {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	st := ReplicaStatus{CheckedTo: rc.checkedTo, StateCheckedTo: rc.stateCheckedTo}
	for _, d := range rc.diverged {
		st.Diverged = append(st.Diverged, d)
	}
	sort.Slice(st.Diverged, func(i, j int) bool { return st.Diverged[i].Node < st.Diverged[j].Node })
	return st
}

// Replicas returns what this node's replica check found, and the
// members lagging.
func (s *Store) Replicas() ReplicaStatus {
	st := s.replicas.status()
	if l := s.clock.lag.lagging(); len(l) > 0 {
		st.Lagging = l
	}
	return st
}
