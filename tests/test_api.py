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
