package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/raft"

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
//
// On several nodes (DESIGN.md, "A full disk"):
//   - a follower short of space refuses the leader's entries before its
//     log store writes them (guardedLogs): Raft answers the leader "not
//     stored" and the follower keeps the reserve for terms and votes; it
//     still hears heartbeats, so it calls no election, and it catches up
//     once space is freed. Reads it cannot serve (it is behind and
//     cannot store what it lacks) answer the same no_space line;
//   - a leader short of space hands leadership to a voter that reported
//     room (spaceLoop, handOver): writes in flight are retried through
//     the new leader. Without such a voter it keeps leadership and
//     refuses writes;
//   - a leader refuses writes, with the same line naming them, while so
//     many voters report no room that no majority could store a command
//     (quorumShort): the write would otherwise wait for a commit that
//     cannot happen.
//
// Members learn each other's state from the clock sample each takes of
// the others once a second (ClockReading.NoSpace).

// raftReserve is the free space kept beyond the latest snapshot's size.
const raftReserve = 16 << 20

// spaceCheckEvery bounds how often the guard asks the filesystem (statfs
// costs a few microseconds; a longer cache would let a write through to
// Raft just after the disk filled, which costs the leadership).
const spaceCheckEvery = 10 * time.Millisecond

// spaceWatchEvery is how often a leader measures on its own, so that it
// hands leadership over even when no write comes.
const spaceWatchEvery = 250 * time.Millisecond

// handOverEvery bounds how often one node hands leadership over for lack
// of space: a voter that reported room but was about to run short too
// costs one more election, never a series.
const handOverEvery = 10 * time.Second

// peerSpaceFresh is how long a member's report of its space is trusted
// (it is sampled once a second; downAfter is the same bound).
const peerSpaceFresh = downAfter

// Before a leader refuses a write on its members' word, or hands over to
// one, it asks them again (reports are up to a second old: a member may
// have just freed space, or run short), at most every peerAskEvery and
// waiting at most peerAskWait.
const (
	peerAskEvery = 100 * time.Millisecond
	peerAskWait  = 300 * time.Millisecond
)

// SpaceStatus is the Raft directory's lack of space, in Status.
type SpaceStatus struct {
	Path      string    `json:"path"`
	FreeBytes int64     `json:"free_bytes"`
	Reserve   int64     `json:"reserve_bytes"`
	Since     time.Time `json:"since"`
	Message   string    `json:"message"`
	// RefusedEntries: this node, a follower, refused entries from the
	// leader and is behind the cluster until space is freed.
	RefusedEntries bool `json:"refused_entries,omitempty"`
}

// spaceGuard measures the free space of the Raft directory, at most every
// spaceCheckEvery, and remembers since when it is short. It also keeps
// what the other members last reported of theirs.
type spaceGuard struct {
	dir     string
	free    func(path string) (int64, error)
	reserve func() int64 // the reserve now (raftReserve + the latest snapshot)
	now     func() time.Time
	log     *slog.Logger // nil: silent

	mu       sync.Mutex
	checked  time.Time
	short    *SpaceStatus // nil: enough space
	refusing bool         // the last entries from a leader were refused
	peers    map[string]peerSpace
	asked    time.Time // when the members were last asked at once (askPeers)
}

// peerSpace is what a member last reported: dir is its Raft directory
// when it is short of space, "" when it has room.
type peerSpace struct {
	dir string
	at  time.Time
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
		g.logf(slog.LevelError, "the filesystem of the Raft log is short of space: refusing writes until space is freed",
			"dir", g.dir, "free_bytes", free, "reserve_bytes", reserve)
	case free < reserve:
		g.short.FreeBytes, g.short.Reserve = free, reserve
	case g.short != nil:
		g.logf(slog.LevelInfo, "the filesystem of the Raft log has space again", "dir", g.dir, "free_bytes", free)
		g.short, g.refusing = nil, false
	}
	if g.short != nil {
		g.short.Message = g.refusal().Error()
	}
}

func (g *spaceGuard) logf(level slog.Level, msg string, args ...any) {
	if g.log != nil {
		g.log.Log(context.Background(), level, msg, args...)
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
		g.logf(slog.LevelError, "the Raft log could not be written: no space left", "dir", g.dir)
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
	s.RefusedEntries = g.refusing
	return &s
}

// refused records whether the last entries a leader sent were refused
// for lack of space (cleared when entries are stored again).
func (g *spaceGuard) refused(yes bool) {
	g.mu.Lock()
	g.refusing = yes
	g.mu.Unlock()
}

// refusingEntries reports whether this node refuses a leader's entries
// now: it did the last time, and is still short of space.
func (g *spaceGuard) refusingEntries() bool {
	if g.check() == nil {
		return false
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.refusing
}

// shortDir is what this node reports to the others: its Raft directory
// while it is short of space, "" otherwise.
func (g *spaceGuard) shortDir() string {
	if g.check() != nil {
		return g.dir
	}
	return ""
}

// notePeer records what member id reported: dir is its Raft directory
// when it is short of space, "" when it has room.
func (g *spaceGuard) notePeer(id, dir string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.peers == nil {
		g.peers = map[string]peerSpace{}
	}
	g.peers[id] = peerSpace{dir: dir, at: g.now()}
}

// peer returns what member id reported within peerSpaceFresh: roomy is
// true when it has room; known is false when it reported nothing lately.
func (g *spaceGuard) peer(id string) (dir string, roomy, known bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	p, ok := g.peers[id]
	if !ok || g.now().Sub(p.at) > peerSpaceFresh || g.now().Before(p.at) {
		return "", false, false
	}
	return p.dir, p.dir == "", true
}

// askDue reports whether the members may be asked again now (at most
// every peerAskEvery), and if so records that they are.
func (g *spaceGuard) askDue() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	if now.Sub(g.asked) < peerAskEvery && !now.Before(g.asked) {
		return false
	}
	g.asked = now
	return true
}

// peersShort reports whether a member reported no room lately.
func (g *spaceGuard) peersShort() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	for _, p := range g.peers {
		if p.dir != "" && now.Sub(p.at) <= peerSpaceFresh && !now.Before(p.at) {
			return true
		}
	}
	return false
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
//
// The size is read from the snapshot store once (at start, after a
// restore) and then kept from each snapshot this node stores: the guard
// asks every 10 ms while writes go on, and the store's List reads every
// snapshot's metadata file and warns of a snapshot in progress ("found
// temporary snapshot") each time — a hundred lines a second for as long
// as a snapshot was being written.
func (s *Store) raftReserve() int64 {
	size := s.snapSize.Load() - 1
	if size < 0 {
		size = 0
		if metas, err := s.snaps.List(); err == nil && len(metas) > 0 {
			size = metas[0].Size
		}
		s.snapSize.CompareAndSwap(0, size+1) // a snapshot stored meanwhile wins
	}
	return raftReserve + size
}

// snapshotStored keeps the size of a snapshot this node stored (size)
// or, after a restore (size < 0), has the next reserve read it again.
func (s *Store) snapshotStored(size int64) {
	s.snapSize.Store(max(size+1, 0))
}

// guardedLogs is the log store Raft writes through. On a follower (and a
// candidate) it refuses entries while the guard is short of space: Raft
// answers the leader that they were not stored (the leader retries with
// backoff) and the space left stays for terms and votes, which Raft
// cannot fail to write. A leader's own writes pass: its commands were
// refused before Raft (applyLocal), and refusing the entries Raft appends
// on its own (a new term's, a configuration) would cost the leadership.
type guardedLogs struct {
	raft.LogStore
	guard  *spaceGuard
	leader func() bool // whether this node leads now
}

// raftLeader tells whether the Raft that r will hold leads. Raft stores
// entries from its own goroutines before NewRaft returns: until r is set,
// this node is not the leader.
func raftLeader(r *atomic.Pointer[raft.Raft]) func() bool {
	return func() bool {
		rf := r.Load()
		return rf != nil && rf.State() == raft.Leader
	}
}

// StoreLog stores one entry (as StoreLogs).
func (l *guardedLogs) StoreLog(log *raft.Log) error { return l.StoreLogs([]*raft.Log{log}) }

// StoreLogs stores entries unless this follower is short of space.
func (l *guardedLogs) StoreLogs(logs []*raft.Log) error {
	leader := l.leader()
	if !leader {
		if err := l.guard.check(); err != nil {
			l.guard.refused(true)
			return fmt.Errorf("not storing %d entries from the leader: %w", len(logs), err)
		}
	}
	err := l.LogStore.StoreLogs(logs)
	switch {
	case err == nil:
		l.guard.refused(false)
	case isNoSpace(err):
		l.guard.full()
		l.guard.refused(!leader)
	}
	return err
}

// IsMonotonic passes on what the store underneath says (raft asks).
func (l *guardedLogs) IsMonotonic() bool {
	m, ok := l.LogStore.(raft.MonotonicLogStore)
	return ok && m.IsMonotonic()
}

// spaceLoop measures the Raft directory while this node leads, so that a
// leader short of space hands leadership over without waiting for a write.
func (s *Store) spaceLoop(ctx context.Context) {
	for sleepCtx(ctx, spaceWatchEvery) == nil {
		if s.IsLeader() && s.space.check() != nil {
			s.handOver()
		}
	}
}

// handover is the state of handing leadership over for lack of space.
type handover struct {
	mu   sync.Mutex
	busy bool      // a transfer is under way
	last time.Time // when the last one started
}

// handOver starts handing leadership to a voter that reported room, if
// there is one and this node did not do so within handOverEvery. It
// reports whether a transfer is under way (writes should then wait for
// the new leader rather than be refused).
func (s *Store) handOver() bool {
	s.hand.mu.Lock()
	defer s.hand.mu.Unlock()
	if s.hand.busy {
		return true
	}
	now := s.now()
	if !s.hand.last.IsZero() && now.Sub(s.hand.last) < handOverEvery && !now.Before(s.hand.last) {
		return false
	}
	to, ok := roomyVoter(s.servers(), s.cfg.NodeID, s.space)
	if ok {
		// Its report may be a second old: ask again.
		s.askPeers(context.Background(), string(to.ID))
		to, ok = roomyVoter(s.servers(), s.cfg.NodeID, s.space)
	}
	if !ok || !s.IsLeader() || s.ctx.Err() != nil {
		return false
	}
	s.hand.busy, s.hand.last = true, now
	s.log.Warn("the Raft log's filesystem is short of space: handing leadership to a member with room",
		"to", string(to.ID), "dir", s.space.dir)
	f := s.raft.LeadershipTransferToServer(to.ID, to.Address)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		err := waitFuture(s.ctx, f)
		s.hand.mu.Lock()
		s.hand.busy = false
		s.hand.mu.Unlock()
		if err != nil {
			s.log.Warn("handing leadership over for lack of space failed", "to", string(to.ID), "err", err)
		}
	}()
	return true
}

// askPeers asks members ids for their space now, all at once, waiting at
// most peerAskWait (and not again within peerAskEvery): a member that
// answers updates its report, one that does not keeps the last.
func (s *Store) askPeers(ctx context.Context, ids ...string) {
	if !s.space.askDue() {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, peerAskWait)
	defer cancel()
	nodes := s.fsm.nodes()
	var wg sync.WaitGroup
	for _, id := range ids {
		if m, ok := nodes[id]; ok && m.AdminAddr != "" && id != s.cfg.NodeID {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s.clock.sample(ctx, m.AdminAddr)
			}()
		}
	}
	wg.Wait()
}

// checkQuorumSpace refuses a write while no majority of voters has room
// (quorumShort), once the members that said they have none confirmed it.
func (s *Store) checkQuorumSpace(ctx context.Context) error {
	if !s.space.peersShort() {
		return nil
	}
	servers := s.servers()
	if quorumShort(servers, s.cfg.NodeID, s.space) == nil {
		return nil
	}
	var ids []string
	for _, srv := range servers {
		ids = append(ids, string(srv.ID))
	}
	s.askPeers(ctx, ids...)
	return quorumShort(servers, s.cfg.NodeID, s.space)
}

// servers is Raft's latest configuration (nil when it cannot be read).
func (s *Store) servers() []raft.Server {
	f := s.raft.GetConfiguration()
	if f.Error() != nil {
		return nil
	}
	return f.Configuration().Servers
}

// roomyVoter is a voter other than self that reported room lately (the
// first by ID).
func roomyVoter(servers []raft.Server, self string, g *spaceGuard) (raft.Server, bool) {
	servers = append([]raft.Server(nil), servers...)
	sort.Slice(servers, func(i, j int) bool { return servers[i].ID < servers[j].ID })
	for _, srv := range servers {
		if srv.Suffrage != raft.Voter || string(srv.ID) == self {
			continue
		}
		if _, roomy, _ := g.peer(string(srv.ID)); roomy {
			return srv, true
		}
	}
	return raft.Server{}, false
}

// quorumShort refuses a write, naming their directories, while so many
// voters reported no room that no majority could store it. Self is taken
// to have room (applyLocal checked it first); a voter that reported
// nothing lately too: it is down or slow, and Raft deals with that.
func quorumShort(servers []raft.Server, self string, g *spaceGuard) error {
	voters, roomy := 0, 0
	var short []string
	for _, srv := range servers {
		if srv.Suffrage != raft.Voter {
			continue
		}
		voters++
		if string(srv.ID) == self {
			roomy++
			continue
		}
		if dir, ok, known := g.peer(string(srv.ID)); ok || !known {
			roomy++
		} else {
			short = append(short, string(srv.ID)+":"+dir)
		}
	}
	if roomy > voters/2 {
		return nil
	}
	sort.Strings(short)
	return apierr.Errorf(apierr.NoSpace, "no space left on %s: free space and retry", strings.Join(short, ", "))
}
