#!/usr/bin/env bash
# bench/web.sh — accepted web callbacks per second through a 3-node
# cluster (issue 16's benchmark), run by `make bench`.
#
# Starts three tandemd nodes on 127.0.0.1 (temporary data dirs, free
# ports, --web-rate-limit 0, no SNMP agent), applies a queue that takes
# callbacks, and drives POST /api/v1/callbacks on the three public
# addresses with bench/load (-target webcallback: a new phone number per
# request, so none is a duplicate; a 201 — committed through Raft and
# applied — is one operation) at each concurrency of BENCH_CONCURRENCY.
# Prints a table (also bench/out/web.txt): callbacks/s, p50, p99.
#
# Environment (all optional):
#   BENCH_CONCURRENCY="64 256"  in-flight requests (each level a run)
#   BENCH_DURATION=10s          measured time per level
#   BENCH_WARMUP=2s             unrecorded warmup before each level
#   BENCH_OUT=bench/out         results and logs
#   TANDEM_BIN_DIR=bin          where tandemd and tandemctl are
#
# Every process it starts is stopped on exit; every wait is bounded; it
# exits non-zero when anything fails.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CONCS=${BENCH_CONCURRENCY:-64 256}
DURATION=${BENCH_DURATION:-10s}
WARMUP=${BENCH_WARMUP:-2s}
OUT=${BENCH_OUT:-$ROOT/bench/out}
BIN=${TANDEM_BIN_DIR:-$ROOT/bin}
GO=${GO:-go}

die() { echo "web.sh $(date +%T): $*" >&2; exit 1; }
log() { echo "web.sh $(date +%T): $*" >&2; }

for c in $CONCS; do
	[[ $c =~ ^[0-9]+$ ]] && ((c >= 1 && c <= 4096)) || die "BENCH_CONCURRENCY=$CONCS: want numbers 1..4096"
done
[[ $DURATION =~ ^[0-9]+(ms|s|m)$ ]] || die "BENCH_DURATION=$DURATION: want e.g. 10s"
[[ $WARMUP =~ ^[0-9]+(ms|s|m)$ ]] || die "BENCH_WARMUP=$WARMUP: want e.g. 2s"
[[ -x $BIN/tandemd && -x $BIN/tandemctl ]] || die "$BIN/tandemd or tandemctl not found; run make build"
command -v curl >/dev/null || die "curl not found"

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tandem-webbench.XXXXXX")
declare -A PID=()

alive() {
	local st
	st=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
	[[ -n $st && $st != Z* ]]
}
stop_proc() { # name: TERM, bounded (20 s), then KILL
	local pid=${PID[$1]:-} i
	[[ -n $pid ]] || return 0
	if alive "$pid"; then
		kill -TERM "$pid" 2>/dev/null || true
		for ((i = 0; i < 200; i++)); do alive "$pid" || break; sleep 0.1; done
		alive "$pid" && kill -KILL "$pid" 2>/dev/null || true
	fi
	unset "PID[$1]"
}
cleanup() {
	local rc=$? name
	trap - EXIT INT TERM
	for name in "${!PID[@]}"; do stop_proc "$name"; done
	rm -rf "$WORK"
	((rc == 0)) || log "FAILED (exit $rc); logs are in $OUT"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

log "building the load generator (bench/load)"
(cd "$ROOT/bench/load" && GOFLAGS=-buildvcs=false timeout 600 "$GO" build -o "$WORK/benchload" .) || die "building bench/load failed"
BL=$WORK/benchload
read -r -a PORTS <<<"$(timeout 10 "$BL" ports 9)"
((${#PORTS[@]} == 9)) || die "could not find free ports"

TOKEN=$(od -An -tx1 -N24 /dev/urandom | tr -d ' \n')
(umask 077 && printf '%s\n' "$TOKEN" >"$WORK/admin.token")
declare -A RAFT=([n1]=${PORTS[0]} [n2]=${PORTS[1]} [n3]=${PORTS[2]})
declare -A ADMIN=([n1]=${PORTS[3]} [n2]=${PORTS[4]} [n3]=${PORTS[5]})
declare -A HTTPP=([n1]=${PORTS[6]} [n2]=${PORTS[7]} [n3]=${PORTS[8]})
ADDRS="127.0.0.1:${ADMIN[n1]},127.0.0.1:${ADMIN[n2]},127.0.0.1:${ADMIN[n3]}"
PUBLIC="http://127.0.0.1:${HTTPP[n1]},http://127.0.0.1:${HTTPP[n2]},http://127.0.0.1:${HTTPP[n3]}"

for n in n1 n2 n3; do
	join=()
	[[ $n == n1 ]] || join=(--join "http://127.0.0.1:${ADMIN[n1]}")
	"$BIN/tandemd" --node-id "$n" --data-dir "$WORK/$n" --raft-addr "127.0.0.1:${RAFT[$n]}" \
		--admin-addr "127.0.0.1:${ADMIN[$n]}" --http-addr "127.0.0.1:${HTTPP[$n]}" --snmp-addr '' --sip-addr '' \
		--web-rate-limit 0 --admin-token "$TOKEN" "${join[@]}" >"$OUT/web-tandemd-$n.log" 2>&1 &
	PID[$n]=$!
	disown "$!"
	if [[ $n == n1 ]]; then
		timeout 40 "$BL" wait-cluster -addr "127.0.0.1:${ADMIN[n1]}" -token-file "$WORK/admin.token" -voters 1 -timeout 30s \
			2>>"$OUT/web-benchload.log" >/dev/null || die "tandemd n1 did not become leader (see $OUT/web-tandemd-n1.log)"
	fi
done
timeout 70 "$BL" wait-cluster -addr "$ADDRS" -token-file "$WORK/admin.token" -voters 3 -timeout 60s \
	2>>"$OUT/web-benchload.log" >/dev/null || die "the cluster did not form (see $OUT/web-tandemd-n*.log)"
printf 'queues: [{id: bench}]\ncallbacks: {queues: [bench]}\n' >"$WORK/center.yaml"
"$BIN/tandemctl" --addr "http://127.0.0.1:${ADMIN[n1]}" --token-file "$WORK/admin.token" apply -f "$WORK/center.yaml" >&2 ||
	die "applying the configuration failed"

json_get() { sed -n 's/.*"'"$2"'":"\{0,1\}\([^",}]*\).*/\1/p' <<<"$1"; }
{
	echo "web callbacks through 3 nodes ($(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)), $DURATION each"
	printf '%-12s %12s %10s %10s %8s\n' concurrency callbacks/s p50_ms p99_ms errors
} | tee "$OUT/web.txt"
for c in $CONCS; do
	line=$(timeout 300 "$BL" -target webcallback -addr "$PUBLIC" -concurrency "$c" -duration "$DURATION" -warmup "$WARMUP" \
		2>>"$OUT/web-benchload.log") || die "benchload at concurrency $c failed (see $OUT/web-benchload.log)"
	printf '%-12s %12s %10s %10s %8s\n' "$c" "$(json_get "$line" ops_per_s)" "$(json_get "$line" p50_ms)" \
		"$(json_get "$line" p99_ms)" "$(json_get "$line" errors)" | tee -a "$OUT/web.txt"
done
