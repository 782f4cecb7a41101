#!/usr/bin/env bash
# bench/web.sh — issue 16's benchmark, run by `make bench`: accepted web
# callbacks per second, and web chat messages relayed customer → agent
# per second, through a 3-node cluster.
#
# Starts three tandemd nodes on 127.0.0.1 (temporary data dirs, free
# ports, --web-rate-limit 0, no SNMP agent), applies a queue that takes
# callbacks and a chat queue with its agents, then with bench/load:
#  - callback: POST /api/v1/callbacks on the three public addresses
#    (-target webcallback: a new phone number per request, so none is a
#    duplicate; a 201 — committed through Raft and applied — is one
#    operation) at each concurrency of BENCH_CONCURRENCY;
#  - chat: CHAT_CONCURRENCY chat sessions, each answered by its own agent
#    logged in on the console API of another node (-target webchat); one
#    operation is a customer's message on the chat WebSocket, done when the
#    customer has its ack (committed) and the agent's console stream
#    showed it.
# Prints a table (also bench/out/web.txt): operations/s, p50, p99, and
# cpu_us/op: the CPU time (user + system) of the three nodes during the
# level (warmup included) over the operations done in it (warmup too).
#
# Environment (all optional):
#   WEB_TARGETS="callback chat" which parts run
#   BENCH_CONCURRENCY="64 256"  callbacks: in-flight requests (each level a run)
#   CHAT_CONCURRENCY="16 64"    chat: sessions (= agents), one message in flight each
#   CHAT_ROTATE=950             chat: messages after which a worker ends its chat and
#                               opens another (a session holds at most 1,000)
#   BENCH_DURATION=10s          measured time per level
#   BENCH_WARMUP=2s             unrecorded warmup before each level
#   WEB_PROFILE=0               1: tandemd built with -tags pprof; a CPU profile
#                               (WEB_PROFILE_SECONDS, 5) of every node during the
#                               first callback level: bench/out/web-<node>.pprof
#                               and web-profile.txt (go tool pprof -top)
#   BENCH_OUT=bench/out         results and logs
#   TANDEM_BIN_DIR=bin          where tandemd and tandemctl are
#
# Every process it starts is stopped on exit; every wait is bounded; it
# exits non-zero when anything fails.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TARGETS=${WEB_TARGETS:-callback chat}
CONCS=${BENCH_CONCURRENCY:-64 256}
CHATS=${CHAT_CONCURRENCY:-16 64}
PROFILE=${WEB_PROFILE:-0}
PROFSECS=${WEB_PROFILE_SECONDS:-5}
DURATION=${BENCH_DURATION:-10s}
WARMUP=${BENCH_WARMUP:-2s}
ROTATE=${CHAT_ROTATE:-950}
OUT=${BENCH_OUT:-$ROOT/bench/out}
BIN=${TANDEM_BIN_DIR:-$ROOT/bin}
GO=${GO:-go}

die() { echo "web.sh $(date +%T): $*" >&2; exit 1; }
log() { echo "web.sh $(date +%T): $*" >&2; }

for t in $TARGETS; do
	[[ $t == callback || $t == chat ]] || die "WEB_TARGETS=$TARGETS: want callback and/or chat"
done
for c in $CONCS; do
	[[ $c =~ ^[0-9]+$ ]] && ((c >= 1 && c <= 4096)) || die "BENCH_CONCURRENCY=$CONCS: want numbers 1..4096"
done
NAGENTS=0
for c in $CHATS; do
	[[ $c =~ ^[0-9]+$ ]] && ((c >= 1 && c <= 1000)) || die "CHAT_CONCURRENCY=$CHATS: want numbers 1..1000"
	NAGENTS=$((NAGENTS + c))
done
[[ $PROFILE == 0 || $PROFILE == 1 ]] || die "WEB_PROFILE=$PROFILE: want 0 or 1"
[[ $PROFSECS =~ ^[0-9]+$ ]] && ((PROFSECS >= 1 && PROFSECS <= 120)) || die "WEB_PROFILE_SECONDS=$PROFSECS: want 1..120"
[[ $ROTATE =~ ^[0-9]+$ ]] && ((ROTATE >= 1 && ROTATE <= 999)) || die "CHAT_ROTATE=$ROTATE: want 1..999"
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
TANDEMD=$BIN/tandemd
if ((PROFILE)); then
	command -v "$GO" >/dev/null || die "WEB_PROFILE=1 needs go"
	log "building tandemd with -tags pprof (WEB_PROFILE=1)"
	(cd "$ROOT" && GOFLAGS=-buildvcs=false timeout 600 "$GO" build -tags pprof -o "$WORK/tandemd" ./cmd/tandemd) ||
		die "building tandemd -tags pprof failed"
	TANDEMD=$WORK/tandemd
fi
read -r -a PORTS <<<"$(timeout 10 "$BL" ports 12)"
((${#PORTS[@]} == 12)) || die "could not find free ports"

TOKEN=$(od -An -tx1 -N24 /dev/urandom | tr -d ' \n')
(umask 077 && printf '%s\n' "$TOKEN" >"$WORK/admin.token")
declare -A RAFT=([n1]=${PORTS[0]} [n2]=${PORTS[1]} [n3]=${PORTS[2]})
declare -A ADMIN=([n1]=${PORTS[3]} [n2]=${PORTS[4]} [n3]=${PORTS[5]})
declare -A HTTPP=([n1]=${PORTS[6]} [n2]=${PORTS[7]} [n3]=${PORTS[8]})
declare -A PPROF=([n1]=${PORTS[9]} [n2]=${PORTS[10]} [n3]=${PORTS[11]})
ADDRS="127.0.0.1:${ADMIN[n1]},127.0.0.1:${ADMIN[n2]},127.0.0.1:${ADMIN[n3]}"
PUBLIC="http://127.0.0.1:${HTTPP[n1]},http://127.0.0.1:${HTTPP[n2]},http://127.0.0.1:${HTTPP[n3]}"

for n in n1 n2 n3; do
	join=()
	[[ $n == n1 ]] || join=(--join "http://127.0.0.1:${ADMIN[n1]}")
	TANDEMD_PPROF_ADDR=$( ((PROFILE)) && echo "127.0.0.1:${PPROF[$n]}") "$TANDEMD" --node-id "$n" --data-dir "$WORK/$n" --raft-addr "127.0.0.1:${RAFT[$n]}" \
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
# The center: queue bench takes callbacks; queue chat is the chat queue,
# with NAGENTS agents (users chat0…, one password) for the chat levels.
od -An -tx1 -N12 /dev/urandom | tr -d ' \n' >"$WORK/agent.password"
HASH=$("$BIN/tandemctl" hash-password <"$WORK/agent.password") || die "tandemctl hash-password failed"
{
	echo 'queues: [{id: bench}, {id: chat, strategy: longest-idle}]'
	echo 'callbacks: {queues: [bench]}'
	echo 'chat: {languages: [en], queue: chat}'
	if ((NAGENTS > 0)); then
		echo 'extensions:'
		for ((i = 0; i < NAGENTS; i++)); do echo "  - {number: \"$((30000 + i))\", phones: [{id: desk, position: 0, order: 1}]}"; done
		echo 'users:'
		for ((i = 0; i < NAGENTS; i++)); do echo "  - {id: chat$i, name: Chat agent $i, extension: \"$((30000 + i))\", password_hash: \"$HASH\"}"; done
		echo 'agents:'
		for ((i = 0; i < NAGENTS; i++)); do echo "  - {id: ca$i, user: chat$i, extension: \"$((30000 + i))\", queues: [chat]}"; done
	fi
} >"$WORK/center.yaml"
"$BIN/tandemctl" --addr "http://127.0.0.1:${ADMIN[n1]}" --token-file "$WORK/admin.token" apply -f "$WORK/center.yaml" >&2 ||
	die "applying the configuration failed"

json_get() { sed -n 's/.*"'"$2"'":"\{0,1\}\([^",}]*\).*/\1/p' <<<"$1"; }
TCK=$(getconf CLK_TCK)
cputicks() { # user + system CPU ticks of the three nodes so far
	local n t=0 f
	for n in n1 n2 n3; do
		read -r -a f <"/proc/${PID[$n]}/stat" || return 1
		t=$((t + f[13] + f[14]))
	done
	echo "$t"
}
row() { # part concurrency report-line cpu-ticks-used
	local ops warm cpu=-
	ops=$(json_get "$3" ops)
	warm=$(json_get "$3" warmup_ops)
	if [[ -n ${4:-} && $ops =~ ^[0-9]+$ && $warm =~ ^[0-9]+$ ]] && ((ops + warm > 0)); then
		cpu=$(awk -v t="$4" -v k="$TCK" -v n="$((ops + warm))" 'BEGIN { printf "%.0f", t / k * 1e6 / n }')
	fi
	printf '%-10s %12s %12s %10s %10s %12s %8s\n' "$1" "$2" "$(json_get "$3" ops_per_s)" "$(json_get "$3" p50_ms)" \
		"$(json_get "$3" p99_ms)" "$cpu" "$(json_get "$3" errors)" | tee -a "$OUT/web.txt"
}
profile() { # CPU profiles of the three nodes, in the background
	local n
	for n in n1 n2 n3; do
		curl -sf -m $((PROFSECS + 30)) -o "$OUT/web-$n.pprof" \
			"http://127.0.0.1:${PPROF[$n]}/debug/pprof/profile?seconds=$PROFSECS" &
	done
}
{
	echo "web callbacks and chat messages through 3 nodes ($(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)), $DURATION each"
	printf '%-10s %12s %12s %10s %10s %12s %8s\n' part concurrency ops/s p50_ms p99_ms cpu_us/op errors
} | tee "$OUT/web.txt"
profiled=0
RATE64=
for t in $TARGETS; do
	case $t in
	callback)
		for c in $CONCS; do
			if ((PROFILE && !profiled)); then
				profiled=1
				(profile; wait) &
				PROFJOB=$!
			fi
			c0=$(cputicks)
			line=$(timeout 300 "$BL" -target webcallback -addr "$PUBLIC" -concurrency "$c" -duration "$DURATION" -warmup "$WARMUP" \
				2>>"$OUT/web-benchload.log") || die "benchload at concurrency $c failed (see $OUT/web-benchload.log)"
			row callback "$c" "$line" $(($(cputicks) - c0))
			if ((c == 64)); then RATE64=$(json_get "$line" ops_per_s); fi
		done
		;;
	chat)
		off=0
		for c in $CHATS; do
			line=$(timeout 600 "$BL" -target webchat -addr "$PUBLIC" -concurrency "$c" -duration "$DURATION" -warmup "$WARMUP" \
				-chat-users chat -user-offset "$off" -password-file "$WORK/agent.password" -chat-rotate "$ROTATE" \
				2>>"$OUT/web-benchload.log") || die "benchload webchat at concurrency $c failed (see $OUT/web-benchload.log)"
			row chat "$c" "$line" # (its CPU would be mostly the agents' log-ins)
			off=$((off + c))
		done
		;;
	esac
done
if [[ -n $RATE64 ]]; then
	met="NOT met"
	awk -v r="$RATE64" 'BEGIN { exit !(r >= 2000) }' && met=met
	echo "accepted callbacks/s at concurrency 64: $RATE64   (target ≥ 2000: $met)" | tee -a "$OUT/web.txt"
fi
if ((profiled)); then
	wait "$PROFJOB" || true
	: >"$OUT/web-profile.txt"
	for n in n1 n2 n3; do
		[[ -s $OUT/web-$n.pprof ]] || { log "no profile of $n"; continue; }
		{ echo "== $n (${PROFSECS}s during callbacks at concurrency ${CONCS%% *})"; "$GO" tool pprof -top -nodecount=40 "$TANDEMD" "$OUT/web-$n.pprof" 2>/dev/null; } >>"$OUT/web-profile.txt"
	done
	log "profiles: $OUT/web-n*.pprof, $OUT/web-profile.txt"
fi
