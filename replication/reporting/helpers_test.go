package reporting

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tandemcc/tandem/command"
	"github.com/tandemcc/tandem/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// openMigrated opens a fresh database on the shared server and migrates it.
func openMigrated(t testing.TB, opts ...Option) (*DB, string) {
	t.Helper()
	dsn := pgtest.Shared(t).NewDatabase(t)
	return openDSN(t, dsn, true, opts...), dsn
}

func openDSN(t testing.TB, dsn string, migrate bool, opts ...Option) *DB {
	t.Helper()
	ctx := ctxT(t)
	db, err := Open(ctx, dsn, opts...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	if migrate {
		if _, err := db.Migrate(ctx); err != nil {
			t.Fatalf("Migrate: %v", err)
		}
	}
	return db
}

var t0 = time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)

// genEvents makes the events of commands first..first+n-1: a realistic mix
// of one to three events per command over every reporting family, plus
// configuration events that only the raw log keeps.
func genEvents(first uint64, n int) []command.Event {
	var out []command.Event
	for i := 0; i < n; i++ {
		idx := first + uint64(i)
		k := 1 + int(idx%3)
		for s := 0; s < k; s++ {
			out = append(out, genEvent(idx, s))
		}
	}
	return out
}

func genEvent(idx uint64, seq int) command.Event {
	call := fmt.Sprintf("call-%d", idx)
	agent := fmt.Sprintf("agent-%03d", idx%200)
	queue := fmt.Sprintf("queue-%02d", idx%20)
	var (
		typ  string
		data any
	)
	// Shapes as in contactcenter/events.go (callbacks, chats and e-mails
	// as their channels are expected to report them).
	switch (idx*4 + uint64(seq)) % 11 {
	case 0:
		typ, data = "call.queued", map[string]any{"call": call, "queue": queue, "number": "+441615527789", "name": "Ann Caller", "priority": 5, "position": 2, "waiting": 3, "level": 2, "expected_wait_seconds": 40, "reason": "new"}
	case 1:
		typ, data = "call.offered", map[string]any{"call": call, "agents": []string{agent, "agent-999"}, "queue": queue, "number": "+441615527789", "ring_until": t0.UnixNano()}
	case 2:
		typ, data = "call.answered", map[string]any{"call": call, "agent": agent, "queue": queue, "wait_ms": 12345}
	case 3:
		typ, data = "call.ended", map[string]any{"call": call, "reason": "hangup", "by": "caller", "place": "agent", "agent": agent, "duration_ms": 93000}
	case 4:
		typ, data = "agent.state_changed", map[string]any{"agent": agent, "state": "connected", "previous": "paused", "logged_in": 12}
	case 5:
		typ, data = "queue.stats", map[string]any{"queue": queue, "waiting": 3, "ringing": 1, "level": 2, "longest_wait_ms": 41000, "agents": 14, "connected": 12,
			"entered": 120, "answered": 110, "abandoned": 4, "answered_in_sl": 99, "no_answer": 2, "max_wait_ms": 95000, "talk_ms": 8000000, "talked": 100,
			"service_level_pct": 86.8, "service_level_seconds": 20, "expected_wait_seconds": 35}
	case 6:
		typ, data = "callback.created", map[string]any{"callback": fmt.Sprintf("cb-%d", idx), "queue": queue, "customer_name": "Ana Pérez", "phone": "+34 91 555 0101", "priority": 10, "state": "open"}
	case 7:
		typ, data = "chat.started", map[string]any{"chat": fmt.Sprintf("chat-%d", idx), "queue": queue, "customer_name": "Bob", "language": "en", "priority": 50, "state": "waiting", "business_unit": "bu-1"}
	case 8:
		typ, data = "email.received", map[string]any{"email": fmt.Sprintf("mail-%d", idx), "message_id": fmt.Sprintf("<%d@example.com>", idx), "queue": queue, "from": "customer@example.com", "to": "support@example.com", "subject": "Order 1234 has not arrived", "state": "queued"}
	case 9:
		typ, data = "problem.reported", map[string]any{"id": fmt.Sprintf("p-%d", idx), "agent": agent, "call": call, "number": "+441615527789", "description": "one-way audio", "at": t0.UnixNano()}
	default:
		typ, data = "config.agents.updated", map[string]any{"id": agent, "name": "Agent " + agent, "queues": []string{queue, "general"}, "skills": map[string]int{"english": 7, "billing": 3}}
	}
	b, _ := json.Marshal(data)
	return command.Event{
		Index: idx, Seq: seq, Type: typ,
		Time:      t0.Add(time.Duration(idx) * time.Second).UnixNano(),
		CommandID: fmt.Sprintf("cmd-%d", idx),
		Data:      b,
	}
}

// expectedTables counts the typed rows events should produce.
func expectedTables(events []command.Event) map[string]int {
	m := map[string]int{}
	for _, ev := range events {
		for _, t := range tablesFor(ev.Type) {
			m[t.Name]++
		}
	}
	return m
}

func queryInt(t testing.TB, db *DB, sql string, args ...any) int64 {
	t.Helper()
	ctx := ctxT(t)
	conn, err := pgx.ConnectConfig(ctx, db.cfg.Copy())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int64
	if err := conn.QueryRow(ctx, db.sqlFor(sql), args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// storedEvents reads back the cluster's events in order.
func storedEvents(t testing.TB, db *DB) []command.Event {
	t.Helper()
	ctx := ctxT(t)
	conn, err := pgx.ConnectConfig(ctx, db.cfg.Copy())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, db.sqlFor(`SELECT e.raft_index, e.seq, e.type, e.time, e.command_id, e.data
  FROM {{schema}}.events e JOIN {{schema}}.clusters c USING (cluster_id) WHERE c.name = $1
 ORDER BY e.raft_index, e.seq`), db.opts.cluster)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []command.Event
	for rows.Next() {
		var (
			ev   command.Event
			idx  int64
			seq  int32
			ts   time.Time
			data []byte
		)
		if err := rows.Scan(&idx, &seq, &ev.Type, &ts, &ev.CommandID, &data); err != nil {
			t.Fatal(err)
		}
		ev.Index, ev.Seq, ev.Time = uint64(idx), int(seq), ts.UnixNano()
		if data != nil {
			ev.Data = data
		}
		out = append(out, ev)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// sameEvents compares event lists field by field, JSON by meaning (jsonb
// normalises spacing and key order).
func sameEvents(t testing.TB, got, want []command.Event) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("stored %d events, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Index != w.Index || g.Seq != w.Seq || g.Type != w.Type || g.CommandID != w.CommandID {
			t.Fatalf("event %d: got %d.%d %s %s, want %d.%d %s %s", i, g.Index, g.Seq, g.Type, g.CommandID, w.Index, w.Seq, w.Type, w.CommandID)
		}
		// timestamptz keeps microseconds.
		if g.Time/1000 != w.Time/1000 {
			t.Fatalf("event %d: time %d, want %d", i, g.Time, w.Time)
		}
		if !jsonEqual(g.Data, w.Data) {
			t.Fatalf("event %d: data %s, want %s", i, g.Data, w.Data)
		}
	}
}

func jsonEqual(a, b []byte) bool {
	if len(a) == 0 || len(b) == 0 {
		return len(a) == len(b)
	}
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

// checkTables compares every typed table's row count with what events
// should have produced.
func checkTables(t testing.TB, db *DB, events []command.Event) {
	t.Helper()
	want := expectedTables(events)
	for _, tb := range typedTables {
		got := queryInt(t, db, "SELECT count(*) FROM {{schema}}."+tb.Name+" WHERE cluster_id = $1", db.clusterID)
		if got != int64(want[tb.Name]) {
			t.Errorf("%s: %d rows, want %d", tb.Name, got, want[tb.Name])
		}
	}
}

// cellAny is a typed value as pgx would take it.
func cellAny(v cell) any {
	if v.null {
		return nil
	}
	switch v.kind {
	case Text:
		return cleanText(string(v.text))
	case Int, Millis:
		return v.i
	case Float:
		return v.f
	case Bool:
		return v.b
	case Timestamp:
		return time.Unix(0, v.t).UTC()
	}
	return nil
}

// rowsFor returns the typed rows of events as pgx CopyFrom rows.
func rowsFor(clusterID int32, evs []command.Event) map[*Table][][]any {
	p := newProjector()
	out := map[*Table][][]any{}
	for i := range evs {
		ev := &evs[i]
		ts := tablesFor(ev.Type)
		if len(ts) == 0 {
			continue
		}
		p.scan(ev.Data)
		for _, t := range ts {
			row := []any{clusterID, int64(ev.Index), int32(ev.Seq), time.Unix(0, ev.Time).UTC(), ev.Type}
			for i := range t.Columns {
				row = append(row, cellAny(p.value(&t.Columns[i], t.slots[i])))
			}
			out[t] = append(out[t], row)
		}
	}
	return out
}
