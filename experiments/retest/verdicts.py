"""The claims' verdicts under the rules written before the round (``RULES.md`` beside this
file): Holm's correction over the family, and *holds*, *reversed*, *smaller than the paper's*
(or the margin) and *not resolved* from each claim's per-seed differences."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path

from glimpse.stats import holm, seeds_t_interval, seeds_t_pvalue

RULES = Path(__file__).with_name("RULES.md")
ALPHA = 0.05
MARGIN = 2.0  # points: the bar where the paper gives no figure (RULES.md, 4)


def rules_digest() -> str:
    """The first 12 hex digits of RULES.md's SHA-256 (printed with the table)."""
    return hashlib.sha256(RULES.read_bytes()).hexdigest()[:12]


@dataclass(frozen=True)
class Judged:
    diffs: tuple[float, ...]  # per seed, points
    mean: float
    low: float  # the 95% t-interval, points
    high: float
    p: float
    p_adjusted: float | None  # None: added later (outside the family), or provisional
    bar: float  # the paper's gain, or the margin
    bar_is_paper: bool
    verdict: str


def provisional(seeds: int, need: int) -> str:
    """The verdict of a claim short of the seeds it needs (RULES.md, 2)."""
    return f"provisional ({seeds} of {need} seeds)"


def judge(diffs_per_claim: list[list[float] | None], gains: list[tuple[float, ...]],
          added_later: list[bool], need: list[int] | None = None) -> list[Judged | None]:
    """Each claim's verdict (None where it has fewer than 2 seeds): ``diffs_per_claim[i]`` its
    per-seed differences in points, ``gains[i]`` the paper's gains (empty: none given),
    ``added_later[i]`` whether it is outside the family, ``need[i]`` the seeds it needs
    (RULES.md, 2; default 2). A claim with fewer is *provisional*: its interval is shown, it
    is judged by nothing and left out of Holm's list as a claim not yet run."""
    need = need or [2] * len(diffs_per_claim)
    complete = {i for i, d in enumerate(diffs_per_claim) if d is not None and len(d) >= need[i]}
    family = [i for i, d in enumerate(diffs_per_claim)
              if d is not None and len(d) >= 2 and not added_later[i] and i in complete]
    # Holm over the whole family (RULES.md, 3), its claims not yet run included: while some
    # have not run, each adjusted p is an upper bound on the one the full round will give
    size = sum(not later for later in added_later)
    raw = {i: seeds_t_pvalue(d) for i, d in enumerate(diffs_per_claim)
           if d is not None and len(d) >= 2}
    adjusted = dict(zip(family, holm([raw[i] for i in family], m=size))) if family else {}
    out: list[Judged | None] = []
    for i, d in enumerate(diffs_per_claim):
        if i not in raw:
            out.append(None)
            continue
        mean, low, high = seeds_t_interval(d)
        bar_is_paper = bool(gains[i])
        bar = sum(gains[i]) / len(gains[i]) if bar_is_paper else MARGIN
        p_adj = adjusted.get(i)
        said = verdict(mean, raw[i] if p_adj is None else p_adj, high, bar, bar_is_paper) \
            if i in complete else provisional(len(d), need[i])
        out.append(Judged(tuple(d), mean, low, high, raw[i], p_adj, bar, bar_is_paper, said))
    return out


def verdict(mean: float, p: float, high: float, bar: float, bar_is_paper: bool) -> str:
    """RULES.md, 5: from the (adjusted) p, the mean, and the 95% interval's upper end against
    the paper's gain or the margin."""
    smaller = "smaller than the paper's" if bar_is_paper else "smaller than the margin"
    below = high < bar and not math.isnan(high)
    if p < ALPHA and mean > 0:
        return f"holds, {smaller}" if below else "holds"
    if p < ALPHA and mean < 0:
        return "reversed"
    return smaller if below else "not resolved"
