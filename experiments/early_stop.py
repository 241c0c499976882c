"""What early stopping (``glimpse train --patience P``) would have cost the re-test's recorded
runs: from each record's validation curve (results.json's ``val_curve``) and its seconds, the
epoch a run of patience P stops at, the run-minutes it saves, and whether it keeps the
checkpoint the full run selected.

    python experiments/early_stop.py experiments/results/results.json --patience 3 5 10

A run stops at the first epoch e with e - (its best epoch so far) >= P (the trainer's rule,
``glimpse.train._patience_spent``); the best is the first epoch of the highest validation top-1
(the trainer breaks ties by clip accuracy, which the curve does not keep: a tie counts as no
gain here). A record's seconds are spread evenly over its epochs.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def stop_epoch(curve: list[float], patience: int) -> int:
    """The number of epochs a run of ``patience`` trains, given its validation curve."""
    best, best_epoch = -1.0, 0
    for epoch, v in enumerate(curve, start=1):
        if epoch - 1 - best_epoch >= patience and best_epoch:
            return epoch - 1
        if v > best:
            best, best_epoch = v, epoch
    return len(curve)


def selected(curve: list[float], epochs: int) -> int:
    """The epoch selected among the first ``epochs`` (the first of the highest)."""
    head = curve[:epochs]
    return head.index(max(head)) + 1


def summarize(results: dict, patience: int) -> dict:
    """Over every record with a validation curve: runs, run-minutes in full and with
    ``patience``, runs whose selected checkpoint changes and the validation top-1 they lose."""
    runs = full = early = changed = lost = 0.0
    per_model: dict[str, list[float]] = {}
    for key, rec in results.items():
        curve = rec.get("val_curve")
        if not curve or not rec.get("seconds"):
            continue
        per_epoch = rec["seconds"] / len(curve) / 60
        stop = stop_epoch(curve, patience)
        runs += 1
        full += per_epoch * len(curve)
        early += per_epoch * stop
        if selected(curve, stop) != selected(curve, len(curve)):
            changed += 1
            lost += max(curve) - max(curve[:stop])
        model = key.split("_", 1)[0]
        m = per_model.setdefault(model, [0.0, 0.0])
        m[0] += per_epoch * len(curve)
        m[1] += per_epoch * stop
    return {"patience": patience, "runs": int(runs), "minutes": full, "minutes_early": early,
            "changed": int(changed), "val_lost_points": 100 * lost / max(changed, 1),
            "per_model": per_model}


def render(rows: list[dict]) -> str:
    lines = ["| patience | runs | run-minutes in full | with early stopping | saved | runs whose "
             "selected epoch changes | their mean validation loss, points |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        saved = 1 - r["minutes_early"] / r["minutes"]
        lines.append(f"| {r['patience']} | {r['runs']} | {r['minutes']:.0f} | "
                     f"{r['minutes_early']:.0f} | {100 * saved:.0f}% | {r['changed']} | "
                     f"{r['val_lost_points']:.1f} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("results", type=Path, help="a re-test's results.json")
    p.add_argument("--patience", type=int, nargs="+", default=[3, 5, 10])
    a = p.parse_args(argv)
    try:
        results = json.loads(a.results.read_text())
    except (OSError, json.JSONDecodeError) as e:
        print(f"early_stop: cannot read {a.results}: {e}", file=sys.stderr)
        return 2
    print(render([summarize(results, k) for k in a.patience]), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
