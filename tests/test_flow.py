"""Optical flow: DIS on real encoded motion, the flow image, and the flow stream of a store."""

import numpy as np
import pytest

from glimpse.features.flow import FlowImages
from glimpse.video import iter_frames, write_video
from tests.conftest import small_videos


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
    for b in iter_frames(path, fps=0, size=(256, 256), successors=1):
        for a, nxt in zip(b.frames[:-1], b.successors[:-1, 0]):
            fields.append(flow.field(a, nxt)[32:-32, 32:-32])  # away from the borders
    mean = np.mean([f.reshape(-1, 2).mean(0) for f in fields], axis=0)
    assert abs(mean[0] - du) < 0.5 and abs(mean[1] - dv) < 0.5, mean
    if du == dv == 0:
        assert np.abs(mean).max() < 0.1


def test_pairs_are_the_next_decoded_frames(tmp_path):
    path = _moving(tmp_path, 3, -2, n=7)
    every = np.concatenate([b.frames for b in iter_frames(path, fps=0)])
    for fps in (0, 10):
        got = [b for b in iter_frames(path, fps=fps, successors=1, batch_size=3)]
        idx = np.concatenate([b.indices for b in got])
        nexts = np.concatenate([b.successors[:, 0] for b in got])
        for i, n in zip(idx, nexts):
            assert np.array_equal(n, every[min(i + 1, len(every) - 1)])  # the last: itself
    plain = np.concatenate([b.frames for b in iter_frames(path, fps=10)])
    paired = np.concatenate([b.frames for b in iter_frames(path, fps=10, successors=1)])
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


def _flow_resnet(path, stack=2, bottleneck=False):
    """A torchvision ResNet-18 (or -50) with 2 * stack input channels and random weights, saved
    as a plain state dict: the fixture for --flow-weights."""
    import torch
    from torchvision.models import resnet18, resnet50

    torch.manual_seed(0)
    net = (resnet50 if bottleneck else resnet18)(weights=None)
    net.conv1 = torch.nn.Conv2d(2 * stack, 64, 7, 2, 3, bias=False)
    torch.save(net.state_dict(), path)
    return path


def test_flow_stacks_golden_and_cached(tmp_path):
    """TSN stacks of a (+3, -2) px/frame translation: u planes ~ (3 + 20) * 255 / 40, v planes
    ~ (-2 + 20) * 255 / 40; past the video's end the planes read 128 (no motion); a shared
    cache changes nothing."""
    path = _moving(tmp_path, 3, -2, n=6)
    flow = FlowImages("medium")
    batches = list(iter_frames(path, fps=0, size=(256, 256), successors=3, batch_size=4))
    got, cache = [], {}
    for b in batches:
        assert b.successors.shape[1:] == (3, 256, 256, 3)
        got.append(flow.stacks(b.frames, b.indices, b.successors, b.successor_indices, cache))
    stacks = np.concatenate(got)
    assert stacks.shape == (6, 256, 256, 6) and stacks.dtype == np.uint8
    inner = stacks[0, 32:-32, 32:-32].reshape(-1, 6).astype(np.float32).mean(0)
    assert np.allclose(inner[0::2], 23 * 255 / 40, atol=4) and np.allclose(inner[1::2], 18 * 255 / 40,
                                                                            atol=4)
    idx = np.concatenate([b.successor_indices for b in batches])
    assert idx[-2].tolist() == [5, 5, 5] and idx[3].tolist() == [4, 5, 5]
    assert (stacks[5] == 128).all() and (stacks[3][..., 4:] == 128).all()
    b = batches[0]
    fresh = flow.stacks(b.frames, b.indices, b.successors, b.successor_indices)
    assert np.array_equal(fresh, got[0])


def test_flow_network_reads_its_architecture_and_stack(tmp_path):
    import torch

    from glimpse import GlimpseError
    from glimpse.features.flownet import FlowNet

    net = FlowNet(_flow_resnet(tmp_path / "r18.pt", stack=2))
    assert (net.arch, net.stack, net.channels) == ("resnet18", 2, 512)
    x = torch.full((2, 256, 256, 4), 128, dtype=torch.uint8)
    assert net(x, 8).shape == (2, 8, 8, 512)
    assert net(x, 4).shape == (2, 4, 4, 512)  # resampled to another grid
    assert FlowNet(_flow_resnet(tmp_path / "r50.pt", stack=1, bottleneck=True)).channels == 2048
    with pytest.raises(GlimpseError, match="--flow-stack 3 needs a first convolution with 6"):
        FlowNet(tmp_path / "r18.pt", stack=3)
    torch.save({"w": torch.zeros(3)}, tmp_path / "bad.pt")
    with pytest.raises(GlimpseError, match="not a torchvision ResNet"):
        FlowNet(tmp_path / "bad.pt")


def test_extract_train_predict_with_a_flow_network(tmp_path, capsys):
    """--flow-weights FILE --flow-stack 2: the flow stream is the network's layer4, on the RGB
    stream's grid; the manifest names the network, its stack and digest; verify passes; a model
    trained on --stream flow predicts a new video given the same --flow-weights, and refuses
    without them; the flag without the flow stream is one line."""
    from glimpse.cli import main
    from glimpse.features.store import FeatureStore

    data = tmp_path / "videos"
    small_videos(data, frames=8, seed=2)
    weights = _flow_resnet(tmp_path / "flow.pt", stack=2)
    out = tmp_path / "f"
    assert main(["extract", str(data), str(out), "--fps", "0", "--streams", "rgb,flow",
                 "--flow-preset", "ultrafast", "--flow-weights", str(weights), "--flow-stack",
                 "2", "--quiet"]) == 0
    store = FeatureStore(out)
    spec = store.streams["flow"]
    assert spec["layer"] == "layer4" and spec["channels"] == 512 and spec["grid"] == 8
    assert spec["flow"]["network"] == "resnet18" and spec["flow"]["stack"] == 2
    e = store.entries()[0]
    assert e.stream("flow").shape == (8, 8, 8, 512) and e.stream("rgb").shape[:3] == (8, 8, 8)
    assert main(["store", "verify", str(out)]) == 0
    run = tmp_path / "run"
    assert main(["train", str(out), "--out", str(run), "--model", "avgpool", "--stream", "flow",
                 "--hidden", "8", "--epochs", "1", "--clip-len", "4", "--stride", "4",
                 "--quiet"]) == 0
    video = next(data.rglob("*.avi"))
    assert main(["predict", str(run), str(video), "--flow-weights", str(weights)]) == 0
    capsys.readouterr()
    assert main(["predict", str(run), str(video)]) != 0
    assert "pass its --flow-weights file" in capsys.readouterr().err
    assert main(["extract", str(data), str(tmp_path / "g"), "--flow-weights",
                 str(weights)]) != 0
    assert "need the flow stream" in capsys.readouterr().err
