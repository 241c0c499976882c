"""A model option: a ``Config`` field with its help, its allowed values and its check (a
``glimpse.settings`` setting, the vocabulary the training settings share).

Every model's ``Config`` declares its options with ``option(...)``; the CLI builds ``glimpse
train``'s flags from them (``glimpse.cli``) and ``check`` refuses a bad value before a run folder
is made. Nothing about an option is written twice.

    lam: float = option(1e-4, "lambda, the penalty's weight (paper 000)", check=NONNEGATIVE)
    fusion: str = option("max", "A-M fusion of the two streams' weights", choices=("max", "mean"))

A bool option becomes ``--name`` when its default is False and ``--no-name`` when it is True.
``cli=False`` keeps an option off ``glimpse train`` (set elsewhere, e.g. by ``evaluate``).
"""

from __future__ import annotations

from typing import Any

from glimpse import settings
from glimpse.settings import (  # noqa: F401 (the vocabulary the models' Configs use)
    FRACTION,
    NONNEGATIVE,
    NONNEGATIVE_INT,
    OPEN_FRACTION,
    POSITIVE,
    Check,
    default_of,
    described,
    setting,
)

check = settings.check  # a model's Config: check(model_name, cfg)


def option(default, help: str, *, choices: tuple | None = None, check: Check | None = None,
           cli: bool = True) -> Any:
    """A model option: a setting (``glimpse.settings``) of a model's Config."""
    return setting(default, help, choices=choices, check=check, cli=cli)


# The options several models share, with one help text each.
def stream(default: str = "rgb", help: str = "the cube stream(s) read: rgb, flow, rgb_level2, "
           "or several joined by + (rgb+flow: side by side)") -> Any:
    return option(default, help)


def hidden(default: int, help: str = "M, the LSTM's hidden size") -> Any:
    return option(default, help, check=POSITIVE)


def layers(default: int, help: str = "LSTM layers") -> Any:
    return option(default, help, check=POSITIVE)


def dropout(default: float, help: str = "dropout on the non-recurrent connections") -> Any:
    return option(default, help, check=FRACTION)
