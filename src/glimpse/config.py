"""Training settings, saved into every run folder; unknown keys fail loudly.

(Each model's own options live beside it, as its ``Config`` dataclass in ``glimpse.models``.)
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from glimpse import GlimpseError


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


@dataclass
class TrainConfig:
    epochs: int = 10  # paper 000
    batch_size: int = 256  # paper 000
    lr: float = 1e-4  # paper 000, Adam
    optimizer: str = "adam"  # adam (papers 000, 004) or sgd with momentum (paper 001)
    momentum: float = 0.9  # sgd's momentum (paper 001)
    gamma: float = 1e-5  # weight decay as the explicit gamma * sum theta^2 (paper 000, 002)
    clip_len: int = 30  # T (paper 000)
    stride: int = 2  # d (paper 000)
    sampling: str | None = None  # "segments" | "uniform" (None: the model's own; see clips.py)
    eval_clip_len: int | None = None  # T at evaluation (None: clip_len; paper 001 tests on 32)
    seed: int = 0
    split_seed: int = 0  # which group draw is test
    split: str | None = None  # an official split of the dataset (extract --format), e.g. "1"
    test_fraction: float = 0.4  # paper 000's UCF-11: 10 of 25 groups
    val_fraction: float = 0.2  # of the training groups, for model selection
    device: str = "cpu"
    checkpoint_every: int = 0  # steps between mid-epoch checkpoints (0: end of epoch only)
    lr_schedule: str = "constant"  # constant (the papers'), step or cosine (to 0 at `epochs`)
    warmup_epochs: float = 0.0  # linear warm-up from 0 over this many epochs (batch by batch)
    lr_step: int = 10  # step: epochs between decays
    lr_decay: float = 0.1  # step: the factor at each decay
    patience: int = 0  # stop when validation top-1 has not risen for this many epochs (0: off)
    clip_grad: float = 0.0  # the gradients' global norm clipped to this (0: no clipping)
    amp: str = "off"  # mixed precision: off, bf16 (CPU, CUDA) or fp16 (CUDA; glimpse.amp)
    workers: int = 0  # DataLoader worker processes for the training batches (0: in-process)
    recipe: str | None = None  # the recipe the settings came from (glimpse.recipes), a record

    def __post_init__(self):
        if self.lr_schedule not in SCHEDULES:
            raise GlimpseError(f"lr_schedule must be one of {', '.join(SCHEDULES)}, got "
                               f"'{self.lr_schedule}'")
        if self.optimizer not in OPTIMIZERS:
            raise GlimpseError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got "
                               f"'{self.optimizer}'")

    def to_dict(self) -> dict:
        return asdict(self)


def read_settings(path) -> dict:
    """The settings of a YAML or JSON file as one flat mapping of ``glimpse train``'s option
    names: a run's config.json (``model``, its options, the training settings, ``features``)
    or a mapping of option names (dashes or underscores)."""
    path = Path(path)
    text = path.read_text()
    if path.suffix.lower() in (".yaml", ".yml"):
        import yaml

        data = yaml.safe_load(text)
    else:
        data = json.loads(text)
    if not isinstance(data, dict):
        raise GlimpseError(f"{path}: expected a mapping of settings")
    if isinstance(data.get("model"), dict):  # a run's config.json
        values = {"model": data["model"]["name"], **data["model"].get("options", {}),
                  **data.get("train", {})}
        if "features" in data:
            values["features"] = data["features"]
    else:
        values = {k.replace("-", "_"): v for k, v in data.items()}
    if "features" in values:
        values["features"] = Path(values["features"])
    return values
