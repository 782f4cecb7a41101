package reporting

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tandemcc/tandem/command"
	"github.com/tandemcc/tandem/contactcenter"
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

// BenchmarkBufferDrain drains a full replication buffer into PostgreSQL
// through the delivery path the replication Manager runs, beside plain
// CopyFroms of exactly the same rows in the same run, and measures the
// process's peak memory while draining (bench/README.md, "Drain").
//
// For each size in TANDEM_DRAIN_SIZES (default "64MiB"; `make bench` runs
// "128MiB,1GiB"):
//
//  1. fill: the real contact-center engine (contactcenter.Engine) is driven
//     through a busy day — 200 agents in 20 queues, calls offered,
//     answered, held, noted, hung up, abandoned, ringing out, agents
//     pausing and returning, problems reported, a clock tick every 25
//     commands with its queue statistics — and its events are appended to
//     a replication buffer (replication/buffer) of that capacity, 64
//     commands per Append as the FSM publishes them, until it is full;
//     then the buffer is synced, closed and reopened as a restarted node
//     would.
//  2. ours, batch by batch as replication.Manager does on the leader:
//     Consumer.Read(batch) → DB.Deliver → Consumer.Ack(position), timed
//     end to end (buffer read and cursor fsync included).
//  3. raw, the "plain pgx CopyFrom of the same rows": for the same
//     batch, pgx's Conn.CopyFrom (pgx.CopyFromRows) of its events rows and
//     typed-table rows into tables created LIKE ours INCLUDING ALL (same
//     columns, keys and indexes) in a schema "raw", one CopyFrom per table,
//     autocommit. The rows are built before the clock starts.
//  4. floor, what PostgreSQL needs to take those rows: the same rows,
//     already encoded in the binary COPY format by our encoder (untimed),
//     sent with pgconn's CopyFrom into a schema "floor", one transaction
//     per batch. No client could do better; ours ÷ floor is what is left.
//  5. memory: before draining the heap is collected and returned to the
//     OS and the RSS high-water mark is reset (/proc/self/clear_refs "5");
//     while draining the Go heap in use is sampled every millisecond and
//     after every batch; afterwards VmHWM is read from /proc/self/status.
//     It covers the whole process: ours plus one batch of the
//     comparisons' rows at a time.
//
// The three run in the same database, each on a connection of its own,
// batch by batch in each of the six orders in turn; every 30 batches all
// three reconnect, again in each order in turn (untimed): on a shared
// machine the first connection opened was seen to run up to a quarter
// faster than the others, for the whole run.
//
// Afterwards it checks that every table holds the same number of rows in
// all three schemas, that ours holds every event once and that the
// delivery position is the buffer's last. It reports events/s and rows/s
// (events plus typed rows) of each, ours ÷ raw and ours ÷ floor (total
// times, so the ratio of the rates over the whole drain; and the median of
// the per-batch ratios), and both memory peaks; ns/op is our drain alone.
// TANDEM_DRAIN_BATCH overrides the batch (default 1000 events,
// replication.Config.BatchSize's default). Run it with -benchtime=1x
// (bench/drain.sh does).
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
	batch := 1000
	if n, err := strconv.Atoi(os.Getenv("TANDEM_DRAIN_BATCH")); err == nil && n > 0 {
		batch = n
	}
	for _, size := range sizes {
		b.Run(sizeName(size), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				benchDrain(b, size, batch)
			}
		})
	}
}

// drainResult is one drain's figures.
type drainResult struct {
	events, typedRows   int64
	batches             int
	ours, raw, floor    time.Duration
	read, deliver, ack  time.Duration
	perBatch            []float64 // raw ÷ ours per batch
	perBatchFloor       []float64 // floor ÷ ours per batch
	rssBase, rssPeak    uint64    // bytes: VmRSS before, VmHWM while draining
	heapBase, heapPeak  uint64    // bytes of heap in use
	fillBytes, fillCmds int64
	batch               int    // the batch asked for
	pgVersion           string // server_version
}

func benchDrain(b *testing.B, size int64, batch int) {
	b.StopTimer()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Hour)
	defer cancel()

	// 1. Fill.
	dir := b.TempDir()
	buf, err := buffer.Open(dir, buffer.Options{MaxBytes: size, Consumers: []string{"reporting"}})
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
	if err := buf.Close(); err != nil {
		b.Fatalf("closing buffer: %v", err)
	}
	fillTime := time.Since(fillStart)
	openStart := time.Now()
	buf, err = buffer.Open(dir, buffer.Options{MaxBytes: size, Consumers: []string{"reporting"}})
	if err != nil {
		b.Fatalf("reopening buffer: %v", err)
	}
	defer buf.Close()
	openTime := time.Since(openStart)
	c, err := buf.Consumer("reporting")
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("filled %s: %d commands, %d events appended, %.1f%% of %d bytes in %v (%d segments); reopened in %v",
		sizeName(size), cmds, c.Stats().BacklogEvents, st.Percent, size, fillTime.Round(time.Millisecond), st.Segments, openTime.Round(time.Millisecond))

	// One database: ours (migrated), and the comparisons' tables beside
	// it in schemas raw and floor.
	srv := pgtest.Shared(b)
	dbName := fmt.Sprintf("drain_%d_%d", os.Getpid(), time.Now().UnixNano())
	dsn := srv.CreateDatabase(b, dbName)
	defer srv.Exec(b, "", "DROP DATABASE IF EXISTS "+pgx.Identifier{dbName}.Sanitize()+" WITH (FORCE)")
	setup, err := Open(ctx, dsn)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := setup.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	ddl := ""
	for _, schema := range []string{"raw", "floor"} {
		ddl += "CREATE SCHEMA " + schema + "; CREATE TABLE " + schema + ".events (LIKE " + setup.qschema + ".events INCLUDING ALL);"
		for _, t := range typedTables {
			ddl += "CREATE TABLE " + schema + "." + t.Name + " (LIKE " + setup.qschema + "." + t.Name + " INCLUDING ALL);"
		}
	}
	if _, err := setup.conn.Exec(ctx, ddl); err != nil {
		b.Fatal(err)
	}
	setup.Close()
	// Each of the three has a connection (a server backend) of its own:
	// sharing one between two workloads slows both. On this shared
	// machine the order in which connections are opened matters (the
	// first tends to be faster, by up to a quarter), so all three are
	// reopened every reconnectEvery batches, in each of the six orders in
	// turn (untimed).
	const reconnectEvery = 30
	cs, err := openDrainConns(ctx, dsn, perms3[0])
	if err != nil {
		b.Fatal(err)
	}
	defer func() { cs.close() }()

	// 2-5. Drain, beside raw and floor, sampling memory.
	r := drainResult{fillBytes: st.UsedBytes, fillCmds: cmds, batch: batch}
	if err := cs.raw.QueryRow(ctx, "SHOW server_version").Scan(&r.pgVersion); err != nil {
		b.Fatal(err)
	}
	runtime.GC()
	debug.FreeOSMemory()
	r.rssBase, _ = procStatus("VmRSS")
	r.heapBase = heapInUse()
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		b.Fatalf("resetting the RSS high-water mark: %v", err)
	}
	var heapPeak atomic.Uint64
	notePeak := func() {
		h := heapInUse()
		for {
			p := heapPeak.Load()
			if h <= p || heapPeak.CompareAndSwap(p, h) {
				return
			}
		}
	}
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				notePeak()
			}
		}
	}()
	rawCopy := func(rows [][]any, typed map[*Table][][]any) (time.Duration, error) {
		start := time.Now()
		if _, err := cs.raw.CopyFrom(ctx, pgx.Identifier{"raw", "events"}, eventColumns, pgx.CopyFromRows(rows)); err != nil {
			return 0, fmt.Errorf("raw copy of events: %w", err)
		}
		for _, t := range typedTables {
			if len(typed[t]) == 0 {
				continue
			}
			if _, err := cs.raw.CopyFrom(ctx, pgx.Identifier{"raw", t.Name}, t.columnNames(), pgx.CopyFromRows(typed[t])); err != nil {
				return 0, fmt.Errorf("raw copy of %s: %w", t.Name, err)
			}
		}
		return time.Since(start), nil
	}
	var (
		floorBuf  copyBuf
		floorProj = newProjector()
	)
	prepareFloor := func(evs []command.Event) {
		encodeEvents(&floorBuf, cs.db.clusterID, evs, false)
		floorProj.reset()
		for i := range evs {
			floorProj.add(cs.db.clusterID, &evs[i])
		}
	}
	floorCopy := func() (time.Duration, error) {
		floor := cs.floor
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
		if err := copyInConn(ctx, floor.PgConn(), pgx.Identifier{"floor", "events"}, eventColumns, &floorBuf); err != nil {
			return 0, fmt.Errorf("floor copy of events: %w", err)
		}
		for _, t := range typedTables {
			if err := copyInConn(ctx, floor.PgConn(), pgx.Identifier{"floor", t.Name}, t.columnNames(), floorProj.bufs[t]); err != nil {
				return 0, fmt.Errorf("floor copy of %s: %w", t.Name, err)
			}
		}
		if _, err := floor.Exec(ctx, "COMMIT"); err != nil {
			return 0, fmt.Errorf("floor: %w", err)
		}
		committed = true
		return time.Since(start), nil
	}
	b.StartTimer()
	for loops := 0; ; loops++ {
		if loops > 100_000_000 {
			b.Fatal("drain does not end")
		}
		// Peek at the next batch (Read does not move the cursor) to build
		// the comparisons' rows and streams, untimed.
		peek, err := c.Read(batch)
		if err != nil {
			b.Fatalf("reading the buffer: %v", err)
		}
		if len(peek) == 0 {
			break
		}
		if loops > 0 && loops%reconnectEvery == 0 {
			cs.close()
			if cs, err = openDrainConns(ctx, dsn, perms3[loops/reconnectEvery%6]); err != nil {
				b.Fatal(err)
			}
		}
		rows, typed := rowsOf(cs.db.clusterID, peek)
		prepareFloor(peek)
		// The three in turn, in each of the six orders equally often:
		// whatever runs after another (its garbage, the server's
		// background work) is shared out evenly.
		var ours, d, f time.Duration
		for k := 0; k < 3; k++ {
			switch perms3[loops%6][k] {
			case 0:
				t0 := time.Now()
				evs, err := c.Read(batch)
				if err != nil {
					b.Fatalf("reading the buffer: %v", err)
				}
				if len(evs) != len(peek) || evs[len(evs)-1].Pos() != peek[len(peek)-1].Pos() {
					b.Fatalf("read %d events, then %d", len(peek), len(evs))
				}
				t1 := time.Now()
				pos, err := cs.db.Deliver(ctx, evs)
				if err != nil {
					b.Fatalf("delivering: %v", err)
				}
				t2 := time.Now()
				if err := c.Ack(pos); err != nil {
					b.Fatalf("acknowledging: %v", err)
				}
				t3 := time.Now()
				notePeak()
				r.read += t1.Sub(t0)
				r.deliver += t2.Sub(t1)
				r.ack += t3.Sub(t2)
				ours = t3.Sub(t0)
			case 1:
				if d, err = rawCopy(rows, typed); err != nil {
					b.Fatal(err)
				}
			case 2:
				if f, err = floorCopy(); err != nil {
					b.Fatal(err)
				}
			}
		}
		r.ours += ours
		r.raw += d
		r.floor += f
		r.events += int64(len(peek))
		for _, t := range typedTables {
			r.typedRows += int64(len(typed[t]))
		}
		r.batches++
		r.perBatch = append(r.perBatch, d.Seconds()/ours.Seconds())
		r.perBatchFloor = append(r.perBatchFloor, f.Seconds()/ours.Seconds())
	}
	b.StopTimer()
	close(stop)
	<-sampled
	r.rssPeak, _ = procStatus("VmHWM")
	r.heapPeak = heapPeak.Load()

	// Exactly once, nothing lost.
	if got := c.Stats().BacklogEvents; got != 0 {
		b.Fatalf("buffer still holds %d events", got)
	}
	pos, err := cs.db.LastDelivered(ctx)
	if err != nil {
		b.Fatal(err)
	}
	if pos != buf.Last() {
		b.Fatalf("delivered up to %v, the buffer ends at %v", pos, buf.Last())
	}
	for _, t := range append([]*Table{{Name: "events"}}, typedTables...) {
		var stored, rawStored, floorStored int64
		if err := cs.raw.QueryRow(ctx, "SELECT (SELECT count(*) FROM "+cs.db.qschema+"."+t.Name+"), (SELECT count(*) FROM raw."+t.Name+
			"), (SELECT count(*) FROM floor."+t.Name+")").Scan(&stored, &rawStored, &floorStored); err != nil {
			b.Fatal(err)
		}
		if stored != rawStored || stored != floorStored || (t.Name == "events" && stored != r.events) {
			b.Fatalf("%s: drained %d events; rows stored %d, raw %d, floor %d", t.Name, r.events, stored, rawStored, floorStored)
		}
	}
	reportDrain(b, size, r)
}

func reportDrain(b *testing.B, size int64, r drainResult) {
	rows := float64(r.events + r.typedRows)
	oursRate := float64(r.events) / r.ours.Seconds()
	rawRate := float64(r.events) / r.raw.Seconds()
	ratio := r.raw.Seconds() / r.ours.Seconds()
	ratioFloor := r.floor.Seconds() / r.ours.Seconds()
	const mib = 1 << 20
	// ns/op is our drain alone (the loop also runs the comparisons).
	b.ReportMetric(float64(r.ours.Nanoseconds()), "ns/op")
	b.ReportMetric(oursRate, "events/s")
	b.ReportMetric(rows/r.ours.Seconds(), "rows/s")
	b.ReportMetric(rawRate, "raw_events/s")
	b.ReportMetric(rows/r.raw.Seconds(), "raw_rows/s")
	b.ReportMetric(ratio, "ours/raw")
	b.ReportMetric(medianF(r.perBatch), "ours/raw_median_batch")
	b.ReportMetric(ratioFloor, "ours/floor")
	b.ReportMetric(float64(r.rssPeak)/mib, "peak_rss_MiB")
	b.ReportMetric(float64(r.heapPeak)/mib, "peak_heap_MiB")
	b.ReportMetric(float64(r.events)/float64(r.batches), "events/batch")
	// One summary line for bench/drain.sh.
	fmt.Printf("DRAIN size=%s batch=%d postgresql=%s buffer_bytes=%d commands=%d events=%d typed_rows=%d batches=%d "+
		"ours_s=%.3f read_s=%.3f deliver_s=%.3f ack_s=%.3f raw_s=%.3f floor_s=%.3f "+
		"ours_events_per_s=%.0f ours_rows_per_s=%.0f raw_events_per_s=%.0f raw_rows_per_s=%.0f floor_rows_per_s=%.0f "+
		"ratio=%.3f ratio_median_batch=%.3f ratio_floor=%.3f ratio_floor_median_batch=%.3f rss_base_mib=%.1f rss_peak_mib=%.1f heap_base_mib=%.1f heap_peak_mib=%.1f\n",
		sizeName(size), r.batch, strings.Fields(r.pgVersion + " ?")[0], r.fillBytes, r.fillCmds, r.events, r.typedRows, r.batches,
		r.ours.Seconds(), r.read.Seconds(), r.deliver.Seconds(), r.ack.Seconds(), r.raw.Seconds(), r.floor.Seconds(),
		oursRate, rows/r.ours.Seconds(), rawRate, rows/r.raw.Seconds(), rows/r.floor.Seconds(),
		ratio, medianF(r.perBatch), ratioFloor, medianF(r.perBatchFloor), float64(r.rssBase)/mib, float64(r.rssPeak)/mib,
		float64(r.heapBase)/mib, float64(r.heapPeak)/mib)
}

// drainConns are the connections of the three drains: ours (a DB) and
// the comparisons.
type drainConns struct {
	db         *DB
	raw, floor *pgx.Conn
}

// openDrainConns connects the three in the given order (0 ours, 1 raw, 2
// floor); ours is made ready (schema checked, cluster registered).
func openDrainConns(ctx context.Context, dsn string, order [3]int) (*drainConns, error) {
	cs := &drainConns{}
	for _, k := range order {
		var err error
		switch k {
		case 0:
			if cs.db, err = Open(ctx, dsn); err == nil {
				_, err = cs.db.LastDelivered(ctx)
			}
		case 1:
			cs.raw, err = pgx.Connect(ctx, dsn)
		case 2:
			cs.floor, err = pgx.Connect(ctx, dsn)
		}
		if err != nil {
			cs.close()
			return nil, fmt.Errorf("connecting the drains: %w", err)
		}
	}
	return cs, nil
}

func (cs *drainConns) close() {
	if cs == nil {
		return
	}
	if cs.db != nil {
		cs.db.Close()
	}
	for _, c := range []*pgx.Conn{cs.raw, cs.floor} {
		if c != nil {
			c.Close(context.Background())
		}
	}
}

// perms3 are the orders of three things.
var perms3 = [6][3]int{{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}}

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

// heapInUse is the Go heap in use (runtime.MemStats.HeapInuse), read
// without stopping the world.
func heapInUse() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/heap/unused:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64() + s[1].Value.Uint64()
}

// procStatus reads a "kB" field of /proc/self/status, in bytes.
func procStatus(field string) (uint64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, fmt.Errorf("reading /proc/self/status: %w", err)
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
	return 0, fmt.Errorf("no %s in /proc/self/status", field)
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
