"""The models. Each maps ``forward(features (B, T, K, K, D), mask (B, T))`` to
``scores (B, T, C)`` (logits) and ``attention (B, T, K, K)``, so training, evaluation, prediction
and visualization share one code path.

``MODELS`` is a plain dict from the CLI's model names to a builder; ``build_model(cfg)`` is the one
way to make a model from a ``ModelConfig``.
"""

from __future__ import annotations

from functools import partial

from glimpse import GlimpseError
from glimpse.config import ModelConfig
from glimpse.models.baselines import SoftmaxRegression
from glimpse.models.soft import SoftAttentionLSTM
from glimpse.models.structured import StructuredAttentionLSTM

MODELS = {
    "structured": StructuredAttentionLSTM,  # paper 000 (lam = 0: its "classic attention")
    "none": partial(StructuredAttentionLSTM, attention="uniform"),  # paper 000 "without attention"
    "soft": SoftAttentionLSTM,  # paper 002
    "avgpool": partial(SoftAttentionLSTM, pool="avg"),  # paper 002 baselines
    "maxpool": partial(SoftAttentionLSTM, pool="max"),
    "softmax-regression": SoftmaxRegression,
}


def model_class(name: str):
    if name not in MODELS:
        raise GlimpseError(f"unknown model '{name}'; choose from {', '.join(MODELS)}")
    m = MODELS[name]
    return m.func if isinstance(m, partial) else m


def build_model(cfg: ModelConfig):
    cls = model_class(cfg.name)
    kw = dict(num_classes=cfg.num_classes, feature_dim=cfg.feature_dim, grid=cfg.grid,
              dropout=cfg.dropout)
    if cls is not SoftmaxRegression:
        kw.update(hidden=cfg.hidden, layers=cfg.layers or cls.default_layers)
    if cfg.frame_aware:
        if cls is not StructuredAttentionLSTM or cfg.name != "structured":
            raise GlimpseError("--frame-aware is paper 000's variant: only for --model structured")
        kw["frame_aware"] = True
    return MODELS[cfg.name](**kw)
