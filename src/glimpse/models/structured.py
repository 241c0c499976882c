"""Paper 000: an LSTM whose spatial attention is regularized by an l2,1 block-sparsity prior.

    a(1) = 1 / K^2,  a(t) = softmax(W h2(t-1))            (eq. 8; a(1) uniform, sec. 3.3)
    x(t) = X(t) a(t)                                       (eq. 9)
    h1, h2 = 2-layer LSTM (Zaremba form) over x(t)         (eq. 2-6)
    y(t) = softmax(tanh(B h2(t)))                          (eq. 7)

The l2,1 penalty itself lives in ``glimpse.losses`` (``l21_block_penalty``); lambda = 0 is the
paper's "classic attention" row, ``attention="uniform"`` its "without attention" row (the same
network on the average-pooled cube). ``frame_aware`` is sec. 4.4's variant whose attention also
sees the current frame.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from glimpse.models.attention import FrameSummary, LocationSoftmax, attend
from glimpse.models.lstm import StackedLSTM, dropout_mask


class StructuredAttentionLSTM(nn.Module):
    penalty = "l21"
    default_layers = 2
    default_lam = 1e-4  # paper 000

    def __init__(self, *, num_classes: int, feature_dim: int, grid: int, hidden: int = 512,
                 layers: int = 2, dropout: float = 0.5, frame_aware: bool = False,
                 attention: str = "location"):
        super().__init__()
        if attention not in ("location", "uniform"):
            raise ValueError(f"attention must be 'location' or 'uniform', got {attention!r}")
        self.grid, self.attention_kind = grid, attention
        if attention == "uniform":
            self.penalty = None  # nothing to regularize
        K2 = grid * grid
        self.lstm = StackedLSTM(input_size=feature_dim, hidden=hidden, layers=layers,
                                dropout=dropout)
        self.frame = FrameSummary(feature_dim=feature_dim, cells=K2, out=hidden) if frame_aware \
            else None
        self.locate = LocationSoftmax(query=hidden * (2 if frame_aware else 1), cells=K2) \
            if attention == "location" else None
        self.dropout = dropout
        self.classify = nn.Linear(hidden, num_classes)  # B in eq. 7

    def forward(self, features: Tensor, mask: Tensor | None = None):
        """features (B, T, K, K, D), mask (B, T) bool -> scores (B, T, C), attention (B, T, K, K).

        Scores are the logits tanh(B h2(t)) of eq. 7; softmax gives y(t). Padded steps (mask
        False) are computed but carry no meaning; losses and metrics skip them.
        """
        B, T, K, _, D = features.shape
        cubes = features.reshape(B, T, K * K, D)
        w = self.frame(cubes) if self.frame is not None else None  # (B, T, M)
        state = self.lstm.zero_state(B, features.device, features.dtype)
        uniform = features.new_full((B, K * K), 1.0 / (K * K))
        h_top = state[-1][0]
        tapes = self.lstm.new_tapes()
        tops, weights = [], []
        for t in range(T):
            if self.locate is None or t == 0:
                a = uniform  # a(1) = 1 / K^2: nothing observed yet
            else:
                query = h_top if w is None else torch.cat([h_top, w[:, t]], dim=-1)
                a = self.locate(query)
            h_top, state = self.lstm.step(attend(cubes[:, t], a), state, tapes)
            tops.append(h_top)
            weights.append(a)
        h2 = torch.stack(tops, 1)  # (B, T, M): the head runs once over all steps
        if self.training and self.dropout > 0:
            h2 = h2 * dropout_mask(h2, self.dropout)
        scores = torch.tanh(self.classify(h2))
        return scores, torch.stack(weights, 1).view(B, T, K, K)
