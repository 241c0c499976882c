"""Hard attention trained with REINFORCE (paper 004): sampled glimpses, a reward on the
predictions, a baseline, and the variance reductions that let the policy learn. ("Deep visual
attention with REINFORCE for action recognition"; docs/papers.md.)

Paper 004 copies paper 002's network and loss and loses several equations in its text; the
reading implemented here, with every departure named:

- **Core**: paper 002's LSTM (``glimpse.models.soft``): 3 layers, y_t = softmax(W_y tanh(W_z
  h_t)). **h0 and c0** (``init``): ``zeros`` by default, a departure. Paper 002's MLPs over the
  clip's mean feature (``init = "mean"``) hand the classifier the whole frame before the agent
  has looked anywhere, so where it looks hardly changes the reward.
- **Policy** (``policy = "learned"``, paper 002's location softmax): l_{t+1} = softmax(W_l h_t)
  over the K^2 cells (l_1 from h0); the default is the content policy below. At each step m
  glimpses (``glimpses``) are drawn from it, without replacement by default, and the LSTM's
  input is the **sum** of the chosen cells' feature slices (eq. 3; ``pool = "mean"`` averages).
  ``where = True`` also feeds the chosen cells' one-hot location (RAM's glimpse location; a
  departure, off by default). ``glimpse_steps`` N: the step budget (the paper's "limited
  N = 5" against all steps): the agent chooses new cells at the first N steps and then keeps its
  last choice (no more actions); 0 = every step.
- **Training**: the LSTM and classifier by cross-entropy at every step; the policy by REINFORCE
  (eq. 6): the surrogate -sum_n log pi(a_n) (R_n - b_n), averaged over ``samples`` episodes per
  clip (K in eq. 6; 4 by default). log pi(a_n) of m draws without replacement is
  sum_j log(p_{a_j} / (1 - sum_{i<j} p_{a_i})). With ``detach`` (the default) the hidden state
  enters the policy and the baseline detached, so REINFORCE trains only W_l. Its noisy gradient
  then never reaches the LSTM, which the cross-entropy trains. ``policy_lr`` > 0 gives W_l its
  own learning rate. The episodes of a clip share their dropout masks, so they differ only in
  where they look.
- **The penalty** (``lam``): paper 002's doubly stochastic term on l, **0 by default**. Over 30
  steps and 64 cells, sum_i (1 - sum_t l_{t,i})^2 is smallest when the policy spreads evenly over
  time. At paper 002's lambda = 1 the uniform policy is then optimal for any plausible reward,
  and in every trained run the policy stayed uniform (4.10-4.15 of ln 64 = 4.16 nats). Paper
  004 says its regularization "forces the model to focus on one region in time", the opposite
  of this term. Its equation is lost in the text and it gives no lambda, so this reading
  switches the term off and the re-test sweeps lambda over 0 / 0.01 / 0.1 / 1. When on, it
  covers only the steps where the agent acts (the first N with a budget).
- **Reward** (eq. 7): r_N = (eta N+ R+ + (1 - eta) N- R-) / N over the episode's N valid steps,
  N+ the steps whose prediction (argmax y_t) is right, N- the wrong ones, R+ = 1, R- = -1,
  eta = 0.5, zero before the last step, so every step's return R_n is r_N. The division by N is
  not in eq. 7: it keeps the reward in [-1, 1] whatever the clip length. With R+ = -R- = 1, eta
  only rescales and shifts the reward: eta = 0.5 makes it (N+ - N-) / 2N. ``reward =
  "to-go"`` (a declared option) gives step n the return sum_{t >= n} r_t / N of per-step rewards
  r_t = eta R+ or (1 - eta) R-: a glimpse is then credited only with what follows it.
- **Baseline** (``baseline``): ``learned`` b_n = w^T h + b, read from the state that drew a_n
  (the state before the chosen cell is fed in), trained by mean squared error against R_n;
  ``loo``: the mean return of the clip's other episodes (leave-one-out, needs ``samples`` >= 2,
  no parameters); ``none``: b = 0. An entropy bonus (``entropy`` > 0, off by default) adds
  -entropy * sum_n H(l_n), annealed linearly to 0 over the run's epochs (``entropy_anneal``).
- **Testing**: greedy (the top-m cells of l_t) by default; ``test_samples`` S > 0 averages the
  scores of S sampled episodes (drawn from a generator seeded per batch, so an evaluation is
  reproducible). ``force`` (``glimpse evaluate --force-glimpse``) makes the agent look where it
  is told, to measure what looking is worth: ``actor`` (the m cells the actor covers most),
  ``centre``, ``random`` or ``background`` (the cells the actor covers least).
- ``policy = "content"`` (the default; a declared departure): l_t adds to the location
  softmax's logits a score of each cell from its own feature slice and the state,
  softmax_i((W_l h_{t-1})_i + v^T tanh(W_x X_{t,i} + W_h h_{t-1} + b))
  (``attention.ContentSoftmax``; Xu et al. 2015's hard attention, RSTAN eq. 2's form), where
  paper 002's location softmax sees only h_{t-1}. Paper 004 calls L_{t+1} "an attention
  policy over input cube X_t" without its equation. A location-only policy never sees the
  frame it chooses in: it can learn a prior (the centre) and follow what its earlier glimpses
  told it, but it cannot find an actor who moves across a panning frame (the two policies
  against each other: docs/retest/paper004.md). The cube enters the policy detached (with
  ``detach``), so the agent still feeds the core only the m cells it chose. ``policy_dim``:
  the size a.
- ``policy = "uniform"``: a frozen uniform policy, the same network looking at cells drawn
  uniformly at random in training and testing (the reference a learned policy must beat).
- Sampling in training uses a generator seeded from torch's global one, which the trainer seeds
  and checkpoints, so a resumed run draws what an uninterrupted one would.

The ``attention`` output is the indicator of the chosen cells, divided by m (greedy at test), so
the attention metrics read which cells the agent looked at; ``extras["policy"]`` is l_t.
Per epoch the trainer logs the mean reward, the baseline's squared error, the policy's entropy
and, where the store has actor masks, how often the chosen cells are on the actor
(``stats``), so a collapsing or a uniform policy shows in log.csv.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import NamedTuple

import torch
from torch import Tensor, nn

from glimpse import GlimpseError
from glimpse.losses import (
    baseline_error,
    doubly_stochastic_penalty,
    entropy_bonus,
    episode_reward,
    leave_one_out,
    policy_entropy,
    reinforce_surrogate,
    reward_to_go,
)
from glimpse.models.attention import ContentSoftmax, attend
from glimpse.models.base import valid_steps
from glimpse.models.lstm import StackedLSTM
from glimpse.models.options import (
    NONNEGATIVE,
    NONNEGATIVE_INT,
    OPEN_FRACTION,
    POSITIVE,
    option,
)
from glimpse.models.output import ModelOutput
from glimpse.models.soft import PooledConfig, SoftAttentionLSTM

BASELINES = ("learned", "loo", "none")
REWARDS = ("episode", "to-go")
INITS = ("zeros", "mean")
FORCED = ("actor", "centre", "random", "background")
POLICIES = ("learned", "content", "uniform")  # uniform: the frozen reference


@dataclass
class ReinforceConfig(PooledConfig):  # (its policy is its scoring: no SoftConfig.scoring)
    lam: float = option(0.0, "lambda, paper 002's doubly stochastic penalty: off (at 1 the uniform "
                        "policy is optimal: see the docstring)", check=NONNEGATIVE)
    glimpses: int = option(1, "m, cells looked at per step", check=POSITIVE)
    glimpse_steps: int = option(0, "N, the steps at which the agent chooses cells (0: all)",
                                check=NONNEGATIVE_INT)
    samples: int = option(4, "episodes per clip in training (K in eq. 6)", check=POSITIVE)
    replacement: bool = option(False, "draw the m cells with replacement")
    pool: str = option("sum", "the chosen slices: summed (eq. 3) or averaged",
                       choices=("sum", "mean"))
    eta: float = option(0.5, "the reward's trade-off eta between right and wrong steps",
                        check=OPEN_FRACTION)
    baseline: str = option("learned", "learned (w^T h), loo (the mean return of the clip's other "
                           "episodes) or none", choices=BASELINES)
    reward: str = option("episode", "episode (eq. 7: one reward a clip) or to-go (per-step "
                         "rewards, the return after each glimpse)", choices=REWARDS)
    init: str = option("zeros", "h0, c0: zeros (a departure) or mean (paper 002's MLPs over the "
                       "mean feature)", choices=INITS)
    where: bool = option(False, "feed the chosen cells' location to the core too (RAM; a "
                         "departure)")
    detach: bool = option(True, "the policy and the baseline read the hidden state detached (off: "
                          "REINFORCE's gradient reaches the LSTM)")
    policy_lr: float = option(0.0, "the policy head's own learning rate (0: the run's)",
                              check=NONNEGATIVE)
    entropy: float = option(0.0, "entropy bonus on the policy (a departure; 0: off)",
                            check=NONNEGATIVE)
    entropy_anneal: bool = option(True, "the entropy bonus decays linearly to 0 over the epochs "
                                  "(off: constant)")
    test_samples: int = option(0, "testing: 0 greedy, S the mean of S sampled episodes",
                               check=NONNEGATIVE_INT)
    force: str = option("", "testing only: look at the actor, centre, random or background cells "
                        "(glimpse evaluate --force-glimpse)", choices=("", *FORCED), cli=False)
    policy: str = option("content", "content (from the state and each cell's features, Xu et "
                         "al.'s hard attention; a departure), learned (from the state alone: "
                         "paper 002's location softmax) or uniform (frozen: the reference a "
                         "learned one must beat)", choices=POLICIES)
    policy_dim: int = option(64, "the content policy's tanh layer", check=POSITIVE)

    def __post_init__(self):
        if isinstance(self.baseline, bool):  # runs made before the leave-one-out option
            self.baseline = "learned" if self.baseline else "none"


class Episode(NamedTuple):
    """One pass of the agent over a clip."""

    scores: Tensor  # (B, T, C)
    chosen: Tensor  # (B, T, K^2): the chosen cells, 1/m each
    policy: Tensor  # (B, T, K^2): l_t
    log_prob: Tensor  # (B, T): log pi of the step's draw (0 where it did not act)
    acted: Tensor  # (B, T) bool: the steps within the budget
    drew: Tensor  # (B, T, M): the states that drew the cells (the baseline reads them)


def sample_cells(p: Tensor, m: int, *, replacement: bool, generator=None) -> tuple[Tensor, Tensor]:
    """p (B, K^2) -> chosen cells (B, m) and log pi of the ordered draw (B,)."""
    cells = torch.multinomial(p, m, replacement=replacement, generator=generator)
    return cells, draw_log_prob(p, cells, replacement=replacement)


def draw_log_prob(p: Tensor, cells: Tensor, *, replacement: bool) -> Tensor:
    """log pi of drawing ``cells`` (B, m) in order from p (B, K^2)."""
    chosen = p.gather(1, cells)  # (B, m)
    logp = torch.log(chosen.clamp_min(1e-12))
    if replacement or cells.shape[1] == 1:
        return logp.sum(1)
    taken = torch.cumsum(chosen, 1) - chosen  # mass drawn before each draw
    return (logp - torch.log((1 - taken).clamp_min(1e-12))).sum(1)


def forced_cells(how: str, m: int, K: int, B: int, actor: Tensor | None, generator) -> Tensor:
    """The m cells (B, m) the agent is made to look at in one step: ``actor`` the most covered
    by the actor, ``background`` the least (ties broken at random), ``centre`` the nearest the
    grid's centre, ``random`` uniform. ``actor`` (B, K^2) is the step's actor coverage."""
    if how in ("actor", "background"):
        if actor is None:
            raise GlimpseError(f"--force-glimpse {how} needs actor masks, which this store lacks")
        jitter = torch.rand(actor.shape, generator=generator).to(actor.device) * 1e-6
        score = actor.float() + jitter if how == "actor" else -actor.float() + jitter
        return score.topk(m, 1).indices
    if how == "centre":
        idx = torch.arange(K * K)
        dist = (idx // K - (K - 1) / 2) ** 2 + (idx % K - (K - 1) / 2) ** 2
        return torch.sort(dist, stable=True).indices[:m].expand(B, m)
    return torch.stack([torch.randperm(K * K, generator=generator)[:m] for _ in range(B)])


class ReinforceLSTM(SoftAttentionLSTM):
    Config = ReinforceConfig
    needs_actor = True  # not for the loss: the logged on-actor rate reads the masks where they exist
    test_options = ("test_samples", "force")  # how one trained policy is tested
    # what a run saved before these options existed trained with (ModelConfig.from_dict)
    SAVED_BEFORE = {"init": "mean", "detach": False, "where": False, "reward": "episode",
                    "policy_lr": 0.0, "entropy_anneal": False, "force": "",
                    "policy": "learned"}

    def __init__(self, *, num_classes: int, inputs: dict, cfg: ReinforceConfig):
        super().__init__(num_classes=num_classes, inputs=inputs, cfg=cfg)
        K2 = self.grid * self.grid
        if not 1 <= cfg.glimpses <= K2:
            raise GlimpseError(f"reinforce: glimpses must be between 1 and K^2 = {K2}")
        if cfg.baseline == "loo" and cfg.samples < 2:
            raise GlimpseError("reinforce: the leave-one-out baseline needs samples >= 2")
        if cfg.where:  # the core also reads the chosen cells' one-hot location
            _, D = self.cube_input(inputs, asdict(cfg))
            self.lstm = StackedLSTM(input_size=D + K2, hidden=cfg.hidden, layers=cfg.layers,
                                    dropout=cfg.dropout)
        if cfg.init == "zeros":
            self.init_h = self.init_c = None
        if cfg.policy == "uniform":  # nothing to learn where to look: no policy, no REINFORCE
            self.locate = None
        elif cfg.policy == "content":
            _, D = self.cube_input(inputs, asdict(cfg))
            self.locate = ContentSoftmax(query=cfg.hidden, feature_dim=D, dim=cfg.policy_dim,
                                         cells=K2)
        self.value = nn.Linear(cfg.hidden, 1) if cfg.baseline == "learned" and \
            cfg.policy != "uniform" else None
        self.entropy_weight = cfg.entropy

    def initial_state(self, cubes: Tensor, mask: Tensor | None):
        if self.cfg.init == "mean":
            return super().initial_state(cubes, mask)
        z = cubes.new_zeros(cubes.shape[0], self.cfg.hidden)
        return [(z, z) for _ in range(self.layers)]

    def param_groups(self, lr: float) -> list[dict]:
        """The optimizer's groups: the policy head at ``policy_lr`` when it has its own."""
        if not self.cfg.policy_lr or self.locate is None:
            return super().param_groups(lr)
        policy = set(map(id, self.locate.parameters()))
        return [{"params": [p for p in self.parameters() if id(p) not in policy], "lr": lr},
                {"params": list(self.locate.parameters()), "lr": self.cfg.policy_lr}]

    def set_epoch(self, epoch: int, epochs: int) -> None:
        """The entropy bonus of this epoch (annealed linearly to 0 over the run)."""
        self.entropy_weight = self.cfg.entropy * (
            1 - epoch / max(1, epochs) if self.cfg.entropy_anneal else 1)

    def _episode(self, cubes: Tensor, mask: Tensor | None, greedy: bool, generator=None,
                 actor: Tensor | None = None, cells: tuple[Tensor, ...] | None = None) -> Episode:
        """One pass over the clip (cubes (B, T, K^2, D); cells: the content policy's
        projection of every slice, one (B, K^2, a) per step)."""
        cfg = self.cfg
        B, T, K2, _ = cubes.shape
        # the steps' slices taken once: indexing [:, t] inside the loop would have autograd
        # zero-fill a gradient of the whole tensor at every step's backward
        slices = cubes.unbind(1)
        state = self.initial_state(cubes, mask)
        h_top = state[-1][0]
        tapes = self.lstm.new_tapes()
        budget = cfg.glimpse_steps or T
        tops, maps, policies, logps, drew = [], [], [], [], []
        chosen = None
        for t in range(T):
            query = h_top.detach() if cfg.detach and self.training else h_top
            if self.locate is None:
                p = query.new_full((B, K2), 1.0 / K2)
            else:
                p = self.locate(query) if cells is None else self.locate(query, cells[t])
            if t < budget:
                if cfg.force and not self.training:
                    chosen = forced_cells(cfg.force, cfg.glimpses, self.grid, B,
                                          None if actor is None else actor[:, t].flatten(1),
                                          generator).to(cubes.device)
                    logp = p.new_zeros(B)
                elif greedy:
                    chosen, logp = p.topk(cfg.glimpses, 1).indices, p.new_zeros(B)
                else:
                    chosen, logp = sample_cells(p, cfg.glimpses,
                                                replacement=cfg.replacement, generator=generator)
            else:
                logp = p.new_zeros(B)
            onehot = torch.zeros(B, K2, dtype=cubes.dtype, device=cubes.device)
            onehot.scatter_add_(1, chosen, torch.ones_like(chosen, dtype=cubes.dtype))
            w = onehot / cfg.glimpses if cfg.pool == "mean" else onehot
            x = attend(slices[t], w)  # the sum (or mean) of the chosen slices
            if cfg.where:
                x = torch.cat([x, onehot.clamp_max(1)], -1)
            drew.append(query)
            h_top, state = self.lstm.step(x, state, tapes)
            tops.append(h_top)
            maps.append(onehot / cfg.glimpses)
            policies.append(p)
            logps.append(logp)
        acted = torch.zeros(B, T, dtype=torch.bool, device=cubes.device)
        acted[:, :budget] = True
        return Episode(self.head(torch.stack(tops, 1)), torch.stack(maps, 1),
                       torch.stack(policies, 1), torch.stack(logps, 1), acted,
                       torch.stack(drew, 1))

    def forward(self, batch: dict) -> ModelOutput:
        """batch[stream] (B, T, K, K, D) -> scores (B, T, C) (the mean over episodes),
        attention (B, T, K, K) (the chosen cells); extras: policy, and in training every
        episode's scores, log pi, the states that drew the cells."""
        cfg = self.cfg
        features = self.cube(batch)
        B, T, K, _, D = features.shape
        cubes = features.reshape(B, T, K * K, D)
        mask = batch.get("mask")
        device = cubes.device
        if self.training:  # episodes differ in where they look, not in their dropout masks
            n, greedy = cfg.samples, False
            gen = torch.Generator(device=device).manual_seed(
                int(torch.randint(2 ** 62, (1,))))
        elif cfg.force:  # cells chosen for the agent, on the CPU's generator
            n, greedy, gen = cfg.test_samples or 1, False, torch.Generator().manual_seed(0)
        elif cfg.test_samples or self.locate is None:  # a uniform policy is sampled
            n, greedy = max(1, cfg.test_samples), False
            gen = torch.Generator(device=device).manual_seed(0)
        else:
            n, greedy, gen = 1, True, None
        actor = batch.get("actor")
        dropout_state = torch.get_rng_state()
        cuda = device.type == "cuda"
        cuda_state = torch.cuda.get_rng_state(device) if cuda else None
        cells = None
        if cfg.policy == "content":  # shared by the episodes: projected once
            cells = self.locate.cells(cubes.detach() if cfg.detach and self.training else cubes)
            cells = cells.unbind(1)  # one slice per step (see _episode)
        episodes = []
        for _ in range(n):
            torch.set_rng_state(dropout_state)
            if cuda:
                torch.cuda.set_rng_state(cuda_state, device)
            episodes.append(self._episode(cubes, mask, greedy, gen, actor, cells))
        every = Episode(*(torch.stack(parts) for parts in zip(*episodes)))  # (n, ...) each
        scores = every.scores  # (n, B, T, C)
        out = ModelOutput(scores.mean(0) if n > 1 else scores[0],
                          every.chosen.mean(0).view(B, T, K, K),
                          {"policy": every.policy[0].view(B, T, K, K)})
        if self.training:
            out.extras.update(episode_scores=scores, log_probs=every.log_prob,
                              acted=every.acted[0], drew=every.drew, chosen=every.chosen,
                              policies=every.policy)
        return out

    def _reinforce(self, output: ModelOutput, batch: dict) -> dict:
        """The returns (E, T), baselines, policy entropies and on-actor rate of the training
        episodes (E = samples x B), computed once per output: the loss and the logged stats
        share them."""
        if "reinforce" in output.extras:
            return output.extras["reinforce"]
        cfg = self.cfg
        scores = output.extras["episode_scores"]  # (n, B, T, C)
        n, B, T, _ = scores.shape
        mask = valid_steps(batch.get("mask"), B, T, scores.device)
        top = scores.argmax(-1)  # (n, B, T)
        if "targets" in batch:  # multi-label: a step is right when its top class is a label
            correct = batch["targets"][None].expand(n, -1, -1).gather(2, top).bool()
        else:
            correct = top == batch["label"][None, :, None]
        masks = mask.repeat(n, 1)
        if cfg.reward == "to-go":
            R = reward_to_go(correct.reshape(n * B, T), masks, cfg.eta)
        else:
            R = episode_reward(correct.reshape(n * B, T), masks, cfg.eta)[:, None].expand(-1, T)
        if self.value is not None:
            b = self.value(output.extras["drew"].reshape(n * B, T, -1).detach()).squeeze(-1)
        elif cfg.baseline == "loo" and n > 1:
            b = leave_one_out(R.reshape(n, B, T)).reshape(n * B, T)
        else:
            b = R.new_zeros(n * B, T)
        acted = output.extras["acted"].repeat(n, 1) & masks
        pol = output.extras["policies"]  # (n, B, T, K^2)
        H = policy_entropy(pol).reshape(n * B, T)
        r = {"R": R, "b": b, "acted": acted, "mask": mask, "H": H,
             "baseline_sq": baseline_error(b, R, acted)}
        if "actor" in batch:  # the chosen cells' share of actor: a cell is on it at >= half cover
            on = (batch["actor"].flatten(2) >= 0.5).to(pol.dtype)  # (B, T, K^2)
            looked = (output.extras["chosen"] * on[None]).sum(-1).reshape(n * B, T)
            r["on_actor"] = (looked * acted).sum() / acted.sum().clamp_min(1)
        output.extras["reinforce"] = r
        return r

    def loss(self, output: ModelOutput, batch: dict) -> dict[str, Tensor]:
        if not self.training or "episode_scores" not in output.extras:
            return super().loss(output, batch)
        from glimpse.losses import sequence_binary_cross_entropy, sequence_cross_entropy

        cfg = self.cfg
        scores = output.extras["episode_scores"]
        n, B, T, C = scores.shape
        r = self._reinforce(output, batch)
        flat, mask = scores.reshape(n * B, T, C), r["mask"].repeat(n, 1)
        terms = {"bce": sequence_binary_cross_entropy(flat, batch["targets"].repeat(n, 1), mask)}\
            if "targets" in batch else \
            {"ce": sequence_cross_entropy(flat, batch["label"].repeat(n), mask)}
        policies = output.extras["policies"]  # (n, B, T, K^2)
        if cfg.lam:
            terms["doubly_stochastic"] = cfg.lam * doubly_stochastic_penalty(  # where it acted
                policies.reshape(n * B, T, -1).view(n * B, T, self.grid, self.grid), r["acted"])
        if self.locate is None:  # the frozen uniform policy: the core and classifier only
            return terms
        logp = output.extras["log_probs"].reshape(n * B, T)
        terms["reinforce"] = reinforce_surrogate(logp, r["R"], r["b"], r["acted"])
        if self.value is not None:
            terms["baseline_mse"] = r["baseline_sq"].sum(1).mean()
        if self.entropy_weight:
            terms["entropy_bonus"] = entropy_bonus(r["H"], r["acted"], self.entropy_weight)
        return terms

    def stats(self, output: ModelOutput, batch: dict) -> dict[str, float]:
        """Per-batch figures the trainer logs (never added to the loss)."""
        if "episode_scores" not in output.extras:
            return {}
        r = self._reinforce(output, batch)
        m = r["acted"].float()
        out = {"reward": float(r["R"][:, 0].mean()),
               "baseline_error": float(r["baseline_sq"].detach().sum() / m.sum().clamp_min(1)),
               "policy_entropy": float((r["H"] * m).sum() / m.sum().clamp_min(1))}
        if "on_actor" in r:
            out["policy_on_actor"] = float(r["on_actor"])
        return out
