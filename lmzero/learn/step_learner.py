"""The learner for open-action tasks: distil search back into the text model.

An example is a state's prompt with (a) a step the search chose and its weight (the visit share:
weighted likelihood of the searched steps, so the model imitates the search) and/or (b) a value
target in [0, 1] for the state (verified outcome or search value). Loss = weighted mean
per-token cross-entropy of the steps + value MSE on 2v - 1 (the tanh head's range), AdamW with
warmup and cosine decay over the whole run. By default a batch is half step rows drawn in
proportion to their weights (importance sampling: the same expected loss with far less
variance when a few verified steps carry most of the weight) and half value rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from lmzero.learn.learner import load_optimizer_tensors, optimizer_tensors, warmup_cosine
from lmzero.models.text_tokenizer import CharTokenizer
from lmzero.models.tinylm import TinyLM


@dataclass
class StepLearnerConfig:
    batch_size: int = 64
    """Examples per gradient step (drawn with the curation weights)."""
    steps_per_iteration: int = 150
    """Gradient steps after each round of search."""
    lr: float = 1e-3
    """Peak learning rate (AdamW)."""
    min_lr_ratio: float = 0.1
    """Final learning rate as a share of the peak."""
    warmup_steps: int = 20
    """Linear warmup at the start of the run."""
    weight_decay: float = 0.01
    """AdamW decoupled weight decay."""
    value_weight: float = 1.0
    """Weight of the value loss against the policy loss."""
    policy_fraction: float | None = 0.5
    """Share of each batch drawn from the step (policy) rows, in proportion to their weights
    times the curation probabilities; the rest from the value rows, by curation alone. None:
    draw rows of both kinds together and weight the loss instead. Solution steps are a few
    percent of the rows, so mixed batches held about four of them and the policy starved
    (bench/distill_targets.py: greedy 11.5% -> 13.1%, MCTS @32 61.7% -> 83.3%)."""

    def __post_init__(self):
        if self.batch_size < 1 or self.steps_per_iteration < 0 or self.lr <= 0:
            raise ValueError("batch_size >= 1, steps_per_iteration >= 0 and lr > 0 are required")
        if self.policy_fraction is not None and not 0 < self.policy_fraction < 1:
            raise ValueError(f"policy_fraction must be in (0, 1) or None, "
                             f"got {self.policy_fraction}")


def encode(prompts, steps, tokenizer: CharTokenizer, block_size: int):
    """Right-padded tokens [B, T] (BOS + prompt + step + newline), targets [B, T] on the step's
    characters only (-100 elsewhere), and the index of each prompt's last token (its value)."""
    rows, ends = [], []
    for prompt, step in zip(prompts, steps):
        head = [tokenizer.bos_id, *tokenizer.encode(prompt)]
        tail = tokenizer.encode(step + "\n") if step else []
        ids = (head + tail)[-block_size:]  # over-long texts keep their end
        rows.append((ids, len(tail)))
        ends.append(len(ids) - len(tail) - 1)
    T = max(len(ids) for ids, _ in rows)
    tokens = torch.full((len(rows), T), tokenizer.pad_id, dtype=torch.long)
    targets = torch.full((len(rows), T), -100, dtype=torch.long)
    for b, (ids, n_step) in enumerate(rows):
        tokens[b, :len(ids)] = torch.tensor(ids)
        if n_step:  # position t predicts token t + 1: the step's tokens from the prompt's end
            targets[b, len(ids) - n_step - 1:len(ids) - 1] = torch.tensor(ids[-n_step:])
    return tokens, targets, torch.tensor(ends)


def encode_on(model: TinyLM, prompts, steps, tokenizer: CharTokenizer):
    """`encode` for `model`: its block size, the tensors on its device."""
    return tuple(t.to(model.device) for t in encode(prompts, steps, tokenizer,
                                                    model.cfg.block_size))


class StepLearner:
    def __init__(self, model: TinyLM, tokenizer: CharTokenizer, config: StepLearnerConfig,
                 total_steps: int):
        self.model, self.tokenizer, self.config = model, tokenizer, config
        self.total_steps = max(1, total_steps)
        self.optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr,
                                           weight_decay=config.weight_decay)
        self.step_count = 0
        self.origin = 0
        """The step the schedule (warmup, then cosine) starts from: a run's later phase restarts
        it (`restart_schedule`)."""

    def lr(self) -> float:
        return warmup_cosine(self.step_count - self.origin, self.total_steps, self.config)

    def restart_schedule(self, origin: int, total_steps: int, config: StepLearnerConfig) -> None:
        """Warmup and cosine over `total_steps` from step `origin`, under `config` (a new phase's
        learner settings: `lmzero.phases`)."""
        self.origin, self.total_steps, self.config = origin, max(1, total_steps), config

    def losses(self, prompts, steps, weights, values) -> dict:
        tokens, targets, ends = encode_on(self.model, prompts, steps, self.tokenizer)
        h = self.model.hidden(tokens)  # [B, T, C]
        logits = self.model.policy_head(h)  # [B, T, V]
        ce = F.cross_entropy(logits.transpose(1, 2), targets, ignore_index=-100,
                             reduction="none")  # [B, T]
        n_tokens = (targets != -100).sum(1).clamp(min=1)
        per_example = ce.sum(1) / n_tokens  # length-normalised, like the priors
        w = torch.as_tensor(weights, dtype=torch.float32, device=h.device)
        policy = (w * per_example).sum() / w.sum().clamp(min=1e-8)
        return dict(policy=policy, value=self._value_loss(h, ends, values))

    def _value_loss(self, h: torch.Tensor, ends: torch.Tensor, values) -> torch.Tensor:
        """MSE of the tanh value head at each prompt's last token against 2v - 1 (rows whose
        target is NaN have none)."""
        v_target = torch.as_tensor(np.asarray(values, np.float32), device=h.device)
        has_value = ~torch.isnan(v_target)
        rows = torch.arange(len(ends), device=h.device)
        v = torch.tanh(self.model.value_head(h[rows, ends])).squeeze(-1)
        return (F.mse_loss(v[has_value], 2 * v_target[has_value] - 1) if has_value.any()
                else v.sum() * 0)

    def score(self, prompts, steps, temperature: float, values, model: TinyLM | None = None):
        """Per-token log-probs [B, T] of each step's tokens (newline included) under the policy
        at `temperature`, their mask [B, T], and the value loss against `values` (the policy
        gradient's own forward: `learn.grpo`). `model`: another model of the same tokenizer
        (the KL reference)."""
        model = model or self.model
        tokens, targets, ends = encode_on(model, prompts, steps, self.tokenizer)
        h = model.hidden(tokens)
        logp = F.log_softmax(model.policy_head(h).float() / temperature, dim=-1)
        mask = targets != -100
        picked = logp.gather(-1, targets.clamp(min=0)[..., None]).squeeze(-1)
        return picked * mask, mask, self._value_loss(h, ends, values)

    def apply_gradients(self, loss: torch.Tensor) -> None:
        """One optimizer step on `loss` at the schedule's learning rate (gradients clipped)."""
        for group in self.optimizer.param_groups:
            group["lr"] = self.lr()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.optimizer.step()
        self.step_count += 1

    def train_mode(self, on: bool) -> None:
        self.model.train(on)

    def train(self, data: dict, steps: int, rng: np.random.Generator,
              probabilities: np.ndarray | None = None) -> dict:
        """`steps` gradient steps on batches drawn from `data` (replay arrays) with the given
        per-example probabilities (curation); mean losses."""
        n = len(data["prompt"])
        if n == 0 or steps == 0:
            return dict(policy=float("nan"), value=float("nan"))
        self.model.train()
        sums = dict(policy=0.0, value=0.0)
        draw, unit = self._sampler(data, probabilities, rng)
        for _ in range(steps):
            idx = draw()
            weights = data["weight"][idx]
            if unit:  # drawn by weight already: each step row counts once
                weights = (weights > 0).astype(np.float32)
            loss = self.losses(data["prompt"][idx].tolist(), data["step"][idx].tolist(),
                               weights, data["value"][idx])
            self.apply_gradients(loss["policy"] + self.config.value_weight * loss["value"])
            for k in sums:
                sums[k] += float(loss[k].detach())
        self.model.eval()
        return {k: v / steps for k, v in sums.items()}

    def _sampler(self, data: dict, probabilities, rng: np.random.Generator):
        """A function drawing one batch of row indices, and whether its step rows are already
        drawn by weight (so the loss weights them equally)."""
        n, size = len(data["prompt"]), self.config.batch_size
        base = np.full(n, 1.0 / n) if probabilities is None else np.asarray(probabilities)
        step_p = base * data["weight"]  # value rows have weight 0
        value_p = base * ~np.isnan(data["value"])
        if self.config.policy_fraction is None or not step_p.any() or not value_p.any():
            return (lambda: rng.choice(n, size=min(size, n), p=probabilities)), False
        n_steps = max(1, round(self.config.policy_fraction * size))
        step_p, value_p = step_p / step_p.sum(), value_p / value_p.sum()
        return (lambda: np.concatenate([rng.choice(n, size=n_steps, p=step_p),
                                        rng.choice(n, size=size - n_steps, p=value_p)])), True

    def optimizer_tensors(self) -> dict[str, torch.Tensor]:
        return optimizer_tensors(self.model, self.optimizer)

    def load_optimizer_tensors(self, saved: dict, step_count: int) -> None:
        load_optimizer_tensors(self.model, self.optimizer, saved)
        self.step_count = step_count
