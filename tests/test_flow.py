"""Optical flow: DIS on real encoded motion, the flow image, and the flow stream of a store."""

import numpy as np
import pytest

from glimpse.features.flow import FlowImages
from glimpse.video import iter_frames, write_video


def _texture(h=400, w=400, seed=0):
    """A smooth random texture with detail at several scales (DIS needs gradients)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    img = np.zeros((h, w, 3), np.float32)
    for cells in (8, 24, 64):
        small = rng.random((cells, cells, 3)).astype(np.float32)
        img += np.asarray(Image.fromarray((small * 255).astype(np.uint8)).resize((w, h), Image.BICUBIC),
                          np.float32) / 3
    return img.clip(0, 255).astype(np.uint8)


def _moving(tmp_path, du, dv, n=8, size=256):
    tex = _texture()
    frames = [tex[60 - dv * i: 60 - dv * i + size, 60 - du * i: 60 - du * i + size] for i in range(n)]
    path = tmp_path / f"move_{du}_{dv}.avi"
    write_video(path, np.stack(frames), fps=25)
    return path


@pytest.mark.parametrize("du,dv", [(3, -2), (0, 0)])
def test_dis_flow_of_a_translated_texture(tmp_path, du, dv):
    """The content moves (+3, -2) px a frame (right and up): the mean flow is within 0.5 px of
    that; a static video has ~0 flow."""
    path = _moving(tmp_path, du, dv)
    flow = FlowImages("medium")
    fields = []
    for b in iter_frames(path, fps=0, size=(256, 256), pairs=True):
        for a, nxt in zip(b.frames[:-1], b.next_frames[:-1]):
            fields.append(flow.field(a, nxt)[32:-32, 32:-32])  # away from the borders
    mean = np.mean([f.reshape(-1, 2).mean(0) for f in fields], axis=0)
    assert abs(mean[0] - du) < 0.5 and abs(mean[1] - dv) < 0.5, mean
    if du == dv == 0:
        assert np.abs(mean).max() < 0.1


def test_pairs_are_the_next_decoded_frames(tmp_path):
    path = _moving(tmp_path, 3, -2, n=7)
    every = np.concatenate([b.frames for b in iter_frames(path, fps=0)])
    for fps in (0, 10):
        got = [b for b in iter_frames(path, fps=fps, pairs=True, batch_size=3)]
        idx = np.concatenate([b.indices for b in got])
        nexts = np.concatenate([b.next_frames for b in got])
        for i, n in zip(idx, nexts):
            assert np.array_equal(n, every[min(i + 1, len(every) - 1)])  # the last: itself
    plain = np.concatenate([b.frames for b in iter_frames(path, fps=10)])
    paired = np.concatenate([b.frames for b in iter_frames(path, fps=10, pairs=True)])
    assert np.array_equal(plain, paired)  # pairs change nothing about the sampled frames


def test_flow_image_golden():
    f = FlowImages(bound=20)
    flow = np.array([[[0.0, 0.0], [20.0, -20.0], [40.0, 0.0], [-10.0, 5.0]]], np.float32)
    img = f.image(flow)[0]
    assert img[0].tolist() == [128, 128, 0]  # no motion: u = v = 127.5 -> 128, magnitude 0
    assert img[1].tolist() == [255, 0, 255]  # clipped to the bound; |f| = 28 > 20: 255
    assert img[2].tolist() == [255, 128, 255]
    assert img[3].tolist() == [64, 159, round(np.hypot(10, 5) * 255 / 20)]


def test_extract_writes_flow_and_second_level_streams(tiny_synth, tmp_path):
    """--streams rgb,flow --levels 2: float16 rgb, flow and rgb_level2, each (T, K, K, C) with
    the same T and K; the manifest names layer, channels and grid of each; verify passes."""
    from glimpse.cli import main
    from glimpse.features.store import FeatureStore

    assert main(["extract", str(tiny_synth), str(tmp_path / "f"), "--fps", "0", "--streams",
                 "rgb,flow", "--flow-preset", "ultrafast", "--levels", "2", "--quiet"]) == 0
    store = FeatureStore(tmp_path / "f")
    assert set(store.streams) == {"rgb", "flow", "rgb_level2"}
    assert store.streams["rgb_level2"] == {"layer": "blocks.4", "channels": 112, "grid": 8,
                                           "resampled_from": 16}
    level2 = store.entries()[0].stream("rgb_level2")
    assert level2.dtype == np.float16 and level2.shape == (12, 8, 8, 112)
    assert store.streams["flow"]["flow"] == {"method": "DIS", "preset": "ultrafast", "bound": 20.0,
                                             "image": "u, v, magnitude"}
    e = store.entries()[0]
    rgb, flow = e.stream("rgb"), e.stream("flow")
    assert flow.dtype == np.float16 and flow.shape == rgb.shape == (12, 8, 8, 1280)
    assert not np.array_equal(flow, rgb)
    assert main(["store", "verify", str(tmp_path / "f")]) == 0
