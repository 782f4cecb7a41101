package reporting

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tandemcc/tandem/command"
	"github.com/tandemcc/tandem/internal/pgtest"
)

func TestDeliverBatches(t *testing.T) {
	ctx := ctxT(t)
	db, _ := openMigrated(t)
	if pos, err := db.LastDelivered(ctx); err != nil || pos != (command.Position{}) {
		t.Fatalf("LastDelivered on a fresh database = %v, %v", pos, err)
	}
	var all []command.Event
	for b := 0; b < 10; b++ {
		evs := genEvents(uint64(1+b*100), 100)
		pos, err := db.Deliver(ctx, evs)
		if err != nil {
			t.Fatal(err)
		}
		if want := evs[len(evs)-1].Pos(); pos != want {
			t.Fatalf("batch %d: delivered %v, want %v", b, pos, want)
		}
		all = append(all, evs...)
	}
	if pos, err := db.LastDelivered(ctx); err != nil || pos != all[len(all)-1].Pos() {
		t.Fatalf("LastDelivered = %v, %v", pos, err)
	}
	sameEvents(t, storedEvents(t, db), all)
	checkTables(t, db, all)
	st, err := db.Status(ctx)
	if err != nil || st.Events != int64(len(all)) || st.Batches != 10 {
		t.Fatalf("Status = %+v, %v; want %d events in 10 batches", st, err, len(all))
	}

	// Typed columns hold what the events said.
	conn, err := pgx.ConnectConfig(ctx, db.cfg.Copy())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var (
		callID, agent, reason, by string
		dur                       int64
		ts                        time.Time
	)
	err = conn.QueryRow(ctx, db.sqlFor(`SELECT call_id, agent_id, reason, ended_by, duration_ms, time
	  FROM {{schema}}.calls WHERE event = 'call.ended' ORDER BY raft_index LIMIT 1`)).Scan(&callID, &agent, &reason, &by, &dur, &ts)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(callID, "call-") || !strings.HasPrefix(agent, "agent-") || reason != "hangup" || by != "caller" ||
		dur != 93000 || ts.Before(t0) {
		t.Fatalf("call.ended row: %q %q %q %q %d %v", callID, agent, reason, by, dur, ts)
	}
	var wait, expected int64
	var sl float64
	if err := conn.QueryRow(ctx, db.sqlFor(`SELECT longest_wait_ms, expected_wait_ms, service_level_pct FROM {{schema}}.queue_statistics LIMIT 1`)).Scan(&wait, &expected, &sl); err != nil ||
		wait != 41000 || expected != 35000 || sl != 86.8 {
		t.Fatalf("queue_statistics row: %d %d %v %v", wait, expected, sl, err)
	}
	var from, to string
	var logged int64
	if err := conn.QueryRow(ctx, db.sqlFor(`SELECT from_state, to_state, logged_in FROM {{schema}}.agent_state_changes LIMIT 1`)).Scan(&from, &to, &logged); err != nil ||
		from != "paused" || to != "connected" || logged != 12 {
		t.Fatalf("agent_state_changes row: %q %q %d %v", from, to, logged, err)
	}
	var at time.Time
	if err := conn.QueryRow(ctx, db.sqlFor(`SELECT reported_at FROM {{schema}}.problem_reports LIMIT 1`)).Scan(&at); err != nil || !at.Equal(t0) {
		t.Fatalf("problem_reports row: %v %v", at, err)
	}
	var chatID, customer string
	if err := conn.QueryRow(ctx, db.sqlFor(`SELECT contact_id, customer FROM {{schema}}.contacts WHERE channel = 'chat' LIMIT 1`)).Scan(&chatID, &customer); err != nil ||
		!strings.HasPrefix(chatID, "chat-") || customer != "Bob" {
		t.Fatalf("contacts view chat row: %q %q %v", chatID, customer, err)
	}
	var channels int
	if err := conn.QueryRow(ctx, db.sqlFor(`SELECT count(DISTINCT channel) FROM {{schema}}.contacts`)).Scan(&channels); err != nil || channels != 4 {
		t.Fatalf("contacts view has %d channels (%v), want 4", channels, err)
	}
}

func TestRedeliverOverlapping(t *testing.T) {
	ctx := ctxT(t)
	db, _ := openMigrated(t)
	all := genEvents(1, 400)
	// Windows as a buffer replays them after restarts: overlapping,
	// repeated, one entirely old, one exactly the previous.
	windows := [][2]int{{0, 150}, {100, 300}, {50, 250}, {0, 10}, {290, 500}, {290, 500}, {450, len(all)}, {0, len(all)}}
	for _, w := range windows {
		pos, err := db.Deliver(ctx, all[w[0]:w[1]])
		if err != nil {
			t.Fatalf("window %v: %v", w, err)
		}
		if want := all[w[1]-1].Pos(); want.After(pos) {
			t.Fatalf("window %v: delivered %v, want at least %v", w, pos, want)
		}
	}
	sameEvents(t, storedEvents(t, db), all)
	checkTables(t, db, all)
	if n := queryInt(t, db, "SELECT count(*) FROM (SELECT DISTINCT raft_index, seq FROM {{schema}}.events) d"); n != int64(len(all)) {
		t.Fatalf("%d distinct positions, want %d", n, len(all))
	}
}

func TestBackfillThenDeliver(t *testing.T) {
	ctx := ctxT(t)
	db, _ := openMigrated(t)
	all := genEvents(1, 300)
	// A sync wrote a stretch ahead of the delivery position and part of
	// the start.
	n, err := db.Backfill(ctx, append(append([]command.Event{}, all[400:500]...), all[:50]...))
	if err != nil || n != 150 {
		t.Fatalf("Backfill = %d, %v; want 150 new", n, err)
	}
	if n, err := db.Backfill(ctx, all[420:480]); err != nil || n != 0 {
		t.Fatalf("repeated Backfill = %d, %v; want 0 new", n, err)
	}
	if pos, _ := db.LastDelivered(ctx); pos != (command.Position{}) {
		t.Fatalf("Backfill moved the delivery position to %v", pos)
	}
	// Delivery then runs into the backfilled rows: they are merged.
	for i := 0; i < len(all); i += 128 {
		if _, err := db.Deliver(ctx, all[i:min(i+128, len(all))]); err != nil {
			t.Fatal(err)
		}
	}
	sameEvents(t, storedEvents(t, db), all)
	checkTables(t, db, all)
	if pos, _ := db.LastDelivered(ctx); pos != all[len(all)-1].Pos() {
		t.Fatalf("LastDelivered = %v", pos)
	}
}

func TestForeignHistoryRefused(t *testing.T) {
	ctx := ctxT(t)
	db, _ := openMigrated(t)
	first := genEvents(1, 50)
	if _, err := db.Deliver(ctx, first); err != nil {
		t.Fatal(err)
	}
	// A re-created cluster under the same name starts at index 1 again.
	other := genEvents(1, 80)
	for i := range other {
		other[i].CommandID = "new-" + other[i].CommandID
	}
	if _, err := db.Deliver(ctx, other); !errors.Is(err, ErrForeignHistory) {
		t.Fatalf("Deliver of another history = %v, want ErrForeignHistory", err)
	}
	if _, err := db.Backfill(ctx, other[:10]); !errors.Is(err, ErrForeignHistory) {
		t.Fatalf("Backfill of another history = %v, want ErrForeignHistory", err)
	}
	sameEvents(t, storedEvents(t, db), first)
	// Under its own name it delivers beside the first.
	db2 := openDSN(t, db.cfg.ConnString(), false, WithCluster("second"))
	if _, err := db2.Deliver(ctx, other); err != nil {
		t.Fatal(err)
	}
	sameEvents(t, storedEvents(t, db2), other)
	sameEvents(t, storedEvents(t, db), first)
}

func TestCancelMidTransaction(t *testing.T) {
	ctx := ctxT(t)
	db, _ := openMigrated(t)
	all := genEvents(1, 300)
	if _, err := db.Deliver(ctx, all[:200]); err != nil {
		t.Fatal(err)
	}
	before := storedEvents(t, db)

	// The process dies (its context is cancelled) after the rows were
	// copied, before COMMIT.
	cctx, cancel := context.WithCancel(ctx)
	db.testHookBeforeCommit = func(context.Context) { cancel() }
	_, err := db.Deliver(cctx, all[150:400])
	db.testHookBeforeCommit = nil
	if err == nil {
		t.Fatal("Deliver with a cancelled context succeeded")
	}
	if pos, err := db.LastDelivered(ctx); err != nil || pos != all[199].Pos() {
		t.Fatalf("after the cancelled batch: LastDelivered = %v, %v; want %v", pos, err, all[199].Pos())
	}
	sameEvents(t, storedEvents(t, db), before)
	checkTables(t, db, before)

	// The connection is killed from outside between COPY and COMMIT.
	db.testHookBeforeCommit = func(context.Context) {
		pgtest.Shared(t).Exec(t, "", "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'tandem-reporting' AND datname = $1", db.cfg.Database)
	}
	_, err = db.Deliver(ctx, all[150:400])
	db.testHookBeforeCommit = nil
	if !errors.Is(err, ErrUnreachable) {
		t.Fatalf("Deliver on a killed connection = %v, want ErrUnreachable", err)
	}
	sameEvents(t, storedEvents(t, db), before)

	// Resuming from the buffer's cursor redelivers and completes.
	if _, err := db.Deliver(ctx, all[150:]); err != nil {
		t.Fatal(err)
	}
	sameEvents(t, storedEvents(t, db), all)
	checkTables(t, db, all)
}

func TestPostgresStoppedAndRestarted(t *testing.T) {
	ctx := ctxT(t)
	s := pgtest.Start(t)
	dsn := s.NewDatabase(t)
	db := openDSN(t, dsn, true)
	all := genEvents(1, 600)
	third := len(all) / 3
	if _, err := db.Deliver(ctx, all[:third]); err != nil {
		t.Fatal(err)
	}

	s.Stop(t)
	_, err := db.Deliver(ctx, all[third:2*third])
	if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), s.Addr()) {
		t.Fatalf("Deliver with PostgreSQL stopped = %v, want ErrUnreachable naming %s", err, s.Addr())
	}
	_, err = db.Deliver(ctx, all[third:2*third])
	if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("second Deliver with PostgreSQL stopped = %v, want ErrUnreachable: connection refused", err)
	}
	if _, err := db.LastDelivered(ctx); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("LastDelivered with PostgreSQL stopped = %v", err)
	}
	if c, _ := db.Check(ctx).Get(CheckConnectivity); c.Status != StatusFail {
		t.Fatalf("Check connectivity while stopped = %+v", c)
	}

	s.Start(t)
	pos, err := db.LastDelivered(ctx)
	if err != nil || pos != all[third-1].Pos() {
		t.Fatalf("after restart LastDelivered = %v, %v", pos, err)
	}
	// The consumer resumes after its acknowledged position (here: from
	// the start of the failed batch).
	if _, err := db.Deliver(ctx, all[third:2*third]); err != nil {
		t.Fatal(err)
	}

	// A crash of PostgreSQL (immediate shutdown) loses nothing committed.
	s.Kill(t)
	if _, err := db.Deliver(ctx, all[2*third:]); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("Deliver after a crash = %v, want ErrUnreachable", err)
	}
	s.Start(t)
	if _, err := db.Deliver(ctx, all[third:]); err != nil {
		t.Fatal(err)
	}
	sameEvents(t, storedEvents(t, db), all)
	checkTables(t, db, all)
}

func TestConcurrentDeliverersFailover(t *testing.T) {
	ctx := ctxT(t)
	db, dsn := openMigrated(t)
	all := genEvents(1, 1000)
	// Two nodes that both think they lead deliver overlapping batches of
	// the same stream at once, each from its own cursor.
	nodes := []*DB{db, openDSN(t, dsn, false)}
	var wg sync.WaitGroup
	for n, h := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			step := 97 + 50*n
			for i := 0; i < len(all); i += step {
				if _, err := h.Deliver(ctx, all[i:min(i+step+40, len(all))]); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	sameEvents(t, storedEvents(t, db), all)
	checkTables(t, db, all)
}

func TestAwkwardData(t *testing.T) {
	ctx := ctxT(t)
	db, _ := openMigrated(t)
	evs := []command.Event{
		{Index: 1, Type: "call.ended", Time: t0.UnixNano(), CommandID: "c1", Data: []byte(`{"call":"a\u0000b","note":"x\\u0000y","number":"\ud83d\ude00 \u00e9"}`)},
		{Index: 2, Type: "chat.message", Time: t0.UnixNano(), CommandID: "c2", Data: []byte(`{not json`)},
		{Index: 3, Type: "queue.stats", Time: t0.UnixNano(), CommandID: "c3", Data: nil},
		{Index: 4, Type: "agent.state_changed", Time: t0.UnixNano(), CommandID: "c4", Data: []byte(`{"agent": 17, "state": null, "reason": {"code": 3}}`)},
		{Index: 5, Type: "nofamily", Time: t0.UnixNano(), Data: []byte(`[1,2,3]`)},
	}
	if _, err := db.Deliver(ctx, evs); err != nil {
		t.Fatal(err)
	}
	got := storedEvents(t, db)
	if len(got) != len(evs) {
		t.Fatalf("stored %d events", len(got))
	}
	if !strings.Contains(string(got[0].Data), "a\ufffdb") || !strings.Contains(string(got[0].Data), `x\\u0000y`) {
		t.Fatalf("NUL escape not replaced or escaped backslash altered: %s", got[0].Data)
	}
	if string(got[1].Data) != `"{not json"` {
		t.Fatalf("invalid JSON stored as %s, want it as a JSON string", got[1].Data)
	}
	if got[2].Data != nil {
		t.Fatalf("empty data stored as %s, want NULL", got[2].Data)
	}
	conn, err := pgx.ConnectConfig(ctx, db.cfg.Copy())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var callID, caller string
	if err := conn.QueryRow(ctx, db.sqlFor("SELECT call_id, number FROM {{schema}}.calls")).Scan(&callID, &caller); err != nil ||
		callID != "a\ufffdb" || caller != "😀 é" {
		t.Fatalf("calls row: %q %q %v", callID, caller, err)
	}
	var agent, reason string
	var toState *string
	if err := conn.QueryRow(ctx, db.sqlFor("SELECT agent_id, to_state, reason FROM {{schema}}.agent_state_changes")).Scan(&agent, &toState, &reason); err != nil ||
		agent != "17" || toState != nil || reason != `{"code": 3}` {
		t.Fatalf("agent row: %q %v %q %v", agent, toState, reason, err)
	}
	checkTables(t, db, evs)
}

func TestDeliverRefusesBadBatches(t *testing.T) {
	ctx := ctxT(t)
	db, _ := openMigrated(t)
	evs := genEvents(1, 5)
	evs[2], evs[3] = evs[3], evs[2]
	if _, err := db.Deliver(ctx, evs); err == nil || !strings.Contains(err.Error(), "out of order") {
		t.Fatalf("unordered batch: %v", err)
	}
	if _, err := db.Deliver(ctx, []command.Event{{Index: 0, Type: "call.x", Time: 1}}); err == nil {
		t.Fatal("index 0 accepted")
	}
	if pos, err := db.Deliver(ctx, nil); err != nil || pos != (command.Position{}) {
		t.Fatalf("empty batch: %v, %v", pos, err)
	}
	if n := queryInt(t, db, "SELECT count(*) FROM {{schema}}.events"); n != 0 {
		t.Fatalf("%d events stored from refused batches", n)
	}
}

func TestManyClustersOneDatabase(t *testing.T) {
	ctx := ctxT(t)
	_, dsn := openMigrated(t)
	var handles []*DB
	for i := 0; i < 3; i++ {
		h := openDSN(t, dsn, false, WithCluster(fmt.Sprintf("site-%d", i)))
		handles = append(handles, h)
	}
	evs := genEvents(1, 100)
	for _, h := range handles {
		if _, err := h.Deliver(ctx, evs); err != nil {
			t.Fatal(err)
		}
	}
	for _, h := range handles {
		sameEvents(t, storedEvents(t, h), evs)
		checkTables(t, h, evs)
	}
}

func TestDeliveryLockBusy(t *testing.T) {
	ctx := ctxT(t)
	db, dsn := openMigrated(t)
	if _, err := db.Deliver(ctx, genEvents(1, 5)); err != nil {
		t.Fatal(err)
	}
	// Another node sits in its delivery transaction, holding the lock.
	conn, err := pgx.ConnectConfig(ctx, db.cfg.Copy())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, db.sqlFor("SELECT 1 FROM {{schema}}.delivery FOR UPDATE")); err != nil {
		t.Fatal(err)
	}
	h := openDSN(t, dsn+"&lock_timeout=300", false)
	if _, err := h.Deliver(ctx, genEvents(6, 5)); !errors.Is(err, ErrBusy) {
		t.Fatalf("Deliver while another holds the lock = %v, want ErrBusy", err)
	}
	tx.Rollback(ctx)
	if _, err := h.Deliver(ctx, genEvents(1, 10)); err != nil {
		t.Fatal(err)
	}
	sameEvents(t, storedEvents(t, h), genEvents(1, 10))
}

func TestBackfillDuplicatesInOneBatch(t *testing.T) {
	ctx := ctxT(t)
	db, _ := openMigrated(t)
	evs := genEvents(1, 20)
	twice := append(append([]command.Event{}, evs...), evs[3:9]...)
	if n, err := db.Backfill(ctx, twice); err != nil || n != len(evs) {
		t.Fatalf("Backfill = %d, %v; want %d", n, err, len(evs))
	}
	sameEvents(t, storedEvents(t, db), evs)
	checkTables(t, db, evs)
}
