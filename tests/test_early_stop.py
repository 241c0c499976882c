"""experiments/early_stop.py: the trainer's patience rule replayed on validation curves."""

import pytest

from tests.conftest import experiment_script


@pytest.fixture(scope="module")
def es():
    return experiment_script("early_stop")


def test_stop_epochs_and_selection_by_hand(es):
    curve = [0.1, 0.3, 0.2, 0.2, 0.2, 0.5]  # best 0.3 at epoch 2, then 0.5 at epoch 6
    assert es.stop_epoch(curve, 3) == 5  # 5 - 2 >= 3 after epoch 5
    assert es.stop_epoch(curve, 4) == 6  # the curve ends first
    assert es.stop_epoch(curve, 1) == 3
    assert es.selected(curve, 5) == 2 and es.selected(curve, 6) == 6
    assert es.stop_epoch([0.2, 0.2, 0.2], 1) == 2  # a tie is no gain


def test_the_summary_counts_minutes_and_changed_selections(es):
    results = {"a_seed0": {"val_curve": [0.1, 0.3, 0.2, 0.2, 0.2, 0.5], "seconds": 360},
               "b_seed0": {"val_curve": [0.1, 0.2, 0.3, 0.4], "seconds": 240},
               "probe_seed0": {"top1": 0.3}}
    s = es.summarize(results, 3)
    assert s["runs"] == 2 and s["minutes"] == pytest.approx(10.0)
    assert s["minutes_early"] == pytest.approx(5 + 4)  # a stops after 5 one-minute epochs
    assert s["changed"] == 1 and s["val_lost_points"] == pytest.approx(20.0)
    assert "| 3 | 2 | 10 | 9 | 10% | 1 | 20.0 |" in es.render([s])

