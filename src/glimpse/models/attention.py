"""Spatial attention over a K x K feature grid. Every module returns its weights.

- ``LocationSoftmax``: l(t) = softmax(W h(t-1)) over the K^2 cells (papers 000 eq. 8, 002 eq. 1).
- ``ContentSoftmax``: l(t)_i = softmax_i((W_l h(t-1))_i + v^T tanh(W_x X_{t,i} + W_h h(t-1) + b)):
  the location softmax's logits plus a score of each cell from its own feature slice and the
  state (Xu et al. 2015's f_att; RSTAN eq. 2's form).
- ``FrameSummary``: paper 000 sec. 4.4's variant input: a 1 x 1 convolution over X(t) to one K x K
  map, then an MLP to w(t) in R^M, concatenated with h(t-1) before the location softmax.
- ``attend``: x(t) = X(t) a(t), the attention-weighted average of the K^2 feature slices.
- ``PositionCentering``: X(t)_i minus the mean slice at position i (a running estimate, as batch
  normalization keeps one): what every video holds at a cell because of where the cell is (the
  backbone's zero padding gives the border cells, the corners most, a fixed signature) is not
  content to score.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def attend(cube: Tensor, weights: Tensor) -> Tensor:
    """cube (B, K^2, D), weights (B, K^2) -> (B, D)."""
    return torch.bmm(weights.unsqueeze(1), cube).squeeze(1)


class LocationSoftmax(nn.Module):
    def __init__(self, *, query: int, cells: int):
        super().__init__()
        self.proj = nn.Linear(query, cells)

    def forward(self, query: Tensor) -> Tensor:
        """query (B, Q) -> weights (B, K^2), each row sums to 1."""
        return torch.softmax(self.proj(query), dim=-1)


class ContentSoftmax(nn.Module):
    """Where to look from the state (a location prior, as ``LocationSoftmax``) and from what each
    cell holds. ``cells(cubes)`` projects every step's slices once (B, T, K^2, a);
    ``forward(query, cells_t)`` is then one step's weights."""

    def __init__(self, *, query: int, feature_dim: int, dim: int, cells: int):
        super().__init__()
        bound = dim ** -0.5  # nn.Linear's initialization
        self.W_l = nn.Linear(query, cells)  # the location term, W_l h + its bias
        self.W_h = nn.Linear(query, dim, bias=False)
        self.W_x = nn.Linear(feature_dim, dim)  # its bias is b
        self.v = nn.Parameter(torch.empty(dim).uniform_(-bound, bound))

    def cells(self, cubes: Tensor) -> Tensor:
        """cubes (..., K^2, D) -> W_x X + b (..., K^2, a)."""
        return self.W_x(cubes)

    def forward(self, query: Tensor, cells: Tensor) -> Tensor:
        """query (B, Q), cells (B, K^2, a) -> weights (B, K^2), each row sums to 1."""
        content = (torch.tanh(cells + self.W_h(query)[:, None]) * self.v).sum(-1)
        return torch.softmax(self.W_l(query) + content, -1)


class FrameSummary(nn.Module):
    """X(t) (B, T, K^2, D) -> w(t) (B, T, M) for all steps at once (it needs no recurrent state)."""

    def __init__(self, *, feature_dim: int, cells: int, out: int):
        super().__init__()
        self.conv = nn.Linear(feature_dim, 1)  # a 1 x 1 convolution with one output map
        self.mlp = nn.Sequential(nn.Linear(cells, out), nn.Tanh())

    def forward(self, cubes: Tensor) -> Tensor:
        return self.mlp(self.conv(cubes).squeeze(-1))


class PositionCentering(nn.Module):
    """cubes (B, T, K^2, D) -> cubes minus each position's mean slice. In training the mean is
    the batch's over its valid frames, and a running estimate is kept (momentum as
    ``nn.BatchNorm``'s); in evaluation the running estimate is used. No parameters."""

    def __init__(self, *, cells: int, feature_dim: int, momentum: float = 0.1):
        super().__init__()
        self.momentum = momentum
        self.register_buffer("running_mean", torch.zeros(cells, feature_dim))

    def forward(self, cubes: Tensor, valid: Tensor | None = None) -> Tensor:
        if not self.training:
            return cubes - self.running_mean.to(cubes.dtype)
        with torch.no_grad():
            flat = cubes.detach().float().flatten(0, 1)  # (B T, K^2, D)
            if valid is not None:
                flat = flat[valid.flatten()]
            if len(flat):
                mean = flat.mean(0)
                self.running_mean.lerp_(mean, self.momentum)
            else:
                mean = self.running_mean
        return cubes - mean.to(cubes.dtype)
