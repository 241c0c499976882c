"""Baselines without learned attention (paper 002 Table 1, paper 000 Table 5).

- ``SoftmaxRegression``: a linear classifier on each frame's full flattened cube (paper 002's
  "softmax regression (full CNN feature cube)"). It attends nowhere: its output has no attention.
- ``AvgPooledLSTM`` / ``MaxPooledLSTM``: paper 002's network on the average- or max-pooled cube,
  so the comparison with ``soft`` isolates the attention. Paper 000's "without attention" row is
  ``glimpse.models.structured.NoAttentionLSTM``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from torch import nn

from glimpse.models import options
from glimpse.models.base import ActionModel
from glimpse.models.lstm import dropout
from glimpse.models.output import ModelOutput
from glimpse.models.soft import PooledConfig, SoftAttentionLSTM, SoftConfig


@dataclass
class SoftmaxRegressionConfig:
    dropout: float = options.dropout(0.5, "dropout on the flattened cube")
    stream: str = options.stream()


class SoftmaxRegression(ActionModel):
    Config = SoftmaxRegressionConfig

    def __init__(self, *, num_classes: int, inputs: dict, cfg: SoftmaxRegressionConfig):
        super().__init__()
        K, D = self.cube_input(inputs, asdict(cfg))
        self.cfg, self.grid, self.dropout = cfg, K, cfg.dropout
        self.classify = nn.Linear(K * K * D, num_classes)

    def forward(self, batch: dict) -> ModelOutput:
        """batch[stream] (B, T, K, K, D) -> scores (B, T, C); no attention."""
        features = self.cube(batch)
        B, T, K, _, D = features.shape
        x = features.reshape(B, T, K * K * D)
        x = dropout(x, self.dropout, self.training)
        return ModelOutput(self.classify(x))


class AvgPooledLSTM(SoftAttentionLSTM):
    Config = PooledConfig
    pool = "avg"

    def __init__(self, *, num_classes: int, inputs: dict, cfg: PooledConfig):
        full = SoftConfig(**asdict(cfg), lam=0.0)
        super().__init__(num_classes=num_classes, inputs=inputs, cfg=full, pool=type(self).pool)
        self.cfg = cfg


class MaxPooledLSTM(AvgPooledLSTM):
    pool = "max"
