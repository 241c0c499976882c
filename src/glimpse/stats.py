"""Paired statistics of two models tested on the same videos: what ``glimpse compare``, the
report and the re-test tables rest on (see docs/statistics.md).

- ``paired_bootstrap``: one seed's accuracy difference with a percentile interval over its
  videos resampled in pairs; ``mcnemar_exact``: the exact McNemar test of the discordant videos.
  Both count only the test set's noise.
- ``seeds_t_interval``: across seeds, the t-interval of the per-seed paired differences, the
  interval every claim across seeds rests on; ``seeds_bootstrap``: the two-stage bootstrap it
  replaced, kept to show that one's coverage.
- ``simulate_paired_runs`` / ``simulate_coverage``: simulated paired experiments, for the
  coverage test (``tests/test_compare.py``) and ``experiments/coverage.py``.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from glimpse import GlimpseError

N_BOOT = 10_000
MIN_SEEDS = {"headline": 5, "sweep": 3}  # seeds a comparison needs (docs/statistics.md)


def mcnemar_exact(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sided exact McNemar p-value of paired bool arrays (A right?, B right?): the binomial
    test of the discordant pairs at p = 1/2 (``scipy.stats.binomtest``)."""
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    n01, n10 = int((a & ~b).sum()), int((~a & b).sum())
    if n01 + n10 == 0:
        return 1.0
    return float(stats.binomtest(min(n01, n10), n01 + n10, 0.5).pvalue)


def paired_bootstrap(a: np.ndarray, b: np.ndarray, *, n_boot: int = N_BOOT, seed: int = 0,
                     level: float = 0.95) -> tuple[float, float, float]:
    """(acc(B) - acc(A), low, high) with a percentile interval over videos resampled in pairs.

    Kept by hand rather than ``scipy.stats.bootstrap(paired=True, method="percentile")``: that
    draws its resamples in another order from the same seed, so its bounds differ in the
    third decimal (600 videos: -6.2 / +5.0 points against -6.3 / +4.8 here), and every
    one-seed interval in the stored tables would move on re-rendering; the method is the
    same."""
    d = np.asarray(b, float) - np.asarray(a, float)  # per video: +1, 0 or -1
    if len(d) == 0:
        raise GlimpseError("no shared videos to compare")
    rng = np.random.default_rng(seed)
    boots = np.empty(n_boot)
    for i in range(0, n_boot, 1000):  # in chunks: memory stays small for large test sets
        k = min(1000, n_boot - i)
        boots[i:i + k] = d[rng.integers(0, len(d), (k, len(d)))].mean(1)
    lo, hi = np.quantile(boots, [(1 - level) / 2, (1 + level) / 2])
    return float(d.mean()), float(lo), float(hi)


def seeds_t_interval(diffs, *, level: float = 0.95) -> tuple[float, float, float]:
    """(mean, low, high) of per-seed differences ``diffs`` (S >= 2): the Student t-interval
    mean +- t_{level, S-1} sd / sqrt(S) (sd with ddof 1)."""
    d = np.asarray(diffs, float)
    S = len(d)
    if S < 2:
        raise GlimpseError("a t-interval over seeds needs at least 2 seeds")
    half = stats.t.ppf((1 + level) / 2, S - 1) * d.std(ddof=1) / math.sqrt(S)
    return float(d.mean()), float(d.mean() - half), float(d.mean() + half)


def seeds_t_pvalue(diffs, *, null: float = 0.0) -> float:
    """The two-sided one-sample t-test's p of per-seed differences ``diffs`` (S >= 2) against
    ``null``: the test whose interval ``seeds_t_interval`` gives (0 is inside that 95% interval
    exactly when p >= 0.05)."""
    d = np.asarray(diffs, float)
    S = len(d)
    if S < 2:
        raise GlimpseError("a t-test over seeds needs at least 2 seeds")
    sd = d.std(ddof=1)
    if sd == 0:
        return 0.0 if d.mean() != null else 1.0
    t = (d.mean() - null) / (sd / math.sqrt(S))
    return float(2 * stats.t.sf(abs(t), S - 1))


def holm(pvalues, m: int | None = None) -> list[float]:
    """Holm's step-down adjustment of a family's p-values (in their order): the i-th smallest
    p times (m - i + 1), made non-decreasing in that order, capped at 1. A claim whose adjusted
    p is below alpha holds at family-wise error rate alpha.

    ``m``, the family's size, may exceed the p-values given (a family part-way through its
    runs): the result is then an upper bound on each claim's Holm-adjusted p, whatever the
    missing p-values turn out to be (a missing p ranked before a claim lowers the multipliers
    of the claims after it, and its own term is at most that of the next claim given)."""
    p = np.asarray(pvalues, float)
    m = len(p) if m is None else m
    if m < len(p):
        raise ValueError(f"a family of {m} cannot hold {len(p)} p-values")
    order = np.argsort(p, kind="stable")
    adjusted = np.empty(len(p))
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        adjusted[i] = running
    return adjusted.tolist()


def _outcome_counts(d: np.ndarray) -> tuple[int, np.ndarray]:
    """Per-video differences in {-1, 0, +1} -> (n, their frequencies (p-, p0, p+))."""
    n = len(d)
    return n, np.array([(d < 0).sum(), (d == 0).sum(), (d > 0).sum()]) / n


def seeds_bootstrap(pairs: list[tuple[np.ndarray, np.ndarray]], *, n_boot: int = N_BOOT,
                    seed: int = 0, level: float = 0.95) -> tuple[float, float, float]:
    """The retired across-seed interval (kept to show its coverage): mean over seeds of
    acc(B_i) - acc(A_i) with a two-stage percentile bootstrap (draw S seeds with replacement,
    then each drawn seed's videos with replacement). Resampling n videos of outcomes -1 / 0 / +1
    is a multinomial draw of their counts, which is how it is computed."""
    rng = np.random.default_rng(seed)
    counts = [_outcome_counts(np.asarray(b, float) - np.asarray(a, float)) for a, b in pairs]
    S = len(counts)
    # each seed's resampled mean difference, for every bootstrap draw: (n_boot, S)
    means = np.stack([(lambda c: (c[:, 2] - c[:, 0]) / n)(rng.multinomial(n, p, n_boot))
                      for n, p in counts], 1)
    picked = rng.integers(0, S, (n_boot, S))
    boots = np.take_along_axis(means, picked, 1).mean(1)
    lo, hi = np.quantile(boots, [(1 - level) / 2, (1 + level) / 2])
    return float(np.mean([p[2] - p[0] for _, p in counts])), float(lo), float(hi)


def simulate_paired_runs(rng: np.random.Generator, *, seeds: int, videos: int = 600,
                         sd_seed: float = 0.03, mean_diff: float = 0.02, acc: float = 0.55,
                         agree: float = 0.5) -> list[tuple[np.ndarray, np.ndarray]]:
    """Paired runs of two models: seed i's true difference is mean_diff + sd_seed * z_i; on its
    own ``videos`` test videos A is right with probability acc - d_i / 2 and B with acc + d_i / 2,
    B's outcome following A's draw on a fraction ``agree`` of the videos (paired runs agree on
    most videos) -> [(A right?, B right?)] per seed."""
    out = []
    for d in mean_diff + sd_seed * rng.standard_normal(seeds):
        u = rng.random(videos)
        v = np.where(rng.random(videos) < agree, u, rng.random(videos))
        out.append((u < acc - d / 2, v < acc + d / 2))
    return out


def simulate_coverage(interval, *, seeds: int, sd_seed: float, reps: int = 2000,
                      videos: int = 600, mean_diff: float = 0.02, agree: float = 0.5,
                      seed: int = 0) -> float:
    """Fraction of ``reps`` simulated paired experiments whose interval (``interval(pairs) ->
    (mean, low, high)``) holds the true mean difference."""
    rng = np.random.default_rng(seed)
    hits = 0
    for _ in range(reps):
        pairs = simulate_paired_runs(rng, seeds=seeds, videos=videos, sd_seed=sd_seed,
                                     mean_diff=mean_diff, agree=agree)
        _, lo, hi = interval(pairs)
        hits += lo <= mean_diff <= hi
    return hits / reps


def t_interval_of_pairs(pairs, *, level: float = 0.95) -> tuple[float, float, float]:
    """seeds_t_interval over [(A right?, B right?)] per seed."""
    return seeds_t_interval([np.mean(b) - np.mean(a) for a, b in pairs], level=level)
