"""The training objective, one small pure function per term.

Every term follows the papers' sums: over the T steps of a clip, then averaged over the clips of
a batch. Padded steps (mask False) contribute nothing.

- ``sequence_cross_entropy``: - sum_t log p_t(label)           (papers 000 eq. 11, 002 eq. 7)
- ``weight_decay``:           gamma * sum theta^2               (papers 000, 002)
- ``l21_block_penalty``:      sum_t sum_r ||a(t)_{S_r}||_2      (paper 000 eq. 10-11)
- ``sequence_binary_cross_entropy``: the multi-label form, one sigmoid per class
- ``doubly_stochastic_penalty``: sum_i (1 - sum_t l_{t,i})^2    (paper 002 eq. 7)
- ``actor_target``, ``actor_attention_penalty``: sum_t sum_k (alpha_t(t, k) - M(t, k))^2 or its
  cross-entropy form                                           (paper 001 eq. 18, Table II)
- ``energy_attention_penalty``: sum_t sum_i (e_{t,i} - att_{t,i})^2   (paper 003 sec. 3.2)
- ``episode_reward``, ``reward_to_go``: paper 004's reward (eq. 7) and its per-step form
- ``reinforce_surrogate``: -sum_n log pi(a_n) (R_n - b_n)      (paper 004 eq. 6)
- ``leave_one_out``: each episode's baseline from a clip's other episodes
- ``baseline_error``: sum_n (b_n - R_n)^2 where the agent acted   (the learned baseline's fit)
- ``entropy_bonus``: -beta sum_n H(l_n) where the agent acted      (a declared departure)
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


def sequence_binary_cross_entropy(scores: Tensor, targets: Tensor, mask: Tensor | None = None
                                  ) -> Tensor:
    """Multi-label: scores (B, T, C) logits, targets (B, C) multi-hot -> one sigmoid per class,
    the binary cross-entropy averaged over classes, summed over valid steps, averaged over clips
    (as ``sequence_cross_entropy``)."""
    B, T, C = scores.shape
    bce = F.binary_cross_entropy_with_logits(scores, targets[:, None].expand(B, T, C),
                                             reduction="none").mean(-1)
    return (bce * _masked(mask, scores)).sum(1).mean()


def weight_decay(model: nn.Module, gamma: float) -> Tensor:
    """gamma * sum of squares of every trainable parameter."""
    params = [p for p in model.parameters() if p.requires_grad]
    return gamma * sum((p * p).sum() for p in params)


def _side_check(K: int, side: int) -> None:
    if side < 2:
        raise GlimpseError(f"blocks of side {side} on the {K} x {K} grid make the l2,1 penalty the "
                           f"constant sum_i a_i = 1 (no structure, classic attention); use fewer "
                           f"blocks per side (N <= {K // 2}) or a block side >= 2")
    if side > K:
        raise GlimpseError(f"block side {side} is larger than the {K} x {K} grid")


def block_index_sets(K: int, side: int, stride: int | None = None) -> Tensor:
    """Flat cell indices (row-major, 0-based) of each block of side ``side`` placed every
    ``stride`` cells from the top-left corner while it fits: LongTensor (R, side * side).

    Paper 000's Table 4 reading: "block size" = the side, with stride = side (non-overlapping)
    or smaller (overlapping). Cells past the last block that fits belong to no block (side 6,
    stride 6 on K = 8 leaves 28 of the 64 cells out), and overlapping blocks cover cells
    unevenly (corner cells lie in fewer blocks than central ones).
    """
    stride = stride or side
    _side_check(K, side)
    if stride < 1:
        raise GlimpseError(f"block stride must be >= 1, got {stride}")
    starts = range(0, K - side + 1, stride)
    cells = torch.arange(K * K).view(K, K)
    return torch.stack([cells[r:r + side, c:c + side].reshape(-1) for r in starts for c in starts])


def paper_blocks(K: int, N: int) -> Tensor:
    """Paper 000's S_r (sec. 3.3): N x N non-overlapping regions of side L = floor(K / N) from
    the top-left corner, r = 1 .. N^2; cells beyond N L in a row or column belong to no block.
    (So K = 8, N = 3 gives 9 blocks of side 2, not 16.) A side of 1 is refused."""
    if not 1 <= N <= K:
        raise GlimpseError(f"block count N must be in 1..{K}, got {N}")
    L = K // N
    _side_check(K, L)
    cells = torch.arange(K * K).view(K, K)
    return torch.stack([cells[r * L:(r + 1) * L, c * L:(c + 1) * L].reshape(-1)
                        for r in range(N) for c in range(N)])


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


ACTOR_COVERED = 0.5  # a cell is the actor's when at least half of it is (paper 001's M)


def actor_target(coverage: Tensor) -> Tensor:
    """Paper 001's M(t, .): coverage (..., K, K) in [0, 1] (the fraction of each cell the actor
    covers) -> (..., K, K) with 1 / N_box on the N_box covered cells and 0 elsewhere. The paper
    resizes the silhouette to K x K; here a cell counts as covered when the actor covers at least
    half of it, and an actor smaller than that everywhere covers its most-covered cell(s). A
    frame without an actor is all zeros."""
    flat = coverage.flatten(-2)
    on = flat >= ACTOR_COVERED
    top = flat.amax(-1, keepdim=True)
    on = torch.where(on.any(-1, keepdim=True), on, (flat == top) & (top > 0))
    m = on.to(coverage.dtype)
    return (m / m.sum(-1, keepdim=True).clamp_min(1)).view_as(coverage)


def actor_attention_penalty(attention: Tensor, coverage: Tensor, mask: Tensor | None = None, *,
                            kind: str = "l2") -> Tensor:
    """Paper 001 eq. 18: sum over steps t and cells k of (alpha(t, k) - M(t, k))^2 (``l2``), or
    the cross-entropy -sum_k M(t, k) log alpha(t, k) (``ce``, Table II's variant); attention and
    coverage (B, T, K, K); steps whose frame has no actor, and padded steps, count nothing.
    Summed over steps, averaged over clips (as the cross-entropy)."""
    target = actor_target(coverage).flatten(2)
    a = attention.flatten(2)
    if kind == "l2":
        per_step = ((a - target) ** 2).sum(-1)
    elif kind == "ce":
        per_step = -(target * torch.log(a.clamp_min(1e-12))).sum(-1)
    else:
        raise GlimpseError(f"actor-attention loss must be l2 or ce, got '{kind}'")
    has_actor = (target.sum(-1) > 0).to(a.dtype)
    return (per_step * has_actor * _masked(mask, a)).sum(1).mean()


def energy_attention_penalty(energy: Tensor, attention: Tensor, mask: Tensor | None = None
                             ) -> Tensor:
    """Paper 003's regularizer of a 3D convnet: sum over steps t and cells i of
    (e_{t,i} - att_{t,i})^2, with e_t the 3D convnet's channel energy normalized over the cells
    and att the LSTM's attention, **detached** (the term trains the 3D convnet only). energy,
    attention (B, T, K^2); summed over valid steps, averaged over clips."""
    per_step = ((energy - attention.detach()) ** 2).sum(-1)
    return (per_step * _masked(mask, energy)).sum(1).mean()


def episode_reward(correct: Tensor, mask: Tensor, eta: float) -> Tensor:
    """correct, mask (B, T) bool -> r_N (B,) = (eta N+ R+ + (1 - eta) N- R-) / N, R+- = +-1."""
    m = mask.to(torch.float32)
    n_pos = (correct.float() * m).sum(1)
    n_neg = m.sum(1) - n_pos
    return (eta * n_pos - (1 - eta) * n_neg) / m.sum(1).clamp_min(1)


def reward_to_go(correct: Tensor, mask: Tensor, eta: float) -> Tensor:
    """correct, mask (B, T) bool -> R (B, T): R_n = sum_{t >= n} r_t / N over the valid steps,
    r_t = eta (right) or -(1 - eta) (wrong); R_1 is the episode reward."""
    m = mask.to(torch.float32)
    r = torch.where(correct, torch.full_like(m, eta), torch.full_like(m, eta - 1)) * m
    return r.flip(1).cumsum(1).flip(1) / m.sum(1, keepdim=True).clamp_min(1)


def leave_one_out(returns: Tensor) -> Tensor:
    """returns (n, B, ...) of n >= 2 episodes of each clip -> each episode's baseline: the mean
    return of the clip's other episodes."""
    n = returns.shape[0]
    return (returns.sum(0, keepdim=True) - returns) / (n - 1)


def policy_entropy(policy: Tensor) -> Tensor:
    """policy (..., K^2), rows summing to 1 -> H (...) = -sum_i l_i log l_i (nats)."""
    return -(policy * torch.log(policy.clamp_min(1e-12))).sum(-1)


def baseline_error(baseline: Tensor, returns: Tensor, acted: Tensor) -> Tensor:
    """baseline, returns, acted (E, T) -> (E, T): (b_n - R_n)^2 where the agent acted, else 0."""
    return (baseline - returns) ** 2 * acted.to(baseline.dtype)


def entropy_bonus(entropy: Tensor, acted: Tensor, weight: float) -> Tensor:
    """entropy, acted (E, T) -> -weight sum_n H(l_n) over the steps where the agent acted,
    averaged over episodes (added to the loss: minimizing it raises the entropy)."""
    return -weight * (entropy * acted.to(entropy.dtype)).sum(1).mean()


def reinforce_surrogate(log_probs: Tensor, returns: Tensor, baseline: Tensor,
                        acted: Tensor) -> Tensor:
    """-sum_n log pi(a_n) (R_n - b_n) over the steps where the agent acted, averaged over
    episodes; log_probs, baseline, acted (E, T); returns (E,) (one per episode) or (E, T)
    (reward-to-go). The advantage is a constant (no gradient into the baseline or reward)."""
    R = returns[:, None] if returns.dim() == 1 else returns
    adv = (R - baseline).detach()
    return -(log_probs * adv * acted.to(log_probs.dtype)).sum(1).mean()
