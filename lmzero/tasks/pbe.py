"""Programming by example: write a small Python function from input/output examples.

The prompt is the examples on one line (`[3,1,2] -> [1,2,3] | [5,4] -> [4,5] | ...`), then the
program so far, one line per step. A
step is one line of code from a small DSL of one-line statements over a variable `x`
(`pbe_dsl.LINES`: list and string transforms, arithmetic); `return x` is terminal. A line
outside the DSL, or a seventh statement, is a dead end (reward 0) and is never run. At a
terminal state the program runs only in the sandbox on every example input (`pbe_verdict`),
and the reward is 1 only when every output matches exactly.

Why a DSL of whole lines rather than free Python: every step is then a meaningful unit a search
can branch on, a small character-level model can learn the language from scratch on a CPU, and
the grammar check is exact (membership in a finite set), so a model's arbitrary text never
reaches even the sandbox. The verifier is still the real one: complete programs run sandboxed.

Problems, the generator and the held-out rule: `pbe_gen`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Hashable

import numpy as np

from lmzero.tasks import pbe_gen
from lmzero.tasks.base import TextTask
from lmzero.tasks.pbe_dsl import (RETURN, characters, is_statement, parse_value, same, show,
                                  trusted_apply)
from lmzero.tasks.pbe_gen import Problem
from lmzero.tasks.pbe_verdict import remember, verdict

MAX_LINES = 6
"""Statements allowed before `return x`; one more is a dead end (hidden programs have <= 4)."""
SOLUTION_SHARE = 0.8
"""Share of world-model trajectories that are the generator's hidden program (reward 1); the
rest are random legal statements (reward almost always 0), see `PbeTask.world_trajectory`."""


@dataclass(frozen=True)
class PbeState:
    """A node of the search: the problem and the program lines written so far."""

    problem: Problem
    lines: tuple[str, ...] = ()
    """Steps so far (a bad last one as written, on one line)."""
    error: str | None = None
    """Why the last step was invalid; set means the branch is a dead end."""

    @property
    def complete(self) -> bool:
        return self.error is None and bool(self.lines) and self.lines[-1] == RETURN


@dataclass(frozen=True)
class PbeTask(TextTask):
    """Programming by example over the `pbe_dsl` statements, verified in the sandbox."""

    name: str = "pbe"
    max_step_chars = 40  # the longest statement has 33 characters
    characters = characters()
    instruction = ("Write a Python function body over x, one statement per line, that maps each "
                   "input to its output; end with `return x`.")
    buckets = tuple(f"{k} lines" for k in pbe_gen.LENGTHS)
    problem_example = '{"examples": [["[3,1,2]", "[1,2,3]"], ["[5,4]", "[4,5]"]]}'
    heldout_eval_size = 100  # greedy pass@1 each self-improvement iteration: 100 problems

    # -- problems ---------------------------------------------------------------------------

    def problem_from_json(self, row: dict) -> Problem:
        """`{"examples": [[input, output], ...], "solution": [...]}`, values as text or JSON.

        >>> TASK.problem_from_json({"examples": [[[3, 1], [1, 3]], ["'ab'", "'AB'"]]}).text
        "[3,1] -> [1,3] | 'ab' -> 'AB'"
        """
        examples = row.get("examples")
        if not isinstance(examples, list) or not 1 <= len(examples) <= 8:
            raise ValueError("examples must be a list of 1 to 8 [input, output] pairs")
        pairs = []
        for pair in examples:
            if not isinstance(pair, list) or len(pair) != 2:
                raise ValueError("each example must be an [input, output] pair")
            pairs.append(tuple(show(_value(v)) for v in pair))
        solution = row.get("solution", [])
        if not isinstance(solution, list) or not all(map(is_statement, solution)):
            raise ValueError("solution must be a list of DSL statements")
        return Problem(tuple(pairs), tuple(solution))

    def problem_to_json(self, problem: Problem) -> dict:
        row = {"examples": [list(pair) for pair in problem.examples]}
        return {**row, "solution": list(problem.solution)} if problem.solution else row

    def describe(self, problem: Problem) -> str:
        return problem.text[:120]

    def is_heldout(self, problem: Problem) -> bool:
        return pbe_gen.is_heldout(problem)

    def generate(self, n: int, seed: int = 0, split: str = "train") -> list[Problem]:
        return pbe_gen.generate(n, seed, split)

    def bucket(self, problem: Problem) -> str:
        return pbe_gen.bucket(problem)

    def generate_for_buckets(self, buckets: list[str], n: int, seed: int) -> list[Problem]:
        """`n` training problems spread evenly over the program lengths of `buckets`."""
        wanted = [int(b.split()[0]) for b in buckets if b in self.buckets]
        if not wanted:
            return self.generate(n, seed, "train")
        out: list[Problem] = []
        for i, length in enumerate(wanted):
            count = n // len(wanted) + (i < n % len(wanted))
            out += pbe_gen.generate(count, seed + 1000 * i, "train", length) if count else []
        return out

    def presets(self) -> dict[str, dict]:
        """Sized for this 2-core machine under contention (a learner step and a search call cost
        2-5x what they do alone): quick is two small iterations, full ten."""
        return {"quick": dict(iterations=2, problems=48, budget=32, steps=80, block_size=320,
                              eval_problems=40),
                "full": dict(iterations=10, problems=128, budget=48, steps=150,
                             block_size=320)}

    def pretrain_defaults(self) -> dict:
        """A small model (trajectories are <= ~300 characters, mostly ~150): 3 layers of 96
        train at 0.2-0.3 s a step on two contended CPU threads (3,000 steps: 10-15 minutes)."""
        return dict(steps=3000, threads=2, eval_problems=100, checkpoint_every=400,
                    model=dict(n_layer=3, n_head=4, n_embd=96, block_size=320, rope=True))

    def world_trajectory(self, problem: Problem, rng: np.random.Generator) -> list[str]:
        """Mostly (`SOLUTION_SHARE`) the generator's hidden program (a worked solution, reward
        1), else 1-4 random legal statements (each succeeding on every input; reward almost
        always 0), then `return x`. Why not only random statements, as Game of 24 pretrains: a
        random program is unrelated to the examples, so it teaches the step language but not how
        examples relate to code (at half random, 1,400 steps: 97% valid steps, greedy 0% on
        held-out problems); with mostly hidden programs the world model starts with a usable
        prior, and its value head still sees both outcomes. The rewards of these trajectories,
        our own statements, are computed here (`pbe_dsl.trusted_apply`) and remembered, so
        pretraining never waits on the sandbox; model-written programs are only judged there."""
        if problem.solution and rng.random() < SOLUTION_SHARE:
            lines = list(problem.solution)
        else:
            length = int(rng.integers(1, 5))
            inputs = [i for i, _ in problem.values()]
            lines, _ = pbe_gen.random_program(inputs, length, rng)
        remember(problem.examples, (*lines, RETURN), _trusted_reward(problem, lines))
        return [*lines, RETURN]

    # -- states -----------------------------------------------------------------------------

    def initial_state(self, problem: Problem) -> PbeState:
        return PbeState(problem)

    def apply(self, state: PbeState, step: str) -> PbeState:
        """The next state; a line outside the DSL is a terminal dead end, never run or raised.

        >>> s = TASK.initial_state(TASK.generate(1)[0])
        >>> bad = TASK.apply(s, "import os")
        >>> bad.error, TASK.is_terminal(bad), TASK.reward(bad)
        ("'import os' is not a statement of the DSL", True, 0.0)
        """
        text = " ".join(str(step).split())  # one line, so prompts stay line-aligned
        error = None
        if self.is_terminal(state):
            error = "the state is terminal: no step can follow"
        elif text == RETURN:
            error = None if state.lines else "an empty program"
        elif not is_statement(text):
            error = f"{text[:60]!r} is not a statement of the DSL"
        elif len(state.lines) >= MAX_LINES:
            error = f"more than {MAX_LINES} statements"
        return replace(state, lines=state.lines + (text,), error=error)

    def is_terminal(self, state: PbeState) -> bool:
        return state.error is not None or state.complete

    def reward(self, state: PbeState) -> float:
        """1.0 iff the complete program reproduces every example, run in the sandbox."""
        if not state.complete or not all(map(is_statement, state.lines[:-1])):
            return 0.0
        return verdict(state.problem.examples, state.lines)

    def answer(self, state: PbeState) -> str | None:
        """The program's statements joined by `; ` when it solves the problem; else None."""
        return self.stated_answer(state) if self.reward(state) == 1.0 else None

    def stated_answer(self, state: PbeState) -> str | None:
        return "; ".join(state.lines) if state.complete else None

    def prompt(self, state: PbeState) -> str:
        """The examples' line, then one line per step, each ending in a newline."""
        return "".join(line + "\n" for line in (state.problem.text, *state.lines))

    def key(self, state: PbeState) -> Hashable:
        return state.problem, state.lines, state.error is not None


def _value(v):
    """An example value given as its text (`"[3,1]"`, `"'ab'"`) or as JSON (`[3, 1]`);
    ValueError if it is not a value of the language."""
    return parse_value(v if isinstance(v, str) else show(v) if isinstance(v, (int, list))
                       else "?")


def _trusted_reward(problem: Problem, lines: list[str]) -> float:
    """The reward of one of our own generated programs, computed here (never a model's)."""
    for given, expected in problem.values():
        try:
            for line in lines:
                given = trusted_apply(line, given)
        except ValueError:
            return 0.0
        if not same(given, expected):
            return 0.0
    return 1.0


TASK = PbeTask()
