"""Evaluation: clips -> clip scores -> video labels -> metrics.json and per-video predictions.

Paper 000's protocol: a video is cut into T-frame clips with stride d; the clip score is the mean
of y(t) over its steps (eq. 13); the video label is the majority vote of the clip labels
(eq. 14-15; ties go to the class with the larger summed clip score). Paper 002 / MMAction2 style:
the video score is the mean of the clip scores (``--video-rule mean``). Top-5 and mAP always rank
classes by the mean clip score.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from glimpse import GlimpseError, distributed
from glimpse.datasets.layouts import UNLABELLED
from glimpse.features.clips import ClipDataset, batches, to_device
from glimpse.features.store import FeatureStore
from glimpse.io import write_json_atomic
from glimpse.metrics import (
    activitynet_map,
    attention_scores,
    confusion_matrix,
    hit_at_k,
    mean_average_precision,
    per_class_accuracy,
    temporal_iou,
    topk_accuracy,
)
from glimpse.models.output import check_rule
from glimpse.progress import progress_bar
from glimpse.run import load_run

VIDEO_RULES = ("vote", "mean")
MASK_THRESHOLD = 0.1
SEGMENT_THRESHOLD = 0.5  # a clip scoring the video's class this high is "on" (segment_overlap)


@dataclass
class VideoResult:
    clip_scores: np.ndarray  # (Q, C) probabilities of each clip
    attention: list  # per clip: (valid T, K, K) attention, or None for a model without any
    actor: list  # per clip: (valid T, K, K) actor coverage, or None
    frames: list = field(default_factory=list)  # per clip: (valid T,) the frames of its steps
    temporal: list = field(default_factory=list)  # per clip: (valid T, valid T) weights of the
    #                                               clip's frames at each step, or None
    maps: dict = field(default_factory=dict)  # the model's other maps: name -> per clip
    #                                           (valid T, K, K)


def clip_settings(config: dict) -> dict:
    """How a run's clips are cut and scored at evaluation, from its config (``train``, and
    ``multilabel`` where set): T (the evaluation length where one is set), stride, sampling,
    and sigmoid scores for a multi-label run."""
    train = config["train"]
    return {"T": train.get("eval_clip_len") or train["clip_len"], "stride": train["stride"],
            "sampling": train.get("sampling"), "multilabel": bool(config.get("multilabel"))}


@torch.no_grad()
def run_clips(model, entries, *, T: int, stride: int, sampling: str | None = None,
              batch_size: int = 64, clip_rule: str | None = None, device="cpu",
              progress: bool = False, multilabel: bool = False,
              views=("whole",)) -> list[VideoResult]:
    """Run ``model`` over every clip of every entry (cut by ``sampling``, default the model's;
    with uniform sampling, one clip per span in ``views``). A clip's score follows the model's
    own prediction rule, or ``clip_rule`` where given (see ``glimpse.models.output``). Scores
    are softmax probabilities, or with ``multilabel`` one sigmoid per class. Under torchrun
    every rank runs its share of the entries and every rank gets all the results."""
    if clip_rule is not None:
        check_rule(clip_rule)
    return distributed.spread(lambda share: _run_clips(
        model, share, T=T, stride=stride, sampling=sampling, batch_size=batch_size,
        clip_rule=clip_rule, device=device, progress=progress, multilabel=multilabel,
        views=views), list(entries))


def class_probs(scores: torch.Tensor, multilabel: bool) -> torch.Tensor:
    """Logits (..., C) -> softmax probabilities, or one sigmoid per class for a multi-label
    run."""
    return torch.sigmoid(scores.float()) if multilabel else torch.softmax(scores.float(), -1)


def _run_clips(model, entries, *, T, stride, sampling, batch_size, clip_rule, device, progress,
               multilabel, views) -> list[VideoResult]:
    model.eval()
    ds = ClipDataset(entries, T, stride, streams=model.streams, actor=True,
                     sampling=sampling or model.sampling, views=views)
    out = [VideoResult([], [], []) for _ in entries]
    bar = progress_bar(total=len(ds), unit="clip", desc="evaluate", enabled=progress)
    for b in batches(ds, batch_size):
        o = model(to_device(b, device))
        probs = class_probs(o.scores, multilabel).cpu()
        att = None if o.attention is None else o.attention.float().cpu()
        temporal = o.extras.get("temporal")
        temporal = None if temporal is None else temporal.float().cpu()
        m = b["mask"]
        for i in range(len(m)):
            n = int(m[i].sum())
            r = out[int(b["video"][i])]
            r.clip_scores.append(model.clip_score(probs[i, :n], clip_rule).numpy())
            r.attention.append(None if att is None else att[i, :n].numpy())
            r.actor.append(b["actor"][i, :n].numpy() if "actor" in b else None)
            r.frames.append(b["frames"][i, :n].numpy())
            r.temporal.append(None if temporal is None else temporal[i, :n, :n].numpy())
            for name in getattr(model, "maps", ()):
                if name in o.extras:
                    r.maps.setdefault(name, []).append(o.extras[name][i, :n].float().cpu().numpy())
        bar.update(len(m))
    bar.close()
    for r in out:
        r.clip_scores = np.stack(r.clip_scores)
    return out


def average_crops(per_crop: list[VideoResult]) -> VideoResult:
    """One video's results over its spatial test crops (paper 001's 10-crop test): each clip's
    score the mean of its crops' scores (the crops cut the same clips from the same frames);
    the crops' attention, actor masks, frames and maps kept side by side, each crop's steps
    against its own crop's actor masks."""
    first = per_crop[0]
    out = VideoResult(np.mean([r.clip_scores for r in per_crop], axis=0), [], [])
    for r in per_crop:
        out.attention += r.attention
        out.actor += r.actor
        out.frames += r.frames
        out.temporal += r.temporal
        for name, maps in r.maps.items():
            out.maps.setdefault(name, []).extend(maps)
    assert all(r.clip_scores.shape == first.clip_scores.shape for r in per_crop)
    return out


def frame_attention(result: VideoResult, n_frames: int, name: str | None = None
                    ) -> np.ndarray | None:
    """Per-frame attention (n_frames, K, K) (or the model's map ``name``): the mean over the
    clip steps that show each frame (NaN for a frame no clip covers, e.g. the tail beyond the
    last whole clip); None for a model without one."""
    maps = result.attention if name is None else result.maps.get(name)
    if not maps or maps[0] is None:
        return None
    K = maps[0].shape[-1]
    total = np.zeros((n_frames, K, K))
    count = np.zeros(n_frames)
    for frames, att in zip(result.frames, maps):
        np.add.at(total, frames, att)
        np.add.at(count, frames, 1)
    out = total / np.maximum(count, 1)[:, None, None]
    out[count == 0] = np.nan
    return out


def video_decision(clip_scores: np.ndarray, rule: str) -> int:
    """(Q, C) clip scores -> the video's label."""
    if rule == "mean":
        return int(clip_scores.mean(0).argmax())
    C = clip_scores.shape[1]
    votes = np.bincount(clip_scores.argmax(1), minlength=C)
    tied = np.flatnonzero(votes == votes.max())
    return int(tied[clip_scores.sum(0)[tied].argmax()])


def compute_metrics(results: list[VideoResult], labels: np.ndarray, class_names: list[str], *,
                    video_rule: str, targets: np.ndarray | None = None
                    ) -> tuple[dict, np.ndarray, np.ndarray]:
    """-> (metrics, predicted label per video (N,), mean clip score per video (N, C)).
    ``targets`` (N, C) multi-hot for a multi-label store: top-1 is then hit@1 (the top class is
    one of the video's labels) and mAP is over every label."""
    C = len(class_names)
    mean_scores = np.stack([r.clip_scores.mean(0) for r in results])
    pred = np.array([video_decision(r.clip_scores, video_rule) for r in results])
    conf = confusion_matrix(pred, labels, C)
    per_class = per_class_accuracy(conf)
    clip_pred = np.concatenate([r.clip_scores.argmax(1) for r in results])
    clip_labels = np.concatenate([np.full(len(r.clip_scores), y) for r, y in zip(results, labels)])
    metrics = {
        "num_videos": int(len(results)), "num_clips": int(len(clip_pred)),
        "top1": float((pred == labels).mean()),
        "top5": topk_accuracy(mean_scores, labels, 5),
        "mean_class_accuracy": float(np.nanmean(per_class)),
        "clip_accuracy": float((clip_pred == clip_labels).mean()),
        "mAP": mean_average_precision(mean_scores, labels if targets is None else targets),
        "per_class": {n: (None if np.isnan(a) else float(a)) for n, a in zip(class_names, per_class)},
        "confusion": conf.tolist(),
    }
    if targets is not None:
        metrics["multilabel"] = True
        metrics["top1_first_label"] = metrics["top1"]  # the primary label, as single-label
        metrics["top1"] = float(targets[np.arange(len(pred)), pred].mean())  # hit@1
        metrics["hit@3"] = hit_at_k(mean_scores, targets, 3)
        metrics["mAP_interpolated"] = activitynet_map(mean_scores, targets)  # ActivityNet's
    steps = [(a, m) for r in results for a, m in zip(r.attention, r.actor)
             if m is not None and a is not None]
    if steps:
        metrics["attention"] = attention_scores(np.concatenate([a for a, _ in steps]),
                                                np.concatenate([m for _, m in steps]),
                                                MASK_THRESHOLD)
    return metrics, pred, mean_scores


def crop_names(entries, store: FeatureStore) -> list[str]:
    """The spatial test crops every one of ``entries`` holds (one layout a store), or one line
    saying which video lacks them."""
    layout = store.crop_layout
    if layout is None:
        raise GlimpseError(f"{store.root} holds no test crops; add them with 'glimpse extract "
                           f"VIDEOS {store.root} --crops 10' (the split's videos are enough)")
    lacking = [e.id for e in entries if e.crops != layout["names"]]
    if lacking:
        raise GlimpseError(f"{len(lacking)} of the {len(entries)} videos have no test crops in "
                           f"{store.root} (e.g. '{lacking[0]}'); add them with 'glimpse extract "
                           f"... --crops {layout['count']}'")
    return list(layout["names"])


def segment_overlap(results: list[VideoResult], entries, *,
                    threshold: float = SEGMENT_THRESHOLD) -> dict | None:
    """How well the clips that score a video's own class(es) at ``threshold`` or more cover its
    annotated segments (ActivityNet's meta ``segments``): per video, the temporal IoU of the
    union of those clips' spans (first frame's time to the last's plus one frame) with the
    union of the annotated segments; the mean over the videos that have segments, and the
    fraction at IoU >= 0.5. A measure of where in time the classifier fires, beside paper 004's
    classification mAP; not ActivityNet's detection benchmark (no proposals, no per-segment
    labels or ranking). None where no video has segments."""
    ious = []
    for r, e in zip(results, entries):
        truth = e.meta.get("segments")
        if not truth:
            continue
        times = e.times
        step = float(np.median(np.diff(times))) if len(times) > 1 else 0.0
        found = [(times[f[0]], times[f[-1]] + step)
                 for f, s in zip(r.frames, r.clip_scores)
                 if len(f) and s[e.label_indices].max() >= threshold]
        ious.append(temporal_iou(found, truth))
    if not ious:
        return None
    ious = np.array(ious)
    return {"metric": f"temporal IoU of the clips scoring the video's class >= {threshold} with "
                      f"its annotated segments (not a detection mAP)",
            "videos": int(len(ious)), "mean_tiou": float(ious.mean()),
            "tiou>=0.5": float((ious >= 0.5).mean())}


def open_store(path: str | Path, cfg: dict, what: str) -> FeatureStore:
    """The feature store at ``path``, checked to hold the features the run ``what`` reads."""
    store = FeatureStore(path)
    if not store.manifest_path.exists():
        raise GlimpseError(f"the feature store {path} is gone (moved or deleted); pass its new "
                           f"place with --features STORE")
    store.check_inputs(cfg["feature"], cfg["model"]["inputs"], what)
    return store


def evaluate_run(run: str | Path, *, split: str = "test", video_rule: str = "vote",
                 clip_rule: str | None = None, features: str | Path | None = None,
                 batch_size: int = 64, device: str = "cpu", progress: bool = True,
                 options: dict | None = None, views=("whole",), crops: bool = False,
                 activitynet_json: str | Path | None = None) -> dict:
    """Evaluate the best checkpoint of ``run`` on a split; writes metrics.json and predictions.
    ``options``: test-time model options (reinforce: ``test_samples``); ``views``: spans of
    each video to sample a clip from (uniform sampling; paper 001's temporal test is
    ``TEMPORAL_VIEWS``); ``crops``: score each clip as the mean over the spatial test crops
    stored for its video (``extract --crops``). All are recorded in the metrics
    (``test_options``, ``views``, ``crops``). ``activitynet_json``: also write the scores as
    ActivityNet's evaluation server takes them (``write_activitynet``). The ``unlabelled``
    split (videos whose labels are withheld: ActivityNet's testing subset) has no metrics: its
    predictions and that file are written, metrics.json is left as it was."""
    if video_rule not in VIDEO_RULES:
        raise GlimpseError(f"--video-rule must be one of {VIDEO_RULES}, got '{video_rule}'")
    loaded = load_run(run, device=device, options=options)
    cfg, model = loaded.config, loaded.model
    store = open_store(features or cfg["features"], cfg, f"run {run}")
    split_ids = loaded.run.split
    if split == UNLABELLED and split not in split_ids:  # added to the store after training
        split_ids[split] = sorted(e.id for e in store.entries() if e.label is None)
    if split not in split_ids:
        raise GlimpseError(f"unknown split '{split}'; the run has {', '.join(split_ids)}")
    entries = [store.entry(i) for i in split_ids[split]]
    if not entries:
        raise GlimpseError(f"the run's '{split}' split is empty")
    multilabel = bool(cfg.get("multilabel"))
    rank, _, device = distributed.start(device)  # under torchrun: every rank a share
    names = crop_names(entries, store) if crops else [None]
    per_crop = [run_clips(model.to(device), [e if c is None else e.at_crop(c) for e in entries],
                          **clip_settings(cfg), batch_size=batch_size, clip_rule=clip_rule,
                          device=device, progress=progress and rank == 0, views=views)
                for c in names]
    results = [average_crops(list(rs)) for rs in zip(*per_crop)] if crops else per_crop[0]
    video_scores = np.stack([r.clip_scores.mean(0) for r in results])  # (N, C)
    if rank == 0 and activitynet_json is not None:
        write_activitynet(Path(activitynet_json), entries, video_scores, cfg["labels"],
                          cfg["feature"].get("backbone", ""))
    if any(e.label is None for e in entries):  # withheld labels: scores, no metrics
        pred = np.array([video_decision(r.clip_scores, video_rule) for r in results])
        if rank == 0:
            write_predictions(Path(run) / f"predictions_{split}.csv", entries, pred,
                              video_scores, [len(r.clip_scores) for r in results],
                              cfg["labels"])
        return {"model": loaded.name, "split": split, "video_rule": video_rule,
                "num_videos": len(entries), "labelled": False}
    labels = np.array([e.label_index for e in entries])
    metrics, pred, mean_scores = compute_metrics(
        results, labels, cfg["labels"], video_rule=video_rule,
        targets=multi_hot(entries, len(cfg["labels"])) if multilabel else None)
    metrics = {"model": loaded.name, "split": split, "video_rule": video_rule,
               "clip_rule": clip_rule or model.prediction,
               "checkpoint_epoch": loaded.checkpoint["epoch"],
               "checkpoint_digest": loaded.checkpoint["digest"],
               "features": str(store.root.resolve()), **metrics}
    if options:
        metrics["test_options"] = dict(options)
    if tuple(views) != ("whole",):
        metrics["views"] = list(views)
    if crops:
        metrics["crops"] = names
    overlap = segment_overlap(results, entries)
    if overlap is not None:
        metrics["segments"] = overlap
    if rank != 0:  # rank 0 writes
        return metrics
    write_json_atomic(loaded.run.metrics_path, metrics)
    write_predictions(Path(run) / f"predictions_{split}.csv", entries, pred, mean_scores,
                      [len(r.clip_scores) for r in results], cfg["labels"])
    return metrics


def write_predictions(path: Path, entries, pred, scores, clips: list[int], names):
    """predictions_<split>.csv: one row per video (``clips``: how many clips each had), then the
    video's score for every class (columns ``score:<class>``)."""
    write_prediction_rows(path, names, [(e.meta["path"], e.label or "", p, s,
                                         p in e.label_indices, n)
                                        for e, p, s, n in zip(entries, pred, scores, clips)])


ACTIVITYNET_VERSION = "VERSION 1.3"


def write_activitynet(path: Path, entries, scores: np.ndarray, names: list[str],
                      backbone: str) -> None:
    """The classification results file ActivityNet's evaluation server (and its
    ``eval_classification.py``) reads: ``{"version", "results": {video id: [{"label", "score"},
    ...]}, "external_data"}``, every class's mean clip score, highest first (its mAP ranks them
    all; hit@3 reads the first 3); ``scores`` (N, C): each video's mean clip score. A video's
    id is its file name without ``v_`` and extension. ``external_data`` says the backbone was
    pre-trained outside ActivityNet (ImageNet)."""
    out = {}
    for e, s in zip(entries, scores):
        stem = Path(e.meta["path"]).name.rsplit(".", 1)[0]
        out[stem[2:] if stem.startswith("v_") else stem] = [
            {"label": names[i], "score": round(float(s[i]), 6)} for i in np.argsort(-s)]
    write_json_atomic(path, {"version": ACTIVITYNET_VERSION, "results": out, "external_data": {
        "used": True, "details": f"{backbone or 'the backbone'} pre-trained on ImageNet "
                                 f"(features extracted by glimpse)"}})


def multi_hot(entries, C: int) -> np.ndarray:
    """(N, C): each video's labels (a multi-label store)."""
    out = np.zeros((len(entries), C))
    for i, e in enumerate(entries):
        out[i, e.label_indices] = 1
    return out


def write_prediction_rows(path: Path, names, rows) -> None:
    """rows of (video, label, predicted index, scores (C,), correct, clips) -> the CSV, whole
    or not at all."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["video", "label", "predicted", "score", "correct", "clips",
                    *(f"score:{n}" for n in names)])
        for video, label, p, s, ok, n in rows:
            w.writerow([video, label, names[p], f"{s[p]:.4f}", int(ok), n,
                        *(f"{v:.6g}" for v in s)])
    tmp.replace(path)
