"""A user's flow network: a torchvision ResNet trained on stacked optical flow (TSN's layout).

Papers 001 and 003 read their flow stream from a CNN trained on flow. glimpse cannot ship one
(nothing is downloaded), so ``glimpse extract --streams flow --flow-weights FILE`` takes the
user's: a state dict of a torchvision-style ResNet (18, 34, 50, 101 or 152; read from the
tensors' names and shapes) whose first convolution takes 2L input channels for L stacked flow
fields (u_1, v_1, ..., u_L, v_L; ``glimpse.features.flow.FlowImages.stacks``), as TSN and
MMAction2 train them. A classifier head (``fc.*``) in the file is ignored.

- Input: each component in [0, 255] (128 = no motion, +-20 px at the ends), normalized as
  MMAction2's flow configs do: (x - 128) / 128.
- Feature: the output of ``layer4`` (stride 32), average-pooled to the RGB stream's K x K grid
  when it differs (e.g. beside VGG16's 14 x 14), so both streams share one grid (RSTAN fuses
  their attention cell by cell).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from glimpse import GlimpseError
from glimpse.features.backbones import _load_state_dict, fold_batchnorm
from glimpse.io import file_digest

FLOW_MEAN, FLOW_STD = 128.0, 128.0
_DEPTHS = {("basic", (2, 2, 2, 2)): 18, ("basic", (3, 4, 6, 3)): 34,
           ("bottleneck", (3, 4, 6, 3)): 50, ("bottleneck", (3, 4, 23, 3)): 101,
           ("bottleneck", (3, 8, 36, 3)): 152}


def _architecture(sd: dict, path: Path) -> tuple[str, tuple[int, ...]]:
    """(block kind, blocks per stage) from a ResNet state dict's tensor names."""
    counts = []
    for stage in range(1, 5):
        blocks = {k.split(".")[1] for k in sd if k.startswith(f"layer{stage}.")}
        counts.append(len(blocks))
    if "conv1.weight" not in sd or not all(counts):
        raise GlimpseError(f"{path} is not a torchvision ResNet state dict (it needs conv1.weight "
                           f"and layer1..layer4)")
    kind = "bottleneck" if "layer1.0.conv3.weight" in sd else "basic"
    return kind, tuple(counts)


class FlowNet(nn.Module):
    """Frozen: ``forward(stacks uint8 (B, H, W, 2L), grid K) -> cube (B, K, K, D)``."""

    def __init__(self, weights: str | Path, stack: int | None = None):
        super().__init__()
        from torchvision.models.resnet import BasicBlock, Bottleneck, ResNet

        self.weights_path = Path(weights)
        if not self.weights_path.is_file():
            raise GlimpseError(f"flow weights file {weights} does not exist")
        sd = {k: v for k, v in _load_state_dict(self.weights_path).items()
              if not k.startswith("fc.")}
        kind, counts = _architecture(sd, self.weights_path)
        in_channels = int(sd["conv1.weight"].shape[1])
        if in_channels % 2:
            raise GlimpseError(f"{weights}: the first convolution takes {in_channels} channels; a "
                               f"flow network takes 2L (u and v of L stacked fields)")
        self.stack = in_channels // 2
        if stack is not None and stack != self.stack:
            raise GlimpseError(f"--flow-stack {stack} needs a first convolution with {2 * stack} "
                               f"input channels; {weights} has {in_channels} "
                               f"(--flow-stack {self.stack})")
        self.arch = f"resnet{_DEPTHS[(kind, counts)]}" if (kind, counts) in _DEPTHS else \
            f"resnet-{kind}-{'-'.join(map(str, counts))}"
        net = ResNet(BasicBlock if kind == "basic" else Bottleneck, list(counts))
        net.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
        net.fc = nn.Identity()
        missing, unexpected = net.load_state_dict(sd, strict=False)
        if missing or unexpected:
            raise GlimpseError(f"{weights} does not fit a torchvision {self.arch}: {len(missing)} "
                               f"missing tensors (e.g. {missing[:2]}), {len(unexpected)} "
                               f"unexpected (e.g. {unexpected[:2]})")
        self.body = fold_batchnorm(net.eval())
        self.channels = int(net.layer4[-1].conv3.out_channels if kind == "bottleneck"
                            else net.layer4[-1].conv2.out_channels)
        self.eval().requires_grad_(False)

    def describe(self) -> dict:
        return {"network": self.arch, "stack": self.stack, "input": "(x - 128) / 128",
                "weights_digest": file_digest(self.weights_path)}

    def forward(self, stacks: torch.Tensor, grid: int) -> torch.Tensor:
        n = self.body
        x = (stacks.permute(0, 3, 1, 2).float() - FLOW_MEAN) / FLOW_STD
        x = n.maxpool(n.relu(n.bn1(n.conv1(x))))
        x = n.layer4(n.layer3(n.layer2(n.layer1(x))))
        if x.shape[-1] != grid:
            x = nn.functional.adaptive_avg_pool2d(x, grid)
        return x.permute(0, 2, 3, 1)
