#!/usr/bin/env bash
# `scan` over about 100,000 held jobs from a condor_q snapshot and the global event log, on a
# SIMULATED pool (bench/scan-scenario.toml: the default scenario with most jobs broken as
# submitted and owners who never come back, so ~58% of 175,000 jobs are held at the end).
#   bash bench/scan.sh [JOBS=175000]
# Prints the held-job count, the log size, and the wall/CPU time and peak memory of
#   cold: an empty cache (COLD_RUNS times, default 3); every held job's episode is read from the global log, encoded,
#         predicted (batched) and stored;
#   warm: the same scan again, every answer from the cache (as after `collect`).
# HOLDADVISOR_TIMINGS=1 adds the time of each stage.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
jobs=${1:-175000}
source bench/scan_pool.sh
held=$(python3 -c "import json; print(sum(1 for a in json.load(open('$snap')) if a['JobStatus']==5))")
echo "simulated pool (SYNTHETIC): $held held jobs; condor_q.json $(du -m "$snap" | cut -f1) MB; EventLog $(du -m "$log" | cut -f1) MB, $(grep -c '^\.\.\.$' "$log") events"
echo "cores: $(nproc)"
run() {
    /usr/bin/time -f "$1: %e s wall, %U s user, %S s system, %M KB peak" \
        "$bin" scan -allusers -schedd-snapshot "$snap" -log "$log" -cache "$out/cache.sqlite" -model "$model" >"$out/$1.txt"
    head -1 "$out/$1.txt"
}
# Cold runs, each from an empty cache (COLD_RUNS, default 3: the first run after a build or
# a pause is often the slowest, the kernel handing the process memory it has not touched
# for a while), then one warm run over the last cold run's cache.
for i in $(seq "${COLD_RUNS:-3}"); do
    rm -f "$out"/cache.sqlite*
    run cold
done
run warm
cmp -s "$out/cold.txt" "$out/warm.txt" && echo "cold and warm scans print the same table" || echo "cold and warm tables DIFFER"
