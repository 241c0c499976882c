"""Running rows: train (or resume), fit a probe, fuse two rows' runs or test a row's run
another way, and keep each result as results.json's record; which records a protocol change
made stale, and joining a second runner's records."""

from __future__ import annotations

import csv
import time
from dataclasses import replace
from pathlib import Path

import torch
from retest.catalog import TABLES, owner
from retest.render import first_epoch_above
from retest.rows import Row, Table

from glimpse.compare import fuse_runs, read_predictions, run_correct
from glimpse.config import TrainConfig
from glimpse.evaluate import evaluate_run
from glimpse.features.clips import TEMPORAL_VIEWS
from glimpse.models import model_options
from glimpse.probe import run_probe
from glimpse.recipes import recipe_options, recipe_settings
from glimpse.train import train


def settings(tc: TrainConfig, table: Table, row: Row) -> TrainConfig:
    """``tc`` with ``row``'s recipe, ``table``'s protocol and then ``row``'s own settings over
    it."""
    return replace(tc, **{**recipe_settings(row.recipe), **table.train, **dict(row.train)})


def epochs_of(row: Row, table: Table, tc: TrainConfig) -> int | None:
    """How many epochs the net behind ``row``'s figures trains for under the protocol as it
    stands: its own run's, or for score fusion and test-time rows the longest of the runs they
    read; None for a linear probe (no epochs)."""
    if row.kind.startswith("probe"):
        return None
    if row.kind == "train":
        return settings(tc, table, row).epochs
    return max(epochs_of(part, owner(part, table), tc) for part in row.of)


def protocol_epochs(tables, seeds: dict, tc: TrainConfig) -> dict[str, int]:
    """Run key -> the epochs its row's protocol now asks, for the rows of ``tables`` (archived
    ones aside: kept as they ran) that train by epochs."""
    want = {}
    for table in (t for t in tables if not t.archived):
        for row in table.rows:
            epochs = epochs_of(row, table, tc)
            if epochs is not None:
                want.update({row.key(s, table.video_rule): epochs for s in seeds[table.seeds]})
    return want


def stale(results: dict, tables, seeds: dict, tc: TrainConfig) -> set[str]:
    """The keys of ``results`` made for another number of epochs than their row's protocol now
    asks (a protocol lengthened since): not shown in the tables, and run again, which resumes
    the run folder from its last epoch where this out folder has it. A record without
    ``epochs`` is from before the field and is taken as made under the protocol."""
    return {key for key, epochs in protocol_epochs(tables, seeds, tc).items()
            if key in results and results[key].get("epochs", epochs) != epochs}


def declared_recipes(tables, seeds: dict) -> dict[str, str | None]:
    """Run key -> the recipe its row now declares (None: glimpse's), for the trained rows of
    ``tables`` (archived ones aside)."""
    return {row.key(s, t.video_rule): row.recipe for t in tables if not t.archived
            for row in t.rows if row.kind == "train" for s in seeds[t.seeds]}


def merge(results: dict, other: dict, want: dict[str, int],
          recipes: dict[str, str | None] | None = None) -> dict:
    """``other``'s records into ``results`` (a second runner's), each replacing the record of
    its key, except that a record made for other epochs than ``want`` (protocol_epochs) never
    replaces one made for them. Returns the records set aside for their recipe (a row's recipe
    changed within a round: its key stays): those a record of another recipe replaced, and,
    where ``recipes`` (declared_recipes) is given, those of ``other`` whose recipe is not the
    one their row declares, which never enter ``results``."""
    replaced = {}
    for key, rec in other.items():
        epochs = want.get(key)
        if (key in results and epochs is not None and rec.get("epochs", epochs) != epochs
                and results[key].get("epochs", epochs) == epochs):
            continue
        if recipes is not None and key in recipes and rec.get("recipe") != recipes[key]:
            replaced[key] = rec
            continue
        if key in results and results[key].get("recipe") != rec.get("recipe"):
            replaced[key] = results[key]
        results[key] = rec
    return replaced


def options_of(row: Row, table: Table) -> dict:
    """The model options ``row`` trains with: the table's (the LSTM's width) where the model
    has them, its recipe's (a sharpness) over them, its own over both."""
    known = model_options(row.model)
    common = {k: v for k, v in (table.options or {}).items() if k in known}
    return {**common, **recipe_options(row.recipe, row.model), **dict(row.options)}


def _fit(row: Row, seed: int, table: Table, out: Path, tc: TrainConfig, run: Path) -> dict:
    """Train (or resume, or leave as it is if finished) ``row``'s run -> its best validation
    record."""
    return train(out / (row.store or table.store), run, row.model, options_of(row, table),
                 replace(tc, seed=seed, split_seed=seed),
                 progress=False, log=lambda *_: None)


def _train_row(row: Row, seed: int, table: Table, out: Path, tc: TrainConfig, run: Path):
    best = _fit(row, seed, table, out, tc, run)
    m = evaluate_run(run, video_rule=table.video_rule, progress=False)
    m["val_top1"] = best["val_top1"]  # the selected checkpoint's validation top-1
    return m, run, None


def _probe_row(row: Row, seed: int, table: Table, out: Path, tc: TrainConfig, run: Path):
    m = run_probe(out / (row.store or table.store), run, actor=row.kind == "probe-actor",
                  split_seed=seed, test_fraction=tc.test_fraction, val_fraction=tc.val_fraction,
                  log=lambda *_: None, **dict(row.options))
    return m, run, None


def _part_run(part: Row, seed: int, table: Table, out: Path, tc: TrainConfig) -> Path:
    """The run folder of row ``part``, which score fusion or a test-time option reads, trained
    here under its own table's protocol when this out folder lacks it or has it half-trained
    (its result in results.json may have come from another runner's out folder or an earlier
    checkout); a finished run is left as it is."""
    home = owner(part, table)
    run = run_folder(out, part, seed)
    _fit(part, seed, home, out, settings(tc, home, part), run)
    return run


def _fuse_row(row: Row, seed: int, table: Table, out: Path, tc: TrainConfig, run: Path):
    parts = [_part_run(part, seed, table, out, tc) for part in row.of]
    return fuse_runs(parts, run, video_rule=table.video_rule), run, None


def _evaluate_row(row: Row, seed: int, table: Table, out: Path, tc: TrainConfig, run: Path):
    options = dict(row.options)
    run = _part_run(row.of[0], seed, table, out, tc)
    views = TEMPORAL_VIEWS if options.pop("views", None) == "temporal" else ("whole",)
    m = evaluate_run(run, video_rule=table.video_rule, progress=False, options=options,
                     views=views)
    return m, run, read_predictions(run / "predictions_test.csv")


RUN_KIND = {"train": _train_row, "probe": _probe_row, "probe-actor": _probe_row,
            "fuse": _fuse_row, "evaluate": _evaluate_row}


def run_folder(out: Path, row: Row, seed: int) -> Path:
    """Where ``row``'s run for ``seed`` lives under out folder ``out``: one folder per model,
    options and seed whatever the table's video rule (a probe's is named for the vote rule its
    predictions were first written under)."""
    return out / "runs" / row.key(seed, "vote" if row.kind.startswith("probe") else "")


def run_row(row: Row, seed: int, table: Table, out: Path, tc: TrainConfig) -> dict:
    """Train + evaluate (or fit the probe, fuse two rows' runs, or test another row's run with
    test-time options) for one row and seed -> metrics + per-video correct."""
    run = run_folder(out, row, seed)
    m, run, correct = RUN_KIND[row.kind](row, seed, table, out, tc, run)
    if "attention" in m:
        m["attention"] = {k: v for k, v in m["attention"].items() if k != "per_class"}
    if correct is None:
        correct = run_correct(run, video_rule=table.video_rule)
    keep = ("top1", "mean_class_accuracy", "clip_accuracy", "attention", "checkpoint_epoch",
            "val_top1")
    return {**{k: m[k] for k in keep if k in m}, "correct": correct}


def record(row: Row, seed: int, table: Table, out: Path, tc: TrainConfig,
           old: dict | None = None) -> dict:
    """``row``'s result for ``seed`` under ``table``'s protocol over ``tc`` as results.json keeps
    it: run_row's metrics, the epochs its net trained for, the wall seconds and the torch thread
    count (a CPU run's bits depend on it), and the recipe of a row that names one. ``old``, a stale record of the same key, is replaced;
    where this out folder still has its run, the run resumes from its last epoch and the earlier
    epochs' seconds count too."""
    t = time.time()
    run = run_folder(out, row, seed)
    resumed = old is not None and (run / "last.safetensors").exists()
    # a run killed before its record was written resumes too: its logged epochs count
    earlier = max(logged_seconds(run), old.get("seconds", 0) if resumed else 0)
    epochs = epochs_of(row, table, tc)
    rec = {**run_row(row, seed, table, out, settings(tc, table, row)),
           **({} if epochs is None else {"epochs": epochs}), "threads": torch.get_num_threads(),
           "seconds": round(earlier + time.time() - t, 1),
           **({"recipe": row.recipe} if row.recipe else {})}
    curve = val_curve(run)  # None for a row that trains nothing: its folder has no log
    return rec if curve is None else {**rec, "val_curve": curve}


def read_log(run: Path) -> list[dict] | None:
    """The epochs of ``run``'s log.csv, one dict each (None without one)."""
    log = run / "log.csv"
    if not log.exists():
        return None
    with log.open(newline="") as f:
        return list(csv.DictReader(f))


def logged_seconds(run: Path) -> float:
    """The seconds of the epochs in ``run``'s log.csv (0 without one): its training over every
    process that worked on it, the ones killed before its record was written included."""
    return sum(float(r["seconds"]) for r in read_log(run) or () if r.get("seconds"))


def val_curve(run: Path) -> list[float] | None:
    """The validation top-1 of each epoch in ``run``'s log.csv (None without a log)."""
    log = read_log(run)
    return None if log is None else [float(r["val_top1"]) for r in log if r.get("val_top1")]


def render_first_epochs(tables, outs: list[Path], seeds: dict, fraction: float) -> str:
    """Row by row, the epoch at which each seed's validation top-1 first passed ``fraction``
    (its run folder looked up in each out folder of ``outs`` in turn): the numbers behind "a
    seed leaves its plateau". A row that trains nothing of its own (a probe, a fusion, a test
    of another row's run) has no epochs."""
    lines = [f"the epoch at which validation top-1 first passed {fraction:g} (never: no epoch "
             "did; ?: no run folder with a log.csv)"]
    for t in tables:
        lines.append(f"{t.key}: {t.title}")
        for r in t.rows:
            if r.kind != "train":
                lines.append(f"  {r.name}: trains nothing of its own")
                continue
            found = []
            for s in seeds[t.seeds]:
                curves = (val_curve(run_folder(o, r, s)) for o in outs)
                found.append(first_epoch_above(next((c for c in curves if c is not None),
                                                    None), fraction))
            lines.append(f"  {r.name}: " + " / ".join(map(str, found)))
    return "\n".join(lines)


def recount(records: dict, out: Path, seeds: dict) -> None:
    """Bring each record of ``records`` (the results.json of out folder ``out``) up to its run's
    log: its seconds raised to the logged epochs' where those took longer (until record()
    counted a killed run's earlier epochs, 2026-12-06, a resumed run's record kept only its last
    process's), and its validation curve added where it has none (records before that date)."""
    for table in TABLES:
        for row in table.rows:
            for seed in seeds[table.seeds]:
                rec = records.get(row.key(seed, table.video_rule))
                if rec is not None:
                    run = run_folder(out, row, seed)
                    rec["seconds"] = max(rec.get("seconds", 0), round(logged_seconds(run), 1))
                    curve = val_curve(run)
                    if curve is not None and "val_curve" not in rec:
                        rec["val_curve"] = curve
