"""torchrun: two CPU processes (gloo) train the same model a single process trains on the same
global batch: the same validation accuracy, and losses equal to float tolerance."""

import csv
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
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == \
        sorted(p.name for p in (tmp_path / "one").iterdir())  # rank 0 alone wrote the run
