import math

import pytest
import torch

from glimpse import GlimpseError
from glimpse.losses import (
    doubly_stochastic_penalty,
    l21_block_penalty,
    paper_blocks,
    sequence_cross_entropy,
)
from glimpse.models import MODELS, ModelConfig, ModelOutput, build_model, model_options
from glimpse.models.output import check_rule, clip_score

B, T, K, D, C = 3, 5, 4, 16, 6
INPUTS = {"rgb": {"layer": "x", "channels": D, "grid": K},
          "rgb_pooled": {"layer": "x", "channels": D, "pooled": "spatial mean"},
          "flow": {"layer": "x", "channels": D - 4, "grid": K},
          "rgb_level2": {"layer": "z", "channels": 5, "grid": K}}
VARIANTS = [(n, {}) for n in MODELS] + [("structured", {"frame_aware": True})] + \
    [("rstan", {"stream": "flow", "window": "current"}), ("rstan", {"attention": False}),
     ("rstan", {"fusion": "mean", "renormalize": True, "window": "next"}),
     ("joint", {"fusion": "late"}), ("joint", {"pyramid": False}), ("joint", {"conv3d": False}),
     ("joint", {"pyramid_norm": "sum", "kernel_t": 1, "head_fc": 2}),
     ("joint", {"stream": "rgb_level2", "layers": 1}),
     ("reinforce", {"glimpses": 2, "glimpse_steps": 3, "entropy": 0.1}),
     ("reinforce", {"replacement": True, "pool": "mean", "baseline": False, "test_samples": 2}),
     ("reinforce", {"init": "mean", "where": True, "detach": False, "baseline": "loo",
                    "reward": "to-go", "lam": 1.0}),
     ("reinforce", {"policy": "uniform"}), ("reinforce", {"policy": "content", "policy_dim": 5}),
     ("soft", {"scoring": "content", "scoring_dim": 5})]


def _model(name, **options):
    # K = 4 here: 2 x 2 blocks of side 2 (the default N = 4 would give side 1, which is refused)
    small = {k: v for k, v in {"hidden": 8, "block_count": 2, "att_dim": 6, "width": 4}.items()
             if k in model_options(name)}
    return build_model(ModelConfig(name, C, INPUTS, {**small, **options}))


def _batch(seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(B, T, K, K, D, generator=g)
    mask = torch.ones(B, T, dtype=torch.bool)
    mask[1, 3:] = False  # a short video, padded
    return {"rgb": x, "rgb_pooled": x.mean((2, 3)), "mask": mask,
            "flow": torch.randn(B, T, K, K, D - 4, generator=g), "label": torch.tensor([0, 1, 2]),
            "rgb_level2": torch.rand(B, T, K, K, 5, generator=g)}


@pytest.mark.parametrize("name,options", VARIANTS)
def test_shapes_and_attention_is_a_distribution(name, options):
    model = _model(name, **options)
    out = model(_batch())
    assert isinstance(out, ModelOutput) and out.scores.shape == (B, T, C)
    assert set(model.streams) <= set(INPUTS) and isinstance(model.needs_actor, bool)
    check_rule(model.prediction)
    if out.attention is not None:
        assert out.attention.shape == (B, T, K, K)
        torch.testing.assert_close(out.attention.sum((2, 3)), torch.ones(B, T))
        assert (out.attention >= 0).all()


@pytest.mark.parametrize("name,options", VARIANTS)
def test_every_parameter_gets_a_finite_gradient_from_the_models_own_loss(name, options):
    torch.manual_seed(0)
    model = _model(name, **options)
    batch = _batch()
    terms = model.loss(model(batch), batch)
    assert "ce" in terms and all(t.dim() == 0 for t in terms.values())
    loss = sum(terms.values())
    loss.backward()
    assert torch.isfinite(loss)
    for pname, p in model.named_parameters():
        assert p.grad is not None, f"{pname} got no gradient"
        assert torch.isfinite(p.grad).all(), f"{pname} has a non-finite gradient"
        assert p.grad.abs().sum() > 0, f"{pname} has an all-zero gradient"


@pytest.mark.parametrize("name", list(MODELS))
def test_padded_steps_do_not_change_valid_outputs(name):
    model = _model(name).eval()
    batch = _batch()
    with torch.no_grad():
        o1 = model(batch)
        batch["rgb"] = batch["rgb"].clone()
        batch["rgb"][1, 3:] = 100.0
        o2 = model(batch)
    torch.testing.assert_close(o1.scores[1, :3], o2.scores[1, :3])
    if o1.attention is not None:
        torch.testing.assert_close(o1.attention[1, :3], o2.attention[1, :3])


@pytest.mark.parametrize("name,options", VARIANTS)
def test_a_padded_clips_valid_steps_equal_the_clip_unpadded(name, options):
    """Video 1 of the batch has 3 valid steps of 5: its scores, attention and extras at those
    steps equal the same 3 frames given as a clip of 3 steps with no padding."""
    torch.manual_seed(0)
    model = _model(name, **options).eval()
    batch = _batch()
    short = {k: (v[1:2, :3] if k != "label" else v[1:2]) for k, v in batch.items()}
    with torch.no_grad():
        torch.manual_seed(1)
        padded = model(batch)
        torch.manual_seed(1)
        alone = model(short)
    if name == "reinforce":  # sampled glimpses: the same draws only for the same batch size
        return _check_greedy(model, batch, short)
    torch.testing.assert_close(padded.scores[1, :3], alone.scores[0], atol=1e-5, rtol=1e-5)
    if padded.attention is not None:
        torch.testing.assert_close(padded.attention[1, :3], alone.attention[0], atol=1e-5,
                                   rtol=1e-5)


def _check_greedy(model, batch, short):
    """reinforce is tested with its greedy (test-time) policy, which draws nothing (a uniform
    policy, which has no greedy choice, made to look at the centre)."""
    model.cfg.test_samples = 0
    if model.cfg.policy == "uniform":
        model.cfg.force = "centre"
    with torch.no_grad():
        padded, alone = model(batch), model(short)
    torch.testing.assert_close(padded.scores[1, :3], alone.scores[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(padded.attention[1, :3], alone.attention[0], atol=1e-5, rtol=1e-5)


def test_loss_terms_are_the_papers():
    """structured: CE + lambda * l2,1 over paper 000's blocks; soft: CE + lambda * doubly
    stochastic; the baselines: CE only. The trainer adds the weight decay."""
    batch = _batch()
    m = _model("structured", lam=0.5, block_count=2)
    out = m(batch)
    terms = m.loss(out, batch)
    assert set(terms) == {"ce", "l21"}
    torch.testing.assert_close(terms["ce"], sequence_cross_entropy(out.scores, batch["label"],
                                                                   batch["mask"]))
    torch.testing.assert_close(terms["l21"], 0.5 * l21_block_penalty(out.attention, paper_blocks(K, 2),
                                                                      batch["mask"]))
    m = _model("soft", lam=2.0)
    out = m(batch)
    terms = m.loss(out, batch)
    assert set(terms) == {"ce", "doubly_stochastic"}
    torch.testing.assert_close(terms["doubly_stochastic"],
                               2.0 * doubly_stochastic_penalty(out.attention, batch["mask"]))
    for name in ("none", "avgpool", "maxpool", "softmax-regression"):
        m = _model(name)
        assert set(m.loss(m(batch), batch)) == {"ce"}, name


def test_configs_hold_only_what_applies():
    assert "lam" in model_options("structured") and "lam" in model_options("soft")
    for name in ("none", "avgpool", "maxpool", "softmax-regression"):
        assert "lam" not in model_options(name), name
    assert model_options("structured")["lam"] == 1e-4 and model_options("soft")["lam"] == 1.0
    assert model_options("structured")["layers"] == 2 and model_options("soft")["layers"] == 3


def test_structured_starts_uniform_and_uses_tanh_logits():
    model = _model("structured").eval()
    out = model(_batch())
    torch.testing.assert_close(out.attention[:, 0], torch.full((B, K, K), 1 / K ** 2))
    assert out.scores.abs().max() <= 1.0  # y(t) = softmax(tanh(B h2(t))), eq. 7
    assert len(model.lstm.cells) == 2


def test_paper_000s_tanh_on_the_scores_can_be_dropped():
    """tanh_scores = False: the same network's scores are B h2(t) itself, the default's their
    tanh (so the default's top-class probability is at most e^2 / (e^2 + C - 1))."""
    for name in ("structured", "none"):
        torch.manual_seed(0)
        bounded = _model(name).eval()
        torch.manual_seed(0)
        free = _model(name, tanh_scores=False).eval()
        with torch.no_grad():
            free.classify.bias.fill_(3.0)  # logits past tanh's range
            bounded.classify.bias.fill_(3.0)
            a, b = bounded(_batch()).scores, free(_batch()).scores
        torch.testing.assert_close(a, torch.tanh(b))
        assert b.max() > 1.5 and a.max() <= 1.0
        p = torch.softmax(a, -1).max().item()
        assert p <= math.e ** 2 / (math.e ** 2 + C - 1) + 1e-6


def test_soft_is_three_layers_with_mlp_initial_state():
    model = _model("soft")
    assert len(model.lstm.cells) == 3
    state = model.initial_state(torch.randn(2, T, K * K, D), None)
    assert len(state) == 3 and state[0][0].shape == (2, 8)


def test_soft_content_scoring_follows_the_cells_and_location_scoring_does_not():
    """Permute the grid's cells: paper 002's location softmax puts its first step where it did
    (it reads only h0, from the mean feature, which the permutation leaves as it was); the
    content score (its location term zeroed) moves its weights with the cells' features (Xu et
    al.'s soft attention)."""
    x = _batch()["rgb"]
    perm = torch.randperm(K * K, generator=torch.Generator().manual_seed(1))
    shuffled = x.reshape(B, T, K * K, D)[:, :, perm].reshape(B, T, K, K, D)
    for scoring in ("location", "content"):
        m = _model("soft", scoring=scoring, dropout=0.0).eval()
        if scoring == "content":  # the content term alone (its location term zeroed)
            torch.nn.init.zeros_(m.locate.W_l.weight)
            torch.nn.init.zeros_(m.locate.W_l.bias)
        a = m({"rgb": x, "mask": None}).attention[:, 0].reshape(B, K * K)
        b = m({"rgb": shuffled, "mask": None}).attention[:, 0].reshape(B, K * K)
        if scoring == "location":
            torch.testing.assert_close(b, a)
        else:
            torch.testing.assert_close(b, a[:, perm])
            assert not torch.allclose(b, a)


def test_a_soft_run_saved_before_scoring_loads_as_location():
    from glimpse.models import ModelConfig

    saved = {"name": "soft", "num_classes": C, "inputs": INPUTS,
             "options": {"hidden": 8, "layers": 3, "dropout": 0.5, "stream": "rgb", "lam": 1.0}}
    assert ModelConfig.from_dict(saved).options["scoring"] == "location"
    pooled = {**saved, "name": "avgpool", "options": {"hidden": 8, "layers": 3,
                                                      "dropout": 0.5, "stream": "rgb"}}
    assert "scoring" not in ModelConfig.from_dict(pooled).options  # not an avgpool option


def test_maxpool_attention_is_where_the_maxima_are():
    model = build_model(ModelConfig("maxpool", C, {"rgb": {"channels": 2, "grid": 2}},
                                    {"hidden": 4})).eval()
    x = torch.zeros(1, 1, 2, 2, 2)
    x[0, 0, 0, 1, 0] = 5.0  # channel 0 peaks in cell 1
    x[0, 0, 1, 1, 1] = 5.0  # channel 1 peaks in cell 3
    att = model({"rgb": x}).attention
    torch.testing.assert_close(att[0, 0].flatten(), torch.tensor([0.0, 0.5, 0.0, 0.5]))
    x[0, 0, 1, 1, 1] = 0.0  # channel 1 is now 0 everywhere: a four-way tie, 1/4 to each cell
    att = model({"rgb": x}).attention
    torch.testing.assert_close(att[0, 0].flatten(), torch.tensor([1, 5, 1, 1]) / 8.0)


def test_softmax_regression_attends_nowhere():
    assert _model("softmax-regression")(_batch()).attention is None


def test_unknown_names_and_options_fail_loudly():
    with pytest.raises(GlimpseError, match="unknown model"):
        build_model(ModelConfig("transformer", C, INPUTS))
    with pytest.raises(GlimpseError, match="unknown ModelConfig keys: colour"):
        ModelConfig.from_dict({"name": "soft", "num_classes": 2, "inputs": INPUTS, "colour": "red"})
    with pytest.raises(GlimpseError, match="model 'soft' has no option frame_aware"):
        _model("soft", frame_aware=True)
    with pytest.raises(GlimpseError, match="model 'none' has no option lam"):
        _model("none", lam=1.0)
    with pytest.raises(GlimpseError, match="reads stream"):
        build_model(ModelConfig("soft", C, {"flow": INPUTS["rgb"]}))


def test_clip_rules_golden():
    p = torch.tensor([[0.1, 0.9], [0.5, 0.5], [0.7, 0.3]])
    torch.testing.assert_close(clip_score(p, "mean"), torch.tensor([1.3 / 3, 1.7 / 3]))
    torch.testing.assert_close(clip_score(p, "last"), torch.tensor([0.7, 0.3]))
    torch.testing.assert_close(clip_score(p, "last-2"), torch.tensor([0.6, 0.4]))
    torch.testing.assert_close(clip_score(p, "last-9"), clip_score(p, "mean"))
    votes = torch.tensor([[0.6, 0.4], [0.2, 0.8], [0.3, 0.7], [0.9, 0.1]])
    # last 3 steps vote 1, 1, 0 -> shares [1/3, 2/3] (+ 1e-6 x their mean probabilities)
    torch.testing.assert_close(clip_score(votes, "vote-last-3"),
                               torch.tensor([1 / 3, 2 / 3]) + 1e-6 * votes[1:].mean(0))
    tie = torch.tensor([[0.6, 0.4], [0.45, 0.55]])  # one vote each: the mean breaks the tie
    assert int(clip_score(tie, "vote-last-2").argmax()) == 0
    for bad in ("median", "last-0", "last-x", "first"):
        with pytest.raises(GlimpseError, match="unknown clip rule"):
            check_rule(bad)


def _reference_cells(ours):
    """torch.nn.LSTMCells holding the same weights as ``ours`` (gate order i, f, o, g vs
    torch's i, f, g, o)."""
    M = ours.hidden
    to_torch = torch.cat([torch.arange(0, 2 * M), torch.arange(3 * M, 4 * M),
                          torch.arange(2 * M, 3 * M)])
    refs = []
    with torch.no_grad():
        for cell in ours.cells:
            n = cell.input_size
            ref = torch.nn.LSTMCell(n, M).double()
            ref.weight_ih.copy_(cell.weight[to_torch, :n])
            ref.weight_hh.copy_(cell.weight[to_torch, n:])
            ref.bias_ih.copy_(cell.bias[to_torch])
            ref.bias_hh.zero_()
            refs.append(ref)
    return refs, to_torch


def _unroll(ours, refs, xs):
    state, tapes = ours.zero_state(xs.shape[1], None, torch.float64), ours.new_tapes()
    ref_state = [(torch.zeros(xs.shape[1], ours.hidden, dtype=torch.float64),) * 2 for _ in refs]
    out, ref_out = [], []
    for t in range(xs.shape[0]):
        h, state = ours.step(xs[t], state, tapes)
        inp = xs[t]
        for k, ref in enumerate(refs):
            ref_state[k] = ref(inp, ref_state[k])
            inp = ref_state[k][0]
        out.append(h)
        ref_out.append(inp)
    return torch.stack(out), torch.stack(ref_out)


def test_lstm_weight_gradient_when_the_loss_reads_only_some_steps():
    """A loss on step 2 of 6: steps 3-5 are never back-propagated; the weight gradient must still
    be formed (from steps 0-2) and equal torch.nn.LSTMCell's."""
    from glimpse.models.lstm import StackedLSTM

    torch.manual_seed(2)
    ours = StackedLSTM(input_size=5, hidden=4, layers=2, dropout=0.0).double()
    refs, to_torch = _reference_cells(ours)
    xs = torch.randn(6, 3, 5, dtype=torch.float64)
    out, ref_out = _unroll(ours, refs, xs)
    g_ours = torch.autograd.grad(out[2].sum(), [c.weight for c in ours.cells])
    g_ref = torch.autograd.grad(ref_out[2].sum(), [r.weight_ih for r in refs])
    for k, cell in enumerate(ours.cells):
        assert g_ours[k].abs().sum() > 0
        torch.testing.assert_close(g_ours[k][to_torch, :cell.input_size], g_ref[k])


def test_lstm_no_grad_path_equals_the_autograd_path():
    from glimpse.models.lstm import StackedLSTM

    torch.manual_seed(3)
    lstm = StackedLSTM(input_size=5, hidden=4, layers=3, dropout=0.0).double()
    xs = torch.randn(7, 2, 5, dtype=torch.float64)

    def run(grad: bool):
        state, tapes = lstm.zero_state(2, None, torch.float64), lstm.new_tapes()
        hs = []
        with torch.set_grad_enabled(grad):
            for t in range(7):
                h, state = lstm.step(xs[t], state, tapes)
                hs.append(h)
        return torch.stack(hs)

    with_grad = run(True)
    assert with_grad.requires_grad
    torch.testing.assert_close(run(False), with_grad.detach(), rtol=0, atol=1e-12)


def test_lstm_matches_torch_lstmcell_forward_and_gradients():
    """The hand-written step (one P_k, batched weight gradient) == torch.nn.LSTMCell."""
    from glimpse.models.lstm import StackedLSTM

    torch.manual_seed(0)
    ours = StackedLSTM(input_size=5, hidden=4, layers=2, dropout=0.0).double()
    refs, to_torch = _reference_cells(ours)
    xs = torch.randn(6, 3, 5, dtype=torch.float64, requires_grad=True)
    out, ref_out = _unroll(ours, refs, xs)
    torch.testing.assert_close(out, ref_out)
    w = torch.randn_like(out)
    g_ours = torch.autograd.grad((out * w).sum(), [xs] + [c.weight for c in ours.cells] + [c.bias for c in ours.cells])
    g_ref = torch.autograd.grad((ref_out * w).sum(), [xs] + [r.weight_ih for r in refs] + [r.weight_hh for r in refs]
                                + [r.bias_ih for r in refs])
    torch.testing.assert_close(g_ours[0], g_ref[0])
    for k, cell in enumerate(ours.cells):
        n = cell.input_size
        torch.testing.assert_close(g_ours[1 + k][to_torch, :n], g_ref[1 + k])
        torch.testing.assert_close(g_ours[1 + k][to_torch, n:], g_ref[3 + k])
        torch.testing.assert_close(g_ours[3 + k][to_torch], g_ref[5 + k])


def test_lstm_gradcheck():
    from glimpse.models.lstm import StackedLSTM

    torch.manual_seed(1)
    lstm = StackedLSTM(input_size=3, hidden=2, layers=2, dropout=0.0).double()

    def run(x, w0, b0):
        lstm.cells[0].weight, lstm.cells[0].bias = w0, b0
        state, tapes = lstm.zero_state(2, None, torch.float64), lstm.new_tapes()
        hs = []
        for t in range(x.shape[0]):
            h, state = lstm.step(x[t], state, tapes)
            hs.append(h)
        return torch.stack(hs)

    x = torch.randn(4, 2, 3, dtype=torch.float64, requires_grad=True)
    w0 = torch.nn.Parameter(lstm.cells[0].weight.detach().clone())
    b0 = torch.nn.Parameter(lstm.cells[0].bias.detach().clone())
    assert torch.autograd.gradcheck(run, (x, w0, b0))


CUBE_MODELS = [n for n in MODELS if "stream" in model_options(n)]


@pytest.mark.parametrize("name", CUBE_MODELS)
def test_a_one_cube_model_reads_flow_or_both_streams(name):
    """--stream flow reads the flow cube alone; rgb+flow both side by side (D + D' channels);
    only the named streams are asked of the store; an unknown stream is one line."""
    D2 = 5
    inputs = {"rgb": INPUTS["rgb"], "flow": {"layer": "y", "channels": D2, "grid": K}}
    small = {k: v for k, v in {"hidden": 8, "block_count": 2, "att_dim": 6, "width": 4}.items()
             if k in model_options(name)}
    batch = {**_batch(), "flow": torch.randn(B, T, K, K, D2)}
    flow_only = build_model(ModelConfig(name, C, {"flow": inputs["flow"]},
                                        {**small, "stream": "flow"}))
    assert flow_only.streams == ("flow",)
    assert flow_only(batch).scores.shape == (B, T, C)
    both = build_model(ModelConfig(name, C, inputs, {**small, "stream": "rgb+flow"}))
    assert both.streams == ("rgb", "flow") and both.cube(batch).shape == (B, T, K, K, D + D2)
    out = both(batch)
    assert out.scores.shape == (B, T, C)
    sum(both.loss(out, batch).values()).backward()
    with pytest.raises(GlimpseError, match="is not one of rgb, flow, rgb_level2"):
        build_model(ModelConfig(name, C, inputs, {**small, "stream": "depth"}))
    with pytest.raises(GlimpseError, match="reads stream"):
        build_model(ModelConfig(name, C, {"rgb": inputs["rgb"]}, {**small, "stream": "flow"}))


@pytest.mark.parametrize("name,options", VARIANTS)
def test_every_model_trains_under_bf16_autocast_close_to_float32(name, options):
    """Three Adam steps under --amp bf16 on the CPU: finite loss terms and gradients, each term
    within 5% (or 0.02) of float32's at the first step, the gradient pointing the same way
    (cosine > 0.9), and the LSTM's state kept in float32."""
    from glimpse.amp import autocast

    def steps(amp):
        torch.manual_seed(0)
        model = _model(name, **{**options, **({"dropout": 0.0} if "dropout" in model_options(
            name) else {})})
        if name == "reinforce":  # one sampled episode differs with the precision: look greedily
            model.eval()
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        batch, first, grads = _batch(), None, None
        for _ in range(3):
            torch.manual_seed(1)
            with autocast(amp, "cpu"):
                out = model(batch)
                terms = model.loss(out, batch)
            loss = sum(t.float() for t in terms.values())
            opt.zero_grad()
            loss.backward()
            if first is None:
                first = {k: float(v) for k, v in terms.items()}
                grads = torch.cat([p.grad.flatten() for p in model.parameters()
                                   if p.grad is not None])
            assert torch.isfinite(loss) and all(torch.isfinite(p.grad).all()
                                                for p in model.parameters() if p.grad is not None)
            opt.step()
        return first, grads

    full, g32 = steps("off")
    half, g16 = steps("bf16")
    for k, v in full.items():
        assert abs(half[k] - v) <= max(0.05 * abs(v), 0.02), (k, v, half[k])
    assert torch.nn.functional.cosine_similarity(g32, g16, dim=0) > 0.9


def test_the_lstm_keeps_its_state_in_float32_under_autocast():
    from glimpse.models.lstm import StackedLSTM

    lstm = StackedLSTM(input_size=6, hidden=4, layers=2, dropout=0.0)
    x = torch.randn(3, 6)
    state = lstm.zero_state(3, "cpu", torch.float32)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        h, new = lstm.step(x.bfloat16(), state, lstm.new_tapes())
    assert h.dtype == torch.float32 and all(c.dtype == torch.float32 for _, c in new)
    h32, _ = lstm.step(x, state, lstm.new_tapes())
    torch.testing.assert_close(h, h32, atol=2e-2, rtol=0)
