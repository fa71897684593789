#!/usr/bin/env bash
# The advice as given, against the pool's own (code, subcode) table and the rule policies
# people run today, on every kind of pool the project has (all SYNTHETIC: never real-world
# accuracy):
#   - the simulator's default scenario, seeds 11-16;
#   - each stress scenario of bench/scenarios/ (broken-cluster, outage-waves, failing-window,
#     quiet-window, ospool), seeds 21-23;
#   - the other generator's pools 1-6 (bench/othergen.py).
# On each pool a model is trained on the pool's earlier holds (time split 60/20/20) and
# `holdadvisor evaluate` scores the test split; the advice served is the model as `collect`
# serves it (refitted to the pool as outcomes come in), turned into release or remove by the
# cost model (release from P 0.24 up: see models/src/decision.rs). On the other generator's
# pools the shipped model is scored too, as `collect` serves it. On simulated pools the jobs
# held at the end are also advised from their own user logs only (no global log, no cache):
# the `remove` advice given there with CONF >= 0.95, and the share of it that the simulator's
# truth says a release would have fixed.
#
#   bash bench/decisions.sh [JOBS=100000] [POOLS...]
# POOLS: sim:SEED, sim-SCENARIO:SEED, othergen:SEED (default: all of the above). Pools and
# models are kept under bench/out/decisions-JOBS/ and reused; the table goes to stdout and to
# bench/out/decisions-JOBS/table.txt.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
jobs=${1:-100000}
shift || true
pools=("$@")
if [ ${#pools[@]} -eq 0 ]; then
    for s in 11 12 13 14 15 16; do pools+=("sim:$s"); done
    for sc in broken-cluster outage-waves failing-window quiet-window ospool; do
        for s in 21 22 23; do pools+=("sim-$sc:$s"); done
    done
    for s in 1 2 3 4 5 6; do pools+=("othergen:$s"); done
fi
target=${CARGO_TARGET_DIR:-$PWD/target}
cargo build --release --quiet
bin=${HOLDADVISOR_BIN:-$target/release/holdadvisor}
out=bench/out/decisions-$jobs
mkdir -p "$out"
for p in "${pools[@]}"; do
    kind=${p%%:*}
    seed=${p##*:}
    dir=$out/$kind-$seed
    case $kind in
    sim)
        [ -f "$dir/pool/EventLog" ] || "$bin" simulate --jobs "$jobs" --seed "$seed" --out "$dir/pool" >/dev/null
        note="SIMULATED: holdadvisor simulate --jobs $jobs --seed $seed"
        ;;
    sim-*)
        scenario=bench/scenarios/${kind#sim-}.toml
        [ -f "$dir/pool/EventLog" ] || "$bin" simulate --jobs "$jobs" --seed "$seed" \
            --scenario "$scenario" --out "$dir/pool" >/dev/null
        note="SIMULATED: holdadvisor simulate --jobs $jobs --seed $seed --scenario $scenario"
        ;;
    othergen)
        [ -f "$dir/pool/EventLog" ] || python3 bench/othergen.py --jobs "$jobs" --seed "$seed" \
            --out "$dir/pool" >/dev/null
        note="SYNTHETIC: bench/othergen.py --jobs $jobs --seed $seed"
        ;;
    *)
        echo "unknown pool $p (expected sim:SEED, sim-SCENARIO:SEED or othergen:SEED)" >&2
        exit 2
        ;;
    esac
    if [ ! -f "$dir/model/manifest.json" ]; then
        rm -rf "$dir/model"
        "$bin" train --logs "$dir/pool/EventLog" --out "$dir/model" --no-reference --quiet \
            --note "$note" >/dev/null
    fi
    "$bin" evaluate --model "$dir/model" --logs "$dir/pool/EventLog" --json >"$dir/eval-own.json"
    if [ "$kind" = othergen ]; then
        "$bin" evaluate --model models/default --logs "$dir/pool/EventLog" --json >"$dir/eval-shipped.json"
    fi
    if [ -f "$dir/pool/condor_q.json" ]; then
        # Advice from the jobs' own logs only: a fresh cache, no -log.
        rm -f "$dir/partial.sqlite"*
        "$bin" q -allusers -hold -json -schedd-snapshot "$dir/pool/condor_q.json" \
            -cache "$dir/partial.sqlite" -model "$dir/model" >"$dir/partial.json" 2>/dev/null
    fi
done
python3 - "$out" "${pools[@]}" <<'PY' | tee "$out/table.txt"
import json, os, sys

out, pools = sys.argv[1], sys.argv[2:]


def rows(path):
    d = json.load(open(path))
    by = {r["name"]: r for r in d["decisions"]["rows"]}
    served = next(r for n, r in by.items() if n.startswith("model as collect serves it"))
    table = next(r for n, r in by.items() if n.startswith("code-subcode table"))
    rules = [r for r in by.values() if r["metrics"] is None]
    best = min(rules, key=lambda r: r["score"]["regret_hours"])
    gbt = next((r for n, r in by.items() if n.startswith("gradient-boosted")), None)
    return served, table, best, gbt


def auc(r):
    a = r["metrics"]["roc_auc"]
    return float("nan") if a is None else a


def partial(dir):
    """Remove advice at CONF >= 0.95 from own logs only, and the share truth says would recover."""
    path = os.path.join(dir, "partial.json")
    if not os.path.exists(path) or os.path.getsize(path) == 0:
        return None
    truth = {}
    for line in open(os.path.join(dir, "pool", "truth.jsonl")):
        t = json.loads(line)
        truth[(t["cluster"], t["proc"], t["hold_time"])] = t.get("release_would_succeed")
    sure = recovered = 0
    for ad in json.load(open(path)):
        if ad.get("Advice") != "remove" or ad.get("AdviceConfidence", 0) < 0.95:
            continue
        sure += 1
        key = (ad["ClusterId"], ad["ProcId"], ad.get("EnteredCurrentStatus"))
        if truth.get(key):
            recovered += 1
    return sure, recovered


print("The advice as served (model trained on the pool's earlier holds, as `collect` serves it, decided by the cost model)")
print("against the pool's (code, subcode) table fitted on everything before the test split, and the best rule policy by regret.")
print("ALL POOLS ARE SYNTHETIC (holdadvisor simulate, bench/othergen.py): none of this is real-world accuracy.")
head = (f"{'pool':<24} {'n':>6} | {'acc':>5} {'table':>5} {'ok':>3} | {'Brier':>5} {'table':>5} {'ok':>3} | "
        f"{'AUC':>5} {'table':>5} {'ok':>3} | {'regret':>6} {'best rule':>9} {'ok':>3} {'(rule)':<34} | "
        f"{'shipped acc':>11} {'Brier':>5} {'ok':>3} | {'own logs: remove@.95':>20} {'recovered':>9} | "
        f"{'GBT acc':>7} {'Brier':>5} {'AUC':>5} {'regret':>6}")
print(head)
met = {}
for p in pools:
    kind, seed = p.split(":")
    dir = os.path.join(out, f"{kind}-{seed}")
    s, t, b, g = rows(os.path.join(dir, "eval-own.json"))
    acc_ok = s["score"]["accuracy"] >= t["score"]["accuracy"] - 0.01
    brier_ok = s["metrics"]["brier"] <= t["metrics"]["brier"] + 0.005
    auc_ok = auc(s) >= auc(t)
    regret_ok = s["score"]["regret_hours"] <= b["score"]["regret_hours"] + 1e-12
    line = (f"{p:<24} {s['score']['holds']:>6} | {s['score']['accuracy']:5.3f} {t['score']['accuracy']:5.3f} {'yes' if acc_ok else 'NO':>3} | "
            f"{s['metrics']['brier']:5.3f} {t['metrics']['brier']:5.3f} {'yes' if brier_ok else 'NO':>3} | "
            f"{auc(s):5.3f} {auc(t):5.3f} {'yes' if auc_ok else 'NO':>3} | "
            f"{s['score']['regret_hours']:6.3f} {b['score']['regret_hours']:9.3f} {'yes' if regret_ok else 'NO':>3} {b['name'][:34]:<34} | ")
    conds = [acc_ok, brier_ok, auc_ok, regret_ok]
    shipped = os.path.join(dir, "eval-shipped.json")
    if os.path.exists(shipped):
        ss, st, _, _ = rows(shipped)
        ok = ss["score"]["accuracy"] >= st["score"]["accuracy"] - 0.01 and ss["metrics"]["brier"] <= st["metrics"]["brier"] + 0.005
        conds.append(ok)
        line += f"{ss['score']['accuracy']:11.3f} {ss['metrics']['brier']:5.3f} {'yes' if ok else 'NO':>3} | "
    else:
        line += f"{'-':>11} {'-':>5} {'':>3} | "
    pv = partial(dir)
    if pv is not None:
        sure, rec = pv
        share = rec / sure if sure else 0.0
        conds.append(share <= 0.01)
        line += f"{sure:>20} {share:9.1%}"
    else:
        line += f"{'-':>20} {'-':>9}"
    if g is not None:
        line += f" | {g['score']['accuracy']:7.3f} {g['metrics']['brier']:5.3f} {auc(g):5.3f} {g['score']['regret_hours']:6.3f}"
    met[p] = all(conds)
    print(line)
print(f"all conditions met on {sum(met.values())} of {len(met)} pools: " + (", ".join(p for p, ok in met.items() if not ok) or "none missed") + (" missed" if not all(met.values()) else ""))
PY
