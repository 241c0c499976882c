"""Joint attention on multi-level features (paper 003): a 3D convnet per CNN level with its own
deeply supervised head and attention regularizer, one attention shared by the levels, a spatial
pyramid, and a joint LSTM whose first layer has per-input sub-gates. (Wu, Wang, Yang, Ji,
"Action recognition with joint attention on multi-level deep features", arXiv 1607.02556, 2016;
docs/papers.md.)

Reading of the paper (its equations lose symbols in the text; where it is silent or inconsistent
this is the choice made):

- **Levels**: the store's main cube ``rgb`` and its second level ``rgb_level2`` (``glimpse
  extract --levels 2``: VGG16's pool4 beside conv5_3, as the paper; EfficientNet-Lite0's
  stride-16 stage by default), both on one K x K grid. The paper's 11 x 11 x 256 maps match
  neither VGG16 layer; its K is whatever the store holds. ``stream`` picks one level alone
  (Table 2) or both (``rgb+rgb_level2``, the default; each level is its own branch).
- **3D convnet per level k** (sec. 3.2): a 1 x 1 x 1 projection of the level's D channels to
  ``width`` C' (the paper's 256; 64 by default here, for 2 cores), then two Conv3d layers with
  3 x 3 x 3 kernels, stride 1, padding 1, each followed by ReLU -> Z^k (T, K, K, C').
  ``conv3d = False`` feeds the level's cube straight to the attention (Table 3's "no 3D
  convnet"; no head, no regularizer). ``kernel_t = 1`` makes both layers 1 x 3 x 3: a 2D
  convnet applied frame by frame, with the same head and regularizer (Table 3's "2d-convnet with
  regularization"). Padded steps are zeroed after every layer (the projection's and the first
  convolution's biases would otherwise reach the last valid steps through the 3-step kernels),
  so a padded clip's valid steps are those of the same clip unpadded. The paper does not say
  how the convnets start. ``conv_init = torch`` (the default) is PyTorch's default, which
  shrinks the signal at each layer (Z reaches the LSTM at ~0.04); ``kaiming`` is He normal
  initialization (fan_out, ReLU gain, zero biases, as MMAction2 and PySlowFast start their 3D
  convnets). What each did on the re-tests: docs/retest/paper003.md. ``conv1_slope`` (a
  departure, 0 by default: the paper's ReLU) makes the first convolution's ReLU leaky with that
  negative slope: at PyTorch's scale the first Adam steps can push a unit below zero for every
  input, after which a ReLU gives it no gradient to come back by (docs/retest/stability.md);
  the second keeps its ReLU, so Z, whose channel energy the regularizer normalizes, stays
  non-negative.
- **Its own head**: spatio-temporal mean of Z^k -> ``head_fc`` hidden FC(C', C') + ReLU ->
  FC(C', C) -> softmax, cross-entropy against the clip's label. The paper feeds Z "into 2 FC
  layers to calculate the probabilities": read as one hidden layer and the classifier
  (``head_fc = 1``, the default and the re-test tables' choice); ``head_fc = 2`` is the other
  reading (two hidden layers, then the classifier). Plus the **attention regularizer**
  lambda sum_t sum_i (e_{t,i} - att_{t,i})^2, e_t = Z's channel energy sum_c Z_{t,i,c}
  normalized over the K^2 cells. att is detached inside this term (it trains the 3D convnet,
  not the attention). The term is a **sum** over the T steps and K^2 cells here; the paper's
  equation does not settle whether its lambda = 1000 weighs a sum or a mean over step-cells. If
  a mean, its 1000 is about 1000 / (30 x 64) = 0.5 here (0.28 for its own 30 x 121); if a sum,
  the paper's 121 cells against 64 change the term only ~1.9x. ``lam`` = 1 by default, chosen
  on validation by the re-test's sweep of the summed form (the ``joint_lam`` table;
  docs/retest/paper003.md, with what the weight does to the convnets' first epochs).
  ``lam_warmup`` N (a departure, off by default) raises the weight linearly from 0 at epoch 0
  to lam at epoch N, so that the convnets can leave their initial plateau as they do at
  lambda 0 before the term pulls on them (docs/retest/stability.md).
- **How the convnets learn** (sec. 3.2: "it is not efficient to train the parameters using
  gradients back from the LSTM module. Thus we propose a deep supervised strategy to train the
  3d-convnet partly independently"): the paper does not say whether the LSTM's gradient still
  reaches them. ``lstm_into_conv`` is the share that does: 1 (the default: end to end, its own
  head and regularizer beside), 0 (the convnets learn from their heads and regularizer alone,
  the LSTM reads them as they are), or between.
- **Joint attention** (sec. 3.3): one location softmax att_t = softmax(W_att h_{t-1}) over the
  K^2 cells from the top LSTM layer (h_0 = 0), shared by every level: x^k_t = sum_i att_{t,i}
  Z^k_{t,i}.
- **Spatial pyramid** (sec. 3.4): x^k_t = [whole grid; the four quadrants] (with K odd the
  quadrants share the middle row and column). The paper does not say how a quadrant is
  weighted; two readings (``pyramid_norm``): ``rescale`` (the default and the re-test tables'
  choice), each quadrant's cells weighted by the attention renormalized inside it (computed as
  the softmax of the attention logits over the quadrant's cells, exact however saturated the
  attention), so every quadrant enters at full strength; ``sum``, the attended map summed over
  the quadrant's cells without rescaling, so a quadrant enters in proportion to the attention
  it holds. ``pyramid = False``: the whole grid only.
- **Joint LSTM**: 3 layers (hidden 1024 in the paper). Layer 1 has, per input k, sub-gates
  i^k, f^k, o^k = tanh(W_x x^k + W_h h_{t-1} + b), combined as i = sigma(sum_k W_i^k i^k) (f and o
  likewise; the paper's f uses i^k, a typo read as f^k); **early fusion**
  g = tanh(sum_k W_c^k x^k + W_hc h_{t-1} + b_c); **late fusion**
  g = tanh(sum_k W_c^k (x^k * i^k) + W_hc h_{t-1} + b_c), the input sub-gates then having the
  input's width. c = f * c + i * g, h = o * tanh(c). Layers 2 and 3 are standard LSTM layers.
  y_t = softmax(W_prob h_t).
- **Loss**: the LSTM's cross-entropy at every step + the sum over levels of the 3D heads'
  cross-entropies and regularizers (+ the trainer's weight decay gamma = zeta = 1e-5).
- **Prediction** (sec. 3.5): clips of L1 consecutive frames; the clip's label is the majority
  vote of the per-step argmax over its last L2 = 16 steps (``vote-last-16``); videos by a
  majority vote of their clips (``evaluate --video-rule vote``).

The ``attention`` output is att_t; ``extras["energy"]`` is the first level's energy map e_t
(B, T, K, K), the map the regularizer pulls toward att.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import Tensor, nn

from glimpse.losses import energy_attention_penalty
from glimpse.models import options
from glimpse.models.attention import attend
from glimpse.models.base import ActionModel, valid_steps
from glimpse.models.lstm import StackedLSTM
from glimpse.models.output import ModelOutput

PYRAMID_NORMS = ("rescale", "sum")
CONV_INITS = ("kaiming", "torch")


@dataclass
class JointConfig:
    stream: str = options.stream("rgb+rgb_level2", "the levels, each its own branch "
                                 "(rgb+rgb_level2), or one alone")
    width: int = options.option(64, "C', the 3D convnets' channels (the paper's 256)",
                                check=options.POSITIVE)
    conv3d: bool = options.option(True, "off: the level cubes straight to the attention (no 3D "
                                  "convnet, head or regularizer; Table 3)")
    lam: float = options.option(1.0, "the 3D convnet's attention regularizer (paper 003: 1000; "
                                "see the model's docstring)", check=options.NONNEGATIVE)
    fusion: str = options.option("early", "the joint LSTM's input fusion: early or late (Table "
                                 "4)", choices=("early", "late"))
    pyramid: bool = options.option(True, "off: the whole grid only (no four quadrants, sec. 3.4)")
    pyramid_norm: str = options.option("rescale", "a quadrant's weights: the attention rescaled "
                                       "to sum 1 inside it, or summed as it is",
                                       choices=PYRAMID_NORMS)
    kernel_t: int = options.option(3, "the convnet's temporal kernel: 3 (3D convnet) or 1 (a 2D "
                                   "convnet frame by frame, Table 3)", choices=(1, 3))
    head_fc: int = options.option(1, "hidden FC layers of each level's head before its "
                                  "classifier (see the docstring)", check=options.NONNEGATIVE_INT)
    hidden: int = options.hidden(1024)
    layers: int = options.layers(3)
    dropout: float = options.dropout(0.0, "dropout on the non-recurrent connections of layers "
                                     "2-3 (the paper: none)")
    lam_warmup: float = options.option(0.0, "epochs over which the regularizer's weight rises "
                                       "linearly from 0 to lam (0: lam from the start, the "
                                       "paper)", check=options.NONNEGATIVE)
    conv_init: str = options.option("torch", "the convnets' initial weights: torch "
                                    "(PyTorch's default) or kaiming (He normal, fan_out, ReLU "
                                    "gain, zero biases: MMAction2's and PySlowFast's 3D "
                                    "convnets)", choices=CONV_INITS)
    conv1_slope: float = options.option(0.0, "negative slope of the first convolution's ReLU "
                                        "(0: ReLU, the paper; e.g. 0.01: leaky, so a unit "
                                        "below zero for every input still learns)",
                                        check=options.NONNEGATIVE)
    lstm_into_conv: float = options.option(1.0, "the share of the joint LSTM's gradient that "
                                           "reaches the 3D convnets (1: end to end; 0: they "
                                           "learn from their own heads and regularizer only)",
                                           check=options.NONNEGATIVE)




def scale_gradient(x: Tensor, share: float) -> Tensor:
    """``x`` itself forward; backward, ``share`` of the gradient passes (0: none, 1: all)."""
    if share == 1.0:
        return x
    if share == 0.0:
        return x.detach()
    return x * share + x.detach() * (1.0 - share)


def pyramid_pool(logits: Tensor, Z: Tensor, K: int, norm: str = "rescale") -> Tensor:
    """Attention logits (B, K^2), Z (B, K^2, C) -> (B, 5 C): [sum_i att_i Z_i; each quadrant's
    cells weighted by att] with att = softmax(logits); ``rescale``: the quadrant's weights
    renormalized to sum 1 (the softmax of its own logits), ``sum``: att as it is. Quadrants are
    rows / columns [0, ceil(K/2)) and [floor(K/2), K) (sharing the middle one when K is odd)."""
    B, _, C = Z.shape
    att = torch.softmax(logits, -1)
    a, lg = att.view(B, K, K), logits.view(B, K, K)
    z = Z.view(B, K, K, C)
    out = [attend(Z, att)]
    lo, hi = (K + 1) // 2, K // 2
    for rows in (slice(0, lo), slice(hi, K)):
        for cols in (slice(0, lo), slice(hi, K)):
            if norm == "rescale":
                q = lg[:, rows, cols]
                w = torch.softmax(q.flatten(1), -1).view_as(q)
            else:
                w = a[:, rows, cols]
            out.append(torch.einsum("bij,bijc->bc", w, z[:, rows, cols]))
    return torch.cat(out, -1)


class _Conv3D(nn.Module):
    """One level: 1x1x1 projection, two 3x3x3 Conv3d + ReLU, and the deeply supervised head."""

    def __init__(self, D: int, width: int, num_classes: int, kernel_t: int = 3, head_fc: int = 1,
                 init: str = "torch", slope: float = 0.0):
        super().__init__()
        self.slope = slope
        kernel, pad = (kernel_t, 3, 3), (kernel_t // 2, 1, 1)
        self.proj = nn.Conv3d(D, width, 1)
        self.conv1 = nn.Conv3d(width, width, kernel, padding=pad)
        self.conv2 = nn.Conv3d(width, width, kernel, padding=pad)
        if init == "kaiming":  # PyTorch's default shrinks the signal at every layer (Z ~ 0.04)
            for conv in (self.proj, self.conv1, self.conv2):
                nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(conv.bias)
        hidden = [m for _ in range(head_fc) for m in (nn.Linear(width, width), nn.ReLU())]
        self.head = nn.Sequential(*hidden, nn.Linear(width, num_classes))

    def forward(self, cube: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """cube (B, T, K, K, D), mask (B, T) -> Z (B, T, K, K, C'), head logits (B, C)."""
        keep = mask[:, None, :, None, None].to(cube.dtype)  # padded steps: zeros after each layer
        x = self.proj(cube.permute(0, 4, 1, 2, 3)) * keep
        x = nn.functional.leaky_relu(self.conv1(x), self.slope) * keep  # slope 0: ReLU
        z = torch.relu(self.conv2(x)) * keep
        z = z.permute(0, 2, 3, 4, 1)
        m = mask.to(z.dtype)
        pooled = (z.mean((2, 3)) * m[..., None]).sum(1) / m.sum(1, keepdim=True).clamp_min(1)
        return z, self.head(pooled)


class _JointLayer(nn.Module):
    """The first LSTM layer: sub-gates per input, fused gates, early or late input fusion."""

    def __init__(self, widths: list[int], M: int, late: bool):
        super().__init__()
        self.late = late
        sub = [n if late else M for n in widths]  # the input sub-gate's width
        self.sub_x = nn.ModuleList(nn.Linear(n, s + 2 * M) for n, s in zip(widths, sub))
        self.sub_h = nn.ModuleList(nn.Linear(M, s + 2 * M, bias=False) for s in sub)
        self.fuse_i = nn.ModuleList(nn.Linear(s, M, bias=False) for s in sub)
        self.fuse_f = nn.ModuleList(nn.Linear(M, M, bias=False) for _ in widths)
        self.fuse_o = nn.ModuleList(nn.Linear(M, M, bias=False) for _ in widths)
        self.cand_x = nn.ModuleList(nn.Linear(n, M, bias=False) for n in widths)
        self.cand_h = nn.Linear(M, M)  # W_hc and b_c
        self.sub = sub

    def forward(self, xs: list[Tensor], h: Tensor, c: Tensor) -> tuple[Tensor, Tensor]:
        i = f = o = g = 0
        for k, x in enumerate(xs):
            s = self.sub[k]
            gates = torch.tanh(self.sub_x[k](x) + self.sub_h[k](h))
            ik, fk, ok = gates[:, :s], gates[:, s: s + h.shape[1]], gates[:, s + h.shape[1]:]
            i = i + self.fuse_i[k](ik)
            f = f + self.fuse_f[k](fk)
            o = o + self.fuse_o[k](ok)
            g = g + self.cand_x[k](x * ik if self.late else x)
        g = torch.tanh(g + self.cand_h(h))
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * g
        return torch.sigmoid(o) * torch.tanh(c), c


class JointAttentionLSTM(ActionModel):
    Config = JointConfig
    SAVED_BEFORE = {"conv_init": "torch", "lstm_into_conv": 1.0}  # what runs saved before
    #                                                                the options trained with
    prediction = "vote-last-16"
    streams = ("rgb", "rgb_level2")
    maps = ("energy",)

    def __init__(self, *, num_classes: int, inputs: dict, cfg: JointConfig):
        super().__init__()
        K, _ = self.cube_input(inputs, asdict(cfg), "extract the levels with --levels 2 (one "
                                                    "grid)")
        self.cfg, self.grid = cfg, K
        dims = [inputs[s]["channels"] for s in self.streams]
        self.conv = nn.ModuleList(_Conv3D(D, cfg.width, num_classes, cfg.kernel_t, cfg.head_fc,
                                          cfg.conv_init, cfg.conv1_slope)
                                  for D in dims) if cfg.conv3d else None
        z_dims = [cfg.width] * len(dims) if cfg.conv3d else dims
        x_dims = [d * (5 if cfg.pyramid else 1) for d in z_dims]
        M = cfg.hidden
        self.locate = nn.Linear(M, self.grid * self.grid)  # W_att
        self.first = _JointLayer(x_dims, M, late=cfg.fusion == "late")
        self.upper = StackedLSTM(input_size=M, hidden=M, layers=cfg.layers - 1,
                                 dropout=cfg.dropout) if cfg.layers > 1 else None
        self.classify = nn.Linear(M, num_classes)  # W_prob
        self.lam = cfg.lam if not cfg.lam_warmup else 0.0  # this epoch's weight (set_epoch)

    def set_epoch(self, epoch: int, epochs: int) -> None:
        """The regularizer's weight this epoch: lam * min(1, epoch / lam_warmup)."""
        cfg = self.cfg
        self.lam = cfg.lam * (min(1.0, epoch / cfg.lam_warmup) if cfg.lam_warmup else 1.0)

    def forward(self, batch: dict) -> ModelOutput:
        """batch[level] (B, T, K, K, D_k), mask (B, T) -> scores (B, T, C), attention
        (B, T, K, K); extras: the 3D heads' logits and energy maps."""
        cubes = [batch[s] for s in self.streams]
        B, T, K, _, _ = cubes[0].shape
        mask = valid_steps(batch.get("mask"), B, T, cubes[0].device)
        extras = {}
        if self.conv is not None:
            outs = [conv(c, mask) for conv, c in zip(self.conv, cubes)]
            Zs = [z.reshape(B, T, K * K, -1) for z, _ in outs]
            extras["head_logits"] = torch.stack([logits for _, logits in outs], 1)  # (B, L, C)
            energy = torch.stack([z.sum(-1) for z in Zs], 1)  # (B, L, T, K^2)
            extras["energies"] = energy / energy.sum(-1, keepdim=True).clamp_min(1e-12)
            extras["energy"] = extras["energies"][:, 0].reshape(B, T, K, K)
            Zs = [scale_gradient(Z, self.cfg.lstm_into_conv) for Z in Zs]  # the LSTM's path
        else:
            Zs = [c.reshape(B, T, K * K, -1) for c in cubes]
        M = self.cfg.hidden
        h = c = cubes[0].new_zeros(B, M)
        state = self.upper.zero_state(B, h.device, h.dtype) if self.upper is not None else None
        tapes = self.upper.new_tapes() if self.upper is not None else None
        tops, atts = [], []
        # each level's steps as views: indexing Z[:, t] in the loop would make autograd write a
        # zero-filled gradient of the whole Z for every step (a fifth of a training step's time)
        steps = [Z.unbind(1) for Z in Zs]
        for t in range(T):
            top = state[-1][0] if state is not None else h
            logits = self.locate(top)
            att = torch.softmax(logits, -1)  # (B, K^2), shared by the levels
            xs = [pyramid_pool(logits, Z[t], K, self.cfg.pyramid_norm) if self.cfg.pyramid
                  else attend(Z[t], att) for Z in steps]
            h, c = self.first(xs, h, c)
            top = h
            if self.upper is not None:
                top, state = self.upper.step(h, state, tapes)
            tops.append(top)
            atts.append(att)
        scores = self.classify(torch.stack(tops, 1))
        return ModelOutput(scores, torch.stack(atts, 1).view(B, T, K, K), extras)

    def loss(self, output: ModelOutput, batch: dict) -> dict[str, Tensor]:
        terms = super().loss(output, batch)
        if self.conv is None:
            return terms
        logits = output.extras["head_logits"]  # (B, L, C)
        L = logits.shape[1]
        terms["ce_3d"] = sum(nn.functional.cross_entropy(logits[:, k], batch["label"])
                             for k in range(L))
        if self.cfg.lam:
            att = output.attention.flatten(2)
            terms["energy_attention"] = self.lam * sum(
                energy_attention_penalty(output.extras["energies"][:, k], att, batch.get("mask"))
                for k in range(L))
        return terms
