"""GRPO (Shao et al. 2024, DeepSeekMath): policy gradient with group-relative advantages.

No value network in the gradient: each trajectory's advantage is its reward against the other
trajectories of the same problem, A = (r - mean) / (std + eps), and every token of its steps
gets it. The update is PPO's clipped surrogate, min(rho A, clip(rho, 1 - eps, 1 + eps) A) with
rho = pi / pi_old per token, averaged over all tokens of a minibatch (DAPO's token-level mean,
Yu et al. 2025), plus optionally beta KL(pi || pi_ref) to the starting model (the k3 estimator,
exp(ref - logp) - (ref - logp) - 1). Groups whose trajectories all scored the same carry no
signal and are dropped. pi_old is the policy that sampled: its log-probs are computed once per
round, before the first update, at the sampling temperature.

With `SamplingConfig.value_rows` the value head is trained alongside on Monte Carlo outcomes
(`sampling_actor.outcome_value_rows`), only for search on the trained model; no advantage
uses it.

Works with any learner that offers `score`, `apply_gradients` and `train_mode`
(`learn.step_learner.StepLearner`, `models.hf_learner.HFLearner`).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import numpy as np
import torch

from lmzero.selfplay.sampling_actor import Group, outcome_value_rows


@dataclass
class GRPOConfig:
    clip: float = 0.2
    """PPO clip range epsilon of the ratio pi / pi_old."""
    kl_coef: float = 0.0
    """beta of the KL penalty to the starting model (0 = none, as in DAPO and Dr. GRPO)."""
    scale_by_std: bool = True
    """Divide advantages by the group's reward std (GRPO); False: mean-centred only (Dr. GRPO,
    Liu et al. 2025, which removes the bias towards easy and hard problems)."""
    epochs: float = 2.0
    """Passes over a round's rows at most (PPO's mu): a round's learner steps are capped at
    ceil(epochs * rows / batch_size). A fixed 100 steps on the ~80 rows of the few groups that
    differ in Game of 24's first round pushed a fifth to half of the ratios out of the clip
    range and the policy collapsed (held-out MCTS@32 28% -> 1%, `bench/search_vs_rl.py`)."""
    value_weight: float = 0.5
    """Weight of the value-head loss on Monte Carlo outcomes when value rows are written
    (`SamplingConfig.value_rows`; auxiliary: the advantages never use it)."""

    def __post_init__(self):
        if (not 0 < self.clip < 1 or self.kl_coef < 0 or self.value_weight < 0
                or not self.epochs > 0):
            raise ValueError(f"need 0 < clip < 1, kl_coef >= 0, value_weight >= 0 and epochs > 0, "
                             f"got {self.clip}, {self.kl_coef}, {self.value_weight}, "
                             f"{self.epochs}")


def group_advantages(rewards: np.ndarray, scale_by_std: bool = True,
                     eps: float = 1e-4) -> np.ndarray:
    """[G] rewards of one group -> [G] advantages (all 0 when the rewards are all equal)."""
    centred = rewards - rewards.mean()
    return centred / (rewards.std() + eps) if scale_by_std else centred


def grpo_rows(group: Group, config: GRPOConfig, with_values: bool = True) -> list[tuple]:
    """(prompt, step, advantage, value) rows of a group: one per step of every trajectory of a
    group whose rewards differ (the step as sampled: the ratio is of the text the policy wrote),
    and (`with_values`) the group's Monte Carlo value rows."""
    rewards = group.rewards
    rows = outcome_value_rows(group) if with_values else []
    if rewards.std() == 0:
        return rows
    for walk, a in zip(group.trajectories, group_advantages(rewards, config.scale_by_std)):
        rows += [(p, s, float(a), np.nan) for p, s in zip(walk.prompts, walk.steps) if s]
    return rows


class GRPOUpdate:
    """The policy-gradient updates of one round of groups (see the module doc)."""

    def __init__(self, learner, config: GRPOConfig, temperature: float,
                 reference: torch.nn.Module | None = None):
        self.learner, self.config, self.temperature = learner, config, temperature
        self.reference = reference

    @staticmethod
    def frozen_copy(model: torch.nn.Module) -> torch.nn.Module:
        """The KL reference: a copy of the starting model that never trains."""
        ref = copy.deepcopy(model).eval()
        for p in ref.parameters():
            p.requires_grad_(False)
        return ref

    def run(self, data: dict, steps: int, batch_size: int, rng: np.random.Generator) -> dict:
        """Up to `steps` updates (at most `epochs` passes) on minibatches of `data` (one
        round's replay arrays: weight = the advantage of step rows) taken in shuffled passes;
        mean losses and diagnostics."""
        policy_rows = np.flatnonzero(data["step"] != "")
        value_rows = np.flatnonzero(~np.isnan(data["value"]))
        rows = max(len(policy_rows), len(value_rows))
        steps = min(steps, math.ceil(self.config.epochs * rows / batch_size))
        if steps == 0 or (len(policy_rows) == 0 and len(value_rows) == 0):
            return dict(policy=float("nan"), value=float("nan"))
        old = self._old_logprobs(data, policy_rows, batch_size)
        sums = dict(policy=0.0, value=0.0, kl=0.0, clipped=0.0)
        order = iter(())
        self.learner.train_mode(True)
        for _ in range(steps):
            batch = self._next_batch(order, policy_rows, batch_size, rng)
            order = batch[1]
            value_batch = rng.choice(value_rows, size=min(batch_size, len(value_rows)),
                                     replace=False) if len(value_rows) else value_rows
            loss = self._loss(data, batch[0], old, value_batch)
            self.learner.apply_gradients(loss["total"])
            for k in sums:
                sums[k] += float(loss[k].detach())
        self.learner.train_mode(False)
        return {k: round(v / steps, 4) for k, v in sums.items()}

    @staticmethod
    def _next_batch(order, rows: np.ndarray, size: int, rng: np.random.Generator):
        """The next minibatch of policy rows, a new shuffled pass when one ends."""
        batch = []
        for _ in range(min(size, len(rows))):
            index = next(order, None)
            if index is None:
                order = iter(rng.permutation(rows))
                index = next(order)
            batch.append(index)
        return np.array(batch, dtype=np.int64), order

    @torch.no_grad()
    def _old_logprobs(self, data: dict, rows: np.ndarray, size: int) -> dict[int, torch.Tensor]:
        """Row -> per-token log-probs of its step under the policy that sampled it."""
        self.learner.train_mode(False)
        old = {}
        for start in range(0, len(rows), size):
            chunk = rows[start:start + size]
            logp, mask, _ = self.learner.score(data["prompt"][chunk].tolist(),
                                               data["step"][chunk].tolist(), self.temperature,
                                               np.full(len(chunk), np.nan))
            for r, lp, m in zip(chunk, logp, mask):
                old[int(r)] = lp[m].detach()
        return old

    def _loss(self, data: dict, rows: np.ndarray, old: dict, value_rows: np.ndarray) -> dict:
        zero = torch.zeros(())
        value = self._value_loss(data, value_rows) if len(value_rows) else zero
        if not len(rows):
            return dict(total=self.config.value_weight * value, policy=zero, value=value,
                        kl=zero, clipped=zero)
        prompts, steps = data["prompt"][rows].tolist(), data["step"][rows].tolist()
        logp, mask, _ = self.learner.score(prompts, steps, self.temperature,
                                           np.full(len(rows), np.nan))
        new = logp[mask]  # [N] every step token of the minibatch
        before = torch.cat([old[int(r)] for r in rows]).to(new.device)
        adv = torch.as_tensor(np.repeat(data["weight"][rows], mask.sum(1).cpu().numpy()),
                              dtype=torch.float32, device=new.device)
        ratio = torch.exp(new - before)
        eps = self.config.clip
        surrogate = torch.minimum(ratio * adv, ratio.clamp(1 - eps, 1 + eps) * adv)
        policy = -surrogate.mean()
        kl = self._kl(prompts, steps, new) if self.config.kl_coef else zero
        clipped = ((ratio - 1).abs() > eps).float().mean()
        total = policy + self.config.kl_coef * kl + self.config.value_weight * value
        return dict(total=total, policy=policy, value=value, kl=kl, clipped=clipped)

    def _value_loss(self, data: dict, rows: np.ndarray) -> torch.Tensor:
        n = len(rows)
        return self.learner.score(data["prompt"][rows].tolist(), [""] * n, self.temperature,
                                  data["value"][rows])[2]

    def _kl(self, prompts: list, steps: list, new: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            ref, mask, _ = self.learner.score(prompts, steps, self.temperature,
                                              np.full(len(prompts), np.nan),
                                              model=self.reference)
        delta = ref[mask].to(new.device) - new
        return (torch.exp(delta) - delta - 1).mean()
