"""Optical flow between consecutive frames, rendered as an image a frozen CNN can read.

Papers 001 and 003 feed a flow stream: optical flow between consecutive frames of the original
frame rate, through a CNN trained on flow. glimpse computes, for each sampled frame and the
decoded frame that follows it, OpenCV's DIS optical flow (Kroeger et al. 2016; preset
``medium`` by default) on the frames at the backbone's input size, clips each component to
+-``bound`` pixels (20, as TSN does) and maps it to [0, 255]: u and v as (f + bound) * 255 /
(2 bound), so 128 means no motion, and a third channel with the magnitude, min(|f|, bound) *
255 / bound. No flow network is available offline, so by default this 3-channel image goes
through the same frozen ImageNet backbone as the RGB frames (a departure from the papers).

With a user's flow network (``glimpse.features.flownet``), each sampled frame instead gets TSN's
input: the L consecutive fields from it onwards, stacked as 2L channels (u_1, v_1, u_2, v_2,
...), each component mapped to [0, 255] the same way. A field between two decoded frames is
computed once per video however many stacks it appears in.
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

    def uv(self, flow: np.ndarray) -> np.ndarray:
        """float (H, W, 2) -> uint8 (H, W, 2): each component clipped to the bound, to [0, 255]."""
        f = np.clip(flow, -self.bound, self.bound)
        return ((f + self.bound) * (255.0 / (2 * self.bound))).round().astype(np.uint8)

    def __call__(self, frames: np.ndarray, nexts: np.ndarray) -> np.ndarray:
        """uint8 (n, H, W, 3) frames and their successors -> uint8 (n, H, W, 3) flow images."""
        return np.stack([self.image(self.field(a, b)) for a, b in zip(frames, nexts)])

    def stacks(self, frames: np.ndarray, indices: np.ndarray, successors: np.ndarray,
               successor_indices: np.ndarray, cache: dict | None = None) -> np.ndarray:
        """TSN stacks: frames (n, H, W, 3) with source ``indices`` (n,) and their L successors
        (n, L, H, W, 3) with indices (n, L) -> uint8 (n, H, W, 2L), the fields frame -> s_1,
        s_1 -> s_2, ... as u_1, v_1, u_2, v_2, .... ``cache`` (one dict per video) keeps the
        fields of recent index pairs, so each is computed once."""
        cache = {} if cache is None else cache
        out = []
        for a, ia, nxt, inx in zip(frames, indices, successors, successor_indices):
            chain = [(a, int(ia))] + [(f, int(i)) for f, i in zip(nxt, inx)]
            planes = []
            for (x, ix), (y, iy) in zip(chain, chain[1:]):
                key = (ix, iy)
                if key not in cache:
                    cache[key] = self.uv(self.field(x, y)) if ix != iy else \
                        np.full((*x.shape[:2], 2), 128, np.uint8)  # past the end: no motion
                planes.append(cache[key])
            out.append(np.concatenate(planes, -1))
            for key in [k for k in cache if k[0] < int(ia) - 1]:  # keep the cache small
                del cache[key]
        return np.stack(out)
