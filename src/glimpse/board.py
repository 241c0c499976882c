"""TensorBoard event files in a run folder, beside log.csv: every batch's loss terms, gradient
norm and learning rate, every epoch's metrics (the validation loss among them), the run's
settings as hyper-parameters (the HPARAMS tab, against its validation top-1 and loss), and a few
validation videos' attention drawn over their frame (the bare K x K map where the video cannot
be read).

    tensorboard --logdir runs/          # every run under runs/, side by side

A resumed run purges what the stopped one logged after its last checkpoint, so the curves show
each step once. Without the ``tensorboard`` package (a dependency; left out of an install on
purpose) training goes on and says once that it writes no event files.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from glimpse.heat import overlay

MAPS = 4  # validation videos whose attention is drawn each epoch
HEIGHT = 128  # the frames' height in TensorBoard's images
METRICS = ("epoch/val_top1", "epoch/val_loss")  # what the HPARAMS tab sets the settings against


class Board:
    """The run's event writer (rank 0 only); every method is a no-op when it is off."""

    def __init__(self, root: Path, *, enabled: bool, purge_step: int | None = None,
                 hparams: dict | None = None, videos: list | None = None):
        """``hparams``: the run's settings (flattened to name: scalar); ``videos``: (the video's
        path, the feature rate its frames were sampled at) of the validation videos whose
        attention is drawn, in order."""
        self.writer = None
        self.videos = list(videos or [])[:MAPS]
        self.frames: dict = {}  # (video k, frame index) -> the frame, decoded once
        if not enabled:
            return
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            print("glimpse: the tensorboard package is not installed: no event files are "
                  "written (pip install tensorboard)", file=sys.stderr)
            return
        self.writer = SummaryWriter(log_dir=str(root), purge_step=purge_step)
        if hparams:
            self._hparams(hparams)

    def _hparams(self, settings: dict) -> None:
        """The settings as TensorBoard's hyper-parameters, in this run's own event file (torch's
        ``add_hparams`` would open a second run folder for them)."""
        from torch.utils.tensorboard.summary import hparams

        flat = {k: v if isinstance(v, (int, float, str, bool)) else json.dumps(v)
                for k, v in settings.items() if v is not None}
        for summary in hparams(flat, {m: 0.0 for m in METRICS}):
            self.writer.file_writer.add_summary(summary)

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
            middle = _middle(result)
            if middle is None:
                continue
            att, index = middle
            frame = self._frame(k, index)
            if frame is None:
                self.writer.add_image(f"attention/val_{k}", _bare(att), epoch, dataformats="HW")
            else:
                self.writer.add_image(f"attention/val_{k}", overlay(frame, att), epoch,
                                      dataformats="HWC")
        self.writer.flush()

    def _frame(self, k: int, index: int) -> np.ndarray | None:
        """Frame ``index`` (at the feature rate) of validation video ``k``, HEIGHT pixels high,
        decoded once; None where the video is not known or cannot be read."""
        if (k, index) not in self.frames:
            self.frames[k, index] = None
            if k < len(self.videos) and index >= 0:
                self.frames[k, index] = _read_frame(*self.videos[k], index)
        return self.frames[k, index]

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def _middle(result) -> tuple[np.ndarray, int] | None:
    """The first clip's attention at its middle step and the frame that step shows (-1 where
    the result does not say), or None for a model without attention."""
    if not result.attention or result.attention[0] is None or not len(result.attention[0]):
        return None
    mid = len(result.attention[0]) // 2
    frames = result.frames[0] if result.frames else None
    index = int(frames[mid]) if frames is not None and len(frames) > mid else -1
    return np.asarray(result.attention[0][mid], np.float32), index


def _bare(att: np.ndarray, scale: int = 8) -> np.ndarray:
    """The K x K map alone, (K x scale, K x scale) in [0, 1] (scaled to its maximum)."""
    att = att / max(float(att.max()), 1e-12)
    return np.kron(att, np.ones((scale, scale), np.float32))


def _read_frame(video: Path, fps: float, index: int) -> np.ndarray | None:
    """Frame ``index`` of ``video`` sampled at ``fps`` (as extraction sampled it), HEIGHT high
    keeping its aspect; None if the video cannot be read or is shorter. Decodes up to that frame
    only."""
    from PIL import Image

    from glimpse import GlimpseError
    from glimpse.video import iter_frames

    try:
        seen = 0
        for b in iter_frames(video, fps=fps, batch_size=8):
            if index < seen + len(b.frames):
                f = b.frames[index - seen]
                width = max(2, round(HEIGHT * f.shape[1] / f.shape[0]))
                return np.asarray(Image.fromarray(f).resize((width, HEIGHT), Image.BILINEAR))
            seen += len(b.frames)
    except (GlimpseError, OSError):
        return None
    return None
