#!/usr/bin/env bash
# bench/drain.sh — drain rate of a replication buffer's backlog into
# PostgreSQL by a real tandemd, beside a plain pgx CopyFrom of the same rows
# in the same transaction shape, and that tandemd's peak memory while it
# drains (issue 4's benchmark, issue 11 point 6), run by `make bench`.
#
# It runs BenchmarkBufferDrain (replication/reporting/bench_test.go) once
# per backlog size: the real contact-center engine fills the replication
# buffer of a node-to-be (capacity twice the backlog); tandemd (bin/tandemd)
# starts on it as a one-node cluster with --reporting-dsn and drains it
# with its own replication Manager (Consumer.Read → reporting.DB.Deliver →
# Consumer.Ack) into a throwaway PostgreSQL (internal/pgtest, started and
# removed by the test), let through a batch at a time (the benchmark holds
# the cluster's delivery row and hands it over once a batch); beside each
# batch the same rows go in through a plain pgx CopyFrom, one transaction
# a batch ("raw"), and as pre-encoded binary COPY ("floor") into identical
# tables, the three in turn. tandemd's RSS high-water mark
# (/proc/<pid>/status VmHWM, reset when the drain starts) and its Go heap
# (/metrics) are taken while it drains. It prints a table (also written to bench/out/drain.txt). See
# bench/README.md ("Drain").
#
# Environment (all optional):
#   DRAIN_SIZES=128MiB,1GiB  backlog sizes, smallest first (quick: 16MiB,64MiB)
#   BENCH_OUT=bench/out      drain.txt (the table), drain.log (go test output),
#                            tandemd-drain-<size>.log (tandemd's log)
#   TANDEM_BIN_DIR=bin       where tandemd is (make build)
#   DRAIN_REPORT_ONLY=1      print the table again from an existing drain.log
#
# Needs PostgreSQL's server binaries (Debian package postgresql: installed
# by `make deps` when missing) and about 10 GB of free disk per GiB of
# backlog (the buffer and its copy, three copies of the rows, WAL; all
# removed at the end). It exits non-zero when the benchmark fails; the
# logs stay.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SIZES=${DRAIN_SIZES:-128MiB,1GiB}
OUT=${BENCH_OUT:-$ROOT/bench/out}
BIN=${TANDEM_BIN_DIR:-$ROOT/bin}
GO=${GO:-go}

die() { echo "drain.sh $(date +%T): $*" >&2; exit 1; }
[[ $SIZES =~ ^[0-9]+(KiB|MiB|GiB)?(,[0-9]+(KiB|MiB|GiB)?)*$ ]] || die "DRAIN_SIZES=$SIZES: want e.g. 128MiB,1GiB"
[[ -z ${DRAIN_BATCH:-} ]] || die "DRAIN_BATCH: gone — tandemd's own Manager drains, 1000 events a batch (it has no flag for it)"
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
LOG=$OUT/drain.log
TXT=$OUT/drain.txt
cd "$ROOT"

if [ -z "${DRAIN_REPORT_ONLY:-}" ]; then
	# The test starts its own PostgreSQL from the Debian server binaries.
	if [ -z "${TANDEM_PG_BIN:-}" ] && ! compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null; then
		make -C "$ROOT" deps
	fi
	[[ -x $BIN/tandemd ]] || die "$BIN/tandemd not found; run make build"
	BIN=$(cd "$BIN" && pwd)
	echo "drain.sh $(date +%T): tandemd draining backlogs of $SIZES; log in $LOG" >&2
	if ! TANDEM_DRAIN_SIZES=$SIZES TANDEM_BIN_DIR=$BIN TANDEM_DRAIN_LOG_DIR=$OUT "$GO" test -count=1 -run '^$' \
		-bench '^BenchmarkBufferDrain$' -benchtime 1x -timeout 120m ./replication/reporting/ >"$LOG" 2>&1; then
		tail -n 30 "$LOG" >&2
		die "benchmark FAILED; the log is $LOG"
	fi
fi
grep -q '^DRAIN ' "$LOG" || die "no results in $LOG"

{
	echo "Drain benchmark — a replication buffer's backlog into PostgreSQL: tandemd's own delivery beside plain pgx CopyFrom"
	echo "date: $(date -u -r "$LOG" +%FT%TZ); host: $(hostname) ($(uname -sr)), $(nproc) CPUs; tandem $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
	echo
	echo "ours:  a tandemd process (one-node cluster, --reporting-dsn) drains the backlog with its replication Manager: Read 1000"
	echo "       events → one delivery transaction (lock the delivery row, COPY the events and typed rows, move the delivery"
	echo "       position, COMMIT) → Ack (cursor fdatasync). The benchmark holds the delivery row and hands it over once a batch;"
	echo "       timed from the hand-over until tandemd waits for the row again (commit, Ack and the next Read included)"
	echo "raw:   the same rows, the same batch, one transaction: BEGIN, a pgx CopyFrom (CopyFromRows) per table, COMMIT;"
	echo "       the rows built beforehand, pgx encodes them inside the clock"
	echo "floor: the same rows pre-encoded in binary COPY format (untimed), one transaction a batch: what the server needs"
	echo "the three take each batch in turn, in each of the six orders in turn, into the same database"
	grep '^DRAIN ' "$LOG" | awk '
	{
		delete f
		for (i = 2; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
		n++
		size[n] = f["size"]; ratio[n] = f["ratio"]; rss[n] = f["rss_peak_mib"]; heap[n] = f["heap_peak_mib"]
		batch = f["batch"]; pg = f["postgresql"]
		if (f["hwm_reset"] != "true") noreset = 1
		line[n] = sprintf("%-7s %-7s %9d %9d %10.0f %10.0f %10.0f %7.2f %7.2f %7.2f %7.2f %8.1f %8.1f %8.1f %8.1f",
			f["size"], f["capacity"], f["events"], f["events"] + f["typed_rows"],
			f["ours_rows_per_s"], f["raw_rows_per_s"], f["floor_rows_per_s"], f["ratio"], f["ratio_median_batch"],
			f["ratio_floor"], f["ratio_floor_median_batch"],
			f["rss_base_mib"], f["rss_peak_mib"], f["heap_base_mib"], f["heap_peak_mib"])
		detail[n] = sprintf("%-7s %d commands, %d batches (%d of tandemd'"'"'s hand-overs took two); ours %.1f s (tandemd used %.1f s of CPU), raw %.1f s, floor %.1f s; heap sampled %d times",
			f["size"], f["commands"], f["batches"], f["multi_batch_steps"], f["ours_s"], f["tandemd_cpu_s"], f["raw_s"], f["floor_s"], f["heap_samples"])
	}
	END {
		printf "PostgreSQL %s; batches of %s events; rows = events rows + typed-table rows\n\n", pg, batch
		printf "%-7s %-7s %9s %9s %10s %10s %10s %7s %7s %7s %7s %8s %8s %8s %8s\n", "backlog", "buffer", "events", "rows", "ours", "raw", "floor", "ours/", "median", "ours/", "median", "tandemd", "tandemd", "tandemd", "tandemd"
		printf "%-7s %-7s %9s %9s %10s %10s %10s %7s %7s %7s %7s %8s %8s %8s %8s\n", "", "", "", "", "rows/s", "rows/s", "rows/s", "raw", "batch", "floor", "batch", "RSS MiB", "peak RSS", "heap MiB", "peak"
		printf "%-7s %-7s %9s %9s %10s %10s %10s %7s %7s %7s %7s %8s %8s %8s %8s\n", "", "", "", "", "", "", "", "", "", "", "", "before", "MiB", "before", "heap MiB"
		for (i = 1; i <= n; i++) print line[i]
		print ""
		for (i = 1; i <= n; i++) print detail[i]
		print ""
		worst = 0
		for (i = 1; i <= n; i++) if (worst == 0 || ratio[i] < worst) worst = ratio[i]
		printf "ours ÷ raw (plain pgx CopyFrom of the same rows, one transaction a batch), lowest of the sizes: %.2f   (target ≥ 0.80: %s)\n", worst, (worst >= 0.8 ? "met" : "NOT met")
		if (n >= 2) {
			g = rss[n] - rss[1]; h = heap[n] - heap[1]
			printf "tandemd peak memory while draining, %s vs %s backlog: RSS %.1f vs %.1f MiB (%+.1f), Go heap %.1f vs %.1f MiB (%+.1f): %s\n",
				size[n], size[1], rss[n], rss[1], g, heap[n], heap[1], h,
				(g <= 32 && h <= 32 ? "does not grow with the backlog" : "GROWS with the backlog")
		}
		printf "(peak RSS: VmHWM of the tandemd process, %s; heap: go_memstats_heap_inuse_bytes of its /metrics, every 200 ms)\n",
			(noreset ? "over its whole life (resetting it through /proc/<pid>/clear_refs failed)" : "reset through /proc/<pid>/clear_refs when the drain starts")
	}'
} | tee "$TXT"
