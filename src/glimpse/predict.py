"""Prediction on one new video: decode -> the run's own backbone -> clips -> label + attention.

The video is featurized exactly as the run's training features were (backbone, layer, input
size, fps, float16, the streams the model reads) by the same ``Featurizer`` that ``extract``
uses, streamed into a temporary feature-store entry on disk (under ``$TMPDIR``, removed
afterwards), so memory does not grow with the video's length. It is then cut into the run's
clips; a clip's score follows the model's prediction rule, the video's is the mean of its clip
scores, and each frame's attention is the mean over the clips that contain it.
"""

from __future__ import annotations

import tempfile

import numpy as np

from glimpse.evaluate import clip_settings, frame_attention, run_clips, video_decision
from glimpse.features.extract import Featurizer
from glimpse.features.store import FeatureStore
from glimpse.run import load_run


def predict_video(run, video, *, weights=None, flow_weights=None, device="cpu",
                  batch_size: int = 16) -> dict:
    """Label, class scores and per-frame attention of one video under the run's best model."""
    loaded = load_run(run, device=device)
    cfg, model = loaded.config, loaded.model
    inputs = cfg["model"]["inputs"]
    fz = Featurizer.for_run(cfg["feature"], inputs, weights=weights, flow_weights=flow_weights,
                            device=device)
    with tempfile.TemporaryDirectory(prefix="glimpse-predict-") as tmp:
        store = FeatureStore(tmp)
        store.create_or_check(fz.feature, fz.stream_specs, cfg["labels"])
        with store.writer("video") as w:
            meta = fz.featurize(video, w)
            w.commit({"path": str(video), "label": None, "label_index": -1, "group": None, **meta})
        entry = store.entry("video")
        result = run_clips(model, [entry], **clip_settings(cfg),
                           batch_size=batch_size, device=device)[0]
    n = meta["frames"]
    scores = result.clip_scores.mean(0)
    names = cfg["labels"]
    label = names[video_decision(result.clip_scores, "mean")]
    order = np.argsort(-scores)
    return {"video": str(video), "model": loaded.name, "label": label,
            "score": float(scores[order[0]]),
            "top5": [(names[i], float(scores[i])) for i in order[:5]],
            "scores": {n: float(s) for n, s in zip(names, scores)},
            "clips": int(len(result.clip_scores)), "times": meta["times"],
            "feature_fps": cfg["feature"]["fps"],
            "attention": frame_attention(result, n)}


def describe_attention(attention: np.ndarray | None, times, every: float = 1.0) -> list[str]:
    """One line per ``every`` seconds: the most attended cell (row, col) and its weight."""
    if attention is None:
        return ["  (this model has no spatial attention)"]
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
