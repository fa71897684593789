#!/usr/bin/env bash
# q and scan timings on a simulated pool (SYNTHETIC data), release build, warm cache:
#   bash bench/q.sh [JOBS=100000]
# Prints the p50/p90 wall time of `q JOBID` per process (a cache hit) and the time of one
# `scan -allusers` over every held job of the simulation (cold cache: every job predicted).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
jobs=${1:-100000}
out=bench/out/q-$jobs
cargo build --release --quiet
bin=./target/release/holdadvisor
model=${HOLDADVISOR_MODEL:-models/default}
rm -rf "$out" && mkdir -p "$out"
$bin simulate --jobs "$jobs" --seed 42 --out "$out/sim" >/dev/null
snap=$out/sim/condor_q.json
held=$(python3 -c "import json,sys; print(sum(1 for a in json.load(open('$snap')) if a['JobStatus']==5))")
t0=$(date +%s.%N)
$bin scan -allusers -schedd-snapshot "$snap" -cache "$out/cache.sqlite" -model "$model" >/dev/null
t1=$(date +%s.%N)
job=$(python3 -c "import json; print(next('%d.%d' % (a['ClusterId'], a['ProcId']) for a in json.load(open('$snap')) if a['JobStatus']==5))")
# What `condor_q -json JOBID` prints: that job's ad alone (q's own cost, not parsing the queue).
python3 -c "import json; c,p=map(int,'$job'.split('.')); json.dump([a for a in json.load(open('$snap')) if a['ClusterId']==c and a['ProcId']==p], open('$out/one.json','w'), indent=2)"
python3 - "$bin" "$job" "$out/one.json" "$out/cache.sqlite" "$model" "$held" "$t0" "$t1" <<'PY'
import subprocess, sys, time
bin, job, snap, cache, model, held, t0, t1 = sys.argv[1:]
times = []
for _ in range(50):
    t = time.perf_counter()
    subprocess.run([bin, "q", job, "-schedd-snapshot", snap, "-cache", cache, "-model", model], check=True, stdout=subprocess.DEVNULL)
    times.append((time.perf_counter() - t) * 1000)
times.sort()
print(f"scan -allusers over {held} held jobs (cold cache, all predicted): {float(t1) - float(t0):.2f} s")
print(f"q {job} (warm cache hit, whole process): p50 {times[25]:.1f} ms, p90 {times[45]:.1f} ms over 50 runs")
PY
