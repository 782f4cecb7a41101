package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
)

// replSyncJob is `tandemctl replication sync --status -o json`.
type replSyncJob struct {
	ID      int64   `json:"id"`
	Mode    string  `json:"mode"`
	State   string  `json:"state"`
	Done    int64   `json:"done"`
	Total   int64   `json:"total"`
	Percent float64 `json:"percent"`
	Written int64   `json:"written"`
	Message string  `json:"message"`
}

func (n *node) replSyncStatus() replSyncJob {
	n.t.Helper()
	r := n.ctl("replication", "sync", "--status", "--target", "reporting", "-o", "json").ok(n.t)
	var j replSyncJob
	if err := json.Unmarshal([]byte(r.stdout), &j); err != nil {
		n.t.Fatalf("sync --status -o json: %v\n%s", err, r.stdout)
	}
	return j
}

// checkSynced compares PostgreSQL exactly with the ledger. Rows a sync
// re-sent are written by Backfill, which does not count them in the
// delivery row, so only that count is left out of the comparison.
func checkSynced(t *testing.T, db *replDB, l *replLedger, ids []string) int {
	t.Helper()
	rows, del := db.mustRead()
	var bad []string
	for _, b := range l.check(rows, del, ids) {
		if !strings.HasPrefix(b, "delivery row counts") {
			bad = append(bad, b)
		}
	}
	if len(bad) > 0 {
		t.Fatalf("reporting database after sync differs from the engine's history:\n%s", strings.Join(bad, "\n"))
	}
	return len(rows)
}

// TestReplicationSyncRecovers: a 3-node cluster delivers into PostgreSQL;
// PostgreSQL stops and the (small) buffer fills until reporting
// replication auto-stops and drops data; after shutdown + restart (which
// clears the buffer and flags needs_sync) `replication sync --all`
// re-sends the history from the node's event archive: PostgreSQL then
// holds every committed event exactly once and needs_sync clears. A
// --recent sync and an interrupted --all continued with --continue add
// nothing twice; bad option combinations are one clear line each.
func TestReplicationSyncRecovers(t *testing.T) {
	besideTheBurst(t)
	db := startReplDB(t, "sync")
	opts := map[int][]nodeOpt{}
	for i := 0; i < 3; i++ {
		opts[i] = []nodeOpt{replReportingArgs(db, "--replication-buffer-size", "1MiB")}
	}
	nodes := startCluster(t, "sy", 3, opts)
	ids := replNodeIDs(nodes)
	leader := waitLeader(t, nodes, 3)
	l := newReplLedger()
	l.applyDoc(t, leader, replDoc("warm", 2, 20, 40))
	l.waitReported(t, db, waitReplDrain, ids)

	// Outage: fill the buffer until the leader auto-stops reporting, then
	// a little more, which the buffer no longer keeps for it.
	db.srv.Stop(t)
	for step := 0; ; step++ {
		if step > 60 {
			t.Fatalf("reporting never auto-stopped: %v", leader.mustReplStatus())
		}
		l.applyDoc(t, leader, replDoc(fmt.Sprintf("f%02d", step), 0, 100, 128))
		if leader.mustReplStatus().reporting().State == "auto-stopped" {
			break
		}
	}
	for i := 0; i < 3; i++ {
		l.applyDoc(t, nodes[i], replDoc(fmt.Sprintf("late%d", i), 1, 20, 40))
	}
	db.srv.Start(t)

	// By hand, on one node: shutdown, restart (every node clears its
	// buffer: the states are cluster state).
	nodes[1].ctl("replication", "shutdown").ok(t)
	nodes[1].ctl("replication", "restart").ok(t)
	for _, n := range nodes {
		n.waitRepl(waitShort, "active and needing a sync after the restart", func(s replStatus) bool {
			return s.reporting().State == "active" && s.reporting().NeedsSync
		})
	}
	l.applyDoc(t, leader, replDoc("after", 1, 10, 40)) // delivered the normal way
	waitFor(t, waitReplDrain, "the apply after the restart to be delivered", func() (bool, string) {
		s := leader.mustReplStatus()
		return s.reporting().BacklogEvents == 0 && s.reporting().LastError == "", s.String()
	})
	if rows, _ := db.mustRead(); len(rows) >= l.total() {
		t.Fatalf("PostgreSQL holds %d rows before the sync; the outage should have lost some of the %d", len(rows), l.total())
	}

	// Bad input: one line each, nothing started.
	bad := []struct {
		args   []string
		wantIn string
	}{
		{[]string{"--target", "reporting", "--admin", "--recent"}, "--recent, --all and --continue send it first anyway"},
		{[]string{"--target", "reporting", "--admin", "--run-for", "1m"}, "--run-for applies to --all and --continue, not to --admin"},
		{[]string{"--target", "standby", "--recent"}, "apply to --target reporting"},
		{[]string{"--target", "standby", "--admin"}, "standby replication is not configured on this node"},
		{[]string{"--target", "reporting", "--continue", "--run-for", "1m"}, "no interrupted full sync"},
		{[]string{"--target", "reporting", "--recent", "--run-for", "1m"}, "--run-for applies to --all and --continue"},
		{[]string{"--target", "archive", "--recent"}, `unknown target "archive"`},
	}
	for _, b := range bad {
		r := leader.ctl(append([]string{"replication", "sync"}, b.args...)...)
		if r.code == 0 || len(nonEmptyLines(r.stderr)) != 1 || !strings.Contains(r.stderr, b.wantIn) {
			t.Errorf("sync %v: want one line containing %q; got %v", b.args, b.wantIn, r)
		}
	}
	if r := leader.ctl("replication", "sync", "--status", "--target", "reporting"); r.code == 0 {
		t.Errorf("refused syncs left a job: %v", r)
	}

	// The full sync: progress lines (not a terminal), a diagnostic file,
	// then PostgreSQL matches the engine's history exactly.
	r := leader.ctl("replication", "sync", "--target", "reporting", "--all", "--run-for", "1m", "--poll", "100ms").ok(t)
	diag := regexp.MustCompile(`diagnostic: (\S+replication\.\d{3})\)`).FindStringSubmatch(r.stdout)
	if diag == nil {
		t.Errorf("sync output names no diagnostic file:\n%s", r.stdout)
	} else if b, err := os.ReadFile(diag[1]); err != nil || !strings.Contains(string(b), "command: sync") {
		t.Errorf("diagnostic file %s: %v\n%s", diag[1], err, b)
	}
	if !strings.Contains(r.stdout, "done") || strings.Contains(r.stdout, "\r") {
		t.Errorf("sync output:\n%s", r.stdout)
	}
	total := checkSynced(t, db, l, ids)
	st := leader.mustReplStatus()
	if st.reporting().NeedsSync {
		t.Errorf("needs_sync still set after a complete sync: %v", st)
	}
	j := leader.replSyncStatus()
	if j.State != "done" || j.Done != j.Total || j.Percent != 100 || j.Written == 0 {
		t.Errorf("sync status: %+v", j)
	}

	// --recent (this month and the last): nothing new, nothing doubled.
	leader.ctl("replication", "sync", "--target", "reporting", "--recent", "--poll", "100ms").ok(t)
	if j := leader.replSyncStatus(); j.Mode != "recent" || j.State != "done" || j.Written != 0 {
		t.Errorf("recent sync: %+v", j)
	}
	if n := checkSynced(t, db, l, ids); n != total {
		t.Errorf("recent sync changed the row count %d → %d", total, n)
	}

	// An interrupted full sync, continued. The run time is checked
	// between batches of 1,000 events, so 1 ms stops it after its first
	// batch (a PostgreSQL transaction, well over 1 ms on any machine) of
	// a history several batches long: it must have stopped part-way, or
	// --continue has nothing to continue.
	r = leader.ctl("replication", "sync", "--target", "reporting", "--all", "--run-for", "1ms", "--poll", "100ms").ok(t)
	j = leader.replSyncStatus()
	if j.State != "interrupted" || !strings.Contains(r.stdout, "--continue") {
		t.Fatalf("sync --all --run-for 1ms: %+v\n%s", j, r.stdout)
	}
	if j.Done == 0 || j.Done >= j.Total {
		t.Fatalf("sync --all --run-for 1ms stopped after %d of %d events: the test interrupted nothing part-way", j.Done, j.Total)
	}
	t.Logf("sync --all --run-for 1ms stopped after %d of %d events", j.Done, j.Total)
	r = leader.ctl("replication", "sync", "--target", "reporting", "--continue", "--run-for", "1m", "--poll", "100ms").ok(t)
	if j2 := leader.replSyncStatus(); j2.ID != j.ID || j2.State != "done" || j2.Done != j2.Total {
		t.Errorf("continued sync: %+v (was %+v)\n%s", j2, j, r.stdout)
	}
	if n := checkSynced(t, db, l, ids); n != total {
		t.Errorf("continued sync changed the row count %d → %d", total, n)
	}
}
