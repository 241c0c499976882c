"""Spatial test crops: the layouts by hand, the cuts (mirrors and flow's horizontal component),
the store's crop arrays, and ``evaluate --crops`` through the CLI."""

import json

import numpy as np
import pytest

from glimpse import GlimpseError
from glimpse.features.crops import Crop, cut, cut_masks, flow_u_channels, layout
from tests.conftest import small_videos


def test_layouts_by_hand():
    """256 from 293 (= round(256 * 256 / 224)): m = 37, c = 18."""
    one = layout(1, 256)
    assert one.side == 293 and one.crops == (Crop("c", 18, 18),)
    assert [(c.name, c.top, c.left) for c in layout(3, 256).crops] == [
        ("l", 18, 0), ("c", 18, 18), ("r", 18, 37)]
    ten = layout(10, 256)
    assert ten.names == ["tl", "tr", "bl", "br", "c", "tl-flip", "tr-flip", "bl-flip", "br-flip",
                         "c-flip"]
    assert ten.crops[3] == Crop("br", 37, 37) and ten.crops[8] == Crop("br-flip", 37, 37, True)
    assert ten.describe()["windows"]["tr"] == [0, 37, 256, False]
    with pytest.raises(GlimpseError, match="--crops must be one of 1, 3, 5, 10"):
        layout(4, 256)


def test_cut_mirrors_and_negates_horizontal_flow():
    frames = np.arange(2 * 4 * 4 * 3, dtype=np.uint8).reshape(2, 4, 4, 3)
    got = cut(frames, Crop("tr", 0, 1), 3)
    assert got.shape == (2, 3, 3, 3) and np.array_equal(got, frames[:, :3, 1:])
    flipped = cut(frames, Crop("tr-flip", 0, 1, True), 3, u_channels=(0,))
    assert np.array_equal(flipped[..., 1:], frames[:, :3, 1:][:, :, ::-1, 1:])
    assert np.array_equal(flipped[..., 0], 255 - frames[:, :3, 1:][:, :, ::-1, 0])
    assert flipped.flags.c_contiguous
    # a flow image's u is channel 0 (then v, magnitude); a stack of L fields: u_1, v_1, u_2, ...
    assert flow_u_channels(None) == (0,) and flow_u_channels(3) == (0, 2, 4)
    # u = +2 px at bound 20 is stored as round(22 * 255 / 40) = 140; mirrored, -2 px: 115 = 255 - 140
    assert 255 - 140 == round(18 * 255 / 40)


def test_cut_masks_follow_the_window():
    """A 20 x 40 mask decoded to 10 x 10: the window (top 5, left 0, side 5) shows rows
    [10, 20) and columns [0, 20) of the original; mirrored, its columns reversed."""
    masks = np.zeros((1, 20, 40), bool)
    masks[0, 10:, :4] = True
    got = cut_masks(masks, Crop("bl", 5, 0), 5, 10)
    assert got.shape == (1, 10, 20) and got[0, :, :4].all() and not got[0, :, 4:].any()
    assert cut_masks(masks, Crop("bl-flip", 5, 0, True), 5, 10)[0, :, -4:].all()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from glimpse.cli import main

    tmp = tmp_path_factory.mktemp("crops")
    data = small_videos(tmp / "videos", frames=8, seed=5)
    feats, run = tmp / "f", tmp / "run"
    assert main(["extract", str(data), str(feats), "--fps", "0", "--quiet"]) == 0
    assert main(["train", str(feats), "--out", str(run), "--model", "soft", "--hidden", "8",
                 "--epochs", "1", "--clip-len", "4", "--stride", "4", "--batch-size", "2",
                 "--quiet"]) == 0
    return data, feats, run


def test_crops_at_scale_one_are_the_whole_frame_and_its_mirror(tmp_path):
    """--crop-scale 1: the centre crop is the whole frame (rgb@c == rgb bit for bit, masks
    too) and c-flip its mirror image, which the backbone sees differently."""
    from glimpse.cli import main
    from glimpse.features.store import FeatureStore

    data = small_videos(tmp_path / "v", frames=4, seed=1, groups=1)
    feats = tmp_path / "f"
    assert main(["extract", str(data), str(feats), "--fps", "0", "--quiet"]) == 0
    assert main(["extract", str(data), str(feats), "--fps", "0", "--crops", "10",
                 "--crop-scale", "1", "--quiet"]) == 0
    store = FeatureStore(feats)
    e = store.entries()[0]
    assert e.crops == layout(10, 256).names and store.crop_layout["decoded_side"] == 256
    c = e.at_crop("c")
    assert np.array_equal(c.stream("rgb"), e.stream("rgb"))
    assert not np.array_equal(e.at_crop("c-flip").stream("rgb"), e.stream("rgb"))
    assert e.at_crop("tl").stream("rgb").shape == e.stream("rgb").shape
    assert main(["store", "verify", str(feats)]) == 0  # the crop arrays' checksums too
    # another layout into the same store is one line
    with pytest.raises(GlimpseError, match="crops of another layout"):
        from glimpse.features.extract import extract

        extract(data, feats, fps=0, crops=5, progress=False)


def test_evaluate_averages_the_crops_scores(trained, tmp_path, capsys):
    """evaluate --crops: every clip's score is the mean of its crops' scores (checked against
    run_clips on each crop), recorded in metrics.json; without crops, one line."""
    from glimpse.cli import main
    from glimpse.evaluate import clip_settings, run_clips
    from glimpse.features.store import FeatureStore
    from glimpse.run import load_run

    data, feats, run = trained
    assert main(["evaluate", str(run), "--crops", "--quiet"]) != 0
    assert "holds no test crops; add them with 'glimpse extract" in capsys.readouterr().err
    assert main(["extract", str(data), str(tmp_path / "nowhere"), "--crops", "5", "--quiet"]) != 0
    assert "is not a store yet: extract the videos without --crops first" in \
        capsys.readouterr().err
    assert main(["extract", str(data), str(feats), "--fps", "0", "--crops", "5", "--quiet"]) == 0
    assert capsys.readouterr().out.startswith("6 extracted, 0 already done")
    assert main(["extract", str(data), str(feats), "--fps", "0", "--crops", "5", "--quiet"]) == 0
    assert capsys.readouterr().out.startswith("0 extracted, 6 already done")  # resumable
    assert main(["evaluate", str(run), "--crops", "--video-rule", "mean", "--quiet"]) == 0
    assert "averaged over 5 crops" in capsys.readouterr().out
    m = json.loads((run / "metrics.json").read_text())
    assert m["crops"] == ["tl", "tr", "bl", "br", "c"]

    loaded = load_run(run)
    store = FeatureStore(feats)
    entries = [store.entry(i) for i in loaded.run.split["test"]]
    per_crop = [run_clips(loaded.model, [e.at_crop(c) for e in entries],
                          **clip_settings(loaded.config)) for c in m["crops"]]
    want = np.stack([np.mean([r[v].clip_scores for r in per_crop], 0).mean(0)
                     for v in range(len(entries))])
    rows = list(csv_rows(run / "predictions_test.csv"))
    got = np.array([[float(r[f"score:{n}"]) for n in loaded.config["labels"]] for r in rows])
    np.testing.assert_allclose(got, want, atol=1e-5)
    whole = run_clips(loaded.model, entries, **clip_settings(loaded.config))
    assert not np.allclose([r.clip_scores for r in whole], [r.clip_scores for r in per_crop[4]])


def csv_rows(path):
    import csv

    with open(path) as f:
        yield from csv.DictReader(f)
