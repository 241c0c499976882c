"""The articulated figure: skeleton geometry from a Pose, and rendering as thick textured capsules.

Body proportions are in figure heights (feet to top of head = 1): torso 0.30, upper arm 0.17,
forearm 0.16, thigh 0.25, shin 0.24, head radius 0.085. Limbs are thick (legs 15% of the height
wide, arms 12%, torso 24%), so an ImageNet CNN sees a body, not a stick.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from glimpse.synth.actions import Pose

TORSO, NECK, HEAD_R = 0.30, 0.03, 0.085
UPPER_ARM, FOREARM, THIGH, SHIN = 0.17, 0.16, 0.25, 0.24
HIP_HEIGHT = THIGH + SHIN
R_TORSO, R_ARM, R_LEG = 0.12, 0.06, 0.075


@dataclass(frozen=True)
class Look:
    """Colours (RGB in [0, 1]) and clothing texture of one actor."""

    skin: tuple
    shirt: tuple
    pants: tuple
    hair: tuple
    stripe_period: float  # pixels
    stripe_angle: float  # radians
    stripe_amp: float


def random_look(rng: np.random.Generator) -> Look:
    skins = [(0.96, 0.80, 0.69), (0.87, 0.67, 0.52), (0.68, 0.47, 0.33), (0.45, 0.30, 0.20)]

    def vivid():
        c = rng.uniform(0.05, 1.0, 3)
        c[rng.integers(3)] = rng.uniform(0.7, 1.0)
        return tuple(c)

    return Look(skin=skins[rng.integers(len(skins))], shirt=vivid(), pants=vivid(),
                hair=tuple(rng.uniform(0.0, 0.35, 3)), stripe_period=float(rng.uniform(6, 14)),
                stripe_angle=float(rng.uniform(0, np.pi)), stripe_amp=float(rng.uniform(0.15, 0.35)))


def skeleton(pose: Pose, facing: int, frontal: bool) -> dict:
    """Joint positions in figure heights, hip at the origin, y up. Returns named segments
    (start, end) and the head centre."""
    def vec(angle, length, mirror):
        return np.array([mirror * np.sin(angle) * length, -np.cos(angle) * length])

    f = 1 if frontal else facing  # frontal limbs are mirrored by their own sign, not by facing
    up = np.array([f * np.sin(pose.lean), np.cos(pose.lean)])
    hip = np.zeros(2)
    neck = hip + TORSO * up
    shoulder = neck - 0.02 * up
    head = neck + (NECK + HEAD_R) * up
    a = pose.angles
    segs = {"torso": (hip, neck)}
    for side in ("l", "r"):
        elbow = shoulder + vec(a[f"upper_arm_{side}"], UPPER_ARM, f)
        hand = elbow + vec(a[f"lower_arm_{side}"], FOREARM, f)
        knee = hip + vec(a[f"thigh_{side}"], THIGH, f)
        foot = knee + vec(a[f"shin_{side}"], SHIN, f)
        segs[f"upper_arm_{side}"] = (shoulder, elbow)
        segs[f"lower_arm_{side}"] = (elbow, hand)
        segs[f"thigh_{side}"] = (hip, knee)
        segs[f"shin_{side}"] = (knee, foot)
    return {"segments": segs, "head": head}


def _capsule(canvas, mask, a, b, r, color, look: Look | None):
    """Draw an anti-aliased capsule from a to b (pixels, x right y down) of radius r."""
    H, W, _ = canvas.shape
    x0, x1 = int(max(0, np.floor(min(a[0], b[0]) - r - 1))), int(min(W, np.ceil(max(a[0], b[0]) + r + 2)))
    y0, y1 = int(max(0, np.floor(min(a[1], b[1]) - r - 1))), int(min(H, np.ceil(max(a[1], b[1]) + r + 2)))
    if x0 >= x1 or y0 >= y1:
        return
    ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    d = np.asarray(b, np.float32) - np.asarray(a, np.float32)
    L2 = float(d @ d) or 1e-6
    t = np.clip(((xs - a[0]) * d[0] + (ys - a[1]) * d[1]) / L2, 0.0, 1.0)
    dist = np.hypot(xs - (a[0] + t * d[0]), ys - (a[1] + t * d[1]))
    alpha = np.clip(r - dist + 0.5, 0.0, 1.0)[..., None]
    col = np.broadcast_to(np.asarray(color, np.float32), alpha.shape[:2] + (3,))
    if look is not None:  # striped clothing
        phase = xs * np.cos(look.stripe_angle) + ys * np.sin(look.stripe_angle)
        stripes = 1.0 - look.stripe_amp * (np.sin(2 * np.pi * phase / look.stripe_period) > 0)
        col = col * stripes[..., None]
    # shade towards the capsule's rim so limbs read as round
    shade = 1.0 - 0.35 * np.clip(dist / max(r, 1e-6), 0, 1) ** 2
    region = canvas[y0:y1, x0:x1]
    region[:] = region * (1 - alpha) + col * shade[..., None] * alpha
    mask[y0:y1, x0:x1] |= alpha[..., 0] > 0.5


def draw_figure(canvas: np.ndarray, mask: np.ndarray, pose: Pose, look: Look, *, hip_xy, height,
                facing: int, frontal: bool, held: tuple | None = None) -> None:
    """Render the figure into canvas (H, W, 3 float in [0, 1]) and OR its silhouette into mask;
    ``held``: (colour, radius in figure heights) of a ball in the near hand (drawn last, part of
    the silhouette)."""
    sk = skeleton(pose, facing, frontal)
    hx, hy = hip_xy

    def px(p):
        return np.array([hx + p[0] * height, hy - p[1] * height])

    segs = sk["segments"]
    dim = 1.0 if frontal else 0.72  # the far side's limbs are in shadow in profile
    far, near = ("l", "r")
    order = [(f"upper_arm_{far}", dim), (f"lower_arm_{far}", dim), (f"thigh_{far}", dim),
             (f"shin_{far}", dim), ("torso", 1.0), (f"thigh_{near}", 1.0), (f"shin_{near}", 1.0),
             (f"upper_arm_{near}", 1.0), (f"lower_arm_{near}", 1.0)]
    for name, k in order:
        a, b = segs[name]
        if name == "torso":
            color, r, tex = look.shirt, R_TORSO, look
        elif name.startswith("upper_arm"):
            color, r, tex = look.shirt, R_ARM, look
        elif name.startswith("lower_arm"):
            color, r, tex = look.skin, R_ARM * 0.9, None
        else:
            color, r, tex = look.pants, R_LEG, None
        _capsule(canvas, mask, px(a), px(b), r * height, tuple(k * c for c in color), tex)
    head = px(sk["head"])
    _capsule(canvas, mask, head, head, HEAD_R * height, look.skin, None)
    hair = px(sk["head"] + np.array([0, 0.035]))
    _capsule(canvas, mask, hair, hair, HEAD_R * 0.75 * height, look.hair, None)
    if held is not None:
        hand = px(segs["lower_arm_r"][1])
        color, radius = held
        _capsule(canvas, mask, hand, hand, radius * height, color, None)
