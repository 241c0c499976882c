"""The seed-stability check: does every seed of a configuration train? Run it before any re-test.

    python experiments/stability.py --features STORE --out OUT [--configs NAME ...] [--seeds 5]
    python experiments/stability.py ... --recipe paper001 --set gamma_a=1   # a candidate fix
    python experiments/stability.py ... --test          # a final recipe: the test split too
    python experiments/stability.py --out OUT --report docs/retest/stability.md   # render only

Each configuration (``CONFIGS``: a model, its options and its training settings, the claims
tables' protocol) is trained on each seed (seed s trains with seed s on the group split s, as
the re-test does) and its selected checkpoint scored on the validation split (and on the test
split with ``--test``, which only a final recipe's runs should read), per seed: top-1, the
attention mass on the labelled actor, the minutes it trained. A seed is flagged **collapsed**
when its top-1 is more than ``COLLAPSE_POINTS`` below its configuration's median, or its
attention mass on the actor is below uniform attention's (the fraction of cells the actor
covers). ``probe`` rows are the linear probes on the same streams' pooled features.

Runs live in ``OUT/runs/<key>_seed<s>`` (the key: the configuration, ``@recipe`` where not
glimpse's, ``+option=value`` per changed option) and resume (a killed check continues where it
stopped); records in ``OUT/stability.json``, written whole after each run. The store must
carry actor masks (docs/retest/stability.md: the attention preset's store).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from retest.args import setting
from retest.runner import logged_seconds

from glimpse import GlimpseError
from glimpse.config import TrainConfig
from glimpse.evaluate import evaluate_run
from glimpse.features.store import try_lock
from glimpse.io import write_json_atomic, write_text_atomic
from glimpse.models import model_options
from glimpse.probe import run_probe
from glimpse.recipes import RECIPES, recipe_options, recipe_settings
from glimpse.train import train

COLLAPSE_POINTS = 10.0  # a seed this far below its configuration's median has collapsed
# the re-test's protocol (experiments/paper_tables.py): 30 epochs of clips of 30 every 2,
# hidden 128; the optimizer from the recipe (--recipe; glimpse's: Adam 1e-3, batch 32)
BASE = TrainConfig(epochs=30, clip_len=30, stride=2)
TRAIN_FIELDS = set(BASE.to_dict())  # --set of one of these changes a training setting
RSTAN = {"clip_len": 8, "eval_clip_len": 16, "epochs": 20}


@dataclass(frozen=True)
class Config:
    """One configuration: ``model`` a glimpse model (or ``probe``: the linear probe on the
    pooled cube of the option ``stream``), its options, training settings over ``BASE``, and
    the video rule of its paper."""

    name: str
    model: str
    options: tuple = ()
    train: tuple = ()
    video_rule: str = "mean"
    hidden: int | None = 128


CONFIGS = {c.name: c for c in [
    Config("probe-rgb", "probe", (("stream", "rgb"),)),
    Config("probe-rgb+flow", "probe", (("stream", "rgb+flow"),)),
    # what the probe reads that a model pooling over time does not (stability.md, P1)
    Config("probe-rgb-mean", "probe", (("stream", "rgb"), ("statistics", "mean"))),
    Config("probe-rgb-std", "probe", (("stream", "rgb"), ("statistics", "std"))),
    Config("probe-rgb+flow-mean", "probe", (("stream", "rgb+flow"), ("statistics", "mean"))),
    # paper 003's two levels: the reference for its joint model
    Config("probe-rgb_level2", "probe", (("stream", "rgb_level2"),)),
    Config("probe-rgb+rgb_level2", "probe", (("stream", "rgb+rgb_level2"),)),
    Config("000-structured", "structured", (("lam", 0.01),), video_rule="vote"),
    Config("000-none", "none", video_rule="vote"),  # its LSTM on the pooled cube (P2)
    Config("002-soft", "soft"),
    Config("002-avgpool", "avgpool"),
    Config("001-st-rgb", "rstan", (("stream", "rgb"), ("att_dim", 64), ("lam_aa", 0.0)),
           tuple(RSTAN.items())),
    Config("001-st-flow", "rstan", (("stream", "flow"), ("att_dim", 64), ("lam_aa", 0.0)),
           tuple(RSTAN.items())),
    Config("001-am-max", "rstan", (("fusion", "max"), ("att_dim", 64), ("lam_aa", 0.0)),
           tuple(RSTAN.items())),
    Config("001-am-mean", "rstan", (("fusion", "mean"), ("att_dim", 64), ("lam_aa", 0.0)),
           tuple(RSTAN.items())),
    Config("001-am-max-aa", "rstan", (("fusion", "max"), ("att_dim", 64), ("lam_aa", 0.5),
                                      ("aa_loss", "l2")), tuple(RSTAN.items())),
    Config("003-joint", "joint", (("width", 32), ("lam", 1.0)), (("epochs", 60),),
           video_rule="vote"),
    Config("003-joint-main", "joint", (("width", 32), ("lam", 1.0), ("stream", "rgb")),
           (("epochs", 60),), video_rule="vote"),
    Config("003-joint-nopyramid", "joint", (("width", 32), ("lam", 1.0), ("pyramid", False)),
           (("epochs", 60),), video_rule="vote"),
    Config("004-hard", "reinforce", (("lam", 0.0), ("policy", "content"))),
    Config("004-hard-n5", "reinforce", (("lam", 0.0), ("policy", "content"),
                                        ("glimpse_steps", 5))),
    Config("004-hard-m5", "reinforce", (("lam", 0.0), ("policy", "content"), ("glimpses", 5))),
    Config("004-hard-nobaseline", "reinforce", (("lam", 0.0), ("policy", "content"),
                                                ("baseline", "none"))),
]}


def config_of(key: str) -> str:
    """The configuration a key of stability.json is a variant of (its name is a prefix of the
    key that ends the key or is followed by ``@`` or ``+``; the longest such, as a name may
    itself hold a ``+``: ``probe-rgb+flow``)."""
    return max((n for n in CONFIGS if re.match(re.escape(n) + "([@+]|$)", key)), key=len,
               default=re.split("[@+]", key)[0])


def variant_key(name: str, recipe: str, sets: dict) -> str:
    """A configuration under a recipe and option changes -> its key in stability.json (and its
    run folders' prefix): the name alone under glimpse's recipe and no changes."""
    return name + ("" if recipe == "glimpse" else f"@{recipe}") + \
        "".join(f"+{k}={v}" for k, v in sorted(sets.items()))


def settings(cfg: Config, recipe: str, seed: int, epochs: int | None = None,
             sets: dict | None = None) -> TrainConfig:
    """The training settings of ``cfg`` under ``recipe``: the protocol (BASE, then the
    configuration's own clip lengths and epochs) over the recipe's optimizer settings, and the
    training settings among ``sets`` over all; ``epochs`` cuts the run short (a screen: the
    same run, extended later, resumes)."""
    tc = {**BASE.to_dict(), **recipe_settings(recipe), **dict(cfg.train),
          **{k: v for k, v in (sets or {}).items() if k in TRAIN_FIELDS}, "seed": seed,
          "split_seed": seed}
    return TrainConfig(**{**tc, "epochs": epochs or tc["epochs"]})


def run_one(cfg: Config, seed: int, features: Path, out: Path, recipe: str = "glimpse",
            sets: dict | None = None, test: bool = False, epochs: int | None = None) -> dict:
    """Train (or resume) configuration ``cfg`` on ``seed`` under ``recipe`` with the model
    options ``sets`` changed, and score its selected checkpoint on the validation split (and
    on the test split with ``test``) -> its record."""
    sets = sets or {}
    run = out / "runs" / f"{variant_key(cfg.name, recipe, sets)}_seed{seed}"
    t0 = time.time()
    if cfg.model == "probe":
        m = run_probe(features, run, split_seed=seed, log=lambda *_: None, **dict(cfg.options))
        return {"val": {"top1": m["val_top1"], "actor_mass": None},
                "test": {"top1": m["top1"], "actor_mass": None} if test else None,
                "uniform_mass": None, "minutes": (time.time() - t0) / 60}
    options = {**dict(cfg.options), **recipe_options(recipe, cfg.model),
               **{k: v for k, v in sets.items() if k not in TRAIN_FIELDS}}
    if cfg.hidden and "hidden" in model_options(cfg.model):
        options.setdefault("hidden", cfg.hidden)
    model_options(cfg.model, options)  # an unknown option or a bad value: one line, no run
    tc = settings(cfg, recipe, seed, epochs, sets)
    best = train(features, run, cfg.model, options, tc, progress=False, log=lambda *_: None)
    # the trainer's own validation top-1 of the selected epoch (a vote over clips, the figure
    # the re-test's records keep as val_top1), beside the configuration's video rule's
    return {**score(cfg, run, test), "epochs": tc.epochs, "selected_val_top1": best["val_top1"]}


def score(cfg: Config, run: Path, test: bool) -> dict:
    """A trained run's record: its selected checkpoint on validation (and test), by the
    configuration's video rule; the minutes its log says it trained."""
    rec = {}
    for split in ("val", "test") if test else ("val",):
        m = evaluate_run(run, split=split, video_rule=cfg.video_rule, progress=False)
        att = m.get("attention") or {}
        rec[split] = {"top1": m["top1"], "actor_mass": att.get("mass_in_mask")}
        rec["uniform_mass"] = att.get("uniform_mass_in_mask")
        rec["checkpoint_epoch"] = m["checkpoint_epoch"]
    rec.setdefault("test", None)
    rec["minutes"] = logged_seconds(run) / 60
    return rec


def collapsed(records: dict[int, dict], split: str = "val") -> dict[int, list[str]]:
    """Per seed, why it collapsed on ``split`` (empty: it did not): top-1 more than
    COLLAPSE_POINTS below the configuration's median, or attention mass on the actor below
    uniform attention's."""
    median = statistics.median(r[split]["top1"] for r in records.values())
    out = {}
    for seed, r in records.items():
        why = []
        if 100 * (median - r[split]["top1"]) > COLLAPSE_POINTS:
            why.append(f"{100 * (median - r[split]['top1']):.1f} points below the median")
        mass = r[split]["actor_mass"]
        if mass is not None and mass < r["uniform_mass"]:
            why.append(f"actor mass {mass:.3f} below uniform {r['uniform_mass']:.3f}")
        out[seed] = why
    return out


def summary(name: str, records: dict[int, dict], split: str = "val") -> dict:
    """A configuration's per-seed figures on ``split``, their mean and SD (in points) and the
    collapsed seeds."""
    seeds = sorted(records)
    top1 = [100 * records[s][split]["top1"] for s in seeds]
    flags = collapsed(records, split)
    return {"name": name, "seeds": seeds, "top1": top1,
            "actor": [records[s][split]["actor_mass"] for s in seeds],
            "uniform": next((records[s]["uniform_mass"] for s in seeds
                             if records[s]["uniform_mass"] is not None), None),
            "mean": statistics.fmean(top1), "sd": statistics.stdev(top1) if len(top1) > 1 else 0.0,
            "collapsed": {s: flags[s] for s in seeds if flags[s]},
            "minutes": sum(records[s]["minutes"] for s in seeds)}


def _per_seed(values, fmt) -> str:
    return " / ".join("–" if v is None else fmt.format(v) for v in values)


def render(results: dict, names: list[str]) -> str:
    """The check's table (markdown): per configuration with any seed done, its validation
    figures and, where every seed was tested, its test figures."""
    lines = ["| configuration | split | top-1 % per seed | mean | SD | attention mass on the "
             "actor per seed (uniform) | collapsed seeds | seeds | epochs | run-minutes |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for name in names:
        every = {int(k): v for k, v in (results.get(name) or {}).items()}
        for epochs in sorted({r.get("epochs", 0) for r in every.values()}, reverse=True):
            # a screen's seeds (fewer epochs) on a row of their own
            records = {k: v for k, v in every.items() if v.get("epochs", 0) == epochs}
            lines += _rows(name, records, epochs)
    return "\n".join(lines) + "\n"


def _rows(name: str, records: dict[int, dict], epochs: int) -> list[str]:
    """One configuration's rows (validation; test where every seed has it) for its records
    of one number of epochs."""
    lines = []
    trained = CONFIGS.get(config_of(name), Config("", "")).model != "probe"  # a probe: no epochs
    if records:
        splits = ["val"] + (["test"] if all(r.get("test") for r in records.values()) else [])
        for split in splits:
            s = summary(name, records, split)
            actor = "–" if s["uniform"] is None else \
                f"{_per_seed(s['actor'], '{:.3f}')} ({s['uniform']:.3f})"
            flags = "; ".join(f"seed {k}: {', '.join(v)}" for k, v in s["collapsed"].items())
            lines.append(f"| {name} | {split} | {_per_seed(s['top1'], '{:.1f}')} | "
                         f"{s['mean']:.1f} | {s['sd']:.1f} | {actor} | {flags or 'none'} | "
                         f"{','.join(map(str, s['seeds']))} | {(epochs or '?') if trained else '–'} | "
                         f"{s['minutes']:.0f} |")
    return lines


def embed(page: Path, table: str) -> str:
    """The page with the table between its ``<!-- stability -->`` and ``<!-- /stability -->``
    markers (a page without them: the table alone)."""
    text = page.read_text() if page.exists() else ""
    start, end = "<!-- stability -->\n", "<!-- /stability -->"
    if start not in text or end not in text:
        return table
    head, rest = text.split(start, 1)
    return head + start + table + end + rest.split(end, 1)[1]


def record(path: Path, key: str, seed: int, rec: dict) -> dict:
    """Add one seed's record to stability.json, read again under an exclusive lock so that
    runners sharing an OUT (one per core) never drop each other's records; -> the records."""
    fd = try_lock(path.with_name(path.name + ".lock"), wait=True)
    try:
        results = json.loads(path.read_text()) if path.exists() else {}
        results.setdefault(key, {})[str(seed)] = rec
        write_json_atomic(path, results)
        return results
    finally:
        os.close(fd)  # drops the lock


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="configurations: " + ", ".join(CONFIGS) + "\n\nexamples:\n"
        "  python experiments/stability.py --features /data/stab/features --out /data/stab/out\n"
        "  python experiments/stability.py --features F --out O --configs 001-am-max --seeds 5\n"
        "  python experiments/stability.py --out O --report docs/retest/stability.md")
    p.add_argument("--features", type=Path, help="the feature store (with actor masks)")
    p.add_argument("--out", type=Path, required=True, help="runs and stability.json go here")
    p.add_argument("--configs", nargs="+", default=list(CONFIGS), metavar="NAME")
    p.add_argument("--seeds", type=int, default=5,
                   help="seeds up to N-1: --first-seed .. N-1 (default 5)")
    p.add_argument("--first-seed", type=int, default=0,
                   help="the first seed (default 0; --first-seed 5 --seeds 10: seeds 5-9)")
    p.add_argument("--recipe", nargs="+", default=["glimpse"], choices=list(RECIPES),
                   help="train each configuration under each of these recipes (default glimpse)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="change a model option or a training setting (warmup_epochs, ...) in "
                        "every configuration run (a variant: its key "
                        "gets +KEY=VALUE)")
    p.add_argument("--epochs", type=int,
                   help="train only this many epochs (a screen: where the attention went in the "
                        "first epochs, val_actor_mass in each run's log.csv; the protocol's "
                        "epochs later resume the same runs)")
    p.add_argument("--test", action="store_true",
                   help="also score each run on the test split (only a final recipe's runs: "
                        "candidates are judged on validation)")
    p.add_argument("--report", type=Path,
                   help="write the table (markdown) to this file, or between its "
                        "<!-- stability --> markers where it has them")
    a = p.parse_args(argv)
    try:
        unknown = [c for c in a.configs if c not in CONFIGS]
        if unknown:
            raise GlimpseError(f"unknown configuration(s) {', '.join(unknown)} (known: "
                               f"{', '.join(CONFIGS)})")
        if a.features is not None and a.seeds <= a.first_seed:
            raise GlimpseError(f"--seeds {a.seeds} runs seeds {a.first_seed} .. {a.seeds - 1}: "
                               f"none (--seeds is one past the last seed, not a count)")
        sets = dict(setting(s) for s in a.set)
        keys = [(name, recipe, variant_key(name, recipe, sets)) for name in a.configs
                for recipe in a.recipe]
        path = a.out / "stability.json"
        results = json.loads(path.read_text()) if path.exists() else {}
        if a.features is not None:
            for name, recipe, key in keys:
                for seed in range(a.first_seed, a.seeds):
                    done = results.get(key, {}).get(str(seed))
                    want = settings(CONFIGS[name], recipe, seed, a.epochs, sets).epochs
                    if done and "val" in done and (done.get("test") or not a.test) and \
                            done.get("epochs", want) == want:
                        continue
                    print(f"{key} seed {seed} ...", file=sys.stderr, flush=True)
                    rec = run_one(CONFIGS[name], seed, a.features, a.out, recipe, sets, a.test,
                                  a.epochs)
                    results = record(path, key, seed, rec)
                    print(f"{key} seed {seed}: validation {100 * rec['val']['top1']:.1f}%",
                          file=sys.stderr, flush=True)
        table = render(results, [k for k in results if config_of(k) in a.configs])
        if a.report:
            write_text_atomic(a.report, embed(a.report, table))
        print(table, end="")
    except GlimpseError as e:
        print(f"stability: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
