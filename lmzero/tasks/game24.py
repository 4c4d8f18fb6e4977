"""Game of 24: combine four numbers from 1-13 with + - * / into 24, using each exactly once.

Of the 1,820 multisets of four numbers from 1 to 13, 1,362 are solvable (458 are not), checked
exactly with the canonical step set of `arith.ArithTask.legal_steps`.

Held-out split: a puzzle is held out when
`int(hashlib.sha256("a b c d".encode()).hexdigest(), 16) % 4 == 0`, where "a b c d" is its
numbers sorted ascending and joined by single spaces (e.g. "4 9 10 13"). The rule depends only on
the puzzle, so the split is stable across runs, machines and orderings.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache
from itertools import combinations_with_replacement
from typing import Iterable

import numpy as np

from lmzero.tasks import arith
from lmzero.tasks.arith import ArithTask, Problem

TARGET = 24
CARDS = range(1, 14)  # the numbers a puzzle draws from (a deck's ranks)
MAX_TRAIN_CARDS = 30  # 31,465 multisets: classified in seconds, once per process
EDGES = (1, 2, 4, 8, 16)
"""Lower edges of the solution-count curation buckets. Training split (1,004 puzzles): 1 solution
164, 2-3 165, 4-7 276, 8-15 224, 16+ 175 (most solutions: 98)."""
BUCKETS = ("1 solution", "2-3", "4-7", "8-15", "16+")
SHOTS = ("4 9 10 13 -> 24\n13 - 9 = 4 (left: 4 4 10)\n10 - 4 = 6 (left: 4 6)\n"
         "6 * 4 = 24 (left: 24)", "1 2 3 4 -> 24\n2 + 1 = 3 (left: 3 3 4)\n"
         "3 + 3 = 6 (left: 4 6)\n6 * 4 = 24 (left: 24)", "1 1 4 6 -> 24\n"
         "1 * 1 = 1 (left: 1 4 6)\n4 * 1 = 4 (left: 4 6)\n6 * 4 = 24 (left: 24)")


@dataclass(frozen=True)
class Game24(ArithTask):
    """Game of 24: a fixed set of puzzles, split by hash; curation buckets by solution count."""

    name: str = "game24"
    shots: tuple[str, ...] = SHOTS
    max_step_chars = 40  # the longest legal step, newline included
    default_target = TARGET  # "4 9 10 13" on the command line means "-> 24"
    judge_question = "\nCan the numbers left still make 24 exactly? Answer yes or no.\nAnswer:"
    buckets = BUCKETS
    default_count = 1820  # every puzzle: `lmzero eval game24` covers its whole split
    train_cards: int = 13
    """Training puzzles draw their numbers from 1 to `train_cards`; the held-out split stays the
    standard puzzles' (1-13). Greedy loses almost every held-out puzzle it loses at the first
    step, from four numbers it never trained on, while the three-number states that follow are
    shared across puzzles and learned well: a larger deck gives the policy many more first
    states to generalise from."""

    def with_options(self, options: dict) -> "Game24":
        """This task with another training deck (`{"train_cards": 20}`)."""
        unknown = sorted(set(options) - {"train_cards"})
        if unknown:
            raise ValueError(f"game24 takes only the option train_cards, got {unknown}")
        cards = options.get("train_cards", self.train_cards)
        if not isinstance(cards, int) or not 13 <= cards <= MAX_TRAIN_CARDS:
            raise ValueError(f"game24's train_cards must be an integer from 13 to "
                             f"{MAX_TRAIN_CARDS}, got {cards!r}")
        return replace(self, train_cards=cards)

    def validate(self, numbers: list[int], target: int) -> None:
        if len(numbers) != 4 or target != TARGET:
            raise ValueError(f"game24 needs exactly 4 numbers and target 24, got {len(numbers)} "
                             f"numbers and target {target}")

    def is_heldout(self, problem: Problem) -> bool:
        return is_heldout(problem)

    def generate(self, n: int, seed: int = 0, split: str = "train") -> list[Problem]:
        """`n` solvable puzzles of a split in a seeded order (all of them when n is larger); the
        training split draws from the `train_cards` deck."""
        pool = training_problems(self.train_cards) if split == "train" else problems(split)
        order = np.random.default_rng(seed).permutation(len(pool))
        return [pool[i] for i in order[:n]]

    def heldout_problems(self) -> list[Problem]:
        """All 358 solvable held-out puzzles."""
        return problems("heldout")

    def training_pool(self, n: int, seed: int) -> list[Problem]:
        return training_problems(self.train_cards)

    def pretrain_pool(self) -> list[Problem]:
        """World-model problems: every training multiset, solvable or not."""
        return split(all_multisets(), "train")

    def bucket(self, problem: Problem) -> str:
        """Solution-count bucket.

        >>> TASK.bucket(Problem.make([1, 5, 5, 5], 24))
        '1 solution'
        """
        count = solution_count(problem)
        if count == 0:
            return "0 solutions"
        return BUCKETS[int(np.searchsorted(EDGES, count, side="right")) - 1]

    def presets(self) -> dict[str, dict]:
        return {"quick": dict(iterations=3, problems=96, budget=32, steps=100, block_size=256),
                "full": dict(iterations=26, problems=256, budget=48, steps=200,
                             block_size=256)}


TASK = Game24()


@lru_cache(maxsize=None)
def solution_count(problem: Problem) -> int:
    return TASK.count_solutions(problem)  # ~1 ms each; at most 1,820 puzzles


@lru_cache(maxsize=4)
def all_multisets(cards: int = CARDS[-1]) -> tuple[Problem, ...]:
    """All multisets of four numbers from 1 to `cards` (1,820 from 1-13), as problems with
    target 24."""
    return tuple(Problem.make(c, TARGET)
                 for c in combinations_with_replacement(range(1, cards + 1), 4))


@lru_cache(maxsize=4)
def solvable_problems(cards: int = CARDS[-1]) -> tuple[Problem, ...]:
    """The solvable puzzles from 1 to `cards` (1,362 from 1-13), in sorted order."""
    return tuple(p for p in all_multisets(cards) if TASK.count_solutions(p) > 0)


def training_problems(cards: int = CARDS[-1]) -> list[Problem]:
    """The solvable training puzzles of four numbers from 1 to `cards`: the standard training
    split (1,004) at 13; beyond it, every solvable multiset the held-out rule does not hold out
    (none of them is a standard held-out puzzle, whose numbers all lie in 1-13)."""
    return split(solvable_problems(cards), "train")


def is_heldout(problem: Problem) -> bool:
    """Whether the puzzle is in the held-out quarter (rule in the module docstring).

    >>> is_heldout(Problem.make([4, 9, 10, 13], 24))
    False
    """
    return arith.heldout_by_hash(" ".join(map(str, problem.numbers)))


def split(problems: Iterable[Problem], which: str) -> list[Problem]:
    """The puzzles of one split: "train", "heldout" or "all"."""
    return arith.split(problems, which, is_heldout)


def problems(which: str = "all") -> list[Problem]:
    """The solvable puzzles of one split."""
    return split(solvable_problems(), which)
