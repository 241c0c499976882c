"""experiments/probe_pairs.py: a round's rows against a probe, seed by seed."""

import json

import pytest

from glimpse import GlimpseError
from tests.conftest import experiment_script


@pytest.fixture(scope="module")
def pp():
    return experiment_script("probe_pairs")


def _records(pp, top1_of_row):
    return {key.format(s): {"top1": top1_of_row(name, s)} for name, key in pp.ROWS.items()
            for s in range(3)}


def test_pairs_are_row_minus_probe_per_seed(pp):
    results = _records(pp, lambda name, s: 0.30 + 0.01 * s if name == "002: soft attention "
                       "(lambda 1)" else 0.25)
    probes = {"probe-rgb-mean": {str(s): {"test": {"top1": 0.26}} for s in range(3)}}
    base = pp.probe_top1(probes, "probe-rgb-mean", 3)
    rows = dict((n, (m, d)) for n, m, d in pp.pairs(results, base))
    mean, diffs = rows["002: soft attention (lambda 1)"]
    assert mean == pytest.approx(31.0) and diffs == pytest.approx([4.0, 5.0, 6.0])
    assert rows["000: none"][1] == pytest.approx([-1.0, -1.0, -1.0])
    table = pp.render(pp.pairs(results, base), "probe-rgb-mean", 26)
    # 5.0 +- t(0.975, 2) * 1 / sqrt(3) = 5.0 +- 2.48
    assert "| 002: soft attention (lambda 1) | 31.0 | +5.0 [+2.5, +7.5] | +4.0 / +5.0 / +6.0 |" \
        in table
    checks = {"000-none+tanh_scores=false": [27.0, 28.0, 29.0]}  # a model of the check (P2)
    last = pp.pairs(results, base, checks)[-1]
    assert last[0] == "000-none+tanh_scores=false" and last[1] == pytest.approx(28.0)
    assert last[2] == pytest.approx([1.0, 2.0, 3.0])


def test_a_check_configuration_is_a_row_and_a_reference(pp, tmp_path, capsys):
    """--checks adds the check's configurations as rows; --probes may name a model."""
    results = _records(pp, lambda name, s: 0.25)
    check = {"probe-rgb-mean": {str(s): {"test": {"top1": 0.26}} for s in range(3)},
             "000-none": {str(s): {"test": {"top1": 0.21 + 0.01 * s}} for s in range(3)},
             "000-none+tanh_scores=false": {str(s): {"test": {"top1": 0.25}} for s in range(3)}}
    (tmp_path / "r.json").write_text(json.dumps(results))
    (tmp_path / "s.json").write_text(json.dumps(check))
    assert pp.main([str(tmp_path / "r.json"), str(tmp_path / "s.json"), "--seeds", "3",
                    "--probes", "000-none", "--checks", "000-none+tanh_scores=false"]) == 0
    out = capsys.readouterr().out
    assert "**Against `000-none` (22.0%)**" in out
    assert "| 000-none+tanh_scores=false | 25.0 | +3.0 [+0.5, +5.5] | +4.0 / +3.0 / +2.0 |" in out


def test_a_missing_record_is_one_line(pp, tmp_path, capsys):
    probes = {"probe-rgb-mean": {str(s): {"test": {"top1": 0.26}} for s in range(3)}}
    with pytest.raises(GlimpseError, match="no record of '000: none' for seed.s. 0, 1, 2"):
        pp.pairs({}, pp.probe_top1(probes, "probe-rgb-mean", 3))
    with pytest.raises(GlimpseError, match="no 'probe-rgb-std' in the check"):
        pp.probe_top1(probes, "probe-rgb-std", 3)
    no_test = {"probe-rgb-mean": {"0": {"test": None}}}
    with pytest.raises(GlimpseError, match="no test figure for seed 0"):
        pp.probe_top1(no_test, "probe-rgb-mean", 1)
    (tmp_path / "r.json").write_text("{}")
    (tmp_path / "s.json").write_text(json.dumps(probes))
    assert pp.main([str(tmp_path / "r.json"), str(tmp_path / "s.json"), "--seeds", "3"]) == 2
    assert capsys.readouterr().err.startswith("probe_pairs: the round has no record of")
