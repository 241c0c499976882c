"""Paired comparisons of runs: is one model really better than another on the same videos?

Two runs evaluated on the same test videos give, per video, a pair (A right?, B right?).
``compare_correct`` pairs them by video name within each seed and reports (``Comparison``) the
accuracy difference B - A, its 95% interval and the exact McNemar test: with one seed the paired
bootstrap over that seed's videos (which says nothing of another seed), with several the
t-interval over the per-seed differences, which are kept and shown. The statistics themselves
are ``glimpse.stats``. A difference whose interval holds 0 is reported as not resolved.
``compare_runs`` reads runs (evaluating them again where stale), ``fuse_runs`` makes paper 001's
score-fusion baseline as a folder ``compare`` reads like a run.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from glimpse import GlimpseError
from glimpse.io import read_csv_rows, read_json
from glimpse.stats import (
    MIN_SEEDS,
    N_BOOT,
    mcnemar_exact,
    paired_bootstrap,
    seeds_t_interval,
)


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
    rows = read_csv_rows(path, columns=("video", "correct"), what="a predictions file")
    return {row["video"]: row["correct"] == "1" for row in rows}


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
        fused = read_json(r.root / "fusion.json", keys=("split",), what="a fusion's record")
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
    rows = read_csv_rows(path, columns=("video",), what="a predictions file")
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
    from glimpse.evaluate import write_prediction_rows
    from glimpse.io import write_json_atomic
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
