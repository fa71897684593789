#!/usr/bin/env bash
# The model on pools written by another generator (bench/othergen.py: SYNTHETIC, written apart
# from `holdadvisor simulate`, with other mechanics), never real-world accuracy. For each seed:
# generate JOBS jobs; score the shipped default model (trained on the simulator's pools only)
# on the pool's later test split and on all of it; train a model on the pool itself (time
# split 60/20/20, reference design alongside) and score it on the same test split. The
# (code, subcode) table and the reference design are fitted on the pool's own earlier holds,
# and so is the shipped model's pool calibration (as `scan` and `q` refit it).
#   bash bench/othergen.sh [JOBS=100000] [SEEDS="1 2 3"]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
jobs=${1:-100000}
seeds=${2:-1 2 3}
target=${CARGO_TARGET_DIR:-$PWD/target}
cargo build --release --quiet
bin=$target/release/holdadvisor
out=bench/out/othergen-$jobs
mkdir -p "$out"
for s in $seeds; do
    log=$out/pool-$s/EventLog
    [ -f "$log" ] || python3 bench/othergen.py --jobs "$jobs" --seed "$s" --out "$out/pool-$s" >/dev/null
    rm -rf "$out/model-$s"
    "$bin" train --logs "$log" --out "$out/model-$s" --quiet \
        --note "SYNTHETIC: bench/othergen.py --jobs $jobs --seed $s" >/dev/null
    "$bin" evaluate --model "$out/model-$s" --logs "$log" --json >"$out/eval-own-$s.json"
    "$bin" evaluate --model models/default --logs "$log" --json >"$out/eval-default-$s.json"
    "$bin" evaluate --model models/default --logs "$log" --split all --json >"$out/eval-default-all-$s.json"
done
python3 - "$out" $seeds <<'PY'
import json, sys
def nan_for_null(d):
    # A split with one class has no ROC AUC (null): print nan rather than fail.
    if "brier" in d and d.get("roc_auc") is None:
        d["roc_auc"] = float("nan")
    return d
out, seeds = sys.argv[1], sys.argv[2:]
def load(kind, s):
    d = json.load(open(f"{out}/eval-{kind}-{s}.json"), object_hook=nan_for_null)
    by = {b["name"]: b["metrics"] for b in d["baselines"]}
    ref = next((v for k, v in by.items() if k.startswith("reference")), None)
    return d["model"]["metrics"], by["code-subcode-table"], ref, d.get("pool_calibration"), (d.get("collect_replay") or {}).get("metrics")
print("Pools by bench/othergen.py (SYNTHETIC; another generator than holdadvisor simulate)")
print("seed  test n | trained on the pool: AUC   ECE  (as collect serves it: AUC   ECE) | table AUC  reference AUC | shipped model, test split: AUC   ECE  | + pool fit once: AUC   ECE  (adopted) | as collect serves it: AUC   ECE | all episodes: n   AUC   ECE  (table AUC)")
def replayed(m):
    return f"{m['roc_auc']:5.3f} {m['ece']:5.3f}" if m else "  n/a   n/a"
def pooled(pc):
    return f"{pc['metrics']['roc_auc']:17.3f} {pc['metrics']['ece']:5.3f} ({'yes' if pc['adopted'] else 'no'})" if pc else f"{'n/a':>30}"
for s in seeds:
    own, table, ref, _, own_cr = load("own", s)
    dft, _, _, pc, dft_cr = load("default", s)
    alld, allt, _, _, _ = load("default-all", s)
    print(f"{s:>4}  {own['n']:>6} | {own['roc_auc']:27.3f} {own['ece']:5.3f}  ({replayed(own_cr):>33}) | {table['roc_auc']:9.3f}  {ref['roc_auc'] if ref else float('nan'):13.3f} |"
          f" {dft['roc_auc']:30.3f} {dft['ece']:5.3f} | {pooled(pc)}        | {replayed(dft_cr):>30} | {alld['n']:16} {alld['roc_auc']:5.3f} {alld['ece']:5.3f}  ({allt['roc_auc']:.3f})")
print("pool fit once: the model refitted to the pool's own resolved holds before the test split (its logit and the pool's (code, subcode) success rate)")
print("as collect serves it: each test hold given the fit made on the outcomes decided before it, refitted every 1,024 new outcomes, as `collect` following the log does")
PY
