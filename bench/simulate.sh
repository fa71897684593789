#!/bin/sh
# Times `holdadvisor simulate` for 1,000,000 jobs (release build) and reports wall time and
# peak RSS from GNU time. Usage: bench/simulate.sh [JOBS] [OUTDIR]
set -eu
JOBS=${1:-1000000}
OUT=${2:-${TMPDIR:-/tmp}/holdadvisor-sim-bench}
cd "$(dirname "$0")/.."
# HOLDADVISOR_BIN: time an existing binary instead of building one.
BIN=${HOLDADVISOR_BIN:-./target/release/holdadvisor}
[ -n "${HOLDADVISOR_BIN:-}" ] || cargo build --release --quiet
rm -rf "$OUT"
/usr/bin/time -v "$BIN" simulate --jobs "$JOBS" --seed 1 --out "$OUT" 2> "$OUT.time"
grep -E "Elapsed \(wall clock\)|Maximum resident set size|User time|System time" "$OUT.time"
du -sh "$OUT" | sed 's/^/output size: /'
