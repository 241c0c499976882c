"""experiments/term_gradients.py: each loss term's value and gradient norm on a model part."""

from __future__ import annotations

import json

import pytest
import torch

from tests.conftest import experiment_script


@pytest.fixture(scope="module")
def tg():
    return experiment_script("term_gradients")


class _Two(torch.nn.Module):
    """w = (1, 2): a = |w|^2 (gradient (2, 4)), b = 3 w_0 (gradient (3, 0)), c = 5 v (not on w)."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.tensor([1.0, 2.0]))
        self.v = torch.nn.Parameter(torch.tensor(1.0))

    def forward(self, batch):
        return self.w

    def loss(self, out, batch):
        return {"a": (out ** 2).sum(), "b": 3 * out[0], "c": 5 * self.v}


def test_values_and_gradient_norms_by_hand(tg):
    g = tg.term_gradients(_Two(), {}, [_Two().w])  # a fresh module: its w is not the one used
    assert g["a"][1] == 0 and g["b"][1] == 0  # the gradient is on the parameters asked for
    net = _Two()
    g = tg.term_gradients(net, {}, [net.w])
    assert g["a"] == pytest.approx((5.0, 20 ** 0.5))
    assert g["b"] == pytest.approx((3.0, 3.0))
    assert g["c"] == pytest.approx((5.0, 0.0))


def test_the_joint_regularizer_pulls_on_the_convnets_in_proportion_to_its_weight(tg):
    from glimpse.models import ModelConfig, build_model

    K, D = 3, 4
    inputs = {"rgb": {"layer": "x", "channels": D, "grid": K},
              "rgb_level2": {"layer": "y", "channels": 2, "grid": K}}
    b = {"rgb": torch.rand(2, 4, K, K, D), "rgb_level2": torch.rand(2, 4, K, K, 2),
         "mask": torch.ones(2, 4, dtype=torch.bool), "label": torch.tensor([0, 1])}
    got = {}
    for lam in (0.1, 1.0):
        torch.manual_seed(0)
        net = build_model(ModelConfig("joint", 2, inputs, {"hidden": 6, "width": 3, "lam": lam}))
        got[lam] = tg.term_gradients(net, b, list(net.conv.parameters()))
    assert got[1.0]["ce"] == pytest.approx(got[0.1]["ce"])  # the same start, the same batch
    assert got[1.0]["ce_3d"] == pytest.approx(got[0.1]["ce_3d"])
    value, norm = got[1.0]["energy_attention"]
    assert value > 0 and norm > 0
    assert got[0.1]["energy_attention"] == pytest.approx((value / 10, norm / 10))
    assert got[1.0]["ce_3d"][1] > 0 and got[1.0]["ce"][1] > 0  # both reach the convnets


def test_a_folder_that_is_not_a_run_is_one_line(tg, tmp_path):
    with pytest.raises(SystemExit, match="not a run folder"):
        tg.main([str(tmp_path)])
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "split.json").write_text("{}")
    with pytest.raises(SystemExit, match="OPTION=VALUE"):
        tg.main([str(tmp_path), "--set", "lam"])
    # a variant's option is checked as glimpse train checks it, before the store is opened
    inputs = {"rgb": {"layer": "x", "channels": 4, "grid": 3},
              "rgb_level2": {"layer": "y", "channels": 2, "grid": 3}}
    (tmp_path / "config.json").write_text(json.dumps(
        {"model": {"name": "joint", "num_classes": 2, "inputs": inputs, "options": {}},
         "features": str(tmp_path / "no-store")}))
    with pytest.raises(SystemExit, match="has no option nosuch"):
        tg.main([str(tmp_path), "--set", "nosuch=1"])
    with pytest.raises(SystemExit, match="lam"):
        tg.main([str(tmp_path), "--set", "lam=-1"])
