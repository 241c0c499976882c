import math

import numpy as np
import pytest

from glimpse.evaluate import (
    VideoResult,
    compute_metrics,
    frame_attention,
    video_decision,
)
from glimpse.metrics import (
    attention_scores,
    average_precision,
    confusion_matrix,
    mean_average_precision,
    per_class_accuracy,
    topk_accuracy,
)


def test_topk_and_confusion_golden():
    scores = np.array([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2], [0.2, 0.3, 0.5]])
    labels = np.array([1, 1, 0])
    assert topk_accuracy(scores, labels, 1) == pytest.approx(1 / 3)
    assert topk_accuracy(scores, labels, 2) == pytest.approx(2 / 3)
    conf = confusion_matrix(scores.argmax(1), labels, 3)
    assert conf.tolist() == [[0, 0, 1], [1, 1, 0], [0, 0, 0]]
    pc = per_class_accuracy(conf)
    assert pc[0] == 0 and pc[1] == 0.5 and math.isnan(pc[2])


def test_average_precision_golden():
    # ranks: pos, neg, pos -> precisions 1 and 2/3 at the positives -> AP = 5/6
    assert average_precision(np.array([0.9, 0.8, 0.7]), np.array([1, 0, 1])) == pytest.approx(5 / 6)
    scores = np.array([[0.9, 0.1], [0.8, 0.2], [0.7, 0.3]])
    # class 0: positives at ranks 1, 3 -> 5/6; class 1 (scores .3 .2 .1): one positive at rank 2 -> 1/2
    assert mean_average_precision(scores, np.array([0, 1, 0])) == pytest.approx((5 / 6 + 1 / 2) / 2)


def test_attention_scores_golden():
    att = np.zeros((2, 2, 2))
    att[0] = [[0.7, 0.1], [0.1, 0.1]]  # mostly on cell (0, 0)
    att[1] = 0.25
    actor = np.zeros((2, 2, 2))
    actor[:, 0, 0] = 1.0  # the actor covers cell (0, 0)
    actor[:, 1, 1] = 0.05  # below the 0.1 threshold: not counted
    s = attention_scores(att, actor, 0.1)
    assert s["mass_in_mask"] == pytest.approx((0.7 + 0.25) / 2)
    assert s["uniform_mass_in_mask"] == pytest.approx(0.25)
    # step 1 points at the actor; step 2 is a four-way tie of which one cell is covered: 1/4
    assert s["pointing"] == pytest.approx((1.0 + 0.25) / 2)
    assert s["pointing_chance"] == pytest.approx(0.25)
    ent = -(0.7 * math.log(0.7) + 3 * 0.1 * math.log(0.1))
    assert s["entropy"] == pytest.approx((ent + math.log(4)) / 2)
    assert s["max_entropy"] == pytest.approx(math.log(4))


def test_video_rules():
    clips = np.array([[0.6, 0.4, 0.0], [0.6, 0.4, 0.0], [0.0, 0.1, 0.9]])
    assert video_decision(clips, "vote") == 0  # two clips vote 0
    assert video_decision(clips, "mean") == 0
    tie = np.array([[0.6, 0.4], [0.1, 0.9]])  # one vote each: the larger summed score wins (1)
    assert video_decision(tie, "vote") == 1


def test_frame_attention_averages_overlapping_clips():
    a1 = np.full((4, 1, 1), 1.0)
    a2 = np.full((4, 1, 1), 3.0)
    r = VideoResult(np.zeros((2, 2)), [a1, a2], [None, None])
    r.frames = [np.arange(0, 4), np.arange(2, 6)]  # clips at 0 and 2; frame 6 in no clip
    fa = frame_attention(r, 7)
    assert fa[:, 0, 0][:6].tolist() == [1, 1, 2, 2, 3, 3] and math.isnan(fa[6, 0, 0])


def test_compute_metrics_keys():
    res = [VideoResult(np.array([[0.9, 0.1]]), [np.full((1, 2, 2), 0.25)], [np.ones((1, 2, 2))]),
           VideoResult(np.array([[0.2, 0.8]]), [np.full((1, 2, 2), 0.25)], [np.ones((1, 2, 2))])]
    m, pred, _ = compute_metrics(res, np.array([0, 0]), ["a", "b"], video_rule="vote")
    assert m["top1"] == 0.5 and pred.tolist() == [0, 1] and m["per_class"] == {"a": 0.5, "b": None}
    assert m["attention"]["mass_in_mask"] == pytest.approx(1.0)
