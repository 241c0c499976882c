"""Writers that know about each other, OS failures as one line, configs checked against their
weights: two extractions into one store, two trainings into one run, a disk that fills up, an
edited config."""

from __future__ import annotations

import errno
import json
import re
import subprocess
import sys

import pytest

from glimpse.cli import main
from glimpse.features.store import FeatureStore
from glimpse.run import Run
from tests.conftest import small_videos


def test_two_extractions_into_one_store_share_the_work(tmp_path):
    """Started together: both exit 0, every entry is written once (the two 'extracted' counts
    add up to the videos), and the store verifies."""
    data = small_videos(tmp_path / "videos", frames=12, seed=3, groups=4)
    out = tmp_path / "store"
    cmd = [sys.executable, "-m", "glimpse", "extract", str(data), str(out), "--fps", "0",
           "--quiet"]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert not any("Traceback" in err for _, err in outs)
    counts = [int(re.search(r"(\d+) extracted", o).group(1)) for o, _ in outs]
    assert sum(counts) == 8  # 2 classes x 4 groups, each written by one process only
    assert main(["store", "verify", str(out)]) == 0
    assert not list((out / "entries").glob(".tmp-*"))


def test_a_live_writers_temporary_folder_is_never_removed(tmp_path):
    store = FeatureStore(tmp_path / "s")
    store.entries_dir.mkdir(parents=True)
    live = store.entries_dir / ".tmp-clip-99999"
    live.mkdir()
    claim = store.claim("clip")  # another writer (a second descriptor: its own lock)
    assert claim is not None and store.claim("clip") is None
    store.clean_stale()
    assert live.exists()  # its writer holds the claim
    claim.release()
    store.clean_stale()
    assert not live.exists()  # the writer is gone: stale


def test_a_second_training_of_one_run_is_refused(tmp_path, capsys):
    data = small_videos(tmp_path / "videos", frames=6, seed=5)
    feats, run = tmp_path / "f", tmp_path / "run"
    assert main(["extract", str(data), str(feats), "--fps", "0", "--quiet"]) == 0
    args = ["train", str(feats), "--out", str(run), "--model", "avgpool", "--hidden", "8",
            "--epochs", "1", "--clip-len", "6", "--quiet"]
    bad = tmp_path / "bad"  # a value the model refuses: refused before the folder exists
    assert main(["train", str(feats), "--out", str(bad), "--model", "rstan", "--stream", "rgb",
                 "--fusion", "early", "--quiet"]) == 2
    assert "fusion" in capsys.readouterr().err and not bad.exists()
    with Run(run).lock():  # another process training it (its own lock on RUN/.lock)
        assert main(args) == 2
    err = capsys.readouterr().err
    assert "is being trained by another process" in err and len(err.strip().splitlines()) == 1
    assert main(args) == 0  # once it is done, training goes ahead

    # an edited config: an impossible width, then one that contradicts the weights
    cfg_path = run / "config.json"
    cfg = json.loads(cfg_path.read_text())
    for hidden, what in ((10 ** 9, "cannot be built"), (9, "does not match the weights")):
        cfg["model"]["options"]["hidden"] = hidden
        cfg_path.write_text(json.dumps(cfg))
        capsys.readouterr()
        assert main(["evaluate", str(run), "--quiet"]) == 2
        err = capsys.readouterr().err
        assert what in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_a_full_disk_is_one_line_and_a_rerun_completes(tmp_path, capsys, monkeypatch):
    """The third array chunk written fails with ENOSPC: one line naming the file, exit 1,
    nothing half-written in the store; with room again the rerun completes and verifies."""
    from glimpse.features import store as store_mod

    data = small_videos(tmp_path / "videos", frames=6, seed=7)
    out = tmp_path / "store"
    real = store_mod.NpyAppender.append
    calls = {"n": 0}

    def full(self, arr):
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError(errno.ENOSPC, "No space left on device", str(self.path))
        return real(self, arr)

    monkeypatch.setattr(store_mod.NpyAppender, "append", full)
    assert main(["extract", str(data), str(out), "--fps", "0", "--quiet"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("glimpse: error: No space left on device: ") and "free some space" in err
    assert len(err.splitlines()) == 1
    assert not list((out / "entries").glob(".tmp-*"))
    monkeypatch.setattr(store_mod.NpyAppender, "append", real)
    assert main(["extract", str(data), str(out), "--fps", "0", "--quiet"]) == 0
    assert main(["store", "verify", str(out)]) == 0
    assert len(FeatureStore(out)) == 6


@pytest.mark.parametrize("code,advice", [(errno.EACCES, "permissions"), (errno.EROFS, "read-only"),
                                         (errno.ENOENT, "vanished"),
                                         (errno.EEXIST, "a file is where glimpse writes a folder"),
                                         (errno.ENOTDIR, "a file is where a folder belongs")])
def test_os_errors_read_as_one_line(code, advice):
    from glimpse.cli import os_error_line

    line = os_error_line(OSError(code, "what the system said", "/some/path"))
    assert line.startswith("what the system said: /some/path (") and advice in line
