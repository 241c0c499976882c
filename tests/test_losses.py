import math

import pytest
import torch

from glimpse import GlimpseError
from glimpse.losses import (
    block_index_sets,
    doubly_stochastic_penalty,
    l21_block_penalty,
    paper_blocks,
    sequence_cross_entropy,
    weight_decay,
)


def paper_S(K, N):
    """Paper 000's index sets, transcribed literally (1-based p and r, % and floor)."""
    L = K // N
    sets = []
    for r in range(1, N * N + 1):
        S = [p for p in range(1, K * K + 1)
             if ((r - 1) % N) * L <= (p - 1) % K < ((r - 1) % N + 1) * L
             and ((r - 1) // N) * L <= (p - 1) // K < ((r - 1) // N + 1) * L]
        sets.append(sorted(p - 1 for p in S))
    return sets


@pytest.mark.parametrize("K,N", [(8, 4), (8, 2), (8, 3), (7, 3), (7, 2), (14, 4), (16, 5)])
def test_blocks_match_the_papers_formula(K, N):
    ours = [sorted(b.tolist()) for b in paper_blocks(K, N)]
    assert ours == paper_S(K, N)  # the same sets in the paper's order r = 1 .. N^2
    assert len(ours) == N * N


@pytest.mark.parametrize("K,N", [(7, 4), (8, 5), (8, 8), (7, 7)])
def test_a_block_side_of_one_is_refused(K, N):
    """L = floor(K / N) = 1 would make the penalty the constant 1: classic attention in disguise
    (GoogLeNet's 7 x 7 grid with N = 4)."""
    assert len(paper_S(K, N)) == N * N and all(len(s) == 1 for s in paper_S(K, N))
    with pytest.raises(GlimpseError, match="side 1"):
        paper_blocks(K, N)
    with pytest.raises(GlimpseError, match="side 1"):
        block_index_sets(K, 1)


def test_blocks_k8_n4_are_2x2():
    b = paper_blocks(8, 4)
    assert b.shape == (16, 4)
    assert b[0].tolist() == [0, 1, 8, 9] and b[-1].tolist() == [54, 55, 62, 63]


def test_k_not_divisible_leaves_the_remainder_out():
    b = paper_blocks(7, 3)  # L = 2: blocks cover rows/cols 0..5, row and column 6 in no block
    covered = set(b.flatten().tolist())
    assert len(covered) == 36 and 6 not in covered and 48 not in covered


def test_overlapping_blocks():
    assert block_index_sets(8, 2, 1).shape == (49, 4)  # side 2 stride 1
    assert block_index_sets(8, 4, 2).shape == (9, 16)  # side 4 stride 2
    assert block_index_sets(8, 6, 2).shape == (4, 36)  # side 6 stride 2
    assert block_index_sets(8, 6).shape == (1, 36)  # side 6 non-overlapping: one block


def test_l21_golden():
    blocks = paper_blocks(4, 2)  # four 2 x 2 blocks
    uniform = torch.full((1, 2, 4, 4), 1 / 16)
    # each block: sqrt(4 * (1/16)^2) = 1/8; 4 blocks; 2 steps
    assert l21_block_penalty(uniform, blocks).item() == pytest.approx(1.0)
    assert l21_block_penalty(uniform, blocks, torch.tensor([[True, False]])).item() == pytest.approx(0.5)
    peaked = torch.zeros(1, 1, 4, 4)
    peaked[0, 0, 0, 0] = 1.0
    assert l21_block_penalty(peaked, blocks).item() == pytest.approx(1.0)
    half = torch.zeros(1, 1, 4, 4)
    half[0, 0, 0, 0] = half[0, 0, 3, 3] = 0.5  # two blocks of 0.5 each
    assert l21_block_penalty(half, blocks).item() == pytest.approx(1.0)
    inblock = torch.zeros(1, 1, 4, 4)
    inblock[0, 0, 0, :2] = 0.5  # one block holds both: sqrt(0.5) < 1, the prior prefers it
    assert l21_block_penalty(inblock, blocks).item() == pytest.approx(math.sqrt(0.5))
    # overlapping, side 2 stride 1: 9 blocks of 1/8 under uniform attention
    assert l21_block_penalty(uniform[:, :1], block_index_sets(4, 2, 1)).item() == pytest.approx(9 / 8)


def test_l21_batch_mean():
    blocks = paper_blocks(4, 2)
    a = torch.full((2, 1, 4, 4), 1 / 16)
    a[1] = 0
    a[1, 0, 0, 0] = 1.0
    assert l21_block_penalty(a, blocks).item() == pytest.approx((0.5 + 1.0) / 2)


def test_doubly_stochastic_golden():
    a = torch.full((1, 2, 2, 2), 0.25)  # each cell sums to 0.5 over time: 4 * 0.5^2
    assert doubly_stochastic_penalty(a).item() == pytest.approx(1.0)
    a4 = torch.full((1, 4, 2, 2), 0.25)  # sums to exactly 1 everywhere
    assert doubly_stochastic_penalty(a4).item() == pytest.approx(0.0)
    assert doubly_stochastic_penalty(a4, torch.tensor([[1, 1, 0, 0]], dtype=torch.bool)).item() \
        == pytest.approx(1.0)


def test_sequence_cross_entropy_golden():
    scores = torch.zeros(2, 3, 4)
    labels = torch.tensor([0, 3])
    assert sequence_cross_entropy(scores, labels).item() == pytest.approx(3 * math.log(4))
    mask = torch.tensor([[True, True, False], [True, False, False]])
    assert sequence_cross_entropy(scores, labels, mask).item() == pytest.approx(1.5 * math.log(4))
    sure = torch.full((1, 1, 2), -50.0)
    sure[0, 0, 1] = 50.0
    assert sequence_cross_entropy(sure, torch.tensor([1])).item() == pytest.approx(0, abs=1e-6)


def test_weight_decay_golden():
    lin = torch.nn.Linear(2, 1)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[1.0, 2.0]]))
        lin.bias.fill_(3.0)
    assert weight_decay(lin, 0.5).item() == pytest.approx(0.5 * 14)


def test_l21_on_a_softmax_rewards_flatness_not_block_selection():
    """The claim behind Table 3's reading: for a softmax (sum a = 1) the penalty is 1 for a
    one-hot, 1 / L for any map flat inside its blocks however many blocks it uses, so descending
    it from a peaked attention raises the entropy, and a map on one block scores the same as a
    uniform one. (Its minimizers are the maps flat inside each block, so the descent flattens
    the blocks it is on rather than spreading over all of them.)"""
    blocks = paper_blocks(8, 4)  # L = 2
    uniform = torch.full((1, 1, 64), 1 / 64)
    one_block = torch.zeros(1, 1, 8, 8)
    one_block[0, 0, :2, :2] = 0.25
    one_hot = torch.zeros(1, 1, 64)
    one_hot[0, 0, 0] = 1.0
    assert l21_block_penalty(uniform, blocks).item() == pytest.approx(0.5)
    assert l21_block_penalty(one_block, blocks).item() == pytest.approx(0.5)  # no reward for sparsity
    assert l21_block_penalty(one_hot, blocks).item() == pytest.approx(1.0)
    g = torch.Generator().manual_seed(0)
    logits = (3 * torch.randn(1, 1, 64, generator=g)).requires_grad_()
    opt = torch.optim.SGD([logits], lr=5.0)
    entropies = []
    for _ in range(60):
        a = torch.softmax(logits, -1)
        entropies.append(float(-(a * a.log()).sum()))
        opt.zero_grad()
        l21_block_penalty(a, blocks).backward()
        opt.step()
    # from a near one-hot (entropy 0.38 nats) towards flat-inside-blocks (>= log 4 for one block)
    assert entropies[0] < 0.5 and entropies[-1] > 1.3
