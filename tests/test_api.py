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
    ps = scope["ps"]
    assert [q.video for q in ps] == [str(v) for v in scope["videos"][:2]]
    assert all(len(q.top) == 1 and q.top[0][0] == q.label for q in ps)
    import torch

    assert isinstance(scope["module"], torch.nn.Module)
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
    with pytest.raises(GlimpseError, match="recipe 'stable-rstan' is for model rstan, not 'soft'"):
        api.train(tmp_path / "x", features=tmp_path / "feats", model="soft",
                  recipe="stable-rstan")
    assert not (tmp_path / "x").exists()
    api.train(tmp_path / "r", features=tmp_path / "feats", model="avgpool", hidden=4, epochs=1,
              clip_len=4, stride=4, recipe="paper001", lr=0.02)
    train = json.loads((tmp_path / "r" / "config.json").read_text())["train"]
    assert (train["recipe"], train["optimizer"], train["lr"]) == ("paper001", "sgd", 0.02)


def test_the_model_takes_tensors_lists_and_frame_folders_and_its_module_scores_alike(tmp_path):
    """A torch tensor predicts as the same numpy frames do; top_k; a frame folder's fps is
    used; bad frames and top_k are one clear error; module() gives predict's scores and
    attention for a clip of T frames; train returns the model it trained."""
    import pytest
    import torch
    from PIL import Image

    from glimpse import GlimpseError, api

    small_videos(tmp_path / "videos", frames=8)
    api.extract(tmp_path / "videos", tmp_path / "feats", fps=0)
    model = api.train(tmp_path / "run", features=tmp_path / "feats", model="structured",
                      hidden=4, epochs=1, clip_len=4, stride=2, batch_size=4)
    assert isinstance(model, api.Model) and model.best["val_top1"] >= 0
    frames = np.random.default_rng(0).integers(0, 256, (4, 256, 256, 3), dtype=np.uint8)
    a, b = model.predict(frames), model.predict(torch.from_numpy(frames), top_k=2)
    assert a.scores == b.scores and len(b.top) == 2 and b.top[0][0] == b.label
    with torch.no_grad():
        scores, attention = model.module()(torch.from_numpy(frames))
    assert np.allclose([a.scores[k] for k in model.labels], scores.numpy(), atol=1e-4)
    assert np.allclose(a.attention, attention.numpy(), atol=1e-4)
    folder = tmp_path / "frames"
    folder.mkdir()
    for i, f in enumerate(np.repeat(frames, 3, axis=0)):
        Image.fromarray(f).save(folder / f"{i:05d}.png")
    assert len(model.predict(folder, fps=10).times) == 12
    assert model.predict(folder, fps=10).times[1] == pytest.approx(0.1)
    for bad, message in ((frames.astype(np.float32), "uint8"), (frames[0], "uint8")):
        with pytest.raises(GlimpseError, match=message):
            model.predict(bad)
    with pytest.raises(GlimpseError, match="top_k"):
        model.predict(frames, top_k=0)
