"""Several labels a video: mean AP against scikit-learn, the binary cross-entropy, and a
multi-label store through extract -> train -> evaluate."""

import json
import math

import numpy as np
import pytest
import torch

from glimpse.losses import sequence_binary_cross_entropy
from glimpse.metrics import mean_average_precision
from tests.conftest import small_videos


def test_mean_ap_matches_scikit_learn():
    from sklearn.metrics import average_precision_score

    rng = np.random.default_rng(0)
    scores = rng.random((60, 5))
    truth = (rng.random((60, 5)) < 0.3).astype(int)
    truth[0] = 1  # every class has a positive
    want = np.mean([average_precision_score(truth[:, c], scores[:, c]) for c in range(5)])
    assert mean_average_precision(scores, truth) == pytest.approx(want, abs=1e-12)
    single = rng.integers(0, 5, 60)  # one label a video: the same definition
    onehot = np.eye(5)[single]
    assert mean_average_precision(scores, single) == pytest.approx(
        np.mean([average_precision_score(onehot[:, c], scores[:, c]) for c in range(5)]))


def test_binary_cross_entropy_golden():
    scores = torch.zeros(2, 3, 4)  # sigmoid 1/2 everywhere: log 2 per class and step
    targets = torch.tensor([[1.0, 0, 1, 0], [0, 0, 0, 1]])
    mask = torch.tensor([[True, True, True], [True, False, False]])
    # clip 0: 3 steps x log 2, clip 1: 1 step -> mean 2 log 2
    assert float(sequence_binary_cross_entropy(scores, targets, mask)) == \
        pytest.approx(2 * math.log(2))


def test_multilabel_store_through_the_cli(tmp_path, capsys):
    from glimpse.cli import main
    from glimpse.features.store import FeatureStore

    data = tmp_path / "videos"
    small_videos(data, frames=6, seed=7)
    videos = sorted(p.relative_to(data).as_posix() for p in data.rglob("*.avi"))
    classes = sorted({v.split("/")[0] for v in videos})
    lines = [f"{v} {classes[1]}" for v in videos if v.startswith(classes[0])][:2]
    (tmp_path / "labels.txt").write_text("# two videos carry both actions\n" + "\n".join(lines))
    feats = tmp_path / "f"
    assert main(["extract", str(data), str(feats), "--fps", "0", "--multilabel",
                 str(tmp_path / "labels.txt"), "--quiet"]) == 0
    store = FeatureStore(feats)
    assert store.multilabel
    both = [e for e in store.entries() if len(e.label_indices) == 2]
    assert len(both) == 2 and both[0].meta["labels"] == classes
    run = tmp_path / "run"
    assert main(["train", str(feats), "--out", str(run), "--model", "avgpool", "--hidden", "8",
                 "--epochs", "1", "--clip-len", "6", "--batch-size", "2", "--quiet"]) == 0
    assert json.loads((run / "config.json").read_text())["multilabel"] is True
    assert "train_bce" in (run / "log.csv").read_text().splitlines()[0]
    assert main(["evaluate", str(run), "--video-rule", "mean", "--quiet"]) == 0
    m = json.loads((run / "metrics.json").read_text())
    assert m["multilabel"] is True and 0 <= m["mAP"] <= 1
    assert {"hit@3", "mAP_interpolated", "top1_first_label"} <= set(m)
    (tmp_path / "bad.txt").write_text("nowhere/x.avi a\n")
    capsys.readouterr()
    assert main(["extract", str(data), str(tmp_path / "g"), "--multilabel",
                 str(tmp_path / "bad.txt"), "--quiet"]) == 2
    assert "the dataset lacks" in capsys.readouterr().err


def test_activitynet_interpolated_ap_and_hit_at_3_golden():
    from glimpse.metrics import (
        activitynet_map,
        hit_at_k,
        interpolated_average_precision,
    )

    s = np.array([0.9, 0.8, 0.7, 0.6])
    # ranked hits [0, 1, 1, 0]: precision 0, 1/2, 2/3, 1/2 at recall 0, 1/2, 1, 1; the envelope
    # is 2/3 up to recall 1: AP = 1/2 * 2/3 + 1/2 * 2/3 (the plain AP would be (1/2 + 2/3) / 2)
    assert interpolated_average_precision(s, np.array([0, 1, 1, 0])) == pytest.approx(2 / 3)
    assert interpolated_average_precision(s, np.array([1, 0, 1, 0])) == pytest.approx(5 / 6)
    assert math.isnan(interpolated_average_precision(s, np.zeros(4)))
    scores = np.stack([s, s[::-1]], 1)  # class 1 ranks the videos the other way round
    truth = np.array([[0, 1], [1, 0], [1, 0], [0, 1]])
    # class 1 ranks hits [1, 0, 0, 1]: envelope 1 to recall 1/2, then 1/2: AP 3/4
    assert activitynet_map(scores, truth) == pytest.approx((2 / 3 + 3 / 4) / 2)
    top = np.array([[0.5, 0.3, 0.1, 0.06, 0.04], [0.5, 0.3, 0.1, 0.06, 0.04]])
    assert hit_at_k(top, np.array([[0, 0, 0, 1, 0], [0, 0, 1, 0, 1]]), 3) == 0.5


def test_activitynet_json_segments_and_training_clips(tmp_path, capsys):
    """The v1.3 JSON: training / validation subsets -> official split 1, every label, the
    segments; training clips are cut only inside the segments; videos not found are listed;
    the testing subset is extracted without labels and scored into the server's results
    file."""
    from glimpse.cli import main
    from glimpse.datasets.formats import read_format
    from glimpse.features.clips import ClipDataset
    from glimpse.features.store import FeatureStore
    from glimpse.video import write_video

    root = tmp_path / "videos"
    root.mkdir()
    rng = np.random.default_rng(0)
    for vid in ("aaa", "bbb", "ccc", "ddd"):
        write_video(root / f"v_{vid}.mp4" if vid == "bbb" else root / f"{vid}.mp4",
                    rng.integers(0, 255, (20, 32, 32, 3), dtype=np.uint8), fps=10)
    db = {"aaa": {"subset": "training", "duration": 2.0, "annotations": [
              {"segment": [0.5, 1.0], "label": "Long jump"}, {"segment": [1.5, 1.9], "label": "Shot put"}]},
          "bbb": {"subset": "validation", "duration": 2.0, "annotations": [
              {"segment": [0.0, 1.0], "label": "Shot put"}]},
          "ccc": {"subset": "training", "duration": 2.0, "annotations": [
              {"segment": [0.2, 0.8], "label": "Long jump"}]},
          "gone": {"subset": "training", "duration": 5.0, "annotations": [
              {"segment": [0.0, 1.0], "label": "Shot put"}]},
          "hidden": {"subset": "testing", "duration": 3.0, "annotations": []},
          "ddd": {"subset": "testing", "duration": 2.0, "annotations": []}}
    (tmp_path / "anet.json").write_text(json.dumps({"version": "VERSION 1.3", "database": db}))
    ds = read_format("activitynet", root, tmp_path / "anet.json")
    assert ds.labels["aaa.mp4"] == ["Long jump", "Shot put"] and ds.missing == ["gone", "hidden"]
    assert ds.splits["ddd.mp4"] == {"1": "unlabelled"} and ds.labels["ddd.mp4"] == []
    assert ds.splits["v_bbb.mp4"] == {"1": "test"} and ds.segments["aaa.mp4"][1] == [1.5, 1.9]
    feats = tmp_path / "f"
    assert main(["extract", str(root), str(feats), "--format", "activitynet", "--annotations",
                 str(tmp_path / "anet.json"), "--fps", "0", "--quiet"]) == 0
    assert json.loads((feats / "missing.json").read_text()) == ["gone", "hidden"]
    assert f"2 annotated videos are not under {root}: gone, hidden (all in " in \
        capsys.readouterr().out
    store = FeatureStore(feats)
    e = store.entry(next(x.id for x in store.entries() if x.meta["path"] == "aaa.mp4"))
    clips = ClipDataset([e], 3, 1, segments=True)
    frames = sorted({int(f) for i in range(len(clips)) for f in clips.frames(i)})
    assert frames == list(range(5, 11)) + list(range(15, 20))  # 0.5-1.0 s and 1.5-1.9 s at 10 fps
    # evaluate on the official split reports the temporal overlap beside the mAP
    run = tmp_path / "run"
    assert main(["train", str(feats), "--out", str(run), "--split", "1", "--model", "avgpool",
                 "--hidden", "8", "--epochs", "1", "--clip-len", "4", "--stride", "2",
                 "--batch-size", "2", "--quiet"]) == 0
    assert main(["evaluate", str(run), "--quiet", "--activitynet-json",
                 str(tmp_path / "val.json")]) == 0
    m = json.loads((run / "metrics.json").read_text())
    assert m["segments"]["videos"] == 1 and 0 <= m["segments"]["mean_tiou"] <= 1
    assert list(json.loads((tmp_path / "val.json").read_text())["results"]) == ["bbb"]
    # the testing subset: never trained on, scored without metrics, in the server's format
    split = json.loads((run / "split.json").read_text())
    ddd = next(x.id for x in store.entries() if x.meta["path"] == "ddd.mp4")
    assert split["unlabelled"] == [ddd] and ddd not in split["train"] + split["val"] + \
        split["test"]
    assert store.entry(ddd).label is None and store.entry(ddd).label_index == -1
    capsys.readouterr()
    assert main(["evaluate", str(run), "--split", "unlabelled", "--activitynet-json",
                 str(tmp_path / "test.json"), "--quiet"]) == 0
    assert "1 videos, labels withheld): no metrics" in capsys.readouterr().out
    sub = json.loads((tmp_path / "test.json").read_text())
    assert sub["version"] == "VERSION 1.3" and sub["external_data"]["used"] is True
    got = sub["results"]["ddd"]
    assert sorted(r["label"] for r in got) == ["Long jump", "Shot put"]
    assert 1 >= got[0]["score"] >= got[1]["score"] >= 0  # sigmoid scores, highest first
    assert json.loads((run / "metrics.json").read_text()) == m  # the test metrics stay
    rows = (run / "predictions_unlabelled.csv").read_text().splitlines()
    assert len(rows) == 2 and rows[1].startswith("ddd.mp4,,")


def test_temporal_iou_golden():
    from glimpse.metrics import temporal_iou

    # found joins to [0, 3); truth [2, 5): both 1 s, either 5 s
    assert temporal_iou([(0, 2), (1, 3)], [(2, 5)]) == pytest.approx(0.2)
    # two truth spans, one found inside each: (0.5 + 1) / (1 + 2)
    assert temporal_iou([(0.5, 1.0), (4, 5)], [(0, 1), (3, 5)]) == pytest.approx(1.5 / 3)
    assert temporal_iou([], [(0, 1)]) == 0.0 and temporal_iou([], []) == 0.0
    assert temporal_iou([(0, 1)], [(0, 1)]) == 1.0


def test_segment_overlap_of_clips_that_fire():
    """Clips of 2 frames at 10 fps; the video's class scores 0.9 on clips 2-3 (frames 4-7:
    0.4-0.8 s) and 0.1 elsewhere: found [0.4, 0.8) against the annotated [0.4, 1.0): 2/3."""
    from types import SimpleNamespace

    from glimpse.evaluate import VideoResult, segment_overlap

    scores = np.array([[0.9, 0.1], [0.9, 0.1], [0.1, 0.9], [0.1, 0.9], [0.9, 0.1]])
    frames = [np.array([2 * q, 2 * q + 1]) for q in range(5)]
    r = VideoResult(scores, [None] * 5, [None] * 5, frames=frames)
    e = SimpleNamespace(meta={"segments": [[0.4, 1.0]]}, times=np.arange(10) / 10,
                        label_indices=[1])
    got = segment_overlap([r], [e])
    assert got["videos"] == 1 and got["mean_tiou"] == pytest.approx(2 / 3)
    assert got["tiou>=0.5"] == 1.0 and "not a detection mAP" in got["metric"]
    assert segment_overlap([r], [SimpleNamespace(meta={}, times=None, label_indices=[0])]) is None
