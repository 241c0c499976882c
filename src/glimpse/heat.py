"""Attention as heat over a frame: the K x K map upsampled smoothly (bicubic), normalized by its
own maximum, mapped through a colormap and blended over the frame with an alpha that grows with
the attention, so unattended regions keep the picture. The lowest layer's drawing: the report
(``glimpse.viz``) and TensorBoard's images (``glimpse.board``) both draw with it.
"""

from __future__ import annotations

import numpy as np
from PIL import Image


def upsample(att: np.ndarray, height: int, width: int) -> np.ndarray:
    """(K, K) attention -> (height, width) float32 in [0, 1] (divided by its maximum)."""
    a = np.nan_to_num(np.asarray(att, np.float32))
    a = a / max(float(a.max()), 1e-12)
    img = Image.fromarray(a).resize((width, height), Image.BICUBIC)
    return np.clip(np.asarray(img), 0.0, 1.0)


def colorize(values: np.ndarray, cmap: str = "inferno") -> np.ndarray:
    """(H, W) in [0, 1] -> uint8 RGB (H, W, 3)."""
    from matplotlib import colormaps

    return (colormaps[cmap](values)[..., :3] * 255).astype(np.uint8)


def overlay(frame: np.ndarray, att: np.ndarray, *, alpha: float = 0.65,
            cmap: str = "inferno") -> np.ndarray:
    """uint8 frame (H, W, 3) and (K, K) attention -> uint8 (H, W, 3) with the heat blended on."""
    H, W, _ = frame.shape
    a = upsample(att, H, W)
    heat = colorize(a, cmap).astype(np.float32)
    w = (alpha * a)[..., None]
    return (frame.astype(np.float32) * (1 - w) + heat * w).astype(np.uint8)
