#!/usr/bin/env bash
# Training and inference throughput of holdadvisor's LSTM on burn's flex backend and on
# LibTorch (burn-tch), against PyTorch's nn.LSTM of the same shapes, in one run, one thread.
#
#   bash bench/lstm.sh [lstm_bench options, e.g. --steps 100]
#
# Needs a venv with PyPI's torch 2.9.0 (README, "LibTorch (tch) backend"): active, or named by
# TORCH_VENV. Builds release twice: target/ (default features) and target-tch/ (--features tch);
# SKIP_BUILD=1 uses the binaries already built.
# Results: bench/out/lstm/{flex,tch,torch}.jsonl (one line per round) and a table of the best
# round of each with the ratios to PyTorch.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
VENV=${TORCH_VENV:-${VIRTUAL_ENV:-}}
if [ -z "$VENV" ] || [ ! -x "$VENV/bin/python" ]; then
    echo "bench/lstm.sh: activate the torch venv or set TORCH_VENV (README: LibTorch (tch) backend)" >&2
    exit 2
fi
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 RAYON_NUM_THREADS=1
out=bench/out/lstm
mkdir -p "$out"

if [ -z "${SKIP_BUILD:-}" ]; then
    echo "building (release, default features and --features tch)" >&2
    cargo build --quiet --release -p holdadvisor-models --example lstm_bench
    (
        # shellcheck disable=SC1091
        source "$VENV/bin/activate"
        LIBTORCH_USE_PYTORCH=1 CARGO_TARGET_DIR=target-tch \
            cargo build --quiet --release -p holdadvisor-models --features tch --example lstm_bench
    )
fi

# Interleaved rounds, best of each (the machine may be shared: the best run is the least
# disturbed one). ROUNDS=3 by default.
rounds=${ROUNDS:-3}
: >"$out/flex.jsonl"
: >"$out/tch.jsonl"
: >"$out/torch.jsonl"
for r in $(seq "$rounds"); do
    echo "round $r/$rounds: flex, tch (LibTorch CPU), PyTorch nn.LSTM" >&2
    target/release/examples/lstm_bench --device flex "$@" >>"$out/flex.jsonl"
    target-tch/release/examples/lstm_bench --device cpu "$@" >>"$out/tch.jsonl"
    "$VENV/bin/python" bench/lstm_torch.py "$@" >>"$out/torch.jsonl"
done

python3 - "$out" <<'EOF'
import json, sys
d = sys.argv[1]
def best(runs):
    b = dict(runs[0])
    for x in runs[1:]:
        for k in ("train_samples_per_s", "infer_batch_predictions_per_s"):
            b[k] = max(b[k], x[k])
        for k in ("infer_one_ms_p50", "infer_one_ms_p90", "infer_one_ensemble_ms_p50",
                  "infer_one_backend_ms_p50"):
            if k in b:
                b[k] = min(b[k], x[k])
    return b
r = {k: best([json.loads(l) for l in open(f"{d}/{k}.jsonl")]) for k in ("torch", "tch", "flex")}
t = r["torch"]
print(f"LSTM input {t['input']}, hidden {t['hidden']}, {t['layers']} layers, sequence {t['seq']}, "
      f"batch {t['batch']}, one thread; {t['train_steps']} training steps; best of "
      f"{len(open(f'{d}/torch.jsonl').readlines())} interleaved rounds")
print(f"{'':28} {'train samples/s':>16} {'x PyTorch':>9} {'predict/s b256':>15} {'x PyTorch':>9} "
      f"{'1 job p50 ms':>12} {'p90 ms':>7}")
names = {"torch": t["backend"], "tch": "holdadvisor, burn tch (cpu)", "flex": "holdadvisor, burn flex"}
for k in ("torch", "tch", "flex"):
    x = r[k]
    print(f"{names[k]:28} {x['train_samples_per_s']:16,.0f} "
          f"{x['train_samples_per_s'] / t['train_samples_per_s']:8.2f}x "
          f"{x['infer_batch_predictions_per_s']:15,.0f} "
          f"{x['infer_batch_predictions_per_s'] / t['infer_batch_predictions_per_s']:8.2f}x "
          f"{x['infer_one_ms_p50']:12.3f} {x['infer_one_ms_p90']:7.3f}")
for k in ("tch", "flex"):
    x = r[k]
    if "infer_one_ensemble_ms_p50" in x:
        print(f"{names[k]:28} one job through an ensemble of {x['infer_one_ensemble']} networks "
              f"(holdadvisor train's default): p50 {x['infer_one_ensemble_ms_p50']:.3f} ms")
    if "infer_one_backend_ms_p50" in x:
        print(f"{names[k]:28} one job through the backend's own path instead of the plain loops "
              f"(models/src/cpu_kernel.rs): p50 {x['infer_one_backend_ms_p50']:.3f} ms")
print("What each '1 job' column times: for both holdadvisor rows, the same plain CPU loops "
      "(models/src/cpu_kernel.rs, what `q` runs for one job whatever the backend), so those two "
      "figures differ only by noise; the backend's own path is the line above. For PyTorch: one "
      "nn.LSTM call from Python, with the input's clone() and the result's tolist() (Python's "
      "call overhead included).")
print("Training: gradients clipped per tensor to norm 1 on both sides (burn's "
      "GradientClippingConfig::Norm; PyTorch's clip_grad_norm_ called once per parameter).")
EOF
