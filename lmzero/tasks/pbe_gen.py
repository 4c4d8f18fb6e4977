"""Problems of programming by example, and the generator that makes them.

A problem is four input/output examples of a hidden program of 1-4 DSL statements. The
generator draws an input kind (a list of digits, a short word, or a small int), four distinct
inputs, and a program statement by statement, each drawn among those that succeed on every
current value and change at least one of them (so no statement is a no-op). It keeps a problem
only when its examples are informative: at least three outputs differ from their inputs and the
outputs are not all equal, and its examples fit `MAX_TEXT`. Problems are deduplicated by the
text of their examples.

Held-out split: a problem is held out when
`int(hashlib.sha256(examples_text.encode()).hexdigest(), 16) % 4 == 0`, where `examples_text`
is the examples joined by " | " (`[3,1,2] -> [1,2,3] | [5,4] -> [4,5] | ...`), exactly as the
prompt's first line writes them. It depends only on the examples, so it is stable across runs
and machines, and two problems with the same examples are the same problem.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lmzero.tasks.arith import heldout_by_hash
from lmzero.tasks.base import split_problems
from lmzero.tasks.pbe_dsl import LINES, parse_value, show, trusted_apply

N_EXAMPLES = 4
"""Examples per problem (the tests the program must pass)."""
LENGTHS = (1, 2, 3, 4)
"""Hidden program lengths, drawn with weights `LENGTH_WEIGHTS`."""
LENGTH_WEIGHTS = (0.3, 0.3, 0.25, 0.15)
KINDS = ("ints", "word", "int")
"""Input kinds: a list of 2-6 digits, a word of 2-6 letters (a-h: `count('a')` and
`replace('a', '')` have something to find), an int 0-20."""
KIND_WEIGHTS = (0.55, 0.3, 0.15)
SEPARATOR = " | "
"""Between the examples of the problem line."""
MAX_TEXT = 160
"""Longest example text kept, so the examples and a 4-line program fit a 320-character block."""


@dataclass(frozen=True)
class Problem:
    """Input/output examples, each as the text of its values (hashable, as curation needs)."""

    examples: tuple[tuple[str, str], ...]
    """(input, output) texts in `show` form, e.g. ("[3,1,2]", "[1,2,3]")."""
    solution: tuple[str, ...] = field(default=(), compare=False)
    """The generator's hidden program (without `return x`), empty for a problem from a file;
    not part of the problem's identity: any program reproducing the examples solves it."""

    @property
    def text(self) -> str:
        """The examples on one line, as the prompt's first line writes them (also the held-out
        rule's text): one line, because the learners predict steps from the first newline on."""
        return SEPARATOR.join(f"{i} -> {o}" for i, o in self.examples)

    def values(self) -> list[tuple[Any, Any]]:
        """The examples as plain values."""
        return [(parse_value(i), parse_value(o)) for i, o in self.examples]


def is_heldout(problem: Problem) -> bool:
    """Whether a problem is in the held-out quarter (rule in the module docstring)."""
    return heldout_by_hash(problem.text)


def split(problems, which: str) -> list[Problem]:
    return split_problems(problems, which, is_heldout)


def bucket(problem: Problem) -> str:
    """`"k lines"` by the hidden program's length; `"unknown"` for a problem from a file."""
    return f"{len(problem.solution)} lines" if problem.solution else "unknown"


def _inputs(kind: str, rng: np.random.Generator) -> list[Any] | None:
    """Four distinct inputs of one kind, or None when a draw repeated one."""
    made = []
    for _ in range(N_EXAMPLES):
        size = int(rng.integers(2, 7))
        if kind == "ints":
            made.append([int(v) for v in rng.integers(0, 10, size=size)])
        elif kind == "word":
            made.append("".join(rng.choice(list("abcdefgh"), size=size)))
        else:
            made.append(int(rng.integers(0, 21)))
    return made if len({show(v) for v in made}) == N_EXAMPLES else None


def random_program(values: list[Any], length: int, rng: np.random.Generator):
    """(statements, final values): up to `length` statements, each drawn uniformly among those
    that succeed on every value and change at least one; shorter when none is left."""
    lines: list[str] = []
    for _ in range(length):
        order = rng.permutation(len(LINES))
        for i in order:
            try:
                out = [trusted_apply(LINES[i], v) for v in values]
            except ValueError:
                continue
            if any(show(a) != show(b) for a, b in zip(out, values)):
                lines.append(LINES[i])
                values = out
                break
        else:
            break
    return lines, values


def draw_problem(rng: np.random.Generator, length: int | None = None) -> Problem | None:
    """One random problem (of a given program length, or a drawn one), or None when the draw is
    uninformative (see the module docstring)."""
    kind = KINDS[int(rng.choice(len(KINDS), p=KIND_WEIGHTS))]
    inputs = _inputs(kind, rng)
    if inputs is None:
        return None
    if length is None:
        length = LENGTHS[int(rng.choice(len(LENGTHS), p=LENGTH_WEIGHTS))]
    lines, outputs = random_program(inputs, length, rng)
    shown_in, shown_out = [show(v) for v in inputs], [show(v) for v in outputs]
    changed = sum(a != b for a, b in zip(shown_in, shown_out))
    if len(lines) < length or changed < N_EXAMPLES - 1 or len(set(shown_out)) == 1:
        return None
    problem = Problem(tuple(zip(shown_in, shown_out)), tuple(lines))
    return problem if len(problem.text) <= MAX_TEXT else None


def generate(n: int, seed: int = 0, split: str = "train", length: int | None = None,
             max_draws: int = 200) -> list[Problem]:
    """`n` distinct problems of a split, the same ones for the same arguments."""
    split_problems([], split, is_heldout)  # validates the split name
    rng = np.random.default_rng(seed)
    seen: set[str] = set()
    found: list[Problem] = []
    for _ in range(n * max_draws):
        if len(found) == n:
            break
        problem = draw_problem(rng, length)
        if problem is None or problem.text in seen:
            continue
        seen.add(problem.text)
        if split == "all" or is_heldout(problem) == (split == "heldout"):
            found.append(problem)
    if len(found) < n:
        raise RuntimeError(f"found {len(found)} of {n} problems in {n * max_draws} draws")
    return found
