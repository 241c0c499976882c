"""Optical flow between consecutive frames, rendered as an image a frozen CNN can read.

Papers 001 and 003 feed a flow stream: optical flow between consecutive frames of the original
frame rate, through a CNN trained on flow. glimpse computes, for each sampled frame and the
decoded frame that follows it, OpenCV's DIS optical flow (Kroeger et al. 2016; preset
``medium`` by default) on the frames at the backbone's input size, clips each component to
+-``bound`` pixels (20, as TSN does) and maps it to [0, 255]: u and v as (f + bound) * 255 /
(2 bound), so 128 means no motion, and a third channel with the magnitude, min(|f|, bound) *
255 / bound. No flow network is available offline, so by default this 3-channel image goes
through the same frozen ImageNet backbone as the RGB frames (a departure from the papers).
"""

from __future__ import annotations

import numpy as np

from glimpse import GlimpseError

BOUND = 20.0
PRESETS = ("ultrafast", "fast", "medium")


def _cv2():
    try:
        import cv2
    except ImportError:
        raise GlimpseError("the flow stream needs OpenCV: pip install opencv-python-headless") \
            from None
    return cv2


class FlowImages:
    """``field(a, b)`` -> the DIS flow (H, W, 2) from frame a to frame b (uint8 RGB);
    ``image(flow)`` -> its uint8 (H, W, 3) picture; ``__call__(frames, nexts)`` does both for a
    batch."""

    def __init__(self, preset: str = "medium", bound: float = BOUND):
        if preset not in PRESETS:
            raise GlimpseError(f"unknown flow preset '{preset}'; choose from {', '.join(PRESETS)}")
        cv2 = _cv2()
        self.preset, self.bound = preset, float(bound)
        self.dis = cv2.DISOpticalFlow_create(getattr(cv2, f"DISOPTICAL_FLOW_PRESET_{preset.upper()}"))
        self._gray = lambda im: cv2.cvtColor(np.ascontiguousarray(im), cv2.COLOR_RGB2GRAY)

    def describe(self) -> dict:
        return {"method": "DIS", "preset": self.preset, "bound": self.bound,
                "image": "u, v, magnitude"}

    def field(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """float32 (H, W, 2): pixel a(y, x) moves to b(y + v, x + u)."""
        return self.dis.calc(self._gray(a), self._gray(b), None)

    def image(self, flow: np.ndarray) -> np.ndarray:
        f = np.clip(flow, -self.bound, self.bound)
        mag = np.minimum(np.linalg.norm(flow, axis=-1), self.bound)
        uv = (f + self.bound) * (255.0 / (2 * self.bound))
        return np.concatenate([uv, (mag * (255.0 / self.bound))[..., None]], -1) \
            .round().astype(np.uint8)

    def __call__(self, frames: np.ndarray, nexts: np.ndarray) -> np.ndarray:
        """uint8 (n, H, W, 3) frames and their successors -> uint8 (n, H, W, 3) flow images."""
        return np.stack([self.image(self.field(a, b)) for a, b in zip(frames, nexts)])
