"""experiments/cost.py: the claims' tables timed a few epochs a row and projected to their
protocol; a run two tables share counts once; rows that train nothing are taken as recorded."""

import json

import pytest

from tests.conftest import experiment_script, small_store


@pytest.fixture(scope="module")
def cost():
    return experiment_script("cost")


def test_rows_are_timed_projected_and_counted_once(cost, tmp_path, monkeypatch, capsys):
    from retest.rows import Row, Table

    store = small_store(tmp_path / "s")
    avg = Row("avg", "avgpool")
    probe = Row("probe", "probe", (("stream", "rgb"),))
    train = {"epochs": 7, "clip_len": 4, "stride": 4, "batch_size": 4}
    t1 = Table("t1", "one", "mean", "seeds", [avg, probe], train, options={"hidden": 4})
    t2 = Table("t2", "two", "mean", "sweep_seeds", [avg.named("avg again")], train,
               options={"hidden": 4})
    monkeypatch.setattr(cost.catalog, "CLAIM_TABLES", [t1, t2])
    results = {avg.key(s, "mean"): {"seconds": 60.0 * (s + 1)} for s in range(5)}
    results.update({probe.key(s, "mean"): {"seconds": 6.0} for s in range(5)})
    (tmp_path / "r.json").write_text(json.dumps(results))
    args = ["--features", str(store), "--out", str(tmp_path / "out"), "--results",
            str(tmp_path / "r.json"), "--epochs", "2"]
    assert cost.main(args) == 0
    lines = capsys.readouterr().out.splitlines()
    timed = json.loads((tmp_path / "out" / "cost.json").read_text())[avg.key(0, "mean")]
    row = next(line for line in lines if "| avg |" in line).split(" | ")
    # 5 seeds x (7 epochs at the timed seconds an epoch + one evaluation), in minutes
    want = 5 * (7 * timed["epoch_s"] + timed["eval_s"]) / 60
    assert row[3] == "7" and row[5] == f"{want:.0f}"
    assert row[6].startswith("15 (3.0)")  # recorded: 1+2+3+4+5 minutes, 3.0 a run
    assert "(as recorded)" in next(line for line in lines if "| probe |" in line)
    assert not any("avg again" in line for line in lines)  # one run key, counted in t1
    # a second call reads the timings it kept instead of training again
    (tmp_path / "out" / "runs").rename(tmp_path / "gone")
    assert cost.main(args) == 0 and not (tmp_path / "out" / "runs").exists()
