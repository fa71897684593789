#!/usr/bin/env python3
"""PyTorch's nn.LSTM with the shapes of holdadvisor's network, for bench/lstm.sh.

The same work as `models/examples/lstm_bench.rs`: a 2-layer LSTM (dropout 0.1 between
layers), dropout 0.1 and a linear head on the last step, weighted BCE on logits, Adam with
gradients clipped per tensor to norm 1 (as burn does), on pre-built batches of random inputs; inference is a batch and
one job, from host arrays to logits back on the host. One thread. Prints one JSON object.
"""

import argparse
import json
import time

import math
import warnings

warnings.filterwarnings("ignore", message="Failed to initialize NumPy")
import torch  # noqa: E402


class Net(torch.nn.Module):
    def __init__(self, n_in, hidden, layers):
        super().__init__()
        self.lstm = torch.nn.LSTM(n_in, hidden, num_layers=layers, dropout=0.1, batch_first=True)
        self.dropout = torch.nn.Dropout(0.1)
        self.head = torch.nn.Linear(hidden, 1)

    def forward(self, x):
        y, _ = self.lstm(x)
        return self.head(self.dropout(y[:, -1, :])).squeeze(1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--input", type=int, default=460)
    ap.add_argument("--hidden", type=int, default=50)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--seq", type=int, default=10)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--steps", type=int, default=60)
    a = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(1)
    gen = torch.Generator().manual_seed(7)
    jobs = torch.rand((4 * a.batch, a.seq, a.input), generator=gen)
    batches = [
        (
            jobs[k * a.batch : (k + 1) * a.batch].clone(),
            (torch.rand(a.batch, generator=gen) < 0.4).float(),
            torch.ones(a.batch),
        )
        for k in range(4)
    ]
    net = Net(a.input, a.hidden, a.layers)
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    net.train()
    warmup = 5
    for k in range(warmup + a.steps):
        if k == warmup:
            started = time.perf_counter()
        x, y, w = batches[k % 4]
        opt.zero_grad()
        logits = net(x)
        loss = (torch.nn.functional.binary_cross_entropy_with_logits(logits, y, reduction="none") * w).sum() / w.sum()
        loss.backward()
        # Per tensor, as burn's GradientClippingConfig::Norm clips: the same work.
        for p in net.parameters():
            torch.nn.utils.clip_grad_norm_([p], 1.0)
        opt.step()
        value = loss.item()
    train_s = time.perf_counter() - started
    assert math.isfinite(value)

    net.eval()
    host = jobs[: a.batch]
    rounds = max(a.steps // 2, 5)
    with torch.no_grad():
        for _ in range(3):
            net(host.clone()).tolist()
        started = time.perf_counter()
        for _ in range(rounds):
            net(host.clone()).tolist()
        batch_s = (time.perf_counter() - started) / rounds
        one = []
        for k in range(520):
            started = time.perf_counter()
            p = net(host[k % a.batch : k % a.batch + 1].clone()).tolist()
            secs = time.perf_counter() - started
            assert len(p) == 1
            if k >= 20:
                one.append(secs)
    one.sort()
    print(json.dumps({
        "backend": f"pytorch {torch.__version__} nn.LSTM",
        "input": a.input, "hidden": a.hidden, "layers": a.layers, "seq": a.seq, "batch": a.batch,
        "train_steps": a.steps,
        "train_ms_per_step": 1e3 * train_s / a.steps,
        "train_samples_per_s": a.steps * a.batch / train_s,
        "infer_batch_ms": 1e3 * batch_s,
        "infer_batch_predictions_per_s": a.batch / batch_s,
        "infer_one_ms_p50": 1e3 * one[len(one) // 2],
        "infer_one_ms_p90": 1e3 * one[len(one) * 9 // 10],
    }))


if __name__ == "__main__":
    main()
