"""The models, chosen from a plain dict. Every model implements ``glimpse.models.base.ActionModel``:
``forward(batch) -> ModelOutput``, ``loss(output, batch) -> {name: term}``, the streams it reads,
its prediction rule and a ``Config`` dataclass of its options with its paper's defaults.

``ModelConfig`` is what a run saves and ``build_model`` the one way to make a model from it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from glimpse import GlimpseError
from glimpse.config import from_dict
from glimpse.models.base import ActionModel
from glimpse.models.baselines import AvgPooledLSTM, MaxPooledLSTM, SoftmaxRegression
from glimpse.models.joint import JointAttentionLSTM
from glimpse.models.options import check
from glimpse.models.output import ModelOutput
from glimpse.models.reinforce import ReinforceLSTM
from glimpse.models.rstan import RSTAN
from glimpse.models.soft import SoftAttentionLSTM
from glimpse.models.structured import NoAttentionLSTM, StructuredAttentionLSTM

MODELS = {
    "structured": StructuredAttentionLSTM,  # paper 000 (lam = 0: its "classic attention")
    "none": NoAttentionLSTM,  # paper 000 "without attention"
    "soft": SoftAttentionLSTM,  # paper 002
    "avgpool": AvgPooledLSTM,  # paper 002 baselines
    "maxpool": MaxPooledLSTM,
    "softmax-regression": SoftmaxRegression,
    "rstan": RSTAN,  # paper 001
    "joint": JointAttentionLSTM,  # paper 003
    "reinforce": ReinforceLSTM,  # paper 004
}

__all__ = ["MODELS", "ActionModel", "ModelConfig", "ModelOutput", "build_model", "model_class",
           "model_options"]


def model_class(name: str) -> type[ActionModel]:
    if name not in MODELS:
        raise GlimpseError(f"unknown model '{name}'; choose from {', '.join(MODELS)}")
    return MODELS[name]


def model_options(name: str, given: dict | None = None) -> dict:
    """The model's full options: its paper defaults updated with ``given``. An option the model
    does not have fails loudly, naming the ones it has."""
    cls = model_class(name)
    given = dict(given or {})
    known = [f.name for f in fields(cls.Config)]
    unknown = sorted(set(given) - set(known))
    if unknown:
        raise GlimpseError(f"model '{name}' has no option {', '.join(unknown)} "
                           f"(its options: {', '.join(known) or 'none'})")
    cfg = cls.Config(**given)
    check(name, cfg)  # values outside an option's choices or range, before any work
    return asdict(cfg)


@dataclass
class ModelConfig:
    """Saved in every run: enough to rebuild the model, nothing that does not apply to it."""

    name: str
    num_classes: int
    inputs: dict  # stream name -> the store's spec of it (layer, channels, grid)
    options: dict = field(default_factory=dict)  # the model's Config, defaults filled in

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ModelConfig:
        """A saved config. Options a model gained after the run was made take the value that
        reproduces the model the run trained (its class's ``SAVED_BEFORE``), not today's
        default."""
        mc = from_dict(cls, data)
        cls = model_class(mc.name)
        known = {f.name for f in fields(cls.Config)}  # (a subclass may not have its base's)
        before = getattr(cls, "SAVED_BEFORE", {})
        mc.options = {**{k: v for k, v in before.items() if k not in mc.options and k in known},
                      **mc.options}
        return mc


def build_model(cfg: ModelConfig) -> ActionModel:
    cls = model_class(cfg.name)
    missing = [s for s in cls.reads(cfg.options) if s not in cfg.inputs]
    if missing:
        raise GlimpseError(f"model '{cfg.name}' reads stream(s) {', '.join(missing)}, which the "
                           f"config's inputs lack")
    return cls(num_classes=cfg.num_classes, inputs=cfg.inputs,
               cfg=cls.Config(**model_options(cfg.name, cfg.options)))
