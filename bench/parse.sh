#!/usr/bin/env bash
# Parser benchmark: holdadvisor and HTCondor's Python bindings read the same large text event
# log, one after the other; prints MB/s, events/s and the ratio.
#   bash bench/parse.sh [MEGABYTES=512] [RUNS=3]
# holdadvisor runs RUNS times on every core this process may use (it parses text in parallel
# chunks) and RUNS times pinned to one core (taskset -c 0); min and median are printed.
# Needs: python3 with htcondor2 (pip install -r tests/oracle/requirements.txt).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
mb=${1:-512}
runs=${2:-3}
log=bench/out/big$mb.log
mkdir -p bench/out
[ -f "$log" ] || python3 bench/make_big_log.py "$log" "$mb"
cargo build --release --quiet
bytes=$(stat -c %s "$log")
cat "$log" >/dev/null   # both readers start from the page cache
cores=$(nproc)

# One timed run: prints "events seconds".
ours() {
    local t0 t1 n
    t0=$(date +%s.%N)
    n=$("$@" ./target/release/holdadvisor events --summary --utc "$log" | awk '/^total events/ {print $3}')
    t1=$(date +%s.%N)
    echo "$n $(echo "$t1 - $t0" | bc -l)"
}
all=() one=()
for _ in $(seq "$runs"); do all+=("$(ours)"); done
if command -v taskset >/dev/null; then
    for _ in $(seq "$runs"); do one+=("$(ours taskset -c 0)"); done
fi
read -r theirs theirs_s < <(TZ=UTC python3 bench/oracle_count.py "$log")

python3 - "$bytes" "$cores" "$theirs" "$theirs_s" "${all[*]}" "${one[*]}" <<'PY'
import statistics, sys
b, cores, theirs, ts = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
def runs(s):
    v = s.split()
    return [(int(v[i]), float(v[i + 1])) for i in range(0, len(v), 2)]
print(f"log: {b/1e6:.0f} MB, events: bindings {theirs}")
print(f"htcondor2.JobEventLog:  {ts:.2f} s  {b/1e6/ts:.0f} MB/s  {theirs/ts:,.0f} events/s (one run)")
theirs_rate = theirs / ts
for label, s in ((f"{cores} cores", sys.argv[5]), ("one core (taskset -c 0)", sys.argv[6])):
    r = runs(s)
    if not r:
        continue
    n = r[0][0]
    assert all(x[0] == n for x in r), r
    for what, t in (("min", min(x[1] for x in r)), ("median", statistics.median(x[1] for x in r))):
        print(f"holdadvisor events --summary, {label}, {what} of {len(r)}: {t:.2f} s  {b/1e6/t:.0f} MB/s  "
              f"{n/t:,.0f} events/s  ratio {(n/t)/theirs_rate:.1f}x  ({n} events)")
PY
