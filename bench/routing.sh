#!/usr/bin/env bash
# bench/routing.sh — routing decisions per second of the contact-center
# engine alone (issue 3's figure, issue 11 point 6's load), run by
# `make bench`.
#
# 1. BenchmarkRouting (contactcenter/bench_test.go): 1,000 free agents,
#    100 queues, one call at a time — call.incoming routed at once,
#    answered, hung up; sub-benchmarks mixed and one per strategy.
# 2. BenchmarkRoutingLoad (contactcenter/bench_load_test.go): 1,000 agents
#    at 90 % occupancy, callers waiting, 100 queues of the five
#    strategies, skills-queue calls needing 2–3 of 10 skills with levels;
#    ROUTING_COUNT runs of ROUTING_DECISIONS decisions each; decisions/s,
#    allocations and p50/p99 decision time; target ≥ 200,000 decisions/s
#    on one core (the median run).
# 3. With ROUTING_PROFILE=1 (the default), one more load run under
#    go test -cpuprofile; the top of the profile goes to
#    bench/out/routing-profile.txt.
# Both benchmarks run with -cpu 1 (GOMAXPROCS=1: the garbage collector
# shares the one core). It prints a table (also bench/out/routing.txt); the
# go test output is in bench/out/routing.log. The target is judged on
# both figures: the wall clock (what one core gives the process when it
# has the core to itself) and CPU time (the same, less the time a busy
# machine takes the core away). It exits non-zero only when a benchmark
# fails, never because a target is missed.
#
# Environment (all optional):
#   ROUTING_BENCHTIME=1s      -benchtime of each BenchmarkRouting sub-benchmark
#   ROUTING_DECISIONS=600000  decisions per BenchmarkRoutingLoad run
#   ROUTING_COUNT=3           BenchmarkRoutingLoad runs (the median is the figure)
#   ROUTING_PROFILE=1         0 skips the profiled run
#   BENCH_OUT=bench/out       routing.txt, routing.log; routing-load.pprof, routing-profile.txt/.log
#   ROUTING_REPORT_ONLY=1     print the table again from an existing routing.log
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCHTIME=${ROUTING_BENCHTIME:-1s}
DECISIONS=${ROUTING_DECISIONS:-600000}
COUNT=${ROUTING_COUNT:-3}
PROFILE=${ROUTING_PROFILE:-1}
OUT=${BENCH_OUT:-$ROOT/bench/out}
GO=${GO:-go}
TARGET=200000

die() { echo "routing.sh $(date +%T): $*" >&2; exit 1; }
log() { echo "routing.sh $(date +%T): $*" >&2; }
[[ $BENCHTIME =~ ^[0-9]+(ms|s|x)$ ]] || die "ROUTING_BENCHTIME=$BENCHTIME: want e.g. 1s or 1000x"
[[ $DECISIONS =~ ^[1-9][0-9]*$ ]] || die "ROUTING_DECISIONS=$DECISIONS: not a positive number"
[[ $COUNT =~ ^[1-9][0-9]?$ ]] || die "ROUTING_COUNT=$COUNT: want 1..99"
[[ $PROFILE == 0 || $PROFILE == 1 ]] || die "ROUTING_PROFILE=$PROFILE: want 0 or 1"
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
LOG=$OUT/routing.log
TXT=$OUT/routing.txt
cd "$ROOT"

if [[ -z ${ROUTING_REPORT_ONLY:-} ]]; then
log "BenchmarkRouting (-benchtime $BENCHTIME) and BenchmarkRoutingLoad ($COUNT × $DECISIONS decisions), -cpu 1; log in $LOG"
{
	timeout 1800 "$GO" test -count=1 -run '^$' -bench '^BenchmarkRouting$' -benchmem -cpu 1 -benchtime "$BENCHTIME" ./contactcenter/
	timeout 3600 "$GO" test -count="$COUNT" -run '^$' -bench '^BenchmarkRoutingLoad$' -benchmem -cpu 1 -benchtime "${DECISIONS}x" ./contactcenter/
} >"$LOG" 2>&1 || {
	tail -n 30 "$LOG" >&2
	die "benchmark FAILED; the log is $LOG"
}

if ((PROFILE == 1)); then
	log "profiling one BenchmarkRoutingLoad run (go test -cpuprofile)"
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/tandem-routing.XXXXXX")
	trap 'rm -rf "$tmp"' EXIT
	timeout 1800 "$GO" test -count=1 -run '^$' -bench '^BenchmarkRoutingLoad$' -cpu 1 -benchtime "${DECISIONS}x" \
		-cpuprofile "$OUT/routing-load.pprof" -o "$tmp/contactcenter.test" ./contactcenter/ >"$OUT/routing-profile.log" 2>&1 ||
		die "the profiled run FAILED; the log is $OUT/routing-profile.log"
	{
		echo "CPU profile of one BenchmarkRoutingLoad run ($DECISIONS decisions, setup and warm-up included), cumulative:"
		"$GO" tool pprof -top -cum -nodecount=45 "$tmp/contactcenter.test" "$OUT/routing-load.pprof" 2>/dev/null | sed -n '/flat%/,$p'
	} >"$OUT/routing-profile.txt" || die "go tool pprof failed"
fi
fi
grep -q 'ROUTING_LOAD ' "$LOG" || die "no results in $LOG"

{
	echo "Routing benchmark — the contact-center engine alone (its Apply loop, no Raft), one core (-cpu 1)"
	echo "date: $(date -u -r "$LOG" +%FT%TZ); host: $(hostname) ($(uname -sr)), $(nproc) CPUs; tandem $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'); $("$GO" env GOVERSION)"
	echo
	echo "Unloaded (BenchmarkRouting: 1,000 free agents, 100 queues, one call at a time: incoming routed at once, answered, hung up; $BENCHTIME each)"
	awk '
		/^BenchmarkRouting\// {
			name = $1; sub(/^BenchmarkRouting\//, "", name); sub(/-[0-9]+$/, "", name)
			delete m
			for (i = 3; i < NF; i++) m[$(i + 1)] = $i
			printf "%-14s %12.0f %16.0f %11.0f %16.1f %11.0f\n", name, m["decisions/s"], m["decisions/cpu-s"], m["decide-ns"], m["allocs/decision"], m["B/decision"]
		}
		BEGIN { printf "%-14s %12s %16s %11s %16s %11s\n", "sub-benchmark", "decisions/s", "decisions/cpu-s", "decide_ns", "allocs/decision", "B/decision" }
	' "$LOG"
	echo
	echo "Under load (BenchmarkRoutingLoad: 1,000 agents of whom 900 talk, callers waiting in the queues (at most 600), 100 queues"
	echo "of the five strategies, skills-queue calls needing 2–3 of 10 skills with levels; $COUNT run(s) of $DECISIONS decisions)"
	grep -o 'ROUTING_LOAD .*' "$LOG" | awk -v want="$DECISIONS" -v target="$TARGET" '
	{
		delete f
		for (i = 2; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
		if (f["decisions"] + 0 < want + 0) next # the 1-decision probe runs of go test
		n++
		for (k in f) v[n, k] = f[k]
		rate[n] = f["decisions_per_s"]
	}
	END {
		if (n == 0) { print "no BenchmarkRoutingLoad result"; exit 1 }
		printf "%-6s %12s %16s %10s %10s %8s %8s %8s %10s %8s\n", "run", "decisions/s", "decisions/cpu-s", "allocs/dec", "B/dec", "p50_us", "p99_us", "max_us", "occupancy", "waiting"
		for (i = 1; i <= n; i++) {
			printf "%-6d %12.0f %16.0f %10.2f %10.0f %8.2f %8.2f %8.0f %9.1f%% %8.1f\n", i, v[i, "decisions_per_s"], v[i, "decisions_per_cpu_s"],
				v[i, "allocs_per_decision"], v[i, "bytes_per_decision"], v[i, "p50_ns"] / 1000, v[i, "p99_ns"] / 1000, v[i, "max_ns"] / 1000,
				v[i, "occupancy_pct"], v[i, "waiting_mean"]
		}
		# the median run (by decisions/s)
		for (i = 1; i <= n; i++) idx[i] = i
		for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (rate[idx[j]] < rate[idx[i]]) { t = idx[i]; idx[i] = idx[j]; idx[j] = t }
		m = idx[int((n + 1) / 2)]
		printf "\nmedian run (%d): occupancy never below %.1f%%, at most %d calls waiting, %.2f commands applied a decision\n",
			m, v[m, "occupancy_min_pct"], v[m, "waiting_max"], v[m, "applies_per_decision"]
		printf "%-14s %8s %10s %9s\n", "strategy", "share", "mean_us", "p99_us"
		split("longest-idle round-robin ring-all fewest-calls skills", st, " ")
		for (i = 1; i <= 5; i++) {
			s = st[i]
			printf "%-14s %7.1f%% %10.2f %9.2f\n", s, 100 * v[m, s "_share"], v[m, s "_mean_ns"] / 1000, v[m, s "_p99_ns"] / 1000
		}
		printf "%-20s %12s %10s %14s\n", "command", "per decision", "mean_us", "made a decision"
		split("call_incoming call_hangup call_answer call_remote_hangup", ct, " ")
		for (i = 1; i <= 4; i++) {
			c = ct[i]; name = c; sub(/_/, ".", name)
			printf "%-20s %12.3f %10.2f %13.1f%%\n", name, v[m, c "_per_decision"], v[m, c "_mean_ns"] / 1000, 100 * v[m, c "_deciding"]
		}
		printf "(the Applys are %.0f%% of the wall clock; the rest is the bookkeeping of the benchmark)\n", 100 * v[m, "apply_share"]
		cpu = v[m, "decisions_per_cpu_s"]
		printf "\ndecisions under load, median of %d run(s): %.0f a second of wall clock, %.0f a CPU-second   (target ≥ %d on one core: %s by the wall clock, %s by CPU time)\n",
			n, rate[m], cpu, target, (rate[m] >= target ? "met" : "NOT met"), (cpu >= target ? "met" : "NOT met")
		printf "p99 decision time (the Apply that made the decision): %.1f µs\n", v[m, "p99_ns"] / 1000
	}'
	if [[ -f $OUT/routing-profile.txt ]] && ((PROFILE == 1)); then
		echo
		echo "profile: $OUT/routing-profile.txt (go tool pprof -top -cum), raw profile $OUT/routing-load.pprof"
	fi
} | tee "$TXT"
