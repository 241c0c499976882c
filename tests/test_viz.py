import numpy as np
import pytest
from PIL import Image

from glimpse import GlimpseError
from glimpse.heat import overlay, upsample
from glimpse.video import read_frames
from glimpse.viz.overlay import mask_panel, save_animation, strip


def test_upsample_is_smooth_and_normalized():
    att = np.zeros((4, 4))
    att[1, 2] = 0.5
    up = upsample(att, 32, 32)
    assert up.shape == (32, 32) and up.max() == pytest.approx(1.0, abs=0.05)
    y, x = np.unravel_index(up.argmax(), up.shape)
    assert 8 <= y < 16 and 16 <= x < 24  # the peak stays in cell (1, 2)


def test_overlay_keeps_unattended_pixels():
    frame = np.full((32, 32, 3), 100, np.uint8)
    att = np.zeros((4, 4))
    att[0, 0] = 1.0
    out = overlay(frame, att)
    assert out.shape == frame.shape and out.dtype == np.uint8
    assert (out[-4:, -4:] == 100).all() and (out[:4, :4] != 100).any()


def test_mask_panel_dims_outside_the_actor():
    frame = np.full((8, 8, 3), 200, np.uint8)
    actor = np.array([[1.0, 0.0], [0.0, 0.0]])
    p = mask_panel(frame, actor)
    assert p[0, 0, 0] == 200 and p[7, 7, 0] == 50


def test_strip_shape():
    frames = np.zeros((10, 16, 20, 3), np.uint8)
    s = strip(frames, np.full((10, 2, 2), 0.25), columns=4, actor=np.ones((10, 2, 2)))
    assert s.shape == (3 * 16, 4 * 20, 3)


@pytest.mark.parametrize("ext", [".gif", ".webp", ".mp4"])
def test_animations(tmp_path, ext):
    images = np.random.default_rng(0).integers(0, 255, (6, 31, 41, 3), dtype=np.uint8)
    path = tmp_path / f"a{ext}"
    save_animation(path, images, fps=5)
    if ext == ".mp4":
        assert read_frames(path, fps=0).frames.shape == (6, 30, 40, 3)  # even sizes for H.264
    else:
        assert Image.open(path).n_frames == 6
    assert not list(tmp_path.glob(".tmp-*"))
    with pytest.raises(GlimpseError, match="cannot write an animation"):
        save_animation(tmp_path / "a.bmp", images, fps=5)
