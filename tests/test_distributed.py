"""torchrun: two CPU processes (gloo) train the same model a single process trains on the same
global batch: the same validation accuracy, and losses equal to float tolerance."""

import csv
import json
import os
import subprocess
import sys

import pytest

from glimpse.cli import main
from tests.conftest import small_videos


def test_torchrun_two_processes_match_one(tmp_path):
    data = tmp_path / "videos"
    small_videos(data, frames=8, seed=9, groups=4)
    feats = tmp_path / "f"
    assert main(["extract", str(data), str(feats), "--fps", "0", "--quiet"]) == 0
    args = ["train", str(feats), "--model", "avgpool", "--hidden", "8", "--dropout", "0",
            "--epochs", "3", "--batch-size", "4", "--clip-len", "4", "--stride", "2",
            "--lr", "1e-2", "--quiet"]
    assert main([*args, "--out", str(tmp_path / "one")]) == 0
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                        "--nproc-per-node", "2", "-m", "glimpse", *args,
                        "--out", str(tmp_path / "two")], env=env, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    one = list(csv.DictReader(open(tmp_path / "one" / "log.csv")))
    two = list(csv.DictReader(open(tmp_path / "two" / "log.csv")))
    assert len(one) == len(two) == 3
    for a, b in zip(one, two):
        assert float(a["val_top1"]) == float(b["val_top1"])
        assert float(b["train_loss"]) == pytest.approx(float(a["train_loss"]), rel=1e-4)
    def files(run):  # (an event file's name holds its host, time and pid)
        return sorted("events" if p.name.startswith("events.out.tfevents") else p.name
                      for p in (tmp_path / run).iterdir())

    assert files("two") == files("one")  # rank 0 alone wrote the run
    # evaluation spread over the two ranks and gathered: each video once, the same metrics
    assert main(["evaluate", str(tmp_path / "one"), "--quiet"]) == 0
    single = json.loads((tmp_path / "one" / "metrics.json").read_text())
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                        "--nproc-per-node", "2", "-m", "glimpse", "evaluate",
                        str(tmp_path / "one"), "--quiet"], env=env, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    spread = json.loads((tmp_path / "one" / "metrics.json").read_text())
    test = json.loads((tmp_path / "one" / "split.json").read_text())["test"]
    assert spread == single and spread["num_videos"] == len(test)  # every video, once


def _spread_worker(rank, path):
    import torch.distributed as dist

    from glimpse.distributed import spread

    dist.init_process_group("gloo", rank=rank, world_size=2)
    seen = []
    out = spread(lambda share: (seen.extend(share), [x * 10 for x in share])[1], list(range(7)))
    (path / f"rank{rank}.json").write_text(json.dumps({"seen": seen, "out": out}))
    dist.destroy_process_group()


def test_spread_gives_each_rank_its_share_and_every_rank_the_whole(tmp_path, monkeypatch):
    import torch.multiprocessing as mp

    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.setenv("MASTER_PORT", "29533")
    mp.spawn(_spread_worker, args=(tmp_path,), nprocs=2)
    r0, r1 = (json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1))
    assert r0["seen"] == [0, 2, 4, 6] and r1["seen"] == [1, 3, 5]  # each item computed once
    assert r0["out"] == r1["out"] == [x * 10 for x in range(7)]


def _command_worker(rank, path):
    import torch.distributed as dist

    dist.init_process_group("gloo", rank=rank, world_size=2)
    code = main(["evaluate", str(path / "no-such-run"), "--quiet"])  # (fails: a one-line error)
    (path / f"rank{rank}.json").write_text(json.dumps(
        {"code": code, "left": not dist.is_initialized()}))


def test_every_command_leaves_the_process_group(tmp_path, monkeypatch):
    # gloo's threads outliving the interpreter abort a rank at exit ("terminate called without
    # an active exception"): a command ends by leaving the group, failed ones too
    import torch.multiprocessing as mp

    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.setenv("MASTER_PORT", "29534")
    mp.spawn(_command_worker, args=(tmp_path,), nprocs=2)
    for r in (0, 1):
        assert json.loads((tmp_path / f"rank{r}.json").read_text()) == {"code": 2, "left": True}
