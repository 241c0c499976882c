import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from glimpse.cli import main
from glimpse.features.extract import extract
from glimpse.features.store import FeatureStore


@pytest.fixture(scope="module")
def extracted(tiny_synth, tmp_path_factory):
    out = tmp_path_factory.mktemp("features")
    summary = extract(tiny_synth, out, fps=0, progress=False)
    return out, summary


def test_cubes_are_float16_8x8x1280_with_masks(extracted, tiny_synth):
    out, summary = extracted
    store = FeatureStore(out)
    assert summary.extracted == len(store) == 6 and not summary.failures
    e = store.entries()[0]
    cube = e.stream("rgb")
    assert cube.dtype == np.float16 and cube.shape == (12, 8, 8, 1280)
    masks = e.masks()
    assert masks.shape == (12, 8, 8) and 0 < masks.mean() < 0.5  # the actor is small
    assert e.group == "group_01" and store.streams["rgb"]["grid"] == 8
    assert store.labels == ["jump", "run", "walk"]


def test_lanes_give_each_batch_the_same_chunks_bit_for_bit():
    """Two batches side by side, one thread each (Lanes), against one batch at a time on one
    thread: the same float16 chunks, each result where it was asked for (a batch's numbers
    depend on its thread count, not on what runs beside it); a lane's failure is raised where
    its result is taken; torch's thread count is put back."""
    import torch

    from glimpse.allocator import share_main_arena
    from glimpse.features.extract import Featurizer, Lanes

    threads = torch.get_num_threads()
    try:
        fz = Featurizer(fps=0, batch_size=4, streams=("rgb", "rgb_pooled"))
        rng = np.random.default_rng(0)
        batches = [rng.integers(0, 256, (n, 256, 256, 3), dtype=np.uint8) for n in (4, 4, 3)]
        torch.set_num_threads(1)
        alone = [fz.chunks(b, None) for b in batches]
        torch.set_num_threads(2)
        with Lanes("cpu") as lanes:
            assert lanes.count == (2 if share_main_arena() else 1)
            assert torch.get_num_threads() == 2 // lanes.count
            results = [lanes(fz.chunks, b, None) for b in batches]
            failed = lanes(fz.chunks, batches[0][..., :2], None)  # 2 channels: the CNN refuses
            side_by_side = [r() for r in results]
            with pytest.raises(RuntimeError):
                failed()
        assert torch.get_num_threads() == 2
        for one, two in zip(alone, side_by_side):
            assert [n for n, _ in one] == [n for n, _ in two] == ["rgb", "rgb_pooled"]
            for (_, a), (_, b) in zip(one, two):
                assert a.dtype == np.float16
                np.testing.assert_array_equal(a, b)
    finally:
        torch.set_num_threads(threads)


def test_second_run_does_no_work(extracted, tiny_synth):
    out, _ = extracted
    again = extract(tiny_synth, out, fps=0, progress=False)
    assert again.extracted == 0 and again.skipped == 6


def test_bad_videos_are_named_and_the_rest_extracted(tiny_synth, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(tiny_synth, data)
    clip = sorted(data.rglob("*.avi"))
    clip[0].write_bytes(clip[0].read_bytes()[:2000])  # truncated
    clip[1].write_bytes(b"")  # empty
    rc = main(["extract", str(data), str(tmp_path / "f"), "--quiet", "--fps", "5"])
    assert rc == 1
    store = FeatureStore(tmp_path / "f")
    assert len(store) == 4
    import json
    failures = json.loads((tmp_path / "f" / "failures.json").read_text())
    assert set(failures) == {c.relative_to(data).as_posix() for c in clip[:2]}


def _fail_on_call(monkeypatch, cls, method: str, nth: int, error: OSError):
    """Patch ``cls.method`` to raise ``error`` on its nth call (the calls before and after run
    as they would); returns the real method."""
    real, calls = getattr(cls, method), []

    def failing(self, *args):
        calls.append(1)
        if len(calls) == nth:
            raise error
        return real(self, *args)

    monkeypatch.setattr(cls, method, failing)
    return real


def test_predicts_featurization_is_extracts_bit_for_bit(extracted, tiny_synth, tmp_path):
    """``predict`` featurizes a new video with the featurizer of the run's store, through the
    same lanes as ``extract``: a stored video featurized again equals its store entry bit for
    bit (on one lane against extract's two, ~0.2% of the float16 values differ)."""
    from glimpse.features.extract import Featurizer

    out, _ = extracted
    store = FeatureStore(out)
    fz = Featurizer.for_run(store.feature, store.streams)
    again = FeatureStore(tmp_path / "again")
    again.create_or_check(fz.feature, fz.stream_specs, store.labels)
    e = store.entries()[0]
    with again.writer("video") as w:
        meta = fz.featurize(tiny_synth / e.meta["path"], w)
        w.commit({"path": e.meta["path"], "label": None, "label_index": -1, "group": None, **meta})
    np.testing.assert_array_equal(again.entry("video").stream("rgb"), e.stream("rgb"))


def _temporary_folders(store_root) -> list:
    return [p for p in (store_root / "entries").iterdir() if p.name.startswith(".tmp")]


def test_a_failed_write_commits_nothing_half_written_and_a_rerun_completes(
        tiny_synth, extracted, tmp_path, monkeypatch):
    """The file work runs behind the CNN (store.WriteBehind): a disk error on the third video's
    chunk is raised by extract; the entries before it are whole, the rest are not committed
    (no .tmp folder is left), and the next run fills the store bit for bit."""
    from glimpse.features.extract import Lanes
    from glimpse.features.store import NpyAppender

    # one batch a video at --fps 0, batch 32: an rgb chunk from each lane, then the masks; the
    # first append after two videos' is the third video's
    per_video = Lanes().count + 1
    real = _fail_on_call(monkeypatch, NpyAppender, "append", 2 * per_video + 1,
                         OSError(28, "No space left on device"))
    out = tmp_path / "full"
    with pytest.raises(OSError, match="No space left"):
        extract(tiny_synth, out, fps=0, progress=False)
    store = FeatureStore(out)
    report = store.verify()
    assert len(report["ok"]) == 2 and not report["corrupt"]
    assert set(store.ids()) < set(FeatureStore(extracted[0]).ids())
    assert not _temporary_folders(out)
    monkeypatch.setattr(NpyAppender, "append", real)
    again = extract(tiny_synth, out, fps=0, progress=False)
    assert again.skipped == 2 and again.extracted == 4
    for eid in store.ids():
        np.testing.assert_array_equal(store.entry(eid).stream("rgb"),
                                      FeatureStore(extracted[0]).entry(eid).stream("rgb"))


def test_a_failed_commit_leaves_no_temporary_folder(tiny_synth, tmp_path, monkeypatch):
    """A commit that fails in the writing thread is undone itself (its entry aborted), as are
    the jobs after it."""
    from glimpse.features.store import EntryWriter

    _fail_on_call(monkeypatch, EntryWriter, "commit", 2, OSError(5, "Input/output error"))
    out = tmp_path / "io"
    with pytest.raises(OSError, match="Input/output"):
        extract(tiny_synth, out, fps=0, progress=False)
    assert len(FeatureStore(out).ids()) == 1
    assert not _temporary_folders(out)


def test_workers_that_die_at_start_are_explained_in_one_line(tiny_synth, tmp_path):
    """A script calling extract(workers=2) without a __main__ guard: spawn's workers fail while
    importing it; extract says what to do instead of guessing at memory."""
    script = tmp_path / "unguarded.py"
    script.write_text("from glimpse.features.extract import extract\n"
                      f"extract({str(tiny_synth)!r}, {str(tmp_path / 'f')!r}, fps=0, "
                      "progress=False, workers=2)\n")
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode != 0
    last = out.stderr.strip().splitlines()[-1]
    assert "GlimpseError" in last and "if __name__ == '__main__':" in last, last


def test_kill_9_mid_run_then_resume_gives_identical_features(tiny_synth, extracted, tmp_path):
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "glimpse", "extract", str(tiny_synth), str(out), "--fps", "0",
           "--quiet", "--batch-size", "4"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    entries = out / "entries"
    deadline = time.time() + 120
    while time.time() < deadline:  # kill as soon as the first video is in
        if entries.exists() and any(not p.name.startswith(".") for p in entries.iterdir()):
            break
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = len(FeatureStore(out).ids())
    assert 1 <= done_before < 6, "the kill should land part-way"
    assert subprocess.run(cmd, capture_output=True).returncode == 0
    ref, resumed = FeatureStore(extracted[0]), FeatureStore(out)
    assert ref.ids() == resumed.ids()
    for eid in ref.ids():
        np.testing.assert_array_equal(ref.entry(eid).stream("rgb"), resumed.entry(eid).stream("rgb"))
        np.testing.assert_array_equal(ref.entry(eid).masks(), resumed.entry(eid).masks())


def test_store_verify_names_what_is_missing_or_corrupt(extracted, tiny_synth, tmp_path, capsys):
    import shutil as sh

    out = tmp_path / "copy"
    sh.copytree(extracted[0], out)
    assert main(["store", "verify", str(out)]) == 0
    assert "6 entries whole, 0 corrupt, 0 missing" in capsys.readouterr().out
    entries = [out / "entries" / e for e in FeatureStore(out).ids()]
    (entries[0] / "rgb.npy").unlink()  # a deleted array
    data = (entries[1] / "masks.npy").read_bytes()
    (entries[1] / "masks.npy").write_bytes(data[:-100])  # a truncated one
    rgb = bytearray((entries[2] / "rgb.npy").read_bytes())
    rgb[-1] ^= 0xFF  # a flipped byte: only the checksum sees it
    (entries[2] / "rgb.npy").write_bytes(bytes(rgb))
    sh.rmtree(entries[3])  # a missing video
    assert main(["store", "verify", str(out)]) == 3
    text = capsys.readouterr().out
    assert f"corrupt: {entries[0].name}: rgb: missing" in text
    assert f"corrupt: {entries[1].name}: masks: truncated" in text
    assert f"corrupt: {entries[2].name}: rgb: checksum mismatch" in text
    assert f"missing: {entries[3].name}" in text
    for e in entries[:3]:
        sh.rmtree(e)
    assert main(["store", "verify", str(out), "--data", str(tiny_synth)]) == 1


def test_shards_fill_one_store_or_merge_to_the_unsharded_one(extracted, tiny_synth, tmp_path):
    """--shard 0/2 and 1/2 into one store, or into two stores merged: the same entries and
    bit-identical arrays as one unsharded run; verify passes."""
    one = tmp_path / "one"
    for i in (0, 1):
        assert main(["extract", str(tiny_synth), str(one), "--fps", "0", "--quiet",
                     "--shard", f"{i}/2"]) == 0
        assert main(["extract", str(tiny_synth), str(tmp_path / f"part{i}"), "--fps", "0",
                     "--quiet", "--shard", f"{i}/2"]) == 0
    assert len(FeatureStore(tmp_path / "part0")) == 3 and len(FeatureStore(tmp_path / "part1")) == 3
    assert main(["store", "merge", str(tmp_path / "merged"), str(tmp_path / "part0"),
                 str(tmp_path / "part1")]) == 0
    ref = FeatureStore(extracted[0])
    for folder in (one, tmp_path / "merged"):
        assert main(["store", "verify", str(folder)]) == 0
        got = FeatureStore(folder)
        assert got.ids() == ref.ids() and got.manifest["labels"] == ref.manifest["labels"]
        for eid in ref.ids():
            a, b = ref.entry(eid), got.entry(eid)
            assert a.meta == b.meta
            for name in ("rgb", "masks"):
                assert (a.folder / f"{name}.npy").read_bytes() == (b.folder / f"{name}.npy").read_bytes()
    with pytest.raises(SystemExit):  # refused at parse time
        main(["extract", str(tiny_synth), str(tmp_path / "x"), "--shard", "2/2"])



def test_merging_an_entry_held_twice_with_another_label_is_refused(tiny_synth, tmp_path,
                                                                    capsys):
    """Two shards holding one entry with the same arrays but a different label: merge says
    which fields differ instead of keeping one label silently (issue 50)."""
    import json
    import shutil as sh

    assert main(["extract", str(tiny_synth), str(tmp_path / "a"), "--fps", "0", "--quiet",
                 "--shard", "0/2"]) == 0
    sh.copytree(tmp_path / "a", tmp_path / "b")
    entry = next(e for e in sorted((tmp_path / "b" / "entries").iterdir()) if (e / "meta.json").exists())
    meta = json.loads((entry / "meta.json").read_text())
    meta["label"] = "other"
    (entry / "meta.json").write_text(json.dumps(meta))
    assert main(["store", "merge", str(tmp_path / "m"), str(tmp_path / "a")]) == 0
    capsys.readouterr()
    assert main(["store", "merge", str(tmp_path / "m"), str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "differs" in err and "(in label)" in err, err


def test_two_decoding_workers_give_the_same_store(extracted, tiny_synth, tmp_path):
    """--workers 2 decodes in two processes: the same entries, bit for bit."""
    assert main(["extract", str(tiny_synth), str(tmp_path / "w2"), "--fps", "0", "--quiet",
                 "--workers", "2", "--batch-size", "5"]) == 0
    ref, got = FeatureStore(extracted[0]), FeatureStore(tmp_path / "w2")
    assert ref.ids() == got.ids()
    for eid in ref.ids():
        for name in ("rgb", "masks"):
            assert (ref.entry(eid).folder / f"{name}.npy").read_bytes() == \
                (got.entry(eid).folder / f"{name}.npy").read_bytes()
