"""Paper 002 (Sharma, Kiros, Salakhutdinov, "Action recognition using visual attention", arXiv
1511.04119, 2015): soft attention in a 3-layer LSTM.

    c0_k, h0_k = f_init,c(mean X), f_init,h(mean X)   MLPs over the clip's mean feature (app. B.1)
    l(t) = softmax(W h_top(t-1))                      the location softmax (eq. 1), l(1) from h0
           (``scoring = "content"``, a departure: softmax_i((W h)_i + v^T tanh(W_x X_{t,i} +
           W_h h + b)), each cell also scored from its own features, Xu et al. 2015's soft
           attention and the content policy of ``reinforce``: hard against soft attention
           with the same scoring)
    x(t) = sum_i l_{t,i} X_{t,i}                      (eq. 2)
    y(t) = softmax(W_o tanh(W_h h_top(t)))            a class head with one tanh hidden layer
    loss = - sum_t log y(t)_label + lambda sum_i (1 - sum_t l_{t,i})^2   (eq. 7; the trainer
           adds the weight decay)

The doubly-stochastic penalty is ``glimpse.losses.doubly_stochastic_penalty``. The avg- and
max-pooled LSTM baselines of paper 002 are this network with the attention taken out
(``glimpse.models.baselines``). Reads the ``rgb`` stream; predicts by the mean of y(t).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import Tensor, nn

from glimpse.losses import doubly_stochastic_penalty
from glimpse.models import options
from glimpse.models.attention import ContentSoftmax, LocationSoftmax, attend
from glimpse.models.base import ActionModel
from glimpse.models.lstm import StackedLSTM, dropout
from glimpse.models.output import ModelOutput

SCORINGS = ("location", "content")


@dataclass
class PooledConfig:
    hidden: int = options.hidden(512)
    layers: int = options.layers(3)
    dropout: float = options.dropout(0.5)
    stream: str = options.stream()


@dataclass
class SoftConfig(PooledConfig):
    lam: float = options.option(1.0, "lambda, the doubly stochastic penalty's weight (paper 002 "
                                "fig. 6)", check=options.NONNEGATIVE)
    scoring: str = options.option("location", "where to look from: location (the state alone, "
                                  "paper 002's eq. 1) or content (the state and each cell's "
                                  "features, Xu et al.'s soft attention; a departure)",
                                  choices=SCORINGS)
    scoring_dim: int = options.option(64, "the content score's tanh layer",
                                      check=options.POSITIVE)


class SoftAttentionLSTM(ActionModel):
    Config = SoftConfig
    SAVED_BEFORE = {"scoring": "location", "scoring_dim": 64}  # what runs saved before trained

    def __init__(self, *, num_classes: int, inputs: dict, cfg: SoftConfig, pool: str | None = None):
        super().__init__()
        if pool not in (None, "avg", "max"):
            raise ValueError(f"pool must be None, 'avg' or 'max', got {pool!r}")
        K, D = self.cube_input(inputs, asdict(cfg))
        self.cfg, self.grid, self.pool, self.layers = cfg, K, pool, cfg.layers
        M = cfg.hidden
        self.lstm = StackedLSTM(input_size=D, hidden=M, layers=cfg.layers, dropout=cfg.dropout)
        self.init_h = nn.Sequential(nn.Linear(D, cfg.layers * M), nn.Tanh())
        self.init_c = nn.Sequential(nn.Linear(D, cfg.layers * M), nn.Tanh())
        self.content = getattr(cfg, "scoring", "location") == "content" and pool is None
        self.locate = None if pool is not None else \
            ContentSoftmax(query=M, feature_dim=D, dim=cfg.scoring_dim, cells=K * K) \
            if self.content else LocationSoftmax(query=M, cells=K * K)
        self.dropout = cfg.dropout
        self.hidden_layer = nn.Linear(M, M)  # the head's tanh hidden layer
        self.classify = nn.Linear(M, num_classes)

    def initial_state(self, cubes: Tensor, mask: Tensor | None):
        """cubes (B, T, K^2, D) -> per-layer (h0, c0) from the mean feature of the valid steps."""
        B, T = cubes.shape[:2]
        m = cubes.new_ones(B, T) if mask is None else mask.to(cubes.dtype)
        mean = (cubes.mean(2) * m[..., None]).sum(1) / m.sum(1, keepdim=True).clamp_min(1)
        h0 = self.init_h(mean).view(B, self.layers, -1)
        c0 = self.init_c(mean).view(B, self.layers, -1)
        return [(h0[:, k], c0[:, k]) for k in range(self.layers)]

    def _pooled(self, cube: Tensor):
        """cube (B, K^2, D) -> x (B, D), and a map of where the pooled values came from."""
        B, K2, _ = cube.shape
        if self.pool == "avg":
            return cube.mean(1), cube.new_full((B, K2), 1.0 / K2)
        x = cube.amax(1)
        # where the maxima sit, ties shared: each channel gives 1 / (its number of maximal cells)
        # to each of them (ReLU6 features tie often: an all-zero channel spreads over every cell)
        at_max = (cube == x[:, None]).to(cube.dtype)  # (B, K^2, D)
        share = (at_max / at_max.sum(1, keepdim=True)).sum(2)
        return x, share / share.sum(1, keepdim=True)

    def forward(self, batch: dict) -> ModelOutput:
        """batch[stream] (B, T, K, K, D), batch["mask"] (B, T) -> scores (B, T, C), attention
        (B, T, K, K).

        For the pooled baselines the "attention" is descriptive: uniform for avg-pooling, for
        max-pooling the share of the channels' maxima in each cell (a channel whose maximum is
        reached in several cells shares its unit equally among them).
        """
        features = self.cube(batch)
        B, T, K, _, D = features.shape
        cubes = features.reshape(B, T, K * K, D)
        state = self.initial_state(cubes, batch.get("mask"))
        h_top = state[-1][0]
        tapes = self.lstm.new_tapes()
        tops, weights = [], []
        cells = self.locate.cells(cubes).unbind(1) if self.content else None  # once a clip
        for t in range(T):
            if self.pool is None:
                a = self.locate(h_top, cells[t]) if self.content else self.locate(h_top)
                x = attend(cubes[:, t], a)
            else:
                x, a = self._pooled(cubes[:, t])
            h_top, state = self.lstm.step(x, state, tapes)
            tops.append(h_top)
            weights.append(a)
        return ModelOutput(self.head(torch.stack(tops, 1)),
                           torch.stack(weights, 1).view(B, T, K, K))

    def head(self, h: Tensor) -> Tensor:
        """(B, T, M) -> logits (B, T, C), for all steps in one pass."""
        h = dropout(h, self.dropout, self.training)
        z = torch.tanh(self.hidden_layer(h))
        z = dropout(z, self.dropout, self.training)
        return self.classify(z)

    def loss(self, output: ModelOutput, batch: dict) -> dict[str, Tensor]:
        terms = super().loss(output, batch)
        if self.pool is None:
            terms["doubly_stochastic"] = output.scores.new_zeros(()) if not self.cfg.lam else \
                self.cfg.lam * doubly_stochastic_penalty(output.attention, batch.get("mask"))
        return terms
