#!/usr/bin/env bash
# Does capping one ClusterId's weight in training help? For each seed, on a SIMULATED
# default-scenario pool (synthetic data: never real-world accuracy), trains the default model
# without a cap and with `--cluster-weight-cap CAP` (both without the reference baseline,
# which does not change the model), evaluates each on the pool's later test split, and prints
# ROC AUC, ECE, Brier and log loss side by side, then the means.
#   bash bench/cluster_cap.sh [JOBS=100000] [SEEDS="14 15 16"] [CAP=20]
# Reuses bench/out/accuracy-JOBS/sim-SEED when bench/accuracy.sh made it. About 7 minutes per
# seed at 100,000 jobs and 17 at 300,000 on this machine (release build).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
jobs=${1:-100000}
seeds=${2:-14 15 16}
cap=${3:-20}
target=${CARGO_TARGET_DIR:-$PWD/target}
cargo build --release --quiet
bin=$target/release/holdadvisor
out=bench/out/cluster-cap-$jobs
mkdir -p "$out"
for s in $seeds; do
    sim=bench/out/accuracy-$jobs/sim-$s
    [ -f "$sim/EventLog" ] || sim=$out/sim-$s
    [ -f "$sim/EventLog" ] || "$bin" simulate --jobs "$jobs" --seed "$s" --out "$sim" >/dev/null
    for c in 0 "$cap"; do
        m=$out/model-$s-cap$c
        rm -rf "$m"
        "$bin" train --data "$sim" --out "$m" --quiet --no-reference --cluster-weight-cap "$c" \
            --note "SIMULATED: holdadvisor simulate --jobs $jobs --seed $s" >/dev/null
        "$bin" evaluate --model "$m" --data "$sim" --json >"$out/eval-$s-cap$c.json"
    done
done
python3 - "$out" "$cap" $seeds <<'PY'
import json, sys
out, cap, seeds = sys.argv[1], sys.argv[2], sys.argv[3:]
keys = ("roc_auc", "ece", "brier", "log_loss")
sums = {c: [0.0] * 4 for c in ("0", cap)}
print("SIMULATED pools. seed  cap  " + "  ".join(f"{k:>8}" for k in keys) + "   test holds")
for s in seeds:
    for c in ("0", cap):
        m = json.load(open(f"{out}/eval-{s}-cap{c}.json"))["model"]["metrics"]
        v = [m[k] for k in keys]
        sums[c] = [a + b for a, b in zip(sums[c], v)]
        print(f"{s:>21} {c:>4}  " + "  ".join(f"{x:8.4f}" for x in v) + f"   {m['n']}")
for c in ("0", cap):
    print(f"{'mean':>21} {c:>4}  " + "  ".join(f"{x / len(seeds):8.4f}" for x in sums[c]))
PY
