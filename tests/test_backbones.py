import subprocess
import sys

import numpy as np
import pytest
import torch

from glimpse import GlimpseError
from glimpse.features.backbones import (
    Backbone,
    Conv2dSame,
    build_efficientnet_lite0,
    efficientnet_lite0_weights_path,
    fold_batchnorm,
    for_inference,
)


@pytest.fixture(scope="module")
def lite0():
    return Backbone("efficientnet_lite0")


def test_parity_with_reference_efficientnet_lite(lite0):
    """timm's architecture with the mapped state dict == the reference implementation, and the
    batch-norm-folded inference path == both, up to float rounding."""
    from efficientnet_lite_pytorch import EfficientNet

    ref = EfficientNet.from_pretrained("efficientnet-lite0",
                                       weights_path=str(efficientnet_lite0_weights_path())).eval()
    ours = build_efficientnet_lite0().eval()
    x = torch.randn(2, 3, 256, 256, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(ours.forward_features(x), ref.extract_features(x), atol=1e-5,
                                   rtol=0)
        torch.testing.assert_close(ours(x), ref(x), atol=1e-5, rtol=0)
        folded = lite0.body.net.forward_features(x)
        torch.testing.assert_close(folded, ref.extract_features(x), atol=2e-4, rtol=1e-4)


def test_own_efficientnet_lite0_is_timms_bit_for_bit():
    """glimpse's EfficientNet-Lite0 has timm's tensors in timm's order (the weights map onto
    both alike) and computes the same numbers, on even and odd sides; building it and a backbone
    imports neither timm nor torchvision (~3 s of every extract and predict)."""
    ours, theirs = build_efficientnet_lite0().eval(), build_efficientnet_lite0(timm=True).eval()
    assert [(k, v.shape) for k, v in ours.state_dict().items()] == \
        [(k, v.shape) for k, v in theirs.state_dict().items()]
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for side in (256, 225):
            x = torch.randn(2, 3, side, side, generator=g)
            assert torch.equal(ours.forward_features(x), theirs.forward_features(x))
            assert torch.equal(ours(x), theirs(x))
    code = ("import sys; from glimpse.features.backbones import Backbone; Backbone(); "
            "print(sorted({'timm', 'torchvision'} & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_fold_batchnorm_golden():
    conv = torch.nn.Conv2d(1, 1, 1, bias=False)
    conv.weight.data.fill_(2.0)
    bn = torch.nn.BatchNorm2d(1).eval()
    bn.weight.data.fill_(3.0), bn.bias.data.fill_(1.0)
    bn.running_mean.fill_(4.0), bn.running_var.fill_(1.0 - bn.eps)  # sqrt(var + eps) = 1
    seq = fold_batchnorm(torch.nn.Sequential(conv, bn))
    assert isinstance(seq[1], torch.nn.Identity)
    # x = 5: conv 10, bn (10 - 4) * 3 + 1 = 19; folded weight 6, bias -12 + 1
    assert seq(torch.full((1, 1, 1, 1), 5.0)).item() == pytest.approx(19.0)
    assert seq[0].weight.item() == 6.0 and seq[0].bias.item() == -11.0


def test_same_padding_in_one_call_golden():
    """TensorFlow's "same" at stride 2 pads after, not before: ones through a 3 x 3 kernel of ones
    on a 4 x 4 input give [[9, 6], [6, 4]] (PyTorch's symmetric padding would give [[4, 6],
    [6, 9]]); the one-call rewrite equals timm's Conv2dSame for k = 3 and 5, on even and odd
    sides, and glimpse's own Conv2dSame equals timm's."""
    from timm.layers import Conv2dSame as TimmConv2dSame

    conv = Conv2dSame(1, 1, 3, stride=2, bias=False)
    conv.weight.data.fill_(1.0)
    rewritten = for_inference(torch.nn.Sequential(conv))
    assert type(rewritten[0]).__name__ == "_SamePaddedConv"
    with torch.no_grad():
        got = rewritten(torch.ones(1, 1, 4, 4))
    assert got[0, 0].tolist() == [[9.0, 6.0], [6.0, 4.0]]
    g = torch.Generator().manual_seed(0)
    for k, groups, side in [(3, 1, 16), (3, 8, 16), (5, 8, 16), (3, 8, 15), (5, 1, 9)]:
        ref = TimmConv2dSame(8, 8, k, stride=2, groups=groups)
        ours = Conv2dSame(8, 8, k, stride=2, groups=groups)
        ours.load_state_dict(ref.state_dict())
        new = for_inference(torch.nn.Sequential(ref))
        x = torch.randn(2, 8, side, side, generator=g)
        with torch.no_grad():
            assert torch.equal(ours(x), ref(x))
            torch.testing.assert_close(new(x), ref(x), atol=1e-5, rtol=1e-5)


def test_inference_rewrites_keep_the_features(lite0):
    """The backbone as glimpse runs it (batch norms folded, "same" convolutions in one call,
    activations in place) == timm's module as loaded, to float rounding."""
    rewritten = [m for m in lite0.body.net.modules() if type(m).__name__ == "_SamePaddedConv"]
    assert len(rewritten) == 5  # the stem and the four stride-2 depthwise convolutions
    plain = build_efficientnet_lite0().eval()
    x = torch.randint(0, 255, (2, 256, 256, 3), dtype=torch.uint8)
    with torch.no_grad():
        ref = plain.forward_features(lite0.preprocess(x)).permute(0, 2, 3, 1)
        torch.testing.assert_close(lite0(x), ref, atol=2e-4, rtol=1e-4)


def test_conv_relu6_fused_golden(monkeypatch):
    """A 1 x 1 convolution of weight 1 and bias -3 on inputs 0, 6 and 12 gives -3, 3 and 9;
    clamped to [0, 6]: 0, 3 and 6, fused into the convolution (oneDNN's post-op) or not."""
    import glimpse.features.backbones as B

    conv = torch.nn.Conv2d(1, 1, 1).eval()
    conv.weight.data.fill_(1.0), conv.bias.data.fill_(-3.0)
    x = torch.tensor([0.0, 6.0, 12.0]).view(1, 1, 1, 3)
    with torch.no_grad():
        assert B._conv_relu6(conv, x).flatten().tolist() == [0.0, 3.0, 6.0]
        monkeypatch.setattr(B, "_POINTWISE", False)
        assert B._ConvReLU6(conv)(x).flatten().tolist() == [0.0, 3.0, 6.0]


def test_fused_relu6_keeps_the_features(lite0, monkeypatch):
    """Every ReLU6 of the backbone is fused into the convolution before it (28 plain ones, the 5
    stride-2 "same" ones), none is left, and the features equal the unfused path's: bit for bit
    on the Intel CPU it was written on; on an AMD EPYC (AVX-512) oneDNN picks other kernels for
    a single image and ~10% of the values differ by up to 1e-5 (seen 2026-12-06), so the
    comparison allows float rounding."""
    import glimpse.features.backbones as B

    mods = list(lite0.body.net.modules())
    assert sum(isinstance(m, B._ConvReLU6) for m in mods) == 28
    assert sum(isinstance(m, B._SamePaddedConv) and m.relu6 for m in mods) == 5
    assert not any(isinstance(m, torch.nn.ReLU6) for m in mods)
    x = torch.randint(0, 255, (2, 256, 256, 3), dtype=torch.uint8,
                      generator=torch.Generator().manual_seed(1))
    available = B._POINTWISE  # False on a torch without oneDNN: both sides run unfused
    with torch.no_grad():
        fused = lite0(x)
        monkeypatch.setattr(B, "_POINTWISE", False)
        torch.testing.assert_close(fused, lite0(x), rtol=1e-4, atol=1e-4)
        odd = lite0.preprocess(torch.randint(0, 255, (1, 225, 225, 3), dtype=torch.uint8))
        unfused_odd = lite0.body(odd)["conv_head"]
        monkeypatch.setattr(B, "_POINTWISE", available)
        torch.testing.assert_close(lite0.body(odd)["conv_head"], unfused_odd, rtol=1e-4,
                                   atol=1e-4)


@pytest.mark.parametrize("name,cls", [("chelsea", 285), ("coffee", 967)])
def test_real_photos_classify_correctly(lite0, name, cls):
    """TF-Lite preprocessing (x - 127.5) / 127.5 and the weights give the right ImageNet class."""
    import skimage.data
    from PIL import Image

    img = np.asarray(Image.fromarray(getattr(skimage.data, name)()).resize((256, 256), Image.BILINEAR))
    x = lite0.preprocess(torch.from_numpy(img)[None])
    np.testing.assert_allclose(x[0, :, 0, 0].numpy(), (img[0, 0] - 127.5) / 127.5, atol=1e-6)
    with torch.no_grad():
        assert lite0.body.net(x).argmax().item() == cls  # through the folded inference path


def test_default_cube_is_8x8x1280_and_pooled_is_its_mean(lite0):
    x = torch.randint(0, 255, (2, 256, 256, 3), dtype=torch.uint8)
    with torch.no_grad():
        cube, vec = lite0(x, pooled=True)
    assert cube.shape == (2, 8, 8, 1280) and vec.shape == (2, 1280)
    torch.testing.assert_close(vec, cube.mean(dim=(1, 2)))


def test_mapping_rejects_a_wrong_file(tmp_path):
    torch.save({"a.weight": torch.zeros(3)}, tmp_path / "w.pth")
    with pytest.raises(GlimpseError, match="tensors, expected"):
        build_efficientnet_lite0(tmp_path / "w.pth")


@pytest.mark.parametrize("name,layer,size,cube", [
    ("googlenet", "inception5b", 224, (7, 7, 1024)),
    ("inception_v3", "Mixed_7c", 299, (8, 8, 2048)),
    ("vgg16", "pool4", 224, (14, 14, 512)),
    ("vgg16", "conv5_3", 224, (14, 14, 512)),
])
def test_torchvision_backbones_load_a_named_local_file(tmp_path, request, name, layer, size, cube):
    import torchvision.models as tvm

    if name == "vgg16":
        path = request.getfixturevalue("vgg16_weights")
    else:
        model = getattr(tvm, name)(weights=None, aux_logits=True, init_weights=False)
        path = tmp_path / f"{name}.pth"
        torch.save(model.state_dict(), path)
    bb = Backbone(name, weights=path, layer=layer)
    assert bb.spec.input_size == size
    with torch.no_grad():
        out = bb(torch.randint(0, 255, (1, size, size, 3), dtype=torch.uint8))
    assert tuple(out.shape[1:]) == cube
    assert bb.describe()["channels"] == cube[2]


def test_torchvision_backbone_needs_a_weights_file(tmp_path):
    with pytest.raises(GlimpseError, match="needs --weights"):
        Backbone("googlenet")
    with pytest.raises(GlimpseError, match="does not exist"):
        Backbone("googlenet", weights=tmp_path / "missing.pth")
    (tmp_path / "bad.pth").write_text("nope")
    with pytest.raises(GlimpseError, match="cannot read weights"):
        Backbone("googlenet", weights=tmp_path / "bad.pth")
    with pytest.raises(GlimpseError, match="unknown backbone"):
        Backbone("resnet9000")
    with pytest.raises(GlimpseError, match="no layer"):
        Backbone("efficientnet_lite0", layer="fc")


def test_second_level_is_the_stride_16_stage_pooled_to_the_grid():
    import torch.nn.functional as F

    bb = Backbone("efficientnet_lite0", level2=True)
    x = torch.randint(0, 255, (2, 256, 256, 3), dtype=torch.uint8)
    with torch.no_grad():
        out = bb.levels(x)
        n = bb.body.net
        h = n.bn1(n.conv_stem(bb.preprocess(x)))
        for block in list(n.blocks)[:5]:
            h = block(h)
        cube = bb(x)
    assert h.shape[1:] == (112, 16, 16)
    torch.testing.assert_close(out["level2"], F.avg_pool2d(h, 2).permute(0, 2, 3, 1))
    torch.testing.assert_close(out["cube"], cube, rtol=0, atol=0)  # the same pass, bit for bit
    assert out["level2"].shape == (2, 8, 8, 112)


def test_vgg16_second_level_is_pool4_beside_conv5_3(vgg16_weights):
    bb = Backbone("vgg16", weights=vgg16_weights, level2=True)
    with torch.no_grad():
        out = bb.levels(torch.randint(0, 255, (1, 224, 224, 3), dtype=torch.uint8))
    assert bb.layer == "conv5_3" and bb.level2 == "pool4"
    assert out["cube"].shape == out["level2"].shape == (1, 14, 14, 512)


def test_vgg16_reads_its_trunk_from_a_full_or_trunk_only_file(tmp_path, vgg16_weights):
    """The head's tensors (classifier.*) of a full torchvision file are read past; conv5_3 is
    torchvision's own vgg16.features up to conv5_3's ReLU; a trunk tensor short is one line."""
    import torchvision.models as tvm

    sd = torch.load(vgg16_weights, weights_only=True)
    torch.save({**sd, "classifier.0.weight": torch.zeros(2, 2)}, tmp_path / "full.pth")
    bb = Backbone("vgg16", weights=tmp_path / "full.pth", layer="conv5_3")
    ref = tvm.vgg16(weights=None).eval()
    ref.load_state_dict({**sd, **{k: v for k, v in ref.state_dict().items()
                                  if k.startswith("classifier.")}})
    x = torch.randint(0, 255, (1, 224, 224, 3), dtype=torch.uint8)
    with torch.no_grad():
        want = ref.features[:30](bb.preprocess(x).contiguous()).permute(0, 2, 3, 1)
        torch.testing.assert_close(bb(x), want, rtol=1e-4, atol=1e-4)
    del sd["features.28.weight"]
    torch.save(sd, tmp_path / "short.pth")
    with pytest.raises(GlimpseError, match=r"does not fit torchvision's vgg16: 1 missing"):
        Backbone("vgg16", weights=tmp_path / "short.pth")
