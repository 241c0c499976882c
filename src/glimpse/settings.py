"""A setting: a dataclass field with its help, its allowed values and its check, declared once.

The models' ``Config``s declare their options with it (``glimpse.models.options``) and
``TrainConfig`` its training settings (``glimpse.config``); ``glimpse train``'s flags, a
``--config`` file and ``api.train`` all reach the same fields, and ``check`` refuses a bad value
whichever way it came (a flag, a YAML file, a keyword) before anything is written.

    lam: float = setting(1e-4, "lambda, the penalty's weight (paper 000)", check=NONNEGATIVE)
    fusion: str = setting("max", "A-M fusion of the two streams' weights", choices=("max", "mean"))

A bool setting becomes ``--name`` when its default is False and ``--no-name`` when it is True.
``cli=False`` keeps a setting off the command line (set elsewhere, e.g. by ``evaluate``);
``group`` names the ``--help`` section a training setting is listed under.
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
ANY_INT = Check(lambda v: True, "a whole number")


def setting(default, help: str, *, choices: tuple | None = None, check: Check | None = None,
            cli: bool = True, group: str | None = None) -> Any:
    """A dataclass field with what the CLI and ``check`` need to know about it."""
    return field(default=default, metadata={"help": help, "choices": choices, "check": check,
                                            "cli": cli, "group": group})


def described(cls) -> list[Field]:
    """The fields of a dataclass that carry a setting's description."""
    return [f for f in fields(cls) if "help" in f.metadata]


def default_of(f: Field):
    return None if f.default is MISSING else f.default


def base_type(f: Field) -> str:
    """'int', 'float', 'str' or 'bool' from the field's annotation ('int | None' -> 'int')."""
    return str(f.type).replace(" | None", "").replace("Optional[", "").rstrip("]")


def problem(f: Field, value) -> str | None:
    """Why ``value`` is not a valid value of setting ``f`` (None: it is): the wrong type (a
    fraction where a whole number belongs, a list where a name does), a value outside the
    choices, or one its check refuses."""
    if value is None and default_of(f) is None:
        return None
    kind, meta = base_type(f), f.metadata
    c = meta.get("check")
    if kind == "bool" and not isinstance(value, bool):
        return f"must be true or false, got {value!r}"
    if kind == "int" and (isinstance(value, bool) or not isinstance(value, int)):
        return f"must be {c.want if c else 'a whole number'}, got {value!r}"
    if kind == "float" and (isinstance(value, bool) or not isinstance(value, (int, float))):
        return f"must be {c.want if c else 'a number'}, got {value!r}"
    if kind == "str" and not isinstance(value, str):
        return f"must be a name, got {value!r}"
    if meta.get("choices") is not None and value not in meta["choices"]:
        return f"must be one of {', '.join(map(str, meta['choices']))}, got '{value}'"
    if c is not None and not c.ok(value):
        return f"must be {c.want}, got {value!r}"
    return None


def check(owner: str, cfg) -> None:
    """Refuse a value of ``cfg`` (a dataclass of settings) that ``problem`` finds wrong, naming
    the setting and ``owner`` (a model's name, 'train')."""
    for f in described(type(cfg)):
        why = problem(f, getattr(cfg, f.name))
        if why:
            raise GlimpseError(f"{owner}: {f.name} {why}")
