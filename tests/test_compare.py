"""The paired statistics, on hand-made predictions."""

import numpy as np
import pytest

from glimpse import GlimpseError
from glimpse.compare import compare_correct
from glimpse.stats import (
    mcnemar_exact,
    paired_bootstrap,
    seeds_bootstrap,
    seeds_t_interval,
    simulate_coverage,
    t_interval_of_pairs,
)


def _pairs(n01, n10, n11=0, n00=0):
    a = np.array([1] * n01 + [0] * n10 + [1] * n11 + [0] * n00, bool)
    b = np.array([0] * n01 + [1] * n10 + [1] * n11 + [0] * n00, bool)
    return a, b


def test_mcnemar_exact_golden():
    # 1 vs 9 discordant: p = 2 (C(10,0) + C(10,1)) / 2^10 = 22 / 1024
    assert mcnemar_exact(*_pairs(1, 9, n11=30, n00=5)) == pytest.approx(22 / 1024)
    assert mcnemar_exact(*_pairs(0, 5)) == pytest.approx(2 / 32)
    assert mcnemar_exact(*_pairs(4, 4, n11=3)) == 1.0  # capped at 1
    assert mcnemar_exact(*_pairs(0, 0, n11=3)) == 1.0  # no discordant pair: no evidence


def _simulated(n, rng, p_a=0.6, p_b=0.7):
    """Correlated per-video outcomes: a shared difficulty, then each model right or wrong."""
    u = rng.random(n)
    return u < p_a, u < p_b  # B is right wherever A is, and on 10% more videos


def test_bootstrap_interval_contains_the_true_difference():
    rng = np.random.default_rng(0)
    a, b = _simulated(2000, rng)
    diff, lo, hi = paired_bootstrap(a, b)
    assert lo < 0.1 < hi and lo < diff < hi
    assert hi - lo < 0.04  # paired: far narrower than two independent 2000-video accuracies


def test_bootstrap_coverage_is_about_95_percent():
    """Over many synthetic test sets, the interval holds the true difference ~95% of the time."""
    rng = np.random.default_rng(1)
    hits = 0
    for k in range(200):
        u, v = rng.random(300), rng.random(300)
        a = u < 0.5  # A right on 50%
        b = np.where(v < 0.8, a, ~a)  # B agrees with A on 80% of videos, true diff 0
        _, lo, hi = paired_bootstrap(a, b, n_boot=1000, seed=k)
        hits += lo <= 0 <= hi
    assert 0.90 <= hits / 200 <= 0.99


def test_identical_runs_differ_by_exactly_zero():
    a = np.array([1, 0, 1, 1], bool)
    assert paired_bootstrap(a, a) == (0.0, 0.0, 0.0)
    assert seeds_bootstrap([(a, a), (a[:2], a[:2])]) == (0.0, 0.0, 0.0)


def test_compare_pairs_videos_by_name_and_reports_resolution():
    a = {f"v{i}": i % 2 == 0 for i in range(400)}  # 50%
    b = {f"v{i}": i % 2 == 0 or i % 4 == 1 for i in range(400)}  # 75%: strictly better
    c = compare_correct([a], [b])
    assert c.diff == pytest.approx(0.25) and c.a_only == 0 and c.b_only == 100
    assert c.resolved and c.p_mcnemar < 1e-20 and "B is better" in c.line()
    same = compare_correct([a], [dict(a)])
    assert not same.resolved and "not resolved" in same.line()
    shifted = {f"w{i}": True for i in range(10)}
    with pytest.raises(GlimpseError, match="no test video in common"):
        compare_correct([a], [shifted])
    with pytest.raises(GlimpseError, match="as many B runs"):
        compare_correct([a, a], [b])


def test_t_interval_over_seeds_golden():
    # d = (0.01, 0.03, 0.05): mean 0.03, sd 0.02, t_{0.975, 2} = 4.302653
    mean, lo, hi = seeds_t_interval([0.01, 0.03, 0.05])
    half = 4.302653 * 0.02 / 3 ** 0.5
    assert mean == pytest.approx(0.03) and lo == pytest.approx(0.03 - half, abs=1e-6)
    assert hi == pytest.approx(0.03 + half, abs=1e-6)
    # the RSTAN A-M (mean) claim, per seed +0.2 / +8.7 / +5.7 (rounded): about [-5.9, +15.5]
    _, lo, hi = seeds_t_interval([0.002, 0.087, 0.057])
    assert lo == pytest.approx(-0.059, abs=0.002) and hi == pytest.approx(0.155, abs=0.002)
    with pytest.raises(GlimpseError, match="at least 2 seeds"):
        seeds_t_interval([0.01])


@pytest.mark.parametrize("agree", [0.5, 0.9])  # paired runs agreeing on 75% / 95% of videos
@pytest.mark.parametrize("seeds", [3, 5, 10])
def test_t_interval_over_seeds_covers_at_few_seeds(seeds, agree):
    """Simulated paired runs (600 test videos a seed, both models near 55%, each seed's true
    difference drawn around +2 points with a seed-to-seed sd of 0 to 4 points): the interval
    holds the true mean difference in at least 93% of 1,000 experiments at every setting."""
    for sd in (0.0, 0.01, 0.02, 0.03, 0.04):
        cov = simulate_coverage(t_interval_of_pairs, seeds=seeds, sd_seed=sd, reps=1000,
                                agree=agree, seed=seeds)
        assert cov >= 0.93, (seeds, sd, agree, cov)


def test_the_coverage_check_fails_the_retired_interval():
    """The same simulation fails the two-stage bootstrap at 3 seeds when runs agree on most
    videos (its lower bound sits near the worst seed): the coverage test can fail."""
    cov = simulate_coverage(lambda p: seeds_bootstrap(p, n_boot=1000), seeds=3, sd_seed=0.04,
                            reps=400, agree=0.9, seed=3)
    assert cov < 0.90


def test_compare_across_seeds_uses_every_seed():
    rng = np.random.default_rng(2)
    seeds_a, seeds_b = [], []
    for s in range(3):
        a, b = _simulated(500, rng)
        seeds_a.append({f"s{s}v{i}": bool(x) for i, x in enumerate(a)})
        seeds_b.append({f"s{s}v{i}": bool(x) for i, x in enumerate(b)})
    c = compare_correct(seeds_a, seeds_b, n_boot=2000)
    assert c.seeds == 3 and c.videos == 1500 and len(c.per_seed) == 3
    assert c.diff == pytest.approx(np.mean(c.per_seed))
    assert (c.diff, c.low, c.high) == pytest.approx(seeds_t_interval(c.per_seed))
    assert c.low < 0.1 < c.high and c.resolved and c.method == "t-interval over seeds"
    assert c.seeds_short("headline") == 2 and c.seeds_short("sweep") == 0
    assert "per seed" in c.line() and "5 seeds for a headline claim" in c.line()


def test_score_fusion_averages_the_runs_video_scores(tmp_path):
    """Two fake runs' predictions (per-class scores) -> their mean decides; the fusion folder
    reads like a run for compare."""
    from glimpse.compare import fuse_runs, run_correct

    def fake(name, rows):
        d = tmp_path / name
        d.mkdir()
        (d / "probe.json").write_text("{}")  # a folder compare reads without a model
        lines = ["video,label,predicted,score,correct,clips,score:a,score:b"]
        for v, label, pa, pb in rows:
            pred = "a" if pa >= pb else "b"
            lines.append(f"{v},{label},{pred},{max(pa, pb)},{int(pred == label)},1,{pa},{pb}")
        (d / "predictions_test.csv").write_text("\n".join(lines) + "\n")
        return d

    r1 = fake("r1", [("v1", "a", 0.9, 0.1), ("v2", "b", 0.6, 0.4), ("v3", "a", 0.3, 0.7)])
    r2 = fake("r2", [("v2", "b", 0.1, 0.9), ("v1", "a", 0.4, 0.6), ("v3", "a", 0.6, 0.4)])
    m = fuse_runs([r1, r2], tmp_path / "fused")
    # v1: (.9 + .4) / 2 = .65 -> a (right); v2: (.6 + .1) / 2 = .35 -> b (right); v3: .45 -> b
    assert m["top1"] == pytest.approx(2 / 3) and m["num_videos"] == 3
    assert run_correct(tmp_path / "fused") == {"v1": True, "v2": True, "v3": False}
