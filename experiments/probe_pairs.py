"""The pooled LSTMs against linear probes on the same test videos (docs/retest/stability.md,
P1): per seed, a round's model row minus a probe of the seed-stability check, in points, with
the t-interval over seeds (seed s: split s in both, so each pair is on the same videos).

    python experiments/probe_pairs.py experiments/results-round2/results.json \\
        /work/att/out_p1/stability.json --probes probe-rgb-mean probe-rgb

Rows: the claims tables' rgb models that read the whole frame (papers 000 and 002), named by
their record keys in results.json (``ROWS``), then any configuration of the check named with
``--checks`` (its test figures, as a probe's). A reference (``--probes``) may be any of the
check's configurations with test figures, a model as well as a probe (P2):

    python experiments/probe_pairs.py experiments/results-round2/results.json \
        /work/att/out_p1/stability.json --probes probe-rgb-mean 000-none \
        --checks 000-none 000-none+tanh_scores=False
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from glimpse import GlimpseError
from glimpse.stats import seeds_t_interval

# the rows of c000 and c002 (their record keys, {} the seed)
ROWS = {
    "000: none": "attention-none_seed{}_vote",
    "000: classic (lambda 0)": "attention-structured_lam=0.0_seed{}_vote",
    "000: structured (lambda 0.01)": "attention-structured_lam=0.01_seed{}_vote",
    "002: softmax regression": "attention-softmax-regression_seed{}_mean",
    "002: avg-pooled LSTM": "attention-avgpool_seed{}_mean",
    "002: max-pooled LSTM": "attention-maxpool_seed{}_mean",
    "002: soft attention (lambda 0)": "attention-soft_lam=0.0_seed{}_mean",
    "002: soft attention (lambda 1)": "attention-soft_seed{}_mean",
}


def probe_top1(probes: dict, probe: str, seeds: int) -> list[float]:
    """``probe``'s test top-1 per seed, in % (any configuration of the check with test figures);
    one line for a configuration or a seed the check lacks."""
    if probe not in probes:
        raise GlimpseError(f"no '{probe}' in the check's records (it has "
                           f"{', '.join(probes)})")
    base = []
    for s in range(seeds):
        rec = probes[probe].get(str(s))
        if not rec or not rec.get("test"):
            raise GlimpseError(f"probe '{probe}' has no test figure for seed {s} (run the "
                               "check with --test)")
        base.append(100 * rec["test"]["top1"])
    return base


def pairs(results: dict, base: list[float], checks: dict | None = None) \
        -> list[tuple[str, float, list]]:
    """Per row of ``ROWS``, then per entry of ``checks`` (name -> test top-1 % per seed): (name,
    mean top-1 %, per-seed differences to the reference's test top-1 ``base``, in points); one
    line for a record the round lacks."""
    seeds = len(base)
    rows = {}
    for name, key in ROWS.items():
        missing = [s for s in range(seeds) if key.format(s) not in results]
        if missing:
            raise GlimpseError(f"the round has no record of '{name}' for seed(s) "
                               f"{', '.join(map(str, missing))}")
        rows[name] = [100 * results[key.format(s)]["top1"] for s in range(seeds)]
    return [(name, sum(top1) / seeds, [a - b for a, b in zip(top1, base)])
            for name, top1 in {**rows, **(checks or {})}.items()]


def render(rows: list, probe: str, base_mean: float) -> str:
    lines = [f"**Against `{probe}` ({base_mean:.1f}%)**", "",
             "| row | top-1 % | difference, points [95% t-interval over seeds] | per seed |",
             "|---|---|---|---|"]
    for name, mean, d in rows:
        m, lo, hi = seeds_t_interval(d)
        lines.append(f"| {name} | {mean:.1f} | {m:+.1f} [{lo:+.1f}, {hi:+.1f}] | "
                     + " / ".join(f"{x:+.1f}" for x in d) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("results", type=Path, help="a round's results.json")
    p.add_argument("stability", type=Path, help="the seed-stability check's stability.json")
    p.add_argument("--probes", nargs="+", default=["probe-rgb-mean", "probe-rgb"],
                   help="the references: configurations of the check with test figures")
    p.add_argument("--checks", nargs="+", default=[], metavar="KEY",
                   help="configurations of the check shown as rows below the round's")
    p.add_argument("--seeds", type=int, default=5)
    a = p.parse_args(argv)
    try:
        results = json.loads(a.results.read_text())
        probes = json.loads(a.stability.read_text())
        checks = {key: probe_top1(probes, key, a.seeds) for key in a.checks}
        for probe in a.probes:
            base = probe_top1(probes, probe, a.seeds)
            print(render(pairs(results, base, checks), probe, sum(base) / a.seeds))
    except (GlimpseError, OSError, json.JSONDecodeError) as e:
        print(f"probe_pairs: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
