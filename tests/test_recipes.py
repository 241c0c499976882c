"""Training recipes (glimpse.recipes): named settings, one flag, recorded in the run; flags and
config files win over them; SGD with momentum for paper 001's."""

import json

import pytest
import torch

from glimpse import GlimpseError
from glimpse.cli import main
from glimpse.config import TrainConfig
from glimpse.models import model_options
from glimpse.recipes import RECIPES, recipe_options, recipe_settings
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
    for name, r in RECIPES.items():  # a recipe's model options are valid options of its models
        assert bool(r.options) <= bool(r.models), name
        for model in r.models:
            resolved = model_options(model, recipe_options(name, model))
            assert all(resolved[k] == v for k, v in r.options.items())


def test_a_stable_recipe_sets_its_models_options_and_refuses_other_models(tiny_store, tmp_path,
                                                                          capsys):
    """stable-rstan (docs/retest/stability.md, W1): gamma_a = gamma_b = 1 and a 2-epoch warm-up
    for rstan, a flag still winning; for another model, one line naming the recipes for any."""
    def resolved(*extra):
        assert main(["train", str(tiny_store), "--out", str(tmp_path / "r"), "--recipe",
                     "stable-rstan", "--print-config", *extra]) == 0
        return json.loads(capsys.readouterr().out)

    got = resolved("--model", "rstan")
    assert (got["options"]["gamma_a"], got["options"]["gamma_b"]) == (1.0, 1.0)
    assert got["train"]["warmup_epochs"] == 2.0 and got["train"]["recipe"] == "stable-rstan"
    assert resolved("--model", "rstan", "--gamma-a", "3")["options"]["gamma_a"] == 3.0
    assert main(["train", str(tiny_store), "--out", str(tmp_path / "s"), "--model", "soft",
                 "--recipe", "stable-rstan", "--print-config"]) == 2
    err = capsys.readouterr().err
    assert "recipe 'stable-rstan' is for model rstan, not 'soft'" in err and "glimpse" in err
    assert recipe_options("stable-hard-n5", "reinforce") == {}
    assert recipe_options("stable-joint", "joint") == {"lam_warmup": 10.0, "lstm_into_conv": 0.0,
                                                       "conv1_slope": 0.01}
    with pytest.raises(GlimpseError, match="recipe 'stable-joint' is for model joint"):
        recipe_options("stable-joint", "soft")
    assert recipe_settings("stable-hard-n5")["warmup_epochs"] == 2.0


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
