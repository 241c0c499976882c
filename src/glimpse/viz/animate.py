"""The attention of one prediction drawn over the video itself (``glimpse predict --overlay``).

The video is decoded a second time, as a stream: a video output (.mp4, .webm, .avi) is encoded
frame by frame, so memory does not grow with the video's length; an animated .gif / .webp keeps
at most ``MAX_ANIMATION_FRAMES`` frames, evenly spread (played at the same speed); a .png still
keeps six.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from glimpse.heat import overlay
from glimpse.video import iter_frames
from glimpse.viz.overlay import (
    VIDEO_EXTS,
    _caption,
    save_animation,
    save_png,
    strip,
)

HEIGHT = 240  # output height in pixels; width keeps the video's aspect ratio
MAX_ANIMATION_FRAMES = 300
STRIP_FRAMES = 6


def _small_frames(video, fps: float, n: int, keep=None):
    """Yield (k, frame resized to HEIGHT) for the first n sampled frames (only k in ``keep``)."""
    k = 0
    for b in iter_frames(video, fps=fps, batch_size=8):
        for f in b.frames:
            if k >= n:
                return
            if keep is None or k in keep:
                H, W = f.shape[:2]
                width = max(2, int(round(HEIGHT * W / H / 2)) * 2)
                yield k, np.asarray(Image.fromarray(f).resize((width, HEIGHT), Image.BILINEAR))
            k += 1


def write_overlay(path: str | Path, video: str | Path, prediction: dict, *, fps: float | None = None):
    """Write the frames the model saw with its per-frame attention, label and score on top:
    an animation (.gif, .webp, .mp4, .webm), or for .png a still strip of six frames (overlays
    above, the attention maps alone below)."""
    path = Path(path)
    times = np.asarray(prediction["times"])
    n = len(times)
    step = float(np.median(np.diff(times))) if n > 1 else 0.1
    att = prediction["attention"]
    if att is not None:
        att = np.where(np.isnan(att), 1.0 / att[0].size, att)
    text = f"{prediction['model']}: {prediction['label']} ({prediction['score']:.2f})"
    rate = fps or 1.0 / step

    def drawn(frames):
        for k, f in frames:
            yield _caption(f if att is None else overlay(f, att[k]), text)

    ext = path.suffix.lower()
    if ext == ".png":
        pick = np.linspace(0, n - 1, min(STRIP_FRAMES, n)).round().astype(int)
        got = dict(_small_frames(video, prediction["feature_fps"], n, set(pick.tolist())))
        small = np.stack([got[k] for k in pick])
        maps = att[pick] if att is not None else np.full((len(pick), 1, 1), 1.0)
        save_png(path, _caption(strip(small, maps, columns=len(pick)), text))
        return
    keep = None
    if ext not in VIDEO_EXTS and n > MAX_ANIMATION_FRAMES:
        keep = set(np.linspace(0, n - 1, MAX_ANIMATION_FRAMES).round().astype(int).tolist())
        rate = rate * len(keep) / n
    save_animation(path, drawn(_small_frames(video, prediction["feature_fps"], n, keep)), rate)
