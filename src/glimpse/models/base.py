"""The one interface every model implements, so that training, evaluation, prediction and the
report never ask which model they hold.

A model:

- declares the feature-store ``streams`` it reads (``rgb`` (T, K, K, D) cubes, ``rgb_pooled``
  (T, D) vectors, ...) and whether its loss ``needs_actor`` masks;
- has a ``Config`` dataclass of its options with its paper's defaults (saved in the run's
  config.json, so the config records only what applies to the model);
- maps ``forward(batch) -> ModelOutput``, where ``batch`` holds each declared stream as
  (B, T, ...) float tensors, ``mask`` (B, T) bool (False on padded steps) and, where available,
  ``label`` (B,) and ``actor`` (B, T, K, K);
- returns its loss as named terms, ``loss(output, batch) -> {name: scalar}`` (the trainer adds
  weight decay, sums the terms and logs each);
- names its ``prediction`` rule for a clip's score (see ``glimpse.models.output``).
"""

from __future__ import annotations

from torch import Tensor, nn

from glimpse.losses import sequence_cross_entropy
from glimpse.models.output import ModelOutput, check_rule, clip_score


class ActionModel(nn.Module):
    Config: type  # options with the paper's defaults
    streams: tuple[str, ...] = ("rgb",)
    needs_actor: bool = False
    prediction: str = "mean"

    def forward(self, batch: dict) -> ModelOutput:
        raise NotImplementedError

    def loss(self, output: ModelOutput, batch: dict) -> dict[str, Tensor]:
        """Cross-entropy summed over the valid steps, averaged over clips; models add terms."""
        return {"ce": sequence_cross_entropy(output.scores, batch["label"], batch.get("mask"))}

    def clip_score(self, probs: Tensor, rule: str | None = None) -> Tensor:
        """probs (n, C) of one clip's valid steps -> (C,) by ``rule`` (default: the model's)."""
        return clip_score(probs, check_rule(rule or self.prediction))


def grid_input(inputs: dict, stream: str = "rgb") -> tuple[int, int]:
    """(K, D) of a cube stream from a model's ``inputs`` (stream name -> its store spec)."""
    spec = inputs[stream]
    return spec["grid"], spec["channels"]
