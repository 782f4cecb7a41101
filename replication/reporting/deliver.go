package reporting

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tandemcc/tandem/command"
)

// eventColumns are the columns of events, in CopyFrom order.
var eventColumns = []string{"cluster_id", "raft_index", "seq", "type", "time", "command_id", "data"}

// Deliver writes a batch of committed events, in stream order, and returns
// the cluster's delivery position afterwards: every event up to it is in
// the database exactly once.
//
// The batch is one transaction: on error nothing of it was written (but
// for a connection lost during COMMIT, which may have committed: the next
// LastDelivered tells). Events at or before the delivery position are
// skipped, so redelivering after a restart, a resume or a failover is
// safe; callers deliver at least once and acknowledge the returned
// position to the buffer. Events must be in strictly increasing (Index,
// Seq) order, with Index ≥ 1.
//
// A lost connection is re-established by the next call; errors wrap
// ErrUnreachable when retrying later may succeed.
func (db *DB) Deliver(ctx context.Context, events []command.Event) (command.Position, error) {
	if err := checkOrder(events); err != nil {
		return command.Position{}, err
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	conn, err := db.connLocked(ctx)
	if err != nil {
		return command.Position{}, err
	}
	if err := db.readyLocked(ctx, conn); err != nil {
		db.dropIfBroken(conn)
		return command.Position{}, err
	}
	pos, err := db.deliverFast(ctx, conn, events)
	if isCode(err, "23505") { // rows ahead of the position (Backfill): merge
		pos, err = db.deliverTx(ctx, conn, events, true, false)
	}
	if isBadInput(err) { // data the server refuses: retry with every value checked
		pos, err = db.deliverTx(ctx, conn, events, true, true)
	}
	if err != nil {
		db.dropIfBroken(conn)
		return command.Position{}, db.opError("delivering a batch", err)
	}
	return pos, nil
}

// Backfill writes events that may already be present (a reporting sync
// re-sending history), in any order, skipping those already there. It
// does not move the delivery position. It returns how many were new.
func (db *DB) Backfill(ctx context.Context, events []command.Event) (int, error) {
	for i := range events {
		if events[i].Index == 0 {
			return 0, fmt.Errorf("reporting: event %d (%s) has raft index 0", i, events[i].Type)
		}
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	conn, err := db.connLocked(ctx)
	if err != nil {
		return 0, err
	}
	if err := db.readyLocked(ctx, conn); err != nil {
		db.dropIfBroken(conn)
		return 0, err
	}
	n, err := db.backfillTx(ctx, conn, events, false)
	if isBadInput(err) {
		n, err = db.backfillTx(ctx, conn, events, true)
	}
	if err != nil {
		db.dropIfBroken(conn)
		return 0, db.opError("backfilling events", err)
	}
	return n, nil
}

// LastDelivered returns the cluster's delivery position: (0, 0) when
// nothing was delivered yet.
func (db *DB) LastDelivered(ctx context.Context) (command.Position, error) {
	st, err := db.Status(ctx)
	return st.Position, err
}

// DeliveryStatus is the cluster's delivery record.
type DeliveryStatus struct {
	Position command.Position
	Events   int64     // events written by Deliver
	Batches  int64     // batches that wrote at least one event
	Updated  time.Time // when the position last moved
}

// Status returns the cluster's delivery record.
func (db *DB) Status(ctx context.Context) (DeliveryStatus, error) {
	db.mu.Lock()
	defer db.mu.Unlock()
	conn, err := db.connLocked(ctx)
	if err != nil {
		return DeliveryStatus{}, err
	}
	if err := db.readyLocked(ctx, conn); err != nil {
		db.dropIfBroken(conn)
		return DeliveryStatus{}, err
	}
	var (
		st  DeliveryStatus
		idx int64
		seq int32
	)
	err = conn.QueryRow(ctx, db.sqlFor(
		"SELECT raft_index, seq, events, batches, updated_at FROM {{schema}}.delivery WHERE cluster_id = $1"),
		db.clusterID).Scan(&idx, &seq, &st.Events, &st.Batches, &st.Updated)
	if err != nil {
		db.dropIfBroken(conn)
		return DeliveryStatus{}, db.opError("reading the delivery position", err)
	}
	st.Position = command.Position{Index: uint64(idx), Seq: int(seq)}
	return st, nil
}

func checkOrder(events []command.Event) error {
	for i := range events {
		if events[i].Index == 0 {
			return fmt.Errorf("reporting: event %d (%s) has raft index 0", i, events[i].Type)
		}
		if i > 0 && !events[i].Pos().After(events[i-1].Pos()) {
			return fmt.Errorf("reporting: batch out of order: event %d at %d.%d follows %d.%d",
				i, events[i].Index, events[i].Seq, events[i-1].Index, events[i-1].Seq)
		}
	}
	return nil
}

// deliverTx delivers one batch in one transaction. With merge, events go
// through a staging table and INSERT … ON CONFLICT DO NOTHING; without,
// straight into their tables with CopyFrom (a collision fails the
// transaction with unique_violation). strict validates every JSON value
// client-side first.
func (db *DB) deliverTx(ctx context.Context, conn *pgx.Conn, events []command.Event, merge, strict bool) (command.Position, error) {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return command.Position{}, err
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // no-op after Commit

	// The row lock serialises deliverers of one cluster (an old and a new
	// leader during a failover): the second sees what the first wrote.
	var (
		idx int64
		seq int32
	)
	if err := tx.QueryRow(ctx, db.sqlFor(
		"SELECT raft_index, seq FROM {{schema}}.delivery WHERE cluster_id = $1 FOR UPDATE"),
		db.clusterID).Scan(&idx, &seq); err != nil {
		return command.Position{}, err
	}
	pos := command.Position{Index: uint64(idx), Seq: int(seq)}

	first := 0
	for first < len(events) && !events[first].Pos().After(pos) {
		first++
	}
	if first > 0 {
		if err := db.checkSame(ctx, tx, &events[first-1]); err != nil {
			return command.Position{}, err
		}
	}
	fresh := events[first:]
	if len(fresh) == 0 {
		return pos, tx.Commit(ctx)
	}

	var written []command.Event
	if merge {
		if written, err = db.mergeEvents(ctx, tx, fresh, strict); err != nil {
			return command.Position{}, err
		}
	} else {
		db.encodeEvents(fresh, strict)
		if err := copyIn(ctx, tx, pgx.Identifier{db.schema, "events"}, eventColumns, &db.evBuf); err != nil {
			return command.Position{}, err
		}
		written = fresh
	}
	if err := db.copyTyped(ctx, tx.Conn().PgConn(), written); err != nil {
		return command.Position{}, err
	}
	last := fresh[len(fresh)-1].Pos()
	if _, err := tx.Exec(ctx, db.sqlFor(`UPDATE {{schema}}.delivery
	SET raft_index = $2, seq = $3, events = events + $4, batches = batches + 1, updated_at = now()
	WHERE cluster_id = $1`), db.clusterID, int64(last.Index), int32(last.Seq), int64(len(written))); err != nil {
		return command.Position{}, err
	}
	if db.testHookBeforeCommit != nil {
		db.testHookBeforeCommit(ctx)
	}
	if err := tx.Commit(ctx); err != nil {
		return command.Position{}, err
	}
	return last, nil
}

// deliverFast is the first attempt at a batch (no merge, no strict
// checks) in the fewest round trips: BEGIN and the delivery-row lock go
// out together as one pipelined pgx.Batch, then one COPY per table that
// has rows, then the position update and COMMIT as another batch. A batch
// of events with rows for k typed tables takes k+3 round trips
// (deliverTx: k+5); on a busy server each round trip also waits for the
// backend to be scheduled. Meanwhile the typed rows are projected on
// another goroutine, so the client's main work overlaps the server's.
// Semantics are deliverTx's without merge: all of the batch or nothing,
// serialised with other deliverers by the row lock; on any error the
// transaction is rolled back.
func (db *DB) deliverFast(ctx context.Context, conn *pgx.Conn, events []command.Event) (command.Position, error) {
	pc := conn.PgConn()
	defer func() {
		// Not committed (an error, or a COMMIT that failed): end the
		// transaction so that the connection can be used again.
		if !pc.IsClosed() && pc.TxStatus() != 'I' {
			pc.Exec(context.WithoutCancel(ctx), "ROLLBACK").ReadAll() //nolint:errcheck // best effort; a broken connection is dropped by the caller
		}
	}()
	// Project the typed rows (the client's main work: scanning every
	// event's JSON) while the server takes the BEGIN and the events COPY,
	// assuming nothing of the batch was delivered yet; redone below for
	// the rest when part of it was (a redelivery).
	waitTyped := db.projectAsync(events)
	defer func() { waitTyped() }() // the projector is the DB's: never leave it running
	var (
		idx int64
		seq int32
	)
	begin := &pgx.Batch{}
	begin.Queue("BEGIN")
	begin.Queue(db.sqlFor("SELECT raft_index, seq FROM {{schema}}.delivery WHERE cluster_id = $1 FOR UPDATE"),
		db.clusterID).QueryRow(func(row pgx.Row) error { return row.Scan(&idx, &seq) })
	if err := conn.SendBatch(ctx, begin).Close(); err != nil {
		return command.Position{}, err
	}
	pos := command.Position{Index: uint64(idx), Seq: int(seq)}

	first := 0
	for first < len(events) && !events[first].Pos().After(pos) {
		first++
	}
	if first > 0 {
		if err := db.checkSame(ctx, conn, &events[first-1]); err != nil {
			return command.Position{}, err
		}
	}
	fresh := events[first:]
	end := &pgx.Batch{}
	if len(fresh) > 0 {
		db.encodeEvents(fresh, false)
		if err := copyInConn(ctx, pc, pgx.Identifier{db.schema, "events"}, eventColumns, &db.evBuf); err != nil {
			return command.Position{}, err
		}
		waitTyped()
		if first > 0 {
			waitTyped = db.projectAsync(fresh)
			waitTyped()
		}
		if err := db.sendTyped(ctx, pc); err != nil {
			return command.Position{}, err
		}
		pos = fresh[len(fresh)-1].Pos()
		end.Queue(db.sqlFor(`UPDATE {{schema}}.delivery
	SET raft_index = $2, seq = $3, events = events + $4, batches = batches + 1, updated_at = now()
	WHERE cluster_id = $1`), db.clusterID, int64(pos.Index), int32(pos.Seq), int64(len(fresh)))
		if db.testHookBeforeCommit != nil {
			if err := conn.SendBatch(ctx, end).Close(); err != nil {
				return command.Position{}, err
			}
			db.testHookBeforeCommit(ctx)
			end = &pgx.Batch{}
		}
	}
	end.Queue("COMMIT").Exec(func(tag pgconn.CommandTag) error {
		if tag.String() != "COMMIT" {
			return errRolledBack
		}
		return nil
	})
	if err := conn.SendBatch(ctx, end).Close(); err != nil {
		return command.Position{}, err
	}
	return pos, nil
}

// errRolledBack: PostgreSQL answers COMMIT of a failed transaction with
// the tag ROLLBACK and no error.
var errRolledBack = errors.New("the delivery transaction was rolled back instead of committed")

// rowQuerier is what checkSame needs: a connection or a transaction.
type rowQuerier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// checkSame verifies that the stored event at ev's position is ev: a
// redelivered batch overlaps what is stored, and an overlap with other
// events means another history uses this cluster's name. A missing row
// (removed by retention) cannot be checked and passes.
func (db *DB) checkSame(ctx context.Context, tx rowQuerier, ev *command.Event) error {
	var typ, id string
	err := tx.QueryRow(ctx, db.sqlFor(
		"SELECT type, command_id FROM {{schema}}.events WHERE cluster_id = $1 AND raft_index = $2 AND seq = $3"),
		db.clusterID, int64(ev.Index), int32(ev.Seq)).Scan(&typ, &id)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	if typ != cleanText(ev.Type) || id != cleanText(ev.CommandID) {
		return db.foreign(ev, typ, id)
	}
	return nil
}

func (db *DB) foreign(ev *command.Event, typ, id string) error {
	return fmt.Errorf("%w: cluster %q at %d.%d has %s from command %q in %s, the batch has %s from command %q: "+
		"a re-created cluster or a second cluster must deliver under a new cluster name",
		ErrForeignHistory, db.opts.cluster, ev.Index, ev.Seq, typ, id, db.target, ev.Type, ev.CommandID)
}

// stagingSQL creates the per-transaction staging table.
const stagingSQL = `CREATE TEMP TABLE tandem_staging (LIKE {{schema}}.events INCLUDING DEFAULTS) ON COMMIT DROP`

// mergeEvents copies events into a staging table and inserts those not
// yet stored; it returns the ones inserted. Stored rows that differ from
// the staged ones at the same position fail with ErrForeignHistory.
func (db *DB) mergeEvents(ctx context.Context, tx pgx.Tx, events []command.Event, strict bool) ([]command.Event, error) {
	if _, err := tx.Exec(ctx, db.sqlFor(stagingSQL)); err != nil {
		return nil, err
	}
	db.encodeEvents(events, strict)
	if err := copyIn(ctx, tx, pgx.Identifier{"tandem_staging"}, eventColumns, &db.evBuf); err != nil {
		return nil, err
	}
	var (
		bad    int64
		typ    string
		id     string
		at     int64
		atSeq  int32
		sample command.Event
	)
	err := tx.QueryRow(ctx, db.sqlFor(`
SELECT count(*) OVER (), e.type, e.command_id, e.raft_index, e.seq
  FROM tandem_staging s JOIN {{schema}}.events e USING (cluster_id, raft_index, seq)
 WHERE e.type <> s.type OR e.command_id <> s.command_id
 LIMIT 1`)).Scan(&bad, &typ, &id, &at, &atSeq)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
	case err != nil:
		return nil, err
	default:
		for i := range events {
			if events[i].Index == uint64(at) && events[i].Seq == int(atSeq) {
				sample = events[i]
			}
		}
		return nil, db.foreign(&sample, typ, id)
	}
	rows, err := tx.Query(ctx, db.sqlFor(`
INSERT INTO {{schema}}.events SELECT * FROM tandem_staging
ON CONFLICT (cluster_id, raft_index, seq) DO NOTHING
RETURNING raft_index, seq`))
	if err != nil {
		return nil, err
	}
	inserted := map[command.Position]bool{}
	for rows.Next() {
		var (
			i int64
			s int32
		)
		if err := rows.Scan(&i, &s); err != nil {
			rows.Close()
			return nil, err
		}
		inserted[command.Position{Index: uint64(i), Seq: int(s)}] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	written := make([]command.Event, 0, len(inserted))
	for _, ev := range events {
		if inserted[ev.Pos()] {
			written = append(written, ev)
			delete(inserted, ev.Pos()) // a position given twice is written once
		}
	}
	return written, nil
}

func (db *DB) backfillTx(ctx context.Context, conn *pgx.Conn, events []command.Event, strict bool) (int, error) {
	if len(events) == 0 {
		return 0, nil
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // no-op after Commit
	// Serialise with Deliver for this cluster.
	if _, err := tx.Exec(ctx, db.sqlFor(
		"SELECT 1 FROM {{schema}}.delivery WHERE cluster_id = $1 FOR UPDATE"), db.clusterID); err != nil {
		return 0, err
	}
	written, err := db.mergeEvents(ctx, tx, events, strict)
	if err != nil {
		return 0, err
	}
	if err := db.copyTyped(ctx, tx.Conn().PgConn(), written); err != nil {
		return 0, err
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, err
	}
	return len(written), nil
}

// copyTyped projects events into the typed tables' COPY streams and sends
// them on conn (inside the caller's transaction).
func (db *DB) copyTyped(ctx context.Context, conn *pgconn.PgConn, events []command.Event) error {
	db.projectAsync(events)()
	return db.sendTyped(ctx, conn)
}

// projectAsync starts projecting events into the typed tables' COPY
// streams (db.proj) on another goroutine and returns the function that
// waits for it to finish (waiting again returns at once). Nothing may
// touch db.proj before the wait.
func (db *DB) projectAsync(events []command.Event) (wait func()) {
	if db.testSkipTyped {
		return func() {}
	}
	done := make(chan struct{})
	p, id := db.proj, db.clusterID
	go func() {
		defer close(done)
		p.reset()
		for i := range events {
			p.add(id, &events[i])
		}
	}()
	return func() { <-done }
}

// sendTyped sends the projected typed rows (projectAsync, finished) on
// conn.
func (db *DB) sendTyped(ctx context.Context, conn *pgconn.PgConn) error {
	if db.testSkipTyped {
		return nil
	}
	for _, t := range typedTables {
		if err := copyInConn(ctx, conn, pgx.Identifier{db.schema, t.Name}, t.columnNames(), db.proj.bufs[t]); err != nil {
			return err
		}
	}
	return nil
}

// encodeEvents fills db.evBuf with the events rows.
func (db *DB) encodeEvents(events []command.Event, strict bool) {
	encodeEvents(&db.evBuf, db.clusterID, events, strict)
}

// encodeEvents fills b with the events rows of cluster clusterID.
func encodeEvents(b *copyBuf, clusterID int32, events []command.Event, strict bool) {
	b.reset()
	for i := range events {
		ev := &events[i]
		b.startRow(len(eventColumns))
		b.int4(clusterID)
		b.int8(int64(ev.Index))
		b.int4(int32(ev.Seq))
		b.text(ev.Type)
		b.timestamptz(ev.Time)
		b.text(ev.CommandID)
		if data := jsonValue(ev.Data, strict); data == nil {
			b.null()
		} else {
			b.jsonb(data)
		}
	}
}

var (
	escapedNUL = []byte(`\u0000`)
	nulLiteral = []byte("null")
)

// jsonValue prepares event data for a jsonb column: nil for none (SQL
// NULL); a JSON \u0000 (which jsonb refuses) becomes U+FFFD; with strict,
// data that is not valid JSON is stored as a JSON string of its text.
func jsonValue(data json.RawMessage, strict bool) []byte {
	if len(data) == 0 || bytes.Equal(data, nulLiteral) {
		return nil
	}
	if bytes.Contains(data, escapedNUL) {
		data = replaceEscapedNUL(data)
	}
	if strict && (!json.Valid(data) || !utf8.Valid(data)) {
		b, _ := json.Marshal(strings.ToValidUTF8(string(data), "\uFFFD"))
		return b
	}
	return data
}

// replaceEscapedNUL rewrites each JSON escape \u0000 as \ufffd, leaving an
// escaped backslash followed by "u0000" alone.
func replaceEscapedNUL(data []byte) []byte {
	out := make([]byte, 0, len(data))
	for i := 0; i < len(data); i++ {
		c := data[i]
		if c != '\\' || i+1 >= len(data) {
			out = append(out, c)
			continue
		}
		if bytes.HasPrefix(data[i:], escapedNUL) {
			out = append(out, `\ufffd`...)
			i += len(escapedNUL) - 1
			continue
		}
		out = append(out, c, data[i+1]) // any other escape, kept whole
		i++
	}
	return out
}

func isCode(err error, code string) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == code
}

// isBadInput reports a refusal of a value's content (invalid JSON text,
// an untranslatable character), which strict mode repairs.
func isBadInput(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}
	switch pgErr.Code {
	case "22P02", "22P05", "22021", "22025", "22032":
		return true
	}
	return false
}
