#!/usr/bin/env bash
# Training and inference throughput of holdadvisor's LSTM on burn's flex backend and on
# LibTorch (burn-tch), against PyTorch's nn.LSTM of the same shapes, in one run, one thread.
#
#   bash bench/lstm.sh [lstm_bench options, e.g. --steps 100]
#
# Needs a venv with PyPI's torch 2.9.0 (README, "LibTorch (tch) backend"): active, or named by
# TORCH_VENV. Builds release twice: target/ (default features) and target-tch/ (--features tch).
# Results: bench/out/lstm/{flex,tch,torch}.json and a table with the ratios to PyTorch.
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

echo "building (release, default features and --features tch)" >&2
cargo build --quiet --release -p holdadvisor-models --example lstm_bench
(
    # shellcheck disable=SC1091
    source "$VENV/bin/activate"
    LIBTORCH_USE_PYTORCH=1 CARGO_TARGET_DIR=target-tch \
        cargo build --quiet --release -p holdadvisor-models --features tch --example lstm_bench
)

echo "running: flex, tch (LibTorch CPU), PyTorch nn.LSTM" >&2
target/release/examples/lstm_bench --device flex "$@" >"$out/flex.json"
target-tch/release/examples/lstm_bench --device cpu "$@" >"$out/tch.json"
"$VENV/bin/python" bench/lstm_torch.py "$@" >"$out/torch.json"

python3 - "$out" <<'EOF'
import json, sys
d = sys.argv[1]
r = {k: json.load(open(f"{d}/{k}.json")) for k in ("torch", "tch", "flex")}
t = r["torch"]
print(f"LSTM input {t['input']}, hidden {t['hidden']}, {t['layers']} layers, sequence {t['seq']}, "
      f"batch {t['batch']}, one thread; {t['train_steps']} training steps")
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
EOF
