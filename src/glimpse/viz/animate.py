"""The attention of one prediction drawn over the video itself (``glimpse predict --overlay``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from glimpse.video import read_frames
from glimpse.viz.overlay import _caption, overlay, save_animation, save_png, strip

HEIGHT = 240  # output height in pixels; width keeps the video's aspect ratio


def write_overlay(path: str | Path, video: str | Path, prediction: dict, *, fps: float | None = None):
    """Write the frames the model saw with its per-frame attention, label and score on top:
    an animation (.gif, .webp, .mp4, .webm), or for .png a still strip of six frames (overlays
    above, the attention maps alone below)."""
    times = np.asarray(prediction["times"])
    step = float(np.median(np.diff(times))) if len(times) > 1 else 0.1
    frames = read_frames(video, fps=prediction["feature_fps"]).frames[: len(times)]
    H, W = frames.shape[1:3]
    width = max(2, int(round(HEIGHT * W / H / 2)) * 2)
    att = prediction["attention"]
    uniform = 1.0 / att[0].size
    text = f"{prediction['model']}: {prediction['label']} ({prediction['score']:.2f})"
    small = np.stack([np.asarray(Image.fromarray(f).resize((width, HEIGHT), Image.BILINEAR))
                      for f in frames])
    att = np.where(np.isnan(att), uniform, att)
    if Path(path).suffix.lower() == ".png":
        save_png(path, _caption(strip(small, att), text))
        return
    images = [_caption(overlay(f, a), text) for f, a in zip(small, att)]
    save_animation(path, np.stack(images), fps or 1.0 / step)
