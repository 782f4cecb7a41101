#!/usr/bin/env bash
# bench/raft.sh — Tandem's Raft write benchmark (issue #2), run by `make bench`.
#
# 1. Starts a 3-node tandemd cluster on 127.0.0.1 (temporary data dirs, free
#    ports, --admin-token, n2/n3 --join n1) and a 3-member etcd cluster on
#    127.0.0.1.
# 2. Prepares the tandemd cluster through the engine's own commands
#    (benchload setup: a configuration with one queue and one agent per
#    operation in flight, each agent logged in and talking on a call) and
#    drives each cluster with bench/load (benchload), both sides writing
#    and applying the same number of bytes per operation — tandemd: POST
#    /v1/bench/commit on the leader, one engine command call.note (the
#    note of an agent's call; BENCH_PAYLOAD bytes as written in the Raft
#    log), answered once committed and applied by the engine; etcd: Put
#    of a BENCH_PAYLOAD-byte value on the leader — for the same duration,
#    at each concurrency of BENCH_CONCURRENCY (64 and 256 by default).
#    The measured time is split into
#    BENCH_ROUNDS rounds run in ABBA order (tandem, etcd, etcd, tandem, ...)
#    so that a neighbour's load on a shared machine hits both alike; the
#    rounds of a target are merged (histograms included).
# 3. Stops etcd and measures leader failover on the tandemd cluster: SIGKILL
#    the leader, time until a commit (a clock.tick) sent to a survivor is
#    acknowledged,
#    restart the killed node and wait until it has caught up;
#    BENCH_FAILOVERS rounds.
# 4. Measures a restart: one node with BENCH_RESTART_ENTRIES log entries
#    since its last snapshot, from start to a write acknowledged
#    (cluster/restart_test.go).
# 5. Prints a table (also written to bench/out/raft.txt): commits/s, p50 and
#    p99 commit latency, ours ÷ etcd throughput per concurrency, the restart
#    figure, failover p50/p99/max, and the failover times the e2e tests left
#    in bench/out/failover.txt.
#
# Environment (all optional):
#   BENCH_PAYLOAD=256        bytes per write: the call.note command as written in
#                            the Raft log / the etcd value (tandem: 159..658 here)
#   BENCH_CONCURRENCY="64 256"  in-flight operations (each level a run)
#   BENCH_DURATION=10s       measured time per target (over all rounds)
#   BENCH_ROUNDS=2           alternating rounds the duration is split into
#   BENCH_WARMUP=2s          unrecorded warmup before each round
#   BENCH_FAILOVERS=10       failover rounds (0 to skip)
#   BENCH_RESTART_ENTRIES=100000  log entries behind the restart figure (0 to skip)
#   BENCH_TARGETS="tandem etcd"  which load runs to do
#   BENCH_OUT=bench/out      results and logs
#   TANDEM_BIN_DIR=bin       where tandemd is
#   ETCD_BIN=etcd            etcd server binary (Debian package etcd-server)
#
# Every process it starts is stopped on exit; every wait is bounded; it exits
# non-zero when anything fails.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PAYLOAD=${BENCH_PAYLOAD:-256}
CONCS=${BENCH_CONCURRENCY:-64 256}
DURATION=${BENCH_DURATION:-10s}
WARMUP=${BENCH_WARMUP:-2s}
FAILOVERS=${BENCH_FAILOVERS:-10}
RESTART_ENTRIES=${BENCH_RESTART_ENTRIES:-100000}
ROUNDS=${BENCH_ROUNDS:-2}
TARGETS=${BENCH_TARGETS:-tandem etcd}
OUT=${BENCH_OUT:-$ROOT/bench/out}
BIN=${TANDEM_BIN_DIR:-$ROOT/bin}
ETCD=${ETCD_BIN:-etcd}
GO=${GO:-go}

die() { echo "raft.sh $(date +%T): $*" >&2; exit 1; }
log() { echo "raft.sh $(date +%T): $*" >&2; }

for v in PAYLOAD FAILOVERS ROUNDS RESTART_ENTRIES; do
	[[ ${!v} =~ ^[0-9]+$ ]] || die "BENCH_${v}=${!v}: not a number"
done
read -r -a CONC_LIST <<<"$CONCS"
((${#CONC_LIST[@]} >= 1)) || die "BENCH_CONCURRENCY is empty"
MAXC=1
for c in "${CONC_LIST[@]}"; do
	[[ $c =~ ^[0-9]+$ ]] && ((c >= 1 && c <= 4096)) || die "BENCH_CONCURRENCY=$CONCS: want numbers 1..4096"
	if ((c > MAXC)); then MAXC=$c; fi
done
to_ms() { # 250ms | 10s | 2m -> milliseconds
	local n=${1%%[a-z]*} u=${1##*[0-9]}
	case $u in ms) echo $((10#$n)) ;; s) echo $((10#$n * 1000)) ;; m) echo $((10#$n * 60000)) ;; esac
}
[[ $DURATION =~ ^[0-9]+(ms|s|m)$ ]] || die "BENCH_DURATION=$DURATION: want e.g. 10s"
[[ $WARMUP =~ ^[0-9]+(ms|s|m)$ ]] || die "BENCH_WARMUP=$WARMUP: want e.g. 2s"
((FAILOVERS <= 100)) || die "BENCH_FAILOVERS=$FAILOVERS: at most 100"
((ROUNDS >= 1 && ROUNDS <= 20)) || die "BENCH_ROUNDS=$ROUNDS: want 1..20"
ROUND_MS=$(($(to_ms "$DURATION") / ROUNDS))
((ROUND_MS >= 500)) || die "BENCH_DURATION=$DURATION over $ROUNDS rounds: under 500 ms a round"
((ROUND_MS <= 3600000)) || die "BENCH_DURATION=$DURATION: at most 1h"
for t in $TARGETS; do
	[[ $t == tandem || $t == etcd ]] || die "BENCH_TARGETS: unknown target $t (tandem, etcd)"
done
want() { [[ " $TARGETS " == *" $1 "* ]]; }
[[ -x $BIN/tandemd ]] || die "$BIN/tandemd not found; run make build"
command -v curl >/dev/null || die "curl not found"
command -v ps >/dev/null || die "ps not found (Debian package procps)"
if want etcd; then
	command -v "$ETCD" >/dev/null || die "$ETCD not found; install the Debian package etcd-server"
fi

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tandem-bench.XXXXXX")

# --- process bookkeeping and cleanup ---------------------------------------
declare -A PID=() # name -> pid of every process this script started

# alive pid: the process exists and is not a zombie. (Every process this
# script starts is disowned, so bash reaps it without "Killed" notices.)
alive() {
	local st
	st=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
	[[ -n $st && $st != Z* ]]
}

stop_proc() { # name [signal]: stop one process, bounded (20 s, then SIGKILL)
	local name=$1 sig=${2:-TERM} pid=${PID[$1]:-} i
	[[ -n $pid ]] || return 0
	if alive "$pid"; then
		kill -"$sig" "$pid" 2>/dev/null || true
		for ((i = 0; i < 200; i++)); do
			alive "$pid" || break
			sleep 0.1
		done
		if alive "$pid"; then
			log "$name (pid $pid) did not stop within 20 s; SIGKILL"
			kill -KILL "$pid" 2>/dev/null || true
			for ((i = 0; i < 50; i++)); do
				alive "$pid" || break
				sleep 0.1
			done
		fi
	fi
	unset "PID[$name]"
}

cleanup() {
	local rc=$? name
	trap - EXIT INT TERM
	stop_proc benchload TERM
	for name in e1 e2 e3; do # etcd: one at a time (see etcd_down)
		stop_proc "$name" TERM
	done
	for name in "${!PID[@]}"; do # tandemd: signal all, then wait for each
		if alive "${PID[$name]}"; then kill -TERM "${PID[$name]}" 2>/dev/null || true; fi
	done
	for name in "${!PID[@]}"; do
		stop_proc "$name" TERM
	done
	rm -rf "$WORK"
	if ((rc != 0)); then
		log "FAILED (exit $rc); logs are in $OUT"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- load generator ---------------------------------------------------------
log "building the load generator (bench/load)"
(cd "$ROOT/bench/load" && GOFLAGS=-buildvcs=false timeout 600 "$GO" build -o "$WORK/benchload" .) ||
	die "building bench/load failed"
BL=$WORK/benchload

# bl out err seconds args...: run benchload bounded by timeout, stdout to
# out, stderr appended to err. It runs in the background and is waited for,
# so that a signal to this script is handled at once (cleanup stops it).
bl() {
	local out=$1 err=$2 secs=$3 rc=0
	shift 3
	timeout "$secs" "$BL" "$@" >"$out" 2>>"$err" &
	PID[benchload]=$!
	wait "${PID[benchload]}" || rc=$?
	unset "PID[benchload]"
	return "$rc"
}

read -r -a PORTS <<<"$(timeout 10 "$BL" ports 15)"
((${#PORTS[@]} == 15)) || die "could not find free ports"

json_get() { # json key: the value of a flat JSON line's key (number or string)
	sed -n 's/.*"'"$2"'":"\{0,1\}\([^",}]*\).*/\1/p' <<<"$1"
}

# quantiles "v1 v2 ...": prints "n p50 p99 max" (nearest rank)
quantiles() {
	tr ' ' '\n' <<<"$1" | sed '/^$/d' | sort -g | awk '
		{ v[NR] = $1 }
		END {
			n = NR; if (n == 0) { print "0 - - -"; exit }
			r50 = int(n * 0.50); if (r50 < n * 0.50) r50++; if (r50 < 1) r50 = 1
			r99 = int(n * 0.99); if (r99 < n * 0.99) r99++; if (r99 < 1) r99 = 1
			printf "%d %.0f %.0f %.0f\n", n, v[r50], v[r99], v[n]
		}'
}

# --- tandem cluster ---------------------------------------------------------
TOKEN=$(od -An -tx1 -N24 /dev/urandom | tr -d ' \n')
(umask 077 && printf '%s\n' "$TOKEN" >"$WORK/admin.token")
TOK=(-token-file "$WORK/admin.token")

NODES=(n1 n2 n3)
declare -A RAFT=([n1]=${PORTS[0]} [n2]=${PORTS[1]} [n3]=${PORTS[2]})
declare -A ADMIN=([n1]=${PORTS[3]} [n2]=${PORTS[4]} [n3]=${PORTS[5]})
# Every listener of a node gets its own port: the defaults (--http-addr
# 127.0.0.1:6021, ...) would collide between the members on one machine;
# the SNMP agent (UDP 127.0.0.1:1161) and the SIP edge (127.0.0.1:5060)
# are off, as the benchmark needs neither.
declare -A HTTPP=([n1]=${PORTS[12]} [n2]=${PORTS[13]} [n3]=${PORTS[14]})
ADDRS="127.0.0.1:${ADMIN[n1]},127.0.0.1:${ADMIN[n2]},127.0.0.1:${ADMIN[n3]}"

start_tandem() { # node
	local n=$1 join=()
	[[ $n == n1 ]] || join=(--join "http://127.0.0.1:${ADMIN[n1]}")
	echo "=== $(date -u +%FT%TZ) start $n" >>"$OUT/tandemd-$n.log"
	"$BIN/tandemd" --node-id "$n" --data-dir "$WORK/$n" \
		--raft-addr "127.0.0.1:${RAFT[$n]}" --admin-addr "127.0.0.1:${ADMIN[$n]}" \
		--http-addr "127.0.0.1:${HTTPP[$n]}" --snmp-addr '' --sip-addr '' --bench-api --admin-token "$TOKEN" "${join[@]}" >>"$OUT/tandemd-$n.log" 2>&1 &
	PID[$n]=$!
	disown "$!" # no "Killed" job notices; bash still reaps it
}

wait_healthy() { # url seconds
	local i
	for ((i = 0; i < $2 * 10; i++)); do
		curl -fsS -m 1 -o /dev/null "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

tandem_up() {
	local n
	: >"$OUT/tandemd-n1.log"
	: >"$OUT/tandemd-n2.log"
	: >"$OUT/tandemd-n3.log"
	start_tandem n1
	wait_healthy "http://127.0.0.1:${ADMIN[n1]}/healthz" 30 || die "tandemd n1 did not come up (see $OUT/tandemd-n1.log)"
	bl /dev/null "$OUT/benchload-cluster.log" 40 wait-cluster -addr "127.0.0.1:${ADMIN[n1]}" "${TOK[@]}" -voters 1 -timeout 30s ||
		die "tandemd n1 did not become leader (see $OUT/tandemd-n1.log, $OUT/benchload-cluster.log)"
	for n in n2 n3; do
		start_tandem "$n"
	done
	bl /dev/null "$OUT/benchload-cluster.log" 70 wait-cluster -addr "$ADDRS" "${TOK[@]}" -voters 3 -timeout 60s ||
		die "the tandemd cluster did not form (see $OUT/tandemd-n*.log, $OUT/benchload-cluster.log)"
	log "tandemd cluster up: admin $ADDRS"
}

tandem_down() {
	local n
	for n in "${NODES[@]}"; do
		if [[ -n ${PID[$n]:-} ]] && alive "${PID[$n]}"; then kill -TERM "${PID[$n]}" 2>/dev/null || true; fi
	done
	for n in "${NODES[@]}"; do
		stop_proc "$n" TERM
	done
}

# --- etcd cluster -----------------------------------------------------------
MEMBERS=(e1 e2 e3)
declare -A ECLIENT=([e1]=${PORTS[6]} [e2]=${PORTS[7]} [e3]=${PORTS[8]})
declare -A EPEER=([e1]=${PORTS[9]} [e2]=${PORTS[10]} [e3]=${PORTS[11]})
ENDPOINTS="127.0.0.1:${ECLIENT[e1]},127.0.0.1:${ECLIENT[e2]},127.0.0.1:${ECLIENT[e3]}"
INITIAL="e1=http://127.0.0.1:${EPEER[e1]},e2=http://127.0.0.1:${EPEER[e2]},e3=http://127.0.0.1:${EPEER[e3]}"

etcd_up() {
	local m
	for m in "${MEMBERS[@]}"; do
		"$ETCD" --name "$m" --data-dir "$WORK/$m" \
			--listen-client-urls "http://127.0.0.1:${ECLIENT[$m]}" \
			--advertise-client-urls "http://127.0.0.1:${ECLIENT[$m]}" \
			--listen-peer-urls "http://127.0.0.1:${EPEER[$m]}" \
			--initial-advertise-peer-urls "http://127.0.0.1:${EPEER[$m]}" \
			--initial-cluster "$INITIAL" --initial-cluster-state new \
			--initial-cluster-token "tandem-bench-$$" \
			--logger zap --log-outputs stderr >"$OUT/etcd-$m.log" 2>&1 &
		PID[$m]=$!
		disown "$!"
	done
	for m in "${MEMBERS[@]}"; do
		wait_healthy "http://127.0.0.1:${ECLIENT[$m]}/health" 60 ||
			die "etcd $m is not healthy (see $OUT/etcd-$m.log)"
	done
	log "etcd cluster up: clients $ENDPOINTS"
}

etcd_down() {
	# One at a time: a leader stopping hands leadership to a live member at
	# once, whereas stopping all together makes it wait for a dead one.
	local m
	for m in "${MEMBERS[@]}"; do
		stop_proc "$m" TERM
	done
}

# --- load runs --------------------------------------------------------------
LOADARGS=(-payload "$PAYLOAD" -duration "${ROUND_MS}ms" -warmup "$WARMUP")
LOAD_TIMEOUT=$(((ROUND_MS + $(to_ms "$WARMUP")) / 1000 + 120)) # + leader search, op timeouts

# setup_tandem: the configuration, agents and calls the call.note load
# needs, through the engine's own commands (one agent per operation in
# flight at the highest concurrency).
setup_tandem() {
	log "setting up the tandemd cluster for the load: $MAXC agents, each logged in and talking on a call"
	bl "$OUT/setup.json" "$OUT/benchload-setup.log" 300 setup -addr "$ADDRS" "${TOK[@]}" -agents "$MAXC" -timeout 30s ||
		die "setting up the tandemd cluster failed (see $OUT/benchload-setup.log)"
	log "set up: $(<"$OUT/setup.json")"
}

run_load() { # target concurrency round: one benchload run, its JSON line in $OUT/<target>-c<conc>-r<round>.json
	local t=$1 c=$2 r=$3 line args
	if [[ $t == tandem ]]; then args=(-addr "$ADDRS" "${TOK[@]}" -agents "$MAXC"); else args=(-endpoints "$ENDPOINTS"); fi
	log "load round $r/$ROUNDS: $t, $PAYLOAD B a write, concurrency $c, ${ROUND_MS}ms (+ warmup $WARMUP)"
	bl "$OUT/$t-c$c-r$r.json" "$OUT/benchload-$t.log" "$LOAD_TIMEOUT" -target "$t" -concurrency "$c" "${LOADARGS[@]}" "${args[@]}" ||
		die "load run against $t failed (see $OUT/benchload-$t.log)"
	line=$(<"$OUT/$t-c$c-r$r.json")
	log "$t concurrency $c round $r: $(json_get "$line" ops_per_s) commits/s, p50 $(json_get "$line" p50_ms) ms, p99 $(json_get "$line" p99_ms) ms, errors $(json_get "$line" errors)"
}

# gone node: wait (bounded) until the SIGKILLed node's process has been
# reaped, then forget its pid (never signal a pid that may have been reused).
gone() {
	local pid=${PID[$1]} i
	for ((i = 0; i < 100; i++)); do # 10 s
		if ! alive "$pid"; then
			unset "PID[$1]"
			return 0
		fi
		sleep 0.1
	done
	return 1
}

FAILOVER_MS=""
run_failovers() {
	local i line pos n idx pids cu
	: >"$OUT/failover-bench.jsonl"
	for ((i = 1; i <= FAILOVERS; i++)); do
		pids="${PID[n1]},${PID[n2]},${PID[n3]}"
		bl "$WORK/failover.json" "$OUT/benchload-failover.log" 60 failover -addr "$ADDRS" -pids "$pids" "${TOK[@]}" -timeout 30s || {
			log "failover round $i failed: $(<"$WORK/failover.json") (see $OUT/benchload-failover.log)"
			return 1
		}
		line=$(<"$WORK/failover.json")
		printf '%s\n' "$line" >>"$OUT/failover-bench.jsonl"
		pos=$(json_get "$line" killed_pos)
		idx=$(json_get "$line" index)
		n=${NODES[$pos]}
		FAILOVER_MS+=" $(json_get "$line" failover_ms)"
		log "failover $i/$FAILOVERS: killed $n, commit through $(json_get "$line" via) after $(json_get "$line" failover_ms) ms (new leader $(json_get "$line" new_leader))"
		gone "$n" || { log "$n (pid ${PID[$n]}) still exists after SIGKILL"; return 1; }
		start_tandem "$n"
		bl "$WORK/catchup.json" "$OUT/benchload-failover.log" 70 catchup -addr "127.0.0.1:${ADMIN[$n]}" -index "$idx" -cluster "$ADDRS" "${TOK[@]}" -timeout 60s ||
			{ log "$n did not catch up after restart (see $OUT/tandemd-$n.log)"; return 1; }
		cu=$(<"$WORK/catchup.json")
		log "  $n restarted and caught up (applied $(json_get "$cu" applied_index)) in $(json_get "$cu" waited_ms) ms"
		bl /dev/null "$OUT/benchload-failover.log" 70 wait-cluster -addr "$ADDRS" "${TOK[@]}" -voters 3 -timeout 60s ||
			{ log "cluster not whole again after restarting $n"; return 1; }
	done
}

rm -f "$OUT"/tandem*.json "$OUT"/etcd*.json "$OUT"/benchload-*.log "$OUT/raft.txt" "$OUT/restart.txt" "$OUT/setup.json"

if want tandem || ((FAILOVERS > 0)); then
	tandem_up
fi
if want tandem; then
	setup_tandem
fi
if want etcd; then
	etcd_up
fi
for c in "${CONC_LIST[@]}"; do
	for ((r = 1; r <= ROUNDS; r++)); do
		order="tandem etcd"
		((r % 2 == 1)) || order="etcd tandem"
		for t in $order; do
			if want "$t"; then
				run_load "$t" "$c" "$r"
			fi
		done
	done
	for t in tandem etcd; do
		if want "$t"; then
			timeout 30 "$BL" merge "$OUT/$t-c$c"-r*.json >"$OUT/$t-c$c.json" || die "merging the $t rounds failed"
		fi
	done
done
if want etcd; then
	etcd_down
	log "etcd stopped"
fi
if ((FAILOVERS > 0)); then
	log "failover: $FAILOVERS rounds of SIGKILL to the tandemd leader"
	run_failovers || die "failover measurement failed"
fi
tandem_down
log "tandemd stopped"

# --- restart with a long log ------------------------------------------------
# A node with BENCH_RESTART_ENTRIES log entries since its last snapshot:
# time from start to a write acknowledged (cluster/restart_test.go).
if ((RESTART_ENTRIES > 0)); then
	log "restart: one node, $RESTART_ENTRIES log entries since its last snapshot"
	(cd "$ROOT" && TANDEM_RESTART_ENTRIES=$RESTART_ENTRIES TANDEM_RESTART_OUT="$OUT/restart.txt" \
		timeout 600 "$GO" test -count=1 -run '^TestRestartWithLongLog$' ./cluster/ >"$OUT/restart-test.log" 2>&1) ||
		die "the restart measurement failed (see $OUT/restart-test.log)"
fi

# --- report -----------------------------------------------------------------
report() {
	local t c line ours theirs ratio
	printf 'Raft commit benchmark — 3 members on 127.0.0.1, %s B a write, concurrency %s, %s per target and concurrency\n' \
		"$PAYLOAD" "${CONC_LIST[*]}" "$DURATION"
	printf '(%s alternating rounds of %s ms each, %s warmup before each)\n' "$ROUNDS" "$ROUND_MS" "$WARMUP"
	printf 'date: %s; host: %s (%s), %s CPUs; tandem %s; %s\n\n' "$(date -u +%FT%TZ)" "$(hostname)" "$(uname -sr)" "$(nproc)" \
		"$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')" \
		"$("$ETCD" --version 2>/dev/null | sed -n 1p || echo "etcd ?")"
	printf 'tandem: one engine command per operation, call.note (the note of a call in conversation; worker i on agent i mod %s,\n' "$MAXC"
	printf '        each set up by config.apply, agent.login x2, call.incoming, call.answer), %s B as written in the Raft log,\n' "$PAYLOAD"
	printf '        POST /v1/bench/commit on the leader (HTTP/1.1 + JSON): checked like any command, answered once a majority\n'
	printf '        has it in its log (fsync) and the engine has applied it (the note changed, a call.note_updated event)\n'
	printf 'etcd:   one Put per operation of a %s-byte value (keys spread over 1000), through the leader (gRPC): answered once\n' "$PAYLOAD"
	printf '        a majority has it in its WAL (fsync) and the leader has applied it to its key-value store\n\n'
	printf '%-8s %5s %12s %10s %10s %10s %8s %12s\n' target conc commits/s p50_ms p99_ms ops errors "ours÷etcd"
	for c in "${CONC_LIST[@]}"; do
		for t in tandem etcd; do
			[[ -f $OUT/$t-c$c.json ]] || continue
			line=$(<"$OUT/$t-c$c.json")
			ratio=""
			if [[ $t == tandem && -f $OUT/etcd-c$c.json ]]; then
				ours=$(json_get "$line" ops_per_s)
				theirs=$(json_get "$(<"$OUT/etcd-c$c.json")" ops_per_s)
				ratio=$(awk -v o="$ours" -v e="$theirs" 'BEGIN { r = (e > 0) ? o / e : 0; printf "%.2f %s", r, (r >= 1.0 ? "met" : "NOT met") }')
			fi
			printf '%-8s %5s %12.0f %10.2f %10.2f %10s %8s %12s\n' "$t" "$c" "$(json_get "$line" ops_per_s)" \
				"$(json_get "$line" p50_ms)" "$(json_get "$line" p99_ms)" "$(json_get "$line" ops)" "$(json_get "$line" errors)" "$ratio"
		done
	done
	printf '(ours ÷ etcd is throughput; target ≥ 1.00)\n'
	if [[ -f $OUT/restart.txt ]]; then
		echo
		cat "$OUT/restart.txt"
	fi
	echo
	printf '%-40s %7s %8s %8s %8s\n' failover samples p50_ms p99_ms max_ms
	if ((FAILOVERS > 0)); then
		read -r n p50 p99 mx <<<"$(quantiles "$FAILOVER_MS")"
		printf '%-40s %7s %8s %8s %8s\n' "tandemd, SIGKILL leader (this run)" "$n" "$p50" "$p99" "$mx"
	fi
	if [[ -f $OUT/failover.txt ]]; then
		local e2e
		e2e=$(grep -o 'failover_ms=[0-9.]*' "$OUT/failover.txt" | cut -d= -f2 | tr '\n' ' ' || true)
		read -r n p50 p99 mx <<<"$(quantiles "$e2e")"
		printf '%-40s %7s %8s %8s %8s\n' "e2e tests (bench/out/failover.txt)" "$n" "$p50" "$p99" "$mx"
	else
		printf '%-40s %7s\n' "e2e tests (bench/out/failover.txt)" "none"
	fi
	printf '(failover target: p99 ≤ 2000 ms)\n'
}

report | tee "$OUT/raft.txt"
