"""Joint attention on multi-level features (paper 003): the energy map and its regularizer, the
spatial pyramid, and the CLI's error for a store without a second level."""

import pytest
import torch

from glimpse import GlimpseError
from glimpse.losses import energy_attention_penalty
from glimpse.models import ModelConfig, build_model
from glimpse.models.joint import pyramid_pool
from tests.conftest import small_videos


def test_energy_regularizer_golden_and_detached():
    # one step, 4 cells: channel sums [2, 2, 0, 4] -> e = [.25, .25, 0, .5]
    Z = torch.tensor([[1.0, 1.0], [2.0, 0.0], [0.0, 0.0], [3.0, 1.0]])
    e = Z.sum(-1) / Z.sum()
    torch.testing.assert_close(e, torch.tensor([0.25, 0.25, 0.0, 0.5]))
    att = torch.full((1, 1, 4), 0.25, requires_grad=True)
    energy = e.view(1, 1, 4).clone().requires_grad_(True)
    pen = energy_attention_penalty(energy, att)
    assert float(pen) == pytest.approx(0.0625 + 0.0625)  # (0 - .25)^2 + (.5 - .25)^2
    pen.backward()
    assert att.grad is None and energy.grad is not None  # the attention is not trained by it


def test_model_energy_is_the_normalized_channel_sum():
    K, D = 3, 4
    inputs = {"rgb": {"layer": "x", "channels": D, "grid": K},
              "rgb_level2": {"layer": "y", "channels": 2, "grid": K}}
    m = build_model(ModelConfig("joint", 2, inputs, {"hidden": 6, "width": 3}))
    b = {"rgb": torch.rand(2, 4, K, K, D), "rgb_level2": torch.rand(2, 4, K, K, 2),
         "mask": torch.ones(2, 4, dtype=torch.bool), "label": torch.tensor([0, 1])}
    out = m(b)
    e = out.extras["energies"]  # (B, levels, T, K^2)
    assert e.shape == (2, 2, 4, 9) and (e >= 0).all()
    torch.testing.assert_close(e.sum(-1), torch.ones(2, 2, 4))
    assert out.extras["energy"].shape == (2, 4, K, K) and m.prediction == "vote-last-16"
    assert set(m.loss(out, b)) == {"ce", "ce_3d", "energy_attention"}


def _two_levels(K: int = 3, D: int = 4):
    """A two-level store's inputs and a batch of 2 clips of 4 steps (seeded)."""
    inputs = {"rgb": {"layer": "x", "channels": D, "grid": K},
              "rgb_level2": {"layer": "y", "channels": 2, "grid": K}}
    torch.manual_seed(0)
    b = {"rgb": torch.rand(2, 4, K, K, D), "rgb_level2": torch.rand(2, 4, K, K, 2),
         "mask": torch.ones(2, 4, dtype=torch.bool), "label": torch.tensor([0, 1])}
    return inputs, b


def test_the_regularizers_weight_warms_up_linearly_over_epochs():
    """lam_warmup = 2: the term at 0, 1/2 and 1 of lam = 3 at epochs 0, 1 and 2 (and after),
    the same forward pass each time; without a warm-up, lam from epoch 0."""
    inputs, b = _two_levels()
    m = build_model(ModelConfig("joint", 2, inputs, {"hidden": 6, "width": 3, "lam": 3.0,
                                                     "lam_warmup": 2}))
    out = m(b)
    full = 3.0 * sum(energy_attention_penalty(out.extras["energies"][:, k],
                                              out.attention.flatten(2), b["mask"])
                     for k in range(2))
    got = []
    for epoch in range(4):
        m.set_epoch(epoch, 4)
        got.append(float(m.loss(out, b)["energy_attention"]))
    assert got == pytest.approx([0.0, float(full) / 2, float(full), float(full)])
    plain = build_model(ModelConfig("joint", 2, inputs, {"hidden": 6, "width": 3, "lam": 3.0}))
    plain.load_state_dict(m.state_dict())
    assert float(plain.loss(plain(b), b)["energy_attention"]) == pytest.approx(float(full))


def test_the_lstms_share_of_the_convnets_gradient():
    """lstm_into_conv scales only the gradient the joint LSTM's cross-entropy sends into the 3D
    convnets: the forward pass is the same; at 0 the convnets get none of it (their own head
    and regularizer still train them), at 0.5 half of what they get at 1, and the LSTM's own
    weights get the same gradient at every share."""
    inputs, b = _two_levels()
    base = build_model(ModelConfig("joint", 2, inputs, {"hidden": 6, "width": 3}))
    grads, outs = {}, {}
    for share in (1.0, 0.5, 0.0):
        m = build_model(ModelConfig("joint", 2, inputs, {"hidden": 6, "width": 3,
                                                         "lstm_into_conv": share}))
        m.load_state_dict(base.state_dict())
        out = m(b)
        outs[share] = out.scores.detach()
        m.loss(out, b)["ce"].backward()  # the LSTM's cross-entropy alone
        grads[share] = ({n: p.grad.clone() for n, p in m.conv.named_parameters()
                         if p.grad is not None},
                        m.classify.weight.grad.clone())
    torch.testing.assert_close(outs[0.0], outs[1.0])
    assert not grads[0.0][0] or all(float(g.abs().max()) == 0 for g in grads[0.0][0].values())
    assert any(float(g.abs().max()) > 0 for g in grads[1.0][0].values())
    for n, g in grads[1.0][0].items():
        torch.testing.assert_close(grads[0.5][0][n], g / 2)
    torch.testing.assert_close(grads[0.0][1], grads[1.0][1])


def test_pyramid_pooling_on_a_4x4_grid():
    K = 4
    Z = torch.arange(16.0).view(1, 16, 1)  # cell i holds the value i
    uniform = torch.zeros(1, 16)  # logits: uniform attention
    # whole grid 7.5; quadrants (0, 1, 4, 5) 2.5, (2, 3, 6, 7) 4.5, (8, 9, 12, 13) 10.5, 12.5
    torch.testing.assert_close(pyramid_pool(uniform, Z, K)[0],
                               torch.tensor([7.5, 2.5, 4.5, 10.5, 12.5]))
    # "sum": each quadrant holds 1/4 of the attention -> a quarter of the rescaled figure
    torch.testing.assert_close(pyramid_pool(uniform, Z, K, "sum")[0],
                               torch.tensor([7.5, 2.5 / 4, 4.5 / 4, 10.5 / 4, 12.5 / 4]))
    att = torch.full((1, 16), 1e-30)
    att[0, 0], att[0, 1], att[0, 15] = 0.5, 0.25, 0.25
    logits = att.log()
    # top-left: cells 0 and 1 weighted 2:1 -> 1/3; bottom-right: all on cell 15
    got = pyramid_pool(logits, Z, K)[0]
    torch.testing.assert_close(got[[0, 1, 4]], torch.tensor([0.25 + 3.75, 1 / 3, 15.0]))
    # rescaled from the logits, an almost empty quadrant is still a distribution (cells 2, 3, 6,
    # 7 equally: 4.5), where dividing the attention by its clamped sum was not
    torch.testing.assert_close(got[2], torch.tensor(4.5))
    got = pyramid_pool(logits, Z, K, "sum")[0]  # 0.5 * 0 + 0.25 * 1; 0.25 * 15; the rest ~0
    torch.testing.assert_close(got, torch.tensor([4.0, 0.25, 0.0, 0.0, 3.75]))
    odd = pyramid_pool(torch.zeros(1, 9), torch.arange(9.0).view(1, 9, 1), 3)[0]
    # K = 3: quadrants share the middle row and column: (0, 1, 3, 4) -> 2, ..., (4, 5, 7, 8) -> 6
    torch.testing.assert_close(odd, torch.tensor([4.0, 2.0, 3.0, 5.0, 6.0]))


def test_2d_convnet_and_head_readings():
    """kernel_t = 1: each frame's Z depends on that frame alone; head_fc: hidden FC layers."""
    inputs = {"rgb": {"layer": "x", "channels": 6, "grid": 3},
              "rgb_level2": {"layer": "y", "channels": 4, "grid": 3}}
    torch.manual_seed(0)
    m2d = build_model(ModelConfig("joint", 3, inputs, {"hidden": 8, "width": 4, "kernel_t": 1,
                                                       "head_fc": 2}))
    conv = m2d.conv[0]
    assert conv.conv1.kernel_size == (1, 3, 3)
    assert sum(isinstance(x, torch.nn.Linear) for x in conv.head) == 3  # 2 hidden + classifier
    cube = torch.randn(1, 5, 3, 3, 6)
    other = cube.clone()
    other[:, 3] = 7.0  # change frame 3 only
    mask = torch.ones(1, 5, dtype=torch.bool)
    z1, z2 = conv(cube, mask)[0], conv(other, mask)[0]
    keep = [0, 1, 2, 4]
    torch.testing.assert_close(z1[:, keep], z2[:, keep])
    m3d = build_model(ModelConfig("joint", 3, inputs, {"hidden": 8, "width": 4}))
    z1, z2 = m3d.conv[0](cube, mask)[0], m3d.conv[0](other, mask)[0]
    assert not torch.allclose(z1[:, 2], z2[:, 2])  # 3 x 3 x 3: frame 2 sees frame 3
    assert sum(isinstance(x, torch.nn.Linear) for x in m3d.conv[0].head) == 2
    with pytest.raises(GlimpseError, match="kernel_t"):
        build_model(ModelConfig("joint", 3, inputs, {"kernel_t": 2}))
    with pytest.raises(GlimpseError, match="pyramid_norm"):
        build_model(ModelConfig("joint", 3, inputs, {"pyramid_norm": "max"}))


def test_convnets_start_from_pytorchs_default_or_he_initialization():
    """conv_init = kaiming: every convnet layer's weights have the He (fan_out, ReLU) scale,
    sqrt(2 / fan_out), and zero biases; the signal keeps its scale through the layers where
    PyTorch's default shrinks it. The default (and a run saved before the option) starts as
    PyTorch does, drawing the same numbers as before the option existed."""
    inputs = {"rgb": {"layer": "x", "channels": 256, "grid": 4},
              "rgb_level2": {"layer": "y", "channels": 32, "grid": 4}}
    torch.manual_seed(0)
    he = build_model(ModelConfig("joint", 3, inputs, {"hidden": 8, "width": 32,
                                                      "conv_init": "kaiming"}))
    for conv in (he.conv[0].proj, he.conv[0].conv1, he.conv[1].conv2):
        fan_out = conv.out_channels * conv.weight[0, 0].numel()
        assert conv.weight.std().item() == pytest.approx((2 / fan_out) ** 0.5, rel=0.1)
        assert not conv.bias.any()
    old = ModelConfig.from_dict({"name": "joint", "num_classes": 3, "inputs": inputs,
                                 "options": {"hidden": 8, "width": 32}})
    torch.manual_seed(0)
    before = build_model(old)
    assert before.cfg.conv_init == "torch"
    torch.manual_seed(0)
    plain = torch.nn.Conv3d(256, 32, 1)  # the first layer built, as PyTorch starts it
    torch.testing.assert_close(before.conv[0].proj.weight, plain.weight, rtol=0, atol=0)
    cube = torch.rand(2, 6, 4, 4, 256)  # non-negative, as a CNN's activations
    mask = torch.ones(2, 6, dtype=torch.bool)
    z_he, z_torch = he.conv[0](cube, mask)[0], before.conv[0](cube, mask)[0]
    assert z_he.std() > 10 * z_torch.std()


def test_joint_on_a_store_without_a_second_level_is_one_line(tiny_synth, tmp_path, capsys):
    from glimpse.cli import main

    assert main(["extract", str(tiny_synth), str(tmp_path / "f"), "--fps", "2", "--quiet"]) == 0
    capsys.readouterr()
    assert main(["train", str(tmp_path / "f"), "--model", "joint", "--out",
                 str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--levels 2" in err and "rgb_level2" in err


def test_joint_through_the_cli(tmp_path):
    """synth -> extract --levels 2 -> train joint (late fusion) -> evaluate with its vote rule."""
    import json

    import numpy as np

    from glimpse.cli import main

    data = tmp_path / "videos"
    small_videos(data, frames=10, seed=5)
    feats, run = tmp_path / "f", tmp_path / "run"
    assert main(["extract", str(data), str(feats), "--fps", "0", "--levels", "2", "--quiet"]) == 0
    assert main(["train", str(feats), "--out", str(run), "--model", "joint", "--hidden", "8",
                 "--width", "4", "--fusion", "late", "--epochs", "1", "--clip-len", "8",
                 "--stride", "2", "--batch-size", "4", "--quiet"]) == 0
    header = (run / "log.csv").read_text().splitlines()[0]
    assert "train_ce_3d" in header and "train_energy_attention" in header
    assert main(["evaluate", str(run), "--quiet"]) == 0
    m = json.loads((run / "metrics.json").read_text())
    assert m["clip_rule"] == "vote-last-16" and m["num_clips"] > m["num_videos"]
    from glimpse.evaluate import frame_attention, run_clips
    from glimpse.features.store import FeatureStore
    from glimpse.run import load_run

    loaded = load_run(run)
    entry = FeatureStore(feats).entries()[0]
    res = run_clips(loaded.model, [entry], T=8, stride=2)[0]
    energy = frame_attention(res, entry.num_frames, "energy")
    assert energy.shape == (10, 8, 8) and np.allclose(np.nansum(energy, (1, 2)), 1)
    assert main(["report", str(run), "--out", str(tmp_path / "report"), "--videos", "1"]) == 0


def test_a_leaky_first_convolution_lets_a_unit_below_zero_for_every_input_learn_again():
    """conv1_slope: the first convolution's ReLU is leaky with that slope (golden: -2 -> -0.02 at
    0.01), the second keeps its ReLU (Z >= 0); a conv1 unit whose bias puts it below zero for
    every input (seed 7's plateau, stability.md) gets no gradient under the paper's ReLU and one
    under the leak. The default is the ReLU, as before the option."""
    inputs = {"rgb": {"layer": "x", "channels": 8, "grid": 3},
              "rgb_level2": {"layer": "y", "channels": 4, "grid": 3}}
    cube, mask = torch.rand(2, 4, 3, 3, 8), torch.ones(2, 4, dtype=torch.bool)
    grads = {}
    for slope in (0.0, 0.01):
        torch.manual_seed(0)
        model = build_model(ModelConfig("joint", 3, inputs, {"hidden": 8, "width": 4,
                                                             "conv1_slope": slope}))
        conv = model.conv[0]
        with torch.no_grad():
            conv.conv1.bias[0] = -100.0  # unit 0: dead for every input
        z, logits = conv(cube, mask)
        assert (z >= 0).all()
        (z.sum() + logits.sum()).backward()
        grads[slope] = conv.conv1.bias.grad[0].item()
    assert grads[0.0] == 0.0 and grads[0.01] != 0.0
    assert build_model(ModelConfig("joint", 3, inputs, {"hidden": 8})).cfg.conv1_slope == 0.0
    torch.manual_seed(0)
    leaky = build_model(ModelConfig("joint", 3, inputs, {"hidden": 8, "width": 1,
                                                         "conv1_slope": 0.01})).conv[0]
    with torch.no_grad():
        for c in (leaky.proj, leaky.conv1, leaky.conv2):
            c.weight.zero_()
            c.bias.zero_()
        leaky.conv1.bias.fill_(-2.0)  # conv1's output -2 everywhere -> -0.02 after the leak
        leaky.conv2.weight[0, 0, 1, 1, 1] = -1.0  # conv2 reads the middle tap: +0.02
    z, _ = leaky(cube[..., :8], mask)
    torch.testing.assert_close(z[0, 1, 1, 1], torch.tensor([0.02]))
    with pytest.raises(GlimpseError, match="conv1_slope"):
        build_model(ModelConfig("joint", 3, inputs, {"conv1_slope": -0.1}))
