#!/usr/bin/env bash
# Does a model trained on pools whose owners have habits generalize better? SIMULATED and
# SYNTHETIC data only, never real-world accuracy. Model A is the shipped default model
# (models/default: `holdadvisor simulate` default scenario, seeds 1 3 4 5, owners without
# habits); model B is trained the same way (one network) on the same seeds with
# `[users] habit_spread = SPREAD`. Both are scored on pools by bench/othergen.py (another
# generator, seeds 1-6; test split, raw and fitted to the pool as scan and q use it), on the
# default scenario's seed 2 and on the habit scenario's seed 2 (all episodes; never trained on).
#   bash bench/habits.sh [SPREAD=0.7]
# About 10 minutes on this machine (release build; training B takes most of it).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
spread=${1:-0.7}
target=${CARGO_TARGET_DIR:-$PWD/target}
cargo build --release --quiet
bin=$target/release/holdadvisor
root=$PWD
out=bench/out/habits-$spread
mkdir -p "$out"
cd "$out"
printf '[users]\nhabit_spread = %s\n' "$spread" >habits.toml
for s in 1 3 4 5 2; do
    [ -f "hab-$s/EventLog" ] || "$bin" simulate --jobs 100000 --seed "$s" --scenario habits.toml --out "hab-$s" >/dev/null
done
[ -f def-2/EventLog ] || "$bin" simulate --jobs 100000 --seed 2 --out def-2 >/dev/null
for s in 1 2 3 4 5 6; do
    [ -f "og-$s/EventLog" ] || python3 "$root/bench/othergen.py" --jobs 100000 --seed "$s" --out "og-$s" >/dev/null
done
rm -rf modelB
"$bin" train --data hab-1 hab-3 hab-4 hab-5 --out modelB --ensemble 1 --quiet \
    --note "SIMULATED: holdadvisor simulate --jobs 100000, habit_spread $spread, seeds 1, 3, 4, 5" >/dev/null
for m in A B; do
    model=$root/models/default
    [ "$m" = B ] && model=modelB
    for s in 1 2 3 4 5 6; do
        "$bin" evaluate --model "$model" --logs "og-$s/EventLog" --json >"eval-$m-og-$s.json"
    done
    "$bin" evaluate --model "$model" --data def-2 --split all --json >"eval-$m-def-2.json"
    "$bin" evaluate --model "$model" --data hab-2 --split all --json >"eval-$m-hab-2.json"
done
python3 - <<'PY'
import json
def row(f):
    d = json.load(open(f))
    m = d["model"]["metrics"]
    pc = d.get("pool_calibration")
    table = {b["name"]: b["metrics"] for b in d["baselines"]}["code-subcode-table"]
    s = f"AUC {m['roc_auc']:.3f}  ECE {m['ece']:.3f}  Brier {m['brier']:.4f} | table AUC {table['roc_auc']:.3f}"
    if pc:
        p = pc["metrics"]
        s += f" | fitted to the pool: AUC {p['roc_auc']:.3f}  ECE {p['ece']:.3f}  Brier {p['brier']:.4f} ({'adopted' if pc['adopted'] else 'not adopted'})"
    return s
print("SIMULATED / SYNTHETIC pools. A: shipped model (no habits); B: trained on habit pools")
print("og-N: bench/othergen.py pool N, test split; def-2, hab-2: holdadvisor simulate seed 2, all episodes")
for name in [f"og-{s}" for s in range(1, 7)] + ["def-2", "hab-2"]:
    for m in "AB":
        print(f"{name:6} {m}: {row(f'eval-{m}-{name}.json')}")
PY
