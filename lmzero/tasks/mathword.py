"""Math word problems: the model writes reasoning lines until one states the final answer.

Problems are JSONL lines `{"question": "...", "answer": "..."}` (the answer may be a JSON number;
`"percent": true` makes `50%` mean 0.5). GSM8K's own lines are read as they are: an answer field
with a `#### 42` line has 42 as its answer. The prompt a model continues is the question on one
line, then one line per step:

    Ann has 12 apples. She buys 5 more and gives away 3. How many apples does she have now?
    12 + 5 = 17
    17 - 3 = 14
    Answer: 14

A step is one reasoning line. It is terminal when it states a final answer (`Answer: 14`, also
`The answer is 14`, `#### 14` and `\\boxed{14}`: `math_answer.final_answer`); the reward is 1.0
iff that answer matches the problem's (`math_answer.answers_match`: exact numbers, else sympy),
else 0.0. A step with a false explicit equation (`12 + 5 = 18`), an empty step, or a step past
`max_steps` is a terminal dead end (reward 0) with the reason in `error`; a step never raises.

Held-out split: a problem is held out when
`int(hashlib.sha256(" ".join(question.split()).encode()).hexdigest(), 16) % 4 == 0`, i.e. the
sha256 of its question with every run of whitespace made one space (e.g. "Ann has 3 apples. ...").
The rule depends only on the question, so the split is stable across runs, machines and
orderings, and holds for any problem file.

Generator (`generate`, in `mathgen`): multi-step arithmetic word problems for the embedded
model, 2 to 6 operations in seven templates (collection, saving, baking, work, ages, travel,
shopping), amounts up to 20, 60 or 200, easy exact arithmetic (sums below 1,000, a factor or
divisor of at most 12, whole results below 10,000), each with its gold steps (`a op b = c`, one
operation per line, then `Answer: N`); `mathgen`'s docstring lists the templates.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass, field, replace
from fractions import Fraction
from numbers import Real
from typing import Hashable

from lmzero.tasks.base import ProblemError, TextTask
from lmzero.tasks.math_answer import (answers_match, check_arithmetic, final_answer,
                                      format_exact, gsm8k_answer)

OPS = (2, 3, 4, 5, 6)
"""Operation counts of generated problems (one curation bucket each; `mathgen.OPS`)."""
MAX_QUESTION_CHARS = 4000
"""Longest question a problem file may hold."""
MAX_ANSWER_CHARS = 200
"""Longest answer a problem file may hold (`math_answer.MAX_ANSWER_CHARS`)."""
MAX_STEP_LEN = 2000
"""A step longer than this is a dead end (models' samples are far shorter)."""
CHARACTERS = ("\n !$%'(),-./0123456789:=?*+ABCDEFGHIJKLMNOPQRSTUVWXYZ"
              "abcdefghijklmnopqrstuvwxyz")
"""The tiny model's vocabulary: every character the generator writes, plus ' and %."""

INSTRUCTION = """Solve the math word problem step by step. Write one short line per step. Write \
each calculation as a op b = c, one operation per line, with plain numbers (no units). When you \
know the result, write a last line Answer: N with the final number.

Ann has 12 apples. She buys 5 more and gives away 3. How many apples does she have now?
12 + 5 = 17
17 - 3 = 14
Answer: 14

Ben buys 3 pens at $4 each and 2 books at $7 each. He pays with a $50 bill. How much change \
does he get?
3 * 4 = 12
2 * 7 = 14
12 + 14 = 26
50 - 26 = 24
Answer: 24"""


@dataclass(frozen=True)
class Problem:
    """A question and its final answer; generator metadata does not take part in equality."""

    question: str
    """The question, whitespace runs made single spaces."""
    answer: str
    """The expected final answer as text ("18", "3/4", "x+1"); "" when unknown."""
    percent: bool = False
    """Whether a `%` in an answer divides by 100 (so "50%" matches "0.5")."""
    solution: tuple[str, ...] = field(default=(), compare=False)
    """Gold steps, `Answer: N` last (generated problems only)."""
    ops: int = field(default=0, compare=False)
    """Number of arithmetic operations (generated problems; 0 = unknown)."""


@dataclass(frozen=True)
class MathState:
    """A node of the search: the steps written so far and how they ended."""

    problem: Problem
    steps: tuple[str, ...] = ()
    """The step lines so far, whitespace flattened."""
    final: str | None = None
    """The final answer the last step states (set means terminal)."""
    error: str | None = None
    """Why the last step is a dead end (set means terminal, reward 0)."""


def is_heldout(problem: Problem) -> bool:
    """Whether a problem is in the held-out quarter (rule in the module docstring).

    >>> is_heldout(Problem("Ann has 3 apples.  She buys 4 more.", "7"))
    False
    """
    text = " ".join(problem.question.split())
    return int(hashlib.sha256(text.encode()).hexdigest(), 16) % 4 == 0


_NUMBER = r"\d{1,12}(?:\.\d{1,6})?"  # bounded: a calculator call never computes a giant
_CALL = re.compile(rf"({_NUMBER}) ([-+*/]) ({_NUMBER}) = (-?\d{{1,15}}(?:\.\d{{1,6}})?)")


def calculate(line: str) -> str:
    """A calculator call `a op b = c` with the exact result written for c; any other line as is.

    >>> calculate("12 + 15 = 28"), calculate("7 / 2 = 3"), calculate("so 3 + 4 = 8 apples")
    ('12 + 15 = 27', '7 / 2 = 3.5', 'so 3 + 4 = 8 apples')
    """
    match = _CALL.fullmatch(line)
    if not match:
        return line
    a, op, b, _ = match.groups()
    x, y = Fraction(a), Fraction(b)
    if op == "/" and y == 0:
        return line  # left to the claim check: a dead end
    value = {"+": x + y, "-": x - y, "*": x * y, "/": x / y if y else x}[op]
    return f"{a} {op} {b} = {format_exact(value)}"


@dataclass(frozen=True)
class MathTask(TextTask):
    """Math word problems as a single-agent task over reasoning lines."""

    name: str = "math"
    """The task's registry name."""
    max_steps: int = 12
    """Steps allowed before the answer; one more is a dead end."""
    calculator: bool = True
    """A line of the exact form `a op b = c` is a calculator call: the task writes the exact
    result in place of c (GSM8K's calculator annotations, Cobbe et al. 2021). The model still
    chooses what to compute; a wrong result it wrote is not carried on. Off: such a line with a
    false result is a dead end, like any false claim."""
    max_step_chars = 120
    """Generated steps have under 20 characters, but pretrained LMs reading GSM8K write reasoning
    lines of 60-120; a longer sample is dropped (not cut), so 120 keeps most of theirs while
    bounding what a runaway sample costs."""
    characters = CHARACTERS
    instruction = INSTRUCTION
    judge_question = "\nIs this reasoning correct so far? Answer yes or no.\nAnswer:"
    buckets = tuple(f"{k} ops" for k in OPS)
    problem_example = '{"question": "Ann has 3 apples and buys 4 more. How many now?", "answer": 7}'

    # -- problems ---------------------------------------------------------------------------

    def problem_from_json(self, row: dict) -> Problem:
        """A problem from `{"question", "answer"}` (GSM8K's `#### N` answers included).

        >>> TASK.problem_from_json({"question": "Q?", "answer": "3 + 4 = 7\\n#### 7"}).answer
        '7'
        >>> TASK.problem_from_json({"question": "Q?"})
        Traceback (most recent call last):
        ValueError: missing key 'answer'
        """
        for key in ("question", "answer"):
            if key not in row:
                raise ValueError(f"missing key {key!r}")
        question, answer = row["question"], row["answer"]
        if not isinstance(question, str) or not question.strip():
            raise ValueError(f"question must be a non-empty string, got {_clip(question)}")
        if len(question) > MAX_QUESTION_CHARS:
            raise ValueError(f"question has {len(question)} characters (at most "
                             f"{MAX_QUESTION_CHARS})")
        if isinstance(answer, Real) and not isinstance(answer, bool):
            if not math.isfinite(answer):
                raise ValueError(f"answer must be a finite number, got {answer}")
            answer = str(answer)
        if not isinstance(answer, str):
            raise ValueError(f"answer must be a string or a number, got {_clip(answer)}")
        answer = gsm8k_answer(answer)
        if not answer or len(answer) > MAX_ANSWER_CHARS:
            raise ValueError(f"answer must have 1 to {MAX_ANSWER_CHARS} characters, got "
                             f"{_clip(answer)}")
        percent = row.get("percent", False)
        if not isinstance(percent, bool):
            raise ValueError(f"percent must be true or false, got {_clip(percent)}")
        ops = row.get("ops", 0)
        return Problem(" ".join(question.split()), answer, percent,
                       ops=ops if ops in OPS else 0)

    def problem_to_json(self, problem: Problem) -> dict:
        row = {"question": problem.question, "answer": problem.answer}
        row.update({"percent": True} if problem.percent else {})
        return {**row, "ops": problem.ops} if problem.ops else row  # keeps the bucket on resume

    def parse_problem(self, text: str) -> Problem:
        """A JSON problem line, or a bare question (its answer unknown: reward 0, the search
        still ends in a stated answer, `MathState.final`)."""
        if text.lstrip().startswith("{"):
            return super().parse_problem(text)
        question = " ".join(text.split())
        if not question or len(question) > MAX_QUESTION_CHARS:
            raise ProblemError(f"a question needs 1 to {MAX_QUESTION_CHARS} characters")
        return Problem(question, "")

    def describe(self, problem: Problem) -> str:
        q = problem.question
        return q if len(q) <= 100 else q[:97] + "..."

    def is_heldout(self, problem: Problem) -> bool:
        return is_heldout(problem)

    def generate(self, n: int, seed: int = 0, split: str = "train") -> list[Problem]:
        from lmzero.tasks import mathgen  # it builds on this module's Problem
        return mathgen.generate(n, seed, split)

    def bucket(self, problem: Problem) -> str:
        """`"k ops"` for a generated problem, `"unknown"` for one from a file."""
        return f"{problem.ops} ops" if problem.ops in OPS else "unknown"

    def generate_for_buckets(self, buckets: list[str], n: int, seed: int) -> list[Problem]:
        """`n` training problems spread evenly over the operation counts of `buckets`."""
        from lmzero.tasks import mathgen
        wanted = [int(b.split()[0]) for b in buckets if b in self.buckets]
        if not wanted:
            return self.generate(n, seed, "train")
        out: list[Problem] = []
        for i, ops in enumerate(wanted):
            count = n // len(wanted) + (i < n % len(wanted))
            out += mathgen.generate(count, seed + 1000 * i, "train", ops=(ops,)) if count else []
        return out

    def presets(self) -> dict[str, dict]:
        # rollout values: the world model's value head saw only solved worked solutions (its
        # target is 1 everywhere), so greedy rollouts judge nodes until search data teach it
        # and a gentle learner: the world model already solves most problems greedily, and a
        # fresh AdamW at 1e-3 on a few hundred examples undid it (greedy 64.5% -> 5%), and so
        # did the value loss through the shared trunk (value_weight 1: 4%; 0.1: 55-64%)
        return {"quick": dict(iterations=3, problems=96, budget=32, steps=60, values="rollout",
                              lr=5e-5, value_weight=0.1),
                "full": dict(iterations=5, problems=128, budget=32, steps=60, values="rollout",
                             lr=5e-5, value_weight=0.1)}

    def pretrain_defaults(self) -> dict:
        """Worked solutions are ~200 characters (Game of 24's trajectories ~100): fewer, longer
        steps on two threads fit the budget of an hour here."""
        return dict(steps=2000, threads=2)

    def world_trajectory(self, problem: Problem, rng=None) -> list[str]:
        """The gold steps of a generated problem."""
        if not problem.solution:
            raise ValueError("only generated problems have a worked solution to pretrain on "
                             f"({self.describe(problem)!r} has none)")
        return list(problem.solution)

    # -- states -----------------------------------------------------------------------------

    def initial_state(self, problem: Problem) -> MathState:
        return MathState(problem)

    def apply(self, state: MathState, step: str) -> MathState:
        """The state after one reasoning line; a bad step is a terminal dead end, never an error.

        >>> s = TASK.initial_state(Problem("Ann has 12 apples and buys 5 more. How many?", "17"))
        >>> TASK.apply(s, "12 + 5 = 18").steps  # a calculator call: the exact result
        ('12 + 5 = 17',)
        >>> bad = TASK.apply(s, "She has 12 + 5 = 18 apples")
        >>> bad.error, TASK.is_terminal(bad), TASK.reward(bad)
        ('12 + 5 = 17, not 18', True, 0.0)
        """
        text = " ".join(str(step).split())  # one line, so prompts stay line-aligned
        error = None
        if self.is_terminal(state):
            error = "the state is terminal: no step can follow"
        elif not text:
            error = "empty step"
        elif len(state.steps) >= self.max_steps:
            error = f"more than {self.max_steps} steps"
        elif len(text) > MAX_STEP_LEN:
            text, error = text[:MAX_STEP_LEN], f"step longer than {MAX_STEP_LEN} characters"
        else:
            text = calculate(text) if self.calculator else text
            error = check_arithmetic(text)
        if error is not None:
            return replace(state, steps=state.steps + (text,), error=error)
        return replace(state, steps=state.steps + (text,), final=final_answer(text))

    def is_terminal(self, state: MathState) -> bool:
        return state.final is not None or state.error is not None

    def solved(self, state: MathState) -> bool:
        return (state.error is None and state.final is not None
                and answers_match(state.final, state.problem.answer,
                                  percent=state.problem.percent))

    def reward(self, state: MathState) -> float:
        """1.0 iff the stated final answer matches the problem's, else 0.0.

        >>> s = TASK.initial_state(Problem("Ann has 12 apples and buys 5 more. How many?", "17"))
        >>> for step in ["12 + 5 = 17", "Answer: 17 apples"]:
        ...     s = TASK.apply(s, step)
        >>> TASK.reward(s), TASK.answer(s)
        (1.0, '17 apples')
        """
        return 1.0 if self.solved(state) else 0.0

    def answer(self, state: MathState) -> str | None:
        """The final answer as the model stated it, when it is correct; else None."""
        return state.final if self.solved(state) else None

    def checkable(self, problem: Problem) -> bool:
        return bool(problem.answer)

    def stated_answer(self, state: MathState) -> str | None:
        return state.final if state.error is None else None

    def prompt(self, state: MathState) -> str:
        """The question on one line, then one line per step, each ending in a newline."""
        question = " ".join(state.problem.question.split())
        return "".join(line + "\n" for line in (question, *state.steps))

    def key(self, state: MathState) -> Hashable:
        return state.problem, state.steps, state.error is not None


def _clip(value, width: int = 60) -> str:
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= width else text[:width] + "..."


TASK = MathTask()
