"""The learner through the hf backend: distil search results into a transformers LM (full
fine-tuning, or LoRA adapters via `peft`) and train its value head.

Examples are the step actor's replay rows (`selfplay.step_actor.examples_of`): a prompt with a
searched step and its weight (the visit share) and/or a value target in [0, 1]. Loss = weighted
mean per-token cross-entropy of step + newline after the rendered prompt (the policy imitates
the search, as `learn/step_learner.py` does for tinylm) + `value_weight` x binary cross-entropy
of the value head (sigmoid of a linear map of the prompt's last hidden state) against the
target. The model is trained in place, so the `HFStepModel` that searched samples from the new
weights at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from lmzero.models.hf_backend import HFStepModel
from lmzero.models.lm_steps import BackendError


@dataclass
class HFLearnerConfig:
    batch_size: int = 8
    """Examples per gradient step."""
    lr: float = 1e-5
    """Learning rate of the LM's trained weights (full: ~1e-5; LoRA: ~1e-4)."""
    head_lr: float = 1e-3
    """Learning rate of the value head."""
    lora_rank: int = 0
    """0 = full fine-tuning; > 0 = LoRA adapters of this rank on the attention projections."""
    lora_targets: tuple[str, ...] = ("q_proj", "v_proj")
    """Module names that get LoRA adapters."""
    train_policy: bool = True
    """Train the LM on the searched steps; False = only the value head learns."""
    value_weight: float = 1.0
    """Weight of the value loss against the policy loss."""
    weight_decay: float = 0.0
    """AdamW decoupled weight decay."""

    def __post_init__(self):
        if self.batch_size < 1 or self.lr <= 0 or self.head_lr <= 0 or self.lora_rank < 0:
            raise ValueError("batch_size >= 1, lr > 0, head_lr > 0 and lora_rank >= 0 are "
                             "required")


class HFLearner:
    def __init__(self, step_model: HFStepModel, config: HFLearnerConfig | None = None):
        self.sm, self.config = step_model, config or HFLearnerConfig()
        if step_model.value_head is None:
            raise ValueError("the step model has no value head: load it with value='head'")
        groups = [{"params": list(step_model.value_head.parameters()),
                   "lr": self.config.head_lr}]
        model = step_model.model
        for p in model.parameters():
            p.requires_grad_(False)
        if self.config.train_policy:
            groups.append({"params": self._trainable(model), "lr": self.config.lr})
        self.optimizer = torch.optim.AdamW(groups, weight_decay=self.config.weight_decay)
        self.step_count = 0

    def _trainable(self, model) -> list[torch.nn.Parameter]:
        if self.config.lora_rank == 0:
            params = list(model.parameters())
        else:
            try:
                import peft
            except ImportError:
                raise BackendError("LoRA needs peft: pip install 'lmzero[hf]'") from None
            lora = peft.LoraConfig(r=self.config.lora_rank, lora_alpha=2 * self.config.lora_rank,
                                   target_modules=list(self.config.lora_targets),
                                   lora_dropout=0.0)
            peft.inject_adapter_in_model(lora, model)  # adapters join the modules in place
            params = [p for n, p in model.named_parameters() if "lora_" in n]
        for p in params:
            p.requires_grad_(True)
        return params

    def _batch(self, prompts, steps):
        """Right-padded ids [B, T], mask [B, T], each prompt's last index [B], and the
        (row, position, target id) of every step token (position t predicts token t + 1)."""
        rows, ends, targets = [], [], []
        for b, (prompt, step) in enumerate(zip(prompts, steps)):
            head = self.sm.prompt_ids(prompt)
            tail = self.sm.tokenizer(step + "\n", add_special_tokens=False).input_ids \
                if step else []
            rows.append(head + tail)
            ends.append(len(head) - 1)
            targets += [(b, len(head) - 1 + j, t) for j, t in enumerate(tail)]
        T = max(len(r) for r in rows)
        ids = torch.zeros((len(rows), T), dtype=torch.long)
        mask = torch.zeros((len(rows), T), dtype=torch.long)
        for b, r in enumerate(rows):
            ids[b, :len(r)], mask[b, :len(r)] = torch.tensor(r), 1
        return ids, mask, torch.tensor(ends), targets

    def _forward(self, prompts, steps, values):
        """Hidden states [B, T, H], the step-token targets (`_batch`) and the value loss."""
        dev = self.sm.device
        ids, mask, ends, targets = self._batch(prompts, steps)
        h = self.sm.trunk(input_ids=ids.to(dev), attention_mask=mask.to(dev),
                          use_cache=False).last_hidden_state  # [B, T, H]
        v_target = torch.as_tensor(np.asarray(values, np.float32), device=dev)
        has_value = ~torch.isnan(v_target)
        logit = self.sm.value_head.logit(h[torch.arange(len(prompts)), ends.to(dev)])  # [B]
        value = (F.binary_cross_entropy_with_logits(logit[has_value], v_target[has_value])
                 if has_value.any() else logit.sum() * 0)
        return h, targets, value

    def losses(self, prompts, steps, weights, values) -> dict:
        dev = self.sm.device
        h, targets, value = self._forward(prompts, steps, values)
        B = len(prompts)
        w = torch.as_tensor(np.asarray(weights, np.float32), device=dev)
        if not targets or not self.config.train_policy or float(w.sum()) <= 0:
            return dict(policy=value * 0, value=value)
        row, pos, tok = (torch.tensor(x, device=dev) for x in zip(*targets))
        logits = self.sm.lm_head(h[row, pos]).float()  # [N, V]: only the step tokens
        ce = F.cross_entropy(logits, tok, reduction="none")  # [N]
        per_row = torch.zeros(B, device=dev).index_add(0, row, ce)
        count = torch.zeros(B, device=dev).index_add(0, row, torch.ones_like(ce))
        per_example = per_row / count.clamp(min=1)  # length-normalised, like the priors
        policy = (w * per_example).sum() / w[count > 0].sum().clamp(min=1e-8)
        return dict(policy=policy, value=value)

    def score(self, prompts, steps, temperature: float, values, model=None):
        """Per-token log-probs [B, T] of each step's tokens under the policy at `temperature`,
        their mask [B, T] and the value loss (`learn.grpo`'s forward). A separate reference
        `model` is not supported: LoRA's reference would be the base with adapters off."""
        if model is not None:
            raise ValueError("a KL reference model is not wired for hf trainees: set kl_coef=0")
        dev = self.sm.device
        h, targets, value = self._forward(prompts, steps, values)
        B, T = len(prompts), max(1, max((p + 1 for _, p, _ in targets), default=1))
        picked = torch.zeros(B, T, device=dev)
        mask = torch.zeros(B, T, dtype=torch.bool, device=dev)
        if targets:
            row, pos, tok = (torch.tensor(x, device=dev) for x in zip(*targets))
            logp = F.log_softmax(self.sm.lm_head(h[row, pos]).float() / temperature, dim=-1)
            picked = picked.index_put((row, pos), logp.gather(-1, tok[:, None]).squeeze(-1))
            mask[row, pos] = True
        return picked, mask, value

    def apply_gradients(self, loss: torch.Tensor) -> None:
        """One optimizer step on `loss` (gradients clipped)."""
        params = [p for g in self.optimizer.param_groups for p in g["params"]]
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        self.optimizer.step()
        self.step_count += 1

    def train_mode(self, on: bool) -> None:
        self.sm.model.train(on)
        if not on:
            self.sm.weights_changed()

    def train(self, data: dict, steps: int, rng: np.random.Generator) -> dict:
        """`steps` gradient steps on batches drawn from replay arrays; the mean losses."""
        n = len(data["prompt"])
        if n == 0 or steps == 0:
            return dict(policy=float("nan"), value=float("nan"))
        self.train_mode(True)
        sums = dict(policy=0.0, value=0.0)
        for _ in range(steps):
            idx = rng.choice(n, size=min(self.config.batch_size, n), replace=False)
            loss = self.losses([str(x) for x in data["prompt"][idx]],
                               [str(x) for x in data["step"][idx]], data["weight"][idx],
                               data["value"][idx])
            self.apply_gradients(loss["policy"] + self.config.value_weight * loss["value"])
            for k in sums:
                sums[k] += float(loss[k].detach())
        self.train_mode(False)
        return {k: v / steps for k, v in sums.items()}
