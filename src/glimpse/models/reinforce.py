"""Hard attention trained with REINFORCE (paper 004): sampled glimpses, a reward on the
predictions, a learned baseline.

Paper 004 copies paper 002's network and loss and loses several equations in its text; the
reading implemented here:

- **Core**: paper 002's LSTM (``glimpse.models.soft``): 3 layers, h0 and c0 from MLPs over the
  clip's mean feature, y_t = softmax(W_y tanh(W_z h_t)).
- **Policy**: l_{t+1} = softmax(W_l h_t) over the K^2 cells (l_1 from h0). At each step m
  glimpses (``glimpses``) are drawn from it, without replacement by default, and the LSTM's
  input is the **sum** of the chosen cells' feature slices (eq. 3; ``pool = "mean"`` averages).
  ``glimpse_steps`` N: the step budget (the paper's "limited N = 5" against all steps): the agent
  chooses new cells at the first N steps and then keeps its last choice (no more actions);
  0 = every step.
- **Training**: the LSTM and classifier by cross-entropy at every step (+ paper 002's doubly
  stochastic penalty on l, weight ``lam``); the policy by REINFORCE (eq. 6): the surrogate
  -sum_n log pi(a_n) (R_n - b_n), averaged over ``samples`` episodes per clip (K in eq. 6), whose
  gradient is the paper's estimate. log pi(a_n) of m draws without replacement is
  sum_j log(p_{a_j} / (1 - sum_{i<j} p_{a_i})).
- **Reward** (eq. 7): r_N = (eta N+ R+ + (1 - eta) N- R-) / N over the episode's N valid steps,
  N+ the steps whose prediction (argmax y_t) is right, N- the wrong ones, R+ = 1, R- = -1,
  eta = 0.5; zero before the last step, so every step's return R_n is r_N.
- **Baseline**: b_n = w^T h_n + b with h_n detached, trained by mean squared error against R_n
  (``baseline = False``: b = 0). Optional entropy bonus (``entropy`` > 0, a departure, off by
  default): -entropy * sum_n H(l_n).
- **Testing**: greedy (the top-m cells of l_t) by default; ``test_samples`` S > 0 averages the
  scores of S sampled episodes (drawn from a generator seeded per batch, so an evaluation is
  reproducible).
- Sampling in training uses torch's global generator, which the trainer seeds and checkpoints,
  so a resumed run draws what an uninterrupted one would.

The ``attention`` output is the indicator of the chosen cells, divided by m (greedy at test), so
the attention metrics read which cells the agent looked at; ``extras["policy"]`` is l_t.
Per epoch the trainer logs the mean reward, the baseline's squared error and the policy's
entropy (``stats``), so a collapsing policy shows in log.csv.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from glimpse import GlimpseError
from glimpse.losses import doubly_stochastic_penalty
from glimpse.models.attention import attend
from glimpse.models.output import ModelOutput
from glimpse.models.soft import SoftAttentionLSTM, SoftConfig


@dataclass
class ReinforceConfig(SoftConfig):
    glimpses: int = 1  # m, cells looked at per step
    glimpse_steps: int = 0  # N, steps at which the agent acts (0: all)
    samples: int = 2  # episodes per clip in training (K in eq. 6)
    replacement: bool = False  # draw the m cells with replacement
    pool: str = "sum"  # the chosen slices: sum (eq. 3) or mean
    eta: float = 0.5  # the reward's trade-off between right and wrong steps
    baseline: bool = True  # the learned baseline b_n = w^T h_n
    entropy: float = 0.0  # entropy bonus on the policy (a departure; off)
    test_samples: int = 0  # 0: greedy testing; S: the mean of S sampled episodes


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


def episode_reward(correct: Tensor, mask: Tensor, eta: float) -> Tensor:
    """correct, mask (B, T) bool -> r_N (B,) = (eta N+ R+ + (1 - eta) N- R-) / N, R+- = +-1."""
    m = mask.to(torch.float32)
    n_pos = (correct.float() * m).sum(1)
    n_neg = m.sum(1) - n_pos
    return (eta * n_pos - (1 - eta) * n_neg) / m.sum(1).clamp_min(1)


def reinforce_surrogate(log_probs: Tensor, returns: Tensor, baseline: Tensor,
                        acted: Tensor) -> Tensor:
    """-sum_n log pi(a_n) (R_n - b_n) over the steps where the agent acted, averaged over
    episodes; log_probs, baseline (E, T), returns (E,), acted (E, T). The advantage is a
    constant (no gradient into the baseline or the reward)."""
    adv = (returns[:, None] - baseline).detach()
    return -(log_probs * adv * acted.to(log_probs.dtype)).sum(1).mean()


class ReinforceLSTM(SoftAttentionLSTM):
    Config = ReinforceConfig
    test_options = ("test_samples",)  # greedy or sampled testing of one trained policy

    def __init__(self, *, num_classes: int, inputs: dict, cfg: ReinforceConfig):
        super().__init__(num_classes=num_classes, inputs=inputs, cfg=cfg)
        K2 = self.grid * self.grid
        if not 1 <= cfg.glimpses <= K2:
            raise GlimpseError(f"reinforce: glimpses must be between 1 and K^2 = {K2}")
        if cfg.pool not in ("sum", "mean"):
            raise GlimpseError(f"reinforce: pool must be sum or mean, got '{cfg.pool}'")
        if cfg.samples < 1 or cfg.test_samples < 0 or cfg.glimpse_steps < 0:
            raise GlimpseError("reinforce: samples >= 1, test_samples >= 0, glimpse_steps >= 0")
        self.value = nn.Linear(cfg.hidden, 1) if cfg.baseline else None

    def _episode(self, cubes: Tensor, mask: Tensor | None, greedy: bool, generator=None):
        """One pass over the clip: (scores (B, T, C), chosen-cell maps (B, T, K^2), policy
        (B, T, K^2), log pi (B, T), acted (B, T) bool, top hidden states (B, T, M))."""
        cfg = self.cfg
        B, T, K2, _ = cubes.shape
        state = self.initial_state(cubes, mask)
        h_top = state[-1][0]
        tapes = self.lstm.new_tapes()
        budget = cfg.glimpse_steps or T
        tops, maps, policies, logps = [], [], [], []
        chosen = None
        for t in range(T):
            p = self.locate(h_top)
            if t < budget:
                if greedy:
                    chosen, logp = p.topk(cfg.glimpses, 1).indices, p.new_zeros(B)
                else:
                    chosen, logp = sample_cells(p, cfg.glimpses,
                                                replacement=cfg.replacement, generator=generator)
            else:
                logp = p.new_zeros(B)
            onehot = torch.zeros(B, K2, dtype=cubes.dtype, device=cubes.device)
            onehot.scatter_add_(1, chosen, torch.ones_like(chosen, dtype=cubes.dtype))
            w = onehot / cfg.glimpses if cfg.pool == "mean" else onehot
            x = attend(cubes[:, t], w)  # the sum (or mean) of the chosen slices
            h_top, state = self.lstm.step(x, state, tapes)
            tops.append(h_top)
            maps.append(onehot / cfg.glimpses)
            policies.append(p)
            logps.append(logp)
        acted = torch.zeros(B, T, dtype=torch.bool, device=cubes.device)
        acted[:, :budget] = True
        tops = torch.stack(tops, 1)
        return (self.head(tops), torch.stack(maps, 1), torch.stack(policies, 1),
                torch.stack(logps, 1), acted, tops)

    def forward(self, batch: dict) -> ModelOutput:
        """batch[stream] (B, T, K, K, D) -> scores (B, T, C) (the mean over episodes),
        attention (B, T, K, K) (the chosen cells); extras: policy, and in training every
        episode's scores, log pi, hidden states."""
        cfg = self.cfg
        features = self.cube(batch)
        B, T, K, _, D = features.shape
        cubes = features.reshape(B, T, K * K, D)
        mask = batch.get("mask")
        if self.training:
            n, greedy, gen = cfg.samples, False, None
        elif cfg.test_samples:
            n, greedy = cfg.test_samples, False
            gen = torch.Generator(device=cubes.device).manual_seed(0)
        else:
            n, greedy, gen = 1, True, None
        episodes = [self._episode(cubes, mask, greedy, gen) for _ in range(n)]
        scores = torch.stack([e[0] for e in episodes])  # (n, B, T, C)
        out = ModelOutput(scores.mean(0) if n > 1 else scores[0],
                          torch.stack([e[1] for e in episodes]).mean(0).view(B, T, K, K),
                          {"policy": episodes[0][2].view(B, T, K, K)})
        if self.training:
            out.extras.update(episode_scores=scores,
                              log_probs=torch.stack([e[3] for e in episodes]),
                              acted=episodes[0][4],
                              hidden=torch.stack([e[5] for e in episodes]),
                              policies=torch.stack([e[2] for e in episodes]))
        return out

    def _reinforce(self, output: ModelOutput, batch: dict) -> dict:
        """The returns, baselines and policy entropies of the training episodes (E = samples x
        B), computed once per output: the loss and the logged stats share them."""
        if "reinforce" in output.extras:
            return output.extras["reinforce"]
        scores = output.extras["episode_scores"]  # (n, B, T, C)
        n, B, T, _ = scores.shape
        mask = batch.get("mask")
        mask = torch.ones(B, T, dtype=torch.bool, device=scores.device) if mask is None \
            else mask.bool()
        top = scores.argmax(-1)  # (n, B, T)
        if "targets" in batch:  # multi-label: a step is right when its top class is a label
            correct = batch["targets"][None].expand(n, -1, -1).gather(2, top).bool()
        else:
            correct = top == batch["label"][None, :, None]
        R = episode_reward(correct.reshape(n * B, T), mask.repeat(n, 1), self.cfg.eta)
        hidden = output.extras["hidden"].reshape(n * B, T, -1).detach()
        b = self.value(hidden).squeeze(-1) if self.value is not None else \
            hidden.new_zeros(n * B, T)
        acted = output.extras["acted"].repeat(n, 1) & mask.repeat(n, 1)
        pol = output.extras["policies"]  # (n, B, T, K^2)
        H = -(pol * torch.log(pol.clamp_min(1e-12))).sum(-1).reshape(n * B, T)
        output.extras["reinforce"] = {"R": R, "b": b, "acted": acted, "mask": mask, "H": H}
        return output.extras["reinforce"]

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
            terms["doubly_stochastic"] = cfg.lam * doubly_stochastic_penalty(
                policies.reshape(n * B, T, -1).view(n * B, T, self.grid, self.grid),
                r["mask"].repeat(n, 1))
        logp = output.extras["log_probs"].reshape(n * B, T)
        terms["reinforce"] = reinforce_surrogate(logp, r["R"], r["b"], r["acted"])
        if self.value is not None:
            m = r["acted"].to(r["b"].dtype)
            terms["baseline_mse"] = (((r["b"] - r["R"][:, None]) ** 2) * m).sum(1).mean()
        if cfg.entropy:
            terms["entropy_bonus"] = -cfg.entropy * (r["H"] * r["acted"].float()).sum(1).mean()
        return terms

    def stats(self, output: ModelOutput, batch: dict) -> dict[str, float]:
        """Per-batch figures the trainer logs (never added to the loss)."""
        if "episode_scores" not in output.extras:
            return {}
        r = self._reinforce(output, batch)
        m = r["acted"].float()
        return {"reward": float(r["R"].mean()),
                "baseline_error": float((((r["b"] - r["R"][:, None]) ** 2) * m).sum()
                                        / m.sum().clamp_min(1)),
                "policy_entropy": float((r["H"] * m).sum() / m.sum().clamp_min(1))}
