"""Training-step throughput of the attention LSTMs, as ratios measured in one run.

For ``structured`` and ``soft`` at T = 30, K = 8, D = 1280, hidden 512 (paper 000's setting) and
B = 64 and 256, this times one full training step (forward over the clip, the papers' loss,
backward, Adam) and, in the same run, the step's LSTM gate matrix products alone: for every
layer and time step the forward GEMMs [x; h] -> 4M gates and the two backward GEMMs (gradient of
the inputs, gradient of the weights), on the same shapes, back to back. The ratio

    efficiency = (gate GEMM FLOPs / step time) / (gate GEMM FLOPs / GEMMs-alone time)

is the share of the GEMMs' own speed the whole step reaches: 1.0 would mean the attention, the
gate arithmetic, autograd and the optimizer cost nothing. Goal >= 0.9.

For ``rstan`` (paper 001: two streams, T = 32, K = 8, D = 1280) it prints the training step's
clips/s and the ratio of a naive implementation, which recomputes A_cv CV(n, k) for every frame
n at every step t, to glimpse's, which computes it once per clip. Goal >= 5x.

    python benchmarks/train_step.py [--batch 64 256] [--repeats 3] [--rstan-batch 8]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from glimpse.losses import weight_decay  # noqa: E402
from glimpse.models import ModelConfig, build_model, model_options  # noqa: E402

T, K, D, M, C = 30, 8, 1280, 512, 10


def best_of(fn, repeats: int) -> float:
    """Seconds of the fastest of ``repeats`` calls, after one warm-up call."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def gate_gemm_shapes(layers: int):
    """(in_features) of each layer's input GEMM; the hidden GEMM is M -> 4M."""
    return [D] + [M] * (layers - 1)


def gate_flops(B: int, layers: int) -> float:
    """Forward + 2 backward GEMMs per layer per step: 3 * 2 * B * (in + M) * 4M each."""
    return sum(3 * 2 * B * (n_in + M) * 4 * M for n_in in gate_gemm_shapes(layers)) * T


def time_gemms(B: int, layers: int, repeats: int) -> float:
    """Seconds for one step's gate GEMMs (forward and backward) run alone."""
    ws = [(torch.randn(4 * M, n_in) * 0.01, torch.randn(4 * M, M) * 0.01)
          for n_in in gate_gemm_shapes(layers)]
    xs = [torch.randn(B, n_in) for n_in in gate_gemm_shapes(layers)]
    h = torch.randn(B, M)
    g = torch.randn(B, 4 * M)

    def once():
        for _ in range(T):
            for (w_ih, w_hh), x in zip(ws, xs):
                torch.addmm(torch.mm(x, w_ih.t()), h, w_hh.t())  # forward gates
                torch.mm(g, w_ih), torch.mm(g, w_hh)  # gradient of the inputs
                torch.mm(g.t(), x), torch.mm(g.t(), h)  # gradient of the weights

    return best_of(once, repeats)


def time_step(name: str, B: int, repeats: int) -> tuple[float, int]:
    torch.manual_seed(0)
    options = model_options(name, {"hidden": M})
    model = build_model(ModelConfig(name, C, {"rgb": {"channels": D, "grid": K}}, options)).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    batch = {"rgb": torch.randn(B, T, K, K, D), "mask": torch.ones(B, T, dtype=torch.bool),
             "label": torch.randint(0, C, (B,))}

    def once():  # what glimpse.train does per batch
        out = model(batch)
        loss = sum(model.loss(out, batch).values()) + weight_decay(model, 1e-5)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return best_of(once, repeats), options["layers"]


def time_rstan(B: int, repeats: int, naive: bool, hidden: int, T_r: int = 32) -> float:
    from glimpse.models.rstan import RSTAN

    torch.manual_seed(0)
    inputs = {s: {"channels": D, "grid": K} for s in ("rgb", "flow")}
    cfg = RSTAN.Config(**model_options("rstan", {"hidden": hidden}))
    model = RSTAN(num_classes=C, inputs=inputs, cfg=cfg, naive=naive).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    batch = {"rgb": torch.randn(B, T_r, K, K, D), "flow": torch.randn(B, T_r, K, K, D),
             "mask": torch.ones(B, T_r, dtype=torch.bool), "label": torch.randint(0, C, (B,)),
             "actor": torch.rand(B, T_r, K, K)}

    def once():
        out = model(batch)
        loss = sum(model.loss(out, batch).values())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return best_of(once, repeats)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, nargs="+", default=[64, 256])
    ap.add_argument("--models", nargs="+", default=["structured", "soft"])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--rstan-batch", type=int, default=8, help="0: skip rstan")
    ap.add_argument("--rstan-hidden", type=int, default=M)
    a = ap.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; T={T} K={K} D={D} M={M}")
    print(f"{'model':<11} {'B':>4} {'clips/s':>8} {'step GFLOP/s':>13} {'GEMMs GFLOP/s':>14} {'ratio':>6}")
    for B in a.batch:
        for name in a.models:
            step, layers = time_step(name, B, a.repeats)
            gemm = time_gemms(B, layers, a.repeats)
            flops = gate_flops(B, layers)
            print(f"{name:<11} {B:>4} {B / step:>8.1f} {flops / step / 1e9:>13.1f} "
                  f"{flops / gemm / 1e9:>14.1f} {gemm / step:>6.2f}")
    if a.rstan_batch:
        B = a.rstan_batch
        fast = time_rstan(B, a.repeats, naive=False, hidden=a.rstan_hidden)
        slow = time_rstan(B, max(1, a.repeats - 2), naive=True, hidden=a.rstan_hidden)
        print(f"rstan (rgb+flow, T=32, K={K}, D={D}, hidden {a.rstan_hidden}, B={B}): "
              f"{B / fast:.2f} clips/s; naive per-step A_cv CV: {B / slow:.2f} clips/s; "
              f"ratio naive / glimpse = {slow / fast:.1f}x")


if __name__ == "__main__":
    main()
