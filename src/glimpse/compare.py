"""Paired comparisons of runs: is one model really better than another on the same videos?

Two runs evaluated on the same test videos give, per video, a pair (A right?, B right?). From
these pairs:

- the accuracy difference acc(B) - acc(A) with a 95% **paired bootstrap** interval (resample the
  videos with replacement, 10,000 times by default; percentile interval);
- an **exact McNemar test**: under "A and B are equally good", each video that only one of them
  gets right is that one's with probability 1/2, so with n01 (only A right) and n10 (only B
  right) discordant videos, p = min(1, 2 P[Binomial(n01 + n10, 1/2) <= min(n01, n10)]).

Across seeds (each seed its own split and initialization; pairs A_i, B_i), the mean of the
per-seed differences with a 95% interval from a **two-stage bootstrap** (draw seeds with
replacement, then videos within each drawn seed), so both the seed-to-seed spread and the finite
test sets count, and McNemar on the pooled discordant videos. A difference whose interval holds
0 is reported as not resolved.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from glimpse import GlimpseError

N_BOOT = 10_000


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


def seeds_bootstrap(pairs: list[tuple[np.ndarray, np.ndarray]], *, n_boot: int = N_BOOT,
                    seed: int = 0, level: float = 0.95) -> tuple[float, float, float]:
    """Mean over seeds of acc(B_i) - acc(A_i), with a two-stage bootstrap interval."""
    diffs = [np.asarray(b, float) - np.asarray(a, float) for a, b in pairs]
    rng = np.random.default_rng(seed)
    S = len(diffs)
    boots = np.empty(n_boot)
    for i in range(n_boot):
        picked = rng.integers(0, S, S)
        boots[i] = np.mean([diffs[s][rng.integers(0, len(diffs[s]), len(diffs[s]))].mean()
                            for s in picked])
    lo, hi = np.quantile(boots, [(1 - level) / 2, (1 + level) / 2])
    return float(np.mean([d.mean() for d in diffs])), float(lo), float(hi)


@dataclass
class Comparison:
    a: str
    b: str
    videos: int  # shared videos (summed over seeds)
    seeds: int
    acc_a: float
    acc_b: float
    diff: float  # acc_b - acc_a
    low: float
    high: float
    a_only: int  # videos only A gets right
    b_only: int
    p_mcnemar: float

    @property
    def resolved(self) -> bool:
        return self.low > 0 or self.high < 0

    def to_dict(self) -> dict:
        return {**asdict(self), "resolved": self.resolved}

    def line(self) -> str:
        verdict = (f"{'B' if self.diff > 0 else 'A'} is better" if self.resolved else
                   "not resolved: the interval holds 0")
        over = f"{self.videos} videos" + (f" over {self.seeds} seeds" if self.seeds > 1 else "")
        return (f"B - A = {100 * self.diff:+.1f} points ({100 * self.acc_b:.1f}% vs "
                f"{100 * self.acc_a:.1f}%, {over}), 95% interval [{100 * self.low:+.1f}, "
                f"{100 * self.high:+.1f}]; McNemar exact p = {self.p_mcnemar:.3g} (only A right "
                f"{self.a_only}, only B right {self.b_only}): {verdict}")


def compare_correct(a_runs: list[dict], b_runs: list[dict], *, names=("A", "B"),
                    n_boot: int = N_BOOT, seed: int = 0) -> Comparison:
    """``a_runs[i]``, ``b_runs[i]``: {video: right?} of seed i's two runs; videos are paired by
    name within each seed."""
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
    if len(pairs) == 1:
        diff, lo, hi = paired_bootstrap(*pairs[0], n_boot=n_boot, seed=seed)
    else:
        diff, lo, hi = seeds_bootstrap(pairs, n_boot=n_boot, seed=seed)
    return Comparison(names[0], names[1], len(a_all), len(pairs),
                      float(np.mean([a.mean() for a, _ in pairs])),
                      float(np.mean([b.mean() for _, b in pairs])), diff, lo, hi,
                      int((a_all & ~b_all).sum()), int((~a_all & b_all).sum()),
                      mcnemar_exact(a_all, b_all))


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
