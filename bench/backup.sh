#!/usr/bin/env bash
# bench/backup.sh — backups of a real tandemd (issue 14), run by
# `make bench`: full backup throughput of a node holding BACKUP_STATE_MB of
# engine state beside `tar` and `tar | zstd -1 -T0` of the same data
# directory, in alternating rounds (ours ÷ tar, target ≥ 0.7); an
# incremental after 1 % of the state changed (its size, target ≤ 5 % of the
# full, and its time); the offline restore of full + incremental.
#
# It runs BenchmarkBackupNode (backup/bench_test.go): the node's data
# directory is seeded with directory contacts (a Raft snapshot of an engine
# restored from a synthesised state: applying millions of contacts would
# take far longer), then bin/tandemd starts on it with --backup-dir and is
# driven by bin/tandemctl (backup now, then backup restore). It prints a
# table (also written to $BENCH_OUT/backup.txt); the Go test's output is in
# $BENCH_OUT/backup.log. See bench/README.md ("Backup").
#
# Environment (all optional):
#   BACKUP_STATE_MB=1024  engine state to back up, in MiB (smoke: 8)
#   BACKUP_ROUNDS=3       rounds of tar / tar | zstd / backup now (medians)
#   BENCH_OUT=bench/out   backup.txt, backup.log
#   TANDEM_BIN_DIR=bin    where tandemd and tandemctl are (make build)
#
# Needs about 12 GB of memory per GiB of state (the seeding process, the
# node and the restoring tandemctl each hold the state decoded) and 5 GB of
# disk per GiB. It exits non-zero only when the benchmark fails to run;
# every target line says "met" or "NOT met".
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MB=${BACKUP_STATE_MB:-1024}
ROUNDS=${BACKUP_ROUNDS:-3}
OUT=${BENCH_OUT:-$ROOT/bench/out}
BIN=${TANDEM_BIN_DIR:-$ROOT/bin}
GO=${GO:-go}

die() { echo "backup.sh $(date +%T): $*" >&2; exit 1; }
[[ $MB =~ ^[0-9]+$ && $MB -ge 1 ]] || die "BACKUP_STATE_MB=$MB: want a number of MiB"
[[ $ROUNDS =~ ^[0-9]+$ && $ROUNDS -ge 1 ]] || die "BACKUP_ROUNDS=$ROUNDS: want a positive number"
[[ -x $BIN/tandemd && -x $BIN/tandemctl ]] || die "$BIN/tandemd or tandemctl not found; run make build"
command -v zstd >/dev/null || echo "backup.sh: no zstd command: comparing with tar alone" >&2
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
BIN=$(cd "$BIN" && pwd)
cd "$ROOT"

echo "backup.sh $(date +%T): a node of $MB MiB of state, $ROUNDS round(s); log in $OUT/backup.log" >&2
rm -f "$OUT/backup.txt"
if ! TANDEM_BACKUP_STATE_MB=$MB TANDEM_BACKUP_ROUNDS=$ROUNDS TANDEM_BIN_DIR=$BIN TANDEM_BACKUP_BENCH_OUT=$OUT/backup.txt \
	"$GO" test -count=1 -run '^$' -bench '^BenchmarkBackupNode$' -benchtime 1x -timeout 120m ./backup/ >"$OUT/backup.log" 2>&1 \
	|| [[ ! -s $OUT/backup.txt ]]; then
	tail -40 "$OUT/backup.log" >&2
	die "the benchmark failed (log: $OUT/backup.log)"
fi
echo "## Backup — $MB MiB of state ($(date -u +%F))"
cat "$OUT/backup.txt"
