"""Game of 24: combine four numbers from 1-13 with + - * / into 24, using each exactly once.

Of the 1,820 multisets of four numbers from 1 to 13, 1,362 are solvable (458 are not), checked
exactly with the canonical step set of `arith.ArithTask.legal_steps`.

Held-out split: a puzzle is held out when
`int(hashlib.sha256("a b c d".encode()).hexdigest(), 16) % 4 == 0`, where "a b c d" is its
numbers sorted ascending and joined by single spaces (e.g. "4 9 10 13"). The rule depends only on
the puzzle, so the split is stable across runs, machines and orderings.
"""

from __future__ import annotations

from functools import lru_cache
from itertools import combinations_with_replacement
from typing import Iterable

from lmzero.tasks import arith
from lmzero.tasks.arith import ArithTask, Problem

TASK = ArithTask("game24")
TARGET = 24
CARDS = range(1, 14)  # the numbers a puzzle draws from (a deck's ranks)


@lru_cache(maxsize=1)
def all_multisets() -> tuple[Problem, ...]:
    """All 1,820 multisets of four numbers from 1-13, as problems with target 24."""
    return tuple(Problem.make(c, TARGET) for c in combinations_with_replacement(CARDS, 4))


@lru_cache(maxsize=1)
def solvable_problems() -> tuple[Problem, ...]:
    """The 1,362 solvable puzzles, in sorted order."""
    return tuple(p for p in all_multisets() if TASK.count_solutions(p) > 0)


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
