from pathlib import Path

import numpy as np
import pytest

from glimpse import GlimpseError
from glimpse.datasets import (
    VideoItem,
    hmdb_split,
    label_map,
    read_list_file,
    scan_folder,
    ucf11_splits,
    validation_split,
)
from glimpse.datasets.masks import mask_grid


def _ucf_items(classes=3, groups=25, clips=2):
    return [VideoItem(Path(f"/d/c{c}/g{g:02d}/v{n}.mpg"), f"c{c}/g{g:02d}/v{n}.mpg", f"c{c}",
                      f"g{g:02d}") for c in range(classes) for g in range(groups) for n in range(clips)]


def test_scan_folder_ucf11_layout(tiny_synth):
    items = scan_folder(tiny_synth)
    assert len(items) == 6 and items[0].label == "jump" and items[0].group == "group_01"
    assert items[0].mask_path is not None
    assert label_map(items) == {"jump": 0, "run": 1, "walk": 2}


def test_scan_empty_folder(tmp_path):
    with pytest.raises(GlimpseError, match="no videos found"):
        scan_folder(tmp_path)


def test_label_map_sorts_integer_labels_numerically():
    items = [VideoItem(Path("x"), "x", s) for s in ["10", "2", "1"]]
    assert label_map(items) == {"1": 0, "2": 1, "10": 2}


def test_ucf11_paper_split_15_10_by_group_and_5_draws():
    items = _ucf_items()
    draws = ucf11_splits(items, seed=0)
    assert len(draws) == 5
    for train, test in draws:
        for c in ("c0", "c1", "c2"):
            tr = {it.group for it in train if it.label == c}
            te = {it.group for it in test if it.label == c}
            assert len(tr) == 15 and len(te) == 10 and not tr & te
    assert {it.relpath for it in draws[0][0]} != {it.relpath for it in draws[1][0]}
    assert [it.relpath for it in ucf11_splits(items, seed=0)[0][0]] == [it.relpath for it in draws[0][0]]


def test_validation_is_group_disjoint_and_never_from_test():
    train, test = ucf11_splits(_ucf_items(), seed=1)[0]
    fit, val = validation_split(train, fraction=0.2, seed=0)
    assert not {(i.label, i.group) for i in fit} & {(i.label, i.group) for i in val}
    assert set(val) <= set(train) and not set(val) & set(test)
    assert len({i.group for i in val if i.label == "c0"}) == 3  # 20% of 15 groups


def test_hmdb_official_split_files(tmp_path):
    items = [VideoItem(Path(f"/h/brush_hair/v{i}.avi"), f"brush_hair/v{i}.avi", "brush_hair")
             for i in range(4)]
    (tmp_path / "brush_hair_test_split1.txt").write_text("v0.avi 1\nv1.avi 2\nv2.avi 0\nv3.avi 1\n")
    train, test = hmdb_split(items, tmp_path, 1)
    assert [i.path.name for i in train] == ["v0.avi", "v3.avi"]
    assert [i.path.name for i in test] == ["v1.avi"]
    (tmp_path / "brush_hair_test_split2.txt").write_text("v0.avi 7\n")
    with pytest.raises(GlimpseError, match="expected 'video.avi 0\\|1\\|2'"):
        hmdb_split(items, tmp_path, 2)


def test_list_file(tmp_path):
    lst = tmp_path / "train.txt"
    lst.write_text("# comment\nvideos/a.mp4 1\n\nvideos/b.mp4 0\n")
    items = read_list_file(lst)
    assert [(i.relpath, i.label) for i in items] == [("videos/a.mp4", "1"), ("videos/b.mp4", "0")]
    assert items[0].path == (tmp_path / "videos/a.mp4").resolve()
    lst.write_text("justonefield\n")
    with pytest.raises(GlimpseError, match="train.txt:1"):
        read_list_file(lst)


def test_mask_grid_golden():
    m = np.zeros((1, 4, 6), bool)
    m[0, 0, 0:3] = True  # top row, left half
    m[0, 3, 5] = True
    g = mask_grid(m, 2)  # cells of 2 x 3 pixels
    np.testing.assert_allclose(g[0], [[3 / 6, 0], [0, 1 / 6]])


def test_mask_grid_counts_equal_float_sums_bit_for_bit():
    """Integer counts then one division give exactly the float32 fractions of summing the masks
    in float32 (stores written before stay valid), uneven cells and uint8 masks included."""
    rng = np.random.default_rng(0)
    for shape, K in [((4, 256, 256), 8), ((3, 37, 53), 8), ((2, 240, 320), 7)]:
        m = rng.random(shape) < 0.3
        F, H, W = shape
        rows = np.linspace(0, H, K + 1).round().astype(int)
        cols = np.linspace(0, W, K + 1).round().astype(int)
        want = np.array([[[m[f, rows[i]:rows[i + 1], cols[j]:cols[j + 1]].astype(np.float32).sum()
                           for j in range(K)] for i in range(K)] for f in range(F)], np.float32)
        want /= np.outer(np.diff(rows), np.diff(cols)).astype(np.float32)
        got = mask_grid(m, K)
        assert got.dtype == np.float32 and np.array_equal(got, want)
        assert np.array_equal(mask_grid(m.astype(np.uint8) * 255, K), want)


def test_jhmdb_style_frame_folders_are_videos_and_extract(tmp_path):
    """<class>/<clip>/00001.png as JHMDB ships it: found as videos, extracted at --image-fps."""
    from PIL import Image

    from glimpse.cli import main
    from glimpse.datasets.layouts import scan_folder
    from glimpse.features.store import FeatureStore
    from tests.conftest import moving_bar_frames

    for cls in ("jump", "walk"):
        clip = tmp_path / "data" / cls / f"{cls}_clip_1"
        clip.mkdir(parents=True)
        for i, f in enumerate(moving_bar_frames(n=6)):
            Image.fromarray(f).save(clip / f"{i + 1:05d}.png")
    items = scan_folder(tmp_path / "data")
    assert [(it.relpath, it.label, it.group) for it in items] == [
        ("jump/jump_clip_1", "jump", None), ("walk/walk_clip_1", "walk", None)]
    assert main(["extract", str(tmp_path / "data"), str(tmp_path / "f"), "--fps", "0",
                 "--image-fps", "12", "--quiet"]) == 0
    e = FeatureStore(tmp_path / "f").entry("jump__jump_clip_1")
    assert e.num_frames == 6 and e.meta["image_fps"] == 12 and e.times[1] == pytest.approx(1 / 12, abs=1e-6)


def test_uniform_sampling_spreads_the_clip_over_the_video(tmp_path):
    """One clip per video, T frames at equal intervals: centres for evaluation, a random offset
    per (seed, epoch, clip) for training, repeated frames for a video shorter than T; the items
    name their frames."""
    import numpy as np

    from glimpse.features.clips import ClipDataset, uniform_frames
    from glimpse.features.store import FeatureStore

    assert uniform_frames(30, 5).tolist() == [3, 9, 15, 21, 27]  # floor((j + 1/2) * 6)
    assert uniform_frames(30, 5, 0.0).tolist() == [0, 6, 12, 18, 24]
    assert uniform_frames(4, 8).tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    store = FeatureStore(tmp_path)
    store.create_or_check({"backbone": "x", "input_size": 8, "weights_digest": "d", "fps": 1.0,
                           "dtype": "float16"}, {"rgb": {"layer": "y", "channels": 1, "grid": 1}},
                          ["a"])
    n = 30
    cube = np.arange(n, dtype=np.float32).reshape(n, 1, 1, 1)
    store.write_entry("v", {"path": "a/v.avi", "label": "a", "label_index": 0, "group": None,
                            "frames": n, "times": list(range(n)), "source_frames": list(range(n))},
                      {"rgb": cube})
    e = [store.entry("v")]
    ev = ClipDataset(e, 5, 2, sampling="uniform")
    assert len(ev) == 1 and ev[0]["frames"].tolist() == [3, 9, 15, 21, 27]
    assert ev[0]["rgb"][:, 0, 0, 0].tolist() == [3, 9, 15, 21, 27] and ev[0]["mask"].all()
    tr = ClipDataset(e, 5, 2, sampling="uniform", seed=0)
    first = tr[0]["frames"]
    assert np.array_equal(first, ClipDataset(e, 5, 2, sampling="uniform", seed=0)[0]["frames"])
    assert (np.diff(first) == 6).all() and 0 <= first[0] < 6
    draws = set()
    for epoch in range(6):
        tr.set_epoch(epoch)
        draws.add(int(tr[0]["frames"][0]))
    assert len(draws) > 1  # the offset moves from epoch to epoch
    seg = ClipDataset(e, 5, 10)
    assert [seg[i]["frames"].tolist() for i in range(len(seg))] == \
        [list(range(s, s + 5)) for s in (0, 10, 20)]
    # paper 001's temporal test: first 2/3 = frames [0, 20), last 2/3 = [10, 30), whole [0, 30)
    from glimpse.features.clips import TEMPORAL_VIEWS, view_range

    views = ClipDataset(e, 5, 2, sampling="uniform", views=TEMPORAL_VIEWS)
    assert [views[i]["frames"].tolist() for i in range(len(views))] == \
        [[2, 6, 10, 14, 18], [12, 16, 20, 24, 28], [3, 9, 15, 21, 27]]
    assert {views[i]["video"] for i in range(3)} == {0}
    assert view_range("first-2/3", 0, 7) == (0, 5) and view_range("last-2/3", 0, 7) == (2, 7)
    assert view_range("first-2/3", 0, 1) == (0, 1) and view_range("last-2/3", 0, 1) == (0, 1)
    with pytest.raises(GlimpseError, match="uniformly sampled"):
        ClipDataset(e, 5, 2, views=TEMPORAL_VIEWS)
