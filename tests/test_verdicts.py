"""The claims' verdict rules (experiments/retest/RULES.md): the t-test's p, Holm's correction
and each verdict on hand-computed cases, the family, and the rendered table's digest."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from scipy import stats as sps

from glimpse.stats import holm, seeds_t_interval, seeds_t_pvalue
from tests.conftest import experiment_script


@pytest.fixture(scope="module")
def v():
    experiment_script("paper_tables")  # puts experiments/ on sys.path for retest
    from retest import verdicts

    return verdicts


def test_the_t_tests_p_is_scipys_and_agrees_with_the_interval():
    d = [3.5, 0.2, 5.0, -4.8, -2.8]
    assert seeds_t_pvalue(d) == pytest.approx(sps.ttest_1samp(d, 0).pvalue)
    # 0 is inside the 95% interval exactly when p >= 0.05
    for diffs in ([1.0, 2.0, 3.0], [0.5, 1.0, 1.7, 2.3, 0.2], [1, -1, 2, -2, 0.1]):
        _, low, high = seeds_t_interval(diffs)
        assert (low > 0 or high < 0) == (seeds_t_pvalue(diffs) < 0.05)
    assert seeds_t_pvalue([2.0, 2.0, 2.0]) == 0.0 and seeds_t_pvalue([0.0, 0.0]) == 1.0


def test_holm_golden():
    # sorted 0.005, 0.01, 0.03, 0.04 -> x4, x3, x2, x1 = 0.02, 0.03, 0.06, 0.04 -> monotone 0.06
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])  # capped at 1
    assert holm([0.02]) == pytest.approx([0.02])
    # a family of 4 with two run: 0.01 x 4 = 0.04, then max(0.04, 0.02 x 3) = 0.06
    assert holm([0.02, 0.01], m=4) == pytest.approx([0.06, 0.04])
    with pytest.raises(ValueError):
        holm([0.1, 0.2], m=1)


def test_holm_over_a_part_run_family_bounds_the_full_familys():
    """Whatever the missing p-values, the bound from m is at least the full family's Holm."""
    rng = np.random.default_rng(0)
    for _ in range(200):
        full = rng.uniform(0, 0.2, size=8) ** 2
        run = rng.permutation(8)[:5]
        bound = holm(full[run], m=8)
        exact = np.asarray(holm(full))[run]
        assert np.all(np.asarray(bound) >= exact - 1e-12)


@pytest.mark.parametrize("mean,p,high,bar,paper,want", [
    (5.0, 0.01, 8.0, 3.0, True, "holds"),
    (5.0, 0.01, 6.0, 7.0, True, "holds, smaller than the paper's"),
    (-4.0, 0.01, -1.0, 3.0, True, "reversed"),
    (0.5, 0.40, 2.5, 6.9, True, "smaller than the paper's"),
    (0.5, 0.40, 2.5, 2.0, False, "not resolved"),
    (0.2, 0.60, 1.5, 2.0, False, "smaller than the margin"),
    (1.0, 0.40, 9.0, 2.0, True, "not resolved"),  # an adjusted p: no longer holds
])
def test_each_verdict(v, mean, p, high, bar, paper, want):
    assert v.verdict(mean, p, high, bar, paper) == want


def test_the_family_leaves_out_added_claims_and_the_bar_is_the_papers_mean_gain(v):
    diffs = [[8.0, 9.0, 10.0, 7.0, 9.5], [1.0, -1.0, 0.5, 0.2, -0.3], [9.0, 8.0, 10.0, 9.0, 11.0],
             None]
    out = v.judge(diffs, [(6.0, 8.0), (), (1.0,), ()], [False, False, True, False])
    a, b, c, d = out
    assert d is None
    # the family is a, b and d (c was added later); d has not run: Holm over 3, an upper bound
    family = holm([seeds_t_pvalue(diffs[0]), seeds_t_pvalue(diffs[1])], m=3)
    assert (a.p_adjusted, b.p_adjusted) == pytest.approx(tuple(family))
    assert c.p_adjusted is None and c.verdict == "holds"  # judged on its raw p
    assert (a.bar, a.bar_is_paper, b.bar, b.bar_is_paper) == (7.0, True, v.MARGIN, False)
    assert a.verdict == "holds" and b.verdict == "smaller than the margin"
    # short of the seeds it needs (RULES.md, 2): shown, provisional, out of Holm's list
    short = v.judge([diffs[0], diffs[1][:3]], [(6.0, 8.0), ()], [False, False], [5, 5])
    assert short[1].verdict == "provisional (3 of 5 seeds)" and short[1].p_adjusted is None
    assert short[0].p_adjusted == pytest.approx(holm([seeds_t_pvalue(diffs[0])], m=2)[0])


def test_the_rules_are_printed_with_their_digest(v):
    digest = hashlib.sha256(v.RULES.read_bytes()).hexdigest()[:12]
    assert v.rules_digest() == digest
    experiment_script("paper_tables")
    from retest import catalog, render

    results = {}
    text = render.render_verdicts(catalog.CLAIMS, results, {"seeds": [0, 1], "sweep_seeds": [0]})
    assert f"sha256 {digest}" in text and text.count("| not run |") == len(catalog.CLAIMS)
    family = [c for c in catalog.CLAIMS if not c.added_later]
    assert len(family) == 30 and sum(c.added_later for c in catalog.CLAIMS) == 1


def test_a_claim_on_one_seed_is_shown_as_provisional_not_as_not_run(v):
    from retest import catalog, render

    c = catalog.CLAIMS[0]
    rule = c.table.video_rule
    videos = ["a.mp4", "b.mp4", "c.mp4", "d.mp4"]
    results = {c.reference.key(0, rule): {"correct": dict(zip(videos, [1, 0, 0, 0])), "top1": 0.25},
               c.row.key(0, rule): {"correct": dict(zip(videos, [1, 1, 0, 0])), "top1": 0.5}}
    text = render.render_verdicts([c], results, {"seeds": [0, 1, 2, 3, 4], "sweep_seeds": [0]})
    line = [x for x in text.splitlines() if c.text in x][0]
    assert "+25.0 (one seed: no interval)" in line and "| 1 | provisional (1 of 5 seeds) |" in line
    assert "not run" not in line


def test_the_collapse_column_flags_seeds_by_the_stability_rule(v):
    """RULES.md, 6: a seed more than 10 points below its row's median or with less attention on
    the actor than uniform's is flagged (and kept); a pooled LSTM's uniform map is no
    attention to judge, whatever its last bits."""
    from retest import render
    from retest.rows import Row, Table

    att, pooled = Row("att", "soft"), Row("pooled", "avgpool")
    table = Table("t", "t", "mean", "seeds", [att, pooled])

    def rec(top1, mass, entropy=3.0):
        return {"top1": top1, "attention": {"steps": 10, "mass_in_mask": mass,
                                            "uniform_mass_in_mask": 0.1, "entropy": entropy,
                                            "max_entropy": 4.0}}
    results = {att.key(s, "mean"): rec(t, m) for s, (t, m) in
               enumerate(zip([0.50, 0.52, 0.20, 0.51, 0.50], [0.3, 0.3, 0.3, 0.05, 0.3]))}
    results.update({pooled.key(s, "mean"): rec(0.3, 0.1 - 1e-9, entropy=4.0) for s in range(5)})
    assert render.flagged_seeds(table, results, list(range(5)), att) == [2, 3]
    assert render.flagged_seeds(table, results, list(range(5)), pooled) == []


def test_verdicts_fill_the_rounds_block_of_a_page(v, tmp_path, capsys):
    tables = experiment_script("paper_tables")
    out = tmp_path / "results-round9"
    out.mkdir()
    (out / "results.json").write_text("{}")
    page = tmp_path / "page.md"
    page.write_text("before\n<!-- verdicts:results-round9 -->\nold\n<!-- /verdicts:results-round9 "
                    "-->\nafter\n")
    tables.main(["verdicts", "--out", str(out), "--page", str(page)])
    text = page.read_text()
    assert "old" not in text and f"sha256 {v.rules_digest()}" in text
    assert text.startswith("before\n") and text.endswith("after\n")
    page.write_text("<!-- verdicts:results-round9 -->\n<!-- /verdicts:results-round9 -->\n"
                    "<!-- cost:results-round9 -->\nold cost\n<!-- /cost:results-round9 -->\n")
    tables.main(["verdicts", "--out", str(out), "--page", str(page)])
    text = page.read_text()
    assert "old cost" not in text and "| c000 | 0 (of 15) | 0 |" in text  # the round's own runs
    page.write_text("no block here\n")
    with pytest.raises(SystemExit, match="no '<!-- verdicts:results-round9 -->'"):
        tables.main(["verdicts", "--out", str(out), "--page", str(page)])


def test_the_pages_carry_the_second_rounds_verdicts_as_its_records_give_them(tmp_path, capsys):
    """Every committed page with the second round's verdict block (the README, the claims page)
    holds what `paper_tables.py verdicts` renders from experiments/results-round2 now: no
    figure on a page outlives its records."""
    from pathlib import Path

    tables = experiment_script("paper_tables")
    root = Path(__file__).resolve().parents[1]
    pages = [p for p in tables.pages(root / "docs")
             if "<!-- verdicts:results-round2 -->" in p.read_text()]
    assert len(pages) >= 1
    for page in pages:
        copy = tmp_path / page.name
        copy.write_text(page.read_text())
        tables.main(["verdicts", "--out", str(root / "experiments/results-round2"), "--page",
                     str(copy)])
        assert copy.read_text() == page.read_text(), page
    capsys.readouterr()
