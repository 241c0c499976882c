"""Lines a table prints under itself (``Table.notes``): functions (table, results, seeds) ->
one line, each reading only the records of the table's own rows."""

from __future__ import annotations

import numpy as np
from retest.render import bound, first_epoch_above, paired
from retest.rows import Table

from glimpse.stats import seeds_t_interval

PLATEAU = 0.15  # validation top-1 above this (chance: 0.10 on SynthActions) leaves the plateau


def entropy_trend(table: Table, results: dict, seeds: list) -> str:
    """The claim that the l2,1 penalty flattens a softmax: entropy vs lambda (Spearman rho)."""
    xs, ys = [], []
    for row in table.rows:
        lam = dict(row.options)["lam"]
        for s in seeds:
            r = results.get(row.key(s, table.video_rule))
            if r and r.get("attention", {}).get("steps"):
                xs.append(lam)
                ys.append(r["attention"]["entropy"])
    if len(set(xs)) < 3:
        return "(entropy trend: too few lambdas run)"
    rank = lambda v: np.argsort(np.argsort(v, kind="stable"), kind="stable")  # noqa: E731
    rho = float(np.corrcoef(rank(xs), rank(ys))[0, 1])
    return (f"Entropy against lambda over all {len(xs)} runs: Spearman rho = {rho:+.2f} "
            f"({'entropy rises with lambda' if rho > 0.5 else 'no clear rise'}).")


def validation_differences(table: Table, results: dict, seeds: list) -> str:
    """Each row against its reference on validation (what a sweep chooses by): the per-seed
    differences of the selected checkpoints' validation top-1 and their t-interval."""
    parts = []
    for row in (r for r in table.rows if r.reference):
        ref = row.reference
        d = [100 * (y["val_top1"] - x["val_top1"]) for _, x, y in
             paired(table, results, seeds, row, ref)
             if x.get("val_top1") is not None and y.get("val_top1") is not None]
        if not d:
            continue
        per = " / ".join(f"{v:+.1f}" for v in d)
        if len(d) > 1:
            mean, lo, hi = seeds_t_interval(d)
            text = f"{mean:+.1f} [{bound(lo)}, {bound(hi)}] (per seed {per}; {len(d)} seeds)"
        else:
            text = f"{per} (one seed)"
        parts.append(f"{row.name} against {ref.name}, {text}")
    return ("On validation, points: " + "; ".join(parts) + ".") if parts else \
        "On validation: no row has run beside its reference yet."


def plateau_epochs(table: Table, results: dict, seeds: list) -> str:
    """Per row, the epoch at which each seed's validation top-1 first passed PLATEAU (from the
    records' validation curves): when a seed left its initial plateau."""
    parts = []
    for row in table.rows:
        recs = [results.get(row.key(s, table.video_rule)) for s in seeds]
        if any(r is not None for r in recs):  # – : the seed has not run; ?: no curve kept
            parts.append(f"{row.name} " + " / ".join(
                "–" if r is None else str(first_epoch_above(r.get("val_curve"), PLATEAU))
                for r in recs))
    return (f"Validation first above {PLATEAU:.0%} (chance 10%) at epoch, per seed: "
            + "; ".join(parts) + ".") if parts else "Validation curves: no row has run yet."
