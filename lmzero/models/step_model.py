"""The seam between search and a language model for open action spaces.

Search asks a model about *states given as text* (the prompt: the problem and the steps so far)
and gets back candidate next steps with priors, and a value. One request about one state is one
model call, whatever the backend; the tokens it read and wrote travel back with the answer so the
budget can count them exactly. Backends (tinylm, hf, openai, vllm) implement `StepModel`; search
never imports torch or an HTTP client.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Protocol, Sequence


@dataclass
class Expansion:
    """A model's answer to one request about one state."""

    steps: list[str] = field(default_factory=list)
    """Distinct candidate next steps (without the trailing newline), most probable first."""
    logprobs: list[float] = field(default_factory=list)
    """Length-normalised log-probability of each sampled step (mean log-prob per generated
    token); for steps given to `score`, the step's whole log-probability (summed), so the priors
    are the model's distribution renormalised over the steps given."""
    value: float | None = None
    """The model's estimate that the state leads to a solution, in [0, 1]; None if not asked or
    the model has no value head."""
    prompt_tokens: int = 0
    """Prompt tokens the request was charged (computed, not reused from a cache)."""
    reused_prompt_tokens: int = 0
    """Prompt tokens served from a prefix cache (reported, not charged)."""
    generated_tokens: int = 0
    """Tokens generated for this request, duplicates included."""
    step_values: list[float] = field(default_factory=list)
    """`score` only: the model's value of the state each step leads to, in [0, 1], read in the
    same forward that scored it (empty when not computed)."""

    @property
    def priors(self) -> list[float]:
        """Sibling-normalised priors from length-normalised log-probs (TS-LLM, AlphaMath)."""
        return softmax(self.logprobs)


def softmax(logits: Sequence[float]) -> list[float]:
    if not logits:
        return []
    top = max(logits)
    weights = [math.exp(x - top) for x in logits]
    total = sum(weights)
    return [w / total for w in weights]


class StepModel(Protocol):
    """What search needs from a language model over an open action space."""

    def expand(self, prompts: Sequence[str], k: int, *,
               temperature: float | Sequence[float] = 1.0, greedy: bool = False,
               with_value: bool = True) -> list[Expansion]:
        """For each prompt, sample `k` continuations up to the end of one line (a step) and
        return them deduplicated. `greedy` decodes the single most likely step instead. One
        model call per prompt; all prompts are batched together. `temperature` is one for all
        prompts or one per prompt (search reheats some nodes, and still sends one batch)."""

    def value(self, prompts: Sequence[str]) -> list[Expansion]:
        """Score each state (one model call per prompt): `Expansion.value` set, no steps."""


class ScoresSteps(Protocol):
    """A `StepModel` that can also score steps it is given (a closed action space: search with
    `StepSearchConfig.actions="legal"`)."""

    def score(self, prompts: Sequence[str], steps: Sequence[Sequence[str]], *,
              with_value: bool = True) -> list[Expansion]:
        """Each prompt's `steps` (one list per prompt) with their log-probabilities (summed over
        the step's line), most probable first, and the prompt's value; one model call per
        prompt, the steps' tokens charged as prompt tokens."""
