package reporting

import (
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tandemcc/tandem/command"
	"github.com/tandemcc/tandem/internal/pgtest"
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
