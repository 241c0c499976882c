"""A model option: a ``Config`` field with its help, its allowed values and its check.

Every model's ``Config`` declares its options with ``option(...)``; the CLI builds ``glimpse
train``'s flags from them (``glimpse.cli``) and ``check`` refuses a bad value before a run folder
is made. Nothing about an option is written twice.

    lam: float = option(1e-4, "lambda, the penalty's weight (paper 000)", check=NONNEGATIVE)
    fusion: str = option("max", "A-M fusion of the two streams' weights", choices=("max", "mean"))

A bool option becomes ``--name`` when its default is False and ``--no-name`` when it is True.
``cli=False`` keeps an option off ``glimpse train`` (set elsewhere, e.g. by ``evaluate``).
"""

from __future__ import annotations

from dataclasses import MISSING, Field, field, fields
from typing import Any, NamedTuple

from glimpse import GlimpseError


class Check(NamedTuple):
    ok: Any  # value -> bool
    want: str  # "a number >= 0"


POSITIVE = Check(lambda v: v >= 1, "a whole number >= 1")
NONNEGATIVE = Check(lambda v: v >= 0, "a number >= 0")
NONNEGATIVE_INT = Check(lambda v: v >= 0, "a whole number >= 0")
FRACTION = Check(lambda v: 0 <= v < 1, "a number in [0, 1)")
OPEN_FRACTION = Check(lambda v: 0 < v < 1, "a fraction between 0 and 1")


def option(default, help: str, *, choices: tuple | None = None, check: Check | None = None,
           cli: bool = True) -> Any:
    """A Config field with what the CLI and ``check`` need to know about it."""
    return field(default=default, metadata={"help": help, "choices": choices, "check": check,
                                            "cli": cli})


def described(cls) -> list[Field]:
    """The fields of a Config that carry an option's description."""
    return [f for f in fields(cls) if "help" in f.metadata]


def default_of(f: Field):
    return None if f.default is MISSING else f.default


def check(model: str, cfg) -> None:
    """Refuse a value outside an option's choices or check, naming the option and the model."""
    for f in described(type(cfg)):
        value, meta = getattr(cfg, f.name), f.metadata
        if value is None and default_of(f) is None:
            continue
        if meta["choices"] is not None and value not in meta["choices"]:
            raise GlimpseError(f"{model}: {f.name} must be one of "
                               f"{', '.join(map(str, meta['choices']))}, got '{value}'")
        c = meta["check"]
        if c is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                              or not c.ok(value)):
            raise GlimpseError(f"{model}: {f.name} must be {c.want}, got {value!r}")


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
