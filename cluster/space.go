package cluster

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/tandemcc/tandem/internal/apierr"
	"github.com/tandemcc/tandem/internal/diskspace"
)

// The Raft log must never meet a full disk: hashicorp/raft answers a log
// write that fails by stepping the leader down (a one-node cluster is then
// leaderless), and panics when it cannot persist a term or a vote. So the
// leader refuses a command before Raft writes it whenever the filesystem
// of <data-dir>/raft has less free space than a reserve: the reserve keeps
// room for what Raft writes on its own (terms, votes, the entry of a new
// term, a snapshot), and the refusal is the one-line no_space error every
// surface answers with 507. Once space is freed the next write succeeds;
// nothing needs a restart.

// raftReserve is the free space kept beyond the latest snapshot's size.
const raftReserve = 16 << 20

// spaceCheckEvery bounds how often the guard asks the filesystem (statfs
// costs a few microseconds; a longer cache would let a write through to
// Raft just after the disk filled, which costs the leadership).
const spaceCheckEvery = 10 * time.Millisecond

// SpaceStatus is the Raft directory's lack of space, in Status.
type SpaceStatus struct {
	Path      string    `json:"path"`
	FreeBytes int64     `json:"free_bytes"`
	Reserve   int64     `json:"reserve_bytes"`
	Since     time.Time `json:"since"`
	Message   string    `json:"message"`
}

// spaceGuard measures the free space of the Raft directory, at most every
// spaceCheckEvery, and remembers since when it is short.
type spaceGuard struct {
	dir     string
	free    func(path string) (int64, error)
	reserve func() int64 // the reserve now (raftReserve + the latest snapshot)
	now     func() time.Time

	mu      sync.Mutex
	checked time.Time
	short   *SpaceStatus // nil: enough space
}

// check returns the no_space refusal while the directory is short of
// space, nil otherwise.
func (g *spaceGuard) check() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	if now.Sub(g.checked) >= spaceCheckEvery || now.Before(g.checked) {
		g.checked = now
		g.measureLocked(now)
	}
	if g.short != nil {
		return g.refusal()
	}
	return nil
}

func (g *spaceGuard) measureLocked(now time.Time) {
	free, err := g.free(g.dir)
	if err != nil {
		// Not measured here (or statfs failed): writes go on, and a
		// write Raft cannot store is still reported as no_space.
		return
	}
	reserve := g.reserve()
	switch {
	case free < reserve && g.short == nil:
		g.short = &SpaceStatus{Path: g.dir, FreeBytes: free, Reserve: reserve, Since: now}
	case free < reserve:
		g.short.FreeBytes, g.short.Reserve = free, reserve
	default:
		g.short = nil
	}
	if g.short != nil {
		g.short.Message = g.refusal().Error()
	}
}

// full records that Raft itself failed to write for lack of space (the
// disk filled between two checks): writes are refused from now on until a
// measure finds space again.
func (g *spaceGuard) full() {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	g.checked = now
	if g.short == nil {
		g.short = &SpaceStatus{Path: g.dir, Reserve: g.reserve(), Since: now}
		g.short.Message = g.refusal().Error()
	}
}

func (g *spaceGuard) refusal() error {
	return apierr.Errorf(apierr.NoSpace, "no space left on %s: free space and retry", g.dir)
}

// status is the current lack of space, nil when there is none.
func (g *spaceGuard) status() *SpaceStatus {
	if g.check() == nil {
		return nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.short == nil {
		return nil
	}
	s := *g.short
	return &s
}

// isNoSpace tells a write that failed for lack of space. Raft formats the
// log store's error into its own (%q), so the text is all that is left.
func isNoSpace(err error) bool {
	return err != nil && (errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) ||
		strings.Contains(err.Error(), syscall.ENOSPC.Error()) || strings.Contains(err.Error(), syscall.EDQUOT.Error()))
}

// newSpaceGuard guards dir; free nil measures with statfs.
func newSpaceGuard(dir string, free func(string) (int64, error), reserve func() int64, now func() time.Time) *spaceGuard {
	if free == nil {
		free = diskspace.Free
	}
	return &spaceGuard{dir: dir, free: free, reserve: reserve, now: now}
}

// String describes the guard for logs.
func (s *SpaceStatus) String() string {
	return fmt.Sprintf("%s: %d bytes free, %d reserved", s.Path, s.FreeBytes, s.Reserve)
}

// raftReserve is the free space the Raft directory keeps: raftReserve
// bytes beyond the size of the latest snapshot, so that the next one fits.
func (s *Store) raftReserve() int64 {
	r := int64(raftReserve)
	if metas, err := s.snaps.List(); err == nil && len(metas) > 0 {
		r += metas[0].Size
	}
	return r
}
