"""Spatial test crops: paper 001's 10-crop test (the 4 corners and the centre, and their mirror
images), with 1, 3 and 5 as MMAction2 and PySlowFast offer them.

A frame is decoded at side S = round(size * scale) (``scale`` = 256 / 224 by default, the papers'
"resize to 256, crop 224") and each crop is a size x size window of it, so every crop feeds the
backbone at its own input size and gives the same K x K grid as a whole frame. Layouts (m = S -
size, c = m // 2; windows as (top, left)):

- 1: the centre (c, c);
- 3: left (c, 0), centre, right (c, m), along the frame's middle row;
- 5: top-left (0, 0), top-right (0, m), bottom-left (m, 0), bottom-right (m, m), centre;
- 10: those 5 and each mirrored left to right (``-flip``).

A mirrored crop of a flow image negates the horizontal component: u is stored as
(u + bound) * 255 / (2 bound), so its mirror is 255 minus it (the same up to rounding at .5).
Crops are stored beside an entry's whole-frame streams as ``<stream>@<crop>.npy`` (and
``masks@<crop>.npy``); ``Entry.at_crop`` reads them as an entry of their own.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from glimpse import GlimpseError
from glimpse.config import CROP_SCALE

COUNTS = (1, 3, 5, 10)
SCALE = CROP_SCALE  # the papers' resize to 256, crop 224 (glimpse.config)


@dataclass(frozen=True)
class Crop:
    name: str
    top: int
    left: int
    flip: bool = False


@dataclass(frozen=True)
class Layout:
    """``count`` crops of side ``size`` from frames decoded at ``side`` x ``side``."""

    count: int
    size: int
    side: int
    crops: tuple[Crop, ...]

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.crops]

    def describe(self) -> dict:
        """What the manifest keeps (``crops``)."""
        return {"count": self.count, "size": self.size, "decoded_side": self.side,
                "names": self.names,
                "windows": {c.name: [c.top, c.left, self.size, bool(c.flip)] for c in self.crops}}


def layout(count: int, size: int, scale: float = SCALE) -> Layout:
    if count not in COUNTS:
        raise GlimpseError(f"--crops must be one of {', '.join(map(str, COUNTS))}, got {count}")
    if scale < 1:
        raise GlimpseError(f"--crop-scale must be at least 1 (the frame around the crop), got "
                           f"{scale}")
    side = round(size * scale)
    m = side - size
    c = m // 2
    centre = Crop("c", c, c)
    if count == 1:
        crops = [centre]
    elif count == 3:
        crops = [Crop("l", c, 0), centre, Crop("r", c, m)]
    else:
        crops = [Crop("tl", 0, 0), Crop("tr", 0, m), Crop("bl", m, 0), Crop("br", m, m), centre]
        if count == 10:
            crops += [Crop(f"{k.name}-flip", k.top, k.left, True) for k in list(crops)]
    return Layout(count, size, side, tuple(crops))


def cut(frames: np.ndarray, crop: Crop, size: int, u_channels=()) -> np.ndarray:
    """(B, S, S, C) uint8 -> the crop's (B, size, size, C), contiguous; mirrored where the crop
    is, the ``u_channels`` (a flow image's horizontal components) then negated."""
    out = frames[:, crop.top:crop.top + size, crop.left:crop.left + size]
    if crop.flip:
        out = out[:, :, ::-1].copy()
        for ch in u_channels:
            out[..., ch] = 255 - out[..., ch]
    return np.ascontiguousarray(out)


def cut_masks(masks: np.ndarray, crop: Crop, size: int, side: int) -> np.ndarray:
    """bool (F, H, W) actor masks of the original frames -> the part the crop shows, (F, h, w)
    (the frame was resized to side x side before cropping), mirrored with it."""
    _, H, W = masks.shape
    r0, r1 = round(crop.top * H / side), round((crop.top + size) * H / side)
    c0, c1 = round(crop.left * W / side), round((crop.left + size) * W / side)
    out = masks[:, r0:max(r1, r0 + 1), c0:max(c1, c0 + 1)]
    return out[:, :, ::-1] if crop.flip else out


def flow_u_channels(stack: int | None) -> tuple[int, ...]:
    """The horizontal components of a flow input: channel 0 of the 3-channel flow image (u, v,
    magnitude), or u_1, u_2, ... of a stack of L fields (u_1, v_1, u_2, v_2, ...)."""
    return (0,) if stack is None else tuple(range(0, 2 * stack, 2))
