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

from dataclasses import dataclass, field, replace
from typing import Iterable

import numpy as np

from lmzero.tasks import arith
from lmzero.tasks.arith import ArithTask, Problem

TARGET_EDGES = (50, 100)
"""Target-size edges of the curation buckets: <50, 50-99, >=100 (default targets: 10-200)."""
SHOTS = ("4 9 10 13 -> 24\n13 - 9 = 4 (left: 4 4 10)\n10 - 4 = 6 (left: 4 6)\n"
         "6 * 4 = 24 (left: 24)", "2 5 7 -> 45\n7 + 2 = 9 (left: 5 9)\n"
         "9 * 5 = 45 (left: 45)", "3 6 8 -> 6\n8 - 6 = 2 (left: 2 3)\n"
         "3 * 2 = 6 (left: 6)", "1 4 11 -> 55\n4 + 1 = 5 (left: 5 11)\n"
         "11 * 5 = 55 (left: 55)")


@dataclass(frozen=True)
class CountdownConfig:
    """How problems are drawn."""

    k: int | tuple[int, ...] = 4
    """How many numbers a problem has (3 to 6), or several such counts (a list in JSON options):
    then the problems come in equal shares of each, shuffled, so one run trains one model on a
    mix of sizes."""
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
        if isinstance(self.k, list):  # JSON options: keep the config hashable
            object.__setattr__(self, "k", tuple(self.k))
        counts = self.k if isinstance(self.k, tuple) else (self.k,)
        if not counts or not all(isinstance(k, int) and not isinstance(k, bool) and 3 <= k <= 6
                                 for k in counts):
            raise ValueError(f"k={self.k}: set k between 3 and 6, or a list of such counts "
                             "(the solver counts up to 6)")
        if not 1 <= self.min_number <= self.max_number <= arith.MAX_NUMBER:
            raise ValueError(f"numbers {self.min_number}..{self.max_number}: set "
                             f"1 <= min_number <= max_number <= {arith.MAX_NUMBER}")
        if not 1 <= self.min_target <= self.max_target <= arith.MAX_NUMBER:
            raise ValueError(f"targets {self.min_target}..{self.max_target}: set "
                             f"1 <= min_target <= max_target <= {arith.MAX_NUMBER}")
        if self.attempts_per_problem < 1:
            raise ValueError(f"attempts_per_problem={self.attempts_per_problem}: set it to >= 1")


def _label(k: int, lo: int, hi: int | None) -> str:
    if lo <= 1:
        return f"k={k} target<{hi}"
    return f"k={k} target>={lo}" if hi is None else f"k={k} target {lo}-{hi - 1}"


_RANGES = list(zip((1,) + TARGET_EDGES, TARGET_EDGES + (None,)))  # [lo, hi)
BUCKETS = {_label(k, lo, hi): (k, lo, hi) for k in range(3, 7) for lo, hi in _RANGES}
"""Label -> (k, lowest target, first target past the bucket or None), in display order."""


@dataclass(frozen=True)
class Countdown(ArithTask):
    """Countdown: generated problems (`config`), split by hash; buckets by k and target size,
    and generation aimed at them."""

    name: str = "countdown"
    shots: tuple[str, ...] = SHOTS
    config: CountdownConfig = field(default_factory=CountdownConfig)
    """How problems are drawn."""
    calculator: bool = True
    """The task computes each step's result and numbers left from its `a op b`
    (`arith.calculate`): products of two-digit numbers are where a small model slips, and the
    model's choice of operations, not its long multiplication, is what search should improve."""
    max_step_chars = 64  # Countdown-6's steps rarely pass 60 characters
    judge_question = ("\nCan the numbers left still reach the target exactly? Answer yes or no."
                      "\nAnswer:")

    def with_options(self, options: dict) -> "Countdown":
        """This task drawing problems with other `CountdownConfig` fields."""
        return replace(self, config=replace(self.config, **options)) if options else self

    def validate(self, numbers: list[int], target: int) -> None:
        if not 3 <= len(numbers) <= 6:
            raise ValueError(f"countdown needs 3 to 6 numbers, got {len(numbers)}")

    def is_heldout(self, problem: Problem) -> bool:
        return is_heldout(problem)

    def generate(self, n: int, seed: int = 0, split: str = "train") -> list[Problem]:
        return generate(n, self.config, seed, split)

    def bucket(self, problem: Problem) -> str:
        """k and target size.

        >>> TASK.bucket(Problem.make([3, 7, 25, 50], 147))
        'k=4 target>=100'
        """
        lo, hi = next((lo, hi) for lo, hi in _RANGES if hi is None or problem.target < hi)
        return _label(len(problem.numbers), lo, hi)

    def generate_for_buckets(self, buckets: list[str], n: int, seed: int) -> list[Problem]:
        """`n` new training problems spread evenly over the buckets (this config's own mix when
        none is a Countdown bucket), made by setting k and the target range to each bucket's."""
        wanted = [b for b in buckets if b in BUCKETS]
        if not wanted:
            return self.generate(n, seed, "train")
        out: list[Problem] = []
        for i, bucket in enumerate(wanted):
            count = n // len(wanted) + (i < n % len(wanted))
            if count:
                made = generate(count, config_for(bucket, self.config), seed + i, "train")
                out += [p for p in made if self.bucket(p) == bucket and not is_heldout(p)]
        return out

    def presets(self) -> dict[str, dict]:
        """full: sampled steps first (the policy learns to write the steps the world model slips
        on), then every legal step scored, with unsolved problems searched again at 128 calls."""
        legal = {"actor.search.actions": "legal", "actor.retry_budget": 128,
                 "problems_per_iteration": 128}
        return {"quick": dict(iterations=3, problems=96, budget=32, steps=100),
                "full": dict(iterations=20, problems=256, budget=48, steps=200,
                             phases=[{"from": 14, "set": legal}])}


def config_for(bucket: str, base: CountdownConfig) -> CountdownConfig:
    """`base` with a bucket's k and target range, intersected with `base`'s range (the bucket's
    own range where they do not overlap; an open top stops at `base.max_target`)."""
    k, lo, hi = BUCKETS[bucket]
    top = max(base.max_target, lo) if hi is None else hi - 1  # the bucket is [lo, top]
    low, high = max(lo, base.min_target), min(top, base.max_target)
    if low > high:
        low, high = lo, top
    return replace(base, k=k, min_target=low, max_target=high)


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
        k = config.k if isinstance(config.k, int) else config.k[len(found) % len(config.k)]
        draw = rng.integers(config.min_number, config.max_number + 1, size=k).tolist()
        steps = TASK.random_trajectory(Problem.make(draw, 1), rng)  # the target is unused here
        value = arith.parse_step(steps[-1]).result
        if value.denominator != 1 or not config.min_target <= value <= config.max_target:
            continue
        problem = Problem.make(draw, int(value))
        if problem not in seen:
            seen.add(problem)
            if split == "all" or is_heldout(problem) == (split == "heldout"):
                found.append(problem)
    if isinstance(config.k, tuple):  # equal shares, in no pattern a stride or slice could pick
        found = [found[i] for i in rng.permutation(len(found))]
    if len(found) < n:
        tries = n * config.attempts_per_problem
        raise RuntimeError(f"found {len(found)} of {n} problems in {tries} attempts: widen the "
                           "target range or raise attempts_per_problem")
    return found


TASK = Countdown()
