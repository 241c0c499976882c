"""RSTAN (paper 001, Du, Wang and Qiao): recurrent spatial-temporal attention over two streams,
attention-driven appearance-motion fusion, actor-attention regularization. ("Recurrent
spatial-temporal attention network for action recognition in videos", IEEE TIP 2017;
docs/papers.md.)

The paper's equations are garbled in its text; this is the reading of its sec. III and Tables
I-III that glimpse implements (the notation is the paper's, s = a (rgb) or m (flow)):

- **Clips** are T frames at equal intervals over the whole video (``sampling = "uniform"``:
  paper 001 trains on 16 or 8 such frames with a random offset and tests on 32).
- **Spatial attention** at step t, over every frame n of the window and every cell k (eq. 2-4):
  alpha~_t(n, k) = v_a^T tanh(A_h h_{t-1} + A_cv CV(n, k) + b_a); alpha_t(n, .) = softmax over k
  of gamma_a alpha~ (eq. 3's exp(.)^gamma_a normalized is exactly that);
  L_t(n) = sum_k alpha_t(n, k) CV(n, k).
  A_cv CV(n, k) + b_a does not depend on t: it is computed once per clip (``naive=True``
  recomputes it at every step, for the benchmark and the equivalence test only). So is
  B_L CV(n, k), which gives eq. 5's B_L L_t(n) = sum_k alpha_t(n, k) B_L CV(n, k) as a weighted
  sum of width att_dim instead of a D x att_dim product per frame and step, and Phi_t =
  sum_n sum_k beta_t(n) alpha_t(n, k) CV(n, k) needs no L_t at all.
- **Temporal attention** (eq. 5-7): beta~_t(n) = v_b^T tanh(B_h h_{t-1} + B_L L_t(n) + b_b),
  beta_t = softmax over the window's frames of gamma_b beta~, Phi_t = sum_n beta_t(n) L_t(n).
  The window (``window``): every frame of the clip (``all``, the paper's default), the current
  frame only (``current``: Table III's current-frame attention) or {t, t+1} (``next``: JHMDB).
  Padded frames are never attended.
- **Core**: one LSTM layer per stream (hidden 1024 in the paper), h0 = c0 = 0, input
  [FC_t ; Phi_t] (eq. 8-13). FC_t is the spatial mean of the stream's own cube at frame t,
  computed here from the cube (the same vector as the store's ``rgb_pooled``, which is not
  read), a departure from the paper's fc6 / TSN pool vector, which glimpse does not extract.
- **A-M fusion** with two streams (eq. 14-15): each stream computes its alpha from its own
  h_{t-1}; alpha_com = max (or mean) of the two, applied to both streams' cubes; each stream's
  beta from its own L_t; beta_com = max (or mean); each stream's Phi into its own LSTM. The paper
  never renormalizes the max-fused weights (they sum to between 1 and 2); that literal form is
  the default, ``renormalize`` divides by the sum. One classifier over both hidden states:
  y_t = softmax(W_a h^a_t + W_m h^m_t + b) (eq. 16). With one stream there is nothing to fuse.
- **Loss** (eq. 17-19): cross-entropy at every step (+ the trainer's weight decay) +
  lambda_AA sum_t sum_k (alpha_com_t(t, k) - M(t, k))^2: the fused spatial map of step t over
  its own frame t against the actor mask M(t) (``glimpse.losses.actor_attention_penalty``;
  ``aa_loss = "ce"`` is Table II's cross-entropy variant). Counted only where the store has
  actor masks.
- **Training**: the paper's recipe is ``glimpse train --recipe paper001`` (SGD, momentum 0.9,
  weight decay 5e-4, 1e-2 then 1e-3). Without the actor term, glimpse's recipe can lock the
  attention onto a border cell in the first steps; paper 001's JHMDB sharpness (``gamma_a =
  gamma_b = 1``) keeps every seed of A-M fusion on the actor, and the rgb stream alone needs a
  smaller first step too (``--warmup-epochs 2``): docs/retest/stability.md.
- **Prediction**: the last step's score (paper 001), averaged over a video's clips.
- ``attention = False`` is the paper's "Baseline net": the same LSTM(s) on FC_t alone.
- ``score_norm`` (a departure, off by default): the spatial score's tanh input
  A_h h + A_cv CV + b_a is layer-normalized over its att_dim units, so that the score cannot
  saturate (tried against the lock of the attention onto one cell without the actor term:
  docs/retest/stability.md).
- ``center_cells`` (a departure, off by default): the spatial score reads CV(n, k) minus its
  position's mean slice (``attention.PositionCentering``, a running estimate kept as batch
  normalization keeps one). The backbone's zero padding gives the border cells, the corners
  most, a slice every video shares, which a content score can find in every video (tried
  against the lock onto one cell without the actor term: docs/retest/stability.md).

The model's ``attention`` output is alpha_com_t(t, .), the map step t puts on its own frame,
divided by its sum so that the attention metrics read a distribution; the literal map (what the
A-A term regularizes) is ``extras["spatial"]``, and ``extras["temporal"]`` is beta_com_t
(B, T, T), the weight step t gives each frame.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import Tensor, nn

from glimpse import GlimpseError
from glimpse.losses import actor_attention_penalty
from glimpse.models import options
from glimpse.models.attention import PositionCentering
from glimpse.models.base import ActionModel, valid_steps
from glimpse.models.lstm import StackedLSTM
from glimpse.models.output import ModelOutput

WINDOWS = ("all", "current", "next")


@dataclass
class RSTANConfig:
    stream: str = options.stream("rgb+flow", "two streams with A-M fusion (rgb+flow), or one "
                                 "(rgb, flow) alone")
    hidden: int = options.hidden(1024, "each stream's LSTM (paper 001)")
    att_dim: int = options.option(256, "width of the attention MLPs (the paper does not say)",
                                  check=options.POSITIVE)
    attention: bool = options.option(True, "off: the paper's Baseline net (the LSTM on the "
                                     "pooled FC_t alone)")
    window: str = options.option("all", "frames attended at each step: all, current (Table "
                                 "III), next ({t, t+1}, JHMDB)", choices=WINDOWS)
    # the paper: 5 / 10 on UCF101 and HMDB51, 1 / 1 on JHMDB, the one dataset where it uses the
    # actor term; the re-test keeps 5 / 10 with the term (declared)
    gamma_a: float = options.option(5.0, "spatial sharpness gamma_a", check=options.NONNEGATIVE)
    gamma_b: float = options.option(10.0, "temporal sharpness gamma_b", check=options.NONNEGATIVE)
    fusion: str = options.option("max", "A-M fusion of the two streams' weights: max (paper) or "
                                 "mean", choices=("max", "mean"))
    renormalize: bool = options.option(False, "divide the fused weights by their sum (the paper "
                                       "does not)")
    lam_aa: float = options.option(0.5, "lambda_AA, the actor-attention term's weight (where "
                                   "masks exist)", check=options.NONNEGATIVE)
    aa_loss: str = options.option("l2", "the actor-attention loss: l2 (eq. 18) or ce (Table "
                                  "II's variant)", choices=("l2", "ce"))
    dropout: float = options.dropout(0.0, "dropout on the LSTM input (the paper: none)")
    score_norm: bool = options.option(False, "layer-normalize the spatial score's tanh input "
                                      "over its att_dim units (a departure; docs/retest/"
                                      "stability.md)")
    center_cells: bool = options.option(False, "score each cell's slice minus its position's "
                                        "mean slice (a departure; docs/retest/stability.md)")


def fuse(weights: list[Tensor], op: str, renormalize: bool, dim: int = -1) -> Tensor:
    """The two streams' attention weights -> the fused weights (eq. 14-15): elementwise max or
    mean; with ``renormalize`` divided by their sum over ``dim``."""
    if len(weights) == 1:
        return weights[0]
    stacked = torch.stack(weights)
    out = stacked.amax(0) if op == "max" else stacked.mean(0)
    return out / out.sum(dim, keepdim=True) if renormalize else out


def _per_frame(weights: Tensor, values: Tensor) -> Tensor:
    """weights (B, T, K^2), values (B, T, K^2, E) -> (B, T, E): each frame's weighted sum over
    its cells. A broadcast product and a sum: its backward is two more broadcasts, where a
    batched matrix product's would be outer products (inner size 1), which BLAS runs slowly."""
    return (weights[..., None] * values).sum(2)


def _score(hidden: Tensor, v: Tensor) -> Tensor:
    """v^T tanh(.) as a weighted sum over the last axis (not a (a -> 1) Linear, for the same
    reason as above)."""
    return (hidden * v).sum(-1)


class _StreamAttention(nn.Module):
    """One stream's spatial and temporal attention parameters (eq. 2 and 5)."""

    def __init__(self, D: int, M: int, a: int, temporal: bool = True, norm: bool = False):
        super().__init__()
        self.norm = norm
        bound = a ** -0.5  # nn.Linear's initialization
        self.A_h = nn.Linear(M, a, bias=False)
        self.A_cv = nn.Linear(D, a)  # its bias is b_a
        self.v_a = nn.Parameter(torch.empty(a).uniform_(-bound, bound))
        if temporal:  # (the current-frame window has nothing to weigh)
            self.B_h = nn.Linear(M, a, bias=False)
            self.B_L = nn.Linear(D, a)  # its bias is b_b
            self.v_b = nn.Parameter(torch.empty(a).uniform_(-bound, bound))

    def spatial_logits(self, pre: Tensor, h: Tensor) -> Tensor:
        """pre (B, T, K^2, a) = A_cv CV + b_a, h (B, M) -> alpha~ (B, T, K^2); with ``norm``
        the tanh's input is layer-normalized over its a units (no affine)."""
        u = pre + self.A_h(h)[:, None, None]
        if self.norm:
            u = nn.functional.layer_norm(u, u.shape[-1:])
        return _score(torch.tanh(u), self.v_a)

    def temporal_logits(self, BL: Tensor, h: Tensor) -> Tensor:
        """BL (B, T, a) = B_L L_t(n) + b_b, h (B, M) -> beta~ (B, T)."""
        return _score(torch.tanh(BL + self.B_h(h)[:, None]), self.v_b)


class RSTAN(ActionModel):
    Config = RSTANConfig
    prediction = "last"
    sampling = "uniform"

    def __init__(self, *, num_classes: int, inputs: dict, cfg: RSTANConfig, naive: bool = False):
        super().__init__()
        K, _ = self.cube_input(inputs, asdict(cfg), "A-M fusion needs one K x K grid")
        if len(self.streams) > 2:
            raise GlimpseError("rstan fuses at most two streams (e.g. rgb+flow)")
        self.cfg, self.grid, self.naive = cfg, K, naive
        self.needs_actor = cfg.attention and cfg.lam_aa > 0
        M = cfg.hidden
        dims = [inputs[s]["channels"] for s in self.streams]
        self.lstms = nn.ModuleList(
            StackedLSTM(input_size=D * (2 if cfg.attention else 1), hidden=M, layers=1,
                        dropout=cfg.dropout) for D in dims)
        self.att = nn.ModuleList(_StreamAttention(D, M, cfg.att_dim, cfg.window != "current",
                                                  cfg.score_norm)
                                 for D in dims) if cfg.attention else None
        self.center = nn.ModuleList(PositionCentering(cells=K * K, feature_dim=D) for D in dims) \
            if cfg.attention and cfg.center_cells else None
        self.heads = nn.ModuleList(nn.Linear(M, num_classes, bias=k == 0)
                                   for k in range(len(dims)))  # W_a, W_m and one b_am

    def _window(self, valid: Tensor, t: int) -> Tensor:
        """(B, T) bool: the frames step t may attend (window all or next)."""
        if self.cfg.window == "all":
            return valid
        allowed = torch.zeros_like(valid)
        allowed[:, t: t + 2] = True
        allowed = allowed & valid
        return torch.where(allowed.any(1, keepdim=True), allowed, valid)  # a padded step t

    def forward(self, batch: dict) -> ModelOutput:
        """batch[stream] (B, T, K, K, D) for each stream, mask (B, T) -> scores (B, T, C),
        attention (B, T, K, K) (alpha_com_t(t, .)), extras["temporal"] (B, T, T)."""
        cfg = self.cfg
        cubes = [batch[s] for s in self.streams]
        B, T, K, _, _ = cubes[0].shape
        cubes = [c.reshape(B, T, K * K, c.shape[-1]) for c in cubes]
        valid = valid_steps(batch.get("mask"), B, T, cubes[0].device)
        fc = [c.mean(2) for c in cubes]  # FC_t (B, T, D): the pooled cube
        state = [lstm.zero_state(B, cubes[0].device, cubes[0].dtype) for lstm in self.lstms]
        tapes = [lstm.new_tapes() for lstm in self.lstms]
        pre = pre_b = None
        temporal_att = cfg.attention and cfg.window != "current"
        scored = [ctr(c, valid) for ctr, c in zip(self.center, cubes)] if self.center else cubes
        if cfg.attention and not self.naive:  # A_cv CV(n, k) + b_a and B_L CV(n, k): once
            pre = [att.A_cv(c) for att, c in zip(self.att, scored)]
            if temporal_att:
                pre_b = [c @ att.B_L.weight.t() for att, c in zip(self.att, cubes)]
        scores, spatial, temporal = [], [], []
        for t in range(T):
            hs = [st[0][0] for st in state]
            if cfg.attention:
                alpha = self._spatial(scored, pre, hs)
                beta, phis = self._temporal(cubes, pre_b, alpha, hs, valid, t)
                inputs = [torch.cat([f[:, t], phi], -1) for f, phi in zip(fc, phis)]
                spatial.append(alpha[:, t])
                temporal.append(beta)
            else:
                inputs = [f[:, t] for f in fc]
            outs = []
            for k, (lstm, x) in enumerate(zip(self.lstms, inputs)):
                h, state[k] = lstm.step(x, state[k], tapes[k])
                outs.append(h)
            scores.append(sum(head(h) for head, h in zip(self.heads, outs)))
        out = ModelOutput(torch.stack(scores, 1))
        if cfg.attention:
            literal = torch.stack(spatial, 1).reshape(B, T, K, K)
            out.attention = literal / literal.sum((2, 3), keepdim=True)
            out.extras["spatial"] = literal
            out.extras["temporal"] = torch.stack(temporal, 1)
        return out

    def _spatial(self, cubes: list[Tensor], pre: list[Tensor] | None,
                 hs: list[Tensor]) -> Tensor:
        """Eqs. 2-4: each stream's alpha_t(n, .) over the cells of every frame n, from h_{t-1}
        and A_cv CV(n, k) + b_a (``pre``, projected once; the naive path projects every step),
        fused across the streams -> (B, T, K^2)."""
        cfg = self.cfg
        pres = pre or [att.A_cv(c) for att, c in zip(self.att, cubes)]
        alphas = [torch.softmax(cfg.gamma_a * att.spatial_logits(p, h), -1)
                  for att, p, h in zip(self.att, pres, hs)]
        return fuse(alphas, cfg.fusion, cfg.renormalize)

    def _temporal(self, cubes: list[Tensor], pre_b: list[Tensor] | None, alpha: Tensor,
                  hs: list[Tensor], valid: Tensor, t: int) -> tuple[Tensor, list[Tensor]]:
        """Eqs. 5-7: beta_t(n) over the frames the window allows, from h_{t-1} and B_L L_t(n),
        fused across the streams; then Phi_t = sum_n beta_t(n) L_t(n) per stream -> beta (B, T),
        [Phi_t (B, D)]. The fast path never forms L_t(n): B_L L_t(n) = sum_k alpha (B_L CV) and
        Phi_t is one product of beta alpha with the cube; the naive path is the equations as
        written. The current-frame window (Table III) has beta 1 on t."""
        cfg = self.cfg
        B, T = alpha.shape[:2]
        if self.naive:  # the equations as written: L_t(n), then B_L L_t(n)
            Ls = [_per_frame(alpha, c) for c in cubes]
        if cfg.window == "current":  # Phi_t = L_t(t): beta is 1 on t
            beta = torch.zeros_like(valid, dtype=alpha.dtype)
            beta[:, t] = 1.0
        else:
            BLs = [att.B_L(L) for att, L in zip(self.att, Ls)] if self.naive else \
                [_per_frame(alpha, p) + att.B_L.bias for att, p in zip(self.att, pre_b)]
            allowed = self._window(valid, t)
            betas = [torch.softmax((cfg.gamma_b * att.temporal_logits(bl, h))
                                   .masked_fill(~allowed, float("-inf")), -1)
                     for att, bl, h in zip(self.att, BLs, hs)]
            beta = fuse(betas, cfg.fusion, cfg.renormalize)  # (B, T)
        if self.naive:
            return beta, [torch.einsum("bn,bnd->bd", beta, L) for L in Ls]
        w = (beta[:, :, None] * alpha).reshape(B, 1, -1)  # (B, 1, T K^2)
        return beta, [torch.bmm(w, c.reshape(B, -1, c.shape[-1])).squeeze(1) for c in cubes]

    def loss(self, output: ModelOutput, batch: dict) -> dict[str, Tensor]:
        terms = super().loss(output, batch)
        if self.needs_actor and "actor" in batch:
            terms["actor_attention"] = self.cfg.lam_aa * actor_attention_penalty(
                output.extras["spatial"], batch["actor"], batch.get("mask"), kind=self.cfg.aa_loss)
        return terms
