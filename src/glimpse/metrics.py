"""Metrics: accuracy, top-k, mean class accuracy, confusion, mAP, and attention-vs-actor scores."""

from __future__ import annotations

import numpy as np


def topk_accuracy(scores: np.ndarray, labels: np.ndarray, k: int) -> float:
    """scores (N, C), labels (N,) -> fraction whose label is among the k highest scores."""
    k = min(k, scores.shape[1])
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return float((top == labels[:, None]).any(1).mean())


def confusion_matrix(pred: np.ndarray, labels: np.ndarray, C: int) -> np.ndarray:
    """(C, C) counts: rows are the true class, columns the predicted one."""
    m = np.zeros((C, C), np.int64)
    np.add.at(m, (labels, pred), 1)
    return m


def per_class_accuracy(confusion: np.ndarray) -> np.ndarray:
    """Recall of each class (NaN for a class with no videos)."""
    n = confusion.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.diag(confusion) / n


def average_precision(scores: np.ndarray, positives: np.ndarray) -> float:
    """AP of one class: mean of the precision at the rank of each positive (ties by order)."""
    if positives.sum() == 0:
        return float("nan")
    order = np.argsort(-scores, kind="stable")
    hits = positives[order].astype(float)
    precision = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    return float((precision * hits).sum() / hits.sum())


def mean_average_precision(scores: np.ndarray, labels: np.ndarray) -> float:
    """One-vs-rest AP per class, averaged over classes that have positives. ``labels``: (N,)
    class indices, or (N, C) multi-hot (several labels a video)."""
    truth = labels.astype(bool) if labels.ndim == 2 else \
        labels[:, None] == np.arange(scores.shape[1])[None]
    aps = [average_precision(scores[:, c], truth[:, c]) for c in range(scores.shape[1])]
    return float(np.nanmean(aps)) if not np.all(np.isnan(aps)) else float("nan")


def interpolated_average_precision(scores: np.ndarray, positives: np.ndarray) -> float:
    """ActivityNet's official classification AP of one class (VOC style): rank the videos by
    score, take the precision envelope (the best precision at this recall or beyond) and sum it
    over the recall steps. NaN for a class with no positives."""
    positives = positives.astype(bool)
    if not positives.any():
        return float("nan")
    hits = positives[np.argsort(-scores, kind="stable")]
    tp, fp = np.cumsum(hits), np.cumsum(~hits)
    rec = np.concatenate([[0.0], tp / positives.sum(), [1.0]])
    prec = np.concatenate([[0.0], tp / (tp + fp), [0.0]])
    prec = np.maximum.accumulate(prec[::-1])[::-1]
    step = np.flatnonzero(rec[1:] != rec[:-1]) + 1
    return float(((rec[step] - rec[step - 1]) * prec[step]).sum())


def activitynet_map(scores: np.ndarray, truth: np.ndarray) -> float:
    """Mean over classes with positives of ``interpolated_average_precision``; truth (N, C)
    multi-hot."""
    aps = [interpolated_average_precision(scores[:, c], truth[:, c])
           for c in range(scores.shape[1])]
    return float(np.nanmean(aps)) if not np.all(np.isnan(aps)) else float("nan")


def hit_at_k(scores: np.ndarray, truth: np.ndarray, k: int = 3) -> float:
    """The fraction of videos with one of their labels among the k best scored classes
    (ActivityNet's Hit@3); truth (N, C) multi-hot."""
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return float(np.take_along_axis(truth.astype(bool), top, 1).any(1).mean())


def attention_scores(attention: np.ndarray, actor: np.ndarray, threshold: float) -> dict:
    """attention (N, K, K) distributions, actor (N, K, K) cell coverage in [0, 1], one row per step.

    - mass_in_mask: attention mass on cells the actor covers (coverage >= threshold)
    - uniform_mass_in_mask: the same for uniform attention (the fraction of covered cells)
    - pointing: fraction of steps whose most-attended cell is covered; where several cells tie
      for the maximum, the fraction of the tied cells that are covered (what a random pick among
      them scores), so uniform attention scores the chance level
    - pointing_chance: that chance level, the mean fraction of covered cells
    - entropy: mean attention entropy in nats (uniform over K^2 cells: log K^2)
    """
    N = len(attention)
    a = attention.reshape(N, -1)
    on = actor.reshape(N, -1) >= threshold
    keep = on.any(1)  # steps where the actor is visible at all
    a, on = a[keep], on[keep]
    if len(a) == 0:
        return {"steps": 0}
    ent = -(a * np.log(np.clip(a, 1e-12, None))).sum(1)
    top = a >= a.max(1, keepdims=True) * (1 - 1e-6)  # the maximal cells, ties included
    chance = float(on.mean(1).mean())
    return {"mass_in_mask": float((a * on).sum(1).mean()),
            "uniform_mass_in_mask": chance,
            "pointing": float(((top & on).sum(1) / top.sum(1)).mean()),
            "pointing_chance": chance,
            "entropy": float(ent.mean()), "max_entropy": float(np.log(a.shape[1])),
            "steps": int(len(a)), "mask_threshold": threshold}


def _union(spans) -> list[tuple[float, float]]:
    """[start, end) spans -> the same time as sorted, disjoint spans."""
    out: list[list[float]] = []
    for s, e in sorted((float(s), float(e)) for s, e in spans if e > s):
        if out and s <= out[-1][1]:
            out[-1][1] = max(out[-1][1], e)
        else:
            out.append([s, e])
    return [(s, e) for s, e in out]


def temporal_iou(found, truth) -> float:
    """Temporal intersection over union of two sets of [start, end) spans, each first joined
    into disjoint spans: the time both cover over the time either covers (0 where neither
    covers any)."""
    a, b = _union(found), _union(truth)
    inter, i, j = 0.0, 0, 0
    while i < len(a) and j < len(b):
        inter += max(0.0, min(a[i][1], b[j][1]) - max(a[i][0], b[j][0]))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    total = sum(e - s for s, e in a) + sum(e - s for s, e in b) - inter
    return inter / total if total > 0 else 0.0
