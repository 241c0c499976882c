"""experiments/where_attention_went.py: attention mass on the labelled actor, the other people
and the rest, on a two-person SynthActions set whose other person's masks it draws again."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import experiment_script


@pytest.fixture(scope="module")
def wa():
    return experiment_script("where_attention_went")


def _two_people(root: Path, seed: int) -> Path:
    from glimpse.synth import generate
    from glimpse.synth.scene import Difficulty
    from glimpse.synth.writer import SynthConfig

    generate(root, SynthConfig(classes=2, held=("red_ball", "blue_ball"), groups=3,
                               clips_per_group=1, frames=8, width=64, height=64, seed=seed,
                               difficulty=Difficulty(distractors=0, actors=2)),
             jobs=1, progress=False)
    return root


def test_mass_on_the_actor_the_other_person_and_the_rest(wa, tmp_path, capsys):
    from glimpse.cli import main
    from glimpse.evaluate import evaluate_run

    videos = _two_people(tmp_path / "videos", seed=4)
    feats, run = tmp_path / "f", tmp_path / "run"
    assert main(["extract", str(videos), str(feats), "--fps", "0", "--quiet"]) == 0
    assert main(["train", str(feats), "--out", str(run), "--model", "soft", "--hidden", "8",
                 "--epochs", "1", "--clip-len", "4", "--stride", "4", "--batch-size", "2",
                 "--quiet"]) == 0
    cfg = wa.synth_config(videos)
    assert cfg.difficulty.actors == 2 and cfg.held == ("red_ball", "blue_ball")
    r = wa.where(run, cfg)
    assert r["actor"] + r["others"] + r["rest"] == pytest.approx(1.0)
    assert min(r["actor"], r["others"], r["rest"]) >= 0
    assert 0 < r["actor_cells"] < 1 and 0 < r["others_cells"] < 1  # both people on screen
    # the labelled actor's share is the metrics' own mass (the same steps and threshold; the
    # metrics leave out steps where the actor is not visible, so compare on the cells' share)
    metrics = evaluate_run(run, progress=False)
    assert r["actor_cells"] == pytest.approx(metrics["attention"]["uniform_mass_in_mask"],
                                             abs=0.02)
    assert 0 <= r["top_cell"][0] < 8 and 0 < r["top_cell_share"] <= 1

    out = tmp_path / "where.json"
    assert wa.main([str(run), "--videos", str(videos), "--json", str(out)]) == 0
    assert json.loads(out.read_text())[0]["actor"] == pytest.approx(r["actor"])
    assert "| run | attention on the labelled actor" in capsys.readouterr().out

    # another set's videos: the labelled actor's masks drawn again differ from the store's
    other = _two_people(tmp_path / "other", seed=9)
    assert wa.main([str(run), "--videos", str(other)]) == 2
    assert "differ from the store's" in capsys.readouterr().err


def test_the_set_settings_round_trip(wa, tmp_path):
    videos = _two_people(tmp_path / "v", seed=1)
    cfg = wa.synth_config(videos)
    assert wa.clips(cfg)[f"{cfg.class_names[3]}/group_02/{cfg.class_names[3]}_g02_c01.avi"] \
        == (3, 1, 0)
    frames, actor, others = wa.make_clip(cfg, 3, 1, 0, every_mask=True)
    assert len(others) == 1 and not np.any(actor & others[0])  # the nearer one hides the other
