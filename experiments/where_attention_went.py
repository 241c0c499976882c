"""Where a run's attention went on a SynthActions set with several people: its mass on the
labelled actor, on the other people, and on the rest of the frame.

    python experiments/where_attention_went.py RUN [RUN ...] --videos experiments/out-c2/videos-attention
    python experiments/where_attention_went.py experiments/out-c3/runs/attention-rstan_* \
        --videos experiments/out-c2/videos-attention --json where.json

The store's masks cover the labelled actor only (what the attention metrics score). A clip is a
pure function of its set's settings and seed (``glimpse.synth.writer.make_clip``), so the other
people's masks are drawn again here and checked against the store: the labelled actor's masks
drawn again must give the store's coverage, or the script stops. Each run is tested on its own
test split, one clip per video as ``glimpse evaluate`` cuts them; cells count as a person's
where the person covers at least ``MASK_THRESHOLD`` of them (a cell of both counts as the
labelled actor's).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from glimpse import GlimpseError
from glimpse.datasets.masks import mask_grid
from glimpse.evaluate import MASK_THRESHOLD, clip_settings, open_store, run_clips
from glimpse.run import load_run
from glimpse.synth.writer import SynthConfig, clip_relpath, make_clip, synth_meta


def synth_config(videos: Path) -> SynthConfig:
    """The settings of the SynthActions set in ``videos`` (its synth.json)."""
    from glimpse.synth.scene import Difficulty

    meta = json.loads((videos / "synth.json").read_text())
    fields = {k: v for k, v in meta.items() if k not in ("generator", "class_names")}
    diff = Difficulty(**{k: tuple(v) if isinstance(v, list) else v
                         for k, v in fields.pop("difficulty").items()})
    cfg = SynthConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()},
                      difficulty=diff)
    if json.loads(json.dumps(synth_meta(cfg))) != meta:
        raise GlimpseError(f"{videos}/synth.json does not round-trip through SynthConfig")
    return cfg


def clips(cfg: SynthConfig) -> dict[str, tuple[int, int, int]]:
    """Each clip's path in the set (as the writer names it) -> its (class, group, clip)."""
    return {clip_relpath(cfg, c, g, n): (c, g, n) for c in range(len(cfg.class_names))
            for g in range(cfg.groups) for n in range(cfg.clips_per_group)}


def where(run: Path, cfg: SynthConfig) -> dict:
    """Mean attention mass on the labelled actor, the other people and the rest over the
    steps of ``run``'s test videos, with the cells' shares (what uniform attention puts
    there)."""
    loaded = load_run(run)
    store = open_store(loaded.config["features"], loaded.config, f"run {run}")
    entries = [store.entry(i) for i in loaded.run.split["test"]]
    results = run_clips(loaded.model, entries, **clip_settings(loaded.config))
    mass, share, top = [], [], []
    where_in_set = clips(cfg)
    for entry, result in zip(entries, results):
        if result.attention[0] is None:
            raise GlimpseError(f"{run}: its model has no spatial attention")
        _, actor, others = make_clip(cfg, *where_in_set[entry.meta["path"]], every_mask=True)
        K = result.attention[0].shape[-1]
        source = np.asarray(entry.meta["source_frames"])
        actor_grid = mask_grid(actor, K)
        other_grid = mask_grid(np.logical_or.reduce(others), K) if others else None
        for att, steps, stored in zip(result.attention, result.frames, result.actor):
            frames = source[steps]
            if not np.allclose(actor_grid[frames], stored, atol=2e-3):
                raise GlimpseError(f"{entry.meta['path']}: its masks drawn again differ from the "
                                   f"store's; is --videos the set this store was made from?")
            on = actor_grid[frames] >= MASK_THRESHOLD
            other = (other_grid[frames] >= MASK_THRESHOLD) & ~on if others else np.zeros_like(on)
            a = att.reshape(len(att), -1)
            on, other = on.reshape(len(a), -1), other.reshape(len(a), -1)
            mass.append(np.stack([(a * on).sum(1), (a * other).sum(1)], 1))
            top.append(a.argmax(1))
            share.append(np.stack([on.mean(1), other.mean(1)], 1))
    mass, share, top = np.concatenate(mass), np.concatenate(share), np.concatenate(top)
    cells = np.bincount(top, minlength=K * K)
    return {"run": str(run), "steps": len(mass),
            "actor": float(mass[:, 0].mean()), "others": float(mass[:, 1].mean()),
            "rest": float(1 - mass.sum(1).mean()),
            "actor_cells": float(share[:, 0].mean()), "others_cells": float(share[:, 1].mean()),
            # the cell most often most attended, (row, column), and the share of steps it is
            "top_cell": [int(cells.argmax()) // K, int(cells.argmax()) % K],
            "top_cell_share": float(cells.max() / len(top))}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("runs", type=Path, nargs="+", metavar="RUN")
    ap.add_argument("--videos", type=Path, required=True,
                    help="the SynthActions folder the runs' store was extracted from")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    a = ap.parse_args(argv)
    try:
        cfg = synth_config(a.videos)
        print("| run | attention on the labelled actor (its cells' share) | on the other people "
              "(theirs) | elsewhere | the cell most often most attended (share of steps) |\n"
              "|---|---|---|---|---|")
        rows = []
        for run in a.runs:
            r = where(run, cfg)
            rows.append(r)
            print(f"| {run.name} | {r['actor']:.3f} ({r['actor_cells']:.3f}) | "
                  f"{r['others']:.3f} ({r['others_cells']:.3f}) | {r['rest']:.3f} | "
                  f"row {r['top_cell'][0]}, column {r['top_cell'][1]} "
                  f"({r['top_cell_share']:.2f}) |", flush=True)
    except GlimpseError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if a.json:
        a.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
