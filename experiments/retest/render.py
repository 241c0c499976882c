"""The re-test's tables, claims, cost and status as markdown, from results.json's records: the
renderer knows rows and tables (``retest.rows``), never which tables exist."""

from __future__ import annotations

import numpy as np
from retest.rows import Claim, Row, Table

from glimpse.compare import compare_correct
from glimpse.stats import MIN_SEEDS

COLUMNS = ("row", "top-1 %", "difference to its reference, points [95% t-interval over seeds]",
           "per-seed differences", "mean class %", "attention mass on actor (uniform)",
           "pointing (chance)", "entropy (nats)", "seeds")


def need_of(table: Table) -> int:
    """The seeds a table's rows need (docs/statistics.md): a sweep's or a headline's."""
    return MIN_SEEDS["sweep" if table.seeds == "sweep_seeds" else "headline"]


def _fmt(vals, pct=True):
    """Mean ± sample standard deviation (ddof = 1) over the runs; percent or a ratio."""
    v = np.array(vals, float) * (100 if pct else 1)
    d = 1 if pct else 3
    return f"{v.mean():.{d}f} ± {v.std(ddof=1):.{d}f}" if len(v) > 1 else f"{v.mean():.{d}f}"


def _md(cells) -> str:
    return "| " + " | ".join(cells) + " |"


def paired(table: Table, results: dict, seeds: list, row: Row,
           ref: Row) -> list[tuple[int, dict, dict]]:
    """(seed, ``ref``'s record, ``row``'s record) for each of ``seeds`` where both have one."""
    rule = table.video_rule
    pairs = [(s, results.get(ref.key(s, rule)), results.get(row.key(s, rule))) for s in seeds]
    return [(s, x, y) for s, x, y in pairs if x and y]


def contrast(table: Table, results: dict, seeds: dict, row: Row, ref: Row):
    """The paired comparison of ``row`` against ``ref`` over the seeds both have, or None."""
    pairs = paired(table, results, seeds[table.seeds], row, ref)
    if not pairs:
        return None
    return compare_correct([x["correct"] for _, x, _ in pairs], [y["correct"] for _, _, y in pairs])


def interval(c) -> str:
    """'+4.8 [-5.9, +15.5]', bold where resolved (the interval excludes 0)."""
    mark = "**" if c.resolved else ""
    return f"{mark}{100 * c.diff:+.1f} [{bound(100 * c.low)}, {bound(100 * c.high)}]{mark}"


def bound(points: float) -> str:
    """An interval's end in points to 0.1, or to two significant digits where that would read
    0.0: a resolved interval never shows an end of 0 ('+0.044', not '+0.0')."""
    text = f"{points:+.1f}"
    return f"{points:+.2g}" if text in ("+0.0", "-0.0") and points != 0 else text


def first_epoch_above(curve: list[float] | None, fraction: float) -> int | str:
    """The first epoch (1-based) of a validation ``curve`` strictly above ``fraction``: when a
    seed left its initial plateau. 'never' if no epoch did, '?' without a curve."""
    if curve is None:
        return "?"
    return next((e for e, v in enumerate(curve, 1) if v > fraction), "never")


def _attentions(rs: list[dict]) -> list[dict]:
    """The attention metrics of the records whose model has spatial attention."""
    return [r["attention"] for r in rs if r.get("attention", {}).get("steps")]


def _mass(rs: list[dict]) -> tuple[float | None, float | None]:
    """The mean attention mass on the actor over these records and its uniform value, or
    (None, None) where the row has no attention (a pooled LSTM, a score fusion)."""
    att = _attentions(rs)
    if not att:
        return None, None
    return (float(np.mean([a["mass_in_mask"] for a in att])),
            float(np.mean([a["uniform_mass_in_mask"] for a in att])))


def _validation(rs: list[dict]) -> str:
    vals = [r["val_top1"] for r in rs if r.get("val_top1") is not None]
    return _fmt(vals) if vals else "–"


def _cells(table: Table, row: Row, results: dict, seeds: dict, need: int) -> list[str]:
    """One row's cells under COLUMNS (and the validation column where the table has it)."""
    rs = [results.get(row.key(s, table.video_rule)) for s in seeds[table.seeds]]
    rs = [r for r in rs if r]
    if not rs:
        return [row.name, "(not run)", *[""] * (len(COLUMNS) - 3), "0"] + \
            ([""] if table.validation else [])
    diff = per_seed = ""
    if row.reference:
        ref = row.reference
        c = contrast(table, results, seeds, row, ref)
        if c:
            diff = f"{interval(c)} vs {ref.name.split(' (')[0]}" + (
                " (one seed: paired bootstrap over its videos)" if c.seeds == 1 else "")
            per_seed = c.per_seed_text()
    att = _attentions(rs)
    mass = (f"{_fmt([x['mass_in_mask'] for x in att], False)} "
            f"({np.mean([x['uniform_mass_in_mask'] for x in att]):.2f})") if att else "–"
    point = (f"{_fmt([x['pointing'] for x in att], False)} "
             f"({np.mean([x['pointing_chance'] for x in att]):.2f})") if att else "–"
    ent = _fmt([x["entropy"] for x in att], False) if att else "–"
    n = f"{len(rs)}" + (f" (of {need})" if len(rs) < need else "")
    return [row.name, _fmt([r["top1"] for r in rs]), diff, per_seed,
            _fmt([r["mean_class_accuracy"] for r in rs]), mass, point, ent, n] + \
        ([_validation(rs)] if table.validation else [])


def _late_best(table: Table, results: dict, seeds: dict) -> list[str]:
    """'row (k of n seeds)' for each trained row whose selected (best validation) checkpoint
    fell in the last tenth of its epochs on k of its n seeds with a known number of epochs."""
    late = []
    for row in (r for r in table.rows if r.kind == "train"):
        rs = [results.get(row.key(s, table.video_rule)) for s in seeds[table.seeds]]
        rs = [r for r in rs if r and r.get("epochs") and r.get("checkpoint_epoch")]
        k = sum(r["checkpoint_epoch"] > 0.9 * r["epochs"] for r in rs)
        if k:
            late.append(f"{row.name} ({k} of {len(rs)} seeds)")
    return late


def render(tables: list[Table], results: dict, seeds: dict) -> str:
    lines = []
    for table in tables:
        header = [*COLUMNS, *(["validation top-1 %"] if table.validation else [])]
        lines += [f"**{table.title}**", "", _md(header), "|" + "---|" * len(header)]
        need = need_of(table)
        lines += [_md(_cells(table, row, results, seeds, need)) for row in table.rows]
        lines += [line for note in table.notes
                  for line in ("", note(table, results, seeds[table.seeds]))]
        for row, ref in table.also:
            c = contrast(table, results, seeds, row, ref)
            if c:
                over = (f"per seed {c.per_seed_text()}; {c.seeds} seeds" if c.seeds > 1 else
                        "one seed: paired bootstrap over its videos")
                lines += ["", f"{row.name} against {ref.name}: {interval(c)} points ({over})."]
        short = [r.name for r in table.rows
                 if sum(bool(results.get(r.key(s, table.video_rule))) for s in seeds[table.seeds])
                 < need]
        late = _late_best(table, results, seeds)
        if late:
            lines += ["", "Selected checkpoint in the last tenth of the epochs (these rows may "
                          "still have been gaining when training stopped): "
                          f"{'; '.join(late)}."]
        if short:
            lines += ["", f"Rows on fewer than the {need} seeds a "
                          f"{'sweep' if need == MIN_SEEDS['sweep'] else 'headline comparison'} "
                          f"needs (docs/statistics.md): {len(short)} of {len(table.rows)}; "
                          f"their verdicts are provisional."]
        lines.append("")
    return "\n".join(lines)


def render_claims(claims: list[Claim], results: dict, seeds: dict) -> str:
    """The summary: each claim, the paper's figure, glimpse's paired difference with its
    interval and per-seed values, and a verdict that the interval supports."""
    lines = ["| paper | claim | the paper's figure | glimpse: difference, points [95% t-interval] "
             "(per seed) | attention mass on the actor, claim row / reference (uniform) | "
             "seeds | verdict |", "|---|---|---|---|---|---|---|"]
    for c in claims:
        t, row, ref = c.table, c.row, c.reference
        ct = contrast(t, results, seeds, row, ref)
        if ct is None:
            lines.append(f"| {c.paper} | {c.text} | {c.figure} | (not run) | | 0 | not run |")
            continue
        verdict = "holds" if ct.low > 0 else "reversed" if ct.high < 0 else "not resolved"
        need = need_of(t)
        if ct.seeds < need:
            verdict += f" (provisional: {ct.seeds} of {need} seeds)"
        per = f" ({ct.per_seed_text()})" if ct.seeds > 1 else ""
        both = [s for s, _, _ in paired(t, results, seeds[t.seeds], row, ref)]
        mass = [_mass([results[r.key(s, t.video_rule)] for s in both]) for r in (row, ref)]
        uniform = next((u for _, u in mass if u is not None), None)
        att = ("–" if uniform is None else
               " / ".join("–" if m is None else f"{m:.3f}" for m, _ in mass) +
               f" ({uniform:.2f})")
        lines.append(f"| {c.paper} | {c.text} | {c.figure} | {interval(ct)}{per} | {att} | "
                     f"{ct.seeds} | {verdict} |")
    return "\n".join(lines)


def flagged_seeds(table: Table, results: dict, seeds: list[int], row: Row) -> list[int]:
    """The seeds of ``row`` the seed-stability check flags as collapsed on test
    (experiments/stability.py's rule: more than 10 points below the row's median, or its
    attention mass on the actor below uniform's)."""
    from stability import collapsed

    records = {}
    for s in seeds:
        r = results.get(row.key(s, table.video_rule))
        if r is None:
            continue
        att = next(iter(_attentions([r])), {})  # no attention: none to judge (as _mass)
        if att and att["entropy"] >= att["max_entropy"] - 1e-4:
            att = {}  # uniform by construction (a pooled LSTM): none to judge either
        records[s] = {"test": {"top1": r["top1"], "actor_mass": att.get("mass_in_mask")},
                      "uniform_mass": att.get("uniform_mass_in_mask")}
    return [s for s, why in collapsed(records, "test").items() if why] if records else []


def _flags(c: Claim, results: dict, seeds: dict) -> str:
    """'claim row: seed 4; reference: none'-style text for a claim's collapse column."""
    parts = []
    for label, row in (("row", c.row), ("reference", c.reference)):
        got = flagged_seeds(c.table, results, seeds[c.table.seeds], row)
        parts.append(f"{label}: {', '.join(map(str, got)) if got else 'none'}")
    return "; ".join(parts)


def recipes_of(row: Row, table: Table, results: dict, seeds: list[int]) -> list[str]:
    """The recipes ``row``'s records for ``seeds`` trained under (glimpse's where a record names
    none), each once; a score fusion's or a test-time row's are those of the runs it reads."""
    if row.of:
        found = [r for part in row.of for r in recipes_of(part, table, results, seeds)]
    else:
        keys = (row.key(s, table.video_rule) for s in seeds)
        found = [results[k].get("recipe", "glimpse") for k in keys if k in results]
    return list(dict.fromkeys(found))


def _recipes(c: Claim, results: dict, seeds: dict) -> str:
    """'stable-rstan / glimpse'-style text: the recipes of a claim's row and its reference."""
    return " / ".join(", ".join(recipes_of(row, c.table, results, seeds[c.table.seeds])) or "?"
                      for row in (c.row, c.reference))


def render_verdicts(claims: list[Claim], results: dict, seeds: dict) -> str:
    """The claims under the rules written before the round (retest/RULES.md; its digest
    printed): each claim's difference and interval, raw and Holm-adjusted p, the paper's gain
    (or the margin) against the family-level upper end, and the verdict."""
    from retest.verdicts import judge, provisional, rules_digest

    cts = [contrast(c.table, results, seeds, c.row, c.reference) for c in claims]
    judged = judge([None if ct is None else [100 * d for d in ct.per_seed] for ct in cts],
                   [c.gains for c in claims], [c.added_later for c in claims],
                   [need_of(c.table) for c in claims])
    family = sum(1 for c in claims if not c.added_later)
    ran = sum(1 for j, c in zip(judged, claims)
              if j is not None and not c.added_later and not j.verdict.startswith("provisional"))
    smaller = sum(1 for j in judged if j is not None and "smaller" in j.verdict
                  and not j.verdict.startswith("provisional"))
    part = ("" if ran == family else f" ({ran} have run on every seed they need: until the rest "
            f"have, each adjusted p is an upper bound on the full family's; a claim short of its "
            f"seeds is provisional, judged by nothing)")
    lines = [f"Verdicts by experiments/retest/RULES.md (sha256 {rules_digest()}): Holm's "
             f"correction over the family's {family} claims{part}, at "
             f"alpha 0.05; {smaller} called smaller than the paper's gain or the margin (per "
             f"claim, uncorrected: RULES.md, 5).", "",
             "| paper | claim | the paper's figure | glimpse: difference, points [95% t-interval] "
             "(per seed) | p | p, Holm | the paper's gain (or margin) | seeds | verdict | "
             "collapsed seeds (kept; RULES.md, 6) | recipe: row / reference |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for c, ct, j in zip(claims, cts, judged):
        if j is None and ct is not None and ct.per_seed:  # one seed: no interval yet
            lines.append(f"| {c.paper} | {c.text} | {c.figure} | {100 * ct.per_seed[0]:+.1f} "
                         f"(one seed: no "
                         f"interval) | | | | 1 | {provisional(1, need_of(c.table))} | "
                         f"{_flags(c, results, seeds)} | {_recipes(c, results, seeds)} |")
            continue
        if j is None:
            lines.append(f"| {c.paper} | {c.text} | {c.figure} | (not run) | | | | 0 | not run "
                         f"| | |")
            continue
        per = " / ".join(f"{d:+.1f}" for d in j.diffs)
        adj = f"{j.p_adjusted:.3g}" if j.p_adjusted is not None else \
            "(added later)" if c.added_later else "–"
        bar = f"{j.bar:+.1f}" + ("" if j.bar_is_paper else " (margin)")
        lines.append(f"| {c.paper} | {c.text} | {c.figure} | {j.mean:+.1f} [{bound(j.low)}, "
                     f"{bound(j.high)}] ({per}) | {j.p:.3g} | {adj} | {bar} | {len(j.diffs)} | "
                     f"{j.verdict} | {_flags(c, results, seeds)} | "
                     f"{_recipes(c, results, seeds)} |")
    return "\n".join(lines)


def render_cost(claim_tables: list[Table], results: dict, seeds: dict) -> str:
    """The claims' re-test's cost so far and what is left, from each run's ``seconds`` (its wall
    time in its runner, pauses and the logged epochs of a process killed before it included):
    per table the runs done of those its seeds need, their run-minutes, and the run-minutes left
    (each missing run at its row's mean, or where the row has none at the mean of the table's
    trained runs, another table's included), for every table of the claims' re-test (the
    claims' own and paper 003's two sweeps: initialization, weight). A run two tables or two
    rows share counts once, in the first."""
    lines = ["| table | runs done (of needed) | run-minutes | minutes a run (mean) | run-minutes "
             "left (estimate) |", "|---|---|---|---|---|"]
    counted: set = set()
    rows = []  # per table: runs done, runs needed, run-minutes spent, run-minutes left (nan: ?)
    for t in claim_tables:
        keys = {}  # row -> its runs not counted before (two rows of one run: the first)
        for r in t.rows:
            keys[r.name] = [k for k in (r.key(s, t.video_rule) for s in seeds[t.seeds])
                            if k not in counted]
            counted.update(keys[r.name])
        done = {k: results[k]["seconds"] / 60 for ks in keys.values() for k in ks
                if k in results and "seconds" in results[k]}
        # a missing run of a row with none of its own costs what the table's trained runs did,
        # those another table counted first included (a sweep of the same model)
        trained = [results[k]["seconds"] / 60 for r in t.rows if r.kind == "train"
                   for k in (r.key(s, t.video_rule) for s in seeds[t.seeds])
                   if k in results and "seconds" in results[k]]
        fallback = float(np.mean(trained)) if trained else float("nan")
        left = 0.0
        for ks in keys.values():
            mine = [done[k] for k in ks if k in done]
            left += (np.mean(mine) if mine else fallback) * sum(k not in done for k in ks)
        rows.append((t.key, len(done), sum(len(ks) for ks in keys.values()),
                     sum(done.values()), float(left)))
    for key, n, needed, spent, left in rows:
        lines.append(f"| {key} | {n} (of {needed}) | {spent:.0f} | "
                     f"{f'{spent / n:.1f}' if n else '–'} | "
                     f"{'? (no run yet)' if np.isnan(left) else f'{left:.0f}'} |")
    unknown = any(np.isnan(r[4]) for r in rows)
    spent, left = sum(r[3] for r in rows), sum(r[4] for r in rows if not np.isnan(r[4]))
    lines.append(f"| all | {sum(r[1] for r in rows)} (of {sum(r[2] for r in rows)}) | "
                 f"{spent:.0f} | | {left:.0f}"
                 f"{' + the tables with no run yet' if unknown else ''} |")
    wall = "Wall time with two runners side by side (half the run-minutes): about"
    if left or unknown:
        lines += ["", f"{wall} {spent / 120:.1f} hours so far, about {left / 120:.1f} hours left"
                      f"{' (and the tables with no run yet)' if unknown else ''}."]
    else:
        lines += ["", f"{wall} {spent / 120:.1f} hours; every run is done."]
    return "\n".join(lines)


def render_status(tables: list[Table], results: dict, seeds: dict) -> str:
    """Where a re-test stands, row by row: the seeds each row has (of those its table needs) and
    the ones it still lacks, from ``results`` (the records the tables show)."""
    lines = []
    for t in tables:
        want = seeds[t.seeds]
        lines.append(f"{t.key}: {t.title}" + (" (archived)" if t.archived else ""))
        for r in t.rows:
            have = [s for s in want if r.key(s, t.video_rule) in results]
            lack = [s for s in want if s not in have]
            lines.append(f"  {r.name}: {len(have)} of {len(want)} seeds"
                         + (f"; to run: seed {', '.join(map(str, lack))}" if lack else ""))
    return "\n".join(lines)


def replace_block(text: str, start: str, end: str, body: str) -> str:
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{start}\n{body}\n{end}{tail}"


def fill_markers(text: str, tables: list[Table], claims: list[Claim], claim_tables: list[Table],
                 results: dict, seeds: dict) -> str:
    """``text`` with the block between '<!-- table:KEY -->' and '<!-- /table:KEY -->' of every
    table in it, and the '<!-- claims -->' and '<!-- cost -->' blocks, rendered anew from
    ``results``."""
    for table in tables:
        start, end = f"<!-- table:{table.key} -->", f"<!-- /table:{table.key} -->"
        if start in text:
            text = replace_block(text, start, end, render([table], results, seeds).rstrip())
    blocks = {"claims": lambda: render_claims(claims, results, seeds),
              "cost": lambda: render_cost(claim_tables, results, seeds)}
    for name, rendered in blocks.items():
        start, end = f"<!-- {name} -->", f"<!-- /{name} -->"
        if start in text:
            text = replace_block(text, start, end, rendered())
    return text
