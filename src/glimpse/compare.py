"""Paired comparisons of runs: is one model really better than another on the same videos?

Two runs evaluated on the same test videos give, per video, a pair (A right?, B right?). From
these pairs:

- the accuracy difference acc(B) - acc(A) with a 95% **paired bootstrap** interval (resample the
  videos with replacement, 10,000 times by default; percentile interval);
- an **exact McNemar test**: under "A and B are equally good", each video that only one of them
  gets right is that one's with probability 1/2, so with n01 (only A right) and n10 (only B
  right) discordant videos, p = min(1, 2 P[Binomial(n01 + n10, 1/2) <= min(n01, n10)]).

Across seeds (each seed its own split and initialization; pairs A_i, B_i), the per-seed
differences d_i = acc(B_i) - acc(A_i) are the evidence: the mean of the d_i with a 95%
**t-interval over seeds**, mean +- t_{S-1} * sd(d_i) / sqrt(S). Each d_i already carries its own
test set's noise, so this one interval counts both the seed-to-seed spread and the finite test
sets, and it is exact when the d_i are normal (they are sums of hundreds of videos). The
two-stage percentile bootstrap used before (seeds, then videos: ``seeds_bootstrap``, kept for
the coverage comparison) under-covers at few seeds: with 3 seeds there are only 10 distinct seed
multisets and its lower bound sits near the worst seed. ``simulate_coverage`` measures both on
simulated paired runs (``tests/test_compare.py`` asserts >= 93% for the t-interval at 3, 5 and
10 seeds; ``experiments/coverage.py`` prints the README's table). McNemar is reported on the
pooled discordant videos, which counts the test sets' noise only. A difference whose interval
holds 0 is reported as not resolved; with one seed the interval is the paired bootstrap over
that seed's videos, which says nothing of another seed.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from scipy import stats

from glimpse import GlimpseError

N_BOOT = 10_000
MIN_SEEDS = {"headline": 5, "sweep": 3}  # seeds a comparison needs (README: Statistics)


def mcnemar_exact(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sided exact McNemar p-value of paired bool arrays (A right?, B right?)."""
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    n01, n10 = int((a & ~b).sum()), int((~a & b).sum())
    n = n01 + n10
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, k) for k in range(min(n01, n10) + 1)) / 2 ** n
    return min(1.0, 2 * tail)


def paired_bootstrap(a: np.ndarray, b: np.ndarray, *, n_boot: int = N_BOOT, seed: int = 0,
                     level: float = 0.95) -> tuple[float, float, float]:
    """(acc(B) - acc(A), low, high) with a percentile interval over videos resampled in pairs."""
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


@dataclass
class Comparison:
    a: str
    b: str
    videos: int  # shared videos (summed over seeds)
    seeds: int
    acc_a: float
    acc_b: float
    diff: float  # acc_b - acc_a, the mean over seeds
    low: float
    high: float
    a_only: int  # videos only A gets right
    b_only: int
    p_mcnemar: float
    per_seed: list[float] = field(default_factory=list)  # acc(B_i) - acc(A_i), seed by seed

    @property
    def method(self) -> str:
        return ("t-interval over seeds" if self.seeds > 1 else
                "paired bootstrap over one seed's videos")

    @property
    def resolved(self) -> bool:
        return self.low > 0 or self.high < 0

    def seeds_short(self, kind: str = "headline") -> int:
        """How many seeds this comparison lacks for a ``kind`` claim (MIN_SEEDS): 0 if none."""
        return max(0, MIN_SEEDS[kind] - self.seeds)

    def to_dict(self) -> dict:
        return {**asdict(self), "resolved": self.resolved, "method": self.method}

    def per_seed_text(self) -> str:
        return " / ".join(f"{100 * d:+.1f}" for d in self.per_seed)

    def line(self) -> str:
        verdict = (f"{'B' if self.diff > 0 else 'A'} is better" if self.resolved else
                   "not resolved: the interval holds 0")
        over = f"{self.videos} videos" + (f" over {self.seeds} seeds" if self.seeds > 1 else "")
        seeds = (f"; per seed {self.per_seed_text()}" if self.seeds > 1 else
                 "; one seed: another split or initialization may differ")
        short = self.seeds_short()
        if short:
            seeds += f" ({MIN_SEEDS['headline']} seeds for a headline claim)"
        return (f"B - A = {100 * self.diff:+.1f} points ({100 * self.acc_b:.1f}% vs "
                f"{100 * self.acc_a:.1f}%, {over}), 95% {self.method} [{100 * self.low:+.1f}, "
                f"{100 * self.high:+.1f}]{seeds}; McNemar exact p = {self.p_mcnemar:.3g} (pooled "
                f"videos; only A right {self.a_only}, only B right {self.b_only}): {verdict}")


def compare_correct(a_runs: list[dict], b_runs: list[dict], *, names=("A", "B"),
                    n_boot: int = N_BOOT, seed: int = 0) -> Comparison:
    """``a_runs[i]``, ``b_runs[i]``: {video: right?} of seed i's two runs; videos are paired by
    name within each seed. One seed: the paired bootstrap over its videos; more: the t-interval
    over the seeds' differences."""
    if len(a_runs) != len(b_runs) or not a_runs:
        raise GlimpseError(f"compare needs as many B runs as A runs (got {len(a_runs)} and "
                           f"{len(b_runs)})")
    pairs = []
    for i, (ra, rb) in enumerate(zip(a_runs, b_runs)):
        shared = sorted(set(ra) & set(rb))
        if not shared:
            raise GlimpseError(f"pair {i + 1} has no test video in common: compare runs made "
                               f"with the same --split-seed on the same store")
        pairs.append((np.array([ra[v] for v in shared]), np.array([rb[v] for v in shared])))
    a_all = np.concatenate([a for a, _ in pairs])
    b_all = np.concatenate([b for _, b in pairs])
    per_seed = [float(b.mean() - a.mean()) for a, b in pairs]
    if len(pairs) == 1:
        diff, lo, hi = paired_bootstrap(*pairs[0], n_boot=n_boot, seed=seed)
    else:
        diff, lo, hi = seeds_t_interval(per_seed)
    return Comparison(names[0], names[1], len(a_all), len(pairs),
                      float(np.mean([a.mean() for a, _ in pairs])),
                      float(np.mean([b.mean() for _, b in pairs])), diff, lo, hi,
                      int((a_all & ~b_all).sum()), int((~a_all & b_all).sum()),
                      mcnemar_exact(a_all, b_all), per_seed)


def read_predictions(path: Path) -> dict[str, bool]:
    """predictions_<split>.csv (written by evaluate) -> {video: right?}."""
    with open(path, newline="") as f:
        return {row["video"]: row["correct"] == "1" for row in csv.DictReader(f)}


def run_correct(run, *, split: str = "test", video_rule: str = "vote", features=None,
                progress: bool = False) -> dict[str, bool]:
    """{video: right?} of a run's current best checkpoint (evaluated again only if stale), or of
    a linear-probe folder (``glimpse probe``) or a score-fusion folder (``glimpse fuse``)."""
    from glimpse.evaluate import evaluate_run
    from glimpse.run import Run

    r = Run(run)
    if (r.root / "probe.json").exists():
        if split != "test":
            raise GlimpseError(f"{run} is a linear probe, scored on the test split only")
        return read_predictions(r.root / "predictions_test.csv")
    if (r.root / "fusion.json").exists():
        fused = json.loads((r.root / "fusion.json").read_text())
        if split != fused["split"]:
            raise GlimpseError(f"{run} fuses the runs' {fused['split']} scores, not {split}")
        return read_predictions(r.root / f"predictions_{split}.csv")
    if r.current_metrics(split, features, video_rule=video_rule) is None or \
            not (r.root / f"predictions_{split}.csv").exists():
        evaluate_run(run, split=split, video_rule=video_rule, features=features,
                     progress=progress)
    return read_predictions(r.root / f"predictions_{split}.csv")


def compare_runs(a_runs, b_runs, *, split: str = "test", video_rule: str = "vote", features=None,
                 n_boot: int = N_BOOT, progress: bool = False) -> Comparison:
    """Compare the runs ``b_runs`` against ``a_runs`` (seed i: a_runs[i] vs b_runs[i])."""
    a = [run_correct(r, split=split, video_rule=video_rule, features=features, progress=progress)
         for r in a_runs]
    b = [run_correct(r, split=split, video_rule=video_rule, features=features, progress=progress)
         for r in b_runs]
    name = lambda runs: ", ".join(Path(r).name for r in runs)  # noqa: E731
    return compare_correct(a, b, names=(name(a_runs), name(b_runs)), n_boot=n_boot)


def read_scores(path: Path) -> tuple[list[str], dict[str, str], np.ndarray]:
    """predictions_<split>.csv -> (class names, {video: label}, scores (N, C) in file order)."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows or not any(k.startswith("score:") for k in rows[0]):
        raise GlimpseError(f"{path} has no per-class scores (written by glimpse < 0.3?); "
                           f"evaluate the run again")
    names = [k[len("score:"):] for k in rows[0] if k.startswith("score:")]
    scores = np.array([[float(r[f"score:{n}"]) for n in names] for r in rows])
    return names, {r["video"]: r["label"] for r in rows}, scores


def fuse_runs(runs, out, *, split: str = "test", video_rule: str = "mean",
              features=None, progress: bool = False) -> dict:
    """Score fusion (paper 001's two-stream baseline): each video's score is the mean of the
    runs' video scores (each run evaluated on ``split`` by ``video_rule`` where stale). Writes a
    fusion folder ``out`` (fusion.json, metrics.json, predictions_<split>.csv) that ``compare``
    and the report's paired statistics read like a run."""
    from glimpse.evaluate import write_json_atomic, write_prediction_rows
    from glimpse.metrics import confusion_matrix, per_class_accuracy

    if len(runs) < 2:
        raise GlimpseError("score fusion needs at least two runs")
    tables = []
    for run in runs:
        run_correct(run, split=split, video_rule=video_rule, features=features, progress=progress)
        tables.append(read_scores(Path(run) / f"predictions_{split}.csv"))
    names, labels, _ = tables[0]
    videos = list(labels)
    for run, (n, lab, _) in zip(runs, tables):
        if n != names or sorted(lab) != sorted(videos):
            raise GlimpseError(f"{run} was not scored on the same classes and {split} videos as "
                               f"{runs[0]}: only runs of one split fuse")
    fused = np.mean([s[[list(lab).index(v) for v in videos]] for _, lab, s in tables], 0)
    pred = fused.argmax(1)
    truth = np.array([names.index(labels[v]) for v in videos])
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    per_class = per_class_accuracy(confusion_matrix(pred, truth, len(names)))
    metrics = {"model": "score fusion of " + " + ".join(str(r) for r in runs), "split": split,
               "video_rule": video_rule, "num_videos": len(videos),
               "top1": float((pred == truth).mean()),
               "mean_class_accuracy": float(np.nanmean(per_class))}
    write_json_atomic(out / "fusion.json", {"runs": [str(Path(r).resolve()) for r in runs],
                                            "split": split, "video_rule": video_rule})
    write_json_atomic(out / "metrics.json", metrics)
    write_prediction_rows(out / f"predictions_{split}.csv", names,
                          [(v, labels[v], p, s, p == t, "")
                           for v, p, t, s in zip(videos, pred, truth, fused)])
    return metrics
