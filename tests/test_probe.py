import json

import numpy as np
import pytest

from glimpse import GlimpseError
from glimpse.features.store import FeatureStore
from glimpse.probe import run_probe, video_vector

FEATURE = {"backbone": "x", "input_size": 32, "weights_digest": "d", "fps": 10.0,
           "dtype": "float16"}
STREAMS = {"rgb": {"layer": "y", "channels": 3, "grid": 2}}


def _meta(T, label, index, group):
    return {"path": f"{label}/{group}/v.avi", "label": label, "label_index": index, "group": group,
            "frames": T, "times": [t / 10 for t in range(T)], "source_frames": list(range(T))}


def test_video_vector_golden(tmp_path):
    store = FeatureStore(tmp_path)
    store.create_or_check(FEATURE, STREAMS, ["a"])
    cube = np.zeros((2, 2, 2, 3), np.float32)
    cube[0, 0, 0] = [4, 0, 8]  # frame 0: only cell (0, 0) is non-zero
    cube[1, 1, 1] = [8, 4, 0]  # frame 1: only cell (1, 1)
    masks = np.zeros((2, 2, 2))
    masks[0, 0, 0] = 1.0  # the actor is in cell (0, 0) in frame 0 ...
    masks[1, 1, 1] = 0.5  # ... and in cell (1, 1) in frame 1
    store.write_entry("v", _meta(2, "a", 0, "g1"), {"rgb": cube}, masks=masks)
    e = store.entry("v")
    # pooled over all 4 cells: frame 0 [1, 0, 2], frame 1 [2, 1, 0] -> mean [1.5 .5 1], std [.5 .5 1]
    np.testing.assert_allclose(video_vector(e), [1.5, 0.5, 1, 0.5, 0.5, 1])
    # over the actor's cell only: frame 0 [4, 0, 8], frame 1 [8, 4, 0]
    np.testing.assert_allclose(video_vector(e, actor=True), [6, 2, 4, 2, 2, 4])


def test_video_vector_of_two_streams_is_both_vectors(tmp_path):
    store = FeatureStore(tmp_path)
    streams = {**STREAMS, "flow": {**STREAMS["rgb"], "layer": "flow"}}
    store.create_or_check(FEATURE, streams, ["a"])
    rgb = np.zeros((2, 1, 1, 3), np.float32)
    rgb[1] = 2.0
    flow = np.full((2, 1, 1, 3), 5.0, np.float32)
    store.write_entry("v", _meta(2, "a", 0, "g1"), {"rgb": rgb, "flow": flow})
    e = store.entry("v")
    np.testing.assert_allclose(video_vector(e, stream="flow"), [5, 5, 5, 0, 0, 0])
    np.testing.assert_allclose(video_vector(e, stream="rgb+flow"),
                               [1, 1, 1, 1, 1, 1, 5, 5, 5, 0, 0, 0])


def test_probe_separates_separable_classes(tmp_path):
    store = FeatureStore(tmp_path / "store")
    store.create_or_check(FEATURE, STREAMS, ["a", "b"])
    rng = np.random.default_rng(0)
    for c, label in enumerate(["a", "b"]):
        for g in range(6):
            cube = rng.normal(0, 1, (5, 2, 2, 3)).astype(np.float32)
            cube[..., c] += 3.0  # channel c carries the class
            store.write_entry(f"{label}{g}", _meta(5, label, c, f"g{g}"), {"rgb": cube})
    m = run_probe(tmp_path / "store", tmp_path / "probe", log=lambda *_: None)
    assert m["top1"] == 1.0 and m["num_videos"] == 4 and m["weight_decay"] in (1e-4, 1e-3, 1e-2, 1e-1)
    assert json.loads((tmp_path / "probe" / "metrics.json").read_text())["top1"] == 1.0
    rows = (tmp_path / "probe" / "predictions_test.csv").read_text().splitlines()
    assert len(rows) == 5 and rows[0].startswith("video,label,predicted")
    with pytest.raises(GlimpseError, match="no actor masks"):
        run_probe(tmp_path / "store", tmp_path / "p2", actor=True, log=lambda *_: None)
    with pytest.raises(GlimpseError, match="reads cube stream.s. flow, which"):
        run_probe(tmp_path / "store", tmp_path / "p3", stream="flow", log=lambda *_: None)


def test_probe_statistics_keep_the_mean_or_the_std(tmp_path):
    store = FeatureStore(tmp_path)
    store.create_or_check(FEATURE, STREAMS, ["a"])
    cube = np.zeros((2, 2, 2, 3), np.float32)
    cube[0, 0, 0] = [4, 0, 8]
    cube[1, 1, 1] = [8, 4, 0]
    store.write_entry("v", _meta(2, "a", 0, "g1"), {"rgb": cube})
    e = store.entry("v")
    # pooled: frame 0 [1, 0, 2], frame 1 [2, 1, 0] (as in the golden test above)
    np.testing.assert_allclose(video_vector(e, statistics="mean"), [1.5, 0.5, 1])
    np.testing.assert_allclose(video_vector(e, statistics="std"), [0.5, 0.5, 1])
    with pytest.raises(GlimpseError, match="unknown probe statistics 'max' .known: mean.std, mean, std"):
        video_vector(e, statistics="max")


def test_a_probe_on_the_mean_misses_what_only_the_change_over_frames_tells(tmp_path):
    """Two classes with the same mean feature over a video, told apart by how much it varies
    from frame to frame: the std probe separates them, the mean probe cannot."""
    store = FeatureStore(tmp_path / "store")
    store.create_or_check(FEATURE, STREAMS, ["still", "moving"])
    rng = np.random.default_rng(0)
    for c, label in enumerate(["still", "moving"]):
        for g in range(8):
            cube = np.ones((6, 2, 2, 3), np.float32) + rng.normal(0, 0.05, (6, 2, 2, 3))
            if c:  # alternate frames up and down: the same mean, a large std
                cube[0::2] += 1.0
                cube[1::2] -= 1.0
            store.write_entry(f"{label}{g}", _meta(6, label, c, f"g{g}"),
                              {"rgb": cube.astype(np.float32)})
    quiet = {"log": lambda *_: None}
    assert run_probe(tmp_path / "store", tmp_path / "std", statistics="std", **quiet)["top1"] == 1.0
    mean = run_probe(tmp_path / "store", tmp_path / "mean", statistics="mean", **quiet)
    assert mean["top1"] <= 0.75 and mean["model"] == "linear probe (mean over frames)"
    assert json.loads((tmp_path / "mean" / "probe.json").read_text())["statistics"] == "mean"
    with pytest.raises(GlimpseError, match="unknown probe statistics"):
        run_probe(tmp_path / "nowhere", tmp_path / "p", statistics="max", **quiet)
