"""Coverage of the across-seed intervals on simulated paired runs (the README's Statistics table).

    python experiments/coverage.py [--reps 2000]

Each simulated experiment is S seeds of two models tested on 600 videos a seed, both near 55%,
seed i's true difference drawn around +2 points with a seed-to-seed standard deviation sd, the
two models agreeing on a fraction of the videos (``glimpse.stats.simulate_paired_runs``).
Printed: the fraction of experiments whose 95% interval holds the true mean difference, for the
t-interval over seeds (used everywhere) and the retired two-stage bootstrap, and their widths.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from glimpse.stats import (  # noqa: E402
    seeds_bootstrap,
    simulate_coverage,
    t_interval_of_pairs,
)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=2000, help="experiments per setting")
    a = ap.parse_args()
    widths = {}

    def timed(name, fn):
        def interval(pairs):
            m, lo, hi = fn(pairs)
            widths.setdefault(name, []).append(hi - lo)
            return m, lo, hi
        return interval

    print("| runs agree on | seeds | seed-to-seed sd (points) | t-interval: coverage, mean width "
          "| two-stage bootstrap: coverage, mean width |")
    print("|---|---|---|---|---|")
    for agree in (0.5, 0.9):
        for seeds in (3, 5, 10):
            for sd in (0.0, 0.02, 0.04):
                widths.clear()
                t = simulate_coverage(timed("t", t_interval_of_pairs), seeds=seeds, sd_seed=sd,
                                      reps=a.reps, agree=agree, seed=seeds)
                b = simulate_coverage(timed("b", lambda p: seeds_bootstrap(p, n_boot=1000)),
                                      seeds=seeds, sd_seed=sd, reps=a.reps, agree=agree,
                                      seed=seeds)
                share = 1 - (1 - agree) * 2 * 0.55 * 0.45  # videos the two models agree on
                print(f"| {100 * share:.0f}% | {seeds} | {100 * sd:.0f} | {100 * t:.1f}%, "
                      f"{100 * np.mean(widths['t']):.1f} | {100 * b:.1f}%, "
                      f"{100 * np.mean(widths['b']):.1f} |", flush=True)


if __name__ == "__main__":
    main()
