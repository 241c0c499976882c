"""The README's Python API example runs as it is written, on a tiny SynthActions folder; the
API's prediction equals the CLI's."""

import os
import re
from pathlib import Path

import numpy as np

from tests.conftest import small_videos

README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_readmes_api_example_runs(tmp_path, capsys):
    block = re.search(r"## Python API\n\n```python\n(.*?)```", README.read_text(), re.S).group(1)
    small_videos(tmp_path / "videos", frames=12, groups=3)
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        scope: dict = {}
        exec(compile(block, "README.md (Python API)", "exec"), scope)
    finally:
        os.chdir(cwd)
    p = scope["p"]
    assert p.label in scope["model"].labels and len(p.scores) == 2 and p.clips >= 1
    assert np.isclose(sum(p.scores.values()), 1, atol=1e-5)
    assert p.attention.shape[1:] == (8, 8) and len(p.attention) == 12  # every frame of the array
    out = capsys.readouterr().out
    assert "(" in out  # the printed label, score and attention shape

    from glimpse.cli import main

    video = sorted((tmp_path / "videos").rglob("*.avi"))[0]
    assert main(["predict", str(tmp_path / "runs" / "soft"), str(video)]) == 0
    first = scope["model"].predict(video)
    assert f"{first.label}" in capsys.readouterr().out


def test_api_train_names_training_settings_and_model_options_alike(tmp_path):
    """A misspelt setting is refused before any work, naming both kinds of setting; a recipe
    is one argument and a setting given beside it wins."""
    import json

    import pytest

    from glimpse import GlimpseError, api

    small_videos(tmp_path / "videos", frames=8)
    api.extract(tmp_path / "videos", tmp_path / "feats", fps=0)
    with pytest.raises(GlimpseError, match=r"unknown setting\(s\) lr_shedule: neither a "
                                           r"training setting \(.*lr_schedule.*\) nor an option "
                                           r"of model 'soft' \(hidden, "):
        api.train(tmp_path / "x", features=tmp_path / "feats", model="soft", lr_shedule="cosine")
    assert not (tmp_path / "x").exists()
    api.train(tmp_path / "r", features=tmp_path / "feats", model="avgpool", hidden=4, epochs=1,
              clip_len=4, stride=4, recipe="paper001", lr=0.02)
    train = json.loads((tmp_path / "r" / "config.json").read_text())["train"]
    assert (train["recipe"], train["optimizer"], train["lr"]) == ("paper001", "sgd", 0.02)
