package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tandemcc/tandem/internal/pgtest"
)

// The replication tests (issue #4) run tandemd with --reporting-dsn
// against a real, throwaway PostgreSQL (internal/pgtest) that they stop and
// start to rehearse outages. What PostgreSQL holds is compared with what
// the cluster committed: every `tandemctl apply` answers with the Raft
// index of its command and how many objects it created, and the engine
// emits one event per created object, in a fixed order (kind, then id), so
// the tests know exactly which rows (raft_index, seq, type, id) must exist.

// waitReplDrain bounds the delivery of a backlog once PostgreSQL is back (the
// deliverer's back-off is at most 5 s).
const waitReplDrain = 60 * time.Second

// ---------------------------------------------------------------- PostgreSQL side

// replDB is one throwaway PostgreSQL server and the database the
// nodes deliver into.
type replDB struct {
	t       *testing.T
	srv     *pgtest.Server
	dsn     string // what tandemd gets (may carry a password)
	readDSN string // what the test reads with (the superuser)
	cluster string // --reporting-cluster
}

func startReplDB(t *testing.T, cluster string) *replDB {
	t.Helper()
	srv := pgtest.Start(t)
	dsn := srv.NewDatabase(t)
	return &replDB{t: t, srv: srv, dsn: dsn, readDSN: dsn, cluster: cluster}
}

// replEventRow is one row of tandem.events.
type replEventRow struct {
	Index uint64
	Seq   int
	Type  string
	ID    string // data->>'id'
}

// replDeliveryRow is the cluster's row of tandem.delivery.
type replDeliveryRow struct {
	Index  uint64
	Seq    int
	Events int64 // events Deliver reports it wrote
}

// read returns the cluster's events in position order and its delivery
// row. Any error (server down, schema not created yet) is returned, for
// polls to retry.
func (db *replDB) read() ([]replEventRow, replDeliveryRow, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var del replDeliveryRow
	cfg, err := pgx.ParseConfig(db.readDSN)
	if err != nil {
		return nil, del, err
	}
	cfg.ConnectTimeout = 3 * time.Second
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, del, err
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(ctx, `
SELECT e.raft_index, e.seq, e.type, coalesce(e.data->>'id', '')
  FROM tandem.events e JOIN tandem.clusters c USING (cluster_id)
 WHERE c.name = $1
 ORDER BY e.raft_index, e.seq`, db.cluster)
	if err != nil {
		return nil, del, err
	}
	var out []replEventRow
	for rows.Next() {
		var (
			r   replEventRow
			idx int64
			seq int32
		)
		if err := rows.Scan(&idx, &seq, &r.Type, &r.ID); err != nil {
			rows.Close()
			return nil, del, err
		}
		r.Index, r.Seq = uint64(idx), int(seq)
		out = append(out, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, del, err
	}
	var (
		idx int64
		seq int32
	)
	err = conn.QueryRow(ctx, `
SELECT d.raft_index, d.seq, d.events
  FROM tandem.delivery d JOIN tandem.clusters c USING (cluster_id)
 WHERE c.name = $1`, db.cluster).Scan(&idx, &seq, &del.Events)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return nil, del, err
	}
	del.Index, del.Seq = uint64(idx), int(seq)
	return out, del, nil
}

func (db *replDB) mustRead() ([]replEventRow, replDeliveryRow) {
	db.t.Helper()
	rows, del, err := db.read()
	if err != nil {
		db.t.Fatalf("reading the reporting database: %v", err)
	}
	return rows, del
}

// ---------------------------------------------------------------- what was committed

// replWantEvent is one event the engine must have emitted.
type replWantEvent struct{ Type, ID string }

// replLedger records every committed apply: its Raft index and the events it
// produced, in seq order.
type replLedger struct {
	mu      sync.Mutex
	byIndex map[uint64][]replWantEvent
}

func newReplLedger() *replLedger { return &replLedger{byIndex: map[uint64][]replWantEvent{}} }

func (l *replLedger) total() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, evs := range l.byIndex {
		n += len(evs)
	}
	return n
}

func (l *replLedger) indexes() []uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []uint64
	for i := range l.byIndex {
		out = append(out, i)
	}
	sort.Slice(out, func(a, b int) bool { return out[a] < out[b] })
	return out
}

// replConfigDoc is a configuration file of new queues and contacts, and the
// events applying it emits (queues before contacts, each by id).
type replConfigDoc struct {
	name string
	yaml string
	want []replWantEvent
}

// replDoc builds a document of fresh objects named after batch; pad makes
// every contact about 3×pad bytes larger (pad ≤ 128).
func replDoc(batch string, queues, contacts, pad int) replConfigDoc {
	var b strings.Builder
	d := replConfigDoc{name: batch}
	if queues > 0 {
		b.WriteString("queues:\n")
		for i := 0; i < queues; i++ {
			id := fmt.Sprintf("q-%s-%03d", batch, i)
			fmt.Fprintf(&b, "  - id: %s\n    name: Queue %s %d\n    strategy: round-robin\n", id, batch, i)
			d.want = append(d.want, replWantEvent{"config.queue.created", id})
		}
	}
	if contacts > 0 {
		b.WriteString("contacts:\n")
		for i := 0; i < contacts; i++ {
			id := fmt.Sprintf("c-%s-%04d", batch, i)
			fill := func(what string) string {
				s := fmt.Sprintf("%s %s %d ", what, batch, i)
				for len(s) < pad {
					s += "abcdefghijklmnopqrstuvwxyz"
				}
				if pad > 0 && len(s) > pad {
					s = s[:pad]
				}
				return strings.TrimSpace(s)
			}
			fmt.Fprintf(&b, "  - id: %s\n    first_name: %q\n    last_name: %q\n    company: %q\n",
				id, fill("First"), fill("Last"), fill("Company"))
			d.want = append(d.want, replWantEvent{"config.contact.created", id})
		}
	}
	d.yaml = b.String()
	return d
}

// applyDoc applies d through n with tandemctl and records in l what was
// committed. Every object of d must be new.
func (l *replLedger) applyDoc(t *testing.T, n *node, d replConfigDoc) uint64 {
	t.Helper()
	r := n.apply(d.yaml, "-o", "json")
	if r.code != 0 {
		t.Fatalf("applying %s through %s: %v", d.name, n.name(), r)
	}
	var res struct {
		Index  uint64 `json:"index"`
		Result struct {
			Created   int `json:"created"`
			Updated   int `json:"updated"`
			Removed   int `json:"removed"`
			Unchanged int `json:"unchanged"`
		} `json:"result"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil || res.Index == 0 {
		t.Fatalf("apply %s -o json: %v\n%s", d.name, err, r.stdout)
	}
	if res.Result.Created != len(d.want) || res.Result.Updated+res.Result.Removed != 0 {
		t.Fatalf("apply %s: %+v, want %d created and nothing else", d.name, res.Result, len(d.want))
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, dup := l.byIndex[res.Index]; dup {
		t.Fatalf("apply %s: index %d answered twice", d.name, res.Index)
	}
	l.byIndex[res.Index] = d.want
	return res.Index
}

// delivered reports whether every event of the replLedger and a membership
// event of every node are in rows, and the delivery row accounts for every
// row.
func (l *replLedger) delivered(rows []replEventRow, del replDeliveryRow, nodeIDs []string) (bool, string) {
	have := map[uint64]int{}
	nodes := map[string]bool{}
	for _, r := range rows {
		have[r.Index]++
		if strings.HasPrefix(r.Type, "cluster.node.") {
			nodes[r.ID] = true
		}
	}
	for _, id := range nodeIDs {
		if !nodes[id] {
			return false, fmt.Sprintf("no cluster.node event for %s yet (%d rows)", id, len(rows))
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	missing := 0
	for i, want := range l.byIndex {
		if have[i] < len(want) {
			missing += len(want) - have[i]
		}
	}
	if missing > 0 {
		return false, fmt.Sprintf("%d of the replLedger's events missing (%d rows, delivery at %d.%d)", missing, len(rows), del.Index, del.Seq)
	}
	if del.Events != int64(len(rows)) {
		return false, fmt.Sprintf("delivery row counts %d events, events holds %d rows", del.Events, len(rows))
	}
	return true, ""
}

// check compares rows exactly with the replLedger: no position twice, seq
// contiguous from 0 within every index, every replLedger index holding exactly
// its events (type and object id, in order), any other index holding only
// cluster membership or replication state events, each node recorded, and the delivery row
// counting every row once and standing at the last one.
func (l *replLedger) check(rows []replEventRow, del replDeliveryRow, nodeIDs []string) []string {
	var bad []string
	groups := map[uint64][]replEventRow{}
	var order []uint64
	for i, r := range rows {
		if i > 0 && rows[i-1].Index == r.Index && rows[i-1].Seq == r.Seq {
			bad = append(bad, fmt.Sprintf("position %d.%d stored twice", r.Index, r.Seq))
		}
		if _, ok := groups[r.Index]; !ok {
			order = append(order, r.Index)
		}
		groups[r.Index] = append(groups[r.Index], r)
	}
	for _, idx := range order {
		for s, r := range groups[idx] {
			if r.Seq != s {
				bad = append(bad, fmt.Sprintf("index %d: seq %d at place %d (gap or duplicate)", idx, r.Seq, s))
				break
			}
		}
	}
	l.mu.Lock()
	for idx, want := range l.byIndex {
		got := groups[idx]
		if len(got) != len(want) {
			bad = append(bad, fmt.Sprintf("index %d: %d rows, %d events committed", idx, len(got), len(want)))
			continue
		}
		for s, w := range want {
			if got[s].Type != w.Type || got[s].ID != w.ID {
				bad = append(bad, fmt.Sprintf("index %d seq %d: stored %s %q, committed %s %q", idx, s, got[s].Type, got[s].ID, w.Type, w.ID))
				break
			}
		}
	}
	seenNode := map[string]bool{}
	for _, idx := range order {
		if _, ok := l.byIndex[idx]; ok {
			continue
		}
		for _, r := range groups[idx] {
			// Besides membership, the replication commands the tests
			// send are committed, and their state events reported.
			if !strings.HasPrefix(r.Type, "cluster.node.") && !strings.HasPrefix(r.Type, "replication.") {
				bad = append(bad, fmt.Sprintf("index %d seq %d: %s %q was never applied by this test", idx, r.Seq, r.Type, r.ID))
			}
			seenNode[r.ID] = true
		}
	}
	l.mu.Unlock()
	for _, id := range nodeIDs {
		if !seenNode[id] {
			bad = append(bad, fmt.Sprintf("no cluster.node event for node %s", id))
		}
	}
	if del.Events != int64(len(rows)) {
		bad = append(bad, fmt.Sprintf("delivery row counts %d events written, events holds %d rows", del.Events, len(rows)))
	}
	if n := len(rows); n > 0 && (rows[n-1].Index != del.Index || rows[n-1].Seq != del.Seq) {
		bad = append(bad, fmt.Sprintf("delivery position %d.%d, last row %d.%d", del.Index, del.Seq, rows[n-1].Index, rows[n-1].Seq))
	}
	if len(bad) > 10 {
		bad = append(bad[:10], fmt.Sprintf("… and %d more", len(bad)-10))
	}
	return bad
}

// waitReported waits until PostgreSQL holds every event of the replLedger and
// then compares it exactly.
func (l *replLedger) waitReported(t *testing.T, db *replDB, within time.Duration, nodeIDs []string) []replEventRow {
	t.Helper()
	var rows []replEventRow
	var del replDeliveryRow
	waitFor(t, within, fmt.Sprintf("PostgreSQL to hold the %d committed events", l.total()), func() (bool, string) {
		var err error
		rows, del, err = db.read()
		if err != nil {
			return false, err.Error()
		}
		return l.delivered(rows, del, nodeIDs)
	})
	if bad := l.check(rows, del, nodeIDs); len(bad) > 0 {
		t.Fatalf("reporting database differs from what was committed (%d rows, %d applies):\n  %s",
			len(rows), len(l.indexes()), strings.Join(bad, "\n  "))
	}
	return rows
}

// ---------------------------------------------------------------- replication status

type replPosition struct {
	Index uint64 `json:"index"`
	Seq   int    `json:"seq"`
}

type replTarget struct {
	State         string       `json:"state"`
	BufferPercent float64      `json:"buffer_percent"`
	Reason        string       `json:"reason"`
	Rate          int          `json:"rate"`
	NeedsSync     bool         `json:"needs_sync"`
	Cursor        replPosition `json:"cursor"`
	Delivered     replPosition `json:"delivered"`
	BacklogEvents int64        `json:"backlog_events"`
	LastError     string       `json:"last_error"`
}

type replStatus struct {
	Leader        bool    `json:"leader"`
	BufferPercent float64 `json:"buffer_percent"`
	BufferBytes   int64   `json:"buffer_used_bytes"`
	BufferMax     int64   `json:"buffer_max_bytes"`
	Level         string  `json:"alarm_level"`
	LastAlarm     *struct {
		Severity string   `json:"severity"`
		Message  string   `json:"message"`
		Percent  float64  `json:"percent"`
		Stop     []string `json:"stop"`
	} `json:"last_alarm"`
	Targets map[string]replTarget `json:"targets"`
}

func (s replStatus) reporting() replTarget { return s.Targets["reporting"] }

func (s replStatus) String() string {
	r := s.reporting()
	return fmt.Sprintf("leader=%v buffer=%.1f%% level=%s reporting{state=%s backlog=%d buffer=%.1f%% cursor=%d.%d delivered=%d.%d needs_sync=%v last_error=%q}",
		s.Leader, s.BufferPercent, s.Level, r.State, r.BacklogEvents, r.BufferPercent, r.Cursor.Index, r.Cursor.Seq,
		r.Delivered.Index, r.Delivered.Seq, r.NeedsSync, r.LastError)
}

// replStatus runs `tandemctl replication status -o json` on the node.
func (n *node) replStatus() (replStatus, error) {
	var st replStatus
	r := n.ctl("replication", "status", "-o", "json")
	if r.code != 0 {
		return st, fmt.Errorf("%v", r)
	}
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
		return st, fmt.Errorf("tandemctl replication status -o json on %s: %v\n%s", n.name(), err, r.stdout)
	}
	return st, nil
}

func (n *node) mustReplStatus() replStatus {
	n.t.Helper()
	st, err := n.replStatus()
	if err != nil {
		n.t.Fatal(err)
	}
	return st
}

// waitRepl polls the node's replication status until cond holds.
func (n *node) waitRepl(within time.Duration, what string, cond func(replStatus) bool) replStatus {
	n.t.Helper()
	var st replStatus
	waitFor(n.t, within, n.name()+": "+what, func() (bool, string) {
		var err error
		if st, err = n.replStatus(); err != nil {
			return false, err.Error()
		}
		return cond(st), st.String()
	})
	return st
}

// ctlReplication is the replication section of `tandemctl status -o json`.
func (n *node) ctlReplication() map[string]struct {
	State         string  `json:"state"`
	BufferPercent float64 `json:"buffer_percent"`
} {
	n.t.Helper()
	var doc struct {
		Replication map[string]struct {
			State         string  `json:"state"`
			BufferPercent float64 `json:"buffer_percent"`
		} `json:"replication"`
	}
	r := n.ctl("status", "-o", "json").ok(n.t)
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		n.t.Fatalf("tandemctl status -o json: %v\n%s", err, r.stdout)
	}
	return doc.Replication
}

func (n *node) replMetrics() string {
	n.t.Helper()
	code, body, err := n.get("/metrics", false)
	if err != nil || code != http.StatusOK {
		n.t.Fatalf("%s /metrics: HTTP %d, %v", n.name(), code, err)
	}
	return string(body)
}

// replLabelledMetric returns the value of name{labels…} in /metrics text,
// whatever the order of the labels.
func replLabelledMetric(text, name string, labels map[string]string) (float64, bool) {
	for _, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(line, name+"{") {
			continue
		}
		end := strings.LastIndex(line, "}")
		if end < 0 {
			continue
		}
		match := true
		for k, v := range labels {
			if !strings.Contains(line[:end], fmt.Sprintf("%s=%q", k, v)) {
				match = false
			}
		}
		if !match {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(line[end+1:]), 64)
		return v, err == nil
	}
	return 0, false
}

// replLogRecords returns the node's JSON log records (other lines skipped).
func (n *node) replLogRecords() []map[string]any {
	var out []map[string]any
	for _, line := range strings.Split(n.log(), "\n") {
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

func replReportingArgs(db *replDB, more ...string) nodeOpt {
	return withArgs(append([]string{"--reporting-dsn", db.dsn, "--reporting-cluster", db.cluster}, more...)...)
}

func replNodeIDs(nodes []*node) []string {
	var ids []string
	for _, n := range nodes {
		ids = append(ids, n.id)
	}
	return ids
}

// ---------------------------------------------------------------- tests

// TestReplicationReportingCluster: three nodes deliver into one reporting
// database; every committed event arrives exactly once, through a
// PostgreSQL outage (the leader's backlog grows and shows the error, then
// drains), through a failover during an outage (the new leader delivers
// the backlog; the killed node comes back as a follower and delivers
// nothing twice) and through a failover in the middle of a rate-limited
// delivery.
func TestReplicationReportingCluster(t *testing.T) {
	besideTheBurst(t)
	db := startReplDB(t, "e2e-site")
	opts := map[int][]nodeOpt{}
	for i := 0; i < 3; i++ {
		opts[i] = []nodeOpt{replReportingArgs(db), withArgs("--bench-api")}
	}
	nodes := startCluster(t, "rp", 3, opts)
	ids := replNodeIDs(nodes)
	l := newReplLedger()

	began := time.Now()
	phase := func(what string) { t.Logf("%6.1fs %s", time.Since(began).Seconds(), what) }

	// 1. Several distinct files, through every node (followers forward).
	// A bench commit (a no-op command) in between must produce no row:
	// check below refuses any row it cannot account for.
	for i := 0; i < 6; i++ {
		l.applyDoc(t, nodes[i%3], replDoc(fmt.Sprintf("a%d", i), 3+i, 10*(i+1), 40))
		if i == 2 {
			code, body, err := nodes[1].do(http.MethodPost, "/v1/bench/commit", true,
				[]byte(strings.Repeat("x", 100<<10)), "application/octet-stream")
			if err != nil || code != http.StatusOK {
				t.Fatalf("POST /v1/bench/commit: HTTP %d %s %v", code, body, err)
			}
		}
	}
	l.waitReported(t, db, waitReplDrain, ids)
	leader := waitLeader(t, nodes, 3)
	st := leader.waitRepl(waitShort, "leader's reporting backlog empty", func(s replStatus) bool {
		return s.Leader && s.reporting().State == "active" && s.reporting().BacklogEvents == 0
	})
	if st.reporting().Delivered.Index == 0 {
		t.Errorf("leader's status shows nothing delivered: %v", st)
	}
	// Followers release what the leader delivered (they track the
	// database's position).
	for _, f := range followers(nodes, leader) {
		f.waitRepl(waitShort, "follower releases delivered events", func(s replStatus) bool {
			return !s.Leader && s.reporting().State == "active" && s.reporting().BacklogEvents == 0
		})
	}
	if rs := leader.ctlReplication()["reporting"]; rs.State != "active" {
		t.Errorf("tandemctl status: replication.reporting = %+v, want active", rs)
	}

	phase("phase 1 (delivery) checked")

	// 2. Outage: the leader keeps the events, reports the error, and
	// drains the backlog once PostgreSQL is back.
	db.srv.Stop(t)
	l.applyDoc(t, nodes[0], replDoc("b0", 2, 20, 40))
	st = leader.waitRepl(waitCluster, "backlog and last_error during the outage", func(s replStatus) bool {
		return s.reporting().BacklogEvents >= 22 && s.reporting().LastError != ""
	})
	before := st.reporting().BacklogEvents
	l.applyDoc(t, nodes[1], replDoc("b1", 1, 30, 40))
	l.applyDoc(t, nodes[2], replDoc("b2", 1, 30, 40))
	st = leader.waitRepl(waitShort, "backlog growing during the outage", func(s replStatus) bool {
		return s.reporting().BacklogEvents >= before+62 && s.reporting().LastError != "" && s.reporting().BufferPercent > 0
	})
	t.Logf("during the outage: %v", st)
	db.srv.Start(t)
	l.waitReported(t, db, waitReplDrain, ids)
	leader.waitRepl(waitReplDrain, "backlog drained and error cleared", func(s replStatus) bool {
		return s.reporting().BacklogEvents == 0 && s.reporting().LastError == "" && s.reporting().State == "active"
	})

	phase("phase 2 (outage) checked")

	// 3. Failover while PostgreSQL is down and a backlog exists.
	db.srv.Stop(t)
	var last uint64
	for i := 0; i < 3; i++ {
		last = l.applyDoc(t, leader, replDoc(fmt.Sprintf("c%d", i), 2, 25, 60))
	}
	leader.waitRepl(waitCluster, "backlog before the kill", func(s replStatus) bool {
		return s.reporting().BacklogEvents >= 81 && s.reporting().LastError != ""
	})
	survivors := followers(nodes, leader)
	for _, f := range survivors {
		waitFor(t, waitShort, f.name()+" to apply index "+strconv.FormatUint(last, 10), func() (bool, string) {
			s, err := f.status()
			if err != nil {
				return false, err.Error()
			}
			return s.AppliedIndex >= last, fmt.Sprintf("applied %d", s.AppliedIndex)
		})
	}
	old := leader
	old.kill()
	leader = waitLeader(t, survivors, 3)
	t.Logf("killed leader %s; new leader %s", old.id, leader.id)
	for i := 0; i < 2; i++ {
		l.applyDoc(t, leader, replDoc(fmt.Sprintf("d%d", i), 1, 15, 60))
	}
	st = leader.waitRepl(waitCluster, "new leader holds the backlog", func(s replStatus) bool {
		return s.Leader && s.reporting().BacklogEvents >= 81+32 && s.reporting().State == "active"
	})
	t.Logf("new leader before PostgreSQL returns: %v", st)
	db.srv.Start(t)
	l.waitReported(t, db, waitReplDrain, ids)
	leader.waitRepl(waitReplDrain, "new leader's backlog drained", func(s replStatus) bool {
		return s.Leader && s.reporting().BacklogEvents == 0 && s.reporting().LastError == ""
	})

	// The killed node comes back as a follower: it replays its log into
	// its buffer, releases what the database holds, and doubles nothing.
	old.start()
	waitLeader(t, nodes, 3)
	old.waitRepl(waitCluster, "restarted node tracks the delivered position", func(s replStatus) bool {
		return !s.Leader && s.reporting().State == "active" && s.reporting().BacklogEvents == 0
	})
	l.applyDoc(t, old, replDoc("e0", 1, 5, 20))
	l.waitReported(t, db, waitReplDrain, ids)

	phase("phase 3 (failover during an outage) checked")

	// 4. Failover in the middle of a delivery: the leader drains a
	// backlog slowly (resume --rate) and is killed part-way; the new
	// leader delivers the rest, overlapping what the old one wrote.
	leader = waitLeader(t, nodes, 3)
	leader.ctl("replication", "suspend", "--target", "reporting").ok(t)
	rowsBefore, _ := db.mustRead()
	want := 0
	for i := 0; i < 4; i++ {
		d := replDoc(fmt.Sprintf("g%d", i), 2, 150, 30)
		l.applyDoc(t, nodes[i%3], d)
		want += len(d.want)
	}
	leader.waitRepl(waitShort, "backlog while suspended", func(s replStatus) bool {
		return s.reporting().State == "suspended" && s.reporting().BacklogEvents >= int64(want)
	})
	leader.ctl("replication", "resume", "--target", "reporting", "--rate", "100").ok(t)
	var atKill int
	waitFor(t, waitCluster, "rate-limited delivery under way", func() (bool, string) {
		rows, del, err := db.read()
		if err != nil {
			return false, err.Error()
		}
		atKill = len(rows) - len(rowsBefore)
		return atKill >= 150, fmt.Sprintf("%d of %d new rows, delivery %+v", atKill, want, del)
	})
	old = leader
	old.kill()
	if atKill >= want {
		// 100 events a second bound the delivery whatever the machine:
		// a finished one means the test killed nothing mid-way.
		t.Fatalf("the rate-limited delivery had already finished (%d of %d rows) when %s was killed: the test killed nothing mid-way", atKill, want, old.id)
	}
	leader = waitLeader(t, followers(nodes, old), 3)
	t.Logf("killed leader %s after about %d of %d rows; new leader %s", old.id, atKill, want, leader.id)
	l.waitReported(t, db, waitReplDrain, ids)
	leader.waitRepl(waitReplDrain, "new leader's backlog drained", func(s replStatus) bool {
		return s.Leader && s.reporting().BacklogEvents == 0 && s.reporting().State == "active"
	})
	old.start()
	waitLeader(t, nodes, 3)
	old.waitRepl(waitCluster, "restarted node tracks the delivered position", func(s replStatus) bool {
		return !s.Leader && s.reporting().State == "active" && s.reporting().BacklogEvents == 0
	})
	l.applyDoc(t, old, replDoc("h0", 1, 5, 20))
	rows := l.waitReported(t, db, waitReplDrain, ids)
	phase("phase 4 (failover during a delivery) checked")
	t.Logf("reporting database holds %d events of %d applies; all compared", len(rows), len(l.indexes()))
}

// TestReplicationBufferAlarms: with a 1 MiB buffer and PostgreSQL down,
// the fill passes 50, 75 and 95 %: one message at each level change (an
// error at 50 and 75, a warning at 95), status and /metrics show the fill,
// and at 95 % reporting is auto-stopped. It stays so when PostgreSQL is
// back and refuses resume; shutdown then restart make it active again
// (needing a sync), and it delivers new events.
func TestReplicationBufferAlarms(t *testing.T) {
	besideTheBurst(t)
	db := startReplDB(t, "alarms")
	n := startCluster(t, "al", 1, map[int][]nodeOpt{0: {replReportingArgs(db, "--replication-buffer-size", "1MiB")}})[0]
	l := newReplLedger()
	l.applyDoc(t, n, replDoc("warm", 1, 5, 20))
	l.waitReported(t, db, waitReplDrain, []string{n.id})
	st := n.waitRepl(waitShort, "empty buffer", func(s replStatus) bool {
		return s.reporting().BacklogEvents == 0 && s.Level == "normal"
	})
	if st.BufferMax != 1<<20 {
		t.Fatalf("buffer_max_bytes = %d, want %d (--replication-buffer-size 1MiB)", st.BufferMax, 1<<20)
	}
	_, delBefore := db.mustRead()

	db.srv.Stop(t)
	levelOf := func(p float64) string {
		switch {
		case p >= 95:
			return "95"
		case p >= 75:
			return "75"
		case p >= 50:
			return "50"
		}
		return "normal"
	}
	// Fill in steps sized to land a little past each threshold, so every
	// level is seen on its own.
	perContact := 0.0 // percent of the buffer one padded contact takes
	seen := map[string]replStatus{}
	var autoStopped replStatus
	for step := 0; autoStopped.Targets == nil; step++ {
		if step > 40 {
			t.Fatalf("buffer never reached 95 %% after %d applies; last status %v", step, st)
		}
		p := st.BufferPercent
		count := 100
		if perContact > 0 {
			next := 50.0
			switch {
			case p >= 75:
				next = 95
			case p >= 50:
				next = 75
			}
			target := min(next-p+1.5, 15)
			count = max(int(target/perContact), 1)
		}
		d := replDoc(fmt.Sprintf("f%02d", step), 0, count, 128)
		l.applyDoc(t, n, d)
		// Wait until the alarm clock (1 s) has judged the new fill. At 95 %
		// the leader stops the target at once (its commit empties the
		// buffer), so that level is judged from the stop, not from a
		// status read before it.
		st = n.waitRepl(waitShort, "alarm level matching the fill", func(s replStatus) bool {
			return s.reporting().State == "auto-stopped" ||
				(s.Level == levelOf(s.BufferPercent) && s.BufferPercent > p && s.Level != "95")
		})
		if st.reporting().State == "auto-stopped" {
			autoStopped = st
			break
		}
		if perContact == 0 {
			perContact = (st.BufferPercent - p) / float64(count)
		}
		if _, ok := seen[st.Level]; !ok {
			seen[st.Level] = st
			t.Logf("level %s: %v", st.Level, st)
			if st.Level != "normal" {
				m := n.replMetrics()
				if v, ok := metric(m, "tandem_replication_buffer_percent"); !ok || v < 50 {
					t.Errorf("/metrics tandem_replication_buffer_percent = %v (present %v) at level %s", v, ok, st.Level)
				}
				want := map[string]float64{"50": 1, "75": 2, "95": 3}[st.Level]
				if v, ok := metric(m, "tandem_replication_alarm_level"); !ok || v != want {
					t.Errorf("/metrics tandem_replication_alarm_level = %v (present %v), want %v", v, ok, want)
				}
				if v, ok := replLabelledMetric(m, "tandem_replication_target_buffer_percent", map[string]string{"target": "reporting"}); !ok || v < 50 {
					t.Errorf("/metrics tandem_replication_target_buffer_percent{target=reporting} = %v (present %v)", v, ok)
				}
				if rs := n.ctlReplication()["reporting"]; rs.State != "active" || rs.BufferPercent < 50 {
					t.Errorf("tandemctl status: replication.reporting = %+v at level %s", rs, st.Level)
				}
				if st.LastAlarm == nil || st.LastAlarm.Severity != "error" || !strings.Contains(st.LastAlarm.Message, "% used") {
					t.Errorf("status last_alarm at level %s = %+v, want an error stating the percentage", st.Level, st.LastAlarm)
				}
			}
			if st.Level == "75" && st.reporting().State != "active" {
				t.Errorf("at 75 %% with one target configured nothing stops; reporting is %s", st.reporting().State)
			}
		}
	}
	for _, lv := range []string{"50", "75"} {
		if _, ok := seen[lv]; !ok {
			t.Errorf("level %s never observed on its own before the auto-stop", lv)
		}
	}
	rt := autoStopped.reporting()
	if !rt.NeedsSync || !strings.Contains(rt.Reason, "%") {
		t.Errorf("auto-stopped reporting: reason %q, needs_sync %v; want the fill as reason and needs_sync", rt.Reason, rt.NeedsSync)
	}
	m := n.replMetrics()
	if v, ok := replLabelledMetric(m, "tandem_replication_target_state", map[string]string{"target": "reporting", "state": "auto-stopped"}); !ok || v != 1 {
		t.Errorf("/metrics tandem_replication_target_state{reporting,auto-stopped} = %v (present %v), want 1", v, ok)
	}
	if rs := n.ctlReplication()["reporting"]; rs.State != "auto-stopped" {
		t.Errorf("tandemctl status: replication.reporting = %+v, want auto-stopped", rs)
	}

	// The log: one message per level change, error at 50 and 75, warning
	// at 95 naming the stop, and the auto-stop itself.
	var sev = map[string][]string{}
	autoLine := false
	for _, rec := range n.replLogRecords() {
		msg, _ := rec["msg"].(string)
		if rec["alarm"] == "replication_buffer" {
			lv, _ := rec["alarm_level"].(string)
			lvl, _ := rec["level"].(string)
			sev[lv] = append(sev[lv], lvl+": "+msg)
		}
		if strings.Contains(msg, "auto-stopped") && rec["target"] == "reporting" {
			autoLine = true
		}
	}
	for lv, want := range map[string]string{"50": "ERROR", "75": "ERROR", "95": "WARN"} {
		got := sev[lv]
		if len(got) != 1 || !strings.HasPrefix(got[0], want+": ") || !regexp.MustCompile(`\d+(\.\d+)?% used`).MatchString(got[0]) {
			t.Errorf("alarm log lines at level %s: %q; want exactly one %s line stating the percentage", lv, got, want)
		}
	}
	if got := sev["95"]; len(got) == 1 && !strings.Contains(got[0], "stopping all replication") {
		t.Errorf("95 %% alarm line %q does not say replication stops", got[0])
	}
	if !autoLine {
		t.Errorf("no log line says reporting replication was auto-stopped")
	}

	// PostgreSQL returns: auto-stopped replication never restarts by
	// itself, and resume refuses.
	db.srv.Start(t)
	l.applyDoc(t, n, replDoc("g0", 0, 3, 10))
	deadline := time.Now().Add(4 * time.Second)
	for time.Now().Before(deadline) {
		if s := n.mustReplStatus(); s.reporting().State != "auto-stopped" {
			t.Fatalf("auto-stopped replication changed by itself: %v", s)
		}
		time.Sleep(500 * time.Millisecond)
	}
	if _, del := db.mustRead(); del != delBefore {
		t.Errorf("auto-stopped replication delivered: delivery row %+v, was %+v", del, delBefore)
	}
	r := n.ctl("replication", "resume", "--target", "reporting")
	if r.code == 0 || len(nonEmptyLines(r.stderr)) != 1 || !strings.Contains(r.stderr, "auto-stopped") ||
		!strings.Contains(r.stderr, "shutdown") || !strings.Contains(r.stderr, "restart") {
		t.Errorf("resume of auto-stopped replication: want a refusal in one line naming shutdown and restart; got %v", r)
	}
	if s := n.mustReplStatus(); s.reporting().State != "auto-stopped" {
		t.Errorf("refused resume changed the state: %v", s)
	}

	// By hand: shutdown, then restart (clears the buffer).
	n.ctl("replication", "shutdown").ok(t)
	if s := n.mustReplStatus(); s.reporting().State != "shutdown" {
		t.Errorf("after shutdown: %v", s)
	}
	r = n.ctl("replication", "restart").ok(t)
	if !strings.Contains(r.stdout, "sync") {
		t.Errorf("restart of a replication that missed data does not mention a sync: %q", r.stdout)
	}
	st = n.mustReplStatus()
	if st.reporting().State != "active" || !st.reporting().NeedsSync || st.BufferPercent != 0 {
		t.Errorf("after restart: %v; want active, needs_sync, empty buffer", st)
	}
	if rs := n.ctlReplication()["reporting"]; rs.State != "active" {
		t.Errorf("tandemctl status after restart: replication.reporting = %+v", rs)
	}
	// It delivers what is committed from now on.
	d := replDoc("h0", 1, 4, 10)
	idx := l.applyDoc(t, n, d)
	waitFor(t, waitReplDrain, "restarted replication to deliver a new apply", func() (bool, string) {
		rows, del, err := db.read()
		if err != nil {
			return false, err.Error()
		}
		k := 0
		for _, r := range rows {
			if r.Index == idx {
				k++
			}
		}
		return k == len(d.want), fmt.Sprintf("%d of %d rows at index %d; delivery %+v", k, len(d.want), idx, del)
	})
	rows, _ := db.mustRead()
	for i := 1; i < len(rows); i++ {
		if rows[i].Index == rows[i-1].Index && rows[i].Seq == rows[i-1].Seq {
			t.Fatalf("position %d.%d stored twice", rows[i].Index, rows[i].Seq)
		}
	}
}

// TestReplicationAdminCommands: suspend keeps filling the buffer while
// PostgreSQL is up and resume (rate-limited) delivers the backlog; stop
// leaves the target stopped; an unknown target is one clear line naming
// the configured ones; every administration run writes the next numbered
// diagnostic file with its checks, never the password.
func TestReplicationAdminCommands(t *testing.T) {
	besideTheBurst(t)
	db := startReplDB(t, "admin")
	const role, password = "tandem_rep", "s3cret-Pw-91"
	db.srv.NewRole(t, role, password)
	dbName := db.dsn[strings.LastIndex(db.dsn, "/")+1:]
	dbName = strings.SplitN(dbName, "?", 2)[0]
	db.srv.Exec(t, "", fmt.Sprintf("GRANT ALL ON DATABASE %s TO %s", pgx.Identifier{dbName}.Sanitize(), role))
	db.dsn = fmt.Sprintf("postgres://%s:%s@%s/%s?sslmode=disable", role, password, db.srv.Addr(), dbName)

	n := startCluster(t, "ad", 1, map[int][]nodeOpt{0: {replReportingArgs(db)}})[0]
	l := newReplLedger()
	l.applyDoc(t, n, replDoc("a", 2, 10, 20))
	l.waitReported(t, db, waitReplDrain, []string{n.id})
	diagDir := filepath.Join(n.dataDir, "replication")
	diags := func() []string {
		m, _ := filepath.Glob(filepath.Join(diagDir, "replication.[0-9][0-9][0-9]"))
		sort.Strings(m)
		return m
	}
	if d := diags(); len(d) != 0 {
		t.Fatalf("diagnostic files before any administration run: %v", d)
	}
	var runs []string // commands that must have written a diagnostic file

	// Suspend: the buffer keeps filling while PostgreSQL is up.
	r := n.ctl("replication", "suspend", "--target", "reporting").ok(t)
	runs = append(runs, "suspend")
	if !strings.Contains(r.stdout, "suspended") || !strings.Contains(r.stdout, filepath.Join(diagDir, "replication.000")) {
		t.Errorf("suspend: %q; want the new state and the diagnostic file", r.stdout)
	}
	if s := n.mustReplStatus(); s.reporting().State != "suspended" {
		t.Fatalf("after suspend: %v", s)
	}
	if rs := n.ctlReplication()["reporting"]; rs.State != "suspended" {
		t.Errorf("tandemctl status: replication.reporting = %+v, want suspended", rs)
	}
	_, delSuspended := db.mustRead()
	l.applyDoc(t, n, replDoc("b", 1, 40, 60))
	st := n.waitRepl(waitShort, "backlog while suspended", func(s replStatus) bool {
		return s.reporting().BacklogEvents >= 41 && s.reporting().BufferPercent > 0
	})
	l.applyDoc(t, n, replDoc("c", 1, 40, 60))
	n.waitRepl(waitShort, "backlog growing while suspended", func(s replStatus) bool {
		return s.reporting().BacklogEvents >= st.reporting().BacklogEvents+41 && s.reporting().State == "suspended"
	})
	time.Sleep(1500 * time.Millisecond) // give a wrong deliverer the chance to run
	if _, del := db.mustRead(); del != delSuspended {
		t.Errorf("suspended replication delivered: delivery row %+v, was %+v", del, delSuspended)
	}
	if r := n.ctl("replication", "suspend", "--target", "reporting", "--rate", "5"); r.code == 0 {
		t.Errorf("suspend --rate accepted: %v", r)
	}

	// Resume, rate-limited: the backlog drains, exactly once.
	r = n.ctl("replication", "resume", "--target", "reporting", "--rate", "2000").ok(t)
	runs = append(runs, "resume")
	if !strings.Contains(r.stdout, "2000") {
		t.Errorf("resume --rate 2000: %q does not state the rate", r.stdout)
	}
	l.waitReported(t, db, waitReplDrain, []string{n.id})
	st = n.waitRepl(waitShort, "backlog drained after resume", func(s replStatus) bool {
		return s.reporting().BacklogEvents == 0 && s.reporting().State == "active"
	})
	if st.reporting().Rate != 2000 {
		t.Errorf("status after resume --rate 2000: rate %d", st.reporting().Rate)
	}

	// Stop: the target stays stopped and delivers nothing more.
	r = n.ctl("replication", "stop", "--target", "reporting").ok(t)
	runs = append(runs, "stop")
	if s := n.mustReplStatus(); s.reporting().State != "stopped" {
		t.Fatalf("after stop: %v", s)
	}
	_, delStopped := db.mustRead()
	l.applyDoc(t, n, replDoc("d", 0, 5, 10))
	time.Sleep(1500 * time.Millisecond)
	if s := n.mustReplStatus(); s.reporting().State != "stopped" {
		t.Errorf("stopped replication changed by itself: %v", s)
	}
	if _, del := db.mustRead(); del != delStopped {
		t.Errorf("stopped replication delivered: delivery row %+v, was %+v", del, delStopped)
	}
	if rs := n.ctlReplication()["reporting"]; rs.State != "stopped" {
		t.Errorf("tandemctl status: replication.reporting = %+v, want stopped", rs)
	}
	r = n.ctl("replication", "resume", "--target", "reporting")
	runs = append(runs, "resume")
	if r.code == 0 || len(nonEmptyLines(r.stderr)) != 1 || !strings.Contains(r.stderr, "shutdown") {
		t.Errorf("resume of stopped replication: want one refusal line naming shutdown; got %v", r)
	}

	// Unknown targets: one line naming the configured targets; no file.
	for _, target := range []string{"nosuch", "standby"} {
		r := n.ctl("replication", "suspend", "--target", target)
		lines := nonEmptyLines(r.stderr)
		if r.code == 0 || len(lines) != 1 || !strings.Contains(lines[0], target) || !strings.Contains(lines[0], "reporting") {
			t.Errorf("suspend --target %s: want exit ≠ 0 and one line naming the configured targets; got %v", target, r)
		}
	}
	if r := n.ctl("replication", "shutdown", "--target", "reporting"); r.code == 0 {
		t.Errorf("shutdown --target accepted: %v", r)
	}

	// One numbered diagnostic file per administration run, with the checks.
	files := diags()
	if len(files) != len(runs) {
		t.Fatalf("diagnostic files %v after runs %v", files, runs)
	}
	for i, f := range files {
		if want := fmt.Sprintf("replication.%03d", i); filepath.Base(f) != want {
			t.Errorf("diagnostic file %d is %s, want %s", i, filepath.Base(f), want)
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		text := string(b)
		if !strings.Contains(text, "command: "+runs[i]) {
			t.Errorf("%s does not record command %s:\n%s", filepath.Base(f), runs[i], text)
		}
		for _, check := range []string{"connectivity", "name resolution", "clock skew", "credentials", "schema version"} {
			if !regexp.MustCompile(`(?m)^ok\s+` + check + `\b`).MatchString(text) {
				t.Errorf("%s: check %q missing or not ok:\n%s", filepath.Base(f), check, text)
			}
		}
		if strings.Contains(text, password) {
			t.Errorf("%s contains the password", filepath.Base(f))
		}
	}
	if strings.Contains(n.log(), password) {
		t.Errorf("the node's log contains the reporting password")
	}
}

// TestReplicationBadDSN: a --reporting-dsn (or TANDEM_REPORTING_DSN) that
// does not parse stops tandemd at once with one line naming the flag and
// never the password; so does a buffer below 1 MiB.
func TestReplicationBadDSN(t *testing.T) {
	const password = "Pw-never-shown-4711"
	cases := []struct {
		name string
		args []string
		env  []string
		flag string
	}{
		{"url with a bad port", []string{"--reporting-dsn", "postgres://tandem:" + password + "@127.0.0.1:notaport/reports"}, nil, "--reporting-dsn"},
		{"key=value with a bad sslmode", []string{"--reporting-dsn", "host=127.0.0.1 user=tandem password=" + password + " sslmode=sometimes"}, nil, "--reporting-dsn"},
		{"environment", nil, []string{"TANDEM_REPORTING_DSN=postgres://tandem:" + password + "@[::1/reports"}, "--reporting-dsn"},
		{"small buffer", []string{"--reporting-dsn", "postgres://127.0.0.1/x", "--replication-buffer-size", "512KiB"}, nil, "--replication-buffer-size"},
	}
	for _, c := range cases {
		dir := t.TempDir()
		args := append([]string{"--node-id", "bad", "--data-dir", filepath.Join(dir, "data"),
			"--raft-addr", loopback(t), "--admin-addr", loopback(t), "--admin-token", sharedToken}, c.args...)
		ctx, cancel := context.WithTimeout(context.Background(), waitShort)
		cmd := exec.CommandContext(ctx, tandemdBin, args...)
		cmd.Dir = dir
		cmd.Env = cleanEnv(c.env...)
		out, err := cmd.CombinedOutput()
		cancel()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() == 0 {
			t.Errorf("%s: tandemd %v; want a non-zero exit\n%s", c.name, err, out)
			continue
		}
		lines := nonEmptyLines(string(out))
		if len(lines) != 1 || !strings.Contains(lines[0], c.flag) {
			t.Errorf("%s: want one line naming %s, got:\n%s", c.name, c.flag, out)
		}
		if strings.Contains(string(out), password) {
			t.Errorf("%s: the output shows the password:\n%s", c.name, out)
		}
	}
}

// TestReplicationStatesAreClusterState: the replication states are
// cluster state (issue 11.1; replication/DESIGN.md, "States are cluster
// state"). A suspend sent to a follower suspends reporting for the whole
// cluster and every node shows it; it survives the leader's death: the
// new leader delivers nothing until a resume, sent to yet another node.
// The killed node comes back with the cluster's state. A stop holds while
// leadership goes away and straight back (faster than the nodes'
// leadership poll); shutdown and restart sent to one node bring every
// node back, with needs_sync for what the stopped target missed, and the
// sync clears it everywhere. Nothing lost, nothing doubled.
func TestReplicationStatesAreClusterState(t *testing.T) {
	besideTheBurst(t)
	db := startReplDB(t, "cluster-state")
	opts := map[int][]nodeOpt{}
	for i := 0; i < 3; i++ {
		opts[i] = []nodeOpt{replReportingArgs(db, "--replication-buffer-size", "1MiB")}
	}
	nodes := startCluster(t, "cs", 3, opts)
	ids := replNodeIDs(nodes)
	l := newReplLedger()
	l.applyDoc(t, nodes[0], replDoc("a", 2, 10, 20))
	l.waitReported(t, db, waitReplDrain, ids)
	everywhere := func(what string, cond func(replStatus) bool) {
		t.Helper()
		for _, n := range nodes {
			if n.running() {
				n.waitRepl(waitShort, what, cond)
			}
		}
	}

	// 1. Suspend on a follower: the whole cluster is suspended.
	leader := waitLeader(t, nodes, 3)
	fs := followers(nodes, leader)
	fs[0].ctl("replication", "suspend", "--target", "reporting").ok(t)
	everywhere("reporting suspended on every node", func(s replStatus) bool { return s.reporting().State == "suspended" })
	rowsBefore, _ := db.mustRead()
	var last uint64
	for i := 0; i < 3; i++ {
		last = l.applyDoc(t, nodes[i], replDoc(fmt.Sprintf("b%d", i), 1, 20, 20))
	}
	for _, f := range fs {
		f.waitRepl(waitShort, "the suspended backlog", func(s replStatus) bool {
			return s.reporting().Cursor.Index < last && s.reporting().BacklogEvents > 0
		})
		waitFor(t, waitShort, f.name()+" to apply index "+strconv.FormatUint(last, 10), func() (bool, string) {
			s, err := f.status()
			if err != nil {
				return false, err.Error()
			}
			return s.AppliedIndex >= last, fmt.Sprintf("applied %d", s.AppliedIndex)
		})
	}

	// 2. The leader dies; the new one keeps reporting suspended.
	leader.kill()
	newLeader := waitLeader(t, fs, 3)
	newLeader.waitRepl(waitShort, "the new leader keeps reporting suspended", func(s replStatus) bool {
		return s.Leader && s.reporting().State == "suspended" && s.reporting().BacklogEvents > 0
	})
	// A leader delivers within a second of having something to deliver;
	// watch the database for three.
	time.Sleep(3 * time.Second)
	if rows, del := db.mustRead(); len(rows) != len(rowsBefore) {
		t.Fatalf("suspended reporting delivered after the failover: %d rows, were %d (delivery %+v)", len(rows), len(rowsBefore), del)
	}

	// 3. Resume on the other survivor: the new leader delivers it all.
	other := followers(fs, newLeader)[0]
	other.ctl("replication", "resume", "--target", "reporting").ok(t)
	l.waitReported(t, db, waitReplDrain, ids)
	leader.start()
	waitLeader(t, nodes, 3)
	everywhere("reporting active on every node, the restarted one included", func(s replStatus) bool {
		return s.reporting().State == "active" && s.reporting().BacklogEvents == 0
	})

	// 4. Stop holds across leadership going away and straight back.
	leader = waitLeader(t, nodes, 3)
	away := followers(nodes, leader)[0]
	away.ctl("replication", "stop", "--target", "reporting").ok(t)
	everywhere("reporting stopped on every node", func(s replStatus) bool { return s.reporting().State == "stopped" })
	rowsBefore, _ = db.mustRead()
	leader.ctl("cluster", "transfer-leader", away.id).ok(t)
	if got := waitLeader(t, nodes, 3); got != away {
		t.Fatalf("after transfer-leader %s the leader is %s", away.id, got.id)
	}
	away.ctl("cluster", "transfer-leader", leader.id).ok(t)
	if got := waitLeader(t, nodes, 3); got != leader {
		t.Fatalf("after transfer-leader %s the leader is %s", leader.id, got.id)
	}
	l.applyDoc(t, nodes[2], replDoc("c", 1, 20, 20))
	everywhere("reporting still stopped after the round trip", func(s replStatus) bool { return s.reporting().State == "stopped" })
	time.Sleep(2 * time.Second)
	if rows, _ := db.mustRead(); len(rows) != len(rowsBefore) {
		t.Fatalf("stopped reporting delivered: %d rows, were %d", len(rows), len(rowsBefore))
	}

	// 5. Shutdown and restart, sent to one node, bring every node back;
	// what the stopped target missed needs a sync, which clears it
	// everywhere.
	away.ctl("replication", "shutdown").ok(t)
	everywhere("replication shut down on every node", func(s replStatus) bool { return s.reporting().State == "shutdown" })
	away.ctl("replication", "restart").ok(t)
	everywhere("reporting active and needing a sync on every node", func(s replStatus) bool {
		return s.reporting().State == "active" && s.reporting().NeedsSync
	})
	leader.ctl("replication", "sync", "--target", "reporting", "--recent", "--poll", "100ms").ok(t)
	everywhere("needs_sync cleared on every node", func(s replStatus) bool {
		return s.reporting().State == "active" && !s.reporting().NeedsSync
	})
	l.applyDoc(t, nodes[1], replDoc("d", 1, 20, 20))
	// The sync wrote rows outside the delivery row's count (as in
	// TestReplicationSyncRecovers): compare everything else exactly.
	waitFor(t, waitReplDrain, "PostgreSQL to hold every committed event once", func() (bool, string) {
		rows, del, err := db.read()
		if err != nil {
			return false, err.Error()
		}
		var bad []string
		for _, b := range l.check(rows, del, ids) {
			if !strings.HasPrefix(b, "delivery row counts") {
				bad = append(bad, b)
			}
		}
		return len(bad) == 0, strings.Join(bad, "; ")
	})
}
