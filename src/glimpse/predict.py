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
from pathlib import Path

import numpy as np

from glimpse import GlimpseError
from glimpse.evaluate import (
    class_probs,
    clip_settings,
    frame_attention,
    run_clips,
    video_decision,
)
from glimpse.features.extract import Featurizer
from glimpse.features.store import FeatureStore
from glimpse.progress import progress_bar
from glimpse.run import load_run


class Predictor:
    """A run's best model and the featurizer of its features, loaded once: ``predict(video)``
    for as many videos (or arrays of frames) as you like."""

    def __init__(self, run, *, weights=None, flow_weights=None, device: str = "cpu",
                 batch_size: int = 16):
        loaded = load_run(run, device=device)
        self.config, self.model, self.name = loaded.config, loaded.model, loaded.name
        self.labels: list[str] = self.config["labels"]
        self.featurizer = Featurizer.for_run(self.config["feature"],
                                             self.config["model"]["inputs"], weights=weights,
                                             flow_weights=flow_weights, device=device)
        self.device, self.batch_size = device, batch_size
        self.weights = weights

    def predict(self, video, *, fps: float | None = None, progress: bool = False) -> dict:
        """Label, class scores and per-frame attention of one video: a file, a folder of frame
        images, or an array of frames in memory ((T, H, W, 3) uint8 RGB, e.g. a webcam grab)
        shown at ``fps`` frames a second (default 25)."""
        cfg, fz = self.config, self.featurizer
        with tempfile.TemporaryDirectory(prefix="glimpse-predict-") as tmp:
            source, image_fps = video, fz.image_fps
            if isinstance(video, np.ndarray):  # through the frame-image path of the decoder
                source = _frames_folder(video, Path(tmp) / "frames")
                fz.image_fps = fps or 25.0
            elif fps and Path(video).is_dir():  # a folder of frame images at its own rate
                fz.image_fps = fps
            try:
                store = FeatureStore(Path(tmp) / "store")
                store.create_or_check(fz.feature, fz.stream_specs, self.labels)
                bar = progress_bar(total=0, desc="predict: features", unit="frame",
                                   enabled=progress)

                def advance(n: int, declared: int | None) -> None:
                    if declared and not bar.total and not fz.fps:  # every frame: the
                        bar.total = declared  # source's own count (else a count and a rate)
                    bar.update(n)

                with store.writer("video") as w:
                    meta = fz.featurize(source, w, on_batch=advance)
                    w.commit({"path": str(source), "label": None, "label_index": -1,
                              "group": None, **meta})
                bar.close()
                result = run_clips(self.model, [store.entry("video")], **clip_settings(cfg),
                                   batch_size=self.batch_size, device=self.device,
                                   progress=progress)[0]
            finally:
                fz.image_fps = image_fps
        n = meta["frames"]
        scores = result.clip_scores.mean(0)
        names = self.labels
        order = np.argsort(-scores)
        return {"video": "(frames in memory)" if isinstance(video, np.ndarray) else str(video),
                "model": self.name,
                "label": names[video_decision(result.clip_scores, "mean")],
                "score": float(scores[order[0]]),
                "top5": [(names[i], float(scores[i])) for i in order[:5]],
                "scores": {n: float(s) for n, s in zip(names, scores)},
                "clips": int(len(result.clip_scores)), "times": meta["times"],
                "clip_scores": result.clip_scores,  # (Q, C), and each clip's frames
                "clip_frames": [(int(f[0]), int(f[-1])) for f in result.frames],
                "multilabel": bool(cfg.get("multilabel")),
                "feature_fps": cfg["feature"]["fps"],
                "attention": frame_attention(result, n)}


def _frames_folder(frames: np.ndarray, folder: Path) -> Path:
    """(T, H, W, 3) uint8 RGB frames -> a folder of PNG frame images read in name order."""
    from PIL import Image

    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8 or not len(frames):
        raise GlimpseError(f"frames must be a (T, H, W, 3) uint8 RGB array, got "
                           f"{frames.dtype} {frames.shape}")
    folder.mkdir(parents=True)
    for i, frame in enumerate(frames):
        Image.fromarray(frame).save(folder / f"{i:06d}.png", compress_level=1)
    return folder


def predict_video(run, video, *, weights=None, flow_weights=None, device="cpu",
                  batch_size: int = 16, progress: bool = False) -> dict:
    """Label, class scores and per-frame attention of one video under the run's best model;
    with ``progress``, bars on stderr (the frames featurized, the clips scored)."""
    return Predictor(run, weights=weights, flow_weights=flow_weights, device=device,
                     batch_size=batch_size).predict(video, progress=progress)


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


def is_live(source) -> bool:
    """A source read as it comes: a URL PyAV opens (rtsp://, http://, udp://, ...), a v4l2
    device (/dev/video0) or ``-`` (an encoded stream piped on stdin)."""
    s = str(source)
    return s == "-" or "://" in s or s.startswith("/dev/video")


def predict_live(run, source, *, on_window, stride: int | None = None, weights=None,
                 device: str = "cpu", batch_size: int = 4) -> list[dict]:
    """Windows of one clip (the run's T frames at its feature rate) over a live source, every
    ``stride`` frames (default T / 2), each passed to ``on_window`` as it is scored: its start
    and end in seconds and its top-5 classes. Ends at the end of the stream (or on Ctrl-C,
    KeyboardInterrupt in the caller) with the windows seen so far; memory holds one clip of
    features. Reads the rgb streams (rgb, its pooled form, the second level); a run on optical
    flow is refused."""
    import collections

    from glimpse.video import iter_frames

    p = Predictor(run, weights=weights, device=device)
    fz, model, cfg = p.featurizer, p.model, p.config
    if "flow" in model.streams:
        raise GlimpseError("a live source is featurized without optical flow: this run reads "
                           "the flow stream")
    T = clip_settings(cfg)["T"]
    stride = stride or max(1, T // 2)
    window: collections.deque = collections.deque(maxlen=T)
    seen: list[dict] = []
    since = 0
    size = fz.size
    for b in iter_frames(source, fps=cfg["feature"]["fps"], size=(size, size),
                         batch_size=batch_size):
        per = fz.frame_streams(b.frames)  # the run's streams, as extraction makes them
        for k, t in enumerate(b.times):  # (stored as float16: so here)
            window.append(({s: per[s][k].half().float() for s in model.streams}, float(t)))
            since += 1
            if len(window) == T and since >= stride:
                since = 0
                seen.append(_score_window(model, window, p.labels, device,
                                          bool(cfg.get("multilabel"))))
                on_window(seen[-1])
    if len(window) and (not seen or since):  # the tail, or a stream shorter than one clip
        seen.append(_score_window(model, window, p.labels, device, bool(cfg.get("multilabel"))))
        on_window(seen[-1])
    return seen


def _score_window(model, window, labels, device, multilabel: bool) -> dict:
    import torch

    streams = model.streams
    batch = {s: torch.stack([f[s] for f, _ in window])[None].to(device) for s in streams}
    batch["mask"] = torch.ones(1, len(window), dtype=torch.bool, device=device)
    with torch.inference_mode():
        probs = class_probs(model(batch).scores, multilabel)[0].cpu()
    s = model.clip_score(probs, None).numpy()
    order = np.argsort(-s)[:5]
    return {"start": round(window[0][1], 3), "end": round(window[-1][1], 3),
            "top": [(labels[i], round(float(s[i]), 4)) for i in order]}
