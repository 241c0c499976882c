"""The re-test's tables as data and its runner's bookkeeping (experiments/paper_tables.py and
experiments/retest/): run keys, references as rows, the validation column, the CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from tests.conftest import experiment_script


@pytest.fixture(scope="module")
def pt():
    """The re-test's modules as one namespace: catalog, rows, render, runner, notes, papers."""
    from types import SimpleNamespace

    cli = experiment_script("paper_tables")  # puts experiments/ on sys.path for retest
    from retest import catalog, notes, p001, p003, render, rows, runner

    return SimpleNamespace(cli=cli, catalog=catalog, rows=rows, render=render, runner=runner,
                           notes=notes, p001=p001, p003=p003, TABLES=catalog.TABLES,
                           CLAIMS=catalog.CLAIMS, CLAIM_TABLES=catalog.CLAIM_TABLES,
                           Row=rows.Row, TRAIN=rows.TRAIN)


def by_name(table, name: str):
    """A row of ``table`` by its exact name (the tests' way in; the tables hold rows)."""
    return next(r for r in table.rows if r.name == name)


def tiny(pt, key, rows, train=None):
    """A table of tiny LSTMs for the runner's tests."""
    return pt.rows.Table(key, key, "mean", "seeds", rows, train or {}, options={"hidden": 8})


def test_one_run_key_per_configuration(pt):
    """Rows of different tables that train the same configuration share its run (and the
    regularizer's default row is the sweep's row of the same lambda)."""
    configs = {}
    for table in pt.TABLES:
        for row in table.rows:
            if row.model == "joint":
                configs.setdefault(row.key(0, table.video_rule), set()).add(row.options)
    assert all(len(opts) == 1 for opts in configs.values())
    joint = {t.key: t for t in pt.TABLES}
    both = by_name(joint["joint2"], "both levels").key(0, "vote")
    swept = by_name(joint["joint_lam"], f"lambda = {pt.p003.JOINT_LAM:g}").key(0, "vote")
    no_reg = by_name(joint["joint3"], "3D convnet, no regularizer").key(0, "vote")
    assert both == swept and no_reg == by_name(joint["joint_lam"], "lambda = 0").key(0, "vote")


def test_no_table_trains_one_configuration_under_two_keys(pt):
    """Within a claims table, rows whose options differ only by a model default (e.g. an
    explicit aa_loss = l2) are one configuration and must share one run key, not train twice.
    (The older tables' location-policy rows, keyed by lambda alone since the default policy
    changed, are the known exception: CONTRIBUTING, "Re-test runs".)"""
    from glimpse.models import model_options

    for table in pt.CLAIM_TABLES:
        seen = {}
        for row in table.rows:
            if row.kind != "train":
                continue
            config = (row.model, row.store, row.train,
                      tuple(sorted(model_options(row.model, dict(row.options)).items())))
            key = row.key(0, table.video_rule)
            assert seen.setdefault(config, key) == key, (table.key, row.name, seen[config], key)


def test_validation_column(pt):
    table = next(t for t in pt.TABLES if t.key == "joint_lam")
    rows = {r.key(s, table.video_rule): {"top1": 0.5, "mean_class_accuracy": 0.5,
                                         "val_top1": v, "correct": [1, 0, 1, 1]}
            for r in table.rows[:1] for s, v in ((0, 0.4), (1, 0.6))}
    md = pt.render.render([table], rows, {"sweep_seeds": [0, 1]})
    header, line = md.splitlines()[2], md.splitlines()[4]
    assert header.endswith("validation top-1 % |")
    assert line.endswith("| 2 (of 3) | 50.0 ± 14.1 |")


def test_every_reference_is_a_row_of_its_table_and_every_row_has_a_kind(pt):
    """References and the pairs under a table are rows of the table, the rows a fusion or
    evaluation reads are rows of a running table, and a row is a model to train or one of the
    kinds that train nothing; the catalog's check refuses each way of breaking that."""
    from dataclasses import replace

    from glimpse.models import MODELS

    for table in pt.TABLES:
        for row in table.rows:
            assert row.kind in pt.runner.RUN_KIND and (row.kind != "train" or row.model in MODELS)
            assert row.reference is None or row.reference in table.rows
            assert (row.kind in ("fuse", "evaluate")) == bool(row.of), row.name
            if not table.archived:
                for part in row.of:
                    pt.catalog.owner(part, table)
        for row, ref in table.also:
            assert row in table.rows and ref in table.rows
    a, b = pt.Row("a", "avgpool"), pt.Row("b", "maxpool")
    check = pt.catalog.check
    good = tiny(pt, "t", [a, b, pt.Row("c", "none", (), a)])
    check([good], [])
    with pytest.raises(ValueError, match="not a row of this table"):
        check([tiny(pt, "t", [a, pt.Row("c", "none", (), pt.Row("x", "none"))])], [])
    with pytest.raises(ValueError, match="one run"):  # b's run under a second name, undeclared
        check([tiny(pt, "t", [a, b, pt.Row("b again", "maxpool")])], [])
    check([tiny(pt, "t", [a, b, b.named("b again")])], [])  # declared: one run
    with pytest.raises(ValueError, match="model options"):
        check([replace(good, options=None)], [])
    with pytest.raises(ValueError, match="compared pair"):
        check([replace(good, also=((a, pt.Row("x", "none")),))], [])
    with pytest.raises(KeyError, match="no running table"):
        check([tiny(pt, "t", [a, pt.Row("f", "fuse", of=(a, pt.Row("x", "none")))])], [])


def test_every_claim_names_rows_of_its_table_and_its_verdict_follows_the_interval(pt):
    for c in pt.CLAIMS:
        assert c.row in c.table.rows and c.reference in c.table.rows
    # a claim with no runs is "not run"; a hand-made result: B right on 40 more videos than A
    # in each of 5 seeds holds, the reverse is reversed
    claim = pt.CLAIMS[0]
    t, row, ref = claim.table, claim.row, claim.reference
    seeds = {"seeds": list(range(5)), "sweep_seeds": list(range(3))}
    assert "| not run |" in pt.render.render_claims(pt.CLAIMS, {}, seeds).splitlines()[2]
    for better, verdict in ((row, "holds"), (ref, "reversed")):
        results = {}
        for s in range(5):
            worse = ref if better is row else row
            results[better.key(s, t.video_rule)] = {
                "correct": {f"v{i}": i < 500 + s for i in range(600)}}
            results[worse.key(s, t.video_rule)] = {
                "correct": {f"v{i}": i < 460 for i in range(600)}}
        line = pt.render.render_claims(pt.CLAIMS, results, seeds).splitlines()[2]
        assert line.endswith(f"| – | 5 | {verdict} |"), line  # no attention recorded
    # an end that would read 0.0 keeps two significant digits
    assert [pt.render.bound(v) for v in (0.0442, -0.031, 0.0, 2.2249, -0.06)] == [
        "+0.044", "-0.031", "+0.0", "+2.2", "-0.1"]
    # the attention column: each row's mean mass on the actor over the paired seeds only (seed
    # 4 of the claim row has no reference run), "–" for a row that records none
    att = lambda m: {"steps": 10, "mass_in_mask": m, "uniform_mass_in_mask": 0.08}  # noqa: E731
    results = {row.key(s, t.video_rule): {"correct": {"v0": True, "v1": s % 2 == 0},
                                          "attention": att(0.1 * (s + 1))} for s in range(5)}
    results.update({ref.key(s, t.video_rule): {"correct": {"v0": True, "v1": False},
                                               "attention": att(0.09)} for s in range(4)})
    assert "| 0.250 / 0.090 (0.08) | 4 |" in pt.render.render_claims(pt.CLAIMS, results, seeds).splitlines()[2]
    for s in range(4):
        del results[ref.key(s, t.video_rule)]["attention"]
    assert "| 0.250 / – (0.08) | 4 |" in pt.render.render_claims(pt.CLAIMS, results, seeds).splitlines()[2]


def test_the_cost_table_counts_run_minutes_and_estimates_what_is_left(pt):
    """Done runs' minutes summed per claim table; each missing run at its row's mean, or the
    table's where the row has none; a table with no run says it cannot estimate."""
    tables = {t.key: t for t in pt.TABLES}
    t = tables["c000"]
    seeds = {"seeds": list(range(5)), "sweep_seeds": list(range(3))}
    first, second = t.rows[0], t.rows[1]
    results = {first.key(0, t.video_rule): {"seconds": 600.0},
               first.key(1, t.video_rule): {"seconds": 1200.0},
               second.key(0, t.video_rule): {"seconds": 300.0}}
    lines = pt.render.render_cost(pt.CLAIM_TABLES, results, seeds).splitlines()
    c000 = next(line for line in lines if line.startswith("| c000 |"))
    # 3 of 15 done, 35 run-minutes; left: row 0, 3 seeds x 15 min; row 1, 4 x 5; row 2 (no
    # run), 5 x the table's mean of 35 / 3
    assert c000 == "| c000 | 3 (of 15) | 35 | 11.7 | 123 |", c000
    assert next(line for line in lines if line.startswith("| c002 |")).endswith(
        "| 0 | – | ? (no run yet) |")
    total = next(line for line in lines if line.startswith("| all |"))
    assert total.startswith("| all | 3 (of ") and total.endswith(
        "| 123 + the tables with no run yet |")
    assert lines[-1] == ("Wall time with two runners side by side (half the run-minutes): "
                         "about 0.3 hours so far, about 1.0 hours left (and the tables with no "
                         "run yet).")  # 35 / 120 and 123 / 120
    everything = {r.key(s, t.video_rule): {"seconds": 60.0} for t in pt.CLAIM_TABLES
                  for r in t.rows for s in seeds[t.seeds]}
    done = pt.render.render_cost(pt.CLAIM_TABLES, everything, seeds).splitlines()
    assert next(line for line in done if line.startswith("| all |")).endswith("| 0 |")
    assert done[-1].endswith(" hours; every run is done.")
    # paper 001's "every frame" row is its "+ A-A (L2)" run: 12 rows, 11 runs a seed
    assert next(line for line in lines if line.startswith("| c001 |")).startswith(
        "| c001 | 0 (of 55) |")
    # the sweep choosing paper 003's initialization is part of the cost; its rows that c003 also
    # runs (PyTorch's default) count once, in c003
    init, c003 = tables["c003_init"], tables["c003"]
    assert by_name(init, "[att] main level").key(0, "vote") == c003.rows[0].key(0, "vote")
    results = {by_name(init, "[att] main level, He init").key(0, "vote"): {"seconds": 1200.0},
               c003.rows[0].key(0, "vote"): {"seconds": 600.0}}
    lines = pt.render.render_cost(pt.CLAIM_TABLES, results, seeds).splitlines()
    assert next(line for line in lines if line.startswith("| c003_init |")).startswith(
        "| c003_init | 1 (of 6) | 20 | 20.0 |")
    assert next(line for line in lines if line.startswith("| c003 |")).startswith(
        "| c003 | 1 (of 40) | 10 |")
    # the weight sweep's rows at lambda 0 and 1 are c003's runs: its own 10 (lambda 0.1, 0.3)
    # are estimated at what its rows' runs cost where c003 counted them (20 and 10 minutes)
    lam = tables["c003_lam"]
    results = {by_name(lam, "[att] both levels").key(0, "vote"): {"seconds": 1200.0},
               by_name(lam, "[att] 3D convnet, no regularizer").key(1, "vote"):
               {"seconds": 600.0}}
    lines = pt.render.render_cost(pt.CLAIM_TABLES, results, seeds).splitlines()
    assert "| c003_lam | 0 (of 10) | 0 | – | 150 |" in lines


def _small_store(out: Path) -> None:
    """A tiny store at OUT/features (the runner's default store)."""
    from glimpse.cli import main
    from tests.conftest import small_videos

    small_videos(out / "videos", frames=8, seed=3, groups=4)
    assert main(["extract", str(out / "videos"), str(out / "features"), "--fps", "0",
                 "--quiet"]) == 0


def test_score_fusion_trains_the_runs_it_reads_where_the_out_folder_lacks_them(pt, tmp_path):
    # a row's result can come from another runner's out folder (or an earlier checkout) without
    # its run folder: score fusion then trains the parts here, and leaves finished ones alone
    from dataclasses import replace

    _small_store(tmp_path)
    a, b = pt.Row("a", "avgpool"), pt.Row("b", "maxpool")
    rows = [a, b, pt.Row("a + b", "fuse", of=(a, b))]
    table = tiny(pt, "t", rows)
    tc = replace(pt.TRAIN, epochs=2, batch_size=4, clip_len=4, stride=2)
    fused = pt.runner.run_row(rows[2], 0, table, tmp_path, tc)
    last = [tmp_path / "runs" / r.key(0, "") / "last.safetensors" for r in rows[:2]]
    assert all(p.exists() for p in last) and 0 <= fused["top1"] <= 1
    stamps = [p.stat().st_mtime_ns for p in last]
    assert pt.runner.run_row(rows[2], 0, table, tmp_path, tc)["top1"] == fused["top1"]
    assert [p.stat().st_mtime_ns for p in last] == stamps  # finished: not trained again


def test_no_run_is_asked_for_under_two_numbers_of_epochs(pt):
    """A run key that two running tables read must have one protocol, or each runner would
    find the other's record stale and run it again without end."""
    seeds = {"seeds": list(range(5)), "sweep_seeds": list(range(3))}
    want = {}
    for table in (t for t in pt.TABLES if not t.archived):
        for row in table.rows:
            epochs = pt.runner.epochs_of(row, table, pt.TRAIN)
            for s in seeds[table.seeds]:
                key = row.key(s, table.video_rule)
                assert want.setdefault(key, epochs) == epochs, (table.key, row.name, key)
    joint = next(t for t in pt.TABLES if t.key == "c003")
    fused = next(t for t in pt.TABLES if t.key == "c001")
    assert pt.runner.epochs_of(joint.rows[0], joint, pt.TRAIN) == 60
    # score fusion and test-time rows: the epochs of the runs they read; probes: none
    fuse = next(r for r in fused.rows if r.kind == "fuse")
    assert pt.runner.epochs_of(fuse, fused, pt.TRAIN) == pt.p001.RSTAN_EPOCHS
    probe = next(r for t in pt.TABLES for r in t.rows if r.kind == "probe")
    assert pt.runner.epochs_of(probe, pt.TABLES[0], pt.TRAIN) is None


def test_a_record_made_for_other_epochs_is_run_again_resuming_its_run(pt, tmp_path):
    # a lengthened protocol: the 2-epoch record is stale under 3 epochs, left out of what the
    # tables show, and run again from its run's last epoch (its seconds added to the new ones)
    from dataclasses import replace

    _small_store(tmp_path)
    row = pt.Row("a", "avgpool")
    seeds = {"seeds": [0], "sweep_seeds": [0]}
    tc = replace(pt.TRAIN, batch_size=4, clip_len=4, stride=2)
    short = tiny(pt, "t", [row], {"epochs": 2})
    key = row.key(0, "mean")
    results = {key: pt.runner.record(row, 0, short, tmp_path, tc)}
    assert results[key]["epochs"] == 2 and pt.runner.stale(results, [short], seeds, tc) == set()
    assert pt.runner.stale({key: {"top1": 0.5}}, [short], seeds, tc) == set()  # before the field
    log = tmp_path / "runs" / row.key(0, "") / "log.csv"
    first = log.read_text().splitlines()
    longer = tiny(pt, "t", [row], {"epochs": 3})
    assert pt.runner.stale(results, [longer], seeds, tc) == {key}
    again = pt.runner.record(row, 0, longer, tmp_path, tc, results[key])
    lines = log.read_text().splitlines()
    assert len(lines) == len(first) + 1 and lines[:len(first)] == first  # resumed, not redone
    assert again["epochs"] == 3 and again["seconds"] >= results[key]["seconds"]
    assert again["threads"] == torch.get_num_threads()
    assert pt.runner.stale({key: again}, [longer], seeds, tc) == set()


def test_a_run_killed_before_its_record_counts_its_logged_epochs(pt, tmp_path):
    # a runner killed after 2 epochs leaves a run and no record: the run resumes, and the
    # record's seconds include the 2 logged epochs (here 1000 s each, written into log.csv)
    import csv
    from dataclasses import replace

    _small_store(tmp_path)
    row = pt.Row("a", "avgpool")
    tc = replace(pt.TRAIN, batch_size=4, clip_len=4, stride=2)
    pt.runner.record(row, 0, tiny(pt, "t", [row], {"epochs": 2}), tmp_path, tc)
    log = tmp_path / "runs" / row.key(0, "") / "log.csv"
    with log.open(newline="") as f:
        rows = list(csv.DictReader(f))
    with log.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows({**r, "seconds": "1000"} for r in rows)
    assert pt.runner.logged_seconds(log.parent) == 2000
    rec = pt.runner.record(row, 0, tiny(pt, "t", [row], {"epochs": 3}), tmp_path,
                    tc)  # no old record: the kill came before it
    assert 2000 <= rec["seconds"] < 2000 + 600  # the resumed epoch may take < 0.05 s
    assert len(rec["val_curve"]) == 3  # every epoch's validation, the earlier process's too
    assert len(log.read_text().splitlines()) == 1 + 3  # resumed: one more epoch, not three
    # records written before this counted only the last process: a merge raises them to
    # their run's logged epochs, and leaves a record longer than its log (evaluation) alone
    seeds = {"seeds": [0], "sweep_seeds": [0]}
    table = next(t for t in pt.TABLES if t.rows[0].kind == "train")
    key, run = table.rows[0].key(0, table.video_rule), table.rows[0].key(0, "")
    (tmp_path / "runs" / run).mkdir(parents=True)
    (tmp_path / "runs" / run / "log.csv").write_text(
        "epoch,val_top1,seconds\n1,0.1,50\n2,0.25,70.25\n")
    assert pt.runner.logged_seconds(tmp_path / "runs" / run) == 120.25
    records = {key: {"top1": 0.5, "seconds": 30.0}}
    pt.runner.recount(records, tmp_path, seeds)
    assert records[key]["seconds"] == 120.2  # rounded to 0.1 s as records keep it
    assert records[key]["val_curve"] == [0.1, 0.25]  # an older record gets its run's curve
    records = {key: {"top1": 0.5, "seconds": 130.0}}
    pt.runner.recount(records, tmp_path, seeds)
    assert records[key]["seconds"] == 130.0
    assert pt.runner.logged_seconds(tmp_path / "runs" / "absent") == 0


def test_the_epoch_each_seed_first_passed_a_validation_fraction(pt, tmp_path):
    """--first-above: per row and seed the first epoch whose validation top-1 is above the
    fraction (strictly), its run looked up in each out folder in turn; never / ? / no epochs."""
    table = tiny(pt, "t", [pt.Row("a", "avgpool"), pt.Row("p", "probe")])
    seeds = {"seeds": [0, 1, 2, 3], "sweep_seeds": [0]}
    a, b = tmp_path / "a", tmp_path / "b"
    logs = {(a, 0): "0.10,0.15,0.1556,0.40",  # 0.15 is not above 0.15: epoch 3
            (b, 1): "0.2,0.1,0.1",  # the second out folder's run: epoch 1
            (a, 2): "0.1,0.12,0.15"}  # never; seed 3 has no run folder
    for (out, seed), vals in logs.items():
        run = out / "runs" / table.rows[0].key(seed, "")
        run.mkdir(parents=True)
        (run / "log.csv").write_text("epoch,val_top1,seconds\n" + "".join(
            f"{i},{v},1.0\n" for i, v in enumerate(vals.split(","), 1)))
    lines = pt.runner.render_first_epochs([table], [a, b], seeds, 0.15).splitlines()
    assert lines[1:] == ["t: t", "  a: 3 / 1 / never / ?", "  p: trains nothing of its own"]
    curve = pt.runner.val_curve(a / "runs" / table.rows[0].key(0, ""))
    assert curve == [0.10, 0.15, 0.1556, 0.40]
    assert pt.render.first_epoch_above(curve, 0.5) == "never" and pt.render.first_epoch_above(curve, 0.0) == 1
    assert pt.render.first_epoch_above(None, 0.15) == "?"
    # the table's note reads the records' curves: – for a seed not run, ? for a record without
    results = {table.rows[0].key(0, "mean"): {"val_curve": [0.1, 0.2]},
               table.rows[0].key(1, "mean"): {"val_curve": [0.15, 0.15, 0.1]},
               table.rows[0].key(3, "mean"): {}}
    assert pt.notes.plateau_epochs(table, results, [0, 1, 2, 3]) == (
        "Validation first above 15% (chance 10%) at epoch, per seed: a 2 / never / – / ?.")
    assert "no row has run yet" in pt.notes.plateau_epochs(table, {}, [0])


def test_rows_whose_best_checkpoint_came_last_are_named_below_their_table(pt):
    # best epochs 28 and 30 of 30 are in the last tenth, 27 is not; probes train no epochs
    table = tiny(pt, "t", [pt.Row("probe", "probe"), pt.Row("a", "avgpool"),
                           pt.Row("b", "maxpool")], {"epochs": 30})
    seeds = {"seeds": [0, 1, 2], "sweep_seeds": [0]}
    best = {"a": (28, 27, 30), "b": (27, 20, 1)}
    results = {row.key(s, "mean"): {"top1": 0.5, "mean_class_accuracy": 0.5, "epochs": 30,
                                    "checkpoint_epoch": best[row.name][s],
                                    "correct": {"v": True}}
               for row in table.rows[1:] for s in (0, 1, 2)}
    results[table.rows[0].key(0, "mean")] = {"top1": 0.5, "mean_class_accuracy": 0.5,
                                             "correct": {"v": True}}
    assert pt.render._late_best(table, results, seeds) == ["a (2 of 3 seeds)"]
    assert ("may still have been gaining when training stopped): a (2 of 3 seeds)."
            in pt.render.render([table], results, seeds))
    results = {k: {**v, "epochs": 40} for k, v in results.items()}  # 30 of 40: not the last
    assert pt.render._late_best(table, results, seeds) == []


def test_merging_never_puts_an_older_protocols_record_over_a_current_one(pt):
    # two out folders with one key: the runner's merge keeps the record made for the epochs
    # the protocol asks, whichever folder comes last; otherwise the last folder's record wins
    table = tiny(pt, "t", [pt.Row("a", "avgpool")], {"epochs": 60})
    seeds = {"seeds": [0, 1], "sweep_seeds": [0]}
    want = pt.runner.protocol_epochs([table], seeds, pt.TRAIN)
    k0, k1 = (table.rows[0].key(s, "mean") for s in (0, 1))
    assert want == {k0: 60, k1: 60}
    results = {k0: {"top1": 0.4, "epochs": 60}, k1: {"top1": 0.3, "epochs": 30}}
    pt.runner.merge(results, {k0: {"top1": 0.2, "epochs": 30}, k1: {"top1": 0.5, "epochs": 60}}, want)
    assert results == {k0: {"top1": 0.4, "epochs": 60}, k1: {"top1": 0.5, "epochs": 60}}
    assert pt.runner.merge(results, {k0: {"top1": 0.45, "epochs": 60},
                                     "other": {"top1": 0.1}}, want) == {}
    assert results[k0]["top1"] == 0.45 and results["other"] == {"top1": 0.1}
    # a run of another recipe replaces a record of its key, which is handed back to be kept
    new = {"top1": 0.6, "epochs": 60, "recipe": "stable-hard-n5"}
    assert pt.runner.merge(results, {k0: new}, want) == {k0: {"top1": 0.45, "epochs": 60}}
    assert results[k0] == new
    assert pt.runner.merge(results, {k0: dict(new)}, want) == {}  # the same recipe: no


def test_merge_keeps_the_records_a_run_of_another_recipe_replaced(pt, tmp_path):
    import json

    row = next(r for t in pt.CLAIM_TABLES for r in t.rows if r.recipe == "stable-hard-n5")
    table = next(t for t in pt.CLAIM_TABLES if row in t.rows)
    key = row.key(0, table.video_rule)
    a, b = tmp_path / "a", tmp_path / "b"
    base = {"mean_class_accuracy": 0.3, "correct": [1, 0, 0], "epochs": 30, "seconds": 60.0}
    first = {**base, "top1": 0.3}
    for folder, rec in ((a, first), (b, {**base, "top1": 0.5, "recipe": "stable-hard-n5"})):
        folder.mkdir()
        (folder / "results.json").write_text(json.dumps({key: rec}))
    pt.cli.main(["merge", str(b), "--out", str(a), "--tables", table.key])
    assert json.loads((a / "results.json").read_text())[key]["top1"] == 0.5
    kept = json.loads((a / "superseded.json").read_text())
    assert kept == {f"{key} (glimpse)": first}
    # a folder's record of the old recipe for a seed the new one has not run never comes in
    other = row.key(1, table.video_rule)
    (b / "results.json").write_text(json.dumps({other: first}))
    pt.cli.main(["merge", str(b), "--out", str(a), "--tables", table.key])
    assert other not in json.loads((a / "results.json").read_text())
    assert json.loads((a / "superseded.json").read_text())[f"{other} (glimpse)"] == first
    # and OUT's own record of the old recipe (merged before the row's recipe changed) steps
    # aside at the next merge
    own = row.key(2, table.video_rule)
    (a / "results.json").write_text(json.dumps({**json.loads((a / "results.json").read_text()),
                                                own: first}))
    pt.cli.main(["merge", str(b), "--out", str(a), "--tables", table.key])
    assert own not in json.loads((a / "results.json").read_text())
    assert json.loads((a / "superseded.json").read_text())[f"{own} (glimpse)"] == first


def test_the_status_names_each_rows_seeds_to_run(pt):
    """--status: per row the seeds it has of those its table needs, and the ones it lacks."""
    t = next(t for t in pt.TABLES if t.key == "c003_init")
    seeds = {"seeds": list(range(5)), "sweep_seeds": list(range(3))}
    results = {t.rows[0].key(s, t.video_rule): {} for s in range(3)}
    results[t.rows[1].key(1, t.video_rule)] = {}
    lines = pt.render.render_status([t], results, seeds).splitlines()
    assert lines[0].startswith("c003_init: ")
    assert lines[1] == "  [att] main level: 3 of 3 seeds"
    assert lines[2] == "  [att] main level, He init: 1 of 3 seeds; to run: seed 0, 2"
    assert lines[4] == "  [att] both levels, He init: 0 of 3 seeds; to run: seed 0, 1, 2"


def test_the_init_sweep_states_its_validation_differences(pt):
    """c003_init chooses on validation: under its table, each He row against PyTorch's default,
    the per-seed differences of validation top-1 and their t-interval (hand-computed here)."""
    from scipy import stats

    t = next(t for t in pt.TABLES if t.key == "c003_init")
    main, he = by_name(t, "[att] main level"), by_name(t, "[att] main level, He init")
    results = {main.key(s, "vote"): {"val_top1": v} for s, v in enumerate((0.40, 0.50, 0.10))}
    results.update({he.key(s, "vote"): {"val_top1": v} for s, v in enumerate((0.30, 0.45))})
    note = pt.notes.validation_differences(t, results, [0, 1, 2])
    half = stats.t.ppf(0.975, 1) * np.std([-10.0, -5.0], ddof=1) / np.sqrt(2)
    assert note == (f"On validation, points: [att] main level, He init against [att] main level, "
                    f"-7.5 [{-7.5 - half:+.1f}, {-7.5 + half:+.1f}] (per seed -10.0 / -5.0; "
                    f"2 seeds).")
    assert pt.notes.validation_differences(t, {}, [0, 1, 2]).startswith("On validation: no row")
    assert pt.notes.validation_differences in t.notes  # rendered under the table


def test_the_pages_are_what_results_json_renders(pt):
    """Every generated block of the docs and the README is byte for byte what the committed
    results.json renders (``paper_tables.py render --docs docs`` would change nothing)."""
    import json

    root = Path(__file__).resolve().parents[1]
    results = json.loads((root / "experiments/results/results.json").read_text())
    seeds = {"seeds": list(range(5)), "sweep_seeds": list(range(3))}
    old = pt.runner.stale(results, pt.TABLES, seeds, pt.TRAIN)
    current = {k: v for k, v in results.items() if k not in old}
    filled = [p for p in pt.cli.pages(root / "docs") if "<!-- table:" in p.read_text() or
              "<!-- claims -->" in p.read_text()]
    assert len(filled) >= 5
    for page in filled:
        text = page.read_text()
        assert pt.cli.fill_markers(text, current, seeds) == text, page


def test_the_runner_cli_renders_merges_and_reports_status(pt, tmp_path, capsys):
    """The subcommands on hand-made records: merge joins a second out folder and writes both
    results.json and tables.md, status names the seeds to run, render rewrites tables.md, and an
    unknown table is one line."""
    import json

    t = next(t for t in pt.TABLES if t.key == "c000")
    rec = {"top1": 0.5, "mean_class_accuracy": 0.5, "correct": {"v": True}}
    a, b = tmp_path / "a", tmp_path / "b"
    for out, row in ((a, t.rows[0]), (b, t.rows[1])):
        out.mkdir()
        (out / "results.json").write_text(json.dumps({row.key(0, "vote"): rec}))
    pt.cli.main(["merge", str(b), "--out", str(a), "--tables", "c000"])
    assert len(json.loads((a / "results.json").read_text())) == 2
    assert "| 50.0 |" in (a / "tables.md").read_text()
    capsys.readouterr()
    pt.cli.main(["status", "--out", str(a), "--tables", "c000"])
    assert "  [att] none: 1 of 5 seeds; to run: seed 1, 2, 3, 4" in capsys.readouterr().out
    (a / "tables.md").unlink()
    pt.cli.main(["render", "--out", str(a), "--tables", "c000"])
    assert (a / "tables.md").exists()
    with pytest.raises(SystemExit, match="no table nope"):
        pt.cli.main(["render", "--out", str(a), "--tables", "nope"])


def test_a_row_trains_under_its_recipe_and_its_record_and_verdict_name_it(pt, tmp_path):
    # a row that names a recipe: the recipe's settings under the table's and the row's own
    # (warm-up from stable-rstan, epochs from the table), its model options under the row's
    # (the sharpness), its name in the run's config.json, its record and the verdicts' column
    import json
    from dataclasses import replace

    _small_store(tmp_path)
    plain = pt.Row("plain", "rstan", (("stream", "rgb"), ("attention", False), ("lam_aa", 0.0)))
    sharp = pt.Row("sharp", "rstan", (("stream", "rgb"), ("lam_aa", 0.0), ("gamma_b", 3.0)), plain,
                   recipe="stable-rstan")
    fused = pt.Row("fused", "fuse", (), plain, of=(sharp, plain))
    table = tiny(pt, "t", [plain, sharp, fused], {"epochs": 1})
    tc = replace(pt.TRAIN, batch_size=4, clip_len=4, stride=2)
    assert pt.runner.settings(tc, table, sharp).warmup_epochs == 2.0
    assert pt.runner.settings(tc, table, sharp).epochs == 1  # the protocol's over the recipe's
    assert pt.runner.settings(tc, table, plain).warmup_epochs == 0.0
    rec = pt.runner.record(sharp, 0, table, tmp_path, tc)
    config = json.loads((tmp_path / "runs" / sharp.key(0, "") / "config.json").read_text())
    assert config["train"]["recipe"] == "stable-rstan" and config["train"]["warmup_epochs"] == 2
    # the recipe's gamma_a = 1; the row's own gamma_b = 3 over the recipe's 1
    assert config["model"]["options"]["gamma_a"] == 1.0
    assert config["model"]["options"]["gamma_b"] == 3.0
    assert rec["recipe"] == "stable-rstan"
    assert "recipe" not in pt.runner.record(plain, 0, table, tmp_path, tc)
    assert sharp.key(0, "mean") == replace(sharp, recipe=None).key(0, "mean")  # not in the key
    assert sharp.named("again").recipe == "stable-rstan"
    results = {sharp.key(s, "mean"): {"recipe": "stable-rstan"} for s in (0, 1)}
    results.update({plain.key(s, "mean"): {} for s in (0, 1)})
    assert pt.render.recipes_of(sharp, table, results, [0, 1]) == ["stable-rstan"]
    assert pt.render.recipes_of(plain, table, results, [0, 1]) == ["glimpse"]
    assert pt.render.recipes_of(fused, table, results, [0, 1]) == ["stable-rstan", "glimpse"]
    assert pt.render.recipes_of(sharp, table, {}, [0, 1]) == []
    claim = pt.rows.Claim("x", "sharp over plain", "", table, sharp, plain)
    assert pt.render._recipes(claim, results, {"seeds": [0, 1]}) == "stable-rstan / glimpse"
    wrong = pt.Row("wrong", "avgpool", recipe="stable-rstan")  # a recipe for another model
    with pytest.raises(Exception, match="is for model rstan"):
        pt.runner.record(wrong, 0, tiny(pt, "w", [wrong], {"epochs": 1}), tmp_path, tc)
