"""Training recipes (glimpse.recipes): named settings, one flag, recorded in the run; flags and
config files win over them; SGD with momentum for paper 001's."""

import json

import pytest
import torch

from glimpse import GlimpseError
from glimpse.cli import main
from glimpse.config import TrainConfig
from glimpse.recipes import RECIPES, recipe_settings
from glimpse.train import make_optimizer
from tests.conftest import small_store


@pytest.fixture(scope="module")
def tiny_store(tmp_path_factory):
    return small_store(tmp_path_factory.mktemp("recipes"))


def test_every_recipe_is_a_valid_training_config():
    for name in RECIPES:
        tc = TrainConfig(**recipe_settings(name))
        assert tc.recipe == name
    assert recipe_settings("paper001")["optimizer"] == "sgd"
    assert recipe_settings(None) == {}
    with pytest.raises(GlimpseError, match="unknown recipe 'nope'"):
        recipe_settings("nope")


def test_sgd_takes_a_momentum_step_by_hand():
    """Two SGD steps with momentum 0.9 on f(w) = w^2 / 2 (gradient w), lr 0.1, from w = 1:
    v1 = 1, w1 = 0.9; v2 = 0.9 * 1 + 0.9 = 1.8, w2 = 0.9 - 0.18 = 0.72."""
    w = torch.nn.Parameter(torch.tensor([1.0]))
    opt = make_optimizer([{"params": [w]}], TrainConfig(optimizer="sgd", lr=0.1, momentum=0.9))
    assert isinstance(opt, torch.optim.SGD)
    for _ in range(2):
        opt.zero_grad()
        (w ** 2 / 2).sum().backward()
        opt.step()
    assert w.item() == pytest.approx(0.72)
    assert isinstance(make_optimizer([{"params": [w]}], TrainConfig()), torch.optim.Adam)
    with pytest.raises(GlimpseError, match="optimizer must be one of adam, sgd"):
        TrainConfig(optimizer="lbfgs")


def test_a_recipe_sets_the_run_and_flags_and_files_win(tiny_store, tmp_path):
    """--recipe paper001 trains with SGD at its settings, recorded in config.json; --epochs on
    the line and lr in a --config file win over the recipe's."""
    run = tmp_path / "sgd"
    common = ["--model", "avgpool", "--hidden", "8", "--batch-size", "4", "--clip-len", "6",
              "--stride", "3", "--quiet"]
    assert main(["train", str(tiny_store), "--recipe", "paper001", "--epochs", "1",
                 "--out", str(run), *common]) == 0
    train = json.loads((run / "config.json").read_text())["train"]
    assert train["recipe"] == "paper001" and train["optimizer"] == "sgd"
    assert train["momentum"] == 0.9 and train["gamma"] == 5e-4 and train["lr"] == 1e-2
    assert train["lr_schedule"] == "step" and train["epochs"] == 1
    settings = tmp_path / "s.yaml"
    settings.write_text("lr: 0.05\n")
    run2 = tmp_path / "sgd2"
    assert main(["train", str(tiny_store), "--recipe", "paper001", "--config", str(settings),
                 "--epochs", "1", "--out", str(run2), *common]) == 0
    train = json.loads((run2 / "config.json").read_text())["train"]
    assert train["lr"] == 0.05 and train["optimizer"] == "sgd"
    # a run's config.json re-runs under the recipe it names, with its own resolved values
    run3 = tmp_path / "again"
    assert main(["train", "--config", str(run / "config.json"), "--out", str(run3),
                 "--quiet"]) == 0
    assert json.loads((run3 / "config.json").read_text())["train"] == \
        json.loads((run / "config.json").read_text())["train"]
