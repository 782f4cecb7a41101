package backup

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/tandemcc/tandem/cluster"
	"github.com/tandemcc/tandem/contactcenter"
	"github.com/tandemcc/tandem/replication"
)

// testNode is a real one-node cluster (Raft, bbolt log, the engine) the
// backups of these tests are taken from and restored into.
type testNode struct {
	t      *testing.T
	dir    string
	addr   string
	eng    *contactcenter.Engine
	st     *cluster.Store
	timing cluster.Timing
	j      *Journal // the node's backup journal (nil: incrementals read the log)
}

func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// testEngine is what tandemctl restore replays through (no gate here,
// as the test nodes run none).
func testEngine() ([]cluster.Machine, []cluster.Machine, cluster.Gate) {
	return []cluster.Machine{contactcenter.New()}, []cluster.Machine{replication.NewControl()}, nil
}

var quietTiming = cluster.Timing{Heartbeat: 400 * time.Millisecond, Election: 400 * time.Millisecond,
	LeaderLease: 400 * time.Millisecond, Commit: 10 * time.Millisecond,
	SnapshotThreshold: 1 << 20, SnapshotInterval: time.Hour}

// startNode opens (or reopens) a node on dir with id n1 and waits until
// it leads and is ready.
func startNode(t *testing.T, dir, addr, id string, timing cluster.Timing) *testNode {
	t.Helper()
	return startNodeJournal(t, dir, addr, id, timing, true)
}

// startNodeJournal is startNode with or without the backup journal as a
// sink of the node's FSM (as tandemd runs it with --backup-dir).
func startNodeJournal(t *testing.T, dir, addr, id string, timing cluster.Timing, journal bool) *testNode {
	t.Helper()
	n := &testNode{t: t, dir: dir, addr: addr, eng: contactcenter.New(), timing: timing}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var sinks []cluster.EventSink
	if journal {
		j, err := OpenJournal(dir, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		n.j = j
		sinks = append(sinks, j)
	}
	st, err := cluster.Open(ctx, cluster.Config{
		NodeID: id, RaftAddr: addr, AdminURL: "http://127.0.0.1:1", DataDir: dir, Token: "t",
		Machines: []cluster.Machine{n.eng}, Control: []cluster.Machine{replication.NewControl()},
		Logger: slog.New(slog.DiscardHandler), Timing: timing, Sinks: sinks,
	})
	if err != nil {
		n.j.Close()
		t.Fatal(err)
	}
	n.st = st
	t.Cleanup(func() { n.close() })
	deadline := time.Now().Add(30 * time.Second)
	for !(st.Ready() && st.IsLeader()) {
		if time.Now().After(deadline) {
			t.Fatal("node not ready after 30s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	return n
}

func (n *testNode) discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

func (n *testNode) close() {
	if n.st != nil {
		n.st.Close(context.Background())
		n.st = nil
	}
	if n.j != nil {
		n.j.Close()
		n.j = nil
	}
}

// configure applies a configuration with queues and agents from..to.
func (n *testNode) configure(from, to int) {
	n.t.Helper()
	doc := "queues:\n"
	for i := from; i < to; i++ {
		doc += fmt.Sprintf("  - {id: q%03d, name: Queue %d}\n", i, i)
	}
	doc += "agents:\n"
	for i := from; i < to; i++ {
		doc += fmt.Sprintf("  - {id: a%03d, name: Agent %d, queues: [q%03d]}\n", i, i, i)
	}
	d, err := contactcenter.ParseDocument([]byte(doc))
	if err != nil {
		n.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := n.st.Propose(ctx, contactcenter.TypeConfigApply, contactcenter.ApplyRequest{Document: d}); err != nil {
		n.t.Fatal(err)
	}
}

// noops commits k no-op commands (log entries that change no engine).
func (n *testNode) noops(k int) {
	n.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for i := 0; i < k; i++ {
		if _, err := n.st.Propose(ctx, cluster.TypeNoop, nil); err != nil {
			n.t.Fatal(err)
		}
	}
}

func (n *testNode) manager(dir string, key *Key, keep int, clock Clock) *Manager {
	n.t.Helper()
	m, err := New(Config{Settings: Settings{Dir: dir, Key: key, KeepFull: keep, Location: time.UTC},
		NodeID: "n1", DataDir: n.dir, Source: n.st, Logger: slog.New(slog.DiscardHandler), Clock: clock, Journal: n.j})
	if err != nil {
		n.t.Fatal(err)
	}
	return m
}

func take(t *testing.T, m *Manager, level int) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r, err := m.Take(ctx, level)
	if err != nil {
		t.Fatal(err)
	}
	if r.Result != ResultOK {
		t.Fatalf("level %d backup: %s %s", level, r.Result, r.Error)
	}
	return r
}

// steppingClock is a real-enough clock whose Now moves a minute per
// reading, so that each backup gets its own ID.
type steppingClock struct{ t time.Time }

func (c *steppingClock) Now() time.Time {
	c.t = c.t.Add(time.Minute)
	return c.t
}
func (c *steppingClock) After(d time.Duration) <-chan time.Time { return time.After(d) }
