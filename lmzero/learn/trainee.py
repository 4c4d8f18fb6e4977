"""What self-improvement trains: a step model together with its learner and checkpoint format.

`selfimprove.improve` runs one loop over either kind:
- `TinyLMTrainee`: tinylm, trained on this machine (from the world model, or from nothing);
- `HFTrainee`: any Hugging Face causal LM through the hf backend (`--model hf:PATH`); the
  learner trains LoRA adapters (or every weight) and the value head, and a checkpoint holds only
  what was trained plus the base model's path, so it stays small.

Served models (`openai:`) have no weights here to update, and in-process vLLM training is not
wired, so both are refused with a one-line error.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from lmzero import checkpoint
from lmzero.learn.learner import load_optimizer_tensors, optimizer_tensors
from lmzero.learn.step_learner import StepLearner, StepLearnerConfig
from lmzero.models.hf_checkpoint import HF_KIND, build, load_trained, trained_tensors
from lmzero.models.step_model import StepModel

HF_KIND = "hf-trained"


class TinyLMTrainee:
    """tinylm + `StepLearner`; checkpoints are the text-model checkpoints `tinylm:` loads."""

    def __init__(self, model, tokenizer, config: StepLearnerConfig, total_steps: int, task):
        self.model, self.tokenizer, self.task = model, tokenizer, task
        self.learner = StepLearner(model, tokenizer, config, total_steps)

    def begin_phase(self, origin: int, total_steps: int, config: StepLearnerConfig) -> None:
        """A run's phase begins (`lmzero.phases`): the learner's schedule restarts."""
        self.learner.restart_schedule(origin, total_steps, config)

    def learning_rate(self) -> dict:
        """The learner's scheduled learning rate now, for a metrics row."""
        return {"lr": float(f"{self.learner.lr():.3g}")}

    def step_model(self, seed: int) -> StepModel:
        from lmzero.models.tinylm_steps import TinyLMStepModel
        return TinyLMStepModel(self.model, self.tokenizer, seed=seed,
                               max_step_chars=self.task.max_step_chars,
                               meta=dict(task=self.task.name))

    def train(self, data: dict, steps: int, rng: np.random.Generator,
              probabilities: np.ndarray | None) -> dict:
        return self.learner.train(data, steps, rng, probabilities)

    def save(self, path: Path, **meta) -> None:
        meta = self.step_model(0).checkpoint_meta(learner_steps=self.learner.step_count, **meta)
        checkpoint.save(path, self.model.state_dict(), meta,
                        extra={"optimizer": self.learner.optimizer_tensors()})

    def restore(self, path: Path) -> dict:
        tensors, meta = checkpoint.load(path, {k: v.shape for k, v in
                                               self.model.state_dict().items()})
        self.model.load_state_dict(tensors)
        self.learner.load_optimizer_tensors(checkpoint.load_extra(path, "optimizer") or {},
                                            meta["learner_steps"])
        self.model.eval()
        return meta


class HFTrainee:
    """A transformers LM under the hf backend + `HFLearner` (LoRA adapters or full weights, and
    the value head). Its checkpoint (`models.hf_checkpoint`): the trained tensors only, and the
    base model's path."""

    def __init__(self, base: str, task, learner_config: dict | None = None,
                 model_options: dict | None = None):
        from lmzero.models.hf_learner import HFLearnerConfig
        self.base, self.task = str(base), task
        self.model_options = dict(model_options or {}, value="head")
        self.learner_config = HFLearnerConfig(**(learner_config or {}))
        self.sm, self.learner = build(base, task, asdict(self.learner_config), self.model_options)

    def begin_phase(self, origin: int, total_steps: int, config) -> None:
        """A run's phase begins: nothing to restart (`HFLearner`'s learning rates are constant,
        and its settings are `hf_learner`, which phases do not change)."""

    def learning_rate(self) -> dict:
        """Nothing for a metrics row: `HFLearner`'s learning rates are constant."""
        return {}

    def trained_tensors(self) -> dict[str, torch.Tensor]:
        return trained_tensors(self.sm)

    def _params(self) -> list[torch.nn.Parameter]:
        return [p for g in self.learner.optimizer.param_groups for p in g["params"]]

    def step_model(self, seed: int) -> StepModel:
        self.sm.generator.manual_seed(seed)
        return self.sm

    def train(self, data: dict, steps: int, rng: np.random.Generator,
              probabilities: np.ndarray | None) -> dict:
        if probabilities is not None:  # HFLearner samples uniformly: resample by the weights
            idx = rng.choice(len(probabilities), size=len(probabilities), p=probabilities)
            data = {k: v[idx] for k, v in data.items()}
        return self.learner.train(data, steps, rng)

    def save(self, path: Path, **meta) -> None:
        meta = dict(meta, kind=HF_KIND, task=self.task.name, base=self.base,
                    learner=asdict(self.learner_config), model_options=self.model_options,
                    learner_steps=self.learner.step_count)
        checkpoint.save(path, self.trained_tensors(), meta,
                        extra={"optimizer": optimizer_tensors(self._params(),
                                                              self.learner.optimizer)})

    def restore(self, path: Path) -> dict:
        meta = load_trained(self.sm, path)
        load_optimizer_tensors(self._params(), self.learner.optimizer,
                               checkpoint.load_extra(path, "optimizer") or {})
        self.learner.step_count = meta["learner_steps"]
        return meta
