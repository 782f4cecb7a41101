#!/usr/bin/env bash
# bench/snmp.sh — Tandem's SNMP agent beside net-snmp's snmpd (issue 13's
# benchmark), run by `make bench`:
#
#  1. a full snmpbulkwalk (SNMPv2c, snmpbulkwalk's default max-repetitions
#     of 10 unless SNMP_REPS says otherwise) of a real
#     tandemd (one-node cluster, SNMP_QUEUES queues configured, so that its
#     TANDEM-MIB has some 800 instances) and of snmpd serving a comparable
#     number of OIDs (its system group and NET-SNMP-EXTEND-MIB's
#     nsExtendConfigTable, one row per `extend` line of a generated
#     config, as many rows as make the counts match), SNMP_WALKS walks
#     each, in turn: ours ÷ snmpd time (target ≤ 1.0);
#  2. GETs per second under SNMP_LOOPS concurrent `snmpget` loops (one
#     scalar each: tandemNodeId.0, sysDescr.0), SNMP_DURATION per round,
#     two rounds each, in turn.
#
# Both agents listen on loopback, both are asked by the same net-snmp
# tools (without MIB files: numeric OIDs), one after the other, so that
# both see the same neighbours. It prints a table (also written to
# bench/out/snmp.txt). See bench/README.md ("SNMP").
#
# Environment (all optional):
#   SNMP_QUEUES=190     queues configured in tandemd (4 instances each)
#   SNMP_WALKS=30       walks of each agent
#   SNMP_REPS=10        snmpbulkwalk max-repetitions (-Cr; 10 is its default)
#   SNMP_LOOPS=16       concurrent snmpget loops
#   SNMP_DURATION=10    seconds of one GET round
#   SNMP_TARGETS="tandem snmpd"  agents measured (`make bench-smoke`: tandem)
#   BENCH_OUT=bench/out snmp.txt (the table) and the agents' logs
#   TANDEM_BIN_DIR=bin  where tandemd and tandemctl are (make build)
#
# Needs net-snmp's tools (Debian snmp) and, for snmpd, Debian snmpd: `make
# bench` installs them when missing. It exits non-zero when a benchmark
# fails to run; "NOT met" is a result, not a failure.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
QUEUES=${SNMP_QUEUES:-190}
WALKS=${SNMP_WALKS:-30}
REPS=${SNMP_REPS:-10}
LOOPS=${SNMP_LOOPS:-16}
DURATION=${SNMP_DURATION:-10}
TARGETS=${SNMP_TARGETS:-tandem snmpd}
OUT=${BENCH_OUT:-$ROOT/bench/out}
BIN=${TANDEM_BIN_DIR:-$ROOT/bin}
COMMUNITY=bench-n0c-community

log() { echo "snmp.sh $(date +%T): $*" >&2; }
die() {
	log "$*"
	exit 1
}
for v in QUEUES WALKS REPS LOOPS DURATION; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "SNMP_$v=${!v}: want a positive integer"
done
[[ " $TARGETS " == *" tandem "* ]] || die "SNMP_TARGETS=$TARGETS: tandem is always measured"
with_snmpd=0
[[ " $TARGETS " == *" snmpd "* ]] && with_snmpd=1
command -v snmpbulkwalk >/dev/null && command -v snmpget >/dev/null || die "net-snmp tools missing (Debian snmp; make bench installs it)"
if ((with_snmpd)); then
	SNMPD=$(command -v snmpd || echo /usr/sbin/snmpd)
	[[ -x $SNMPD ]] || die "snmpd missing (Debian snmpd; make bench installs it)"
fi
[[ -x $BIN/tandemd && -x $BIN/tandemctl ]] || die "$BIN/tandemd not found; run make build"
BIN=$(cd "$BIN" && pwd)
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tandem-snmp-bench.XXXXXX")
# The tools read no MIB file: every name is numeric, for both agents.
export MIBS= MIBDIRS=$WORK/no-mibs SNMP_PERSISTENT_DIR=$WORK/persist
mkdir -p "$SNMP_PERSISTENT_DIR"

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

# port: a loopback port from a range below the ephemeral ports, free of
# TCP listeners; a UDP clash shows as a start failure, and the caller
# tries another.
port() {
	local p
	while :; do
		p=$((20000 + RANDOM % 10000))
		(exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || break
	done
	echo "$p"
}

# --- tandemd -----------------------------------------------------------------
start_tandemd() {
	local try
	for try in 1 2 3 4 5; do
		OURS=127.0.0.1:$(port)
		ADMIN=127.0.0.1:$(port)
		"$BIN/tandemd" --node-id bench --data-dir "$WORK/tandem" --raft-addr "127.0.0.1:$(port)" --admin-addr "$ADMIN" \
			--http-addr '' --sip-addr '' --snmp-addr "$OURS" --snmp-community "$COMMUNITY" >"$OUT/tandemd-snmp.log" 2>&1 &
		PID[tandemd]=$!
		disown
		for ((i = 0; i < 100; i++)); do
			alive "${PID[tandemd]}" || break
			if "$BIN/tandemctl" --addr "http://$ADMIN" --token-file "$WORK/tandem/admin.token" status >/dev/null 2>&1; then
				return 0
			fi
			sleep 0.1
		done
		stop_proc tandemd
		rm -rf "$WORK/tandem"
	done
	tail -5 "$OUT/tandemd-snmp.log" >&2
	die "tandemd did not start"
}
log "starting tandemd with $QUEUES queues"
start_tandemd
{
	echo "queues:"
	for ((i = 1; i <= QUEUES; i++)); do echo "  - {id: queue-$i, name: Queue $i, strategy: longest-idle}"; done
} >"$WORK/queues.yaml"
"$BIN/tandemctl" --addr "http://$ADMIN" --token-file "$WORK/tandem/admin.token" apply -f "$WORK/queues.yaml" >/dev/null ||
	die "tandemctl apply failed"

# walk addr: the number of instances a full walk returns
walk() { snmpbulkwalk -v2c -c "$COMMUNITY" -On -Oq -t 5 -r 1 -Cr"$REPS" "$1" .1.3.6.1 | wc -l; }
N_OURS=$(walk "$OURS")
((N_OURS > 2 * QUEUES)) || die "a walk of tandemd returned $N_OURS instances"

# --- snmpd -------------------------------------------------------------------
# start_snmpd rows: snmpd serving its system group and rows extend lines
# (nsExtendConfigTable: the configuration, no command is run) to the
# community, from loopback only.
start_snmpd() {
	local rows=$1 try i
	{
		echo "view bench included .1.3.6.1.2.1.1"
		echo "view bench included .1.3.6.1.4.1.8072.1.3.2.1"
		echo "view bench included .1.3.6.1.4.1.8072.1.3.2.2"
		echo "rocommunity $COMMUNITY 127.0.0.1 -V bench"
		for ((i = 1; i <= rows; i++)); do echo "extend row$i /bin/true"; done
	} >"$WORK/snmpd.conf"
	for try in 1 2 3 4 5; do
		THEIRS=127.0.0.1:$(port)
		"$SNMPD" -f -C -c "$WORK/snmpd.conf" -Lf "$OUT/snmpd.log" -I -smux "udp:$THEIRS" &
		PID[snmpd]=$!
		disown
		for ((i = 0; i < 50; i++)); do
			alive "${PID[snmpd]}" || break
			if snmpget -v2c -c "$COMMUNITY" -On -t 1 -r 0 "$THEIRS" .1.3.6.1.2.1.1.1.0 >/dev/null 2>&1; then
				return 0
			fi
			sleep 0.1
		done
		stop_proc snmpd
	done
	die "snmpd did not start (see $OUT/snmpd.log)"
}
if ((with_snmpd)); then
	# Calibrate: the instances of one and of two rows give the count of
	# a row and of the rest.
	start_snmpd 1
	c1=$(walk "$THEIRS")
	stop_proc snmpd
	start_snmpd 2
	c2=$(walk "$THEIRS")
	stop_proc snmpd
	per=$((c2 - c1))
	((per > 0)) || die "snmpd: a row of extend adds $per instances"
	rows=$(((N_OURS - (c1 - per) + per / 2) / per))
	((rows >= 1)) || rows=1
	log "starting snmpd with $rows extend rows ($per instances a row)"
	start_snmpd "$rows"
	N_THEIRS=$(walk "$THEIRS")
fi

# --- 1. walks ----------------------------------------------------------------
# timed_walk addr want: the walk's milliseconds (it must return want)
timed_walk() {
	local t0 t1 n
	t0=$(date +%s%N)
	n=$(walk "$1")
	t1=$(date +%s%N)
	((n == $2)) || die "a walk of $1 returned $n instances, $2 before"
	echo $(((t1 - t0) / 1000))
}
declare -a W_OURS=() W_THEIRS=()
log "$WALKS walks of each, in turn"
for ((w = 0; w < WALKS; w++)); do # in turn, each first every other time
	if ((with_snmpd && w % 2)); then
		W_THEIRS+=("$(timed_walk "$THEIRS" "$N_THEIRS")")
		W_OURS+=("$(timed_walk "$OURS" "$N_OURS")")
		continue
	fi
	W_OURS+=("$(timed_walk "$OURS" "$N_OURS")")
	((with_snmpd)) && W_THEIRS+=("$(timed_walk "$THEIRS" "$N_THEIRS")")
done

# --- 2. GETs under concurrent snmpget loops -----------------------------------
# gets addr oid: GETs answered per second by LOOPS loops during DURATION s
gets() {
	local addr=$1 oid=$2 end l t0 t1 total=0 f
	t0=$(date +%s%N)
	end=$((t0 / 1000000000 + DURATION))
	for ((l = 0; l < LOOPS; l++)); do
		(
			n=0
			while ((EPOCHSECONDS < end)); do
				snmpget -v2c -c "$COMMUNITY" -On -Oqv -t 2 -r 0 "$addr" "$oid" >/dev/null 2>&1 && n=$((n + 1))
			done
			echo "$n" >"$WORK/loop.$l"
		) &
	done
	wait
	t1=$(date +%s%N)
	for ((l = 0; l < LOOPS; l++)); do
		f=$(cat "$WORK/loop.$l")
		total=$((total + f))
	done
	awk -v n="$total" -v ns="$((t1 - t0))" 'BEGIN { printf "%.0f", n / (ns / 1e9) }'
}
declare -a G_OURS=() G_THEIRS=()
log "GETs: $LOOPS concurrent snmpget loops, $DURATION s a round, two rounds each"
G_OURS+=("$(gets "$OURS" .1.3.6.1.4.1.32473.1.1.1.1.0)")
if ((with_snmpd)); then
	G_THEIRS+=("$(gets "$THEIRS" .1.3.6.1.2.1.1.1.0)")
	G_THEIRS+=("$(gets "$THEIRS" .1.3.6.1.2.1.1.1.0)")
fi
G_OURS+=("$(gets "$OURS" .1.3.6.1.4.1.32473.1.1.1.1.0)")

# --- report ------------------------------------------------------------------
stats() { # "v1 v2 …" (µs): sum ms, median ms
	tr ' ' '\n' <<<"$1" | sed '/^$/d' | sort -g | awk '{ v[NR] = $1; s += $1 }
		END { printf "%.1f %.1f\n", s / 1000, (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) / 1000 }'
}
report() {
	echo "SNMP benchmark — Tandem's agent beside net-snmp snmpd, SNMPv2c over loopback"
	echo "date: $(date -u +%FT%TZ); host: $(hostname) ($(uname -sr)), $(nproc) CPUs; tandem $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'); $(snmpget --version 2>&1 | head -1)"
	echo
	echo "ours:  tandemd, one-node cluster, $QUEUES queues: TANDEM-MIB, $N_OURS instances"
	if ((with_snmpd)); then
		echo "snmpd: net-snmp snmpd: system group + nsExtendConfigTable of $rows extend rows, $N_THEIRS instances"
	else
		echo "snmpd: not measured (SNMP_TARGETS=$TARGETS)"
	fi
	echo
	read -r so mo <<<"$(stats "${W_OURS[*]}")"
	printf "%-34s %10s %10s %10s\n" "" "ours" "snmpd" "ours÷snmpd"
	if ((with_snmpd)); then
		read -r st mt <<<"$(stats "${W_THEIRS[*]}")"
		printf "%-34s %10s %10s %10.2f\n" "snmpbulkwalk -Cr$REPS, total of $WALKS (ms)" "$so" "$st" "$(awk -v a="$so" -v b="$st" 'BEGIN { print a / b }')"
		printf "%-34s %10s %10s %10.2f\n" "  median walk (ms)" "$mo" "$mt" "$(awk -v a="$mo" -v b="$mt" 'BEGIN { print a / b }')"
		pairs=()
		for ((w = 0; w < WALKS; w++)); do pairs+=("$(awk -v a="${W_OURS[w]}" -v b="${W_THEIRS[w]}" 'BEGIN { printf "%.4f", a / b }')"); done
		ratio=$(tr ' ' '\n' <<<"${pairs[*]}" | sort -g | awk '{ v[NR] = $1 } END { printf "%.2f", (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }')
		printf "%-34s %10s %10s %10s\n" "  median of the $WALKS pairs' ratios" "" "" "$ratio"
		go=$(((G_OURS[0] + G_OURS[1]) / 2))
		gt=$(((G_THEIRS[0] + G_THEIRS[1]) / 2))
		printf "%-34s %10s %10s %10.2f\n" "GETs/s, $LOOPS snmpget loops" "$go" "$gt" "$(awk -v a="$go" -v b="$gt" 'BEGIN { print a / b }')"
		echo "  (rounds: ours ${G_OURS[*]}; snmpd ${G_THEIRS[*]} GETs/s)"
		echo
		printf "walk time, ours ÷ snmpd (median of the ratios of walks run back to back): %s   (target ≤ 1.0: %s)\n" \
			"$ratio" "$(awk -v r="$ratio" 'BEGIN { print (r <= 1.0 ? "met" : "NOT met") }')"
	else
		printf "%-34s %10s\n" "snmpbulkwalk -Cr$REPS, total of $WALKS (ms)" "$so"
		printf "%-34s %10s\n" "  median walk (ms)" "$mo"
		printf "%-34s %10s\n" "GETs/s, $LOOPS snmpget loops" "$(((G_OURS[0] + G_OURS[1]) / 2))"
		echo "walk time, ours ÷ snmpd: not measured (SNMP_TARGETS=$TARGETS)"
	fi
	echo "(each GET is one snmpget process: the figure is mostly the tools' own cost, the same for both agents)"
}
report | tee "$OUT/snmp.txt"
