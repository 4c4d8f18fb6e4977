"""Policy cross-entropy to the search policy + value loss to the outcome, AdamW, warmup + cosine.

Loss (AlphaZero, Silver et al. 2018): l = -pi^T log p + c_v (z - v)^2, with weight decay in AdamW
rather than an explicit L2 term. Positions searched cheaply under playout cap randomization
contribute their value only (KataGo, Wu 2019).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from lmzero.models.game_net import mirror_tokens, policy_logits
from lmzero.models.tinylm import TinyLM


@dataclass
class LearnerConfig:
    batch_size: int = 256
    """Positions per gradient step."""
    steps_per_iteration: int = 100
    """Gradient steps after each self-play batch."""
    lr: float = 2e-3
    """Peak learning rate."""
    min_lr_ratio: float = 0.1
    """Final learning rate as a share of the peak (cosine decay over the run)."""
    warmup_steps: int = 50
    """Linear warmup from 0 to the peak."""
    weight_decay: float = 1e-4
    """AdamW decoupled weight decay."""
    value_weight: float = 1.0
    """c_v: weight of the value loss."""
    mirror: bool = True
    """Augment with the board's left-right mirror (when the game has one)."""

    def __post_init__(self):
        if self.batch_size < 1 or self.steps_per_iteration < 0:
            raise ValueError("batch_size must be >= 1 and steps_per_iteration >= 0")
        if self.lr <= 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")


class Learner:
    def __init__(self, model: TinyLM, move_tokens: np.ndarray, config: LearnerConfig,
                 total_steps: int, mirror_cells: np.ndarray | None = None,
                 mirror_moves: np.ndarray | None = None):
        self.model, self.config, self.total_steps = model, config, max(total_steps, 1)
        self.move_tokens = torch.as_tensor(move_tokens)
        self.optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr,
                                           weight_decay=config.weight_decay)
        self.step_count = 0
        use_mirror = config.mirror and mirror_cells is not None and mirror_moves is not None
        self.mirror_cells = mirror_cells if use_mirror else None
        self.mirror_moves = mirror_moves if use_mirror else None

    def lr(self) -> float:
        return warmup_cosine(self.step_count, self.total_steps, self.config)

    def _augment(self, tokens, policy, rng):
        if self.mirror_cells is None:
            return tokens, policy
        flip = rng.random(len(tokens)) < 0.5
        tokens, policy = tokens.copy(), policy.copy()
        tokens[flip] = mirror_tokens(tokens[flip], self.mirror_cells)
        policy[flip] = policy[flip][:, self.mirror_moves]
        return tokens, policy

    def losses(self, tokens, policy, value, target) -> dict:
        logits, v = policy_logits(self.model, tokens, self.move_tokens)
        # softmax over every move, unmasked as in AlphaZero: illegal moves have target 0 and
        # learn to get none (masking by "target > 0" would ignore every unvisited legal move)
        per_position = -(policy * F.log_softmax(logits, dim=-1)).sum(-1)
        weight = target.float()
        policy_loss = (per_position * weight).sum() / weight.sum().clamp(min=1)
        value_loss = F.mse_loss(v, value)
        return dict(policy=policy_loss, value=value_loss,
                    total=policy_loss + self.config.value_weight * value_loss)

    def train(self, data: dict, steps: int, rng: np.random.Generator) -> dict:
        """`steps` gradient steps on batches drawn from `data`; mean losses."""
        self.model.train()
        sums = dict(policy=0.0, value=0.0, total=0.0)
        n = len(data["value"])
        for _ in range(steps):
            idx = rng.integers(0, n, size=min(self.config.batch_size, n))
            tokens, policy = self._augment(data["tokens"][idx], data["policy"][idx], rng)
            for group in self.optimizer.param_groups:
                group["lr"] = self.lr()
            device = self.model.device
            loss = self.losses(*(torch.as_tensor(x, device=device) for x in
                                 (tokens, policy, data["value"][idx], data["target"][idx])))
            self.optimizer.zero_grad(set_to_none=True)
            loss["total"].backward()
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
            self.optimizer.step()
            self.step_count += 1
            for k in sums:
                sums[k] += loss[k].item() / max(steps, 1)
        return sums

    def optimizer_tensors(self) -> dict:
        return optimizer_tensors(self.model, self.optimizer)

    def load_optimizer_tensors(self, tensors: dict, step_count: int) -> None:
        load_optimizer_tensors(self.model, self.optimizer, tensors)
        self.step_count = step_count


def _parameters(model) -> list:
    return list(model.parameters()) if isinstance(model, torch.nn.Module) else list(model)


def optimizer_tensors(model, optimizer: torch.optim.Optimizer) -> dict:
    """AdamW moments as flat named tensors (safetensors holds tensors only); `model` is a
    module or the list of trained parameters, in a fixed order."""
    out = {}
    for i, p in enumerate(_parameters(model)):
        for k, v in optimizer.state.get(p, {}).items():
            if torch.is_tensor(v):
                out[f"{i}.{k}"] = v.reshape(-1) if v.dim() == 0 else v
    return out


def load_optimizer_tensors(model, optimizer: torch.optim.Optimizer, tensors: dict) -> None:
    """The inverse of `optimizer_tensors`."""
    for i, p in enumerate(_parameters(model)):
        state = {k.split(".", 1)[1]: v for k, v in tensors.items()
                 if k.split(".", 1)[0] == str(i)}
        # moments beside their parameter; AdamW keeps its step count on the CPU
        state = {k: v if k == "step" else v.to(p.device) for k, v in state.items()}
        if state:
            if "step" in state:
                state["step"] = state["step"].reshape(())
            optimizer.state[p] = state


def warmup_cosine(step: int, total_steps: int, config) -> float:
    """Learning rate at `step`: linear warmup over `config.warmup_steps`, then cosine decay to
    `config.min_lr_ratio * config.lr` at `total_steps` (every learner here uses it)."""
    c = config
    if step < c.warmup_steps:
        return c.lr * (step + 1) / c.warmup_steps
    progress = min(1.0, (step - c.warmup_steps) / max(1, total_steps - c.warmup_steps))
    return c.lr * (c.min_lr_ratio + (1 - c.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))
