"""experiments/first_steps.py: the first optimizer steps replayed from a run's configuration."""

import pytest

from glimpse.cli import main as glimpse
from tests.conftest import experiment_script, small_videos


@pytest.fixture(scope="module")
def fs():
    return experiment_script("first_steps")


def test_the_first_steps_of_a_run_and_of_a_candidate_recipe(fs, tmp_path, capsys):
    videos = small_videos(tmp_path / "videos", frames=8)
    assert glimpse(["extract", str(videos), str(tmp_path / "feats"), "--fps", "0",
                    "--quiet"]) == 0
    run = tmp_path / "run"
    assert glimpse(["train", str(tmp_path / "feats"), "--model", "soft", "--hidden", "8",
                    "--layers", "1", "--epochs", "1", "--batch-size", "1", "--clip-len", "4",
                    "--stride", "4", "--lr", "0.01", "--out", str(run), "--quiet"]) == 0
    rows = fs.first_steps(run, 3)
    assert [r["step"] for r in rows] == [0, 1, 2]
    for r in rows:
        assert 0 <= r["actor_mass"] <= 1 and 0 < r["max_weight"] <= 1
        assert 0 <= r["peak_cell"] < 64 and set(r["grads"]) == {"locate.proj.weight",
                                                               "locate.proj.bias"}
    again = fs.first_steps(run, 3)
    assert again == rows  # seeded as the trainer is: the same replay twice
    sgd = fs.first_steps(run, 3, recipe="paper001")
    assert sgd[0]["actor_mass"] == rows[0]["actor_mass"]  # before any update: the same start
    assert sgd[1]["actor_mass"] != rows[1]["actor_mass"]  # then SGD's step is not Adam's
    assert fs.main([str(run), "--steps", "2"]) == 0
    assert "on the actor" in capsys.readouterr().out
    assert fs.main([str(tmp_path), "--steps", "2"]) == 2
    assert "not a run folder" in capsys.readouterr().err
    assert fs.main([str(run), "--set", "nosuch=1"]) == 2
