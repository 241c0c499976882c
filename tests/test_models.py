import pytest
import torch

from glimpse import GlimpseError
from glimpse.config import ModelConfig, from_dict
from glimpse.losses import doubly_stochastic_penalty, l21_block_penalty, paper_blocks, sequence_cross_entropy
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
