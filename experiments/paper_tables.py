"""Re-test the papers' tables on SynthActions: one command, resumable, paired differences.

    python experiments/paper_tables.py run [--out experiments/out] [--tables table5 table1 ...]
                                           [--seeds 5] [--sweep-seeds 3] [--epochs N]
    python experiments/paper_tables.py render --out experiments/results --docs docs
    python experiments/paper_tables.py merge experiments/out-b --out experiments/results
        # a second runner's results (its own --out) joined to the first's, tables re-rendered;
        # records of another recipe than their row declares go to OUT/superseded.json
    python experiments/paper_tables.py status --out experiments/out --merge experiments/out-b \
        --tables c003 c004        # each row's seeds done and to run; writes nothing
    python experiments/paper_tables.py first-above 0.15 --out experiments/out --tables c003
        # the epoch each seed's validation passed 15%; writes nothing
    python experiments/paper_tables.py verdicts --out experiments/results [--page PAGE]
        # the claims judged by retest/RULES.md (Holm's correction); --page: into its block

The tables are data, one module per paper under ``experiments/retest/`` (``p000.py`` ...
``p004.py``, ``streams.py``), each a list of ``Table``s of ``Row``s (a model and its options,
or a linear probe), the seeds it runs, the video rule of its paper's protocol, and for each row
the row it is compared with: the paired difference (same test videos, seed by seed;
``glimpse.compare``) and its 95% interval go into the table, so a reader sees at once which
differences are real. ``retest/catalog.py`` orders them; ``retest/render.py`` writes them.

Each seed draws its own group split and initialization; model selection on validation, never
test. The SynthActions set (``glimpse synth --preset retest``) and its features are made once
under OUT/ and reused; every finished run is kept in OUT/results.json (its metrics and its
per-video correctness), so a killed re-test continues where it stopped. Each record also keeps
the epochs its net trained for: when a table's protocol changes its epochs, its records made
for the old number are left out of the tables and run again (the run folder, where OUT has it,
resumes from its last epoch).
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

# experiments/retest/ (a script's own folder is on sys.path)
from retest import catalog, render, runner
from retest.rows import STORES, TRAIN, preset_of, videos_of

from glimpse.allocator import keep_freed_memory
from glimpse.features.extract import extract
from glimpse.io import write_json_atomic, write_text_atomic
from glimpse.stats import MIN_SEEDS
from glimpse.synth import PRESETS, generate


def fill_markers(text: str, results: dict, seeds: dict) -> str:
    """``text`` with every table, claims and cost block in it rendered anew from ``results``."""
    return render.fill_markers(text, catalog.TABLES, catalog.CLAIMS, catalog.CLAIM_TABLES,
                               results, seeds)


def _load(a) -> tuple[dict, dict, set, dict]:
    """OUT/results.json with the --merge folders' records joined (in memory), the seeds, the
    keys made stale by a protocol change, and the records set aside for their recipe (another
    than their row declares, or replaced by a run of another: runner.merge)."""
    seeds = {"seeds": list(range(a.seeds)), "sweep_seeds": list(range(a.sweep_seeds))}
    path = a.out / "results.json"
    results = json.loads(path.read_text()) if path.exists() else {}
    tc = replace(TRAIN, epochs=a.epochs)
    want = runner.protocol_epochs(catalog.TABLES, seeds, tc)
    superseded, recipes = {}, runner.declared_recipes(catalog.TABLES, seeds)
    if a.merge:  # OUT's own records of a recipe their row no longer declares step aside too
        for key in [k for k, rec in results.items()
                    if k in recipes and rec.get("recipe") != recipes[k]]:
            superseded[key] = results.pop(key)
    for other in a.merge:
        theirs = json.loads((other / "results.json").read_text())
        runner.recount(theirs, other, seeds)
        superseded.update(runner.merge(results, theirs, want, recipes))
    return results, seeds, runner.stale(results, catalog.TABLES, seeds, tc), superseded


def pages(docs: Path) -> list[Path]:
    """The pages whose generated blocks the tables fill: every page under ``docs``, then the
    README beside it."""
    return [*sorted(docs.rglob("*.md")), docs.parent / "README.md"]


def _write_tables(a, tables, current: dict, seeds: dict) -> None:
    """OUT/tables.md, and with --docs the pages' table blocks and the README beside them."""
    write_text_atomic(a.out / "tables.md", render.render(tables, current, seeds))
    print((a.out / "tables.md").read_text())
    docs = getattr(a, "docs", None)
    for page in pages(docs) if docs else ():
        text = page.read_text() if page.exists() else ""
        if "<!-- table:" in text or "<!-- claims -->" in text:
            write_text_atomic(page, fill_markers(text, current, seeds))


def cmd_run(a, tables, results, seeds, current) -> None:
    """Run every row and seed the tables lack, seed by seed, each record written as it ends."""
    out, t0 = a.out, time.time()
    tc = replace(TRAIN, epochs=a.epochs)
    run_seeds = {k: [s for s in v if s >= a.first_seed] for k, v in seeds.items()}
    wanted = (lambda row: a.rows is None or row.name in a.rows)
    pending = [(t, r) for t in tables for s in run_seeds[t.seeds] for r in t.rows
               if r.key(s, t.video_rule) not in current and not t.archived and wanted(r)]
    for store in dict.fromkeys(r.store or t.store for t, r in pending):  # only what is read
        generate(out / videos_of(store), PRESETS[preset_of(store)])
        options = {k: v for k, v in STORES[store].items() if k != "preset"}
        s = extract(out / videos_of(store), out / store, fps=0, workers=2, **options)
        print(f"{store} ready: {s.total} videos [{time.time() - t0:.0f}s]", flush=True)
    # Only training and evaluating on stored features from here on (no video decoding), so
    # glibc may keep freed batches for reuse: ~2x faster steps (benchmarks/allocator.py).
    keep_freed_memory()
    for table in tables:
        if table.archived:
            print(f"{table.key}: archived (a model since changed), not run", flush=True)
            continue
        for seed in run_seeds[table.seeds]:  # seed by seed: a stop leaves whole seeds
            for row in table.rows:
                key = row.key(seed, table.video_rule)
                if key in current or not wanted(row):
                    continue
                t = time.time()
                results[key] = current[key] = runner.record(row, seed, table, out, tc,
                                                            results.get(key))
                write_json_atomic(out / "results.json", results)
                at = results[key].get("attention", {})
                print(f"{table.key} | {row.name} | seed {seed}: top-1 "
                      f"{results[key]['top1']:.3f}, mass {at.get('mass_in_mask', 0):.3f} "
                      f"[{time.time() - t:.0f}s]", flush=True)
    print(f"total {time.time() - t0:.0f}s")


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--out", type=Path, default=Path("experiments/out"))
    common.add_argument("--tables", nargs="+", default=[t.key for t in catalog.TABLES])
    common.add_argument("--seeds", type=int, default=MIN_SEEDS["headline"],
                        help="seeds of the headline tables (5: docs/statistics.md)")
    common.add_argument("--sweep-seeds", type=int, default=MIN_SEEDS["sweep"],
                        help="seeds of the sweeps (paper 000's Tables 3 and 4, joint_lam, ...: 3)")
    common.add_argument("--epochs", type=int, default=TRAIN.epochs,
                        help="epochs of the tables without their own protocol (paper 000 / 002: "
                             "40); the rstan, joint and reinforce tables set theirs")
    merged = argparse.ArgumentParser(add_help=False)
    merged.add_argument("--merge", type=Path, nargs="+", default=[], metavar="OTHER_OUT",
                        help="join the runs of other out folders' results.json (a second "
                             "runner's) to OUT's")
    run = sub.add_parser("run", parents=[common, merged], help="run what the tables lack, then "
                         "write OUT/tables.md")
    run.add_argument("--first-seed", type=int, default=0,
                     help="start at this seed (two runners, each its own --out, can share the "
                          "seeds of one table; join them with merge)")
    run.add_argument("--rows", nargs="+", default=None, metavar="NAME",
                     help="run only the rows of these exact names (the others are rendered from "
                          "what results.json holds)")
    docs = argparse.ArgumentParser(add_help=False)
    docs.add_argument("--docs", type=Path,
                      help="also rewrite each table between '<!-- table:KEY -->' and "
                           "'<!-- /table:KEY -->' in the markdown files under this folder (the "
                           "re-test pages: docs) and the README beside it")
    run.set_defaults(docs=None)
    sub.add_parser("render", parents=[common, merged, docs],
                   help="rewrite OUT/tables.md (and with --docs the pages) from OUT/results.json, "
                        "running nothing")
    mg = sub.add_parser("merge", parents=[common, docs],
                        help="join other out folders' results.json to OUT's, write it, render")
    mg.add_argument("merge", type=Path, nargs="+", metavar="OTHER_OUT")
    sub.add_parser("status", parents=[common, merged],
                   help="print each row's seeds done and to run; writes nothing")
    vd = sub.add_parser("verdicts", parents=[common, merged],
                        help="print the claims judged by experiments/retest/RULES.md (Holm's "
                             "correction, the paper's gain; its digest printed)")
    vd.add_argument("--page", type=Path, help="also write the table into this markdown file, "
                    "between '<!-- verdicts:NAME -->' and '<!-- /verdicts:NAME -->' (NAME: "
                    "OUT's folder name, e.g. results-round2), and the round's cost between "
                    "'<!-- cost:NAME -->' and '<!-- /cost:NAME -->' where the page has them")
    fa = sub.add_parser("first-above", parents=[common, merged],
                        help="print, row by row, the epoch at which each seed's validation "
                             "top-1 first passed FRACTION (the run folders' log.csv in OUT and "
                             "the --merge folders); writes nothing")
    fa.add_argument("fraction", type=float)
    return ap


def main(argv=None):
    a = build_parser().parse_args(argv)
    unknown = sorted(set(a.tables) - {t.key for t in catalog.TABLES})
    if unknown:
        raise SystemExit(f"--tables: no table {', '.join(unknown)}")
    tables = [t for t in catalog.TABLES if t.key in a.tables]
    seeds = {"seeds": list(range(a.seeds)), "sweep_seeds": list(range(a.sweep_seeds))}
    if a.command == "first-above":
        if not 0 <= a.fraction < 1:
            raise SystemExit(f"first-above {a.fraction}: a fraction in [0, 1) is needed")
        print(runner.render_first_epochs(tables, [a.out, *a.merge], seeds, a.fraction))
        return
    if a.command in ("status", "verdicts") and not (a.out / "results.json").exists():
        raise SystemExit(f"{a.out / 'results.json'} does not exist: nothing has run there yet")
    results, seeds, old, superseded = _load(a)
    current = {k: v for k, v in results.items() if k not in old}  # what the tables show
    if a.command == "status":
        print(render.render_status(tables, current, seeds))
        return
    if a.command == "verdicts":
        text = render.render_verdicts(catalog.CLAIMS, current, seeds)
        print(text)
        if a.page is not None:  # the blocks named for OUT's folder (one round a block)
            page = a.page.read_text()
            start, end = f"<!-- verdicts:{a.out.name} -->", f"<!-- /verdicts:{a.out.name} -->"
            if start not in page or end not in page:
                raise SystemExit(f"{a.page}: no '{start}' ... '{end}' block to fill")
            page = render.replace_block(page, start, end, text)
            start, end = f"<!-- cost:{a.out.name} -->", f"<!-- /cost:{a.out.name} -->"
            if start in page and end in page:  # the round's own cost, where the page has it
                page = render.replace_block(page, start, end, render.render_cost(
                    catalog.CLAIM_TABLES, current, seeds))
            write_text_atomic(a.page, page)
        return
    a.out.mkdir(parents=True, exist_ok=True)
    if a.merge:  # a kill or a full disk leaves the last whole file (each write), never half
        if superseded:  # kept beside the records that replaced them, never dropped
            path = a.out / "superseded.json"
            kept = json.loads(path.read_text()) if path.exists() else {}
            write_json_atomic(path, {**kept, **{f"{k} ({rec.get('recipe', 'glimpse')})": rec
                                                for k, rec in superseded.items()}})
        write_json_atomic(a.out / "results.json", results)
    if a.command == "run":
        cmd_run(a, tables, results, seeds, current)
    _write_tables(a, tables, current, seeds)


if __name__ == "__main__":
    main()
