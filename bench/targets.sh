#!/usr/bin/env bash
# Raised requests against what the jobs needed, on a SIMULATED pool (synthetic data: the
# simulator's truth.jsonl knows each memory or disk hold's real need). `scan` advises every
# held job from the pool's global log; for each job advised to raise memory or disk, the
# target in its command is compared with the need the truth records for that hold.
#   bash bench/targets.sh [JOBS=20000] [SEED=7]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
jobs=${1:-20000}
seed=${2:-7}
cargo build --release --quiet
bin=./target/release/holdadvisor
out=bench/out/targets-$jobs-$seed
rm -rf "$out" && mkdir -p "$out"
"$bin" simulate --jobs "$jobs" --seed "$seed" --scenario bench/scan-scenario.toml --out "$out/sim" >/dev/null
"$bin" scan -allusers --format json -schedd-snapshot "$out/sim/condor_q.json" -log "$out/sim/EventLog" \
    -cache "$out/cache.sqlite" >"$out/scan.json" || true
python3 - "$out" <<'PY'
import json, re, sys
out = sys.argv[1]
truth = {}
for line in open(f"{out}/sim/truth.jsonl"):
    t = json.loads(line)
    truth.setdefault((t["cluster"], t["proc"]), []).append(t)
ads = {(a["ClusterId"], a["ProcId"]): a for a in json.load(open(f"{out}/sim/condor_q.json"))}
scan = json.load(open(f"{out}/scan.json"))
rows = {"memory": [], "disk": []}
for j in scan["jobs"]:
    m = re.search(r"condor_qedit \S+ (RequestMemory|RequestDisk) (\d+)", " ".join(j["commands"]))
    if not m:
        continue
    c, p = map(int, j["id"].split("."))
    ad = ads[(c, p)]
    # The truth of the hold the job is in now: its latest episode.
    t = max(truth.get((c, p), []), key=lambda t: t["hold_time"], default=None)
    if t is None:
        continue
    kind = "memory" if m.group(1) == "RequestMemory" else "disk"
    need = t["memory_mb"] if kind == "memory" else t["disk_kb"]
    if need is None:
        continue
    rows[kind].append((int(m.group(2)), need))
print("SIMULATED pool (synthetic data): raised requests against the truth's need")
for kind, unit in (("memory", "MB"), ("disk", "KB")):
    r = rows[kind]
    if not r:
        print(f"{kind}: no job advised a raise with a known need")
        continue
    enough = sum(1 for target, need in r if target >= need)
    ratios = sorted(target / need for target, need in r)
    q = lambda f: ratios[min(len(ratios) - 1, int(f * len(ratios)))]
    print(f"{kind}: {enough} of {len(r)} targets at least the need ({100 * enough / len(r):.0f}%); "
          f"target / need: min {ratios[0]:.2f}, median {q(0.5):.2f}, max {ratios[-1]:.2f}")
PY
