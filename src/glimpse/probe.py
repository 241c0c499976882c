"""The linear probe: how much a linear classifier reads from the same features, as a reference
row beside every model (a model below the probe on its own features is a defect to explain).

Each video becomes one vector: the mean and the standard deviation over its frames of the
pooled feature (the spatial mean of the ``rgb`` cube, or, with ``actor=True``, the mean over
only the cells the actor covers in each frame: ideal attention, where the store has masks).
``statistics`` keeps one of the two (``mean``: what a model that pools over time reads;
``std``: only how the features change over the video) to see where a probe's lead over a
model comes from.
``stream`` picks another cube (``flow``, ``rgb_level2``) or several joined by ``+``, whose
vectors are concatenated (``rgb+flow``: what both streams together are worth).
A multinomial logistic regression (L2-regularized, full-batch L-BFGS on standardized inputs) is
fitted on the training videos for each weight decay of a small grid, the decay is chosen on the
validation videos, and the test videos are scored. Splits are the same group-disjoint draws as
``glimpse train`` (same ``--split-seed``, fractions), so a probe and a model compare on the same
test videos (``glimpse compare``).

The probe folder holds ``probe.json`` (settings), ``split.json``, ``metrics.json`` and
``predictions_<split>.csv`` like a run's.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from glimpse import GlimpseError
from glimpse.evaluate import MASK_THRESHOLD, write_predictions
from glimpse.features.clips import split_store
from glimpse.features.store import FeatureStore
from glimpse.io import write_json_atomic
from glimpse.metrics import confusion_matrix, per_class_accuracy, topk_accuracy

DECAYS = (1e-4, 1e-3, 1e-2, 1e-1)
STATISTICS = ("mean+std", "mean", "std")  # over a video's frames, of its pooled feature


def _check(statistics: str) -> None:
    if statistics not in STATISTICS:
        raise GlimpseError(f"unknown probe statistics '{statistics}' (known: "
                           f"{', '.join(STATISTICS)})")


def video_vector(entry, *, actor: bool = False, stream: str = "rgb",
                 statistics: str = "mean+std") -> np.ndarray:
    """(2 D,): mean and std over frames of the pooled feature (over the actor's cells only with
    ``actor``; a frame where the actor covers no cell is skipped); (D,) with ``statistics``
    ``mean`` or ``std``; for ``a+b`` the streams' vectors one after the other."""
    _check(statistics)
    if "+" in stream:
        return np.concatenate([video_vector(entry, actor=actor, stream=s, statistics=statistics)
                               for s in stream.split("+")])
    cube = entry.stream(stream).astype(np.float32)  # (T, K, K, D)
    T, K, _, D = cube.shape
    cube = cube.reshape(T, K * K, D)
    if actor:
        masks = entry.masks()
        if masks is None:
            raise GlimpseError(f"entry '{entry.id}' has no actor masks: the actor probe needs them")
        on = (masks.reshape(T, K * K) >= MASK_THRESHOLD).astype(np.float32)
        keep = on.sum(1) > 0
        if keep.any():
            cube, on = cube[keep], on[keep]
            pooled = (cube * on[..., None]).sum(1) / on.sum(1, keepdims=True)
        else:
            pooled = cube.mean(1)
    else:
        pooled = cube.mean(1)
    stats = {"mean": pooled.mean(0), "std": pooled.std(0)}
    return np.concatenate([stats[k] for k in statistics.split("+")])


def fit_logistic(x: torch.Tensor, y: torch.Tensor, C: int, decay: float, *, steps: int = 200):
    """Multinomial logistic regression: mean CE + decay * ||W||^2 by L-BFGS -> (W, b)."""
    torch.manual_seed(0)
    W = torch.zeros(x.shape[1], C, requires_grad=True)
    b = torch.zeros(C, requires_grad=True)
    opt = torch.optim.LBFGS([W, b], lr=1, max_iter=steps, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(x @ W + b, y) + decay * (W * W).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return W.detach(), b.detach()


def run_probe(features, out, *, actor: bool = False, stream: str = "rgb", split_seed: int = 0,
              test_fraction: float = 0.4, val_fraction: float = 0.2,
              statistics: str = "mean+std", log=print) -> dict:
    """Fit and score the probe on the store ``features``; writes the probe folder ``out``."""
    _check(statistics)  # before the store is read: a typo costs nothing
    store = FeatureStore(features)
    missing = [s for s in stream.split("+") if s not in store.streams or s == "rgb_pooled"]
    if missing:
        raise GlimpseError(f"the probe reads cube stream(s) {', '.join(missing)}, which "
                           f"{store.root} lacks (it has {', '.join(store.streams)})")
    split = split_store(store, test_fraction=test_fraction, val_fraction=val_fraction,
                        seed=split_seed)
    if not split["train"] or not split["val"] or not split["test"]:
        raise GlimpseError("the split left an empty train, val or test part: the store needs at "
                           "least 3 groups (or videos) per class")
    parts = {}
    for name in ("train", "val", "test"):
        entries = [store.entry(i) for i in split[name]]
        parts[name] = (entries, torch.from_numpy(np.stack([video_vector(e, actor=actor, stream=stream,
                                                                        statistics=statistics)
                                                           for e in entries])),
                       torch.tensor([e.label_index for e in entries]))
    mu = parts["train"][1].mean(0)
    sd = parts["train"][1].std(0).clamp_min(1e-6)
    z = {k: (v[1] - mu) / sd for k, v in parts.items()}
    C = len(store.labels)
    best = None
    for decay in DECAYS:
        W, b = fit_logistic(z["train"], parts["train"][2], C, decay)
        acc = float(((z["val"] @ W + b).argmax(1) == parts["val"][2]).float().mean())
        log(f"probe: weight decay {decay:g}: validation accuracy {acc:.3f}")
        if best is None or acc > best[0]:
            best = (acc, decay, W, b)
    val_acc, decay, W, b = best
    entries, _, y = parts["test"]
    scores = torch.softmax(z["test"] @ W + b, 1).numpy()
    y = y.numpy()
    pred = scores.argmax(1)
    conf = confusion_matrix(pred, y, C)
    metrics = {"model": "linear probe" + (" (actor cells)" if actor else "")
               + ("" if stream == "rgb" else f" on {stream}")
               + ("" if statistics == "mean+std" else f" ({statistics} over frames)"),
               "split": "test", "statistics": statistics,
               "video_rule": "one vector per video", "weight_decay": decay, "val_top1": val_acc,
               "num_videos": len(y), "top1": float((pred == y).mean()),
               "top5": topk_accuracy(scores, y, 5),
               "mean_class_accuracy": float(np.nanmean(per_class_accuracy(conf))),
               "confusion": conf.tolist(), "features": str(Path(features).resolve())}
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out / "probe.json", {"features": str(Path(features).resolve()),
                                           "actor": actor, "stream": stream,
                                           "statistics": statistics,
                                           "split_seed": split_seed,
                                           "test_fraction": test_fraction,
                                           "val_fraction": val_fraction, "decays": DECAYS})
    write_json_atomic(out / "split.json", split)
    write_json_atomic(out / "metrics.json", metrics)
    write_predictions(out / "predictions_test.csv", entries, pred, scores, [1] * len(entries),
                      store.labels)
    return metrics
