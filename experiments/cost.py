"""What the claims' re-test costs now: each trained row of the claims' tables timed for a few
epochs on seed 0 with the code as it stands, its run-minutes projected to the row's protocol
(epochs x seeds, plus one evaluation a run), beside what the first round's records say each run
took (results.json's ``seconds``).

    OMP_NUM_THREADS=1 python experiments/cost.py --features STORE --out /tmp/cost \
        --results experiments/results/results.json [--epochs 2] [--tables c002 c004]

STORE is the attention preset's store (every claims table reads it). A row the runner shares
between tables (one run key) counts once, in its first table, as the runner's cost table counts
it; rows that train nothing (score fusion, test-time options, probes) are taken at their
records' minutes. The projection is wall time at one thread: run it with nothing else on the
machine, or read the CPU column (the process's CPU seconds an epoch), which another process on
the same cores inflates far less.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from retest import catalog  # noqa: E402
from retest.rows import TRAIN  # noqa: E402
from retest.runner import options_of, settings  # noqa: E402

from glimpse.evaluate import evaluate_run  # noqa: E402
from glimpse.train import train  # noqa: E402

SEEDS = {"seeds": 5, "sweep_seeds": 3}  # the claims' protocol (docs/retest/RULES.md, 2)


def epoch_seconds(run: Path) -> list[float]:
    """The seconds each epoch of a run took, from its log.csv."""
    with open(run / "log.csv", newline="") as f:
        return [float(r["seconds"]) for r in csv.DictReader(f)]


def time_row(row, table, features: Path, out: Path, epochs: int) -> dict:
    """Train ``row`` for ``epochs`` epochs on seed 0 and evaluate it once -> its wall seconds an
    epoch (the mean after the first, which pays for warming caches), CPU seconds an epoch, and
    the evaluation's seconds."""
    run = out / "runs" / row.key(0, "")
    tc = replace(settings(TRAIN, table, row), seed=0, split_seed=0, epochs=epochs)
    cpu = time.process_time()
    train(features, run, row.model, options_of(row, table), tc, progress=False,
          log=lambda *_: None)
    cpu = time.process_time() - cpu
    t0 = time.time()
    evaluate_run(run, video_rule=table.video_rule, progress=False)
    per = epoch_seconds(run)
    return {"epoch_s": statistics.mean(per[1:] or per), "cpu_epoch_s": cpu / len(per),
            "eval_s": time.time() - t0}


def recorded_minutes(results: dict, row, table, n: int) -> list[float]:
    return [results[k]["seconds"] / 60 for k in (row.key(s, table.video_rule) for s in range(n))
            if k in results and "seconds" in results[k]]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("--features", type=Path, required=True, help="the attention preset's store")
    p.add_argument("--out", type=Path, required=True, help="where the timing runs go")
    p.add_argument("--results", type=Path, default=Path("experiments/results/results.json"),
                   help="the first round's records (their seconds: the 'before' column)")
    p.add_argument("--epochs", type=int, default=2, help="epochs timed a row (default 2)")
    p.add_argument("--tables", nargs="+", help="only these claims tables (default all)")
    a = p.parse_args(argv)
    results = json.loads(a.results.read_text()) if a.results.exists() else {}
    tables = [t for t in catalog.CLAIM_TABLES if a.tables is None or t.key in a.tables]
    timings = a.out / "cost.json"
    done = json.loads(timings.read_text()) if timings.exists() else {}
    lines = ["| table | row | runs | epochs | s an epoch (CPU) | projected run-minutes | "
             "recorded run-minutes (mean a run) |", "|---|---|---|---|---|---|---|"]
    counted: set = set()
    totals = {"projected": 0.0, "recorded": 0.0, "same": 0.0}  # same: rows with records
    for t in tables:
        n = SEEDS[t.seeds]
        for row in t.rows:
            key = row.key(0, t.video_rule)
            if key in counted:
                continue
            counted.add(key)
            rec = recorded_minutes(results, row, t, n)
            before = sum(rec) * n / len(rec) if rec else float("nan")
            if row.kind != "train":  # fusion, test-time options, probes: as recorded
                proj, cells = before, ("", "", "(as recorded)")
            else:
                if key not in done:
                    done[key] = time_row(row, t, a.features, a.out, a.epochs)
                    timings.parent.mkdir(parents=True, exist_ok=True)
                    timings.write_text(json.dumps(done, indent=1))
                d, epochs = done[key], settings(TRAIN, t, row).epochs
                proj = n * (d["epoch_s"] * epochs + d["eval_s"]) / 60
                cells = (str(epochs), f"{d['epoch_s']:.1f} ({d['cpu_epoch_s']:.1f})",
                         f"{proj:.0f}")
            if proj == proj:
                totals["projected"] += proj
            if before == before:
                totals["recorded"] += before
                totals["same"] += proj
            mean = f"{before:.0f} ({before / n:.1f})" if before == before else "(none)"
            lines.append(f"| {t.key} | {row.name} | {n} | {' | '.join(cells)} | {mean} |")
            print(lines[-1], file=sys.stderr, flush=True)
    lines.append(f"| rows the first round ran | | | | | {totals['same']:.0f} | "
                 f"{totals['recorded']:.0f} |")
    lines.append(f"| all | | | | | {totals['projected']:.0f} | |")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
