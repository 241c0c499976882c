"""One small dataclass per stage. Saved into every run folder; unknown keys fail loudly."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from glimpse import GlimpseError


def from_dict(cls, data: dict):
    """Build ``cls`` from a dict, refusing keys it does not know (never silently ignored)."""
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise GlimpseError(f"unknown {cls.__name__} keys: {', '.join(unknown)} "
                           f"(known: {', '.join(sorted(known))})")
    return cls(**data)


@dataclass
class ModelConfig:
    """What build_model needs. Defaults are paper 000's where a paper gives one."""

    name: str
    num_classes: int
    feature_dim: int  # D
    grid: int  # K
    hidden: int = 512  # M, every LSTM layer
    layers: int | None = None  # None: the paper's (structured 2, soft 3)
    dropout: float = 0.5  # on non-recurrent connections
    frame_aware: bool = False  # paper 000 sec. 4.4: attention also sees the current frame
    lam: float | None = None  # attention penalty weight; None: the paper's default for the model
    block_side: int | None = None  # l2,1 blocks: side L (None: floor(K / block_count))
    block_count: int = 4  # N, paper 000's default (N x N blocks)
    block_stride: int | None = None  # None: = side (non-overlapping)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class TrainConfig:
    epochs: int = 10  # paper 000
    batch_size: int = 256  # paper 000
    lr: float = 1e-4  # paper 000, Adam
    gamma: float = 1e-5  # weight decay as the explicit gamma * sum theta^2 (paper 000, 002)
    clip_len: int = 30  # T (paper 000)
    stride: int = 2  # d (paper 000)
    seed: int = 0
    split_seed: int = 0  # which group draw is test
    test_fraction: float = 0.4  # paper 000's UCF-11: 10 of 25 groups
    val_fraction: float = 0.2  # of the training groups, for model selection
    device: str = "cpu"
    checkpoint_every: int = 0  # steps between mid-epoch checkpoints (0: end of epoch only)

    def to_dict(self) -> dict:
        return asdict(self)
