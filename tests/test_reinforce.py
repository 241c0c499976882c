"""Hard attention with REINFORCE (paper 004): reward, log-probabilities, surrogate and baselines
on hand examples, where the gradients go, reproducible sampling, deterministic greedy testing,
forced glimpses, a learning test that fails under the old settings, and a run through the CLI
(the reward, baseline error, entropy and on-actor rate logged; a resumed run = a straight
one)."""

import math

import pytest
import torch

from glimpse import GlimpseError
from glimpse.losses import episode_reward, leave_one_out, reinforce_surrogate, reward_to_go
from glimpse.models import ModelConfig, build_model
from glimpse.models.reinforce import draw_log_prob, forced_cells
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


def test_reward_to_go_and_leave_one_out_golden():
    # right, wrong, right, right at eta 0.5: r = (.5, -.5, .5, .5), sums from each step / N = 4
    R = reward_to_go(torch.tensor([[1, 0, 1, 1]]).bool(), torch.ones(1, 4, dtype=torch.bool), 0.5)
    torch.testing.assert_close(R, torch.tensor([[0.25, 0.125, 0.25, 0.125]]))
    assert float(R[0, 0]) == float(episode_reward(torch.tensor([[1, 0, 1, 1]]).bool(),
                                                  torch.ones(1, 4, dtype=torch.bool), 0.5))
    # a padded last step adds nothing and N = 3: (.5 - .5 + .5) / 3 ...
    R = reward_to_go(torch.tensor([[1, 0, 1, 1]]).bool(), torch.tensor([[1, 1, 1, 0]]).bool(), 0.5)
    torch.testing.assert_close(R, torch.tensor([[0.5, 0.0, 0.5, 0.0]]) / 3)
    # three episodes of one clip: each one's baseline is the mean of the other two's returns
    torch.testing.assert_close(leave_one_out(torch.tensor([[1.0], [0.0], [0.5]])),
                               torch.tensor([[0.25], [0.75], [0.5]]))


def test_entropy_baseline_error_and_entropy_bonus_golden():
    from glimpse.losses import baseline_error, entropy_bonus, policy_entropy

    H = policy_entropy(torch.tensor([[0.5, 0.5, 0.0], [1.0, 0.0, 0.0]]))
    torch.testing.assert_close(H, torch.tensor([math.log(2), 0.0]))
    acted = torch.tensor([[True, True, False]])
    err = baseline_error(torch.tensor([[0.5, 0.0, 9.0]]), torch.tensor([[1.0, 1.0, 1.0]]), acted)
    torch.testing.assert_close(err, torch.tensor([[0.25, 1.0, 0.0]]))  # not where it did not act
    bonus = entropy_bonus(torch.tensor([[1.0, 2.0, 4.0], [0.5, 0.5, 0.5]]),
                          torch.tensor([[True, True, False], [True, False, False]]), 0.1)
    assert float(bonus) == pytest.approx(-0.1 * (3.0 + 0.5) / 2)


def test_policy_learns_from_reinforce_and_the_classifier_from_cross_entropy():
    m = _model(glimpses=2)
    b = _batch()
    terms = m.loss(m(b), b)
    assert {"ce", "reinforce", "baseline_mse"} <= set(terms)
    assert "doubly_stochastic" not in terms  # lambda = 0 by default
    terms["reinforce"].backward(retain_graph=True)
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in m.locate.parameters())
    assert m.classify.weight.grad is None  # the head is not trained by the policy's term
    assert m.value.weight.grad is None  # nor the baseline (its own squared error trains it)
    assert all(p.grad is None for p in m.lstm.parameters())  # nor the LSTM: the state is detached
    m.zero_grad()
    terms["ce"].backward(retain_graph=True)
    assert m.classify.weight.grad.abs().sum() > 0
    terms["baseline_mse"].backward()
    assert m.value.weight.grad.abs().sum() > 0
    stats = m.stats(m(b), b)
    assert set(stats) == {"reward", "baseline_error", "policy_entropy"}  # no masks: no on-actor
    assert -1 <= stats["reward"] <= 1 and 0 <= stats["policy_entropy"] <= math.log(K * K) + 1e-6
    attached = _model(glimpses=2, detach=False, lam=1.0)
    terms = attached.loss(attached(b), b)
    assert "doubly_stochastic" in terms
    terms["reinforce"].backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in attached.lstm.parameters())


def test_the_baseline_reads_the_state_that_drew_the_cell():
    """b_1 comes from h0 (zeros: the bias alone), not from the state after the first glimpse."""
    m = _model()
    b = _batch()
    out = m(b)
    r = m._reinforce(out, b)
    torch.testing.assert_close(r["b"][:, 0], m.value.bias.expand(r["b"].shape[0]))
    assert not torch.allclose(r["b"][:, 1], r["b"][:, 0])


def test_episodes_of_a_clip_share_their_dropout_masks():
    """Looking at every cell, every episode sees the same input: with shared dropout masks their
    scores are equal."""
    m = _model(glimpses=K * K, dropout=0.5, samples=3)
    out = m(_batch())
    s = out.extras["episode_scores"]
    torch.testing.assert_close(s[0], s[1])
    torch.testing.assert_close(s[0], s[2])


def test_leave_one_out_baseline_and_reward_to_go_train():
    m = _model(baseline="loo", reward="to-go", samples=3)
    assert m.value is None
    b = _batch()
    out = m(b)
    terms = m.loss(out, b)
    assert "baseline_mse" not in terms and torch.isfinite(terms["reinforce"])
    R = m._reinforce(out, b)["R"]
    assert R.shape == (3 * 3, 4) and not torch.allclose(R[:, 0], R[:, -1])
    with pytest.raises(GlimpseError, match="leave-one-out"):
        _model(baseline="loo", samples=1)


def test_policy_lr_entropy_annealing_and_runs_saved_before():
    m = _model(policy_lr=0.1, entropy=0.2)
    groups = m.param_groups(1e-3)
    assert [g["lr"] for g in groups] == [1e-3, 0.1]
    assert {id(p) for p in groups[1]["params"]} == {id(p) for p in m.locate.parameters()}
    assert sum(len(g["params"]) for g in groups) == len(list(m.parameters()))
    m.set_epoch(0, 4)
    assert m.entropy_weight == pytest.approx(0.2)
    m.set_epoch(3, 4)
    assert m.entropy_weight == pytest.approx(0.05)
    b = _batch()
    assert "entropy_bonus" in m.loss(m(b), b)
    # a run saved before init / detach existed trained paper 002's initial state, undetached
    old = ModelConfig.from_dict({"name": "reinforce", "num_classes": C, "inputs": INPUTS,
                                 "options": {"hidden": 8, "baseline": False}})
    model = build_model(old)
    assert model.cfg.init == "mean" and model.init_h is not None and not model.cfg.detach
    assert model.cfg.baseline == "none" and model.value is None
    assert model.cfg.policy == "learned"  # and chose from the state alone


def test_forced_cells_golden():
    g = torch.Generator().manual_seed(0)
    cover = torch.tensor([[0.0, 0.2, 0.9, 0.0, 0.6, 0.0, 0.0, 0.0, 0.1]])
    assert forced_cells("actor", 2, 3, 1, cover, g).tolist() == [[2, 4]]
    assert forced_cells("background", 1, 3, 1, cover, g)[0, 0] in (0, 3, 5, 6, 7)
    assert forced_cells("centre", 1, 3, 2, None, g).tolist() == [[4], [4]]
    r1 = forced_cells("random", 2, 3, 4, None, torch.Generator().manual_seed(1))
    r2 = forced_cells("random", 2, 3, 4, None, torch.Generator().manual_seed(1))
    assert r1.shape == (4, 2) and torch.equal(r1, r2) and (r1[:, 0] != r1[:, 1]).all()
    with pytest.raises(GlimpseError, match="actor masks"):
        forced_cells("actor", 1, 3, 1, None, g)
    m = _model(force="centre").eval()
    att = m(_batch()).attention.flatten(2)
    assert (att[..., 4] == 1).all()


# A tiny task where the label is written in one cell of otherwise uninformative cubes: the
# agent learns only by looking there (h0 = 0 hands the classifier nothing).
TK, TD, TC, TT, CELL = 3, 6, 3, 4, 7


def _label_in_one_cell(g, B=32):
    x = torch.randn(B, TT, TK * TK, TD, generator=g)
    y = torch.randint(0, TC, (B,), generator=g)
    x[:, :, CELL, :TC] += 3 * torch.nn.functional.one_hot(y, TC)[:, None].float()
    return {"rgb": x.view(B, TT, TK, TK, TD), "mask": torch.ones(B, TT, dtype=torch.bool),
            "label": y}


def _share_on_the_cell(make, steps: int, options: dict) -> tuple[float, float]:
    """Train ``steps`` Adam steps (lr 1e-2) on batches of ``make(generator, B)`` -> (batch,
    the label's cell (B, T)) -> (the greedy policy's share of glimpses on the label's cell,
    clip accuracy) on 256 new clips."""
    torch.manual_seed(0)
    m = build_model(ModelConfig("reinforce", TC, {"rgb": {"layer": "x", "channels": TD,
                                                          "grid": TK}},
                                {"hidden": 16, "layers": 1, "dropout": 0.0, **options}))
    opt = torch.optim.Adam(m.param_groups(1e-2), lr=1e-2)
    g = torch.Generator().manual_seed(1)
    for _ in range(steps):
        b, _ = make(g, 32)
        loss = sum(m.loss(m(b), b).values())
        opt.zero_grad()
        loss.backward()
        opt.step()
    m.eval()
    b, cell = make(torch.Generator().manual_seed(2), 256)
    with torch.no_grad():
        out = m(b)
    return (float(out.attention.flatten(2).gather(2, cell[..., None]).mean()),
            float((out.scores.mean(1).argmax(-1) == b["label"]).float().mean()))


def _share_on_the_label_cell(steps=200, **options) -> tuple[float, float]:
    def fixed(g, B):
        b = _label_in_one_cell(g, B)
        return b, torch.full((B, TT), CELL)

    return _share_on_the_cell(fixed, steps, options)


def test_the_policy_learns_to_look_where_the_label_is():
    share, acc = _share_on_the_label_cell()
    assert share >= 0.9 and acc >= 0.9  # chance: 1/9 of the glimpses, 1/3 of the clips


@pytest.mark.parametrize("old", [{"lam": 1.0, "policy": "learned"},  # paper 002's penalty
                                 {"lam": 1.0, "samples": 2, "init": "mean", "detach": False,
                                  "policy": "learned"}])
def test_under_the_old_settings_the_policy_does_not_learn_it(old):
    share, _ = _share_on_the_label_cell(**old)
    assert share < 0.9


def test_content_policy_golden():
    from glimpse.models.attention import ContentSoftmax

    m = ContentSoftmax(query=2, feature_dim=3, dim=2, cells=2)
    with torch.no_grad():
        m.W_x.weight.copy_(torch.tensor([[1.0, 0, 0], [0, 1, 0]]))
        m.W_x.bias.zero_()
        m.W_h.weight.copy_(torch.tensor([[0.5, 0], [0, 0]]))
        m.v.copy_(torch.tensor([1.0, -1.0]))
        m.W_l.weight.copy_(torch.tensor([[0.0, 0.1], [0.0, 0.0]]))
        m.W_l.bias.copy_(torch.tensor([0.0, 0.3]))
    cube = torch.tensor([[[1.0, 0, 9], [0, 1, 9]]])  # 2 cells; the third channel is unread
    h = torch.tensor([[2.0, 7.0]])
    # location: (0.7, 0.3); content: cell 0 tanh(1 + 1) - tanh(0), cell 1 tanh(0 + 1) - tanh(1)
    s0, s1 = 0.7 + math.tanh(2.0), 0.3 + 0.0
    want = torch.softmax(torch.tensor([[s0, s1]]), -1)
    torch.testing.assert_close(m(h, m.cells(cube)), want)


# The label's cell moves from clip to clip and step to step, and a marker in its slice says
# where it is: only a policy that reads the cells can follow it.
def _label_in_a_moving_cell(g, B=32):
    x = torch.randn(B, TT, TK * TK, TD, generator=g)
    y = torch.randint(0, TC, (B,), generator=g)
    cell = torch.randint(0, TK * TK, (B, TT), generator=g)
    mark = torch.cat([3 * torch.nn.functional.one_hot(y, TC).float(),
                      torch.full((B, TD - TC), 3.0)], -1)  # the label, then the marker
    x.scatter_add_(2, cell[..., None, None].expand(B, TT, 1, TD),
                   mark[:, None, None].expand(B, TT, 1, TD))
    return {"rgb": x.view(B, TT, TK, TK, TD), "mask": torch.ones(B, TT, dtype=torch.bool),
            "label": y}, cell


def _share_on_the_moving_cell(steps=150, **options) -> tuple[float, float]:
    return _share_on_the_cell(_label_in_a_moving_cell, steps, options)


def test_a_content_policy_follows_what_moves_and_a_location_policy_cannot():
    share, acc = _share_on_the_moving_cell(policy="content")
    assert share >= 0.9 and acc >= 0.9  # measured: 1.00, 1.00
    share, acc = _share_on_the_moving_cell(policy="learned")  # paper 002's softmax: only h
    assert share < 0.3 and acc < 0.8  # measured: 0.11 (chance 1/9), 0.54


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
            "train_policy_on_actor", "train_reinforce"} <= set(rows[0])
    assert 0 <= float(rows[-1]["train_policy_on_actor"]) <= 1
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
    assert main(["evaluate", str(tmp_path / "a"), "--force-glimpse", "actor", "--quiet"]) == 0
    forced = json.loads((tmp_path / "a" / "metrics.json").read_text())
    assert forced["test_options"] == {"force": "actor"}
    assert forced["attention"]["pointing"] == pytest.approx(1.0)  # every glimpse on the actor
    assert main(["evaluate", str(tmp_path / "a"), "--quiet"]) == 0
    assert json.loads((tmp_path / "a" / "metrics.json").read_text())["top1"] == ma["top1"]


def test_multilabel_targets_train_the_episodes_with_sigmoids():
    m = _model()
    b = {**_batch(), "targets": torch.tensor([[1.0, 1, 0, 0], [0, 1, 0, 0], [0, 0, 1, 1]])}
    terms = m.loss(m(b), b)
    assert "bce" in terms and "ce" not in terms and torch.isfinite(sum(terms.values()))
