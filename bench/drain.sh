#!/usr/bin/env bash
# bench/drain.sh — drain rate of a full replication buffer into PostgreSQL
# beside a plain pgx CopyFrom of the same rows, and the node's peak memory
# while draining (issue #4's benchmark), run by `make bench`.
#
# It runs BenchmarkBufferDrain (replication/reporting/bench_test.go) once
# per buffer size: the real contact-center engine fills a replication
# buffer of that size; the buffer is drained as the replication Manager
# does (Consumer.Read → reporting.DB.Deliver → Consumer.Ack) into a
# throwaway PostgreSQL (internal/pgtest, started and removed by the test),
# batch by batch beside a plain pgx CopyFrom of the same rows ("raw") and
# a pre-encoded binary COPY of them ("floor") into identical tables; the
# process's RSS high-water mark and Go heap peak are taken while draining.
# It prints a table (also written to bench/out/drain.txt). See
# bench/README.md ("Drain").
#
# Environment (all optional):
#   DRAIN_SIZES=128MiB,1GiB  buffer sizes, smallest first (quick: 16MiB,64MiB)
#   DRAIN_BATCH=1000         events per Read/Deliver (the Manager's default)
#   BENCH_OUT=bench/out      drain.txt (the table) and drain.log (go test output)
#   DRAIN_REPORT_ONLY=1      print the table again from an existing drain.log
#
# Needs PostgreSQL's server binaries (Debian package postgresql: installed
# by `make deps` when missing) and about 8 GB of free disk per GiB of
# buffer (the buffer, three copies of the rows, WAL; all removed at the
# end). It exits non-zero when the benchmark fails; the log stays.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SIZES=${DRAIN_SIZES:-128MiB,1GiB}
BATCH=${DRAIN_BATCH:-1000}
OUT=${BENCH_OUT:-$ROOT/bench/out}
GO=${GO:-go}

die() { echo "drain.sh $(date +%T): $*" >&2; exit 1; }
[[ $SIZES =~ ^[0-9]+(KiB|MiB|GiB)?(,[0-9]+(KiB|MiB|GiB)?)*$ ]] || die "DRAIN_SIZES=$SIZES: want e.g. 128MiB,1GiB"
[[ $BATCH =~ ^[1-9][0-9]*$ ]] || die "DRAIN_BATCH=$BATCH: not a positive number"
mkdir -p "$OUT"
LOG=$OUT/drain.log
TXT=$OUT/drain.txt
cd "$ROOT"

if [ -z "${DRAIN_REPORT_ONLY:-}" ]; then
	# The test starts its own PostgreSQL from the Debian server binaries.
	if [ -z "${TANDEM_PG_BIN:-}" ] && ! compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null; then
		make -C "$ROOT" deps
	fi
	echo "drain.sh $(date +%T): draining buffers of $SIZES (batch $BATCH); log in $LOG" >&2
	if ! TANDEM_DRAIN_SIZES=$SIZES TANDEM_DRAIN_BATCH=$BATCH "$GO" test -count=1 -run '^$' \
		-bench '^BenchmarkBufferDrain$' -benchtime 1x -timeout 120m ./replication/reporting/ >"$LOG" 2>&1; then
		tail -n 30 "$LOG" >&2
		die "benchmark FAILED; the log is $LOG"
	fi
fi
grep -q '^DRAIN ' "$LOG" || die "no results in $LOG"

{
	echo "Drain benchmark — a full replication buffer into PostgreSQL, same rows three ways"
	echo "host: $(uname -sr), $(nproc) CPUs; tandem $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
	echo
	grep '^DRAIN ' "$LOG" | awk '
	{
		delete f
		for (i = 2; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
		n++
		size[n] = f["size"]; ratio[n] = f["ratio"]; rss[n] = f["rss_peak_mib"]; heap[n] = f["heap_peak_mib"]
		batch = f["batch"]; pg = f["postgresql"]
		line[n] = sprintf("%-7s %9d %9d %10.0f %10.0f %10.0f %8.2f %8.2f %8.2f %8.2f %8.1f %8.1f",
			f["size"], f["events"], f["events"] + f["typed_rows"],
			f["ours_rows_per_s"], f["raw_rows_per_s"], f["floor_rows_per_s"],
			f["ratio"], f["ratio_median_batch"], f["ratio_floor"], f["ratio_floor_median_batch"],
			f["rss_peak_mib"], f["heap_peak_mib"])
		detail[n] = sprintf("%-7s %d commands, %d batches; ours %.1f s (read %.1f, deliver %.1f, ack %.1f), raw %.1f s, floor %.1f s; before draining RSS %.1f MiB, heap %.1f MiB",
			f["size"], f["commands"], f["batches"], f["ours_s"], f["read_s"], f["deliver_s"], f["ack_s"], f["raw_s"], f["floor_s"],
			f["rss_base_mib"], f["heap_base_mib"])
	}
	END {
		printf "PostgreSQL %s; batches of %s events; rows = events rows + typed-table rows\n\n", pg, batch
		printf "%-7s %9s %9s %10s %10s %10s %8s %8s %8s %8s %8s %8s\n", "buffer", "events", "rows", "ours", "raw", "floor", "ours/", "median", "ours/", "median", "peak", "peak"
		printf "%-7s %9s %9s %10s %10s %10s %8s %8s %8s %8s %8s %8s\n", "", "", "", "rows/s", "rows/s", "rows/s", "raw", "batch", "floor", "batch", "RSS MiB", "heap MiB"
		for (i = 1; i <= n; i++) print line[i]
		print ""
		for (i = 1; i <= n; i++) print detail[i]
		print ""
		worst = 0
		for (i = 1; i <= n; i++) if (worst == 0 || ratio[i] < worst) worst = ratio[i]
		printf "ours ÷ raw (plain pgx CopyFrom of the same rows), lowest of the sizes: %.2f   (target ≥ 0.80: %s)\n", worst, (worst >= 0.8 ? "met" : "NOT met")
		if (n >= 2) {
			g = rss[n] - rss[1]; h = heap[n] - heap[1]
			printf "peak memory while draining, %s vs %s buffer: RSS %.1f vs %.1f MiB (%+.1f), Go heap %.1f vs %.1f MiB (%+.1f): %s\n",
				size[n], size[1], rss[n], rss[1], g, heap[n], heap[1], h,
				(g <= 32 && h <= 32 ? "does not grow with the buffer size" : "GROWS with the buffer size")
		}
	}'
} | tee "$TXT"
