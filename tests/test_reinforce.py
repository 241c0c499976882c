"""Hard attention with REINFORCE (paper 004): reward, log-probabilities and surrogate on hand
examples, where the gradients go, reproducible sampling, deterministic greedy testing, and a
run through the CLI (the reward, baseline error and entropy logged; a resumed run = a straight
one)."""

import math

import pytest
import torch

from glimpse.models import ModelConfig, build_model
from glimpse.models.reinforce import draw_log_prob, episode_reward, reinforce_surrogate
from tests.conftest import small_videos

K, D, C = 3, 5, 4
INPUTS = {"rgb": {"layer": "x", "channels": D, "grid": K}}


def test_reward_golden():
    full = torch.ones(1, 4, dtype=torch.bool)
    # eta = .5: (eta N+ R+ + (1 - eta) N- R-) / N with R+ = 1, R- = -1
    assert float(episode_reward(torch.tensor([[1, 1, 0, 0]]).bool(), full, 0.5)) == 0.0
    assert float(episode_reward(torch.tensor([[1, 1, 1, 0]]).bool(), full, 0.5)) == 0.25
    mask = torch.tensor([[1, 1, 1, 0]]).bool()  # the padded step is not counted
    r = episode_reward(torch.tensor([[1, 0, 0, 1]]).bool(), mask, 0.5)
    assert float(r) == pytest.approx((0.5 * 1 - 0.5 * 2) / 3)
    assert float(episode_reward(torch.tensor([[1, 0]]).bool(), full[:, :2], 0.8)) == \
        pytest.approx((0.8 - 0.2) / 2)


def test_log_prob_of_draws_golden():
    p = torch.tensor([[0.5, 0.3, 0.2]])
    cells = torch.tensor([[0, 1]])
    # without replacement: .5 * (.3 / (1 - .5)) = .3; with: .5 * .3
    assert float(draw_log_prob(p, cells, replacement=False)) == pytest.approx(math.log(0.3))
    assert float(draw_log_prob(p, cells, replacement=True)) == pytest.approx(math.log(0.15))


def test_surrogate_golden_and_its_gradient():
    logp = torch.log(torch.tensor([[0.5, 0.25]])).requires_grad_(True)
    R, b = torch.tensor([1.0]), torch.tensor([[0.2, 0.4]], requires_grad=True)
    acted = torch.ones(1, 2, dtype=torch.bool)
    loss = reinforce_surrogate(logp, R, b, acted)
    assert float(loss) == pytest.approx(-(math.log(0.5) * 0.8 + math.log(0.25) * 0.6))
    loss.backward()
    torch.testing.assert_close(logp.grad, torch.tensor([[-0.8, -0.6]]))
    assert b.grad is None  # the advantage is a constant
    acted[0, 1] = False  # a step where the agent did not act adds nothing
    assert float(reinforce_surrogate(logp, R, b, acted)) == pytest.approx(-math.log(0.5) * 0.8)


def _batch(B=3, T=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {"rgb": torch.rand(B, T, K, K, D, generator=g), "mask": torch.ones(B, T, dtype=torch.bool),
            "label": torch.tensor([0, 1, 3])[:B]}


def _model(**options):
    torch.manual_seed(0)
    return build_model(ModelConfig("reinforce", C, INPUTS, {"hidden": 8, **options}))


def test_policy_learns_from_reinforce_and_the_classifier_from_cross_entropy():
    m = _model(glimpses=2)
    b = _batch()
    terms = m.loss(m(b), b)
    assert {"ce", "reinforce", "baseline_mse", "doubly_stochastic"} <= set(terms)
    terms["reinforce"].backward(retain_graph=True)
    assert m.locate.proj.weight.grad.abs().sum() > 0
    assert m.classify.weight.grad is None  # the head is not trained by the policy's term
    assert m.value.weight.grad is None  # nor the baseline (its own squared error trains it)
    m.zero_grad()
    terms["ce"].backward(retain_graph=True)
    assert m.classify.weight.grad.abs().sum() > 0
    terms["baseline_mse"].backward()
    assert m.value.weight.grad.abs().sum() > 0
    stats = m.stats(m(b), b)
    assert set(stats) == {"reward", "baseline_error", "policy_entropy"}
    assert -1 <= stats["reward"] <= 1 and 0 <= stats["policy_entropy"] <= math.log(K * K) + 1e-6


def test_sampling_is_reproducible_and_greedy_testing_deterministic():
    m = _model(glimpses=2, glimpse_steps=2, samples=1)
    b = _batch()
    torch.manual_seed(5)
    a1 = m(b).attention
    torch.manual_seed(5)
    a2 = m(b).attention
    torch.testing.assert_close(a1, a2)
    assert ((a1 * 2).round() == a1 * 2).all()  # chosen cells: 1/m each
    assert (a1[:, 2:] == a1[:, 1:2]).all()  # after the budget of N = 2 steps, the choice stays
    m.eval()
    torch.testing.assert_close(m(b).scores, m(b).scores)
    sampled = _model(test_samples=3).eval()
    torch.testing.assert_close(sampled(b).scores, sampled(b).scores)  # seeded per evaluation


def test_reinforce_through_the_cli_and_resume(tmp_path):
    import csv
    import json

    from glimpse.cli import main

    data = tmp_path / "videos"
    small_videos(data, frames=8, seed=6)
    feats = tmp_path / "f"
    assert main(["extract", str(data), str(feats), "--fps", "0", "--quiet"]) == 0
    common = ["--model", "reinforce", "--hidden", "8", "--clip-len", "4", "--stride", "2",
              "--batch-size", "2", "--glimpses", "2", "--quiet"]
    assert main(["train", str(feats), "--out", str(tmp_path / "a"), "--epochs", "2", *common]) == 0
    assert main(["train", str(feats), "--out", str(tmp_path / "b"), "--epochs", "1", *common]) == 0
    assert main(["train", str(feats), "--out", str(tmp_path / "b"), "--epochs", "2", *common]) == 0
    rows = list(csv.DictReader(open(tmp_path / "a" / "log.csv")))
    assert {"train_reward", "train_baseline_error", "train_policy_entropy",
            "train_reinforce"} <= set(rows[0])
    for run in ("a", "b"):
        assert main(["evaluate", str(tmp_path / run), "--quiet"]) == 0
    ma, mb = (json.loads((tmp_path / r / "metrics.json").read_text()) for r in ("a", "b"))
    assert ma["top1"] == mb["top1"] and ma["confusion"] == mb["confusion"]
    assert main(["report", str(tmp_path / "a"), "--out", str(tmp_path / "report"),
                 "--videos", "1"]) == 0
    assert (tmp_path / "report" / "assets" / "curves.png").stat().st_size > 0
    keys = ("train_loss", "train_reward", "train_policy_entropy", "val_top1")
    resumed = list(csv.DictReader(open(tmp_path / "b" / "log.csv")))
    assert [[r[k] for k in keys] for r in rows] == [[r[k] for k in keys] for r in resumed]

    # sampled testing of the trained policy, without retraining: recorded, and not taken for the
    # run's own (greedy) metrics afterwards
    from glimpse import GlimpseError
    from glimpse.evaluate import evaluate_run
    from glimpse.run import Run

    assert main(["evaluate", str(tmp_path / "a"), "--test-samples", "3", "--quiet"]) == 0
    sampled = json.loads((tmp_path / "a" / "metrics.json").read_text())
    assert sampled["test_options"] == {"test_samples": 3}
    assert Run(tmp_path / "a").current_metrics("test") is None
    with pytest.raises(GlimpseError, match="hidden cannot change at test time"):
        evaluate_run(tmp_path / "a", options={"hidden": 4}, progress=False)
    assert main(["evaluate", str(tmp_path / "a"), "--quiet"]) == 0
    assert json.loads((tmp_path / "a" / "metrics.json").read_text())["top1"] == ma["top1"]


def test_multilabel_targets_train_the_episodes_with_sigmoids():
    m = _model()
    b = {**_batch(), "targets": torch.tensor([[1.0, 1, 0, 0], [0, 1, 0, 0], [0, 0, 1, 1]])}
    terms = m.loss(m(b), b)
    assert "bce" in terms and "ce" not in terms and torch.isfinite(sum(terms.values()))
