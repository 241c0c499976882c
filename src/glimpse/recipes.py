"""Training recipes: named sets of training settings, one flag to pick (``glimpse train --recipe
NAME``; ``api.train(..., recipe=NAME)``).

A recipe sets ``TrainConfig`` fields (the optimizer, its rate and schedule, weight decay, batch,
epochs); a setting given on the command line, in ``--config`` or to ``api.train`` wins over the
recipe's. The run's config.json records the recipe's name beside the settings it resolved to,
so the run re-runs as it trained whatever the recipe later becomes.

Where a paper gives its optimizer the recipe is the paper's (named ``paperNNN``, its settings
quoted from the paper); where a paper is silent there is no paper recipe. ``glimpse`` is the
re-tests' recipe (docs/retest): Adam at 1e-3, batch 32, weight decay 1e-5.

The ``stable-*`` recipes are those the seed-stability check chose on validation, by rules
written before their runs (docs/retest/stability.md), for the configurations where glimpse's
recipe let one seed in five lock its attention on the background. Such a recipe may also set
model options (``options``); it is then for the models it names (``models``) and refused for
the others.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from glimpse import GlimpseError


@dataclass(frozen=True)
class Recipe:
    settings: dict = field(default_factory=dict)  # TrainConfig fields
    source: str = ""  # where the settings come from (one line, shown in --help)
    options: dict = field(default_factory=dict)  # model options (then ``models`` is not empty)
    models: tuple[str, ...] = ()  # the models it is for (empty: any)


_GLIMPSE = {"optimizer": "adam", "lr": 1e-3, "gamma": 1e-5, "batch_size": 32}
_SHARP = {"gamma_a": 1.0, "gamma_b": 1.0}  # paper 001's JHMDB sharpness (rstan's options)


RECIPES = {
    "glimpse": Recipe(_GLIMPSE, "the re-tests' recipe (docs/retest): Adam 1e-3, batch 32, "
                      "weight decay 1e-5"),
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
    # docs/retest/stability.md, W1: chosen on validation for paper 001's S-T attention on one
    # stream without the actor term (rgb: test SD 3.2 over 5 seeds, glimpse's recipe 14.7;
    # flow: 3.3, was 4.0); the A-M fusions were chosen with the sharpness alone (below)
    "stable-rstan": Recipe({**_GLIMPSE, "warmup_epochs": 2.0},
                           "rstan without the actor term: glimpse's, paper 001's JHMDB sharpness "
                           "(gamma_a = gamma_b = 1) and a 2-epoch warm-up; no seed of S-T rgb or "
                           "flow collapsed on 5 (docs/retest/stability.md, W1)",
                           options=_SHARP, models=("rstan",)),
    # R2: chosen on validation for paper 001's A-M fusions without the actor term (test SD
    # 2.0 / 1.9 over 5 seeds, glimpse's recipe 28.7 / 23.1); W1's warm-up is untested there
    "stable-rstan-am": Recipe(dict(_GLIMPSE),
                              "rstan's A-M fusion without the actor term: glimpse's and paper "
                              "001's JHMDB sharpness (gamma_a = gamma_b = 1); no seed of A-M max "
                              "or mean collapsed on 5 (docs/retest/stability.md, R2)",
                              options=_SHARP, models=("rstan",)),
    # W3: chosen for paper 004's N = 5 budget (test SD 3.2, was 10.2) and for N read as m = 5
    # glimpses a step (validation SD 3.8; test 5.4); on every step it moved the slow start to
    # another seed (not kept there)
    "stable-hard-n5": Recipe({**_GLIMPSE, "warmup_epochs": 2.0},
                             "reinforce with a budget of glimpse steps (--glimpse-steps 5) or 5 "
                             "glimpses a step: glimpse's and a 2-epoch warm-up (docs/retest/"
                             "stability.md, W3); "
                             "not for every step, where it moved a slow start to another seed",
                             models=("reinforce",)),
    # J5: chosen on validation for paper 003's joint model, whose convnets' first units died in
    # the first Adam steps (glimpse's recipe left one seed in five at chance); validation SD 2.7
    # over 10 seeds, test SD 1.9 on seeds 0-4; paper 003's joint rows train under it
    "stable-joint": Recipe(dict(_GLIMPSE),
                           "joint: glimpse's, the regularizer's weight warmed up over 10 epochs, "
                           "the convnets trained by their own heads alone (paper 003's partly "
                           "independent training) and a leaky first convolution (slope 0.01); "
                           "no seed of ten on the plateau (docs/retest/stability.md, J5)",
                           options={"lam_warmup": 10.0, "lstm_into_conv": 0.0,
                                    "conv1_slope": 0.01}, models=("joint",)),
}


def _recipe(name: str) -> Recipe:
    """Recipe ``name``; an unknown name is one line listing the known."""
    if name not in RECIPES:
        raise GlimpseError(f"unknown recipe '{name}' (known: {', '.join(RECIPES)})")
    return RECIPES[name]


def recipe_settings(name: str | None) -> dict:
    """The settings of recipe ``name`` (None: none) with the recipe's name among them."""
    if name is None:
        return {}
    return {**_recipe(name).settings, "recipe": name}


def recipe_options(name: str | None, model: str | None) -> dict:
    """The model options recipe ``name`` sets for ``model`` (None: none); a recipe for other
    models is refused in one line."""
    if name is None:
        return {}
    r = _recipe(name)
    if r.models and model is not None and model not in r.models:
        raise GlimpseError(f"recipe '{name}' is for model {' / '.join(r.models)}, not "
                           f"'{model}' (recipes for any model: "
                           f"{', '.join(n for n, x in RECIPES.items() if not x.models)})")
    return dict(r.options)


def recipe_defaults(name: str | None, model: str | None) -> dict:
    """What recipe ``name`` sets for ``model``: its training settings and model options, the
    defaults a command line, config file or ``api.train`` call then overrides."""
    return {**recipe_settings(name), **recipe_options(name, model)}


def describe() -> str:
    """The recipes, one line each, for ``glimpse train --help``."""
    return "\n".join(f"  {name}: {r.source}" for name, r in RECIPES.items())

