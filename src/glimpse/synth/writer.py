"""Write SynthActions to disk as real encoded videos in the UCF-11 layout.

Layout::

    OUT/
      synth.json                         the settings and class list (same seed -> same frames)
      <class>/group_<GG>/<class>_g<GG>_c<CC>.<ext>    an encoded clip
      <class>/group_<GG>/<class>_g<GG>_c<CC>.mask.npz the actor mask of every frame
      contact_sheet.png                  one row of frames per class
      contact_sheets/<class>.png         a few clips of one class

A group shares its place and actor (as UCF-11's groups do), so group-disjoint splits test
generalization to new scenes and people. Each file is written under a temporary name and
renamed, so a killed run leaves no half-written clip; re-running skips finished clips.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from glimpse import GlimpseError
from glimpse.datasets.masks import save_masks
from glimpse.io import write_json_atomic
from glimpse.progress import progress_bar
from glimpse.synth.actions import CLASSES
from glimpse.synth.scene import HELD, Difficulty, group_style, render_clip
from glimpse.video import CODEC_FOR_EXT, read_frames, write_video


@dataclass(frozen=True)
class SynthConfig:
    classes: int = 10
    groups: int = 5
    clips_per_group: int = 4
    frames: int = 40
    fps: int = 25
    width: int = 256
    height: int = 256
    ext: str = ".avi"  # MPEG-4 part 2, bit-reproducible (see video.write_video)
    seed: int = 0
    difficulty: Difficulty = field(default_factory=Difficulty)
    held: tuple = ()  # balls the labelled actor holds (HELD): each class is a motion and a ball

    def __post_init__(self):
        if not 1 <= self.classes <= len(CLASSES):
            raise GlimpseError(f"--classes must be 1..{len(CLASSES)}, got {self.classes}")
        if self.groups < 1 or self.clips_per_group < 1 or self.frames < 1:
            raise GlimpseError("--groups, --clips-per-group and --frames must be >= 1")
        if self.ext not in CODEC_FOR_EXT:
            raise GlimpseError(f"--ext must be one of {sorted(CODEC_FOR_EXT)}, got '{self.ext}'")
        if self.width % 2 or self.height % 2 or self.width < 32 or self.height < 32:
            raise GlimpseError("frame width and height must be even and >= 32")
        unknown = [h for h in self.held if h not in HELD]
        if unknown:
            raise GlimpseError(f"unknown held object '{unknown[0]}'; choose from {', '.join(HELD)}")

    @property
    def motions(self) -> tuple[str, ...]:
        return CLASSES[: self.classes]

    @property
    def class_names(self) -> tuple[str, ...]:
        """The motions, or with ``held`` every motion with every ball ('walk_with_red_ball')."""
        if not self.held:
            return self.motions
        return tuple(f"{m}_with_{h}" for m in self.motions for h in self.held)

    def cast(self, c: int, rng: np.random.Generator) -> dict:
        """Who is in clip of class c: the labelled actor's motion, ball and lane, and the
        others' (motion, lane), each other doing a motion of the set other than the label's
        (without repeats while there are enough)."""
        held = self.held[c % len(self.held)] if self.held else None
        motion = self.motions[c // len(self.held)] if self.held else self.motions[c]
        n = max(self.difficulty.actors, 1)
        lane = int(rng.integers(n)) if n > 1 else 0
        pool = [m for m in self.motions if m != motion] or [motion]
        picks = rng.choice(len(pool), n - 1, replace=n - 1 > len(pool)) if n > 1 else []
        lanes = [i for i in range(n) if i != lane]
        return {"action_name": motion, "held": HELD[held] if held else None, "lane": lane,
                "others": tuple((pool[k], i) for k, i in zip(picks, lanes))}


def clip_relpath(cfg: SynthConfig, c: int, g: int, n: int) -> str:
    name = cfg.class_names[c]
    return f"{name}/group_{g + 1:02d}/{name}_g{g + 1:02d}_c{n + 1:02d}{cfg.ext}"


def make_clip(cfg: SynthConfig, c: int, g: int, n: int, **kw):
    """The frames and masks of clip n of group g of class c: a pure function of the seed."""
    style = group_style(np.random.default_rng([cfg.seed, c, g, 1 << 20]), cfg.difficulty)
    rng = np.random.default_rng([cfg.seed, c, g, n])
    cast = cfg.cast(c, np.random.default_rng([cfg.seed, c, g, n, 2]))
    return render_clip(style=style, rng=rng, frames=cfg.frames, fps=cfg.fps,
                       size=(cfg.width, cfg.height), diff=cfg.difficulty, **cast, **kw)


def _write_clip(args) -> str:
    cfg, out, c, g, n = args
    rel = clip_relpath(cfg, c, g, n)
    path = Path(out) / rel
    mask_path = path.with_name(path.name.rsplit(".", 1)[0] + ".mask.npz")
    if path.exists() and mask_path.exists():
        return rel
    path.parent.mkdir(parents=True, exist_ok=True)
    frames, masks = make_clip(cfg, c, g, n)
    tmp_mask = mask_path.with_name(f".tmp-{os.getpid()}-{mask_path.name}")
    save_masks(tmp_mask, masks, cfg.fps)
    os.replace(tmp_mask, mask_path)
    tmp = path.with_name(f".tmp-{os.getpid()}-{path.name}")
    write_video(tmp, frames, cfg.fps)
    os.replace(tmp, path)  # the video appears last: a clip exists only with its masks
    return rel


def contact_sheet(paths, out_png: Path, *, columns: int = 6, cell: int = 128) -> None:
    """A PNG grid: one row per video, ``columns`` frames evenly spread over its length."""
    from PIL import Image

    rows = []
    for p in paths:
        b = read_frames(p, fps=0, size=(cell, cell))
        idx = np.linspace(0, len(b.frames) - 1, columns).round().astype(int)
        rows.append(np.concatenate(list(b.frames[idx]), axis=1))
    sheet = np.concatenate(rows, axis=0)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(sheet).save(out_png, optimize=True)


# Named settings, so anyone can rebuild the exact set behind a table (``glimpse synth --preset``)
PRESETS = {
    # the demo (issue 47): two people, the labelled one holding a red ball, doing one of 5
    # motions while the other does another: the pooled frame holds both motions, so a model
    # must look at the one with the ball. 400 clips of 16 frames at 8 fps (2 s), one a group
    "demo": SynthConfig(classes=5, held=("red_ball",), groups=80, clips_per_group=1, frames=16,
                        fps=8, seed=0,
                        difficulty=Difficulty(actor_scale=(0.4, 0.55), distractors=1, actors=2,
                                              pan=12.0, ball=0.13)),
    # the demo until issue 47 (300 clips of 24 frames, one actor: docs/commands.md's figures)
    "demo-v2": SynthConfig(classes=10, groups=30, clips_per_group=1, frames=24, seed=0,
                           difficulty=Difficulty(actor_scale=(0.5, 0.7), distractors=1)),
    # the demo until issue 22 (400 clips of 40 frames; docs/commands.md's older demo figures)
    "demo-v1": SynthConfig(classes=10, groups=20, clips_per_group=2, frames=40, seed=0,
                           difficulty=Difficulty(actor_scale=(0.5, 0.7), distractors=1)),
    # the re-test of the papers' tables (docs/retest): many groups, so models cannot memorize the
    # scenes and 600 test videos per split resolve a 3-point paired difference
    "retest": SynthConfig(classes=10, groups=150, clips_per_group=1, frames=30, seed=0,
                          difficulty=Difficulty(actor_scale=(0.5, 0.7), distractors=1)),
    # where attention and motion both matter (docs/retest/attention-preset.md): two people, the
    # labelled one holding a ball whose colour is half the class, the other doing another motion
    "attention": SynthConfig(classes=5, held=("red_ball", "blue_ball"), groups=150,
                             clips_per_group=1, frames=30, seed=0,
                             difficulty=Difficulty(actor_scale=(0.3, 0.42), distractors=2,
                                                   actors=2, pan=25.0, ball=0.13)),
    # the first calibration of it (docs/retest/attention-preset.md): three people, a smaller ball
    "attention-3": SynthConfig(classes=5, held=("red_ball", "blue_ball"), groups=150,
                               clips_per_group=1, frames=30, seed=0,
                               difficulty=Difficulty(actor_scale=(0.3, 0.42), distractors=2,
                                                     actors=3, pan=25.0, ball=0.09)),
}


def synth_meta(cfg: SynthConfig) -> dict:
    """synth.json's content. Settings added later are written only when used, so that a set
    made before them resumes (its synth.json still matches)."""
    meta = {"generator": "glimpse.synth", **asdict(cfg), "class_names": list(cfg.class_names)}
    if not cfg.held:
        del meta["held"], meta["difficulty"]["ball"]
    if cfg.difficulty.actors == 1:
        del meta["difficulty"]["actors"]
    return meta


def generate(out: str | Path, cfg: SynthConfig, *, jobs: int | None = None,
             progress: bool = True) -> list[str]:
    """Write the whole set; returns the clips' relative paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    meta = synth_meta(cfg)
    meta_path = out / "synth.json"
    if meta_path.exists():
        old = json.loads(meta_path.read_text())
        if old != json.loads(json.dumps(meta)):
            raise GlimpseError(f"{out} holds a SynthActions set made with other settings; "
                               f"use a new folder")
    tasks = [(cfg, str(out), c, g, n) for c in range(len(cfg.class_names))
             for g in range(cfg.groups)
             for n in range(cfg.clips_per_group)]
    jobs = jobs or min(os.cpu_count() or 1, 8)
    bar = progress_bar(total=len(tasks), unit="clip", desc="synth", enabled=progress)
    rels = []
    if jobs > 1:
        with get_context("spawn").Pool(jobs) as pool:
            for rel in pool.imap(_write_clip, tasks):
                rels.append(rel)
                bar.update(1)
    else:
        for t in tasks:
            rels.append(_write_clip(t))
            bar.update(1)
    bar.close()
    first = {}
    for rel in rels:
        first.setdefault(rel.split("/")[0], []).append(out / rel)
    for name, paths in first.items():
        contact_sheet(paths[:: max(1, len(paths) // 3)][:3], out / "contact_sheets" / f"{name}.png")
    contact_sheet([p[0] for p in first.values()], out / "contact_sheet.png")
    write_json_atomic(meta_path, meta)
    return rels
