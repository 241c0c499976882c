"""experiments/stability.py: the collapse rule on hand values, and a tiny check end to end."""

import json
from dataclasses import replace

import pytest

from glimpse.cli import main as glimpse
from tests.conftest import experiment_script, small_videos


@pytest.fixture(scope="module")
def st():
    return experiment_script("stability")


def rec(top1, actor=None, uniform=None, minutes=1.0):
    return {"val": {"top1": top1, "actor_mass": actor}, "test": None, "uniform_mass": uniform,
            "minutes": minutes}


def test_a_seed_far_below_the_median_or_off_the_actor_has_collapsed(st):
    """Paper 001's A-M max without the actor term, per seed on the attention preset: 81.2 /
    19.3 / 74.0 / 86.0 / 88.2: median 81.2, seed 1 is 61.9 points below it; seed 2 (7.2
    below) is not flagged. Seed 3's attention holds less than uniform's mass on the actor."""
    records = {0: rec(0.812, 0.3, 0.18), 1: rec(0.193, 0.3, 0.18), 2: rec(0.740, 0.3, 0.18),
               3: rec(0.860, 0.1, 0.18), 4: rec(0.882, 0.3, 0.18)}
    why = st.collapsed(records)
    assert why[0] == [] and why[2] == [] and why[4] == []
    assert why[1] == ["61.9 points below the median"]
    assert why[3] == ["actor mass 0.100 below uniform 0.180"]
    s = st.summary("x", records)
    assert s["mean"] == pytest.approx(69.74)
    # sample SD of 81.2, 19.3, 74.0, 86.0, 88.2 (the table: 28.7)
    assert s["sd"] == pytest.approx(28.718, abs=0.001)
    assert sorted(s["collapsed"]) == [1, 3]
    # a configuration without attention (no actor mass) is judged on its top-1 alone
    assert st.collapsed({0: rec(0.5), 1: rec(0.55), 2: rec(0.3)})[2] == ["20.0 points below the median"]
    # the test split is judged the same way where it was read
    records[1]["test"] = {"top1": 0.5, "actor_mass": 0.3}
    for k in (0, 2, 3, 4):
        records[k]["test"] = {"top1": 0.52, "actor_mass": 0.3}
    assert st.collapsed(records, "test")[1] == []


def test_variant_keys_and_settings(st):
    assert st.variant_key("001-am-max", "glimpse", {}) == "001-am-max"
    assert st.variant_key("001-am-max", "paper001", {"gamma_a": 1}) == "001-am-max@paper001+gamma_a=1"
    tc = st.settings(st.CONFIGS["001-am-max"], "paper001", 3)
    assert (tc.optimizer, tc.lr, tc.gamma, tc.clip_len, tc.epochs, tc.seed, tc.split_seed) == \
        ("sgd", 1e-2, 5e-4, 8, 20, 3, 3)
    tc = st.settings(st.CONFIGS["003-joint"], "glimpse", 0)
    assert (tc.optimizer, tc.lr, tc.batch_size, tc.epochs) == ("adam", 1e-3, 32, 60)
    # --set of a training setting changes the training, not the model's options
    tc = st.settings(st.CONFIGS["001-st-rgb"], "glimpse", 4, 3, {"warmup_epochs": 3,
                                                                 "gamma_a": 1})
    assert (tc.warmup_epochs, tc.epochs, tc.lr) == (3, 3, 1e-3)


def test_a_key_is_read_back_to_its_configuration(st):
    """A configuration's name may hold a '+' (probe-rgb+flow), as a variant's key does."""
    assert st.config_of("001-am-max@paper001+gamma_a=1") == "001-am-max"
    assert st.config_of("probe-rgb") == "probe-rgb"
    assert st.config_of("probe-rgb+flow") == "probe-rgb+flow"
    assert st.config_of("probe-rgb+flow-mean") == "probe-rgb+flow-mean"
    assert st.config_of("004-hard+entropy=0.05") == "004-hard"
    assert st.config_of("004-hard-n5+warmup_epochs=2") == "004-hard-n5"


def test_the_check_runs_resumes_and_renders(st, tmp_path, monkeypatch, capsys):
    videos = small_videos(tmp_path / "videos", frames=8)
    assert glimpse(["extract", str(videos), str(tmp_path / "feats"), "--fps", "0",
                    "--quiet"]) == 0
    tiny = st.Config("tiny-soft", "soft", (("layers", 1),), (("clip_len", 6), ("stride", 3)),
                     hidden=8)
    monkeypatch.setattr(st, "CONFIGS", {"tiny-soft": tiny, **st.CONFIGS})
    monkeypatch.setattr(st, "BASE", replace(st.BASE, epochs=1, batch_size=4))
    argv = ["--features", str(tmp_path / "feats"), "--out", str(tmp_path / "out"),
            "--configs", "tiny-soft", "--seeds", "2", "--report", str(tmp_path / "t.md")]
    assert st.main(argv) == 0
    results = json.loads((tmp_path / "out" / "stability.json").read_text())
    assert sorted(results["tiny-soft"]) == ["0", "1"]
    r = results["tiny-soft"]["0"]
    assert 0 <= r["val"]["top1"] <= 1 and r["uniform_mass"] > 0
    assert r["val"]["actor_mass"] is not None and r["test"] is None  # judged on validation
    table = (tmp_path / "t.md").read_text()
    assert "| tiny-soft | val |" in table and "| test |" not in table
    assert table in capsys.readouterr().out
    assert st.main(argv + ["--test"]) == 0  # the test split read on the trained runs
    results = json.loads((tmp_path / "out" / "stability.json").read_text())
    assert 0 <= results["tiny-soft"]["1"]["test"]["top1"] <= 1
    assert "| tiny-soft | test |" in (tmp_path / "t.md").read_text()
    before = (tmp_path / "out" / "runs" / "tiny-soft_seed0" / "best.safetensors").stat().st_mtime
    assert st.main(argv) == 0  # every seed recorded: nothing trains again
    assert (tmp_path / "out" / "runs" / "tiny-soft_seed0" / "best.safetensors").stat().st_mtime \
        == before
    page = tmp_path / "page.md"
    page.write_text("# A page\n<!-- stability -->\nold\n<!-- /stability -->\nafter\n")
    assert st.main(["--out", str(tmp_path / "out"), "--configs", "tiny-soft", "--report",
                    str(page)]) == 0
    text = page.read_text()
    assert text.startswith("# A page\n<!-- stability -->\n| configuration |")
    assert "old" not in text and text.endswith("<!-- /stability -->\nafter\n")
    assert st.main(["--out", str(tmp_path / "out"), "--configs", "nope"]) == 2
    assert "unknown configuration(s) nope" in capsys.readouterr().err
    assert st.main(argv + ["--first-seed", "7", "--seeds", "1"]) == 2  # not a count
    assert "--seeds 1 runs seeds 7 .. 0: none" in capsys.readouterr().err
    assert st.main(argv + ["--set", "nosuch=1"]) == 2
    assert "nosuch" in capsys.readouterr().err


def test_runners_sharing_an_out_never_drop_each_others_records(st, tmp_path):
    """A seed's record is added under an exclusive lock on stability.json: while another runner
    holds it the write waits, and it then re-reads the file, so the other's record survives."""
    import os
    import threading

    from glimpse.features.store import try_lock
    path = tmp_path / "stability.json"
    st.record(path, "a", 0, rec(0.5))
    fd = try_lock(tmp_path / "stability.json.lock")  # another runner, mid-write
    writer = threading.Thread(target=st.record, args=(path, "b", 1, rec(0.4)))
    writer.start()
    writer.join(0.3)
    assert writer.is_alive() and "b" not in json.loads(path.read_text())
    path.write_text(json.dumps({**json.loads(path.read_text()), "c": {"2": rec(0.3)}}))
    os.close(fd)
    writer.join(10)
    assert sorted(json.loads(path.read_text())) == ["a", "b", "c"]
