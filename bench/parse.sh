#!/usr/bin/env bash
# Parser benchmark: holdadvisor and HTCondor's Python bindings read the same large text event
# log, one after the other; prints MB/s, events/s and the ratio.
#   bash bench/parse.sh [MEGABYTES=512]
# Needs: python3 with htcondor2 (pip install -r tests/oracle/requirements.txt).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
mb=${1:-512}
log=bench/out/big$mb.log
mkdir -p bench/out
[ -f "$log" ] || python3 bench/make_big_log.py "$log" "$mb"
cargo build --release --quiet
bytes=$(stat -c %s "$log")
cat "$log" >/dev/null   # both readers start from the page cache

t0=$(date +%s.%N)
ours=$(./target/release/holdadvisor events --summary --utc "$log" | awk '/^total events/ {print $3}')
t1=$(date +%s.%N)
read -r theirs theirs_s < <(TZ=UTC python3 bench/oracle_count.py "$log")

python3 - "$bytes" "$ours" "$t0" "$t1" "$theirs" "$theirs_s" <<'PY'
import sys
b, ours, t0, t1, theirs, ts = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6])
os_ = t1 - t0
print(f"log: {b/1e6:.0f} MB, events: holdadvisor {ours}, bindings {theirs}")
print(f"holdadvisor events --summary: {os_:.2f} s  {b/1e6/os_:.0f} MB/s  {ours/os_:,.0f} events/s (one core)")
print(f"htcondor2.JobEventLog:        {ts:.2f} s  {b/1e6/ts:.0f} MB/s  {theirs/ts:,.0f} events/s")
print(f"ratio (events/s): {(ours/os_)/(theirs/ts):.1f}x")
PY
