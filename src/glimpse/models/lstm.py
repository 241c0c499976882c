"""The recurrent core: a stack of LSTM layers stepped one time step at a time.

Zaremba et al.'s form, as papers 000 (eq. 2-6) and 002 (app. B.1) write it:

    (i, f, o, g) = (sigma, sigma, sigma, tanh)(P_k [input; h_k(t-1)] + b_k)
    c_k(t) = f * c_k(t-1) + i * g,   h_k(t) = o * tanh(c_k(t))

with P_k in R^{4M x (in + M)} one matrix, as in the papers. Dropout sits on the non-recurrent
connections only (each layer's input), never on h(t-1) -> h(t).

Speed. The attention makes each step's input depend on h(t-1), so no fused sequence kernel
applies (docs/design.md); the step's matrix products dominate. Each step is one autograd node with a
hand-written backward (one GEMM forward, one GEMM for the input gradients), and the weight
gradient is not computed per step: the backward records each step's gate gradients and the
step's input and h(t-1) rows on a ``Tape``, and when the clip's first step is back-propagated
it computes P's gradient over the recorded steps as one large GEMM, (4M x B T) @ (B T x (in + M)),
which runs far closer to the machine's peak than T small ones. The first step is always the last
to come back: every later step that reaches the loss depends on it through h(t-1), and autograd
runs a node only after all the nodes that depend on it. Steps whose outputs never reach the loss
(a loss on the last step only, say) are never back-propagated and rightly add nothing. ``tests/test_models.py`` checks
the gradients against torch.nn.LSTMCell and with gradcheck.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


class Tape:
    """Per forward pass and layer: the steps taken (each step knows its index), and the (gate
    gradient, [x; h]) rows that their backward calls leave, until the weight gradient is formed
    at step 0's backward."""

    def __init__(self):
        self.steps = 0
        self.grads: list[Tensor] = []
        self.inputs: list[Tensor] = []


def _gates(x: Tensor, h: Tensor, weight: Tensor, bias: Tensor, dt) -> Tensor:
    """P [x; h] + b as two GEMMs, no concat; with ``dt`` (mixed precision) the GEMMs run in dt
    and the gates come back in float32."""
    n_in = x.shape[1]
    if dt is None:
        return torch.addmm(bias, x, weight[:, :n_in].t()).addmm_(h, weight[:, n_in:].t())
    w = weight.to(dt)
    return torch.addmm(bias.to(dt), x.to(dt), w[:, :n_in].t()).addmm_(
        h.to(dt), w[:, n_in:].t()).float()


def _mm(a: Tensor, b: Tensor, dt) -> Tensor:
    return a @ b if dt is None else (a.to(dt) @ b.to(dt)).float()


def autocast_dtype(t: Tensor):
    """The dtype autocast runs matrix products in on ``t``'s device, or None when it is off."""
    kind = t.device.type
    return torch.get_autocast_dtype(kind) if torch.is_autocast_enabled(kind) else None


class _LSTMStep(torch.autograd.Function):
    """One step; under autocast (``dt``) its GEMMs run in dt and its gates, cell and hidden
    state stay float32 (the recurrence accumulates over T steps)."""

    @staticmethod
    def forward(ctx, x, h_prev, c_prev, weight, bias, tape, dt=None):
        M = c_prev.shape[1]
        gates = _gates(x, h_prev, weight, bias, dt)
        ifo = torch.sigmoid(gates[:, : 3 * M])
        g = torch.tanh(gates[:, 3 * M:])
        i, f, o = ifo[:, :M], ifo[:, M: 2 * M], ifo[:, 2 * M:]
        c = torch.addcmul(f * c_prev, i, g)
        tc = torch.tanh(c)
        h = o * tc
        ctx.save_for_backward(x, h_prev, c_prev, weight, ifo, g, tc)
        ctx.tape, ctx.index, ctx.dt = tape, tape.steps, dt
        tape.steps += 1
        return h, c

    @staticmethod
    def backward(ctx, dh, dc):
        x, h_prev, c_prev, weight, ifo, g, tc = ctx.saved_tensors
        n_in, M = x.shape[1], c_prev.shape[1]
        i, f, o = ifo[:, :M], ifo[:, M: 2 * M], ifo[:, 2 * M:]
        dh = torch.zeros_like(tc) if dh is None else dh
        dc = torch.zeros_like(tc) if dc is None else dc
        dc = torch.addcmul(dc, dh * o, 1 - tc * tc)
        d_gates = torch.empty_like(ifo.new_empty(ifo.shape[0], 4 * M))
        torch.mul(dc, g, out=d_gates[:, :M])  # d i
        torch.mul(dc, c_prev, out=d_gates[:, M: 2 * M])  # d f
        torch.mul(dh, tc, out=d_gates[:, 2 * M: 3 * M])  # d o
        d_gates[:, : 3 * M].mul_(ifo * (1 - ifo))  # through the sigmoids
        torch.mul(dc * i, 1 - g * g, out=d_gates[:, 3 * M:])  # d g, through the tanh
        dt = ctx.dt
        d_xh = _mm(d_gates, weight, dt)  # (B, in + M): one GEMM for both input gradients
        tape = ctx.tape
        tape.grads.append(d_gates)
        tape.inputs.append((x, h_prev))
        d_weight = d_bias = None
        if ctx.index == 0:  # the clip's last step to come back: the recorded steps at once
            G = torch.cat(tape.grads).t()  # (4M, B T)
            X = torch.cat([xh[0] for xh in tape.inputs])
            H = torch.cat([xh[1] for xh in tape.inputs])
            d_weight = torch.cat([_mm(G, X, dt), _mm(G, H, dt)], dim=1)
            d_bias = G.sum(1)
            tape.grads, tape.inputs = [], []
        return d_xh[:, :n_in], d_xh[:, n_in:], dc * f, d_weight, d_bias, None, None


class LSTMLayer(nn.Module):
    def __init__(self, input_size: int, hidden: int):
        super().__init__()
        self.input_size, self.hidden = input_size, hidden
        self.weight = nn.Parameter(torch.empty(4 * hidden, input_size + hidden))  # P_k
        self.bias = nn.Parameter(torch.empty(4 * hidden))
        bound = 1.0 / math.sqrt(hidden)  # torch.nn.LSTM's initialization
        nn.init.uniform_(self.weight, -bound, bound)
        nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: Tensor, state: tuple[Tensor, Tensor], tape: Tape | None):
        h, c = state
        dt = autocast_dtype(x)
        if dt is not None:  # mixed precision: GEMMs in dt, the recurrence in float32
            with torch.autocast(x.device.type, enabled=False):
                return self._step(x.float(), h.float(), c.float(), tape, dt)
        return self._step(x, h, c, tape, None)

    def _step(self, x, h, c, tape, dt):
        if tape is not None and torch.is_grad_enabled():
            return _LSTMStep.apply(x, h, c, self.weight, self.bias, tape, dt)
        M = self.hidden  # the same step without autograd bookkeeping
        gates = _gates(x, h, self.weight, self.bias, dt)
        ifo = torch.sigmoid(gates[:, : 3 * M])
        c = torch.addcmul(ifo[:, M: 2 * M] * c, ifo[:, :M], torch.tanh(gates[:, 3 * M:]))
        return ifo[:, 2 * M:] * torch.tanh(c), c


def dropout_mask(like: Tensor, p: float) -> Tensor:
    """Inverted-dropout multiplier: 0 with probability p, else 1 / (1 - p). (torch.rand and a
    compare: about 4x cheaper on a CPU than the Bernoulli sampler behind nn.Dropout.)"""
    keep = 1.0 - p
    return (torch.rand_like(like) < keep).to(like.dtype) * (1.0 / keep)


def dropout(x: Tensor, p: float, training: bool) -> Tensor:
    """Inverted dropout of ``x`` in training (the one guard every model uses)."""
    return x * dropout_mask(x, p) if training and p > 0 else x


class StackedLSTM(nn.Module):
    def __init__(self, *, input_size: int, hidden: int, layers: int, dropout: float):
        super().__init__()
        self.hidden, self.layers, self.dropout = hidden, layers, dropout
        self.cells = nn.ModuleList(LSTMLayer(input_size if k == 0 else hidden, hidden)
                                   for k in range(layers))

    def zero_state(self, B: int, device, dtype) -> list[tuple[Tensor, Tensor]]:
        z = torch.zeros(B, self.hidden, device=device, dtype=dtype)
        return [(z, z) for _ in range(self.layers)]

    def new_tapes(self) -> list[Tape]:
        """One tape per layer; make new ones for every forward pass over a clip."""
        return [Tape() for _ in range(self.layers)]

    def step(self, x: Tensor, state: list[tuple[Tensor, Tensor]], tapes: list[Tape] | None = None):
        """x (B, input) -> top hidden (B, M), new state (a list of (h, c) per layer)."""
        new = []
        inp = x
        for k, (cell, hc) in enumerate(zip(self.cells, state)):
            inp = dropout(inp, self.dropout, self.training)
            h, c = cell(inp, hc, tapes[k] if tapes else None)
            new.append((h, c))
            inp = h
        return inp, new
