"""One budget accounting for every method: model calls, prompt and generated tokens, wall time.

A model call is one request about one state (sampling one or more continuations from it, or
scoring it). Every method charges the same object and stops once a cap is reached, so greedy,
best-of-N, beam, BFS and MCTS are compared at equal compute.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

Progress = Callable[[int, int, int, int], None]
"""`progress(done, solved, calls, tokens)`, as a batched method reports it after each round of
model calls (and once at the end): problems finished so far and how many of them are solved,
then the model calls and generated tokens every problem of the batch has spent so far. `done`
counts each problem once, when it finishes (it never falls, and ends at the batch's size)."""


@dataclass
class Budget:
    max_calls: int | None = None
    """Cap on model calls for one problem; None = no cap."""
    max_tokens: int | None = None
    """Cap on generated tokens for one problem; None = no cap."""
    model_calls: int = 0
    prompt_tokens: int = 0
    reused_prompt_tokens: int = 0
    generated_tokens: int = 0
    started: float = field(default_factory=time.perf_counter)
    stopped: float | None = None

    def __post_init__(self):
        for name in ("max_calls", "max_tokens"):
            cap = getattr(self, name)
            if cap is not None and cap < 1:
                raise ValueError(f"{name} must be at least 1 (or None for no cap), got {cap}")

    def charge(self, expansion) -> None:
        """Count one model call and the tokens it reported (an `Expansion`)."""
        self.model_calls += 1
        self.prompt_tokens += expansion.prompt_tokens
        self.reused_prompt_tokens += expansion.reused_prompt_tokens
        self.generated_tokens += expansion.generated_tokens

    def add(self, other: Budget) -> None:
        """Count another search's calls and tokens as this one's (a problem searched twice
        costs both searches)."""
        self.model_calls += other.model_calls
        self.prompt_tokens += other.prompt_tokens
        self.reused_prompt_tokens += other.reused_prompt_tokens
        self.generated_tokens += other.generated_tokens

    @property
    def calls_left(self) -> int | None:
        return None if self.max_calls is None else max(0, self.max_calls - self.model_calls)

    def calls_affordable(self) -> int | None:
        """How many more model calls the caps allow (None: no cap).

        A call's tokens are known only when it returns, so against a token cap this is an
        estimate from the mean of the calls so far (one call while there are none): a batch of
        calls then passes the cap by about one call's tokens, not by the whole batch's."""
        if self.exhausted:
            return 0
        left = self.calls_left
        if self.max_tokens is not None:
            per_call = self.generated_tokens / self.model_calls if self.model_calls else 0.0
            fit = max(1, math.floor((self.max_tokens - self.generated_tokens) / per_call)) \
                if per_call else 1
            left = fit if left is None else min(left, fit)
        return left

    def affords(self, asked: int = 0) -> bool:
        """Whether one more call fits after `asked` calls already gathered for one batch."""
        left = self.calls_affordable()
        return left is None or left > asked

    def afford(self, items: list) -> list:
        """The first items the caps allow one call each for."""
        left = self.calls_affordable()
        return items if left is None else items[:left]

    @property
    def exhausted(self) -> bool:
        return ((self.max_calls is not None and self.model_calls >= self.max_calls)
                or (self.max_tokens is not None and self.generated_tokens >= self.max_tokens))

    def stop(self) -> None:
        if self.stopped is None:
            self.stopped = time.perf_counter()

    @property
    def seconds(self) -> float:
        return (self.stopped or time.perf_counter()) - self.started

    def as_dict(self) -> dict:
        return {"model_calls": self.model_calls, "prompt_tokens": self.prompt_tokens,
                "reused_prompt_tokens": self.reused_prompt_tokens,
                "generated_tokens": self.generated_tokens, "seconds": round(self.seconds, 4)}


def report(progress: Progress | None, budgets: Sequence[Budget], done: int, solved: int) -> None:
    """Call `progress` (when there is one) with the batch's figures: the spending is summed from
    `budgets` here, so a method pays for it only when someone listens."""
    if progress is not None:
        progress(done, solved, sum(b.model_calls for b in budgets),
                 sum(b.generated_tokens for b in budgets))
