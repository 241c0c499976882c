import json
import threading

import numpy as np
import pytest

from glimpse import GlimpseError
from glimpse.features.store import (
    FeatureStore,
    NpyAppender,
    WriteBehind,
    entry_id,
)

FEATURE = {"backbone": "x", "input_size": 32, "weights_digest": "d", "fps": 10.0,
           "dtype": "float16"}
STREAMS = {"rgb": {"layer": "y", "channels": 4, "grid": 2},
           "rgb_pooled": {"layer": "y", "channels": 4, "pooled": "spatial mean"}}


def _meta(T):
    return {"path": "a/b.mp4", "label": "a", "label_index": 0, "group": None, "frames": T,
            "times": [t / 10 for t in range(T)], "source_frames": list(range(T))}


def test_entry_id():
    assert entry_id("walk/group_01/walk_g01_c01.mp4") == "walk__group_01__walk_g01_c01"


def test_roundtrip_and_clip_slices(tmp_path):
    store = FeatureStore(tmp_path)
    store.create_or_check(FEATURE, STREAMS, ["a", "b"])
    cube = np.arange(7 * 2 * 2 * 4, dtype=np.float32).reshape(7, 2, 2, 4)
    masks = np.random.default_rng(0).random((7, 2, 2))
    store.write_entry("v1", _meta(7), {"rgb": cube, "rgb_pooled": cube.mean((1, 2))}, masks=masks)
    e = FeatureStore(tmp_path).entry("v1")
    assert e.num_frames == 7 and e.label == "a"
    clip = e.stream("rgb", 2, 5)
    assert clip.dtype == np.float16 and clip.shape == (3, 2, 2, 4)
    np.testing.assert_array_equal(clip, cube[2:5].astype(np.float16))
    np.testing.assert_allclose(e.masks(2, 5), masks[2:5], atol=1e-3)
    np.testing.assert_allclose(e.stream("rgb_pooled"), cube.mean((1, 2)), rtol=1e-3)
    with pytest.raises(GlimpseError, match="no stream 'flow'"):
        e.stream("flow")
    assert FeatureStore(tmp_path).labels == ["a", "b"]
    assert FeatureStore(tmp_path).streams == STREAMS
    # frames by index (uniform clips): any order, repeats, runs of consecutive frames, a 0-d
    # and a 2-d index, negative ones: what numpy's indexing gives, as writable arrays of their
    # own; a slice as numpy clips it
    half = cube.astype(np.float16)
    for frames in ([4, 0, 4], np.array([6, 1]), np.array(3), [1, 2, 3, 5, 6, 2, 3],
                   np.array([[0, 1], [5, 4]]), [-1, -7], np.array([], int)):
        got = e.stream_at("rgb", frames)
        np.testing.assert_array_equal(got, half[np.asarray(frames, int)])
        assert type(got) is np.ndarray and got.flags.writeable and got.dtype == np.float16
    for a, b in ((0, None), (5, 99), (6, 2), (-3, None), (7, 9)):
        np.testing.assert_array_equal(e.stream("rgb", a, b), half[a:b])
    with pytest.raises(IndexError):
        e.stream_at("rgb", [7])


def test_streamed_npy_equals_np_save(tmp_path):
    """Chunks appended one by one give a plain .npy: the same bytes as np.save of the whole."""
    rng = np.random.default_rng(1)
    chunks = [rng.random((n, 3, 3, 5)).astype(np.float16) for n in (4, 1, 7)]
    f = NpyAppender(tmp_path / "a.npy")
    for c in chunks:
        f.append(c)
    f.close()
    whole = np.concatenate(chunks)
    np.testing.assert_array_equal(np.load(tmp_path / "a.npy", mmap_mode="r"), whole)
    np.save(tmp_path / "b.npy", whole)
    assert (tmp_path / "a.npy").stat().st_size == (tmp_path / "b.npy").stat().st_size
    g = NpyAppender(tmp_path / "c.npy")
    g.append(chunks[0])
    with pytest.raises(ValueError, match="chunk of shape"):
        g.append(np.zeros((2, 4, 4, 5), np.float16))


def test_closed_arrays_are_synced_then_dropped_from_the_page_cache(tmp_path, monkeypatch):
    """close() syncs the file and only then asks the kernel to drop its (now clean) pages, on
    the file's own descriptor; the file reads back whole."""
    import glimpse.features.store as store_mod
    calls = []
    real_fsync = store_mod.os.fsync
    monkeypatch.setattr(store_mod.os, "fsync", lambda fd: (calls.append(("fsync", fd)),
                                                           real_fsync(fd))[1])
    monkeypatch.setattr(store_mod.os, "posix_fadvise",
                        lambda fd, off, n, advice: calls.append(("fadvise", fd, off, n, advice)),
                        raising=False)
    f = NpyAppender(tmp_path / "a.npy")
    f.append(np.ones((3, 2), np.float16))
    fd = f._f.fileno()
    f.close()
    assert calls == [("fsync", fd), ("fadvise", fd, 0, 0, store_mod.os.POSIX_FADV_DONTNEED)]
    np.testing.assert_array_equal(np.load(tmp_path / "a.npy"), np.ones((3, 2), np.float16))


def test_long_arrays_are_dropped_from_the_page_cache_as_they_grow(tmp_path, monkeypatch):
    """A long video's array asks for the drop every DROP_EVERY bytes appended, not only at the
    end (its pages would otherwise pile up for the whole video); the file stays whole."""
    import glimpse.features.store as store_mod
    drops = []
    monkeypatch.setattr(store_mod, "_drop_cached", lambda fd: drops.append(fd))
    monkeypatch.setattr(NpyAppender, "DROP_EVERY", 3 * 2 * 2)  # bytes: 3 rows of 2 float16
    f = NpyAppender(tmp_path / "a.npy")
    chunks = [np.full((2, 2), i, np.float16) for i in range(5)]  # 8 bytes each
    for c in chunks:
        f.append(c)
    assert len(drops) == 2  # after 16 bytes, and after 16 more
    f.close()
    assert len(drops) == 3 and set(drops) == {drops[0]}
    np.testing.assert_array_equal(np.load(tmp_path / "a.npy"), np.concatenate(chunks))


def test_half_written_entries_are_never_listed_and_are_cleaned(tmp_path):
    store = FeatureStore(tmp_path)
    store.create_or_check(FEATURE, STREAMS, ["a"])
    with pytest.raises(RuntimeError):
        with store.writer("v9") as w:
            w.append("rgb", np.zeros((3, 2, 2, 4)))
            raise RuntimeError("the CNN failed mid-video")
    # nothing but the (empty) claims' lock files
    assert store.ids() == [] and [p.name for p in store.entries_dir.iterdir()] == [".claims"]
    tmp = store.entries_dir / ".tmp-v9-123"  # what a kill -9 leaves
    tmp.mkdir()
    (tmp / "rgb.npy").write_bytes(b"partial")
    assert store.ids() == [] and not store.has("v9")
    store.clean_stale(["v1"])  # a shard cleans only its own entries' leftovers
    assert tmp.exists()
    store.clean_stale()  # the next unsharded run removes it
    assert not tmp.exists()


def test_other_features_are_refused(tmp_path):
    FeatureStore(tmp_path).create_or_check(FEATURE, STREAMS, ["a"])
    with pytest.raises(GlimpseError, match="fps: 10.0 != 25.0"):
        FeatureStore(tmp_path).create_or_check({**FEATURE, "fps": 25.0}, STREAMS, ["a"])
    with pytest.raises(GlimpseError, match="streams.rgb_pooled"):
        FeatureStore(tmp_path).create_or_check(FEATURE, {"rgb": STREAMS["rgb"]}, ["a"])
    with pytest.raises(GlimpseError, match="other classes"):
        FeatureStore(tmp_path).create_or_check(FEATURE, STREAMS, ["a", "c"])
    with pytest.raises(GlimpseError, match="not a feature store"):
        _ = FeatureStore(tmp_path / "nothing").manifest
    store = FeatureStore(tmp_path)
    store.check_inputs(FEATURE, {"rgb": STREAMS["rgb"]}, "run r")
    with pytest.raises(GlimpseError, match="no stream 'flow'"):
        store.check_inputs(FEATURE, {"flow": STREAMS["rgb"]}, "run r")
    with pytest.raises(GlimpseError, match="other features than run r"):
        store.check_inputs({**FEATURE, "backbone": "z"}, {"rgb": STREAMS["rgb"]}, "run r")


def test_meta_and_streams_must_agree(tmp_path):
    store = FeatureStore(tmp_path)
    store.create_or_check(FEATURE, STREAMS, ["a"])
    with pytest.raises(ValueError, match="meta says 3 frames"):
        store.write_entry("v", _meta(3), {"rgb": np.zeros((4, 2, 2, 4))})
    assert store.ids() == []


def test_manifest_is_json(tmp_path):
    FeatureStore(tmp_path).create_or_check(FEATURE, STREAMS, ["a"])
    m = json.loads((tmp_path / "manifest.json").read_text())
    assert m["format"] == 2 and m["feature"] == FEATURE and m["streams"] == STREAMS


def test_format_1_stores_still_read(tmp_path):
    """glimpse 0.1's layout: one flat feature spec, cube.npy and pooled.npy."""
    flat = {"backbone": "x", "layer": "y", "input_size": 32, "channels": 4, "weights_digest": "d",
            "fps": 10.0, "dtype": "float16", "grid": 2, "pooled": True}
    (tmp_path / "entries" / "v").mkdir(parents=True)
    (tmp_path / "manifest.json").write_text(json.dumps(
        {"format": 1, "feature": flat, "labels": ["a"], "source": None}))
    cube = np.arange(3 * 2 * 2 * 4, dtype=np.float16).reshape(3, 2, 2, 4)
    np.save(tmp_path / "entries" / "v" / "cube.npy", cube)
    np.save(tmp_path / "entries" / "v" / "pooled.npy", cube.mean((1, 2)))
    (tmp_path / "entries" / "v" / "meta.json").write_text(json.dumps(_meta(3)))
    store = FeatureStore(tmp_path)
    assert store.feature == FEATURE and store.streams == STREAMS
    np.testing.assert_array_equal(store.entry("v").stream("rgb", 1, 3), cube[1:3])
    assert store.entry("v").stream("rgb_pooled").shape == (3, 4)
    (tmp_path / "manifest.json").write_text(json.dumps({"format": 7, "feature": {}, "labels": []}))
    with pytest.raises(GlimpseError, match="store format 7"):
        _ = FeatureStore(tmp_path).manifest


def test_write_behind_runs_jobs_in_order_in_its_own_thread():
    done, threads = [], set()

    def job(i):
        threads.add(threading.current_thread().name)
        done.append(i)

    with WriteBehind(depth=2) as behind:
        for i in range(20):
            behind(job, i)
        behind.wait()
        assert done == list(range(20))
    assert threads == {"glimpse-store-writer"}


def test_write_behind_holds_at_most_depth_waiting_jobs():
    gate, ran = threading.Event(), []
    with WriteBehind(depth=2) as behind:
        behind(gate.wait)  # the thread is busy with this one
        behind(ran.append, 1)
        behind(ran.append, 2)  # two waiting: the queue is full
        third = threading.Thread(target=behind, args=(ran.append, 3))
        third.start()
        third.join(timeout=0.3)
        assert third.is_alive() and ran == []  # the caller waits; memory stays bounded
        gate.set()
        third.join(timeout=5)
        behind.wait()
    assert ran == [1, 2, 3]


def test_write_behind_raises_the_first_failure_and_undoes_the_jobs_after_it():
    ran, undone = [], []

    def fail():
        raise OSError(28, "No space left on device")

    behind = WriteBehind()
    behind(ran.append, "before")
    behind(fail, undo=lambda: undone.append("fail"))  # failed, then undone
    behind(ran.append, "after", undo=lambda: undone.append("after"))
    behind(ran.append, "no undo")
    with pytest.raises(OSError, match="No space left"):
        behind.wait()
    behind(ran.append, "later", undo=lambda: undone.append("later"))
    behind.wait()  # raised once; the jobs stay skipped
    behind.close()
    assert ran == ["before"] and undone == ["fail", "after", "later"]


def test_write_behind_failure_surfaces_at_the_next_call():
    undone = []
    behind = WriteBehind()
    behind(lambda: 1 / 0)
    behind._jobs.join()
    with pytest.raises(ZeroDivisionError):
        behind(print, "never", undo=lambda: undone.append("the call's own job"))
    behind.close()
    assert undone == ["the call's own job"]  # queued, then undone: every job is run or undone
