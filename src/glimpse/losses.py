"""The training objective, one small pure function per term.

Every term follows the papers' sums: over the T steps of a clip, then averaged over the clips of
a batch. Padded steps (mask False) contribute nothing.

- ``sequence_cross_entropy``: - sum_t log p_t(label)           (papers 000 eq. 11, 002 eq. 7)
- ``weight_decay``:           gamma * sum theta^2               (papers 000, 002)
- ``l21_block_penalty``:      sum_t sum_r ||a(t)_{S_r}||_2      (paper 000 eq. 10-11)
- ``doubly_stochastic_penalty``: sum_i (1 - sum_t l_{t,i})^2    (paper 002 eq. 7)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from glimpse import GlimpseError


def _masked(mask: Tensor | None, like: Tensor) -> Tensor:
    return torch.ones(like.shape[:2], dtype=like.dtype, device=like.device) if mask is None \
        else mask.to(like.dtype)


def sequence_cross_entropy(scores: Tensor, labels: Tensor, mask: Tensor | None = None) -> Tensor:
    """scores (B, T, C) logits, labels (B,) -> mean over clips of the CE summed over valid steps."""
    B, T, C = scores.shape
    ce = F.cross_entropy(scores.reshape(B * T, C), labels.repeat_interleave(T), reduction="none")
    return (ce.view(B, T) * _masked(mask, scores)).sum(1).mean()


def weight_decay(model: nn.Module, gamma: float) -> Tensor:
    """gamma * sum of squares of every trainable parameter."""
    params = [p for p in model.parameters() if p.requires_grad]
    return gamma * sum((p * p).sum() for p in params)


def block_index_sets(K: int, side: int, stride: int | None = None) -> Tensor:
    """Flat cell indices (row-major, 0-based) of each block: LongTensor (R, side * side).

    Non-overlapping (stride = side) this is paper 000's S_r with L = side: blocks tile the grid
    from the top-left corner, and cells beyond the last whole block (when side does not divide K)
    belong to no block, exactly as the paper's index formula has it. stride < side gives the
    overlapping variant of paper 000's Table 4.
    """
    stride = stride or side
    if not 1 <= side <= K or stride < 1:
        raise GlimpseError(f"block side must be in 1..{K} and stride >= 1 (got {side}, {stride})")
    starts = range(0, K - side + 1, stride)
    cells = torch.arange(K * K).view(K, K)
    return torch.stack([cells[r:r + side, c:c + side].reshape(-1) for r in starts for c in starts])


def paper_blocks(K: int, N: int) -> Tensor:
    """Paper 000's N x N non-overlapping regions of side L = floor(K / N)."""
    if not 1 <= N <= K:
        raise GlimpseError(f"block count N must be in 1..{K}, got {N}")
    return block_index_sets(K, K // N)


def l21_block_penalty(attention: Tensor, blocks: Tensor, mask: Tensor | None = None) -> Tensor:
    """attention (B, T, K, K) or (B, T, K^2); blocks (R, L^2) -> mean over clips of
    sum_t sum_r ||a(t)_{S_r}||_2."""
    B, T = attention.shape[:2]
    a = attention.reshape(B, T, -1)[:, :, blocks.to(attention.device)]  # (B, T, R, L^2)
    norms = torch.linalg.vector_norm(a, dim=-1).sum(-1)  # (B, T); its gradient at 0 is 0
    return (norms * _masked(mask, attention)).sum(1).mean()


def doubly_stochastic_penalty(attention: Tensor, mask: Tensor | None = None) -> Tensor:
    """attention (B, T, K, K) -> mean over clips of sum_i (1 - sum_t l_{t,i})^2."""
    B, T = attention.shape[:2]
    total = (attention.reshape(B, T, -1) * _masked(mask, attention)[..., None]).sum(1)  # (B, K^2)
    return (1.0 - total).pow(2).sum(-1).mean()
