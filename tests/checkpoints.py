"""Test helper: a small untrained text-model checkpoint for a task (its steps are mostly
invalid, which is what the CLI plumbing tests want)."""

from pathlib import Path

import torch

from lmzero.learn.pretrain import tokenizer_for
from lmzero.models.tinylm import TinyLM, TinyLMConfig
from lmzero.models.tinylm_steps import TinyLMStepModel


def untrained_checkpoint(path: Path, task, block_size: int) -> Path:
    """A 1-layer, 32-wide tinylm over the task's characters, saved for `task` at `path`."""
    torch.manual_seed(0)
    tokenizer = tokenizer_for(task)
    model = TinyLM(TinyLMConfig(vocab_size=tokenizer.vocab_size, block_size=block_size,
                                n_layer=1, n_embd=32))
    TinyLMStepModel(model, tokenizer).save(path, task=task.name)
    return path
