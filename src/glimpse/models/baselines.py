"""Baselines without learned attention.

- ``SoftmaxRegression``: a linear classifier on each frame's full flattened cube (paper 002's
  "softmax regression (full CNN feature cube)"); its attention is reported as uniform.
- The pooled LSTMs are ``SoftAttentionLSTM(pool="avg" | "max")`` and paper 000's "without
  attention" row is ``StructuredAttentionLSTM(attention="uniform")``: the same networks with the
  attention taken out, so the comparison isolates the attention.
"""

from __future__ import annotations

from torch import Tensor, nn

from glimpse.models.lstm import dropout_mask


class SoftmaxRegression(nn.Module):
    penalty = None
    default_layers = 0
    default_lam = 0.0

    def __init__(self, *, num_classes: int, feature_dim: int, grid: int, dropout: float = 0.5):
        super().__init__()
        self.grid, self.dropout = grid, dropout
        self.classify = nn.Linear(grid * grid * feature_dim, num_classes)

    def forward(self, features: Tensor, mask: Tensor | None = None):
        """features (B, T, K, K, D) -> scores (B, T, C), uniform attention (B, T, K, K)."""
        B, T, K, _, D = features.shape
        x = features.reshape(B, T, K * K * D)
        if self.training and self.dropout > 0:
            x = x * dropout_mask(x, self.dropout)
        scores = self.classify(x)
        return scores, features.new_full((B, T, K, K), 1.0 / (K * K))
