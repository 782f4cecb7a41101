package reporting

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tandemcc/tandem/command"
	"github.com/tandemcc/tandem/contactcenter"
	"github.com/tandemcc/tandem/internal/cputime"
	"github.com/tandemcc/tandem/internal/pgtest"
	"github.com/tandemcc/tandem/replication/buffer"
)

// BenchmarkDrain measures Deliver draining a backlog of events into
// PostgreSQL beside plain pgx CopyFrom runs on the same server, in the same
// run, batch for batch (so all see the same server state and load):
//
//   - raw: CopyFrom of the event rows, prebuilt, into one plain table with
//     the columns of events (no key, no typed tables, no transaction, no
//     delivery record). Reported as raw_rows/s and ours/raw.
//   - ours_events_only: Deliver with the typed tables switched off (a
//     test hook), into a second database: what the idempotent delivery
//     itself costs. Reported as events_only_rows/s and events_only/raw.
//   - raw_all: CopyFrom of every row Deliver writes — the event rows and
//     their typed-table rows, prebuilt — into plain tables of the same
//     columns. Reported as raw_all_rows/s and ours/raw_all.
//
// Rates count events (rows of events) per second in every case. The
// machine may be shared: the ratios are the medians of the per-batch
// ratios (each batch's three runs happen back to back), the rates come
// from the median batch times.
//
// TANDEM_BENCH_BATCH sets the number of commands per batch (default 2,500,
// about 5,000 events).
func BenchmarkDrain(b *testing.B) {
	commands := 2500
	if n, err := strconv.Atoi(os.Getenv("TANDEM_BENCH_BATCH")); err == nil && n > 0 {
		commands = n
	}
	ctx := ctxT(b)
	s := pgtest.Shared(b)
	dsn := s.NewDatabase(b)
	db := openDSN(b, dsn, true)
	evOnly := openDSN(b, s.NewDatabase(b), true)
	evOnly.testSkipTyped = true

	raw, err := pgx.ConnectConfig(ctx, db.cfg.Copy())
	if err != nil {
		b.Fatal(err)
	}
	defer raw.Close(ctx)
	ddl := `CREATE TABLE raw_events (cluster_id integer, raft_index bigint, seq integer,
		type text, time timestamptz, command_id text, data jsonb);
		CREATE TABLE all_events (LIKE raw_events);`
	for _, t := range typedTables {
		ddl += "CREATE TABLE all_" + t.Name + " (LIKE " + db.qschema + "." + t.Name + ");"
	}
	if _, err := raw.Exec(ctx, ddl); err != nil {
		b.Fatal(err)
	}
	prebuilt := func(evs []command.Event) ([][]any, map[*Table][][]any) {
		rows := make([][]any, len(evs))
		for i := range evs {
			ev := &evs[i]
			rows[i] = []any{int32(1), int64(ev.Index), int32(ev.Seq), ev.Type, time.Unix(0, ev.Time).UTC(), ev.CommandID, []byte(ev.Data)}
		}
		return rows, rowsFor(1, evs)
	}
	rawCopy := func(table string, rows [][]any, typed map[*Table][][]any) error {
		if _, err := raw.CopyFrom(ctx, pgx.Identifier{table}, eventColumns, pgx.CopyFromRows(rows)); err != nil {
			return err
		}
		for _, t := range typedTables {
			if len(typed[t]) == 0 {
				continue
			}
			if _, err := raw.CopyFrom(ctx, pgx.Identifier{"all_" + t.Name}, t.columnNames(), pgx.CopyFromRows(typed[t])); err != nil {
				return err
			}
		}
		return nil
	}

	// Warm every path (statement caches, cluster registration).
	warm := genEvents(1, 500)
	if _, err := db.Deliver(ctx, warm); err != nil {
		b.Fatal(err)
	}
	if _, err := evOnly.Deliver(ctx, warm); err != nil {
		b.Fatal(err)
	}
	wr, wt := prebuilt(warm)
	if err := rawCopy("raw_events", wr, nil); err != nil {
		b.Fatal(err)
	}
	if err := rawCopy("all_events", wr, wt); err != nil {
		b.Fatal(err)
	}
	next := warm[len(warm)-1].Index + 1

	var (
		ours, plain, plainAll []time.Duration
		oursEvents            []time.Duration
		events, typedRows     int
		dataBytes             int64
	)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		evs := genEvents(next, commands)
		next = evs[len(evs)-1].Index + 1
		rows, typed := prebuilt(evs)
		for _, ev := range evs {
			dataBytes += int64(len(ev.Data))
		}
		for _, r := range typed {
			typedRows += len(r)
		}
		b.StartTimer()

		start := time.Now()
		if _, err := db.Deliver(ctx, evs); err != nil {
			b.Fatal(err)
		}
		ours = append(ours, time.Since(start))

		start = time.Now()
		if _, err := evOnly.Deliver(ctx, evs); err != nil {
			b.Fatal(err)
		}
		oursEvents = append(oursEvents, time.Since(start))

		start = time.Now()
		if err := rawCopy("raw_events", rows, nil); err != nil {
			b.Fatal(err)
		}
		plain = append(plain, time.Since(start))

		start = time.Now()
		if err := rawCopy("all_events", rows, typed); err != nil {
			b.Fatal(err)
		}
		plainAll = append(plainAll, time.Since(start))
		events += len(evs)
	}
	b.StopTimer()
	perBatch := float64(events) / float64(b.N)
	rate := func(ds []time.Duration) float64 { return perBatch / median(ds).Seconds() }
	ratio := func(num, den []time.Duration) float64 { // rate(num) ÷ rate(den)
		rs := make([]float64, len(num))
		for i := range num {
			rs[i] = den[i].Seconds() / num[i].Seconds()
		}
		return medianF(rs)
	}
	b.ReportMetric(rate(ours), "rows/s")
	b.ReportMetric(rate(plain), "raw_rows/s")
	b.ReportMetric(ratio(ours, plain), "ours/raw")
	b.ReportMetric(rate(plainAll), "raw_all_rows/s")
	b.ReportMetric(ratio(ours, plainAll), "ours/raw_all")
	b.ReportMetric(rate(oursEvents), "events_only_rows/s")
	b.ReportMetric(ratio(oursEvents, plain), "events_only/raw")
	b.ReportMetric(float64(typedRows)/float64(events), "typed_rows/event")
	b.ReportMetric(float64(dataBytes)/float64(events), "data_B/event")
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func medianF(fs []float64) float64 {
	s := slices.Clone(fs)
	slices.Sort(s)
	return s[len(s)/2]
}

// BenchmarkBufferDrain drains a replication buffer's backlog into
// PostgreSQL with a real tandemd — the node's own replication Manager,
// buffer and delivery, in its own process — beside plain pgx CopyFroms of
// exactly the same rows in the same transaction shape, batch by batch, and
// measures that tandemd process's peak memory while it drains
// (bench/README.md, "Drain").
//
// For each backlog size in TANDEM_DRAIN_SIZES (default "64MiB"; `make
// bench` runs "128MiB,1GiB"):
//
//  1. fill: the real contact-center engine (contactcenter.Engine) is driven
//     through a busy day — 200 agents in 20 queues, calls offered,
//     answered, held, noted, hung up, abandoned, ringing out, agents
//     pausing and returning, problems reported, a clock tick every 25
//     commands with its queue statistics — and its events are appended,
//     64 commands per Append as the FSM publishes them, to the replication
//     buffer in the data directory of a node-to-be, until the backlog is
//     that size. The buffer's capacity is twice the backlog: a node whose
//     backlog passes 75 % of its buffer stops the target (replication.md,
//     fill alarms), so a real node never drains a fuller one. A copy of
//     the buffer gives the comparisons the same batches.
//  2. ours: tandemd (TANDEM_BIN_DIR/tandemd, else built from
//     ../../cmd/tandemd) starts on that data directory as a one-node
//     cluster with --reporting-dsn and --replication-buffer-size, and its
//     replication Manager drains the backlog as on any leader:
//     Consumer.Read(1000) → reporting.DB.Deliver (one transaction a batch,
//     which first locks the cluster's delivery row) → Consumer.Ack (a
//     cursor fdatasync). The benchmark holds that row and lets it go once
//     a batch: tandemd delivers the batch, the benchmark takes the row
//     again right behind it (and checks that tandemd's position is the end
//     of the comparisons' batch), and ours is the time from letting go
//     until tandemd waits for the row again (pg_stat_activity, polled
//     every 0.5 ms) — its whole cycle: the delivery transaction, the Ack,
//     the Read of the next batch — or, after the last batch, until it
//     committed. The hand-over (a commit and a lock of the benchmark's
//     own, the polling) is counted as ours.
//  3. raw, the plain program: for the same batch, pgx's Conn.CopyFrom
//     (pgx.CopyFromRows) of the events rows and the typed-table rows in
//     one transaction, like ours, into tables created LIKE ours INCLUDING
//     ALL (same columns, keys and indexes) in a schema "raw". The rows are
//     built before the clock starts; pgx encodes them inside it.
//  4. floor, what PostgreSQL needs to take those rows: the same rows,
//     already encoded in the binary COPY format by our encoder (untimed),
//     sent with pgconn's CopyFrom into a schema "floor", one transaction
//     per batch. No client could do better.
//  5. memory of the tandemd process: its VmRSS before the first batch,
//     then its RSS high-water mark reset (/proc/<pid>/clear_refs "5") and
//     read back (VmHWM of /proc/<pid>/status) after the last; its Go heap
//     in use (go_memstats_heap_inuse_bytes of its /metrics) sampled every
//     200 ms; its CPU time over the drain.
//
// The three take each batch in one of the six orders, in turn; raw and
// floor have a connection each and reconnect every 30 batches (untimed),
// in alternate order. All three write into the same database. Afterwards
// it checks that every table holds the same number of rows in all three
// schemas, that ours holds every event once and that the delivery
// position is the buffer's last.
//
// It reports events/s and rows/s (events plus typed rows) of each, ours ÷
// raw and ours ÷ floor (the ratio of the rates over the whole drain, and
// the median of the per-batch ratios), and tandemd's memory; ns/op is our
// drain alone. Run it with -benchtime=1x (bench/drain.sh does).
// TANDEM_DRAIN_LOG_DIR keeps tandemd's log there
// (tandemd-drain-<size>.log; default: a temporary directory).
func BenchmarkBufferDrain(b *testing.B) {
	sizes := []int64{64 << 20}
	if s := os.Getenv("TANDEM_DRAIN_SIZES"); s != "" {
		sizes = sizes[:0]
		for _, f := range strings.Split(s, ",") {
			n, err := parseSize(strings.TrimSpace(f))
			if err != nil {
				b.Fatalf("TANDEM_DRAIN_SIZES: %v", err)
			}
			sizes = append(sizes, n)
		}
	}
	bin := tandemdBinary(b)
	for _, size := range sizes {
		b.Run(sizeName(size), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				benchDrain(b, bin, size)
			}
		})
	}
}

// drainBatch is what tandemd's Manager reads at a time
// (replication.Config.BatchSize's default; tandemd has no flag for it).
const drainBatch = 1000

// drainCluster is the cluster name tandemd delivers as.
const drainCluster = "drain-bench"

// drainResult is one drain's figures.
type drainResult struct {
	events, typedRows   int64
	batches             int
	ours, raw, floor    time.Duration
	perBatch            []float64 // raw ÷ ours per batch
	perBatchFloor       []float64 // floor ÷ ours per batch
	multi               int       // ours's steps that delivered more than one batch
	tandemdCPU          time.Duration
	rssBase, rssPeak    uint64 // bytes: tandemd's VmRSS before, VmHWM while draining
	hwmReset            bool   // the high-water mark was reset before draining
	heapBase, heapPeak  uint64 // bytes of tandemd's Go heap in use (sampled)
	heapSamples         int
	fillBytes, fillCmds int64
	capacity            int64
	pgVersion           string // server_version
}

func benchDrain(b *testing.B, bin string, size int64) {
	b.StopTimer()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Hour)
	defer cancel()
	capacity := 2 * size

	// 1. Fill the buffer of the node-to-be, and keep a copy.
	tmp := b.TempDir()
	dataDir := filepath.Join(tmp, "node")
	bufDir := filepath.Join(dataDir, "replication", "buffer")
	if err := os.MkdirAll(bufDir, 0o700); err != nil {
		b.Fatal(err)
	}
	buf, err := buffer.Open(bufDir, buffer.Options{MaxBytes: capacity, Consumers: []string{"reporting"}})
	if err != nil {
		b.Fatalf("opening buffer: %v", err)
	}
	fillStart := time.Now()
	cmds, err := fillBuffer(buf, size)
	if err != nil {
		buf.Close()
		b.Fatalf("filling buffer: %v", err)
	}
	st := buf.Stats()
	last := buf.Last()
	if err := buf.Close(); err != nil {
		b.Fatalf("closing buffer: %v", err)
	}
	cmpDir := filepath.Join(tmp, "compare")
	if err := os.CopyFS(cmpDir, os.DirFS(bufDir)); err != nil {
		b.Fatalf("copying the buffer: %v", err)
	}
	cmp, err := buffer.Open(cmpDir, buffer.Options{MaxBytes: capacity, Consumers: []string{"reporting"}})
	if err != nil {
		b.Fatalf("opening the copy of the buffer: %v", err)
	}
	defer cmp.Close()
	c, err := cmp.Consumer("reporting")
	if err != nil {
		b.Fatal(err)
	}
	total := c.Stats().BacklogEvents
	b.Logf("filled %s: %d commands, %d events, %d bytes (%.1f%% of a %s buffer, %d segments) in %v",
		sizeName(size), cmds, total, st.UsedBytes, st.Percent, sizeName(capacity), st.Segments, time.Since(fillStart).Round(time.Millisecond))

	// One database: ours (migrated, the cluster registered, as tandemd
	// would on its first connection), and the comparisons' tables beside
	// it in schemas raw and floor.
	srv := pgtest.Shared(b)
	dbName := fmt.Sprintf("drain_%d_%d", os.Getpid(), time.Now().UnixNano())
	dsn := srv.CreateDatabase(b, dbName)
	defer srv.Exec(b, "", "DROP DATABASE IF EXISTS "+pgx.Identifier{dbName}.Sanitize()+" WITH (FORCE)")
	setup, err := Open(ctx, dsn, WithCluster(drainCluster))
	if err != nil {
		b.Fatal(err)
	}
	defer setup.Close()
	if _, err := setup.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	if _, err := setup.LastDelivered(ctx); err != nil {
		b.Fatal(err)
	}
	clusterID, qschema := setup.clusterID, setup.qschema
	ddl := ""
	for _, schema := range []string{"raw", "floor"} {
		ddl += "CREATE SCHEMA " + schema + "; CREATE TABLE " + schema + ".events (LIKE " + qschema + ".events INCLUDING ALL);"
		for _, t := range typedTables {
			ddl += "CREATE TABLE " + schema + "." + t.Name + " (LIKE " + qschema + "." + t.Name + " INCLUDING ALL);"
		}
	}
	if _, err := setup.conn.Exec(ctx, ddl); err != nil {
		b.Fatal(err)
	}
	r := drainResult{fillBytes: st.UsedBytes, fillCmds: cmds, capacity: capacity}
	if err := setup.conn.QueryRow(ctx, "SHOW server_version").Scan(&r.pgVersion); err != nil {
		b.Fatal(err)
	}

	// 2. tandemd, up and waiting for the delivery row.
	td, err := startDrainTandemd(ctx, b, bin, dataDir, dsn, capacity, clusterID, qschema)
	if err != nil {
		b.Fatal(err)
	}
	defer td.stop()
	td.startMemory(ctx, &r)

	// 2-4, batch by batch: tandemd's next batch (let through the
	// delivery row), raw and floor of the same events, in each of the
	// six orders in turn.
	const reconnectEvery = 30
	cmpConns := &rawFloorConns{}
	defer cmpConns.close()
	var (
		floorBuf  copyBuf
		floorProj = newProjector()
		prev      command.Position // the end of the batch before
	)
	b.StartTimer()
	for loops := 0; ; loops++ {
		if loops > 100_000_000 {
			b.Fatal("drain does not end")
		}
		evs, err := c.Read(drainBatch)
		if err != nil {
			b.Fatalf("reading the copy of the buffer: %v", err)
		}
		if len(evs) == 0 {
			break
		}
		if loops%reconnectEvery == 0 {
			if err := cmpConns.reopen(ctx, dsn, loops/reconnectEvery%2 == 0); err != nil {
				b.Fatal(err)
			}
		}
		rows, typed := rowsOf(clusterID, evs)
		encodeEvents(&floorBuf, clusterID, evs, false)
		floorProj.reset()
		for i := range evs {
			floorProj.add(clusterID, &evs[i])
		}
		want := evs[len(evs)-1].Pos()
		var ours, d, f time.Duration
		single := false // ours's step delivered this batch alone
		for k := 0; k < 3; k++ {
			switch drainOrders[loops%6][k] {
			case 0:
				if !want.After(td.pos) {
					break // delivered already, with an earlier batch
				}
				from := td.pos
				var pos command.Position
				if ours, pos, err = td.step(ctx, want, last); err != nil {
					b.Fatal(err)
				}
				single = pos == want && from == prev
				if !single {
					r.multi++
				}
			case 1:
				if d, err = rawCopy(ctx, cmpConns.raw, rows, typed); err != nil {
					b.Fatal(err)
				}
			case 2:
				if f, err = floorCopy(ctx, cmpConns.floor, &floorBuf, floorProj); err != nil {
					b.Fatal(err)
				}
			}
		}
		if err := c.Ack(want); err != nil {
			b.Fatal(err)
		}
		prev = want
		r.ours += ours
		r.raw += d
		r.floor += f
		if single {
			r.perBatch = append(r.perBatch, d.Seconds()/ours.Seconds())
			r.perBatchFloor = append(r.perBatchFloor, f.Seconds()/ours.Seconds())
		}
		r.events += int64(len(evs))
		for _, t := range typedTables {
			r.typedRows += int64(len(typed[t]))
		}
		r.batches++
	}
	b.StopTimer()
	td.endMemory(&r)
	if r.events != total {
		b.Fatalf("drained %d events of %d", r.events, total)
	}
	if err := td.stop(); err != nil {
		b.Fatal(err)
	}

	// Exactly once, nothing lost.
	var pos command.Position
	if err := setup.conn.QueryRow(ctx, "SELECT raft_index, seq FROM "+qschema+".delivery WHERE cluster_id = $1", clusterID).
		Scan(&pos.Index, &pos.Seq); err != nil {
		b.Fatal(err)
	}
	if pos != last {
		b.Fatalf("delivered up to %v, the buffer ends at %v", pos, last)
	}
	for _, t := range append([]*Table{{Name: "events"}}, typedTables...) {
		var stored, rawStored, floorStored int64
		if err := setup.conn.QueryRow(ctx, "SELECT (SELECT count(*) FROM "+qschema+"."+t.Name+"), (SELECT count(*) FROM raw."+t.Name+
			"), (SELECT count(*) FROM floor."+t.Name+")").Scan(&stored, &rawStored, &floorStored); err != nil {
			b.Fatal(err)
		}
		if stored != rawStored || stored != floorStored || (t.Name == "events" && stored != r.events) {
			b.Fatalf("%s: drained %d events; rows stored %d, raw %d, floor %d", t.Name, r.events, stored, rawStored, floorStored)
		}
	}
	reportDrain(b, size, r)
}

// drainOrders are the orders of ours (0), raw (1) and floor (2).
var drainOrders = [6][3]int{{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}}

// rawFloorConns are the comparisons' connections.
type rawFloorConns struct{ raw, floor *pgx.Conn }

// reopen closes and opens both, raw first when rawFirst.
func (cs *rawFloorConns) reopen(ctx context.Context, dsn string, rawFirst bool) error {
	cs.close()
	order := []**pgx.Conn{&cs.raw, &cs.floor}
	if !rawFirst {
		order[0], order[1] = order[1], order[0]
	}
	for _, p := range order {
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			cs.close()
			return fmt.Errorf("connecting the comparisons: %w", err)
		}
		*p = conn
	}
	return nil
}

func (cs *rawFloorConns) close() {
	for _, c := range []**pgx.Conn{&cs.raw, &cs.floor} {
		if *c != nil {
			(*c).Close(context.Background())
			*c = nil
		}
	}
}

// rawCopy is the plain program's batch: one transaction, a pgx CopyFrom
// per table.
func rawCopy(ctx context.Context, conn *pgx.Conn, rows [][]any, typed map[*Table][][]any) (time.Duration, error) {
	start := time.Now()
	tx, err := conn.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("raw: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // a no-op after Commit
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"raw", "events"}, eventColumns, pgx.CopyFromRows(rows)); err != nil {
		return 0, fmt.Errorf("raw copy of events: %w", err)
	}
	for _, t := range typedTables {
		if len(typed[t]) == 0 {
			continue
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"raw", t.Name}, t.columnNames(), pgx.CopyFromRows(typed[t])); err != nil {
			return 0, fmt.Errorf("raw copy of %s: %w", t.Name, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, fmt.Errorf("raw: %w", err)
	}
	return time.Since(start), nil
}

// floorCopy sends a batch already in the binary COPY format, one
// transaction.
func floorCopy(ctx context.Context, floor *pgx.Conn, events *copyBuf, proj *projector) (time.Duration, error) {
	start := time.Now()
	if _, err := floor.Exec(ctx, "BEGIN"); err != nil {
		return 0, fmt.Errorf("floor: %w", err)
	}
	committed := false
	defer func() {
		if !committed {
			floor.Exec(context.WithoutCancel(ctx), "ROLLBACK") //nolint:errcheck // best effort after a failure
		}
	}()
	if err := copyInConn(ctx, floor.PgConn(), pgx.Identifier{"floor", "events"}, eventColumns, events); err != nil {
		return 0, fmt.Errorf("floor copy of events: %w", err)
	}
	for _, t := range typedTables {
		if err := copyInConn(ctx, floor.PgConn(), pgx.Identifier{"floor", t.Name}, t.columnNames(), proj.bufs[t]); err != nil {
			return 0, fmt.Errorf("floor copy of %s: %w", t.Name, err)
		}
	}
	if _, err := floor.Exec(ctx, "COMMIT"); err != nil {
		return 0, fmt.Errorf("floor: %w", err)
	}
	committed = true
	return time.Since(start), nil
}

// tandemdBinary is TANDEM_BIN_DIR/tandemd, or one built from this tree.
func tandemdBinary(b *testing.B) string {
	if d := os.Getenv("TANDEM_BIN_DIR"); d != "" {
		p := filepath.Join(d, "tandemd")
		if _, err := os.Stat(p); err != nil {
			b.Fatalf("TANDEM_BIN_DIR: %v (make build)", err)
		}
		return p
	}
	p := filepath.Join(b.TempDir(), "tandemd")
	cmd := exec.Command("go", "build", "-o", p, "../../cmd/tandemd")
	cmd.Env = append(os.Environ(), "GOFLAGS=-buildvcs=false")
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("building tandemd: %v\n%s", err, out)
	}
	return p
}

// drainTandemd is a tandemd draining into the benchmark's database, let
// through one batch at a time: the benchmark holds the cluster's
// delivery row (SELECT … FOR UPDATE in a transaction of its own), on
// which each of tandemd's delivery transactions waits first. To let one
// batch through, a second connection of the benchmark asks for the row
// too — queued behind tandemd, which waits already: PostgreSQL grants a
// row's lock in the order it was asked for — and only then does the
// holder let go: tandemd delivers its batch, and the row passes to the
// benchmark again before tandemd can ask for it for the next.
type drainTandemd struct {
	cmd       *exec.Cmd
	pid       int
	exited    chan error
	gone      error // what exited yielded, once it did
	stopped   bool
	gates     [2]*pgx.Conn
	cur       int    // the gate holding the row, in gtx
	gtx       pgx.Tx // its transaction
	poll      *pgx.Conn
	sql       struct{ lock, waiting, gateWaits string }
	clusterID int32
	logPath   string
	metrics   string
	pos       command.Position // the delivery position tandemd reached
	untimed   time.Duration    // of the step under way: the hand-over's set-up

	cpu0       time.Duration
	stopHeap   chan struct{}
	heapDone   chan struct{}
	heapPeak   uint64
	heapSample int
}

// startDrainTandemd locks the delivery row, starts tandemd on dataDir and
// waits until its first delivery waits for the row.
func startDrainTandemd(ctx context.Context, b *testing.B, bin, dataDir, dsn string, capacity int64, clusterID int32, qschema string) (*drainTandemd, error) {
	td := &drainTandemd{clusterID: clusterID, exited: make(chan error, 1)}
	td.sql.lock = "SELECT raft_index, seq FROM " + qschema + ".delivery WHERE cluster_id = $1 FOR UPDATE"
	td.sql.waiting = `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()
		AND application_name = 'tandem-reporting' AND wait_event_type = 'Lock'`
	td.sql.gateWaits = `SELECT count(*) FROM pg_stat_activity WHERE pid = $1 AND wait_event_type = 'Lock'`
	for _, p := range []**pgx.Conn{&td.gates[0], &td.gates[1], &td.poll} {
		c, err := pgx.Connect(ctx, dsn)
		if err != nil {
			td.closeConns()
			return nil, err
		}
		*p = c
	}
	tx, err := td.gates[0].Begin(ctx)
	if err == nil {
		var p command.Position
		err = tx.QueryRow(ctx, td.sql.lock, td.clusterID).Scan(&p.Index, &p.Seq)
		td.gtx = tx
	}
	if err != nil {
		td.closeConns()
		return nil, fmt.Errorf("locking the delivery row: %w", err)
	}
	raftAddr, adminAddr, err := twoFreeAddrs()
	if err != nil {
		td.closeConns()
		return nil, err
	}
	td.metrics = "http://" + adminAddr + "/metrics"
	logDir := os.Getenv("TANDEM_DRAIN_LOG_DIR")
	if logDir == "" {
		logDir = b.TempDir()
	}
	td.logPath = filepath.Join(logDir, "tandemd-drain-"+sizeName(capacity/2)+".log")
	logFile, err := os.Create(td.logPath)
	if err != nil {
		td.closeConns()
		return nil, err
	}
	defer logFile.Close() // the child has its own descriptor
	td.cmd = exec.Command(bin, "--node-id", "drain", "--data-dir", dataDir,
		"--raft-addr", raftAddr, "--admin-addr", adminAddr, "--http-addr", "", "--sip-addr", "", "--snmp-addr", "",
		"--admin-token", "drain-benchmark-token-0123456789",
		"--reporting-dsn", dsn, "--reporting-cluster", drainCluster,
		"--replication-buffer-size", strconv.FormatInt(capacity, 10))
	td.cmd.Stdout, td.cmd.Stderr = logFile, logFile
	if err := td.cmd.Start(); err != nil {
		td.closeConns()
		return nil, fmt.Errorf("starting tandemd: %w", err)
	}
	td.pid = td.cmd.Process.Pid
	go func() { td.exited <- td.cmd.Wait() }()
	if err := td.waitWaiting(ctx, 2*time.Minute); err != nil {
		td.stop()
		return nil, err
	}
	return td, nil
}

// waitWaiting waits until tandemd's delivery waits for the row.
func (td *drainTandemd) waitWaiting(ctx context.Context, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		var n int
		if err := td.poll.QueryRow(ctx, td.sql.waiting).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return nil
		}
		select {
		case err := <-td.exited:
			td.gone, td.stopped = err, true
			return fmt.Errorf("tandemd exited (%v); see %s", err, td.logPath)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Microsecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("tandemd's delivery did not come to the delivery row within %v%s; see %s", limit, lastError(td.logPath), td.logPath)
		}
	}
}

// step lets tandemd deliver its next batch, which ends at want, and
// times its whole cycle: from letting go of the row until tandemd has
// committed that batch, acknowledged it in its buffer (a cursor
// fdatasync), read the next one and waits for the row again (or, after
// the buffer's last event, until it committed). It returns the delivery
// position reached: want, or later when tandemd got the row again before
// the benchmark's connection did (PostgreSQL hands a row on in order, but
// the waiter it wakes must still find a CPU on a busy machine), so that
// the step covered more than one batch.
func (td *drainTandemd) step(ctx context.Context, want, last command.Position) (time.Duration, command.Position, error) {
	start := time.Now()
	td.untimed = 0
	for {
		d, pos, err := td.stepOnce(ctx, last)
		if err != nil {
			return 0, pos, err
		}
		if !want.After(pos) {
			return time.Since(start) - td.untimed, pos, nil
		}
		if d == 0 {
			return 0, pos, fmt.Errorf("tandemd's delivery position %v did not move", pos)
		}
	}
}

// stepOnce lets the row go once; it returns how long tandemd took and the
// position it reached.
func (td *drainTandemd) stepOnce(ctx context.Context, last command.Position) (time.Duration, command.Position, error) {
	t0 := time.Now()
	// Untimed: the other gate asks for the row, behind tandemd.
	next := 1 - td.cur
	tx, err := td.gates[next].Begin(ctx)
	if err != nil {
		return 0, command.Position{}, err
	}
	type locked struct {
		pos command.Position
		err error
	}
	got := make(chan locked, 1)
	go func() {
		var l locked
		l.err = tx.QueryRow(ctx, td.sql.lock, td.clusterID).Scan(&l.pos.Index, &l.pos.Seq)
		got <- l
	}()
	pid := td.gates[next].PgConn().PID()
	for deadline := time.Now().Add(time.Minute); ; {
		var n int
		if err := td.poll.QueryRow(ctx, td.sql.gateWaits, pid).Scan(&n); err != nil {
			return 0, command.Position{}, err
		}
		if n > 0 {
			break
		}
		select {
		case l := <-got:
			return 0, l.pos, fmt.Errorf("the benchmark got the delivery row (%v, %v) while it held it already", l.pos, l.err)
		case <-time.After(200 * time.Microsecond):
		}
		if time.Now().After(deadline) {
			return 0, command.Position{}, errors.New("the benchmark's second connection does not wait for the delivery row")
		}
	}

	start := time.Now()
	td.untimed += start.Sub(t0)
	if err := td.gtx.Commit(ctx); err != nil {
		return 0, command.Position{}, err
	}
	var l locked
	select {
	case l = <-got: // tandemd committed a batch
	case err := <-td.exited:
		td.gone, td.stopped = err, true
		return 0, command.Position{}, fmt.Errorf("tandemd exited (%v); see %s", err, td.logPath)
	}
	td.gtx, td.cur = tx, next
	if l.err != nil {
		return 0, l.pos, l.err
	}
	if l.pos != last {
		if err := td.waitWaiting(ctx, time.Minute); err != nil {
			return 0, l.pos, err
		}
	}
	d := time.Since(start)
	if l.pos == td.pos {
		d = 0 // the benchmark's connection got the row first: nothing delivered
	}
	td.pos = l.pos
	return d, l.pos, nil
}

// startMemory takes tandemd's memory before the drain, resets its RSS
// high-water mark and samples its Go heap every 200 ms until endMemory.
func (td *drainTandemd) startMemory(ctx context.Context, r *drainResult) {
	r.rssBase, _ = procStatusOf(td.pid, "VmRSS")
	r.heapBase, _ = goHeapInUse(ctx, td.metrics)
	r.hwmReset = os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", td.pid), []byte("5"), 0) == nil
	td.cpu0, _ = cputime.Process(td.pid)
	td.heapPeak = r.heapBase
	td.stopHeap, td.heapDone = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(td.heapDone)
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-td.stopHeap:
				return
			case <-t.C:
				if h, err := goHeapInUse(ctx, td.metrics); err == nil {
					td.heapPeak = max(td.heapPeak, h)
					td.heapSample++
				}
			}
		}
	}()
}

// endMemory takes tandemd's peaks.
func (td *drainTandemd) endMemory(r *drainResult) {
	close(td.stopHeap)
	<-td.heapDone
	r.heapPeak, r.heapSamples = td.heapPeak, td.heapSample
	r.rssPeak, _ = procStatusOf(td.pid, "VmHWM")
	if cpu, err := cputime.Process(td.pid); err == nil {
		r.tandemdCPU = cpu - td.cpu0
	}
}

// stop lets go of the row and stops tandemd (SIGTERM, then SIGKILL after
// 30 s); it reports an exit that was not asked for.
func (td *drainTandemd) stop() error {
	defer td.closeConns()
	if td.stopped {
		return td.gone
	}
	td.stopped = true
	select {
	case err := <-td.exited:
		td.gone = fmt.Errorf("tandemd exited on its own (%v); see %s", err, td.logPath)
		return td.gone
	default:
	}
	td.cmd.Process.Signal(syscall.SIGTERM) //nolint:errcheck // it may have just exited
	select {
	case <-td.exited:
	case <-time.After(30 * time.Second):
		td.cmd.Process.Kill() //nolint:errcheck // it may have just exited
		<-td.exited
		td.gone = fmt.Errorf("tandemd did not stop within 30 s of SIGTERM; see %s", td.logPath)
	}
	return td.gone
}

func (td *drainTandemd) closeConns() {
	if td.gtx != nil {
		td.gtx.Rollback(context.Background()) //nolint:errcheck // a no-op once committed
		td.gtx = nil
	}
	for _, c := range []**pgx.Conn{&td.gates[0], &td.gates[1], &td.poll} {
		if *c != nil {
			(*c).Close(context.Background())
			*c = nil
		}
	}
}

// lastError is ": <the last line of the log with ERROR in it>", or "".
func lastError(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(string(b), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.Contains(lines[i], "ERROR") {
			if l := lines[i]; len(l) > 600 {
				return ": " + l[:600] + "…"
			}
			return ": " + lines[i]
		}
	}
	return ""
}

// twoFreeAddrs returns two loopback addresses that were free a moment ago.
func twoFreeAddrs() (string, string, error) {
	var addrs [2]string
	for i := range addrs {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", "", err
		}
		addrs[i] = l.Addr().String()
		defer l.Close()
	}
	return addrs[0], addrs[1], nil
}

// goHeapInUse reads go_memstats_heap_inuse_bytes from a Prometheus
// /metrics page.
func goHeapInUse(ctx context.Context, url string) (uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, "go_memstats_heap_inuse_bytes "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				return 0, err
			}
			return uint64(f), nil
		}
	}
	return 0, errors.New("no go_memstats_heap_inuse_bytes in " + url)
}

func reportDrain(b *testing.B, size int64, r drainResult) {
	rows := float64(r.events + r.typedRows)
	ratio := r.raw.Seconds() / r.ours.Seconds()
	ratioFloor := r.floor.Seconds() / r.ours.Seconds()
	const mib = 1 << 20
	// ns/op is our drain alone (the loop also runs the comparisons).
	b.ReportMetric(float64(r.ours.Nanoseconds()), "ns/op")
	b.ReportMetric(float64(r.events)/r.ours.Seconds(), "events/s")
	b.ReportMetric(rows/r.ours.Seconds(), "rows/s")
	b.ReportMetric(rows/r.raw.Seconds(), "raw_rows/s")
	b.ReportMetric(ratio, "ours/raw")
	b.ReportMetric(ratioFloor, "ours/floor")
	b.ReportMetric(float64(r.rssPeak)/mib, "tandemd_peak_rss_MiB")
	b.ReportMetric(float64(r.heapPeak)/mib, "tandemd_peak_heap_MiB")
	// One summary line for bench/drain.sh.
	fmt.Printf("DRAIN size=%s capacity=%s batch=%d postgresql=%s buffer_bytes=%d commands=%d events=%d typed_rows=%d batches=%d "+
		"ours_s=%.3f raw_s=%.3f floor_s=%.3f tandemd_cpu_s=%.2f "+
		"ours_events_per_s=%.0f ours_rows_per_s=%.0f raw_rows_per_s=%.0f floor_rows_per_s=%.0f "+
		"ratio=%.3f ratio_median_batch=%.3f ratio_floor=%.3f ratio_floor_median_batch=%.3f multi_batch_steps=%d rss_base_mib=%.1f rss_peak_mib=%.1f hwm_reset=%t heap_base_mib=%.1f heap_peak_mib=%.1f heap_samples=%d\n",
		sizeName(size), sizeName(r.capacity), drainBatch, strings.Fields(r.pgVersion + " ?")[0], r.fillBytes, r.fillCmds, r.events, r.typedRows, r.batches,
		r.ours.Seconds(), r.raw.Seconds(), r.floor.Seconds(), r.tandemdCPU.Seconds(),
		float64(r.events)/r.ours.Seconds(), rows/r.ours.Seconds(), rows/r.raw.Seconds(), rows/r.floor.Seconds(),
		ratio, medianF(r.perBatch), ratioFloor, medianF(r.perBatchFloor), r.multi, float64(r.rssBase)/mib, float64(r.rssPeak)/mib, r.hwmReset,
		float64(r.heapBase)/mib, float64(r.heapPeak)/mib, r.heapSamples)
}

// rowsOf returns events' rows as plain pgx CopyFrom rows: the events rows
// and the typed rows Deliver writes for them.
func rowsOf(clusterID int32, evs []command.Event) ([][]any, map[*Table][][]any) {
	rows := make([][]any, len(evs))
	for i := range evs {
		ev := &evs[i]
		var data any
		if d := jsonValue(ev.Data, false); d != nil {
			data = d
		}
		rows[i] = []any{clusterID, int64(ev.Index), int32(ev.Seq), ev.Type, time.Unix(0, ev.Time).UTC(), ev.CommandID, data}
	}
	return rows, rowsFor(clusterID, evs)
}

// procStatusOf reads a "kB" field of /proc/<pid>/status, in bytes.
func procStatusOf(pid int, field string) (uint64, error) {
	path := fmt.Sprintf("/proc/%d/status", pid)
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("reading %s: %w", path, err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		name, val, ok := strings.Cut(line, ":")
		if !ok || name != field {
			continue
		}
		kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(val), " kB"), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("parsing %s %q: %w", field, val, err)
		}
		return kb << 10, nil
	}
	return 0, fmt.Errorf("no %s in %s", field, path)
}

// parseSize reads "128MiB", "1GiB", "512KiB" or a number of bytes.
func parseSize(s string) (int64, error) {
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		m      int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSuffix(s, u.suffix), u.m
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("size %q: want e.g. 128MiB, 1GiB or bytes", s)
	}
	return n * mult, nil
}

func sizeName(n int64) string {
	switch {
	case n%(1<<30) == 0:
		return fmt.Sprintf("%dGiB", n>>30)
	case n%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", n>>20)
	case n%(1<<10) == 0:
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return strconv.FormatInt(n, 10)
}

// fillBuffer appends the events of a simulated busy contact center to buf
// until the next batch would not fit. It returns the commands applied.
func fillBuffer(buf *buffer.Buffer, size int64) (int64, error) {
	sim, err := newCCSim()
	if err != nil {
		return 0, err
	}
	const perAppend = 64 // commands per Append, like an FSM apply batch
	for loops := 0; loops < 1<<40; loops++ {
		for i := 0; i < perAppend; i++ {
			sim.step()
		}
		est := int64(0)
		for i := range sim.out {
			ev := &sim.out[i]
			est += int64(len(ev.Data) + len(ev.Type) + len(ev.CommandID) + 40)
		}
		if buf.Stats().UsedBytes+est > size {
			break
		}
		if err := buf.Append(sim.out...); err != nil {
			return 0, fmt.Errorf("append at command %d: %w", sim.idx, err)
		}
		sim.out = sim.out[:0]
	}
	if sim.refused > sim.cmds/10 {
		return 0, fmt.Errorf("the engine refused %d of %d commands: the simulation is off", sim.refused, sim.cmds)
	}
	return int64(sim.cmds), buf.Sync()
}

// ccSim drives the real contact-center engine like a busy day: it
// proposes commands with increasing Raft indexes and times, as the leader
// would, and keeps the events of the ones applied. Randomness only picks
// the next command (seeded: the same run every time); the engine itself
// is deterministic as always.
type ccSim struct {
	e       *contactcenter.Engine
	rng     *rand.Rand
	idx     uint64
	now     int64
	cmds    int
	refused int
	calls   int
	reports int
	agents  []string
	offers  []simCall // offered, not answered yet; oldest first
	talking []simCall // answered, not hung up yet; oldest first
	ended   []simCall // recently hung up (for problem reports)
	waiting []string  // queued without an offer (some are abandoned)
	paused  []string
	out     []command.Event
}

type simCall struct{ call, agent string }

const (
	simAgents  = 200
	simQueues  = 20
	simBusy    = 150 // agents on a call the simulation keeps
	simWaiting = 40  // callers waiting before the longest-waiting gives up
)

var (
	simNames   = []string{"Ann Caller", "Bob Stone", "Carla Pérez", "Dieter Müller", "Eve Adams", "Farid Haddad", "Grace Lee", ""}
	simReasons = []string{"lunch", "training", "meeting", "break"}
	simNotes   = []string{"customer asks for a refund", "wrong number", "order 1234 not delivered", "call back tomorrow morning"}
)

func newCCSim() (*ccSim, error) {
	s := &ccSim{e: contactcenter.New(), rng: rand.New(rand.NewPCG(4, 2)), now: t0.UnixNano()}
	var doc strings.Builder
	doc.WriteString("pause_reasons:\n")
	for _, r := range simReasons {
		fmt.Fprintf(&doc, "  - {code: %s, name: %s}\n", r, strings.ToUpper(r[:1])+r[1:])
	}
	doc.WriteString("queues:\n")
	for q := 0; q < simQueues; q++ {
		st := contactcenter.Strategies[q%len(contactcenter.Strategies)]
		fmt.Fprintf(&doc, "  - {id: q%02d, name: Queue %d, strategy: %s, service_level_seconds: 20}\n", q, q, st)
	}
	doc.WriteString("agents:\n")
	for a := 0; a < simAgents; a++ {
		id := fmt.Sprintf("agent-%03d", a)
		s.agents = append(s.agents, id)
		fmt.Fprintf(&doc, "  - {id: %s, name: Agent %d, queues: [q%02d, q%02d, q%02d], skills: {english: %d, billing: %d}, wrap_up_seconds: %d}\n",
			id, a, a%simQueues, (a+7)%simQueues, (a+13)%simQueues, 1+a%10, 1+a%5, 5*(a%3))
	}
	d, err := contactcenter.ParseDocument([]byte(doc.String()))
	if err != nil {
		return nil, fmt.Errorf("simulation config: %w", err)
	}
	if !s.apply(contactcenter.TypeConfigApply, contactcenter.ApplyRequest{Document: d}) {
		return nil, errors.New("simulation config refused")
	}
	for _, a := range s.agents { // log in: disconnected → paused → connected
		s.apply(contactcenter.TypeAgentLogin, contactcenter.AgentRequest{Agent: a})
		s.apply(contactcenter.TypeAgentLogin, contactcenter.AgentRequest{Agent: a})
	}
	return s, nil
}

// apply proposes one command; it reports whether the engine applied it.
func (s *ccSim) apply(typ string, payload any) bool {
	s.idx++
	s.cmds++
	s.now += int64(20*time.Millisecond) + s.rng.Int64N(int64(40*time.Millisecond))
	raw, err := json.Marshal(payload)
	if err != nil {
		panic(err)
	}
	env := command.Envelope{Type: typ, Version: command.CurrentVersion, Time: s.now, Payload: raw,
		ID: fmt.Sprintf("%08x-%04x-4%03x-a%03x-%012x", s.rng.Uint32(), s.rng.Uint32()&0xffff,
			s.rng.Uint32()&0xfff, s.rng.Uint32()&0xfff, s.rng.Uint64()&0xffffffffffff)}
	em := command.NewEmitter(s.idx, env)
	if _, err := s.e.Apply(env, em); err != nil {
		s.refused++
		return false
	}
	for _, ev := range em.Events() {
		s.observe(ev)
	}
	s.out = append(s.out, em.Events()...)
	return true
}

// observe follows the calls the commands' events describe.
func (s *ccSim) observe(ev command.Event) {
	var d struct {
		Call   string   `json:"call"`
		Agent  string   `json:"agent"`
		Agents []string `json:"agents"`
	}
	switch ev.Type {
	case contactcenter.EvCallOffered, contactcenter.EvCallAnswered, contactcenter.EvCallQueued:
		if err := json.Unmarshal(ev.Data, &d); err != nil {
			panic(err)
		}
	default:
		return
	}
	switch ev.Type {
	case contactcenter.EvCallOffered:
		if n := len(s.waiting); n > 0 && s.waiting[n-1] == d.Call {
			s.waiting = s.waiting[:n-1] // offered at once: not waiting
		}
		if len(d.Agents) > 0 {
			s.offers = append(s.offers, simCall{d.Call, d.Agents[0]})
		}
	case contactcenter.EvCallAnswered:
		s.talking = append(s.talking, simCall{d.Call, d.Agent})
	case contactcenter.EvCallQueued:
		s.waiting = append(s.waiting, d.Call)
	}
}

// step proposes the next command of the day.
func (s *ccSim) step() {
	r := s.rng.Float64()
	pick := func(l []simCall) simCall { return l[s.rng.IntN(len(l))] }
	switch {
	case s.cmds%25 == 0: // about once a second
		s.apply(contactcenter.TypeClockTick, nil)
	case r < 0.008:
		a := s.agents[s.rng.IntN(len(s.agents))]
		if s.apply(contactcenter.TypeAgentPause, contactcenter.PauseRequest{Agent: a, Reason: simReasons[s.rng.IntN(len(simReasons))]}) {
			s.paused = append(s.paused, a)
		}
	case r < 0.016 && len(s.paused) > 0:
		s.apply(contactcenter.TypeAgentLogin, contactcenter.AgentRequest{Agent: s.paused[0]})
		s.paused = s.paused[1:]
	case r < 0.018 && len(s.ended) > 0:
		c := pick(s.ended)
		s.reports++
		s.apply(contactcenter.TypeAgentReportProblem, contactcenter.ReportProblemRequest{
			Agent: c.agent, Report: fmt.Sprintf("pr-%d", s.reports), Call: c.call, Description: "one-way audio, customer could not hear the agent"})
	case r < 0.03 && len(s.talking) > 0:
		c := pick(s.talking)
		s.apply(contactcenter.TypeCallNote, contactcenter.NoteRequest{Agent: c.agent, Call: c.call, Note: simNotes[s.rng.IntN(len(simNotes))]})
	case r < 0.05 && len(s.talking) > 0:
		c := pick(s.talking)
		if s.apply(contactcenter.TypeCallHold, contactcenter.AgentCallRequest{Agent: c.agent}) {
			s.apply(contactcenter.TypeCallRetrieve, contactcenter.RetrieveRequest{Agent: c.agent})
		}
	case len(s.waiting) > simWaiting || (r < 0.07 && len(s.waiting) > 0): // a caller gives up
		c := s.waiting[0]
		s.waiting = s.waiting[1:]
		s.apply(contactcenter.TypeCallRemoteHangup, contactcenter.RemoteHangupRequest{Call: c})
	case len(s.offers) > 0 && r < 0.6:
		o := s.offers[0]
		s.offers = s.offers[1:]
		if s.rng.IntN(40) > 0 { // a few ring out (no answer, offered again)
			s.apply(contactcenter.TypeCallAnswer, contactcenter.AgentCallRequest{Agent: o.agent})
		}
	case len(s.talking) > simBusy || (len(s.talking) > 0 && r > 0.8):
		c := s.talking[0]
		s.talking = s.talking[1:]
		if s.apply(contactcenter.TypeCallHangup, contactcenter.HangupRequest{Agent: c.agent}) {
			s.ended = append(s.ended, c)
			if len(s.ended) > 50 {
				s.ended = s.ended[1:]
			}
		}
	default:
		s.calls++
		s.apply(contactcenter.TypeCallIncoming, contactcenter.IncomingRequest{
			Call: fmt.Sprintf("call-%d", s.calls), Queue: fmt.Sprintf("q%02d", s.rng.IntN(simQueues)),
			Number: fmt.Sprintf("+4416155%05d", s.rng.IntN(100000)), Name: simNames[s.rng.IntN(len(simNames))],
			Priority: s.rng.IntN(3)})
	}
}

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		name string
		bad  bool
	}{
		{in: "128MiB", want: 128 << 20, name: "128MiB"},
		{in: "1GiB", want: 1 << 30, name: "1GiB"},
		{in: "512KiB", want: 512 << 10, name: "512KiB"},
		{in: "1000", want: 1000, name: "1000"},
		{in: "1536MiB", want: 1536 << 20, name: "1536MiB"},
		{in: "", bad: true},
		{in: "0MiB", bad: true},
		{in: "-1GiB", bad: true},
		{in: "1GB", bad: true},
		{in: "MiB", bad: true},
	} {
		got, err := parseSize(tc.in)
		if tc.bad {
			if err == nil {
				t.Errorf("parseSize(%q) = %d, want an error", tc.in, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
			continue
		}
		if n := sizeName(got); n != tc.name {
			t.Errorf("sizeName(%d) = %q, want %q", got, n, tc.name)
		}
	}
}

// TestCCSim: the drain benchmark's simulated day is the same every time,
// the engine applies nearly all of it, and it produces the reporting mix
// the benchmark claims (bench/README.md).
func TestCCSim(t *testing.T) {
	run := func() (map[string]int, []command.Event, *ccSim) {
		s, err := newCCSim()
		if err != nil {
			t.Fatal(err)
		}
		var all []command.Event
		for i := 0; i < 20000; i++ {
			s.step()
		}
		all = append(all, s.out...)
		types := map[string]int{}
		for _, ev := range all {
			types[ev.Type]++
		}
		return types, all, s
	}
	types, a, s := run()
	_, b, _ := run()
	if len(a) != len(b) {
		t.Fatalf("two runs made %d and %d events", len(a), len(b))
	}
	for i := range a {
		if a[i].Pos() != b[i].Pos() || a[i].Type != b[i].Type || a[i].CommandID != b[i].CommandID || string(a[i].Data) != string(b[i].Data) {
			t.Fatalf("event %d differs between runs: %+v vs %+v", i, a[i], b[i])
		}
	}
	if s.refused > s.cmds/10 {
		t.Errorf("the engine refused %d of %d commands", s.refused, s.cmds)
	}
	if err := checkOrder(a); err != nil {
		t.Fatal(err)
	}
	for _, typ := range []string{"queue.stats", "call.queued", "call.offered", "call.answered", "call.ended",
		"agent.wrapup_started", "agent.state_changed", "call.held", "call.note_updated", "call.no_answer", "problem.reported"} {
		if types[typ] == 0 {
			t.Errorf("no %s events in %d (%v)", typ, len(a), types)
		}
	}
	if n := types["queue.stats"]; n < len(a)/10 {
		t.Errorf("%d queue.stats of %d events: the clock does not tick", n, len(a))
	}
}
