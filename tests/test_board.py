"""TensorBoard's pieces that need no training: the validation loss (a hand-computed value), the
attention image over a frame and without one."""

import math
from types import SimpleNamespace

import numpy as np
import pytest

from glimpse.board import Board, _middle
from glimpse.evaluate import VideoResult, multi_hot
from glimpse.train import clip_loss
from glimpse.video import write_video
from tests.conftest import moving_bar_frames


def test_the_validation_loss_is_the_clips_cross_entropy():
    results = [VideoResult(np.array([[0.5, 0.5], [0.25, 0.75]]), [None], [None]),
               VideoResult(np.array([[0.9, 0.1]]), [None], [None])]
    entries = [SimpleNamespace(label_index=1, label_indices=[1]),
               SimpleNamespace(label_index=0, label_indices=[0, 1])]
    want = (-math.log(0.5) - math.log(0.75) - math.log(0.9)) / 3
    y = np.array([e.label_index for e in entries])
    assert clip_loss(results, y) == pytest.approx(want)
    # multi-label: binary cross-entropy averaged over the classes, then over the clips
    bce = lambda p, t: -(t * math.log(p) + (1 - t) * math.log(1 - p))  # noqa: E731
    want = (np.mean([bce(.5, 0), bce(.5, 1)]) + np.mean([bce(.25, 0), bce(.75, 1)]) +
            np.mean([bce(.9, 1), bce(.1, 1)])) / 3
    assert clip_loss(results, y, multi_hot(entries, 2)) == pytest.approx(want)


class _Writer:
    def __init__(self):
        self.images = []

    def add_image(self, tag, image, step, dataformats):
        self.images.append((tag, np.asarray(image), dataformats))

    def flush(self):
        pass


def _result(K=4, T=6, peak=(1, 2)):
    att = np.full((T, K, K), 0.01, np.float32)
    att[:, peak[0], peak[1]] = 1.0
    return VideoResult(np.ones((1, 2)) / 2, [att], [None], frames=[np.arange(T) * 2])


def test_attention_is_drawn_over_its_frame_or_bare_without_one(tmp_path):
    video = tmp_path / "v.avi"
    frames = moving_bar_frames(16, 48, 64)
    write_video(video, frames, 8)
    board = Board(tmp_path, enabled=False, videos=[(video, 0), (tmp_path / "gone.avi", 0)])
    board.writer = _Writer()
    assert _middle(_result())[1] == 6  # the middle step (3 of 6) shows frame 6
    board.epoch(1, {}, [_result(), _result()])
    (tag0, over, fmt0), (tag1, bare, fmt1) = board.writer.images
    assert (tag0, fmt0, over.shape) == ("attention/val_0", "HWC", (128, 171, 3))
    assert (tag1, fmt1, bare.shape) == ("attention/val_1", "HW", (32, 32))
    # the heat sits on the attended cell (row 1 of 4, column 2 of 4) of frame 6
    from PIL import Image

    frame = np.asarray(Image.fromarray(frames[6]).resize((171, 128), Image.BILINEAR)).astype(int)
    change = np.abs(over.astype(int) - frame).sum(-1)
    r, c = np.unravel_index(change.argmax(), change.shape)
    assert (r * 4 // 128, c * 4 // 171) == (1, 2)
    assert bare.max() == 1.0 and bare[8:16, 16:24].min() == 1.0
    board.epoch(2, {}, [_result()])  # the frame was decoded once
    assert list(board.frames) == [(0, 6), (1, 6)]
