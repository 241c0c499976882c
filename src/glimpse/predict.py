"""Prediction on one new video: decode -> the run's own backbone -> clips -> label + attention.

The video is decoded and featurized exactly as the run's training features were (backbone,
layer, input size, fps, float16), then cut into the run's clips; the video score is the mean of
the clip scores, and each frame's attention is the mean over the clips that contain it.
"""

from __future__ import annotations

import numpy as np
import torch

from glimpse import GlimpseError
from glimpse.evaluate import frame_attention, run_clips, video_decision
from glimpse.features.backbones import Backbone
from glimpse.features.store import ArrayEntry
from glimpse.video import iter_frames


def featurize(path, feature: dict, *, weights=None, device="cpu", batch_size: int = 32):
    """-> cube float16 (T_v, K, K, D), times (T_v,), and the sampled RGB frames (T_v, S, S, 3)."""
    net = Backbone(feature["backbone"], weights=weights, layer=feature["layer"]).to(device)
    digest = net.describe()["weights_digest"]
    if digest != feature["weights_digest"]:
        raise GlimpseError(f"the backbone weights ({digest}) are not the ones the run was trained "
                           f"on ({feature['weights_digest']}); pass the same --weights file")
    size = feature["input_size"]
    cubes, times, frames = [], [], []
    with torch.inference_mode():
        for b in iter_frames(path, fps=feature["fps"], size=(size, size), batch_size=batch_size):
            cubes.append(net(torch.from_numpy(b.frames).to(device)).float().cpu().numpy()
                         .astype(np.float16))
            times.append(b.times)
            frames.append(b.frames)
    return np.concatenate(cubes), np.concatenate(times), np.concatenate(frames)


def predict_video(run, video, *, weights=None, device="cpu") -> dict:
    """Label, class scores and per-frame attention of one video under the run's best model."""
    from glimpse.train import load_run

    loaded = load_run(run, device=device)
    cfg, model = loaded["config"], loaded["model"]
    cube, times, frames = featurize(video, cfg["feature"], weights=weights, device=device)
    T, stride = cfg["train"]["clip_len"], cfg["train"]["stride"]
    entry = ArrayEntry(cube, {"path": str(video), "label": None, "label_index": -1, "group": None,
                              "frames": len(cube), "times": times.tolist()})
    result = run_clips(model, [entry], T=T, stride=stride, device=device)[0]
    scores = result.clip_scores.mean(0)
    attention = frame_attention(result, len(cube), T, stride)
    names = cfg["labels"]
    label = names[video_decision(result.clip_scores, "mean")]
    order = np.argsort(-scores)
    return {"video": str(video), "model": cfg["model"]["name"], "label": label,
            "score": float(scores[order[0]]),
            "top5": [(names[i], float(scores[i])) for i in order[:5]],
            "scores": {n: float(s) for n, s in zip(names, scores)},
            "clips": int(len(result.clip_scores)), "times": times.tolist(),
            "feature_fps": cfg["feature"]["fps"],
            "attention": attention, "frames": frames}


def describe_attention(attention: np.ndarray, times: np.ndarray, every: float = 1.0) -> list[str]:
    """One line per ``every`` seconds: the most attended cell (row, col) and its weight."""
    lines, next_t = [], 0.0
    K = attention.shape[1]
    for a, t in zip(attention, times):
        if t + 1e-9 < next_t or np.isnan(a).any():
            continue
        r, c = divmod(int(np.argmax(a)), K)
        where = ("top" if r < K / 3 else "bottom" if r >= 2 * K / 3 else "middle") + "-" + \
                ("left" if c < K / 3 else "right" if c >= 2 * K / 3 else "centre")
        lines.append(f"  t={t:5.1f}s  cell (row {r}, col {c}) {where:<14} weight {a.max():.3f} "
                     f"(uniform {1 / K ** 2:.3f})")
        next_t = t + every
    return lines
