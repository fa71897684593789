#!/usr/bin/env bash
# The model against its baselines on seeded, SIMULATED default-scenario pools (synthetic data:
# never real-world accuracy). For each seed: simulate JOBS jobs, train with the default config
# (time split 60/20/20; the reference (m, j*e) encoder trained alongside), evaluate on the
# pool's own test split (its latest 20% of holds), and print ROC AUC and ECE of the model, the
# per-(HoldReasonCode, HoldReasonSubCode) table and the reference design; then the means.
#   bash bench/accuracy.sh [JOBS=100000] [SEEDS="11 12 13"]
# HOLDADVISOR_BIN=path uses that binary instead of building this tree's (to compare two
# versions side by side); ACCURACY_OUT=dir writes there instead of bench/out/accuracy-JOBS
# (the simulated pools are reused when present).
# About 3.5 minutes per seed on this machine (release build). Then bench/ece_floor.py: the ECE a
# perfectly calibrated model would show on each split, and the splits' ECE pooled.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
jobs=${1:-100000}
seeds=${2:-11 12 13}
if [ -n "${HOLDADVISOR_BIN:-}" ]; then
    bin=$HOLDADVISOR_BIN
else
    cargo build --release --quiet
    bin=${CARGO_TARGET_DIR:-$PWD/target}/release/holdadvisor
fi
out=${ACCURACY_OUT:-bench/out/accuracy-$jobs}
mkdir -p "$out"
scored=()
for s in $seeds; do
    [ -f "$out/sim-$s/EventLog" ] || "$bin" simulate --jobs "$jobs" --seed "$s" --out "$out/sim-$s" >/dev/null
    rm -rf "$out/model-$s"
    "$bin" train --data "$out/sim-$s" --out "$out/model-$s" --quiet \
        --note "SIMULATED: holdadvisor simulate --jobs $jobs --seed $s" >/dev/null
    # A tiny pool can have no labelled hold in its test split: say so and go on.
    if "$bin" evaluate --model "$out/model-$s" --data "$out/sim-$s" --json \
        --predictions "$out/pred-$s.csv" >"$out/eval-$s.json"; then
        scored+=("$s")
    else
        echo "seed $s: not scored (the error is above)" >&2
    fi
done
[ ${#scored[@]} -gt 0 ] || { echo "no seed could be scored" >&2; exit 1; }
python3 - "$out" "${scored[@]}" <<'PY'
import json, sys
def nan_for_null(d):
    # A split with one class has no ROC AUC (null): print nan rather than fail.
    if "brier" in d and d.get("roc_auc") is None:
        d["roc_auc"] = float("nan")
    return d
out, seeds = sys.argv[1], sys.argv[2:]
rows = []
intervals = []
for s in seeds:
    d = json.load(open(f"{out}/eval-{s}.json"), object_hook=nan_for_null)
    by = {b["name"]: b["metrics"] for b in d["baselines"]}
    m = d["model"]["metrics"]
    ref = next((v for k, v in by.items() if k.startswith("reference")), None)
    table = by["code-subcode-table"]
    pc = d.get("pool_calibration")
    cr = (d.get("collect_replay") or {}).get("metrics") or {}
    rows.append((s, m["n"], m["roc_auc"], m["ece"], table["roc_auc"], ref["roc_auc"] if ref else float("nan"),
                 pc["metrics"]["ece"] if pc else float("nan"), bool(pc and pc["adopted"]), m["brier"],
                 cr.get("roc_auc", float("nan")), cr.get("ece", float("nan")), cr.get("brier", float("nan"))))
    b = d.get("bootstrap")
    if b:
        iv = {p["name"]: p for p in b["predictors"]}
        mi = b["predictors"][0]
        ti = iv["code-subcode-table"]["roc_auc_below_first"]
        intervals.append((s, b["clusters"], mi["roc_auc"], mi["ece"], ti))
print("SIMULATED pools (synthetic data), each model scored on its own pool's later test split")
print("seed  test n  model AUC  model ECE  model Brier  code+subcode AUC  reference AUC  model - table  ECE, pool fit once (adopted)  as collect serves it: AUC  ECE  Brier")
for s, n, auc, ece, t, r, pece, adopted, brier, cauc, cece, cbrier in rows:
    print(f"{s:>4}  {n:>6}  {auc:9.4f}  {ece:9.4f}  {brier:11.4f}  {t:16.4f}  {r:13.4f}  {auc - t:+13.4f}  {pece:9.4f} ({'yes' if adopted else 'no'})"
          f"  {cauc:22.4f}  {cece:6.4f}  {cbrier:6.4f}")
k = len(rows)
mean = lambda i: sum(r[i] for r in rows) / k
print(f"mean  {'':>6}  {mean(2):9.4f}  {mean(3):9.4f}  {mean(8):11.4f}  {mean(4):16.4f}  {mean(5):13.4f}  {mean(2) - mean(4):+13.4f}  {mean(6):9.4f}"
      f"        {mean(9):22.4f}  {mean(10):6.4f}  {mean(11):6.4f}")
if intervals:
    print(f"90% intervals from resampling each test split's ClusterIds (procs of a cluster share their fate):")
    print("seed  clusters  model AUC          model ECE          model AUC - table AUC")
    f = lambda i: f"{i['low']:.3f} to {i['high']:.3f}" if i else "n/a"
    for s, c, a, e, t in intervals:
        print(f"{s:>4}  {c:>8}  {f(a):17}  {f(e):17}  {f(t)}")
print(f"seeds with ECE <= 0.05: {sum(r[3] <= 0.05 for r in rows)} of {k}; pool fit once: {sum(r[6] <= 0.05 for r in rows)} of {k}; as collect serves it: {sum(r[10] <= 0.05 for r in rows)} of {k}")
PY
# How much of each split's ECE a calibrated model would show too (episodes of one cluster and
# hold code share their fate), and the ECE of the splits pooled.
python3 bench/ece_floor.py $(for s in "${scored[@]}"; do echo "$out/pred-$s.csv"; done)
