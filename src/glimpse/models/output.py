"""What every model returns, and the rules that turn a clip's per-step scores into one score.

``ModelOutput``: ``scores`` (B, T, C) logits for every step, ``attention`` (B, T, K, K) spatial
weights (None for a model that attends nowhere), ``extras`` anything else a model's own loss or a
visualization needs (named tensors; the trainer and evaluator never look inside).

Prediction rules (a model declares its own; ``evaluate --clip-rule`` may override it):

- ``mean``:   mean of y(t) over the clip's valid steps (papers 000 eq. 13, 002)
- ``last``:   y at the last valid step (paper 001)
- ``last-L``: mean of y(t) over the last L valid steps, e.g. ``last-5``
- ``vote-last-L``: the majority vote of the per-step argmax over the last L valid steps (paper
  003 sec. 3.5, L = L2 = 16): the clip's score is each class's share of the votes, ties broken
  by the mean of y(t) over those steps (added with a weight of 1e-6)
"""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import Tensor, nn

from glimpse import GlimpseError


@dataclass
class ModelOutput:
    scores: Tensor  # (B, T, C) logits
    attention: Tensor | None = None  # (B, T, K, K), each step's weights sum to 1
    # anything else the model's loss or a reader needs; one key every reader knows:
    # "temporal" (B, T, T): the weight step t gives each frame of the clip (paper 001), which
    # evaluation keeps and the report draws
    extras: dict[str, Tensor] = field(default_factory=dict)


def check_rule(rule: str) -> str:
    """Return ``rule`` if it names a prediction rule, else fail with the choices."""
    if rule in ("mean", "last"):
        return rule
    for prefix in ("last-", "vote-last-"):
        n = rule[len(prefix):]
        if rule.startswith(prefix) and n.isdigit() and int(n) >= 1:
            return rule
    raise GlimpseError(f"unknown clip rule '{rule}'; choose mean, last, last-L or vote-last-L "
                       f"(L >= 1, e.g. last-5)")


def clip_score(probs: Tensor, rule: str) -> Tensor:
    """probs (n, C): the class probabilities of one clip's n valid steps -> (C,)."""
    if rule == "mean":
        return probs.mean(0)
    if rule == "last":
        return probs[-1]
    if check_rule(rule).startswith("vote-last-"):
        tail = probs[-int(rule[len("vote-last-"):]):]
        # (one_hot, not bincount: the same counts, and a shape torch.export can follow)
        votes = nn.functional.one_hot(tail.argmax(1), probs.shape[1]).sum(0).to(probs.dtype)
        return votes / len(tail) + 1e-6 * tail.mean(0)
    return probs[-int(rule[5:]):].mean(0)
