#!/usr/bin/env bash
# Parser benchmark: holdadvisor and HTCondor's Python bindings read the same large text event
# log, one after the other; prints MB/s, events/s and the ratio.
#   bash bench/parse.sh [MEGABYTES=512] [RUNS=3]
# RUNS interleaved rounds (this machine's speed drifts, so each side is timed in every round):
# holdadvisor on every core this process may use (it parses text in parallel chunks),
# holdadvisor pinned to one core (taskset -c 0), then the bindings. Min and median of each
# are printed; the ratios compare like with like (min with min, median with median).
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
all=() one=() theirs=()
for _ in $(seq "$runs"); do
    all+=("$(ours)")
    if command -v taskset >/dev/null; then one+=("$(ours taskset -c 0)"); fi
    theirs+=("$(TZ=UTC python3 bench/oracle_count.py "$log")")
done

python3 - "$bytes" "$cores" "${theirs[*]}" "${all[*]}" "${one[*]}" <<'PY'
import statistics, sys
b, cores = int(sys.argv[1]), int(sys.argv[2])
def runs(s):
    v = s.split()
    return [(int(v[i]), float(v[i + 1])) for i in range(0, len(v), 2)]
theirs = runs(sys.argv[3])
n_theirs = theirs[0][0]
assert all(x[0] == n_theirs for x in theirs), theirs
print(f"log: {b/1e6:.0f} MB, events: bindings {n_theirs}")
print("timed: holdadvisor's whole process (start-up, mapping the file, parsing, summary) against "
      "the bindings' read loop alone (bench/oracle_count.py; Python's start-up and import not "
      "timed): the ratio favours the bindings")
stats = {"min": min, "median": statistics.median}
theirs_s = {w: f(x[1] for x in theirs) for w, f in stats.items()}
print("htcondor2.JobEventLog, each round: " + " ".join(f"{x[1]:.2f}" for x in theirs) + " s")
for w, t in theirs_s.items():
    print(f"htcondor2.JobEventLog, {w} of {len(theirs)}:  {t:.2f} s  {b/1e6/t:.0f} MB/s  {n_theirs/t:,.0f} events/s")
for label, s in ((f"{cores} cores", sys.argv[4]), ("one core (taskset -c 0)", sys.argv[5])):
    r = runs(s)
    if not r:
        continue
    n = r[0][0]
    assert all(x[0] == n for x in r), r
    # Both readers must have read the same events, or the ratio compares different work.
    if n != n_theirs:
        sys.exit(f"event counts differ: holdadvisor {n}, bindings {n_theirs}: no ratio")
    print(f"holdadvisor, {label}, each round: " + " ".join(f"{x[1]:.3f}" for x in r) + " s")
    for w, f in stats.items():
        t = f(x[1] for x in r)
        print(f"holdadvisor events --summary, {label}, {w} of {len(r)}: {t:.2f} s  {b/1e6/t:.0f} MB/s  "
              f"{n/t:,.0f} events/s  ratio {(n/t)/(n_theirs/theirs_s[w]):.1f}x  ({n} events)")
PY
