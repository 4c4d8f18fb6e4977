"""Checkpoints of Hugging Face models trained here: the trained tensors only (LoRA adapters or
full weights, and the value head) plus the base model's path, so they stay a few MB.

`learn.trainee.HFTrainee` writes them; `load_hf_checkpoint` (behind `hf:RUN_OR_CHECKPOINT`)
reads them back onto the base model without importing any learner.
"""

from __future__ import annotations

from pathlib import Path

import torch

from lmzero import checkpoint
from lmzero.checkpoint import CheckpointError
from lmzero.models.step_model import StepModel

HF_KIND = "hf-trained"
"""`meta["kind"]` of these checkpoints."""


def trained_tensors(sm) -> dict[str, torch.Tensor]:
    """Every trained tensor of an `HFStepModel` by name: the value head's and the LM's
    trainable ones."""
    out = {f"value_head.{k}": v for k, v in sm.value_head.state_dict().items()}
    out.update({f"lm.{n}": p for n, p in sm.model.named_parameters() if p.requires_grad})
    return out


def load_trained(sm, path: Path) -> dict:
    """Copy a checkpoint's trained tensors into `sm` (adapters already attached); its meta."""
    tensors = trained_tensors(sm)
    loaded, meta = checkpoint.load(path, {k: v.shape for k, v in tensors.items()})
    with torch.no_grad():
        for name, value in loaded.items():
            tensors[name].copy_(value)
    sm.weights_changed()
    return meta


def build(base: str, task, learner_options: dict, model_options: dict):
    """The base model under the hf backend with the learner's adapters attached: the shape a
    trained checkpoint fits. (`HFStepModel`, `HFLearner`)."""
    from lmzero.models.hf_backend import HFConfig, HFStepModel
    from lmzero.models.hf_learner import HFLearner, HFLearnerConfig
    sm = HFStepModel.load(base, HFConfig(**dict(model_options, value="head")), task=task)
    return sm, HFLearner(sm, HFLearnerConfig(**learner_options))


def load_hf_checkpoint(path: Path, task=None, **options) -> StepModel:
    """The step model of an hf checkpoint (or run directory): its base model with the trained
    adapters and value head; CheckpointError (one line) for anything else. `task`: a task
    object or name (default: the registered task the checkpoint names)."""
    from lmzero.models.load import verified_checkpoint
    path, meta = verified_checkpoint(path, HF_KIND, getattr(task, "name", task),
                                     "not a checkpoint of a Hugging Face model trained here")
    if task is None or isinstance(task, str):
        task = _registered_task(path, meta.get("task"))
    base, learner, model_options = (meta.get(k) for k in ("base", "learner", "model_options"))
    if not (isinstance(base, str) and isinstance(learner, dict)
            and isinstance(model_options, dict)):
        raise CheckpointError(f"{path}: the manifest's base, learner and model_options must be "
                              "a path and two objects")
    try:
        sm, _ = build(base, task, learner, dict(model_options, **options))
    except TypeError as exc:  # a learner or model option these classes do not have
        raise CheckpointError(f"{path}: bad options in the manifest ({exc})") from None
    load_trained(sm, path)
    sm.model.eval()
    return sm


def _registered_task(path: Path, name):
    """The built-in or installed task a checkpoint names. Never a FILE.py:NAME or module:NAME
    reference: a manifest must not make us import code."""
    from lmzero.tasks import load_task, names
    if not isinstance(name, str) or name not in names():
        raise CheckpointError(f"{path}: unknown task {str(name)[:60]!r} in the manifest (pass "
                              "the task explicitly)")
    return load_task(name)


def is_hf_checkpoint(path: str) -> bool:
    """Whether `path` is a checkpoint (or run directory) of this kind: its manifest, read
    unverified, says so (the verified load comes after)."""
    from lmzero.models.load import resolve
    try:
        where = resolve(Path(path))
    except CheckpointError:
        return False  # no manifest: a transformers folder or GGUF file (or nothing at all)
    return checkpoint.read_meta(where).get("kind") == HF_KIND  # a damaged one is reported
