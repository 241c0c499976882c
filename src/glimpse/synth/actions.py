"""Per-class joint-angle trajectories.

A pose is a set of absolute limb angles in the image plane, in radians measured from straight
down, positive towards the direction the figure travels (profile classes) or towards image right
(frontal classes), plus the torso's lean, a vertical lift (in figure heights) and the distance
travelled so far (in figure heights). Each action maps its phase p (radians; one cycle = 2 pi)
to a pose. jump and jump-in-place differ only by travel, walk / run / skip by rhythm and speed:
those classes need motion over time, not one frame.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

LIMBS = ("upper_arm_l", "lower_arm_l", "upper_arm_r", "lower_arm_r",
         "thigh_l", "shin_l", "thigh_r", "shin_r")


@dataclass(frozen=True)
class Pose:
    angles: dict  # limb name -> absolute angle
    lean: float  # torso angle from vertical, positive = forward
    lift: float  # vertical lift of the hip, figure heights
    travel: float  # horizontal distance travelled, figure heights


@dataclass(frozen=True)
class Action:
    name: str
    pose: Callable[[float], Pose]
    cycle_s: float  # seconds per cycle at speed 1
    frontal: bool  # drawn facing the camera (limbs mirrored left/right)


def _pos(x):
    return max(0.0, x)


def _limbs(sh_l, el_l, sh_r, el_r, hip_l, kn_l, hip_r, kn_r) -> dict:
    """Absolute angles from shoulder/hip angles and elbow/knee flexion (elbow bends forward,
    knee backward)."""
    return {"upper_arm_l": sh_l, "lower_arm_l": sh_l + el_l, "upper_arm_r": sh_r,
            "lower_arm_r": sh_r + el_r, "thigh_l": hip_l, "shin_l": hip_l - kn_l,
            "thigh_r": hip_r, "shin_r": hip_r - kn_r}


def _gait(p, *, hip, knee, arm, elbow, lean, bob, travel, hop=0.0):
    s, c = np.sin(p), np.cos(p)
    angles = _limbs(-arm * s, elbow, arm * s, elbow,
                    hip * s, 0.15 + knee * _pos(c), -hip * s, 0.15 + knee * _pos(-c))
    lift = bob * abs(c) + hop * _pos(np.sin(2 * p))
    return Pose(angles, lean, lift, travel * p / (2 * np.pi))


def walk(p):
    return _gait(p, hip=0.45, knee=0.6, arm=0.35, elbow=0.3, lean=0.05, bob=0.015, travel=0.8)


def run(p):
    return _gait(p, hip=0.8, knee=1.4, arm=0.8, elbow=1.5, lean=0.28, bob=0.06, travel=2.0)


def skip(p):
    return _gait(p, hip=0.6, knee=1.1, arm=1.0, elbow=0.4, lean=0.08, bob=0.0, travel=1.3,
                 hop=0.12)


def _airborne(p):
    """1 - cos ramp of the flight (first half of the cycle), then rest."""
    q = p % (2 * np.pi)
    return np.floor(p / (2 * np.pi)) + (0.5 - 0.5 * np.cos(min(q, np.pi)) if q < np.pi else 1.0)


def _jump(p, travel):
    air, crouch = _pos(np.sin(p)), _pos(-np.sin(p))
    sh = -0.9 * crouch + 2.5 * air
    angles = _limbs(sh, 0.2, sh, 0.2, 0.9 * crouch, 1.6 * crouch + 0.1, 0.9 * crouch,
                    1.6 * crouch + 0.1)
    return Pose(angles, 0.45 * crouch, 0.28 * air - 0.12 * crouch, travel * _airborne(p))


def jump(p):
    return _jump(p, 0.9)


def jump_in_place(p):
    return _jump(p, 0.0)


def gallop_sideways(p):
    lead = _pos(np.sin(p))
    trail = _pos(np.sin(p - 1.2))
    angles = _limbs(-1.2 - 0.2 * np.sin(p), -0.2, 1.2 + 0.2 * np.sin(p), 0.2,
                    -0.12 - 0.35 * trail, 0.1, 0.12 + 0.45 * lead, 0.1)
    return Pose(angles, 0.0, 0.12 * _pos(np.sin(p + 0.6)), 1.2 * p / (2 * np.pi))


def bend(p):
    b = 0.5 - 0.5 * np.cos(p)
    angles = _limbs(0.25 * b, 0.1, 0.35 * b, 0.1, 0.0, 0.25 * b, 0.0, 0.25 * b)
    return Pose(angles, 1.35 * b, -0.05 * b, 0.0)


def _stand_legs():
    return -0.1, 0.05, 0.1, 0.05


def wave_one_hand(p):
    hip_l, kn_l, hip_r, kn_r = _stand_legs()
    w = np.sin(p)
    angles = _limbs(-0.12, 0.05, 2.6 + 0.3 * w, 0.5 * w, hip_l, kn_l, hip_r, kn_r)
    return Pose(angles, 0.0, 0.0, 0.0)


def wave_two_hands(p):
    hip_l, kn_l, hip_r, kn_r = _stand_legs()
    w = np.sin(p)
    angles = _limbs(-(2.6 + 0.3 * w), -0.5 * w, 2.6 + 0.3 * w, 0.5 * w, hip_l, kn_l, hip_r, kn_r)
    return Pose(angles, 0.0, 0.0, 0.0)


def jumping_jack(p):
    o = 0.5 - 0.5 * np.cos(p)
    a, legs = 0.15 + 2.7 * o, 0.08 + 0.38 * o
    angles = _limbs(-a, -0.1, a, 0.1, -legs, 0.05, legs, 0.05)
    return Pose(angles, 0.0, 0.09 * abs(np.sin(p)), 0.0)


ACTIONS = {a.name: a for a in (
    Action("walk", walk, 1.1, False),
    Action("run", run, 0.7, False),
    Action("jump", jump, 0.9, False),
    Action("jump_in_place", jump_in_place, 0.9, False),
    Action("gallop_sideways", gallop_sideways, 0.7, True),
    Action("skip", skip, 0.9, False),
    Action("bend", bend, 2.4, False),
    Action("wave_one_hand", wave_one_hand, 0.7, True),
    Action("wave_two_hands", wave_two_hands, 0.7, True),
    Action("jumping_jack", jumping_jack, 0.9, True),
)}
CLASSES = tuple(ACTIONS)
