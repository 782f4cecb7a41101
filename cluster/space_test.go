package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/tandemcc/tandem/internal/apierr"
	"github.com/tandemcc/tandem/internal/tmpfstest"
)

func TestSpaceGuard(t *testing.T) {
	now := time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)
	free := int64(100 << 20)
	g := newSpaceGuard("/data/raft", func(string) (int64, error) { return free, nil },
		func() int64 { return 16 << 20 }, func() time.Time { return now })
	if err := g.check(); err != nil || g.status() != nil {
		t.Fatalf("with 100 MiB free: %v %+v", err, g.status())
	}
	free = 1 << 20
	if err := g.check(); err != nil {
		t.Fatalf("measured again within %v: %v", spaceCheckEvery, err)
	}
	now = now.Add(spaceCheckEvery)
	err := g.check()
	if e := apierr.From(err); e.Code != apierr.NoSpace || e.Status() != 507 || e.Message != "no space left on /data/raft: free space and retry" {
		t.Fatalf("short of space: %v (%+v)", err, e)
	}
	since := now
	now = now.Add(time.Second)
	st := g.status()
	if st == nil || st.FreeBytes != 1<<20 || st.Reserve != 16<<20 || !st.Since.Equal(since) || !strings.Contains(st.Message, "free space and retry") {
		t.Fatalf("status while short: %+v", st)
	}
	free = 64 << 20
	now = now.Add(time.Second)
	if err := g.check(); err != nil || g.status() != nil {
		t.Fatalf("space again: %v %+v", err, g.status())
	}
	// Raft failing to write (the disk filled between two measures)
	// refuses at once, until a measure finds space.
	g.full()
	if g.check() == nil {
		t.Fatal("a full disk reported by Raft was not refused")
	}
	now = now.Add(spaceCheckEvery)
	if err := g.check(); err != nil {
		t.Fatalf("measured space after a failed write: %v", err)
	}
	// Where free space is not measured, writes go on.
	g = newSpaceGuard("/data/raft", func(string) (int64, error) { return 0, errors.ErrUnsupported },
		func() int64 { return 16 << 20 }, func() time.Time { return now })
	if err := g.check(); err != nil {
		t.Fatalf("unmeasured: %v", err)
	}
}

func TestIsNoSpace(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{fmt.Errorf("write raft.db: %w", syscall.ENOSPC), true},
		{syscall.EDQUOT, true},
		{errors.New(`unable to store logs within log store, err: "write /d/raft/raft.db: no space left on device"`), true},
		{errors.New("leadership lost"), false},
		{nil, false},
	} {
		if got := isNoSpace(tc.err); got != tc.want {
			t.Errorf("isNoSpace(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

// A follower's refusal of the leader's entries, and what members report
// of their space, as the guard keeps them.
func TestSpaceGuardEntriesAndPeers(t *testing.T) {
	now := time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)
	free := int64(1 << 20)
	g := newSpaceGuard("/data/raft", func(string) (int64, error) { return free, nil },
		func() int64 { return 16 << 20 }, func() time.Time { return now })
	if g.refusingEntries() {
		t.Fatal("refusing entries before any was refused")
	}
	if g.shortDir() != "/data/raft" {
		t.Fatalf("shortDir while short: %q", g.shortDir())
	}
	g.refused(true)
	if !g.refusingEntries() || !g.status().RefusedEntries {
		t.Fatalf("after refusing entries: refusing %v, status %+v", g.refusingEntries(), g.status())
	}
	// Space again: a measure clears the refusal with the shortage.
	free = 64 << 20
	now = now.Add(spaceCheckEvery)
	if g.refusingEntries() || g.status() != nil || g.shortDir() != "" {
		t.Fatalf("with space again: refusing %v, status %+v, shortDir %q", g.refusingEntries(), g.status(), g.shortDir())
	}

	g.notePeer("n2", "/n2/raft")
	g.notePeer("n3", "")
	for _, tc := range []struct {
		id           string
		dir          string
		roomy, known bool
	}{
		{"n2", "/n2/raft", false, true},
		{"n3", "", true, true},
		{"n4", "", false, false},
	} {
		dir, roomy, known := g.peer(tc.id)
		if dir != tc.dir || roomy != tc.roomy || known != tc.known {
			t.Errorf("peer(%s) = %q %v %v, want %q %v %v", tc.id, dir, roomy, known, tc.dir, tc.roomy, tc.known)
		}
	}
	if !g.peersShort() {
		t.Error("peersShort false while n2 reported no room")
	}
	// A report older than peerSpaceFresh is not trusted either way.
	now = now.Add(peerSpaceFresh + time.Millisecond)
	if _, _, known := g.peer("n3"); known || g.peersShort() {
		t.Errorf("a stale report still counts: known %v, peersShort %v", known, g.peersShort())
	}
}

// guardedLogs refuses a follower's entries while short of space, passes
// a leader's, and turns the store's own ENOSPC into a full guard.
func TestGuardedLogs(t *testing.T) {
	for _, tc := range []struct {
		name     string
		leader   bool
		free     int64
		storeErr error
		wantErr  string
		stored   bool
		refusing bool
	}{
		{"follower with room", false, 64 << 20, nil, "", true, false},
		{"follower short", false, 1 << 20, nil, "not storing 2 entries from the leader: no space left on /data/raft: free space and retry", false, true},
		{"leader short", true, 1 << 20, nil, "", true, false},
		{"follower, the disk filled between measures", false, 64 << 20, fmt.Errorf("write raft.db: %w", syscall.ENOSPC), "no space left on device", false, true},
		{"leader, the disk filled between measures", true, 64 << 20, fmt.Errorf("write raft.db: %w", syscall.ENOSPC), "no space left on device", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now := time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)
			g := newSpaceGuard("/data/raft", func(string) (int64, error) { return tc.free, nil },
				func() int64 { return 16 << 20 }, func() time.Time { return now })
			inner := &failingLogs{InmemStore: raft.NewInmemStore(), err: tc.storeErr}
			l := &guardedLogs{LogStore: inner, guard: g, leader: func() bool { return tc.leader }}
			err := l.StoreLogs([]*raft.Log{{Index: 1, Term: 1}, {Index: 2, Term: 1}})
			if (err == nil) != (tc.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("StoreLogs: %v, want %q", err, tc.wantErr)
			}
			if last, _ := inner.LastIndex(); (last == 2) != tc.stored {
				t.Errorf("last index %d, stored want %v", last, tc.stored)
			}
			if got := g.refusingEntries(); got != tc.refusing {
				t.Errorf("refusingEntries %v, want %v", got, tc.refusing)
			}
			if tc.storeErr != nil && g.check() == nil {
				t.Error("ENOSPC from the store did not mark the guard short")
			}
		})
	}
}

// failingLogs is an in-memory log store whose StoreLogs fails with err.
type failingLogs struct {
	*raft.InmemStore
	err error
}

func (f *failingLogs) StoreLogs(logs []*raft.Log) error {
	if f.err != nil {
		return f.err
	}
	return f.InmemStore.StoreLogs(logs)
}

// Which voter a short leader hands over to, and when a write is refused
// because no majority has room.
func TestRoomyVoterAndQuorum(t *testing.T) {
	now := time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)
	voter := func(id string) raft.Server {
		return raft.Server{ID: raft.ServerID(id), Address: raft.ServerAddress(id + ":7000"), Suffrage: raft.Voter}
	}
	nonvoter := raft.Server{ID: "n0", Address: "n0:7000", Suffrage: raft.Nonvoter}
	three := []raft.Server{voter("n3"), voter("n1"), voter("n2"), nonvoter}
	for _, tc := range []struct {
		name    string
		reports map[string]string // id -> reported dir ("" has room)
		to      string            // roomyVoter, "" none
		refuse  string            // quorumShort's message, "" none
	}{
		{"nobody reported", nil, "", ""},
		{"all roomy", map[string]string{"n2": "", "n3": ""}, "n2", ""},
		{"one short", map[string]string{"n2": "/n2/raft", "n3": ""}, "n3", ""},
		{"a nonvoter is no target", map[string]string{"n0": "", "n2": "/n2/raft"}, "", ""},
		{"both others short", map[string]string{"n2": "/n2/raft", "n3": "/n3/raft"}, "",
			"no space left on n2:/n2/raft, n3:/n3/raft: free space and retry"},
		{"one short, one silent", map[string]string{"n3": "/n3/raft"}, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newSpaceGuard("/n1/raft", func(string) (int64, error) { return 64 << 20, nil },
				func() int64 { return 16 << 20 }, func() time.Time { return now })
			for id, dir := range tc.reports {
				g.notePeer(id, dir)
			}
			srv, ok := roomyVoter(three, "n1", g)
			if got := string(srv.ID); ok != (tc.to != "") || got != tc.to {
				t.Errorf("roomyVoter = %q %v, want %q", got, ok, tc.to)
			}
			err := quorumShort(three, "n1", g)
			if tc.refuse == "" && err != nil || tc.refuse != "" && (err == nil || err.Error() != tc.refuse) {
				t.Errorf("quorumShort = %v, want %q", err, tc.refuse)
			}
			if e := apierr.From(err); err != nil && e.Code != apierr.NoSpace {
				t.Errorf("quorumShort's refusal is %s, want no_space", e.Code)
			}
		})
	}
}

// spaceNode is one in-process member of a three-node cluster whose free
// space the test sets; its peer protocol is served over HTTP as tandemd
// serves it.
type spaceNode struct {
	st      *Store
	free    atomic.Int64
	handler atomic.Value // http.Handler, once the store is open
}

const plenty, scarce = int64(1 << 30), int64(1 << 20)

// setFree changes the free space n's guard sees, and has its next check
// measure it: the guard measures at most every spaceCheckEvery, and on a
// fast machine a test's next writes all came within that interval of the
// last measurement (the short leader kept writing and never handed over).
func (n *spaceNode) setFree(free int64) {
	n.free.Store(free)
	if n.st == nil {
		return
	}
	g := n.st.space
	g.mu.Lock()
	g.checked = time.Time{}
	g.mu.Unlock()
}

func startSpaceCluster(t *testing.T) []*spaceNode {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	nodes := make([]*spaceNode, 3)
	var first string
	for i := range nodes {
		n := &spaceNode{}
		n.setFree(plenty)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if h, ok := n.handler.Load().(http.Handler); ok {
				h.ServeHTTP(w, r)
				return
			}
			http.Error(w, "starting", http.StatusServiceUnavailable)
		}))
		t.Cleanup(srv.Close)
		cfg := Config{
			NodeID: fmt.Sprintf("n%d", i+1), RaftAddr: freeRaftAddr(t), AdminURL: srv.URL, DataDir: t.TempDir(),
			Token: "t", Machines: []Machine{timeMachine{}}, Logger: slog.New(slog.DiscardHandler),
			freeSpace: func(string) (int64, error) { return n.free.Load(), nil },
		}
		if i == 0 {
			first = srv.URL
		} else {
			cfg.Join = first
		}
		st, err := Open(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		n.st = st
		n.handler.Store(st.PeerHandler())
		t.Cleanup(func() {
			cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			st.Close(cctx)
		})
		if i == 0 {
			waitLeading(t, st, 20*time.Second)
		}
		nodes[i] = n
	}
	waitUntil(t, 20*time.Second, "three voters that agree on a leader", func() (bool, string) {
		seen := ""
		for _, n := range nodes {
			st := n.st.Status()
			seen += fmt.Sprintf("%s: %s leader %q voters %d ready %v; ", st.NodeID, st.Role, st.LeaderID, len(st.Nodes), st.Ready)
			if !st.Ready || len(st.Nodes) != 3 || st.LeaderID != nodes[0].st.LeaderID() {
				return false, seen
			}
		}
		return true, ""
	})
	return nodes
}

func waitUntil(t *testing.T, within time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		ok, msg := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %v; last: %s", what, within, msg)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func spaceLeader(t *testing.T, nodes []*spaceNode) (leader *spaceNode, others []*spaceNode) {
	t.Helper()
	// One leader that every other member follows: just after a handover
	// the former leader may still think it leads for a moment.
	waitUntil(t, 10*time.Second, "a leader the others follow", func() (bool, string) {
		leader, others = nil, nil
		var leaders []string
		for _, n := range nodes {
			if n.st.IsLeader() {
				leader = n
				leaders = append(leaders, n.st.NodeID())
			} else {
				others = append(others, n)
			}
		}
		if len(leaders) != 1 {
			return false, fmt.Sprintf("leaders %v", leaders)
		}
		for _, n := range others {
			if n.st.LeaderID() != leader.st.NodeID() {
				return false, n.st.NodeID() + " follows " + n.st.LeaderID()
			}
		}
		return true, ""
	})
	return leader, others
}

func propose(t *testing.T, via *spaceNode) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := via.st.Propose(ctx, "tm.now", nil)
	return err
}

// caughtUp waits until n applied everything the leader committed.
func caughtUp(t *testing.T, n, leader *spaceNode) {
	t.Helper()
	waitUntil(t, 20*time.Second, n.st.NodeID()+" to catch up", func() (bool, string) {
		want := leader.st.raft.CommitIndex()
		return n.st.AppliedIndex() >= want, fmt.Sprintf("applied %d of %d", n.st.AppliedIndex(), want)
	})
}

// Three in-process members with injected free space: a follower short of
// space refuses entries without an election and catches up once it has
// room; a leader short of space hands leadership to a member with room,
// writes through it carry on; a leader whose followers are both short
// refuses writes with the one no_space line naming them.
func TestSpaceThreeNodes(t *testing.T) {
	nodes := startSpaceCluster(t)
	leader, others := spaceLeader(t, nodes)
	term := leader.st.raft.CurrentTerm()

	// A follower short of space.
	full := others[0]
	full.setFree(scarce)
	for i := 0; i < 20; i++ {
		n := []*spaceNode{leader, others[1]}[i%2]
		if err := propose(t, n); err != nil {
			t.Fatalf("write %d through %s with a short follower: %v", i, n.st.NodeID(), err)
		}
	}
	waitUntil(t, 5*time.Second, full.st.NodeID()+" to refuse entries", func() (bool, string) {
		ns := full.st.Status().NoSpace
		return ns != nil && ns.RefusedEntries, fmt.Sprintf("%+v", ns)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	start := time.Now()
	err := full.st.WaitApplied(ctx, leader.st.raft.CommitIndex())
	cancel()
	if e := apierr.From(err); e == nil || e.Code != apierr.NoSpace || time.Since(start) > time.Second {
		t.Errorf("waiting on the short follower: %v after %v; want no_space at once", err, time.Since(start))
	}
	waitUntil(t, 5*time.Second, "the leader to list "+full.st.NodeID()+" short of space", func() (bool, string) {
		for _, m := range leader.st.Status().Nodes {
			if m.ID == full.st.NodeID() {
				return m.NoSpace == full.st.space.dir, fmt.Sprintf("%+v", m)
			}
		}
		return false, "not listed"
	})
	full.setFree(plenty)
	if err := propose(t, leader); err != nil {
		t.Fatal(err)
	}
	caughtUp(t, full, leader)
	if now := leader.st.raft.CurrentTerm(); now != term || !leader.st.IsLeader() {
		t.Fatalf("after a follower ran short: term %d -> %d, leader still %v", term, now, leader.st.IsLeader())
	}

	// The leader short of space hands over.
	waitUntil(t, 5*time.Second, "the leader to see every member with room", func() (bool, string) {
		_, ok := roomyVoter(leader.st.servers(), leader.st.NodeID(), leader.st.space)
		return ok && !leader.st.space.peersShort(), "not yet"
	})
	leader.setFree(scarce)
	for i := 0; i < 10; i++ {
		if err := propose(t, leader); err != nil {
			t.Fatalf("write %d through the short leader: %v", i, err)
		}
	}
	next, rest := spaceLeader(t, nodes)
	if next == leader {
		t.Fatal("the short leader kept the leadership while two members have room")
	}
	if now := next.st.raft.CurrentTerm(); now != term+1 {
		t.Errorf("handing over took the term from %d to %d; want one election", term, now)
	}
	for _, n := range rest {
		if n != leader {
			if err := propose(t, n); err != nil {
				t.Fatalf("write through %s after the handover: %v", n.st.NodeID(), err)
			}
		}
	}
	leader.setFree(plenty)
	caughtUp(t, leader, next)

	// No majority with room: the leader refuses at once, naming them.
	leader = next
	for _, n := range nodes {
		if n != leader {
			n.setFree(scarce)
		}
	}
	// (A write in the second before the leader hears of it waits for
	// its deadline: the followers refuse its entry.)
	waitUntil(t, 5*time.Second, "the leader to hear both followers are short", func() (bool, string) {
		return quorumShort(leader.st.servers(), leader.st.NodeID(), leader.st.space) != nil, "not yet"
	})
	err = propose(t, leader)
	if e := apierr.From(err); e == nil || e.Code != apierr.NoSpace || strings.Count(e.Message, "/raft") != 2 ||
		!strings.HasSuffix(e.Message, ": free space and retry") {
		t.Fatalf("a write with both followers short: %v; want no_space naming both", err)
	}
	for _, n := range nodes {
		n.setFree(plenty)
	}
	waitUntil(t, 5*time.Second, "writes once space is back", func() (bool, string) {
		err := propose(t, leader)
		return err == nil, fmt.Sprint(err)
	})
}

// On a real filesystem filled to the last byte (tmpfs, as root), a
// follower's guarded log refuses the leader's entries, and the store the
// node opens can still write terms and votes: Raft panics when it cannot
// write a term, and a full follower still takes part in elections (a
// leader short of space hands over to another). bbolt rewrites pages its
// earlier transactions freed, so these writes need no new space.
func TestGuardedLogsFullTmpfs(t *testing.T) {
	mnt := tmpfstest.Mount(t, 24<<20)
	now := time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)
	s := &Store{cfg: Config{DataDir: filepath.Join(mnt, "data"), Now: func() time.Time { return now }},
		log: slog.New(slog.DiscardHandler)}
	if err := s.openStorage(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer s.closeStorage()
	l := &guardedLogs{LogStore: s.logs, guard: s.space, leader: func() bool { return false }}
	for i := uint64(1); i <= 200; i++ {
		if err := l.StoreLogs([]*raft.Log{{Index: i, Term: 1, Data: make([]byte, 512)}}); err != nil {
			t.Fatalf("storing entry %d with room: %v", i, err)
		}
	}
	tmpfstest.Fill(t, filepath.Join(mnt, "filler"))
	now = now.Add(spaceCheckEvery) // the guard measures again
	err := l.StoreLogs([]*raft.Log{{Index: 201, Term: 1}})
	if e := apierr.From(err); e == nil || e.Code != apierr.NoSpace || !strings.Contains(err.Error(), "no space left on "+s.space.dir) {
		t.Fatalf("storing an entry on a full disk: %v; want the guard's no_space", err)
	}
	for term := uint64(2); term < 50; term++ {
		if err := s.logs.SetUint64([]byte("CurrentTerm"), term); err != nil {
			t.Fatalf("writing term %d on a full disk: %v", term, err)
		}
		if err := s.logs.Set([]byte("LastVoteCand"), []byte("n2")); err != nil {
			t.Fatalf("writing a vote in term %d on a full disk: %v", term, err)
		}
	}
}
