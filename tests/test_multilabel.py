"""Several labels a video: mean AP against scikit-learn, the binary cross-entropy, and a
multi-label store through extract -> train -> evaluate."""

import json
import math

import numpy as np
import pytest
import torch

from glimpse.losses import sequence_binary_cross_entropy
from glimpse.metrics import mean_average_precision


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
    from glimpse.synth import SynthConfig, generate
    from glimpse.synth.scene import Difficulty

    data = tmp_path / "videos"
    generate(data, SynthConfig(classes=2, groups=3, clips_per_group=1, frames=6, width=64,
                               height=64, seed=7, difficulty=Difficulty(distractors=0)),
             jobs=1, progress=False)
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
    (tmp_path / "bad.txt").write_text("nowhere/x.avi a\n")
    capsys.readouterr()
    assert main(["extract", str(data), str(tmp_path / "g"), "--multilabel",
                 str(tmp_path / "bad.txt"), "--quiet"]) == 2
    assert "the dataset lacks" in capsys.readouterr().err
