"""SynthActions: an embedded benchmark whose videos make attention matter and measurable.

An articulated figure with thick, textured limbs acts out Weizmann-style actions over panned
real photographs, with moving distractors and camera jitter; per-frame actor masks are saved
beside each encoded clip. See ``writer.generate`` for the on-disk layout.
"""

from glimpse.synth.actions import ACTIONS, CLASSES
from glimpse.synth.writer import PRESETS, SynthConfig, generate

__all__ = ["ACTIONS", "CLASSES", "PRESETS", "SynthConfig", "generate"]
