"""TensorBoard event files in a run folder, beside log.csv: every batch's loss terms, every
epoch's metrics and learning rate, and a few validation videos' attention maps as images.

    tensorboard --logdir runs/          # every run under runs/, side by side

A resumed run purges what the stopped one logged after its last checkpoint, so the curves show
each step once. Without the ``tensorboard`` package (a dependency; left out of an install on
purpose) training goes on and says once that it writes no event files.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

MAPS = 4  # validation videos whose attention is drawn each epoch


class Board:
    """The run's event writer (rank 0 only); every method is a no-op when it is off."""

    def __init__(self, root: Path, *, enabled: bool, purge_step: int | None = None):
        self.writer = None
        if not enabled:
            return
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            print("glimpse: the tensorboard package is not installed: no event files are "
                  "written (pip install tensorboard)", file=sys.stderr)
            return
        self.writer = SummaryWriter(log_dir=str(root), purge_step=purge_step)

    def step(self, global_step: int, terms: dict[str, float], lr: float) -> None:
        if self.writer is None:
            return
        for name, value in terms.items():
            self.writer.add_scalar(f"batch/{name}", value, global_step)
        self.writer.add_scalar("batch/lr", lr, global_step)

    def epoch(self, epoch: int, row: dict, results: list | None = None) -> None:
        """One log.csv row as scalars (epoch/...), and the attention of the first validation
        videos at their middle frame, each cell's weight scaled to the map's maximum."""
        if self.writer is None:
            return
        for name, value in row.items():
            if name != "epoch" and isinstance(value, (int, float)):
                self.writer.add_scalar(f"epoch/{name}", value, epoch)
        for k, result in enumerate((results or [])[:MAPS]):
            image = _middle_attention(result)
            if image is not None:
                self.writer.add_image(f"attention/val_{k}", image, epoch, dataformats="HW")
        self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def _middle_attention(result, scale: int = 8) -> np.ndarray | None:
    """The first clip's attention at its middle step, (K x scale, K x scale) in [0, 1]."""
    if not result.attention or result.attention[0] is None or not len(result.attention[0]):
        return None
    att = np.asarray(result.attention[0][len(result.attention[0]) // 2], np.float32)
    att = att / max(float(att.max()), 1e-12)
    return np.kron(att, np.ones((scale, scale), np.float32))
