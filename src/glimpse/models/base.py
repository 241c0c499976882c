"""The one interface every model implements, so that training, evaluation, prediction and the
report never ask which model they hold.

A model:

- declares the feature-store ``streams`` it reads (``rgb`` (T, K, K, D) cubes, ``rgb_pooled``
  (T, D) vectors, ...) and whether its loss ``needs_actor`` masks; a model on one cube may take
  a ``stream`` option instead (``rgb``, ``flow``, ``rgb_level2``, or several joined by ``+``,
  concatenated on the channel axis), so every such model runs on flow as well as on RGB;
- has a ``Config`` dataclass of its options with its paper's defaults (saved in the run's
  config.json, so the config records only what applies to the model);
- maps ``forward(batch) -> ModelOutput``, where ``batch`` holds each declared stream as
  (B, T, ...) float tensors, ``mask`` (B, T) bool (False on padded steps) and, where available,
  ``label`` (B,) and ``actor`` (B, T, K, K);
- returns its loss as named terms, ``loss(output, batch) -> {name: scalar}`` (the trainer adds
  weight decay, sums the terms and logs each);
- names its ``prediction`` rule for a clip's score (see ``glimpse.models.output``), and the
  ``test_options`` an evaluation may change without retraining.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from glimpse import GlimpseError
from glimpse.losses import sequence_binary_cross_entropy, sequence_cross_entropy
from glimpse.models.output import ModelOutput, check_rule, clip_score


class ActionModel(nn.Module):
    Config: type  # options with the paper's defaults
    streams: tuple[str, ...] = ("rgb",)
    needs_actor: bool = False
    prediction: str = "mean"
    sampling: str = "segments"  # how clips are cut: consecutive "segments" or "uniform" over the
    #                              video (glimpse.features.clips)
    maps: tuple[str, ...] = ()  # extras that are more (B, T, K, K) maps to draw beside the
    #                             attention (joint: its 3D convnet's "energy")
    test_options: tuple[str, ...] = ()  # Config fields that change only how the model is tested
    #                                     (reinforce: test_samples): 'glimpse evaluate' may set
    #                                     them on a trained run

    @classmethod
    def reads(cls, options: dict) -> tuple[str, ...]:
        """The store streams a model with these options reads: its ``stream`` option's, where it
        has one, else its class's ``streams``."""
        if "stream" not in options:
            return cls.streams
        names = tuple(s.strip() for s in str(options["stream"]).split("+"))
        bad = [s for s in names if s not in CUBE_STREAMS]
        if bad or len(set(names)) != len(names):
            raise GlimpseError(f"stream '{options['stream']}' is not one of {', '.join(CUBE_STREAMS)}"
                               f" or several of them joined by '+' (e.g. rgb+flow)")
        return names

    def cube_input(self, inputs: dict, options: dict, why: str = "") -> tuple[int, int]:
        """Set the model's ``streams`` from its options -> (K, D) of the cube it reads (the
        channels of all its streams). Its streams must share one K x K grid (``why`` says what
        needs it in the error)."""
        self.streams = self.reads(options)
        grids = {inputs[s]["grid"] for s in self.streams}
        if len(grids) != 1:
            raise GlimpseError(f"streams {', '.join(self.streams)} have different grids "
                               f"{sorted(grids)}" + (f"; {why}" if why else ""))
        return grids.pop(), sum(inputs[s]["channels"] for s in self.streams)

    def cube(self, batch: dict) -> Tensor:
        """(B, T, K, K, D): the model's cube stream(s), side by side on the channel axis."""
        parts = [batch[s] for s in self.streams]
        return parts[0] if len(parts) == 1 else torch.cat(parts, -1)

    def forward(self, batch: dict) -> ModelOutput:
        raise NotImplementedError

    def loss(self, output: ModelOutput, batch: dict) -> dict[str, Tensor]:
        """Cross-entropy summed over the valid steps, averaged over clips (with multi-label
        ``targets`` in the batch: one sigmoid per class, binary cross-entropy); models add
        terms."""
        if "targets" in batch:
            return {"bce": sequence_binary_cross_entropy(output.scores, batch["targets"],
                                                         batch.get("mask"))}
        return {"ce": sequence_cross_entropy(output.scores, batch["label"], batch.get("mask"))}

    def param_groups(self, lr: float) -> list[dict]:
        """The optimizer's parameter groups (one at the run's ``lr``; a model may give a part of
        itself its own rate, reinforce its policy head)."""
        return [{"params": list(self.parameters()), "lr": lr}]

    def set_epoch(self, epoch: int, epochs: int) -> None:
        """Called by the trainer before each training epoch (0-based, of ``epochs``): for
        schedules inside a model's loss (reinforce's annealed entropy bonus); nothing by
        default."""

    def stats(self, output: ModelOutput, batch: dict) -> dict[str, float]:
        """Figures the trainer logs per epoch (mean over batches) as ``train_<name>`` without
        adding them to the loss (a policy's reward and entropy, say); none by default."""
        return {}

    def clip_score(self, probs: Tensor, rule: str | None = None) -> Tensor:
        """probs (n, C) of one clip's valid steps -> (C,) by ``rule`` (default: the model's)."""
        return clip_score(probs, check_rule(rule or self.prediction))


def valid_steps(mask: Tensor | None, B: int, T: int, device) -> Tensor:
    """The batch's ``mask`` (B, T) as bool, or every step valid where it has none."""
    return torch.ones(B, T, dtype=torch.bool, device=device) if mask is None else mask.bool()


CUBE_STREAMS = ("rgb", "flow", "rgb_level2")  # the store's (T, K, K, D) streams
