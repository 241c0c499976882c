import pytest
import torch

from glimpse import GlimpseError
from glimpse.config import ModelConfig, from_dict
from glimpse.losses import (
    doubly_stochastic_penalty,
    l21_block_penalty,
    paper_blocks,
    sequence_cross_entropy,
)
from glimpse.models import MODELS, build_model

B, T, K, D, C = 3, 5, 4, 16, 6
VARIANTS = [(n, False) for n in MODELS] + [("structured", True)]


def _inputs(seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(B, T, K, K, D, generator=g)
    mask = torch.ones(B, T, dtype=torch.bool)
    mask[1, 3:] = False  # a short video, padded
    return x, mask


@pytest.mark.parametrize("name,frame_aware", VARIANTS)
def test_shapes_and_attention_is_a_distribution(name, frame_aware):
    model = build_model(ModelConfig(name, C, D, K, hidden=8, frame_aware=frame_aware))
    scores, att = model(*_inputs())
    assert scores.shape == (B, T, C) and att.shape == (B, T, K, K)
    torch.testing.assert_close(att.sum((2, 3)), torch.ones(B, T))
    assert (att >= 0).all()


@pytest.mark.parametrize("name,frame_aware", VARIANTS)
def test_every_parameter_gets_a_finite_gradient(name, frame_aware):
    torch.manual_seed(0)
    model = build_model(ModelConfig(name, C, D, K, hidden=8, frame_aware=frame_aware))
    x, mask = _inputs()
    scores, att = model(x, mask)
    loss = sequence_cross_entropy(scores, torch.tensor([0, 1, 2]), mask)
    if model.penalty == "l21":
        loss = loss + l21_block_penalty(att, paper_blocks(K, 2), mask)
    elif model.penalty == "doubly_stochastic":
        loss = loss + doubly_stochastic_penalty(att, mask)
    loss.backward()
    assert torch.isfinite(loss)
    for pname, p in model.named_parameters():
        assert p.grad is not None, f"{pname} got no gradient"
        assert torch.isfinite(p.grad).all(), f"{pname} has a non-finite gradient"
        assert p.grad.abs().sum() > 0, f"{pname} has an all-zero gradient"


@pytest.mark.parametrize("name", list(MODELS))
def test_padded_steps_do_not_change_valid_outputs(name):
    model = build_model(ModelConfig(name, C, D, K, hidden=8)).eval()
    x, mask = _inputs()
    with torch.no_grad():
        s1, a1 = model(x, mask)
        x2 = x.clone()
        x2[1, 3:] = 100.0
        s2, a2 = model(x2, mask)
    torch.testing.assert_close(s1[1, :3], s2[1, :3])
    torch.testing.assert_close(a1[1, :3], a2[1, :3])


def test_structured_starts_uniform_and_uses_tanh_logits():
    model = build_model(ModelConfig("structured", C, D, K, hidden=8)).eval()
    scores, att = model(*_inputs())
    torch.testing.assert_close(att[:, 0], torch.full((B, K, K), 1 / K ** 2))
    assert scores.abs().max() <= 1.0  # y(t) = softmax(tanh(B h2(t))), eq. 7
    assert len(model.lstm.cells) == 2 and model.penalty == "l21"


def test_soft_is_three_layers_with_mlp_initial_state():
    model = build_model(ModelConfig("soft", C, D, K, hidden=8))
    assert len(model.lstm.cells) == 3 and model.penalty == "doubly_stochastic"
    state = model.initial_state(torch.randn(2, T, K * K, D), None)
    assert len(state) == 3 and state[0][0].shape == (2, 8)
    assert build_model(ModelConfig("avgpool", C, D, K, hidden=8)).penalty is None


def test_maxpool_attention_is_where_the_maxima_are():
    model = build_model(ModelConfig("maxpool", C, 2, 2, hidden=4)).eval()
    x = torch.zeros(1, 1, 2, 2, 2)
    x[0, 0, 0, 1, 0] = 5.0  # channel 0 peaks in cell 1
    x[0, 0, 1, 1, 1] = 5.0  # channel 1 peaks in cell 3
    _, att = model(x)
    torch.testing.assert_close(att[0, 0].flatten(), torch.tensor([0.0, 0.5, 0.0, 0.5]))


def test_unknown_names_and_keys_fail_loudly():
    with pytest.raises(GlimpseError, match="unknown model"):
        build_model(ModelConfig("transformer", C, D, K))
    with pytest.raises(GlimpseError, match="unknown ModelConfig keys: colour"):
        from_dict(ModelConfig, {"name": "soft", "num_classes": 2, "feature_dim": 3, "grid": 2,
                                "colour": "red"})
    with pytest.raises(GlimpseError, match="only for --model structured"):
        build_model(ModelConfig("soft", C, D, K, frame_aware=True))


def test_lstm_matches_torch_lstmcell_forward_and_gradients():
    """The hand-written step (one P_k, batched weight gradient) == torch.nn.LSTMCell."""
    from glimpse.models.lstm import StackedLSTM

    torch.manual_seed(0)
    ours = StackedLSTM(input_size=5, hidden=4, layers=2, dropout=0.0).double()
    refs = [torch.nn.LSTMCell(5, 4).double(), torch.nn.LSTMCell(4, 4).double()]
    # ours stacks the gates as (i, f, o, g), torch.nn.LSTMCell as (i, f, g, o)
    to_torch = torch.cat([torch.arange(0, 8), torch.arange(12, 16), torch.arange(8, 12)])
    with torch.no_grad():
        for cell, ref in zip(ours.cells, refs):
            n = cell.input_size
            ref.weight_ih.copy_(cell.weight[to_torch, :n])
            ref.weight_hh.copy_(cell.weight[to_torch, n:])
            ref.bias_ih.copy_(cell.bias[to_torch])
            ref.bias_hh.zero_()
    xs = torch.randn(6, 3, 5, dtype=torch.float64, requires_grad=True)
    state, tapes = ours.zero_state(3, None, torch.float64), ours.new_tapes()
    ref_state = [(torch.zeros(3, 4, dtype=torch.float64),) * 2 for _ in refs]
    out, ref_out = [], []
    for t in range(6):
        h, state = ours.step(xs[t], state, tapes)
        inp = xs[t]
        for k, ref in enumerate(refs):
            ref_state[k] = ref(inp, ref_state[k])
            inp = ref_state[k][0]
        out.append(h)
        ref_out.append(inp)
    out, ref_out = torch.stack(out), torch.stack(ref_out)
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
