import json

import numpy as np
import pytest

from glimpse import GlimpseError
from glimpse.features.store import FeatureStore, entry_id

SPEC = {"backbone": "x", "layer": "y", "input_size": 32, "channels": 4, "weights_digest": "d",
        "fps": 10.0, "dtype": "float16", "grid": 2, "pooled": False}


def _meta(T):
    return {"path": "a/b.mp4", "label": "a", "label_index": 0, "group": None, "frames": T,
            "times": [t / 10 for t in range(T)], "source_frames": list(range(T))}


def test_entry_id():
    assert entry_id("walk/group_01/walk_g01_c01.mp4") == "walk__group_01__walk_g01_c01"


def test_roundtrip_and_clip_slices(tmp_path):
    store = FeatureStore(tmp_path)
    store.create_or_check(SPEC, ["a", "b"])
    cube = np.arange(7 * 2 * 2 * 4, dtype=np.float32).reshape(7, 2, 2, 4)
    masks = np.random.default_rng(0).random((7, 2, 2))
    store.write_entry("v1", _meta(7), cube, masks=masks)
    e = FeatureStore(tmp_path).entry("v1")
    assert e.num_frames == 7 and e.label == "a"
    clip = e.cube(2, 5)
    assert clip.dtype == np.float16 and clip.shape == (3, 2, 2, 4)
    np.testing.assert_array_equal(clip, cube[2:5].astype(np.float16))
    np.testing.assert_allclose(e.masks(2, 5), masks[2:5], atol=1e-3)
    assert e.pooled() is None
    assert FeatureStore(tmp_path).labels == ["a", "b"]


def test_half_written_entries_are_never_listed_and_are_cleaned(tmp_path):
    store = FeatureStore(tmp_path)
    store.create_or_check(SPEC, ["a"])
    tmp = store.entries_dir / ".tmp-v9-123"
    tmp.mkdir()
    (tmp / "cube.npy").write_bytes(b"partial")
    assert store.ids() == [] and not store.has("v9")
    store.create_or_check(SPEC, ["a"])  # the next run removes it
    assert not tmp.exists()


def test_other_features_are_refused(tmp_path):
    FeatureStore(tmp_path).create_or_check(SPEC, ["a"])
    with pytest.raises(GlimpseError, match="fps: 10.0 != 25.0"):
        FeatureStore(tmp_path).create_or_check({**SPEC, "fps": 25.0}, ["a"])
    with pytest.raises(GlimpseError, match="other classes"):
        FeatureStore(tmp_path).create_or_check(SPEC, ["a", "c"])
    with pytest.raises(GlimpseError, match="not a feature store"):
        FeatureStore(tmp_path / "nothing").manifest


def test_meta_and_cube_must_agree(tmp_path):
    store = FeatureStore(tmp_path)
    store.create_or_check(SPEC, ["a"])
    with pytest.raises(ValueError):
        store.write_entry("v", _meta(3), np.zeros((4, 2, 2, 4)))


def test_manifest_is_json(tmp_path):
    FeatureStore(tmp_path).create_or_check(SPEC, ["a"])
    assert json.loads((tmp_path / "manifest.json").read_text())["feature"] == SPEC
