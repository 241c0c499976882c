"""Paper 000: an LSTM whose spatial attention is regularized by an l2,1 block-sparsity prior.
(Quan, Chen, Xu, Ji, "Attention with structure regularization for action recognition", CVIU
2019; docs/papers.md.)

    a(1) = 1 / K^2,  a(t) = softmax(W h2(t-1))            (eq. 8; a(1) uniform, sec. 3.3)
    x(t) = X(t) a(t)                                       (eq. 9)
    h1, h2 = 2-layer LSTM (Zaremba form) over x(t)         (eq. 2-6)
    y(t) = softmax(tanh(B h2(t)))                          (eq. 7)
    loss = - sum_t log y(t)_label + lambda sum_t sum_r ||a(t)_{S_r}||_2   (eq. 11; the trainer
           adds gamma ||theta||^2)

The penalty itself is ``glimpse.losses.l21_block_penalty``; lambda = 0 is the paper's "classic
attention" row and ``NoAttentionLSTM`` its "without attention" row (the same network with a(t)
fixed uniform, i.e. on the average-pooled cube). Eq. 7's tanh bounds a step's logits to
[-1, 1], so y(t) of the right class is at most e / (e + (C - 1) / e) (0.45 for 10 classes) and
the cross-entropy never falls below 0.8 there; ``tanh_scores = False`` drops it (a departure,
for the probe experiment of docs/retest/stability.md). ``frame_aware`` is sec. 4.4's variant whose
attention also sees the current frame. Reads the ``rgb`` stream; predicts by the mean of y(t).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import Tensor, nn

from glimpse.losses import block_index_sets, l21_block_penalty, paper_blocks
from glimpse.models import options
from glimpse.models.attention import FrameSummary, LocationSoftmax, attend
from glimpse.models.base import ActionModel
from glimpse.models.lstm import StackedLSTM, dropout
from glimpse.models.output import ModelOutput


@dataclass
class NoAttentionConfig:
    hidden: int = options.hidden(512)
    layers: int = options.layers(2)
    dropout: float = options.dropout(0.5)
    stream: str = options.stream()
    tanh_scores: bool = options.option(True, "scores tanh(B h2(t)) as eq. 7 (false: B h2(t), "
                                       "unbounded, as paper 002's; a departure)")


@dataclass
class StructuredConfig(NoAttentionConfig):
    lam: float = options.option(1e-4, "lambda, the l2,1 block penalty's weight (paper 000; 0: "
                                "its classic attention)", check=options.NONNEGATIVE)
    block_count: int = options.option(4, "N: N x N blocks (paper 000)", check=options.POSITIVE)
    block_side: int | None = options.option(None, "Table 4's blocks of this side (unset: the "
                                            "paper's N x N, side floor(K / N))",
                                            check=options.POSITIVE)
    block_stride: int | None = options.option(None, "with block_side: the blocks' stride "
                                              "(unset: the side; smaller overlaps, Table 4)",
                                              check=options.POSITIVE)
    frame_aware: bool = options.option(False, "attention also sees the current frame (paper 000 "
                                       "sec. 4.4)")


class StructuredAttentionLSTM(ActionModel):
    Config = StructuredConfig

    def __init__(self, *, num_classes: int, inputs: dict, cfg: StructuredConfig,
                 uniform: bool = False):
        super().__init__()
        K, D = self.cube_input(inputs, asdict(cfg))
        self.cfg, self.grid, self.dropout = cfg, K, cfg.dropout
        K2, M = K * K, cfg.hidden
        self.lstm = StackedLSTM(input_size=D, hidden=M, layers=cfg.layers, dropout=cfg.dropout)
        self.frame = FrameSummary(feature_dim=D, cells=K2, out=M) if cfg.frame_aware else None
        self.locate = None if uniform else \
            LocationSoftmax(query=M * (2 if cfg.frame_aware else 1), cells=K2)
        self.classify = nn.Linear(M, num_classes)  # B in eq. 7
        self.blocks = None
        if not uniform and cfg.lam:  # the S_r: the paper's N x N, or Table 4's side and stride
            self.blocks = paper_blocks(K, cfg.block_count) if cfg.block_side is None else \
                block_index_sets(K, cfg.block_side, cfg.block_stride)

    def forward(self, batch: dict) -> ModelOutput:
        """batch[stream] (B, T, K, K, D) -> scores (B, T, C) = tanh(B h2(t)) (softmax gives y(t)),
        attention (B, T, K, K). Padded steps are computed but carry no meaning; losses and
        metrics skip them."""
        features = self.cube(batch)
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
        h2 = dropout(h2, self.dropout, self.training)
        scores = self.classify(h2)
        if self.cfg.tanh_scores:  # eq. 7: y(t) at most e / (e + (C - 1) / e) for C classes
            scores = torch.tanh(scores)
        return ModelOutput(scores, torch.stack(weights, 1).view(B, T, K, K))

    def loss(self, output: ModelOutput, batch: dict) -> dict[str, Tensor]:
        terms = super().loss(output, batch)
        if self.locate is not None:
            terms["l21"] = output.scores.new_zeros(()) if self.blocks is None else \
                self.cfg.lam * l21_block_penalty(output.attention, self.blocks, batch.get("mask"))
        return terms


class NoAttentionLSTM(StructuredAttentionLSTM):
    """Paper 000's "without attention": a(t) = 1 / K^2 at every step."""

    Config = NoAttentionConfig

    def __init__(self, *, num_classes: int, inputs: dict, cfg: NoAttentionConfig):
        full = StructuredConfig(**asdict(cfg), lam=0.0)
        super().__init__(num_classes=num_classes, inputs=inputs, cfg=full, uniform=True)
        self.cfg = cfg
