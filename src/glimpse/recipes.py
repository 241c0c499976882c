"""Training recipes: named sets of training settings, one flag to pick (``glimpse train --recipe
NAME``; ``api.train(..., recipe=NAME)``).

A recipe sets ``TrainConfig`` fields (the optimizer, its rate and schedule, weight decay, batch,
epochs); a setting given on the command line, in ``--config`` or to ``api.train`` wins over the
recipe's. The run's config.json records the recipe's name beside the settings it resolved to,
so the run re-runs as it trained whatever the recipe later becomes.

Where a paper gives its optimizer the recipe is the paper's (named ``paperNNN``, its settings
quoted from the paper); where a paper is silent there is no paper recipe. ``glimpse`` is the
re-tests' recipe (docs/retest): Adam at 1e-3, batch 32, weight decay 1e-5.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from glimpse import GlimpseError


@dataclass(frozen=True)
class Recipe:
    settings: dict = field(default_factory=dict)  # TrainConfig fields
    source: str = ""  # where the settings come from (one line, shown in --help)


RECIPES = {
    "glimpse": Recipe({"optimizer": "adam", "lr": 1e-3, "gamma": 1e-5, "batch_size": 32},
                      "the re-tests' recipe (docs/retest): Adam 1e-3, batch 32, weight decay "
                      "1e-5"),
    "paper000": Recipe({"optimizer": "adam", "lr": 1e-4, "gamma": 1e-5, "batch_size": 256,
                        "epochs": 10},
                       "paper 000 sec. 4.2: Adam from 1e-4, batch 256, gamma 1e-5, 10 epochs"),
    # 12K of 20K iterations: the decay at 60% of the run, epoch 12 of 20
    "paper001": Recipe({"optimizer": "sgd", "momentum": 0.9, "lr": 1e-2, "gamma": 5e-4,
                        "lr_schedule": "step", "lr_step": 12, "lr_decay": 0.1, "epochs": 20},
                       "paper 001 sec. IV-B: SGD, momentum 0.9, weight decay 5e-4, rate 1e-2 "
                       "then 1e-3 after 12K of 20K iterations (here: epoch 12 of 20)"),
    "paper004": Recipe({"optimizer": "adam", "gamma": 1e-5, "epochs": 10},
                       "paper 004 sec. IV-B: Adam, weight decay 1e-5, 10 epochs (its rate is "
                       "not given)"),
}


def recipe_settings(name: str | None) -> dict:
    """The settings of recipe ``name`` (None: none) with the recipe's name among them."""
    if name is None:
        return {}
    if name not in RECIPES:
        raise GlimpseError(f"unknown recipe '{name}' (known: {', '.join(RECIPES)})")
    return {**RECIPES[name].settings, "recipe": name}


def describe() -> str:
    """The recipes, one line each, for ``glimpse train --help``."""
    return "\n".join(f"  {name}: {r.source}" for name, r in RECIPES.items())

