"""Attention drawn over frames (paper 000 Figs. 4-8, paper 002 Figs. 2-7): stills, strips and
animations, each frame drawn by ``glimpse.heat.overlay``. The K x K grid covers the whole frame:
the backbone saw the frame resized to a square, so cell (i, j) is the same fraction of any
frame.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from glimpse import GlimpseError
from glimpse.heat import colorize, overlay, upsample


def mask_panel(frame: np.ndarray, actor: np.ndarray) -> np.ndarray:
    """The frame dimmed outside the ground-truth actor cells ((K, K) coverage in [0, 1])."""
    H, W, _ = frame.shape
    m = np.asarray(Image.fromarray(np.asarray(actor, np.float32)).resize((W, H), Image.NEAREST))
    return (frame.astype(np.float32) * (0.25 + 0.75 * np.clip(m, 0, 1))[..., None]).astype(np.uint8)


def _caption(img: np.ndarray, text: str) -> np.ndarray:
    pil = Image.fromarray(img)
    d = ImageDraw.Draw(pil)
    d.rectangle([0, 0, img.shape[1], 14], fill=(0, 0, 0))
    d.text((3, 1), text, fill=(255, 255, 255))
    return np.asarray(pil)


def strip(frames, attention, *, columns: int = 6, actor=None) -> np.ndarray:
    """A still: ``columns`` frames evenly spread over the video; row 1 the overlays, row 2 the
    attention maps alone (both only for a model with attention; else row 1 is the frames), row
    3 the actor mask where one exists."""
    idx = np.linspace(0, len(frames) - 1, min(columns, len(frames))).round().astype(int)
    H, W, _ = frames[0].shape
    if attention is None:
        rows = [np.concatenate([frames[i] for i in idx], axis=1)]
    else:
        rows = [np.concatenate([overlay(frames[i], attention[i]) for i in idx], axis=1),
                np.concatenate([colorize(upsample(attention[i], H, W)) for i in idx], axis=1)]
    if actor is not None:
        rows.append(np.concatenate([mask_panel(frames[i], actor[i]) for i in idx], axis=1))
    return np.concatenate(rows, axis=0)


VIDEO_EXTS = (".mp4", ".webm", ".avi", ".mkv")


def save_animation(path: str | Path, images, fps: float) -> None:
    """uint8 (H, W, 3) images (an array (T, H, W, 3) or any iterable) -> .gif (palette, loops),
    .webp (animated, lossy: ~7x smaller than a GIF of the same frames; the report uses it) or
    .mp4 / .webm / .avi, which are encoded as the images come (nothing is held); written
    atomically."""
    path = Path(path)
    ext = path.suffix.lower()
    tmp = path.with_name(f".tmp-{path.name}")
    if ext == ".gif":
        pil = [Image.fromarray(im).quantize(colors=96, method=Image.Quantize.MEDIANCUT)
               for im in images]
        pil[0].save(tmp, format="GIF", save_all=True, append_images=pil[1:], loop=0,
                    duration=max(20, int(round(1000 / max(fps, 1e-3)))), optimize=True)
    elif ext == ".webp":
        pil = [Image.fromarray(im) for im in images]
        pil[0].save(tmp, format="WEBP", save_all=True, append_images=pil[1:], loop=0,
                    duration=max(20, int(round(1000 / max(fps, 1e-3)))), quality=60, method=4)
    elif ext in VIDEO_EXTS:
        from glimpse.video import write_video

        tmp = tmp.with_suffix(ext)
        write_video(tmp, (im[: im.shape[0] - im.shape[0] % 2, : im.shape[1] - im.shape[1] % 2]
                          for im in images), fps=max(1, int(round(fps))))
    else:
        raise GlimpseError(f"cannot write an animation as '{ext}'; use .gif, .webp, .mp4 or .webm")
    tmp.replace(path)


def save_png(path: str | Path, image: np.ndarray) -> None:
    path = Path(path)
    tmp = path.with_name(f".tmp-{path.name}")
    Image.fromarray(image).save(tmp, format="PNG", optimize=True)
    tmp.replace(path)
