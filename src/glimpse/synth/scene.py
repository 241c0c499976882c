"""One clip: a panned real-photo background, moving distractors, the acting figure, camera jitter.

The camera follows a travelling actor just enough to keep them in frame (the background pans the
other way), as in handheld sports footage. Every random choice comes from the generator passed
in, so a clip is a pure function of its seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
from PIL import Image

from glimpse.synth.actions import ACTIONS
from glimpse.synth.figure import HIP_HEIGHT, Look, draw_figure, random_look

PHOTOS = ("astronaut", "coffee", "rocket", "chelsea", "immunohistochemistry", "hubble_deep_field",
          "retina", "cat", "camera", "brick", "grass", "gravel")


# the balls a labelled actor may hold (SynthConfig.held): the same shape, only the colour differs,
# so optical flow cannot tell them apart
HELD = {"red_ball": (0.92, 0.12, 0.10), "blue_ball": (0.10, 0.30, 0.95)}


@cache
def photo(name: str) -> np.ndarray:
    """A photograph bundled with scikit-image, as float32 RGB in [0, 1]."""
    import skimage.data

    img = getattr(skimage.data, name)()
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    return img[..., :3].astype(np.float32) / 255.0


@cache
def available_photos() -> tuple[str, ...]:
    names = []
    for n in PHOTOS:
        try:
            photo(n)
            names.append(n)
        except Exception:  # noqa: BLE001 - a photo that needs a download is simply not used
            pass
    return tuple(names)


@dataclass(frozen=True)
class Difficulty:
    actor_scale: tuple = (0.42, 0.58)  # figure height / frame height
    distractors: int = 2
    jitter: float = 3.0  # camera shake, pixels
    pan: float = 12.0  # idle camera pan, pixels per second
    actors: int = 1  # people in the scene (one labelled, each in its own lane)
    ball: float = 0.13  # the held ball's radius, in figure heights (SynthConfig.held)


@dataclass(frozen=True)
class GroupStyle:
    """What a UCF-11 group shares: the place (photo, zoom, crop) and the actor's look."""

    photo: str
    zoom: float
    origin: tuple
    tint: tuple
    look: Look
    scale: float


def group_style(rng: np.random.Generator, diff: Difficulty) -> GroupStyle:
    names = available_photos()
    return GroupStyle(photo=names[rng.integers(len(names))], zoom=float(rng.uniform(1.0, 1.6)),
                      origin=(float(rng.uniform()), float(rng.uniform())),
                      tint=tuple(rng.uniform(0.8, 1.15, 3)), look=random_look(rng),
                      scale=float(rng.uniform(*diff.actor_scale)))


def _background_strip(style: GroupStyle, ch: int, cw: int) -> np.ndarray:
    """The photo scaled to cover the canvas height, mirrored into a horizontally periodic strip."""
    img = photo(style.photo)
    h = int(round(ch * style.zoom))
    w = max(int(round(img.shape[1] * h / img.shape[0])), cw)
    im = Image.fromarray((img * 255).astype(np.uint8)).resize((w, h), Image.BILINEAR)
    arr = np.asarray(im, np.float32) / 255.0 * np.asarray(style.tint, np.float32)
    return np.clip(np.concatenate([arr, arr[:, ::-1]], axis=1), 0, 1)


def _distractors(rng, n, H, W):
    out = []
    for _ in range(n):
        out.append({"shape": "disc" if rng.uniform() < 0.5 else "box",
                    "r": float(rng.uniform(0.05, 0.09) * H),
                    "pos": np.array([rng.uniform(0, W), rng.uniform(0, H)]),
                    "vel": rng.uniform(25, 90) * np.array([np.cos(a := rng.uniform(0, 2 * np.pi)),
                                                           np.sin(a)]),
                    "color": rng.uniform(0.1, 1.0, 3), "period": float(rng.uniform(5, 12))})
    return out


def _draw_distractor(canvas, d, pos):
    H, W, _ = canvas.shape
    r = d["r"]
    x0, x1 = int(max(0, pos[0] - r)), int(min(W, pos[0] + r + 1))
    y0, y1 = int(max(0, pos[1] - r)), int(min(H, pos[1] + r + 1))
    if x0 >= x1 or y0 >= y1:
        return
    ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    if d["shape"] == "disc":
        alpha = np.clip(r - np.hypot(xs - pos[0], ys - pos[1]) + 0.5, 0, 1)
    else:
        alpha = np.ones_like(xs)
    check = ((np.floor(xs / d["period"]) + np.floor(ys / d["period"])) % 2) * 0.3 + 0.7
    col = d["color"][None, None, :] * check[..., None]
    region = canvas[y0:y1, x0:x1]
    region[:] = region * (1 - alpha[..., None]) + col * alpha[..., None]


@dataclass
class Track:
    """One actor's path through the clip: a pose, a hip position and a size per frame."""

    action: str
    poses: list
    hip_x: np.ndarray
    hip_y: np.ndarray
    height: float
    facing: int
    look: Look
    held: tuple | None  # (colour, radius in figure heights) of the ball in the near hand, or None
    travel: np.ndarray  # pixels travelled in the world
    follow: float  # the share of the travel the camera follows (0: it stays put)


def _track(action_name: str, look: Look, scale: float, rng: np.random.Generator, *, frames: int,
           fps: float, H: int, CW: int, CH: int, J: int, lane=(0.0, 1.0),
           held: tuple | None = None) -> Track:
    """An actor's path: it starts in its lane (a horizontal share of the canvas) and a camera
    that follows it just enough keeps it in frame."""
    action = ACTIONS[action_name]
    height = scale * H * rng.uniform(0.92, 1.08)
    facing = 1 if rng.uniform() < 0.5 else -1
    speed = rng.uniform(0.85, 1.15)
    phase0 = rng.uniform(0, 2 * np.pi)
    times = np.arange(frames) / fps
    phases = phase0 + 2 * np.pi * times * speed / action.cycle_s
    poses = [action.pose(p) for p in phases]
    travel = np.array([p.travel - poses[0].travel for p in poses]) * height  # pixels
    lifts = np.array([p.lift for p in poses])

    # camera: follow just enough to keep the actor in frame. The actor starts in its lane (a
    # share of the canvas, measured along the way it faces) and may travel out of it.
    margin = 0.3 * height
    room = max(CW - 2 * margin - 2 * J, 1.0)
    span = travel[-1]
    follow = 0.0 if span <= 0.6 * room else 1.0 - 0.6 * room / span
    screen = (1.0 - follow) * travel
    a, b = (lane[0] * CW, lane[1] * CW) if facing > 0 else ((1 - lane[1]) * CW, (1 - lane[0]) * CW)
    lo, hi = a + J + margin, min(b - J - margin, CW - J - margin - screen[-1])
    start = rng.uniform(lo, max(lo, hi))
    hip_x = start + screen if facing > 0 else CW - start - screen
    top_need = (1.03 + max(lifts.max(), 0.0)) * height  # feet to head top, plus the jump
    ground = rng.uniform(min(top_need + J, CH - J - 2), CH - J - 2)
    hip_y = ground - (HIP_HEIGHT + lifts) * height
    return Track(action_name, poses, hip_x, hip_y, height, facing, look, held, travel, follow)


def render_clip(action_name: str, style: GroupStyle, rng: np.random.Generator, *, frames: int,
                fps: float, size: tuple[int, int], diff: Difficulty, held: tuple | None = None,
                lane: int = 0, others: tuple = (), every_mask: bool = False):
    """-> uint8 frames (F, H, W, 3), bool actor masks (F, H, W).

    ``others``: (action, lane) of the other people in the scene, who never hold anything; the
    canvas is split into ``diff.actors`` lanes where they start, the labelled actor in ``lane``;
    they may walk past each other (the nearer one hides the farther). With others, the camera
    pans on its own (``diff.pan``), and every actor travels on screen as a lone actor would under
    a camera following them (less than their steps say). The masks cover
    the labelled actor (and the ball it holds) only; ``every_mask`` also returns each other
    actor's masks (F, H, W) in a list (for tests)."""
    W, H = size
    J = int(np.ceil(diff.jitter))
    CH, CW = H + 2 * J, W + 2 * J
    lanes = max(diff.actors, 1)

    def lane_of(i):
        return (i / lanes, (i + 1) / lanes)

    kw = dict(frames=frames, fps=fps, H=H, CW=CW, CH=CH, J=J)
    main = _track(action_name, style.look, style.scale, rng, lane=lane_of(lane),
                  held=None if held is None else (held, diff.ball), **kw)
    times = np.arange(frames) / fps

    strip = _background_strip(style, CH, CW)
    SH, SW, _ = strip.shape
    oy = int(style.origin[1] * (SH - CH))
    ox0 = style.origin[0] * SW + rng.uniform(0, SW)
    idle = rng.uniform(-1, 1) * diff.pan
    # one actor: the camera follows them (as handheld sports footage). Several: it follows no one,
    # or the background's motion alone would tell which of them is labelled
    follow = main.facing * main.follow * main.travel if not others else 0.0
    pan = ox0 + follow + idle * times
    shake = np.cumsum(rng.normal(0, diff.jitter / 2, (frames, 2)), axis=0)
    shake = np.clip(shake, -J, J).round().astype(int) if J else np.zeros((frames, 2), int)
    distractors = _distractors(rng, diff.distractors, CH, CW)
    tracks = [main] + [_track(a, random_look(rng), float(rng.uniform(*diff.actor_scale)), rng,
                              lane=lane_of(i), **kw) for a, i in others]
    order = sorted(range(len(tracks)), key=lambda i: tracks[i].hip_y[0] + HIP_HEIGHT *
                   tracks[i].height)  # the farther (higher) feet first

    out = np.empty((frames, H, W, 3), np.uint8)
    masks = np.empty((len(tracks) if every_mask else 1, frames, H, W), bool)
    for f in range(frames):
        cols = (int(pan[f]) + np.arange(CW)) % SW
        canvas = strip[oy:oy + CH][:, cols].copy()
        for d in distractors:
            p = d["pos"] + d["vel"] * times[f]
            p = np.abs((p + [CW, CH]) % (2 * np.array([CW, CH])) - [CW, CH])  # bounce off walls
            _draw_distractor(canvas, d, p)
        mask = np.zeros((len(tracks), CH, CW), bool)
        for k, i in enumerate(order):
            t = tracks[i]
            draw_figure(canvas, mask[i], t.poses[f], t.look, hip_xy=(t.hip_x[f], t.hip_y[f]),
                        height=t.height, facing=t.facing, frontal=ACTIONS[t.action].frontal,
                        held=t.held)
            for j in order[:k]:  # a nearer actor hides the ones behind it
                mask[j] &= ~mask[i]
        dy, dx = J + shake[f, 0], J + shake[f, 1]
        out[f] = (np.clip(canvas[dy:dy + H, dx:dx + W], 0, 1) * 255 + 0.5).astype(np.uint8)
        masks[:, f] = mask[: masks.shape[0], dy:dy + H, dx:dx + W]
    if every_mask:
        return out, masks[0], list(masks[1:])
    return out, masks[0]
