"""How hard each term of a model's loss pulls on a part of it at the start of training: per loss
term, its value and the norm of its gradient on the part's parameters, for one training batch
of a run's own store and split, from the run's configuration freshly initialized with each seed.

    python experiments/term_gradients.py RUN --seeds 0,1,2 [--set lam=0.1 --set lam=1]
    python experiments/term_gradients.py \
        "experiments/out-c2/runs/attention-joint_width=32_lam=1.0_seed0_" \
        --seeds 0,1,2 --set lam=0.1 --set lam=1   # paper 003's regularizer against its heads

A term's loss can be small and its gradient not: paper 003's attention regularizer is ~2% of the
3D heads' cross-entropy at the start, and its gradient on the 3D convnets is not. The part is
the model's attribute named by ``--part`` (the joint model's ``conv``: its 3D convnets); the
batch is the first 32 training clips in a seeded order, cut as the trainer cuts them (its clip
length, stride and sampling); the weights start as ``glimpse train`` starts them
(``torch.manual_seed(seed)`` before the model is built).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

import torch
from retest.args import value as option_value

from glimpse import GlimpseError
from glimpse.features.clips import ClipDataset, collate
from glimpse.features.store import FeatureStore
from glimpse.models import ModelConfig, build_model, model_options


def term_gradients(net, batch: dict, params: list) -> dict[str, tuple[float, float]]:
    """Each term of ``net``'s loss on ``batch`` -> (its value, the L2 norm of its gradient on
    ``params``, 0 where the term does not reach them)."""
    terms = net.loss(net(batch), batch)
    out = {}
    for name, value in terms.items():
        grads = torch.autograd.grad(value, params, retain_graph=True, allow_unused=True)
        norm = sum(float((g.double() ** 2).sum()) for g in grads if g is not None) ** 0.5
        out[name] = (float(value.detach()), norm)
    return out


def first_batch(entries: list, streams, train: dict, seed: int, size: int = 32) -> dict:
    """``size`` clips of ``entries`` (a run's training videos), drawn in a ``seed``-ed order and
    cut as the trainer cuts them (``train``: the run's clip length, stride and sampling), of the
    ``streams`` a model reads, as one float32 batch."""
    ds = ClipDataset(entries, train["clip_len"], train["stride"], streams=streams,
                     sampling=train["sampling"], seed=seed, segments=True)
    order = torch.randperm(len(ds), generator=torch.Generator().manual_seed(seed))
    batch = collate([ds[i] for i in order[:size].tolist()])
    return {k: v.float() if torch.is_tensor(v) and v.is_floating_point() else v
            for k, v in batch.items()}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", type=Path, help="a run folder (its config.json and split.json)")
    ap.add_argument("--seeds", default="0", help="comma-separated seeds (default 0)")
    ap.add_argument("--set", action="append", default=[], metavar="OPTION=VALUE",
                    help="a model option to vary, one configuration each (default: the run's)")
    ap.add_argument("--part", default="conv", help="the model's attribute whose parameters the "
                    "gradients are measured on (default conv: the joint model's 3D convnets)")
    a = ap.parse_args(argv)
    if not (a.run / "config.json").exists() or not (a.run / "split.json").exists():
        raise SystemExit(f"{a.run}: not a run folder (no config.json and split.json)")
    variants = []
    for item in a.set or [None]:
        if item is not None and "=" not in item:
            raise SystemExit(f"--set {item}: OPTION=VALUE is needed")
        key, _, text = (item or "=").partition("=")
        variants.append((item or "as run", {key: option_value(text)} if key else {}))
    cfg = json.loads((a.run / "config.json").read_text())
    base = ModelConfig.from_dict(cfg["model"])
    try:  # each variant's options checked as glimpse train checks them, before any work
        configs = [(label, replace(base, options=model_options(base.name, {**base.options,
                                                                          **opts})))
                   for label, opts in variants]
    except GlimpseError as e:
        raise SystemExit(str(e)) from None
    store = FeatureStore(cfg["features"])
    split = json.loads((a.run / "split.json").read_text())
    entries = [store.entry(i) for i in split["train"]]
    torch.set_num_threads(1)
    for seed in (int(s) for s in a.seeds.split(",")):
        for label, mc in configs:
            torch.manual_seed(seed)
            net = build_model(mc)
            part = getattr(net, a.part, None)
            if not isinstance(part, torch.nn.Module):
                raise SystemExit(f"the model '{mc.name}' has no part '{a.part}' with parameters")
            batch = first_batch(entries, net.streams, cfg["train"], seed)
            g = term_gradients(net, batch, list(part.parameters()))
            print(f"seed {seed}, {label}: " + "; ".join(
                f"{k} {v:.4g} (gradient {n:.3g})" for k, (v, n) in g.items()), flush=True)

if __name__ == "__main__":
    sys.exit(main())
