"""RSTAN (paper 001): A-M fusion and the actor-attention term on hand-computed examples, the
precomputed attention against the naive one, the windows, and a run through the CLI."""

import math

import pytest
import torch

from glimpse.losses import actor_attention_penalty, actor_target
from glimpse.models import ModelConfig, build_model
from glimpse.models.attention import PositionCentering
from glimpse.models.rstan import RSTAN, fuse
from tests.conftest import small_videos

K, D, C = 2, 6, 3
INPUTS = {"rgb": {"layer": "x", "channels": D, "grid": K},
          "flow": {"layer": "y", "channels": D + 1, "grid": K}}


def test_fusion_golden():
    a = torch.tensor([0.7, 0.2, 0.1])
    m = torch.tensor([0.1, 0.3, 0.6])
    torch.testing.assert_close(fuse([a, m], "max", False), torch.tensor([0.7, 0.3, 0.6]))
    torch.testing.assert_close(fuse([a, m], "max", True), torch.tensor([0.7, 0.3, 0.6]) / 1.6)
    torch.testing.assert_close(fuse([a, m], "mean", False), torch.tensor([0.4, 0.25, 0.35]))
    torch.testing.assert_close(fuse([a, m], "mean", True), torch.tensor([0.4, 0.25, 0.35]))
    torch.testing.assert_close(fuse([a], "max", True), a)  # one stream: nothing to fuse


def test_actor_target_and_penalty_golden():
    """2 x 2 grid, three steps: (0) an actor covering cells 0 and 1 by >= half -> M = [.5, .5, 0, 0];
    (1) no actor: counts nothing; (2) an actor under half of every cell -> its most covered cell."""
    cov = torch.tensor([[[1.0, 0.6], [0.2, 0.0]],
                        [[0.0, 0.0], [0.0, 0.0]],
                        [[0.3, 0.1], [0.0, 0.0]]])[None]
    torch.testing.assert_close(actor_target(cov)[0].flatten(1),
                               torch.tensor([[.5, .5, 0, 0], [0, 0, 0, 0], [1.0, 0, 0, 0]]))
    alpha = torch.tensor([0.4, 0.3, 0.2, 0.1]).view(1, 1, 2, 2).expand(1, 3, 2, 2)
    # step 0: .1^2 + .2^2 + .2^2 + .1^2 = .10; step 2: .6^2 + .3^2 + .2^2 + .1^2 = .50
    l2 = actor_attention_penalty(alpha, cov)
    assert float(l2) == pytest.approx(0.10 + 0.50)
    ce = actor_attention_penalty(alpha, cov, kind="ce")
    assert float(ce) == pytest.approx(-(0.5 * math.log(0.4) + 0.5 * math.log(0.3)) - math.log(0.4))
    mask = torch.tensor([[True, True, False]])  # a padded step counts nothing
    assert float(actor_attention_penalty(alpha, cov, mask)) == pytest.approx(0.10)


def _batch(B=2, T=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    mask = torch.ones(B, T, dtype=torch.bool)
    mask[-1, 4:] = False
    return {"rgb": torch.randn(B, T, K, K, D, generator=g),
            "flow": torch.randn(B, T, K, K, D + 1, generator=g), "mask": mask,
            "label": torch.tensor([0, 2]), "actor": torch.rand(B, T, K, K, generator=g)}


@pytest.mark.parametrize("options", [{"window": w, **o} for w in ("all", "current", "next")
                                     for o in ({}, {"fusion": "mean", "renormalize": True},
                                               {"stream": "flow"}, {"score_norm": True},
                                               {"center_cells": True})])
def test_precomputed_attention_equals_the_naive_one(options):
    """Every window, two streams or one: the same scores, maps and parameter gradients."""
    cfg = ModelConfig("rstan", C, INPUTS, {"hidden": 8, "att_dim": 5, **options})
    torch.manual_seed(0)
    fast = build_model(cfg)
    naive = RSTAN(num_classes=C, inputs=INPUTS, cfg=fast.cfg, naive=True)
    naive.load_state_dict(fast.state_dict())
    b = _batch()
    a, n = fast(b), naive(b)
    torch.testing.assert_close(a.scores, n.scores, atol=1e-5, rtol=0)
    torch.testing.assert_close(a.attention, n.attention, atol=1e-5, rtol=0)
    torch.testing.assert_close(a.extras["temporal"], n.extras["temporal"], atol=1e-5, rtol=0)
    sum(fast.loss(a, b).values()).backward()
    sum(naive.loss(n, b).values()).backward()
    grads = dict(naive.named_parameters())
    for name, p in fast.named_parameters():
        assert p.grad is not None, name
        torch.testing.assert_close(p.grad, grads[name].grad, atol=1e-5, rtol=1e-4, msg=name)


def test_score_norm_keeps_the_spatial_score_independent_of_the_projections_scale():
    """With score_norm (h = 0) the score is tanh of the layer-normalized A_cv CV + b_a, by hand
    on one cell, and A_cv scaled 10x (weight and bias) leaves it unchanged; without it, the
    same scaling moves the scores."""
    torch.manual_seed(0)
    cube = torch.randn(1, 1, 4, D)
    h = torch.zeros(1, 8)
    scores = {}
    for norm in (False, True):
        m = build_model(ModelConfig("rstan", C, INPUTS, {"hidden": 8, "att_dim": 5,
                                                          "score_norm": norm}))
        att = m.att[0]
        pre = att.A_cv(cube)
        u = pre[0, 0, 0]
        if norm:
            u = (u - u.mean()) / torch.sqrt(u.var(unbiased=False) + 1e-5)
        assert float(att.spatial_logits(pre, h)[0, 0, 0]) == pytest.approx(
            float((torch.tanh(u) * att.v_a).sum()), abs=1e-6)
        before = att.spatial_logits(pre, h)
        with torch.no_grad():
            att.A_cv.weight.mul_(10)
            att.A_cv.bias.mul_(10)
        scores[norm] = (before, att.spatial_logits(att.A_cv(cube), h))
    torch.testing.assert_close(*scores[True], atol=1e-4, rtol=0)
    assert (scores[False][0] - scores[False][1]).abs().max() > 0.1


def test_position_centering_golden():
    """Two videos of two frames on a 2-cell grid, the second video's last frame padded: in
    training each cell's slice minus its position's mean over the valid frames, the running mean
    moved 0.1 of the way to it; in evaluation the running mean is subtracted."""
    x = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]], [[3.0, 2.0], [5.0, 0.0]]],
                      [[[2.0, 5.0], [1.0, 5.0]], [[9.0, 9.0], [9.0, 9.0]]]])  # (B, T, K^2, D)
    valid = torch.tensor([[True, True], [True, False]])
    c = PositionCentering(cells=2, feature_dim=2)
    mean = torch.tensor([[2.0, 3.0], [3.0, 3.0]])  # cell 0: (1,2) (3,2) (2,5); cell 1: ...
    torch.testing.assert_close(c(x, valid), x - mean)
    torch.testing.assert_close(c.running_mean, 0.1 * mean)
    c.eval()
    torch.testing.assert_close(c(x, valid), x - 0.1 * mean)


def test_center_cells_removes_a_signature_every_video_has_at_one_position():
    """The cause of the corner lock (docs/retest/stability.md): a slice that every video holds at
    one cell because of where the cell is. Added to cell 3 of every frame, it moves the first
    step's spatial map (h = 0: the map is the score of the slices alone) without center_cells,
    and leaves it unchanged with it. (Later steps differ through h: the LSTM reads the slices.)"""
    b = _batch()
    marked = {**b, "rgb": b["rgb"].clone(), "flow": b["flow"].clone()}
    marked["rgb"][:, :, 1, 1] += 3.0
    marked["flow"][:, :, 1, 1] += 3.0
    for center in (False, True):
        torch.manual_seed(0)
        m = build_model(ModelConfig("rstan", C, INPUTS, {"hidden": 8, "att_dim": 5,
                                                         "center_cells": center}))
        plain, moved = m(b).extras["spatial"][:, 0], m(marked).extras["spatial"][:, 0]
        if center:
            torch.testing.assert_close(plain, moved, atol=1e-5, rtol=0)
        else:
            assert (plain - moved).abs().max() > 0.01


def test_windows_and_temporal_weights():
    b = _batch(B=1, T=4)
    for window in ("current", "next", "all"):
        m = build_model(ModelConfig("rstan", C, INPUTS, {"hidden": 8, "att_dim": 5,
                                                         "window": window, "gamma_b": 1.0}))
        beta = m(b).extras["temporal"][0]  # (T steps, T frames)
        if window == "current":
            torch.testing.assert_close(beta, torch.eye(4))
        elif window == "next":
            for t in range(4):
                outside = [n for n in range(4) if n not in (t, t + 1)]
                assert float(beta[t, outside].sum()) == 0.0 and float(beta[t, t]) > 0
        else:
            assert (beta > 0).all()
        assert (beta.sum(-1) >= 1 - 1e-5).all() and (beta.sum(-1) <= 2 + 1e-5).all()


def test_max_fused_spatial_weights_are_literal_unless_renormalized():
    b = _batch()
    literal = build_model(ModelConfig("rstan", C, INPUTS, {"hidden": 8, "att_dim": 5}))
    out = literal(b)
    sums = out.extras["spatial"].sum((2, 3))
    assert (sums > 1 + 1e-4).any() and (sums <= 2 + 1e-5).all()  # max of two distributions
    torch.testing.assert_close(out.attention.sum((2, 3)), torch.ones_like(sums))
    renorm = build_model(ModelConfig("rstan", C, INPUTS, {"hidden": 8, "att_dim": 5,
                                                          "renormalize": True}))
    torch.testing.assert_close(renorm(b).extras["spatial"].sum((2, 3)), torch.ones_like(sums))


def test_actor_attention_term_trains_the_attention():
    m = build_model(ModelConfig("rstan", C, INPUTS, {"hidden": 8, "att_dim": 5}))
    assert m.needs_actor and m.prediction == "last" and m.sampling == "uniform"
    b = _batch()
    terms = m.loss(m(b), b)
    assert set(terms) == {"ce", "actor_attention"}
    terms["actor_attention"].backward()
    assert m.att[0].A_cv.weight.grad.abs().sum() > 0 and m.att[1].v_a.grad.abs().sum() > 0
    assert m.heads[0].weight.grad is None or m.heads[0].weight.grad.abs().sum() == 0
    no_masks = {k: v for k, v in b.items() if k != "actor"}
    assert set(m.loss(m(no_masks), no_masks)) == {"ce"}
    baseline = build_model(ModelConfig("rstan", C, INPUTS, {"hidden": 8, "attention": False}))
    assert not baseline.needs_actor and baseline(b).attention is None


def test_rstan_through_the_cli(tmp_path):
    """synth -> extract rgb + flow -> train rstan (uniform clips, 4 frames; 6 at evaluation) ->
    evaluate -> predict with an overlay -> report."""
    from glimpse.cli import main

    data = tmp_path / "videos"
    small_videos(data, frames=8, seed=4)
    feats, run = tmp_path / "f", tmp_path / "run"
    assert main(["extract", str(data), str(feats), "--fps", "0", "--streams", "rgb,flow",
                 "--flow-preset", "ultrafast", "--quiet"]) == 0
    assert main(["train", str(feats), "--out", str(run), "--model", "rstan", "--hidden", "8",
                 "--att-dim", "8", "--epochs", "2", "--clip-len", "4", "--eval-clip-len", "6",
                 "--batch-size", "2", "--quiet"]) == 0
    import json

    cfg = json.loads((run / "config.json").read_text())
    assert cfg["train"]["sampling"] == "uniform" and cfg["model"]["options"]["stream"] == "rgb+flow"
    assert "train_actor_attention" in (run / "log.csv").read_text().splitlines()[0]
    assert main(["evaluate", str(run), "--quiet"]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["num_clips"] == metrics["num_videos"] and metrics["clip_rule"] == "last"
    assert "attention" in metrics
    assert main(["evaluate", str(run), "--temporal-views", "--video-rule", "vote", "--quiet"]) == 0
    assert json.loads((run / "metrics.json").read_text())["video_rule"] == "vote"
    assert main(["evaluate", str(run), "--temporal-views", "--quiet"]) == 0  # averaged by default
    views = json.loads((run / "metrics.json").read_text())
    assert views["views"] == ["first-2/3", "last-2/3", "whole"] and views["video_rule"] == "mean"
    assert views["num_clips"] == 3 * views["num_videos"]
    assert main(["evaluate", str(run), "--quiet"]) == 0
    video = next(data.rglob("*.avi"))
    assert main(["predict", str(run),
                 str(video), "--overlay", str(tmp_path / "o.gif")]) == 0
    assert (tmp_path / "o.gif").stat().st_size > 0
    run_rgb = tmp_path / "run-rgb"
    assert main(["train", str(feats), "--out", str(run_rgb), "--model", "rstan", "--stream", "rgb",
                 "--hidden", "8", "--att-dim", "8", "--epochs", "1", "--clip-len", "4",
                 "--batch-size", "2", "--quiet"]) == 0
    assert main(["fuse", str(run), str(run_rgb), "--out", str(tmp_path / "fused")]) == 0
    fused = json.loads((tmp_path / "fused" / "metrics.json").read_text())
    assert fused["num_videos"] == metrics["num_videos"]
    assert main(["compare", str(tmp_path / "fused"), str(run), "--video-rule", "mean"]) == 0
    assert main(["report", str(run), "--out", str(tmp_path / "report"), "--videos", "1"]) == 0
    assert list((tmp_path / "report" / "assets").glob("video_000_temporal_0.png"))
    assert "temporal weights" in (tmp_path / "report" / "index.html").read_text()
