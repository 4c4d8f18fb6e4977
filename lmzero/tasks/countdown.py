"""Countdown: combine k numbers (3 to 6) with + - * / into a target, using every number once.

Problems are generated solvable by construction: draw the numbers, play a uniformly random
trajectory of canonical steps to the end, and keep its final value as the target when it is a
whole number inside the target range. A solution must use every number (the state is terminal
only when one number is left), unlike the TV show.

Held-out split: a problem is held out when
`int(hashlib.sha256("a b c d -> t".encode()).hexdigest(), 16) % 4 == 0`, the numbers sorted
ascending and joined by single spaces, then " -> " and the target (e.g. "3 7 25 50 -> 147").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import numpy as np

from lmzero.tasks import arith
from lmzero.tasks.arith import ArithTask, Problem

TASK = ArithTask("countdown")


@dataclass(frozen=True)
class CountdownConfig:
    """How problems are drawn."""

    k: int = 4
    """How many numbers a problem has (3 to 6)."""
    min_number: int = 1
    """Smallest number drawn (numbers are drawn uniformly, with replacement)."""
    max_number: int = 50
    """Largest number drawn."""
    min_target: int = 10
    """Smallest target kept."""
    max_target: int = 200
    """Largest target kept."""
    attempts_per_problem: int = 1000
    """Random trajectories tried per requested problem before giving up (a narrow target range
    makes hits rare)."""

    def __post_init__(self):
        if not 3 <= self.k <= 6:
            raise ValueError(f"k={self.k}: set k between 3 and 6 (the solver counts up to 6)")
        if not 1 <= self.min_number <= self.max_number:
            raise ValueError(f"numbers {self.min_number}..{self.max_number}: set "
                             "1 <= min_number <= max_number")
        if not 1 <= self.min_target <= self.max_target:
            raise ValueError(f"targets {self.min_target}..{self.max_target}: set "
                             "1 <= min_target <= max_target")
        if self.attempts_per_problem < 1:
            raise ValueError(f"attempts_per_problem={self.attempts_per_problem}: set it to >= 1")


def is_heldout(problem: Problem) -> bool:
    """Whether the problem is in the held-out quarter (rule in the module docstring).

    >>> is_heldout(Problem.make([3, 7, 25, 50], 147))
    True
    """
    return arith.heldout_by_hash(f"{' '.join(map(str, problem.numbers))} -> {problem.target}")


def split(problems: Iterable[Problem], which: str) -> list[Problem]:
    """The problems of one split: "train", "heldout" or "all"."""
    return arith.split(problems, which, is_heldout)


def generate(n: int, config: CountdownConfig = CountdownConfig(), seed: int = 0,
             split: str = "train") -> list[Problem]:
    """`n` distinct solvable problems of one split, the same ones for the same seed and config."""
    arith.split([], split, is_heldout)  # validates the split name
    rng = np.random.default_rng(seed)
    seen: set[Problem] = set()
    found: list[Problem] = []
    for _ in range(n * config.attempts_per_problem):
        if len(found) == n:
            break
        draw = rng.integers(config.min_number, config.max_number + 1, size=config.k).tolist()
        steps = TASK.random_trajectory(Problem.make(draw, 1), rng)  # the target is unused here
        value = arith.parse_step(steps[-1]).result
        if value.denominator != 1 or not config.min_target <= value <= config.max_target:
            continue
        problem = Problem.make(draw, int(value))
        if problem not in seen:
            seen.add(problem)
            if split == "all" or is_heldout(problem) == (split == "heldout"):
                found.append(problem)
    if len(found) < n:
        tries = n * config.attempts_per_problem
        raise RuntimeError(f"found {len(found)} of {n} problems in {tries} attempts: widen the "
                           "target range or raise attempts_per_problem")
    return found
