#!/usr/bin/env bash
# bench/sip.sh — calls per second set up through Tandem's ACD beside
# Kamailio as a stateful proxy (issue 15's benchmark), run by `make bench`:
#
#  ours:     a 3-node tandemd cluster (--sip-trusted 127.0.0.1), one queue,
#            SIP_AGENTS agents logged in, each with an extension whose
#            phone registered (digest) at one sipp UAS that auto-answers;
#            a sipp UAC calls the queue at the leader: every call is
#            call.incoming (routed by the engine to a free agent),
#            call.answer and the hang-up, each committed through Raft
#            before Tandem acts on it, Tandem a B2BUA in signalling (two
#            dialogs a call).
#  Kamailio: `kamailio` (Debian) as a child process, its own config in a
#            temporary directory, loopback ports: a stateful proxy (tm,
#            t_relay) that record-routes the INVITE and loose-routes the
#            in-dialog ACK and BYE, every INVITE relayed to one sipp UAS;
#            -m SIP_KAM_SHM MiB of shared memory, SIP_KAM_CHILDREN UDP
#            workers.
#
# The same sipp scenarios drive both (bench/sip/caller.xml, phone.xml):
# INVITE with SDP, 100/180, 200, ACK, a call of SIP_HOLD ms, BYE, 200.
# Each side is ramped through SIP_RATES (calls/s offered, SIP_STEP
# seconds a step, the two sides in turn at each rate); a step passes when
# at least 99 % of its calls completed and the completed rate is at
# least 90 % of the offered one. A side's ceiling is its best completed
# rate over passing steps; the ramp of a side stops at its first failing
# step. It prints ours ÷ Kamailio's ceilings (target ≥ 0.5) and the p99
# call-setup time (INVITE sent → 200 received, sipp's response-time
# repartition) of both at their ceiling step. Output: bench/out/sip.txt.
#
# Environment (all optional):
#   SIP_AGENTS=300         agents (and extensions, one phone each)
#   SIP_RATES="50 100 200 300 … 2400 3200"  offered calls/s, ascending
#   SIP_STEP=10            seconds a step offers calls
#   SIP_HOLD=100           ms a call lasts between ACK and BYE
#   SIP_TARGETS="tandem kamailio"  sides measured (`make bench-smoke`: tandem)
#   SIP_KAM_SHM=1024       Kamailio shared memory, MiB (-m)
#   SIP_KAM_CHILDREN=4     Kamailio UDP worker processes
#   SIP_PROFILE=1          a 10 s perf profile of the leader at the highest rate it passed
#   BENCH_OUT=bench/out    sip.txt and the logs
#   TANDEM_BIN_DIR=bin     where tandemd and tandemctl are (make build)
#
# Needs sipp (Debian sip-tester) and, for the comparison, Debian kamailio:
# `make bench` installs them. It exits non-zero when a benchmark fails to
# run; "NOT met" is a result, not a failure.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
AGENTS=${SIP_AGENTS:-300}
RATES=${SIP_RATES:-50 100 200 300 400 500 600 700 800 1000 1200 1400 1600 2000 2400 3200}
STEP=${SIP_STEP:-10}
HOLD=${SIP_HOLD:-100}
TARGETS=${SIP_TARGETS:-tandem kamailio}
KAM_SHM=${SIP_KAM_SHM:-1024}
KAM_CHILDREN=${SIP_KAM_CHILDREN:-4}
PROFILE=${SIP_PROFILE:-1}
OUT=${BENCH_OUT:-$ROOT/bench/out}
BIN=${TANDEM_BIN_DIR:-$ROOT/bin}
SCEN=$ROOT/bench/sip

log() { echo "sip.sh $(date +%T): $*" >&2; }
die() {
	log "$*"
	exit 1
}
for v in AGENTS STEP HOLD KAM_SHM KAM_CHILDREN; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "SIP_$v=${!v}: want a positive integer"
done
for r in $RATES; do [[ $r =~ ^[1-9][0-9]*$ ]] || die "SIP_RATES: $r is not a positive integer"; done
((AGENTS <= 9000)) || die "SIP_AGENTS=$AGENTS: at most 9000 (extensions 1000..9999)"
[[ " $TARGETS " == *" tandem "* ]] || die "SIP_TARGETS=$TARGETS: tandem is always measured"
with_kam=0
[[ " $TARGETS " == *" kamailio "* ]] && with_kam=1
SIPP=$(command -v sipp) || die "sipp missing (Debian sip-tester; make deps installs it)"
if ((with_kam)); then
	KAMAILIO=$(command -v kamailio || echo /usr/sbin/kamailio)
	[[ -x $KAMAILIO ]] || die "kamailio missing (Debian kamailio; make bench installs it)"
	KAM_MODULES=$(dirname "$(dpkg -L kamailio 2>/dev/null | grep -m1 '/modules/tm\.so$')") ||
		die "kamailio's modules (tm.so) not found"
fi
[[ -x $BIN/tandemd && -x $BIN/tandemctl ]] || die "$BIN/tandemd not found; run make build"
BIN=$(cd "$BIN" && pwd)
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tandem-sip-bench.XXXXXX")

# --- processes ---------------------------------------------------------------
declare -A PID=()
alive() {
	local st
	st=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
	[[ -n $st && $st != Z* ]]
}
stop_proc() { # name: SIGTERM, then SIGKILL after 10 s
	local pid=${PID[$1]:-} i
	[[ -n $pid ]] || return 0
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 100; i++)); do
		alive "$pid" || break
		sleep 0.1
	done
	alive "$pid" && kill -KILL "$pid" 2>/dev/null || true
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

# port: a loopback port below the ephemeral range, free of TCP and UDP
# listeners (ss), not handed out before by this script.
declare -A TAKEN=()
port() {
	local p
	while :; do
		p=$((20000 + RANDOM % 10000))
		[[ -z ${TAKEN[$p]:-} ]] || continue
		ss -Hlntu "sport = :$p" 2>/dev/null | grep -q . && continue
		TAKEN[$p]=1
		echo "$p"
		return
	done
}

# --- tandemd cluster -----------------------------------------------------------
TOKEN=$(od -An -tx1 -N24 /dev/urandom | tr -d ' \n')
NODES=(n1 n2 n3)
declare -A RAFT=() ADMIN=() HTTPP=() SIPP_ADDR=()
for n in "${NODES[@]}"; do
	RAFT[$n]=$(port)
	ADMIN[$n]=$(port)
	HTTPP[$n]=$(port)
	SIPP_ADDR[$n]=127.0.0.1:$(port)
done
api() { # method node path [body]: the admin API of a node, body to stdout
	curl -fsS -m 10 -X "$1" -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
		${4:+--data-binary "$4"} "http://127.0.0.1:${ADMIN[$2]}$3"
}
start_tandem() { # node
	local n=$1 join=()
	[[ $n == n1 ]] || join=(--join "http://127.0.0.1:${ADMIN[n1]}")
	"$BIN/tandemd" --node-id "$n" --data-dir "$WORK/$n" \
		--raft-addr "127.0.0.1:${RAFT[$n]}" --admin-addr "127.0.0.1:${ADMIN[$n]}" \
		--http-addr "127.0.0.1:${HTTPP[$n]}" --snmp-addr '' --sip-addr "${SIPP_ADDR[$n]}" --sip-trusted 127.0.0.1 \
		--admin-token "$TOKEN" "${join[@]}" >"$OUT/sip-tandemd-$n.log" 2>&1 &
	PID[$n]=$!
	disown "$!"
}
wait_for() { # seconds command...: true once the command succeeds
	local secs=$1 i
	shift
	for ((i = 0; i < secs * 10; i++)); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	return 1
}
log "starting a 3-node tandemd cluster"
start_tandem n1
wait_for 30 api GET n1 /v1/status || die "tandemd n1 did not come up (see $OUT/sip-tandemd-n1.log)"
start_tandem n2
start_tandem n3
LEADER=""
find_leader() {
	local n
	for n in "${NODES[@]}"; do
		if api GET "$n" /v1/status 2>/dev/null | grep -Eq '"role": *"leader"'; then
			LEADER=$n
			return 0
		fi
	done
	return 1
}
wait_for 60 api GET n3 /v1/status || die "tandemd n3 did not come up (see $OUT/sip-tandemd-n3.log)"
three_voters() { [[ $(api GET n1 /v1/status | grep -Eo '"suffrage": *"voter"' | wc -l) == 3 ]]; }
wait_for 60 three_voters || die "the tandemd cluster did not form 3 voters (see $OUT/sip-tandemd-n*.log)"
wait_for 60 find_leader || die "no tandemd leader"
find_leader
log "cluster up: leader $LEADER, SIP ${SIPP_ADDR[$LEADER]}"

# Configuration: extensions 1000.., one phone each, users and agents in
# the queue "bench" (longest idle, no wrap-up).
{
	echo "extensions:"
	for ((i = 0; i < AGENTS; i++)); do echo "  - {number: \"$((1000 + i))\", phones: [{id: desk, position: 0, order: 1, password: bench-pw-$i}]}"; done
	echo "users:"
	for ((i = 0; i < AGENTS; i++)); do echo "  - {id: u$i, name: User $i, extension: \"$((1000 + i))\"}"; done
	echo "queues:"
	echo "  - {id: bench, strategy: longest-idle}"
	echo "agents:"
	for ((i = 0; i < AGENTS; i++)); do echo "  - {id: a$i, user: u$i, extension: \"$((1000 + i))\", queues: [bench]}"; done
} >"$WORK/config.yaml"
(umask 077 && printf '%s\n' "$TOKEN" >"$WORK/admin.token")
"$BIN/tandemctl" --addr "http://127.0.0.1:${ADMIN[$LEADER]}" --token-file "$WORK/admin.token" apply -f "$WORK/config.yaml" >/dev/null ||
	die "tandemctl apply failed"

# The phones: one sipp UAS for Tandem's agents, started first (their
# contact), registered with digest from a sipp UAC.
UAS_T=$(port)
phones_up() { # name port: a sipp UAS on port answering every call
	local name=$1 p=$2
	mkdir -p "$WORK/$name"
	(cd "$WORK/$name" && exec "$SIPP" -sf "$SCEN/phone.xml" -t u1 -i 127.0.0.1 -p "$p" -nostdin -max_recv_loops 10000 \
		-trace_err >"$OUT/sip-$name.log" 2>&1) &
	PID[$name]=$!
	disown "$!"
	wait_for 10 bash -c "ss -Hlnu 'sport = :$p' | grep -q ." || die "sipp UAS $name did not listen on $p"
}
phones_up phones-tandem "$UAS_T"
log "registering $AGENTS phones (digest) at ${SIPP_ADDR[$LEADER]}, contact 127.0.0.1:$UAS_T"
# One sipp a phone (sipp takes one digest user a run: -au/-ap), 8 at a time.
register_one() { # index: REGISTER extension 1000+index with its password (3 tries: a loaded host may lose one)
	local i=$1 d=$WORK/register/$1 try
	mkdir -p "$d"
	cd "$d" || return 1
	for try in 1 2 3; do
		timeout 30 "$SIPP" "$SIPT" -sf "$SCEN/register.xml" -key ext $((1000 + i)) -key phone "$PHONE" \
			-au "$((1000 + i))-desk" -ap "bench-pw-$i" -t u1 -i 127.0.0.1 -m 1 -nostdin -timeout 20s -timeout_error \
			-trace_err >"$d/out" 2>&1 && return 0
		echo "REGISTER of $((1000 + i)), try $try failed:" >&2
		cat "$d"/*_errors.log >&2 2>/dev/null || true
		rm -f "$d"/*_errors.log
	done
	return 1
}
export -f register_one
export SIPP SCEN WORK SIPT=${SIPP_ADDR[$LEADER]} PHONE=127.0.0.1:$UAS_T
seq 0 $((AGENTS - 1)) | xargs -P 8 -I{} bash -c 'register_one {}' >"$OUT/sip-register.log" 2>&1 ||
	die "registering the phones failed (see $OUT/sip-register.log)"
log "logging $AGENTS agents in (twice: disconnected → paused → available)"
for ((i = 0; i < AGENTS; i++)); do
	for k in 1 2; do
		api POST "$LEADER" /v1/console/ops/login "{\"agent\":\"a$i\"}" >/dev/null || die "login of a$i failed"
	done
done

# --- Kamailio --------------------------------------------------------------------
if ((with_kam)); then
	UAS_K=$(port)
	KAM=127.0.0.1:$(port)
	phones_up phones-kamailio "$UAS_K"
	mkdir -p "$WORK/kamailio"
	cat >"$WORK/kamailio/kamailio.cfg" <<EOF
#!KAMAILIO
# bench/sip.sh: a stateful proxy (tm) on loopback; INVITEs record-routed
# and relayed to the bench's phones (one sipp UAS); in-dialog requests
# loose-routed.
debug=0
log_stderror=yes
memdbg=5
memlog=5
children=$KAM_CHILDREN
disable_tcp=yes
auto_aliases=no
listen=udp:$KAM
mpath="$KAM_MODULES/"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "siputils.so"
loadmodule "textops.so"
modparam("rr", "enable_full_lr", 1)
request_route {
	if (!mf_process_maxfwd_header("10")) {
		sl_send_reply("483", "Too Many Hops");
		exit;
	}
	if (has_totag()) {
		if (loose_route()) {
			t_relay();
			exit;
		}
		if (is_method("ACK")) {
			if (t_check_trans()) {
				t_relay();
			}
			exit;
		}
		sl_send_reply("404", "Not here");
		exit;
	}
	if (is_method("CANCEL")) {
		if (t_check_trans()) {
			t_relay();
		}
		exit;
	}
	t_check_trans();
	if (is_method("INVITE")) {
		record_route();
	}
	\$du = "sip:127.0.0.1:$UAS_K";
	if (!t_relay()) {
		sl_reply_error();
	}
	exit;
}
EOF
	"$KAMAILIO" -f "$WORK/kamailio/kamailio.cfg" -c >"$OUT/sip-kamailio.log" 2>&1 || die "kamailio.cfg does not check (see $OUT/sip-kamailio.log)"
	# -DD: stays in the foreground (its children are its own); -E: logs to stderr.
	"$KAMAILIO" -DD -E -f "$WORK/kamailio/kamailio.cfg" -m "$KAM_SHM" -M 16 -P "$WORK/kamailio/kamailio.pid" \
		-Y "$WORK/kamailio" >>"$OUT/sip-kamailio.log" 2>&1 &
	PID[kamailio]=$!
	disown "$!"
	wait_for 10 bash -c "ss -Hlnu 'sport = :${KAM##*:}' | grep -q ." || die "kamailio did not listen (see $OUT/sip-kamailio.log)"
	log "kamailio up on $KAM (-m $KAM_SHM, $KAM_CHILDREN children), phones on 127.0.0.1:$UAS_K"
fi

# --- load steps ------------------------------------------------------------------
# step side rate: one sipp UAC run offering rate calls/s for STEP s; sets
# S_OK S_FAIL S_CPS S_P50 S_P99 (ms) and returns 0 when the step passed.
step() {
	local side=$1 rate=$2 target calls dir t0 t1 rtt
	if [[ $side == tandem ]]; then target=${SIPP_ADDR[$LEADER]}; else target=$KAM; fi
	calls=$((rate * STEP))
	dir=$WORK/uac-$side-$rate
	mkdir -p "$dir"
	t0=$(date +%s%N)
	(cd "$dir" && timeout $((STEP + 120)) "$SIPP" "$target" -sf "$SCEN/caller.xml" -key queue bench -t u1 -i 127.0.0.1 -p "$(port)" \
		-r "$rate" -m "$calls" -l $((rate * 20 + 100)) -d "$HOLD" -timeout $((STEP + 60))s -recv_timeout 20s \
		-max_socket 65000 -nostdin -trace_stat -fd 1 -trace_rtt -rtt_freq 1 -trace_err >"$OUT/sip-uac-$side-$rate.log" 2>&1) || true
	t1=$(date +%s%N)
	local stat
	stat=$(ls "$dir"/caller_*_.csv 2>/dev/null | head -1)
	[[ -n $stat ]] || die "sipp wrote no statistics for $side at $rate/s (see $OUT/sip-uac-$side-$rate.log)"
	# The last line's cumulative SuccessfulCall and FailedCall (columns by name).
	read -r S_OK S_FAIL <<<"$(awk -F';' 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
		{ ok = $(c["SuccessfulCall(C)"]); f = $(c["FailedCall(C)"]) } END { print ok + 0, f + 0 }' "$stat")"
	# Completed calls a second of the step: from the first INVITE to the last
	# call's end (the wall clock of the sipp run, less its start-up).
	S_CPS=$(awk -v n="$S_OK" -v ns="$((t1 - t0))" 'BEGIN { printf "%.0f", n / (ns / 1e9) }')
	rtt=$(ls "$dir"/caller_*_rtt.csv 2>/dev/null | head -1)
	read -r S_P50 S_P99 <<<"$(awk -F';' 'NR > 1 && $3 == 1 { print $2 }' "${rtt:-/dev/null}" | sort -g | awk '{ v[NR] = $1 }
		END { if (NR == 0) { print "- -"; exit }
			r50 = int(NR * 0.50); if (r50 < NR * 0.50) r50++; if (r50 < 1) r50 = 1
			r99 = int(NR * 0.99); if (r99 < NR * 0.99) r99++; if (r99 < 1) r99 = 1
			printf "%.1f %.1f\n", v[r50], v[r99] }')"
	cp "$stat" "$OUT/sip-stat-$side-$rate.csv" 2>/dev/null || true
	((S_OK * 100 >= calls * 99)) && ((S_CPS * 10 >= rate * 9))
}

declare -A BEST=([tandem]=0 [kamailio]=0) BEST_RATE=() P50=() P99=() DONE=([tandem]=0 [kamailio]=$((1 - with_kam)))
ROWS=()
for rate in $RATES; do
	for side in tandem kamailio; do
		((DONE[$side])) && continue
		log "$side: offering $rate calls/s for $STEP s"
		if step "$side" "$rate"; then verdict=pass; else verdict=FAIL; fi
		ROWS+=("$(printf "%-9s %8s %9s %8s %8s %9s %9s  %s" "$side" "$rate" "$S_CPS" "$S_OK" "$S_FAIL" "$S_P50" "$S_P99" "$verdict")")
		log "$side $rate/s: $S_CPS completed/s, ok $S_OK, failed $S_FAIL, setup p50 $S_P50 ms p99 $S_P99 ms: $verdict"
		if [[ $verdict == pass ]]; then
			if ((S_CPS > BEST[$side])); then
				BEST[$side]=$S_CPS
				BEST_RATE[$side]=$rate
				P50[$side]=$S_P50
				P99[$side]=$S_P99
			fi
		else
			DONE[$side]=1
		fi
		# Let the calls of the step end and the engine settle.
		sleep 2
	done
done

# --- profile -----------------------------------------------------------------------
# tandemd serves no pprof endpoint: the leader is sampled with perf (Go
# keeps frame pointers), 10 s at the highest rate it passed. (Do not
# rebuild bin/tandemd during a run: perf reads the symbols from it.)
if ((PROFILE)) && [[ -n ${BEST_RATE[tandem]:-} ]] && command -v perf >/dev/null; then
	prate=${BEST_RATE[tandem]}
	log "profiling the leader (perf, 10 s) at $prate calls/s"
	(STEP=15 step tandem "$prate" >/dev/null 2>&1 || true) &
	ppid=$!
	sleep 3
	if timeout 30 perf record -q -F 499 -g -p "${PID[$LEADER]}" -o "$WORK/perf.data" -- sleep 10 >/dev/null 2>&1; then
		{
			echo "perf: the leader's CPU at $prate calls/s offered, 10 s; self time by symbol, then by shared object"
			perf report -i "$WORK/perf.data" --stdio --no-children -g none --sort dso,symbol --percent-limit 0.5 2>/dev/null | grep -E '^ +[0-9]' | sed -E 's/[[:space:]]+-[[:space:]]+-[[:space:]]*$//' | head -50
			echo
			perf report -i "$WORK/perf.data" --stdio --no-children -g none --sort dso 2>/dev/null | grep -E '^ +[0-9]' | sed -E 's/[[:space:]]+$//' | head -8
			echo
			echo "cumulative (children), tandemd's own frames:"
			perf report -i "$WORK/perf.data" --stdio --children -g none --sort symbol --dsos tandemd --percent-limit 3 2>/dev/null | grep -E '^ +[0-9]' | sed -E 's/[[:space:]]+-[[:space:]]+-[[:space:]]*$//' | head -40
		} >"$OUT/sip-profile.txt"
	fi
	wait "$ppid" || true
fi

# --- report --------------------------------------------------------------------------
KAMV=""
((with_kam)) && KAMV="; $("$KAMAILIO" -v 2>/dev/null | head -1 | cut -d' ' -f2-3)"
report() {
	echo "SIP benchmark — calls set up through Tandem's ACD (3-node cluster) beside Kamailio as a stateful proxy, sipp over UDP loopback"
	echo "date: $(date -u +%FT%TZ); host: $(hostname) ($(uname -sr)), $(nproc) CPUs; tandem $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'); $("$SIPP" -v 2>&1 | grep -o 'SIPp v[^ ,]*' | head -1)$KAMV"
	echo
	echo "load (both): sipp UAC (bench/sip/caller.xml) INVITE with SDP → 100/180 → 200 → ACK → ${HOLD} ms → BYE → 200;"
	echo "  one sipp UAS (bench/sip/phone.xml) auto-answers (200 with SDP at once, no 180) for every phone; SIP_RATES offered, $STEP s a step"
	echo "ours: 3 tandemd nodes (Raft), the leader takes SIP; $AGENTS agents logged in, queue 'bench' (longest idle), each agent's phone"
	echo "  registered with digest; per call: call.incoming → the engine routes (call.offered) → Tandem INVITEs the agent's phone (a"
	echo "  second dialog) → 200 → call.answer committed → 200 to the caller; BYE → BYE to the phone + the hang-up committed:"
	echo "  3 Raft commits (each on 2 of 3 nodes, fsync'd) and 2 dialogs a call, caller trusted by address (no digest on INVITE)"
	if ((with_kam)); then
		echo "Kamailio: one process tree (-m $KAM_SHM MiB shm, $KAM_CHILDREN UDP workers), tm stateful relay, record_route/loose_route;"
		echo "  no routing decision (every INVITE to one fixed next hop), no registrar lookup, no replication, no disk, one dialog a call"
	else
		echo "Kamailio: not measured (SIP_TARGETS=$TARGETS)"
	fi
	echo
	printf "%-9s %8s %9s %8s %8s %9s %9s  %s\n" side offered completed ok failed p50_ms p99_ms step
	printf "%s\n" "${ROWS[@]}"
	echo
	echo "ceiling (best completed calls/s over passing steps: ≥ 99 % completed, ≥ 90 % of the offered rate):"
	printf "  ours      %6s calls/s (offered %s), call setup p50 %s ms, p99 %s ms\n" "${BEST[tandem]}" "${BEST_RATE[tandem]:--}" "${P50[tandem]:--}" "${P99[tandem]:--}"
	if ((with_kam)); then
		printf "  Kamailio  %6s calls/s (offered %s), call setup p50 %s ms, p99 %s ms\n" "${BEST[kamailio]}" "${BEST_RATE[kamailio]:--}" "${P50[kamailio]:--}" "${P99[kamailio]:--}"
		last=${RATES##* }
		if [[ ${BEST_RATE[kamailio]:-} == "$last" ]]; then
			echo "  (Kamailio passed the highest rate offered: its ceiling is above; raise SIP_RATES)"
		fi
		if ((BEST[kamailio] > 0)); then
			ratio=$(awk -v a="${BEST[tandem]}" -v b="${BEST[kamailio]}" 'BEGIN { printf "%.2f", a / b }')
			echo
			printf "calls/s, ours ÷ Kamailio: %s   (target ≥ 0.5: %s)\n" "$ratio" "$(awk -v r="$ratio" 'BEGIN { print (r >= 0.5 ? "met" : "NOT met") }')"
		else
			echo "calls/s, ours ÷ Kamailio: Kamailio passed no step"
		fi
	else
		echo "calls/s, ours ÷ Kamailio: not measured (SIP_TARGETS=$TARGETS)"
	fi
	if ((PROFILE)) && [[ -s $OUT/sip-profile.txt ]]; then
		echo
		echo "where the leader's CPU goes at its ceiling (perf, self time; the whole profile: $OUT/sip-profile.txt):"
		grep -E '^ +[0-9]' "$OUT/sip-profile.txt" | head -12
	fi
	return 0
}
report | tee "$OUT/sip.txt"
