"""Training settings, saved into every run folder; unknown keys fail loudly.

(Each model's own options live beside it, as its ``Config`` dataclass in ``glimpse.models``.)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path

from glimpse import GlimpseError
from glimpse.io import parse_json, read_text
from glimpse.recipes import RECIPES
from glimpse.settings import (
    ANY_INT,
    NONNEGATIVE,
    NONNEGATIVE_INT,
    OPEN_FRACTION,
    POSITIVE,
    check,
    problem,
    setting,
)


def from_dict(cls, data: dict):
    """Build ``cls`` from a dict, refusing keys it does not know (never silently ignored)."""
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise GlimpseError(f"unknown {cls.__name__} keys: {', '.join(unknown)} "
                           f"(known: {', '.join(sorted(known))})")
    return cls(**data)


# Settings that do not change what a run computes: a run resumes under other values of these
# (a CPU run continues on CUDA; a finished run is extended with more epochs).
NOT_IDENTITY = ("device", "epochs", "checkpoint_every", "workers", "recipe", "patience")


SCHEDULES = ("constant", "step", "cosine")
OPTIMIZERS = ("adam", "sgd")
AMP_MODES = ("off", "bf16", "fp16")


OPT, CLIPS, DEVICE = "optimization", "clips and split", "device"


@dataclass
class TrainConfig:
    """``glimpse train``'s settings, each declared once (``glimpse.settings``): the CLI's flags,
    a ``--config`` file's keys and ``api.train``'s keywords are these fields, and every value is
    checked here whichever way it came."""

    epochs: int = setting(10, "epochs to train (paper 000: 10); raise it to extend a finished run",
                          check=POSITIVE, group=OPT)
    batch_size: int = setting(256, "clips per batch (paper 000: 256)", check=POSITIVE, group=OPT)
    lr: float = setting(1e-4, "learning rate (paper 000: Adam from 1e-4)", check=NONNEGATIVE,
                        group=OPT)
    optimizer: str = setting("adam", "adam (papers 000, 004) or sgd with --momentum (paper 001)",
                             choices=OPTIMIZERS, group=OPT)
    momentum: float = setting(0.9, "sgd's momentum (paper 001)", check=NONNEGATIVE, group=OPT)
    gamma: float = setting(1e-5, "weight decay as the explicit gamma * sum theta^2 (papers 000, "
                           "002)", check=NONNEGATIVE, group=OPT)
    clip_len: int = setting(30, "T frames per clip (paper 000)", check=POSITIVE, group=CLIPS)
    stride: int = setting(2, "d, frames between clip starts (paper 000)", check=POSITIVE,
                          group=CLIPS)
    sampling: str | None = setting(None, "clips of T consecutive frames every --stride "
                                   "(segments), or one clip of T frames at equal intervals over "
                                   "the whole video, randomly offset in training (uniform, paper "
                                   "001); default: the model's own",
                                   choices=("segments", "uniform"), group=CLIPS)
    eval_clip_len: int | None = setting(None, "T at validation and test (default: --clip-len; "
                                        "paper 001: 32)", check=POSITIVE, group=CLIPS)
    seed: int = setting(0, "the initialization's and the clip order's seed", check=ANY_INT,
                        group=OPT)
    split_seed: int = setting(0, "which draw of the groups is test", check=ANY_INT, group=CLIPS)
    split: str | None = setting(None, "the dataset's official split N (a store made with extract "
                                "--format); validation is carved from its training part",
                                group=CLIPS)
    test_fraction: float = setting(0.4, "the groups held out for test (paper 000's UCF-11: 10 of "
                                   "25)", check=OPEN_FRACTION, group=CLIPS)
    val_fraction: float = setting(0.2, "of the training groups, for model selection",
                                  check=OPEN_FRACTION, group=CLIPS)
    device: str = setting("cpu", "cpu, cuda, cuda:1, ...", group=DEVICE)
    checkpoint_every: int = setting(0, "also checkpoint every N batches (0: each epoch)",
                                    check=NONNEGATIVE_INT, group=OPT)
    lr_schedule: str = setting("constant", "constant (the papers'), step (x --lr-decay every "
                               "--lr-step epochs) or cosine (to 0 at --epochs, batch by batch)",
                               choices=SCHEDULES, group=OPT)
    warmup_epochs: float = setting(0.0, "linear warm-up to the full rate over this many epochs "
                                   "(batch by batch), then the schedule from it",
                                   check=NONNEGATIVE, group=OPT)
    lr_step: int = setting(10, "step schedule: epochs between decays", check=POSITIVE, group=OPT)
    lr_decay: float = setting(0.1, "step schedule: the factor at each decay",
                              check=OPEN_FRACTION, group=OPT)
    patience: int = setting(0, "stop when validation top-1 has not risen for N epochs (0: train "
                            "every epoch); the best checkpoint is kept either way",
                            check=NONNEGATIVE_INT, group=OPT)
    clip_grad: float = setting(0.0, "clip the gradients' global norm to this (0: off; the usual "
                               "guard for LSTMs is 1-5); log.csv's train_grad_norm is the norm "
                               "before clipping", check=NONNEGATIVE, group=OPT)
    amp: str = setting("off", "mixed precision: bf16 (CPU or CUDA) or fp16 (CUDA, with a "
                       "gradient scaler in training); off: float32", choices=AMP_MODES,
                       group=DEVICE)
    workers: int = setting(0, "DataLoader worker processes assembling the batches (0: in the "
                           "training process); the batches are the same either way",
                           check=NONNEGATIVE_INT, group=OPT)
    recipe: str | None = setting(None, "a named set of the settings above (listed at the end); a "
                                 "setting given as a flag, in --config or to api.train wins over "
                                 "the recipe's; config.json records its name",
                                 choices=tuple(RECIPES), group=OPT)

    def __post_init__(self):
        check("train", self)  # every value, from a flag, a file or a keyword, before any work

    def to_dict(self) -> dict:
        return asdict(self)


RUN_CONFIG_KEYS = ("format", "model", "train", "feature", "labels", "features")  # config.json's
SCALARS = (str, int, float, bool, type(None))
MAX_CONFIG_BYTES = 1 << 20  # a settings file is a page of text, not a data set


def _parse_settings_file(path: Path):
    """The file's content as loaded YAML / JSON; every way it can be unreadable is one line
    naming the file (never a traceback, never the loaded value echoed back)."""
    if path.stat().st_size > MAX_CONFIG_BYTES:
        raise GlimpseError(f"{path}: {path.stat().st_size} bytes is not a settings file "
                           f"(at most {MAX_CONFIG_BYTES})")
    text = read_text(path, what="a settings file")
    if path.suffix.lower() in (".yaml", ".yml"):
        import yaml

        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as e:
            where = getattr(e, "problem_mark", None)
            at = f" at line {where.line + 1}, column {where.column + 1}" if where else ""
            what = getattr(e, "problem", None) or type(e).__name__
            raise GlimpseError(f"{path}: not valid YAML{at}: {what}") from None
    return parse_json(text, path, what="a settings file")


def read_settings(path) -> dict:
    """The settings of a YAML or JSON file as one flat mapping of ``glimpse train``'s option
    names: a run's config.json (``model``, its options, the training settings, ``features``)
    or a mapping of option names (dashes or underscores). Paths in it (``features``, ``out``)
    are relative to the file's folder. Every value must be a single value (not a list or a
    mapping), and every training setting passes its declared check, the error naming the file."""
    path = Path(path)
    data = _parse_settings_file(path)
    if not isinstance(data, dict):
        raise GlimpseError(f"{path}: expected a mapping of settings, got "
                           f"{type(data).__name__}")
    if isinstance(data.get("model"), dict):  # a run's config.json
        unknown = sorted(set(data) - set(RUN_CONFIG_KEYS))
        if unknown:
            raise GlimpseError(f"{path}: unknown key(s) {', '.join(map(str, unknown))} beside a "
                               f"run's model and train (a run's config.json has "
                               f"{', '.join(RUN_CONFIG_KEYS)})")
        model, train = data["model"], data.get("train", {})
        if not isinstance(train, dict) or not isinstance(model.get("options", {}), dict):
            raise GlimpseError(f"{path}: 'train' and the model's 'options' must be mappings")
        values = {"model": model.get("name"), **model.get("options", {}), **train}
        if "features" in data:
            values["features"] = data["features"]
    else:
        values = {str(k).replace("-", "_"): v for k, v in data.items()}
    for key, value in values.items():
        if not isinstance(value, SCALARS):
            raise GlimpseError(f"{path}: {key} must be a single value, got a "
                               f"{type(value).__name__}")
    for key in ("features", "out"):
        if values.get(key) is not None:
            p = Path(str(values[key])).expanduser()
            values[key] = p if p.is_absolute() else path.parent / p
    declared = {f.name: f for f in fields(TrainConfig)}
    for key, value in values.items():
        why = problem(declared[key], value) if key in declared else None
        if why:
            raise GlimpseError(f"{path}: {key} {why}")
    return values
