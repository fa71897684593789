#!/usr/bin/env python3
"""How much expected calibration error (ECE) a perfectly calibrated model would show on a test
split, given how its hold episodes are grouped; and the ECE of several test splits pooled.

A test split of a 100,000-job simulated pool holds about 2,300-3,600 labelled episodes but only
240-480 (ClusterId, HoldReasonCode) groups, and the procs of one group mostly share their fate
(one owner decision, one cause). So the split's ECE moves with a few hundred draws, not a few
thousand. This script takes `holdadvisor evaluate --predictions` files, treats each
probability as the truth, and draws outcomes again with the sharing the labels show:

  rho^2 = (observed agreement of label pairs within a group - agreement if independent)
          / (agreement if one draw per group - agreement if independent),

each episode then following its group's draw with chance rho and its own otherwise (two
episodes share a draw with chance rho^2). 300 draws
give the band of ECE a calibrated predictor would show on that split. A model's ECE inside the
band is what calibration looks like at this size; above its 90th percentile, the model is
miscalibrated there. rho is measured against the model's own probabilities, so read it as an
estimate.

    python3 bench/ece_floor.py PRED.csv [PRED.csv ...]

Every file is scored on its `test` split (labelled episodes only); the last line pools them.
ECE here is evaluate's: 10 equal-width bins, weighted by count.
"""

import collections
import csv
import random
import sys


def ece(ps, ys, bins=10):
    acc = collections.defaultdict(lambda: [0.0, 0.0])
    for p, y in zip(ps, ys):
        b = acc[min(int(p * bins), bins - 1)]
        b[0] += p
        b[1] += y
    return sum(abs(s - o) for s, o in acc.values()) / len(ps)


def read_test(path):
    ps, ys, groups = [], [], collections.defaultdict(list)
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            if r["split"] != "test" or r["label"] == "":
                continue
            groups[(r["cluster"], r["code"])].append(len(ps))
            ps.append(float(r["probability"]))
            ys.append(int(r["label"]))
    return ps, ys, list(groups.values())


def sharing(ps, ys, groups, cap=60):
    """rho from label pairs within groups (the first `cap` of a group, so a few big clusters
    do not decide it alone): a pair shares its group's draw with chance rho^2."""
    obs = ind = one = 0.0
    for g in groups:
        g = g[:cap]
        for a in range(len(g)):
            for b in range(a + 1, len(g)):
                i, j = g[a], g[b]
                obs += ys[i] == ys[j]
                ind += ps[i] * ps[j] + (1 - ps[i]) * (1 - ps[j])
                one += min(ps[i], ps[j]) + 1 - max(ps[i], ps[j])
    return max(0.0, min(1.0, (obs - ind) / (one - ind))) ** 0.5 if one > ind else 0.0


def calibrated_band(ps, groups, rho, draws=300, seed=1):
    rng = random.Random(seed)
    out = []
    for _ in range(draws):
        ys = [0] * len(ps)
        for g in groups:
            shared = rng.random()
            for i in g:
                u = shared if rng.random() < rho else rng.random()
                ys[i] = int(u < ps[i])
        out.append(ece(ps, ys))
    return sorted(out)


def main(paths):
    if not paths:
        sys.exit(__doc__)
    print("file  test n  groups  rho  model ECE | a calibrated predictor's ECE: median, 10-90%, P(> 0.05) | model above the 90th?")
    all_ps, all_ys = [], []
    for path in paths:
        ps, ys, groups = read_test(path)
        if not ps:
            print(f"{path}: no labelled test episodes")
            continue
        rho = sharing(ps, ys, groups)
        band = calibrated_band(ps, groups, rho)
        q = lambda a: band[int(a * (len(band) - 1))]
        e = ece(ps, ys)
        over = sum(x > 0.05 for x in band) / len(band)
        print(f"{path}  {len(ps)}  {len(groups)}  {rho:.2f}  {e:.3f} | {q(0.5):.3f}, {q(0.1):.3f}-{q(0.9):.3f}, {over:.2f} | {'yes' if e > q(0.9) else 'no'}")
        all_ps += ps
        all_ys += ys
    if len(paths) > 1 and all_ps:
        mean_p = sum(all_ps) / len(all_ps)
        rate = sum(all_ys) / len(all_ys)
        print(f"pooled  {len(all_ps)} episodes: ECE {ece(all_ps, all_ys):.3f} (mean probability {mean_p:.3f}, success rate {rate:.3f})")


if __name__ == "__main__":
    main(sys.argv[1:])
