"""Where a run's attention goes in its first optimizer steps, batch by batch: the attention
mass on the labelled actor, the largest weight, the cell the batch's mean map peaks on, and
the gradient norm of each attention parameter, for a run's configuration freshly started
with its seed (or another recipe / options: a candidate fix, before a full run).

    python experiments/first_steps.py RUN --steps 24
    python experiments/first_steps.py RUN --steps 24 --recipe paper001 --set gamma_a=1

It replays the trainer's first epoch as ``glimpse train`` starts it (the seed, the model built
after ``torch.manual_seed``, the epoch's clip order, the optimizer of the run's recipe, the
model's loss terms plus the weight decay). Paper 001 without its actor term, seed 1 of the
attention preset: the mass on the actor fell from 0.106 to 0.025 at the first Adam step and
to 0.008 by the fourth, the mean map on the bottom corner cells (docs/retest/stability.md).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

import torch
from retest.args import setting

from glimpse import GlimpseError
from glimpse.config import TrainConfig
from glimpse.features.clips import ClipDataset, ClipLoader
from glimpse.features.store import FeatureStore
from glimpse.losses import weight_decay
from glimpse.models import ModelConfig, build_model, model_options
from glimpse.recipes import recipe_settings
from glimpse.train import _epoch_order, make_optimizer


def first_steps(run: Path, steps: int, recipe: str | None = None, sets: dict | None = None,
                threshold: float = 0.1) -> list[dict]:
    """Per step of the first epoch (before its update): the loss, the attention mass on cells
    the actor covers at least ``threshold`` of, the mean largest weight, the mean map's peak
    cell and weight, and each attention parameter's gradient norm."""
    cfg = json.loads((run / "config.json").read_text())
    split = json.loads((run / "split.json").read_text())
    train = {**cfg["train"], **recipe_settings(recipe)} if recipe else cfg["train"]
    tc = replace(TrainConfig(**train), seed=cfg["train"]["seed"])
    mc = ModelConfig.from_dict(cfg["model"])
    mc.options = model_options(mc.name, {**mc.options, **(sets or {})})
    store = FeatureStore(cfg["features"])
    torch.manual_seed(tc.seed)
    net = build_model(mc)
    ds = ClipDataset([store.entry(i) for i in split["train"]], tc.clip_len, tc.stride,
                     streams=net.streams, actor=True, sampling=tc.sampling, seed=tc.seed,
                     segments=True)
    opt = make_optimizer(net.param_groups(tc.lr), tc)
    net.train()
    net.set_epoch(0, tc.epochs)
    rows = []
    for step, b in enumerate(ClipLoader(ds, tc.batch_size).epoch(
            _epoch_order(len(ds), tc.seed, 0), 0)):
        if step >= steps:
            break
        out = net(b)
        if out.attention is None:
            raise GlimpseError(f"{mc.name} returns no attention map")
        terms = net.loss(out, b)
        if tc.gamma:
            terms["wd"] = weight_decay(net, tc.gamma)
        opt.zero_grad()
        sum(terms.values()).backward()
        with torch.no_grad():
            a = out.attention.flatten(2)  # (B, T, K^2), each step's map sums to 1
            on = b["actor"].flatten(2) >= threshold
            mean_map = a.mean((0, 1))
            rows.append({"step": step, "loss": float(sum(terms.values())),
                         "actor_mass": float((a * on).sum(-1).mean()),
                         "max_weight": float(a.max(-1).values.mean()),
                         "peak_cell": int(mean_map.argmax()), "peak": float(mean_map.max()),
                         "grads": {n: float(p.grad.norm()) for n, p in net.named_parameters()
                                   if p.grad is not None and n.startswith(("att.", "locate."))}})
        opt.step()
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("run", type=Path, help="a run folder (its config, split and store)")
    p.add_argument("--steps", type=int, default=24, help="steps of the first epoch (default 24)")
    p.add_argument("--recipe", help="train under this recipe instead of the run's")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="change a model option (JSON values: true, 1, 0.5)")
    p.add_argument("--json", action="store_true", help="print the rows as JSON")
    a = p.parse_args(argv)
    try:
        sets = dict(setting(text) for text in a.set)
        if not (a.run / "config.json").exists():
            raise GlimpseError(f"{a.run} is not a run folder (no config.json)")
        rows = first_steps(a.run, a.steps, a.recipe, sets)
    except GlimpseError as e:
        print(f"first_steps: {e}", file=sys.stderr)
        return 2
    if a.json:
        print(json.dumps(rows))
        return 0
    for r in rows:
        print(f"step {r['step']:3d}  loss {r['loss']:8.3f}  on the actor {r['actor_mass']:.3f}  "
              f"largest weight {r['max_weight']:.3f}  mean map's peak: cell {r['peak_cell']} "
              f"({r['peak']:.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
