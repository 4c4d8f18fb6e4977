"""Combine numbers with + - * / into a target: the shared core of Game of 24 and Countdown.

A language model solves a problem one text step at a time, and every step is checked exactly
(Fractions, never floats, so `1 5 5 5 -> 24` through `1/5` verifies). A step reads

    13 - 9 = 4 (left: 4 4 10)

and the prompt a model continues is the problem line followed by the steps so far, one per line.
A wrong step never raises inside the task: it ends the branch as a dead end with reward 0, so
search can score a model's mistakes instead of crashing on them.
"""

from __future__ import annotations

import hashlib
import json
import operator
import os
import re
import reprlib
import tempfile
from dataclasses import dataclass, replace
from fractions import Fraction
from numbers import Integral
from typing import Callable, Hashable, Iterable

import numpy as np

from lmzero.tasks.arith_solver import count_trees
from lmzero.tasks.base import ProblemError, TextTask, split_problems

OPS = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv}
MAX_NUMBER = 10**9
"""Largest number or target a problem may give. A step writes each number in at most 100
digits (`parse_number`), and six numbers below 10**9 keep every product and fraction of them
well inside that, and prompts short enough for a small model's block."""


@dataclass(frozen=True)
class Problem:
    """Numbers to combine, each exactly once, into `target`."""

    numbers: tuple[int, ...]
    """The given numbers, sorted ascending (so equal problems compare and hash equal)."""
    target: int
    """The value the last remaining number must equal."""

    @staticmethod
    def make(numbers: Iterable[int], target: int) -> Problem:
        """Sort and validate; ValueError says which value is wrong.

        >>> Problem.make([13, 4, 10, 9], 24)
        Problem(numbers=(4, 9, 10, 13), target=24)
        >>> Problem.make([4, 0], 24)
        Traceback (most recent call last):
        ValueError: numbers must be positive integers, got [4, 0]
        >>> Problem.make([4, 10**12], 24)
        Traceback (most recent call last):
        ValueError: numbers must be at most 1000000000, got [4, 1000000000000]
        """
        numbers = list(numbers)
        if len(numbers) < 2:
            raise ValueError(f"need at least 2 numbers to combine, got {_show(numbers)}")
        if not all(_positive_int(n) for n in numbers):
            raise ValueError(f"numbers must be positive integers, got {_show(numbers)}")
        if not _positive_int(target):
            raise ValueError(f"the target must be a positive integer, got {_show(target)}")
        if max(numbers) > MAX_NUMBER:
            raise ValueError(f"numbers must be at most {MAX_NUMBER}, got {_show(numbers)}")
        if target > MAX_NUMBER:
            raise ValueError(f"the target must be at most {MAX_NUMBER}, got {_show(target)}")
        return Problem(tuple(sorted(int(n) for n in numbers)), int(target))


def _positive_int(x) -> bool:
    return isinstance(x, Integral) and not isinstance(x, bool) and x > 0


def _short_repr() -> reprlib.Repr:
    short = reprlib.Repr()  # Python 3.10 takes no keyword arguments here
    short.maxlevel, short.maxlist, short.maxlong = 3, 12, 30
    short.maxstring = short.maxother = 40
    return short


_show = _short_repr().repr
"""A value for an error message: one line, nesting, lists, digits and text clipped (a problem
file's value may be a list nested 900 deep, or a 300-digit number)."""


@dataclass(frozen=True)
class ArithState:
    """A node of the search: what is left to combine, and how it was reached."""

    problem: Problem
    """The problem being solved."""
    numbers: tuple[Fraction, ...]
    """The remaining numbers, sorted ascending (a multiset)."""
    exprs: tuple[str, ...]
    """An infix expression for each remaining number, aligned with `numbers`, e.g. "(13 - 9)";
    among equal numbers the shortest comes first, and a step uses the first (a given 4 before a
    computed one)."""
    steps: tuple[str, ...]
    """The step lines so far (valid ones in canonical form; a bad last one as written)."""
    error: str | None = None
    """Why the last step was invalid; set means the branch is a dead end."""


class StepError(ValueError):
    """A step that does not parse or does not follow from the state (one-line message)."""


@dataclass(frozen=True)
class Step:
    """One parsed step `a op b = result (left: ...)`, not yet checked against a state."""

    a: Fraction
    """Left operand."""
    op: str
    """One of + - * /."""
    b: Fraction
    """Right operand."""
    result: Fraction
    """The value the step claims."""
    left: tuple[Fraction, ...]
    """The remaining numbers the step claims, sorted ascending."""


def format_number(x: Fraction) -> str:
    """`4`, `-3`, or `a/b` in lowest terms.

    >>> format_number(Fraction(2, 10)), format_number(Fraction(-6, 2))
    ('1/5', '-3')
    """
    return str(Fraction(x))


_NUMBER = re.compile(r"-?[0-9]{1,100}(?:/[0-9]{1,100})?")  # bounded: no giant ints


def parse_number(text: str) -> Fraction:
    """Inverse of `format_number` (any `a/b` is accepted and reduced).

    >>> parse_number("-7/3")
    Fraction(-7, 3)
    >>> parse_number("4.5")
    Traceback (most recent call last):
    lmzero.tasks.arith.StepError: bad number '4.5' (write integers as 4 or -3, fractions as 1/5)
    """
    if not _NUMBER.fullmatch(text):
        raise StepError(f"bad number {_clip(text)} (write integers as 4 or -3, fractions as 1/5)")
    num, _, den = text.partition("/")
    if den and int(den) == 0:
        raise StepError(f"bad number {_clip(text)} (zero denominator)")
    return Fraction(int(num), int(den or 1))


def _simplest_first(pair: tuple[Fraction, str]):
    return pair[0], len(pair[1]), pair[1]


def _clip(text: str, width: int = 60) -> str:
    return repr(text if len(text) <= width else text[:width] + "...")


def _numbers(values: Iterable[Fraction]) -> str:
    return " ".join(format_number(v) for v in values)


_STEP = re.compile(r"(\S+) (\S+) (\S+) = (\S+) \(left:((?: \S+)+)\)")


def parse_step(text: str) -> Step:
    """Parse one step line (surrounding whitespace ignored); StepError says what is wrong.

    >>> format_step(parse_step("13 - 9 = 4 (left: 10 4 4)"))  # left is sorted
    '13 - 9 = 4 (left: 4 4 10)'
    >>> parse_step("13 x 9 = 4 (left: 4 4 10)")
    Traceback (most recent call last):
    lmzero.tasks.arith.StepError: unknown operator 'x' (use one of + - * /)
    """
    match = _STEP.fullmatch(text.strip())
    if not match:
        raise StepError(f"step {_clip(text)} does not match 'A op B = R (left: N N ...)'")
    a, op, b, result, left = match.groups()
    if op not in OPS:
        raise StepError(f"unknown operator {_clip(op)} (use one of + - * /)")
    return Step(parse_number(a), op, parse_number(b), parse_number(result),
                tuple(sorted(parse_number(n) for n in left.split())))


def format_step(step: Step) -> str:
    """The canonical text of a step (left sorted ascending)."""
    return (f"{format_number(step.a)} {step.op} {format_number(step.b)} = "
            f"{format_number(step.result)} (left: {_numbers(step.left)})")


_OPERATION = re.compile(r"\s*(\S+) (\S+) (\S+)")


def calculate(state: ArithState, text: str) -> str:
    """A calculator: the canonical step for the operation `a op b` that `text` starts with,
    its result and numbers left computed, when that operation is possible on the numbers left;
    else `text` unchanged, for `check_step` to say what is wrong.

    >>> s = ArithTask("countdown").initial_state(Problem.make([3, 7, 25, 50], 147))
    >>> calculate(s, "25 * 7 = 165 (left: 3 50 165)")
    '25 * 7 = 175 (left: 3 50 175)'
    >>> calculate(s, "25 * 8 = 200 (left: 3 7 50 200)")  # 8 is not left: unchanged
    '25 * 8 = 200 (left: 3 7 50 200)'
    """
    match = _OPERATION.match(text)
    if match is None or match[2] not in OPS:
        return text
    try:
        a, b = parse_number(match[1]), parse_number(match[3])
        rest, *_ = _take_operands(state, a, match[2], b)
    except StepError:
        return text
    value = OPS[match[2]](a, b)
    return format_step(Step(a, match[2], b, value, tuple(sorted(rest + [value]))))


def _take_operands(state: ArithState, a: Fraction, op: str, b: Fraction):
    """(numbers left, their expressions, a's expression, b's expression) once `a op b` took its
    operands from the state's numbers; StepError if either is not there or `b` divides by 0."""
    rest, exprs = list(state.numbers), list(state.exprs)
    have = _numbers(state.numbers)
    if a not in rest:
        raise StepError(f"{format_number(a)} is not among the remaining numbers {have}")
    i = rest.index(a)
    ea, _ = exprs.pop(i), rest.pop(i)
    if b not in rest:
        if b == a:
            n = format_number(a)
            raise StepError(f"{n} {op} {n} needs two {n}s but the remaining numbers are {have}")
        raise StepError(f"{format_number(b)} is not among the remaining numbers {have}")
    j = rest.index(b)
    eb, _ = exprs.pop(j), rest.pop(j)
    if op == "/" and b == 0:
        raise StepError(f"division by zero: {format_number(a)} / 0")
    return rest, exprs, ea, eb


def check_step(state: ArithState, text: str) -> ArithState:
    """The state after the step `text`, or StepError saying exactly why it does not follow.

    >>> s = ArithTask("game24").initial_state(Problem.make([4, 9, 10, 13], 24))
    >>> check_step(s, "13 - 9 = 4 (left: 4 4 10)").numbers
    (Fraction(4, 1), Fraction(4, 1), Fraction(10, 1))
    >>> check_step(s, "13 - 9 = 5 (left: 4 5 10)")
    Traceback (most recent call last):
    lmzero.tasks.arith.StepError: 13 - 9 = 4, not 5
    >>> check_step(s, "4 - 4 = 0 (left: 0 9 10 13)")
    Traceback (most recent call last):
    lmzero.tasks.arith.StepError: 4 - 4 needs two 4s but the remaining numbers are 4 9 10 13
    """
    if state.error is not None:
        raise StepError(f"the branch is already a dead end: {state.error}")
    if len(state.numbers) <= 1:
        raise StepError("the state is terminal: one number is left, no step can follow")
    step = parse_step(text)
    rest, exprs, ea, eb = _take_operands(state, step.a, step.op, step.b)
    value = OPS[step.op](step.a, step.b)
    if value != step.result:
        raise StepError(f"{format_number(step.a)} {step.op} {format_number(step.b)} = "
                        f"{format_number(value)}, not {format_number(step.result)}")
    pairs = sorted(zip(rest + [value], exprs + [f"({ea} {step.op} {eb})"]), key=_simplest_first)
    left = tuple(v for v, _ in pairs)
    if step.left != left:
        raise StepError(f"left should be {_numbers(left)}, not {_numbers(step.left)}")
    return replace(state, numbers=left, exprs=tuple(e for _, e in pairs),
                   steps=state.steps + (format_step(step),))


def heldout_by_hash(text: str) -> bool:
    """The held-out rule of both tasks: sha256 of the canonical text, mod 4 == 0 (a quarter)."""
    return int(hashlib.sha256(text.encode()).hexdigest(), 16) % 4 == 0


def split(problems: Iterable[Problem], which: str, is_heldout: Callable[[Problem], bool]):
    """The problems of one split: "train", "heldout", or "all"."""
    return split_problems(problems, which, is_heldout)


def format_problem(problem: Problem) -> str:
    """The first prompt line: `4 9 10 13 -> 24`."""
    return f"{' '.join(map(str, problem.numbers))} -> {problem.target}"


_RULES = ("Combine the numbers with + - * / to reach the target after the arrow, using every "
          "number exactly once. Write one step per line: A op B = R (left: the remaining numbers "
          "in ascending order).")


@dataclass(frozen=True)
class ArithTask(TextTask):
    """Combine numbers into a target as a single-agent task over text steps; `game24.Game24` and
    `countdown.Countdown` add their problem rules, split, generator and curation buckets."""

    name: str = "arith"
    """The task's registry name."""
    problem_example = '{"numbers": [4, 9, 10, 13], "target": 24}'
    shots: tuple[str, ...] = ()
    """Worked examples (few-shot) for pretrained LMs: a 135M model copies the format far better
    with them."""
    calculator: bool = False
    """A step counts by its leading `a op b` alone: the task computes the result and the numbers
    left (`calculate`), as math's calculator calls do, so an arithmetic or bookkeeping slip never
    ends a branch; the model still chooses every operation. Off: a step must be right as
    written."""

    @property
    def instruction(self) -> str:
        return _RULES + "".join("\n\n" + shot for shot in self.shots)

    # -- problems -------------------------------------------------------------------------

    def validate(self, numbers: list[int], target: int) -> None:
        """The task's own rules on a problem (game24: four numbers, target 24); ValueError."""

    def problem_from_json(self, row: dict) -> Problem:
        missing = [k for k in ("numbers", "target") if k not in row]
        if missing:
            raise ValueError(f"missing key {missing[0]!r}")
        return _validated(row["numbers"], row["target"], self)

    def problem_to_json(self, problem: Problem) -> dict:
        return {"numbers": list(problem.numbers), "target": problem.target}

    def describe(self, problem: Problem) -> str:
        return format_problem(problem)

    def parse_problem(self, text: str) -> Problem:
        """`"3 7 25 50 -> 147"` (`parse_problem_text`), or a JSON line as in a problem file."""
        if text.lstrip().startswith("{"):
            return super().parse_problem(text)
        return parse_problem_text(text, self)

    def world_trajectory(self, problem: Problem, rng: np.random.Generator) -> list[str]:
        """Uniformly random legal steps: the world model learns the rules, not planning."""
        return self.random_trajectory(problem, rng)

    def initial_state(self, problem: Problem) -> ArithState:
        values = tuple(Fraction(n) for n in problem.numbers)
        return ArithState(problem, values, tuple(map(str, problem.numbers)), ())

    def apply(self, state: ArithState, step_text: str) -> ArithState:
        """The next state; a bad step gives a terminal dead end (error set), never an exception.

        >>> t = ArithTask("game24"); s = t.initial_state(Problem.make([4, 9, 10, 13], 24))
        >>> bad = t.apply(s, "13 - 9 = 3 (left: 3 4 10)")
        >>> bad.error, t.is_terminal(bad), t.reward(bad)
        ('13 - 9 = 4, not 3', True, 0.0)
        """
        text = calculate(state, step_text) if self.calculator else step_text
        try:
            return check_step(state, text)
        except StepError as e:
            flat = step_text.strip().replace("\n", " ")  # one line, so prompts stay line-aligned
            return replace(state, steps=state.steps + (flat,), error=str(e))

    def is_terminal(self, state: ArithState) -> bool:
        return state.error is not None or len(state.numbers) <= 1

    def solved(self, state: ArithState) -> bool:
        return (state.error is None and len(state.numbers) == 1
                and state.numbers[0] == state.problem.target)

    def reward(self, state: ArithState) -> float:
        """1.0 iff every number was used and the last one is the target, else 0.0.

        >>> t = ArithTask("game24"); s = t.initial_state(Problem.make([4, 9, 10, 13], 24))
        >>> for step in ["13 - 9 = 4 (left: 4 4 10)", "10 - 4 = 6 (left: 4 6)",
        ...              "6 * 4 = 24 (left: 24)"]:
        ...     s = t.apply(s, step)
        >>> t.reward(s), t.answer(s)
        (1.0, '(10 - 4) * (13 - 9)')
        """
        return 1.0 if self.solved(state) else 0.0

    def answer(self, state: ArithState) -> str | None:
        """The solving expression without redundant outer parentheses; None if not solved."""
        if not self.solved(state):
            return None
        expr = state.exprs[0]
        return expr[1:-1] if expr.startswith("(") and _closes_at_end(expr) else expr

    def prompt(self, state: ArithState) -> str:
        """Problem line then one line per step, each ending in a newline (the model continues)."""
        return "".join(line + "\n" for line in (format_problem(state.problem), *state.steps))

    def key(self, state: ArithState) -> Hashable:
        """Transposition identity: problem + remaining multiset (+ whether it is a dead end, so a
        dead end never merges with its parent, whose numbers it keeps)."""
        return state.problem, state.numbers, state.error is not None

    def legal_steps(self, state: ArithState) -> list[str]:
        """Canonical valid steps: per distinct pair a >= b, `a + b`, `a * b`, `a - b`, `a / b`,
        `b / a` (non-zero divisors, no duplicates).

        >>> t = ArithTask("countdown")
        >>> t.legal_steps(t.initial_state(Problem.make([2, 2, 3], 7)))
        ... # doctest: +NORMALIZE_WHITESPACE
        ['2 + 2 = 4 (left: 3 4)', '2 * 2 = 4 (left: 3 4)', '2 - 2 = 0 (left: 0 3)',
         '2 / 2 = 1 (left: 1 3)', '3 + 2 = 5 (left: 2 5)', '3 * 2 = 6 (left: 2 6)',
         '3 - 2 = 1 (left: 1 2)', '3 / 2 = 3/2 (left: 3/2 2)', '2 / 3 = 2/3 (left: 2/3 2)']
        """
        if self.is_terminal(state):
            return []
        nums = state.numbers
        return list(dict.fromkeys(format_step(_step(nums, m)) for m in _moves(nums)))

    def count_solutions(self, problem: Problem) -> int:
        """Distinct solution expressions, as `arith_solver.count_trees` counts them: trees of
        canonical steps using every number once; + and * children unordered, equal numbers
        interchangeable, associativity not collapsed ((a + b) + c and a + (b + c) are two).

        >>> ArithTask("game24").count_solutions(Problem.make([1, 5, 5, 5], 24))
        1
        """
        return count_trees(self.initial_state(problem).numbers, Fraction(problem.target))

    def solve(self, problem: Problem) -> list[str] | None:
        """One solution's steps, or None: walks canonical steps, taking the first whose remaining
        numbers the exact counter says can still reach the target (so no backtracking)."""
        state, target = self.initial_state(problem), Fraction(problem.target)
        if count_trees(state.numbers, target) == 0:
            return None
        while not self.is_terminal(state):
            children = (self.apply(state, step) for step in self.legal_steps(state))
            state = next(c for c in children if count_trees(c.numbers, target) > 0)
        return list(state.steps)

    def random_trajectory(self, problem: Problem, rng: np.random.Generator) -> list[str]:
        """Uniformly random legal steps until one number is left."""
        state = self.initial_state(problem)
        while not self.is_terminal(state):
            moves = _moves(state.numbers)  # legal_steps without formatting every one
            move = moves[int(rng.integers(len(moves)))]
            state = self.apply(state, format_step(_step(state.numbers, move)))
        return list(state.steps)


def _moves(nums: tuple[Fraction, ...]) -> list[tuple[int, str, int]]:
    """The canonical steps from sorted `nums` as (index of x, op, index of y), for x op y."""
    moves, pairs = [], set()
    for j in range(len(nums)):
        for i in range(j):  # nums[j] >= nums[i]: sorted ascending
            if (nums[j], nums[i]) not in pairs:
                pairs.add((nums[j], nums[i]))
                moves += [(j, "+", i), (j, "*", i), (j, "-", i)]
                moves += [(j, "/", i)] if nums[i] else []
                moves += [(i, "/", j)] if nums[j] != nums[i] else []  # nums[j] > nums[i] >= 0
    return moves


def _step(nums: tuple[Fraction, ...], move: tuple[int, str, int]) -> Step:
    x, op, y = move
    value = OPS[op](nums[x], nums[y])
    rest = tuple(v for k, v in enumerate(nums) if k not in (x, y))
    return Step(nums[x], op, nums[y], value, tuple(sorted(rest + (value,))))


def _closes_at_end(expr: str) -> bool:
    """Whether the "(" at position 0 is closed by the last character."""
    depth = 0
    for i, c in enumerate(expr):
        depth += (c == "(") - (c == ")")
        if depth == 0:
            return i == len(expr) - 1
    return False


def _validated(numbers, target, task: ArithTask) -> Problem:
    """Problem checked against the task's rules; ValueError says what is wrong."""
    if not isinstance(numbers, list) or not all(isinstance(n, Integral) and not isinstance(n, bool)
                                                for n in numbers):
        raise ValueError(f"numbers must be a list of integers, got {_show(numbers)}")
    if isinstance(target, bool) or not isinstance(target, Integral):
        raise ValueError(f"target must be an integer, got {_show(target)}")
    task.validate(numbers, target)
    return Problem.make(numbers, target)


def _task(task: ArithTask | str) -> ArithTask:
    if isinstance(task, str):
        from lmzero.tasks import load_step_task
        return load_step_task(task)
    return task


def read_problems(path: str | os.PathLike, task: ArithTask | str) -> list[Problem]:
    """JSONL lines `{"numbers": [4, 9, 10, 13], "target": 24}`; blank lines skipped. Any bad
    line raises ProblemError naming the file and line."""
    return _task(task).read_problems(path)


def write_problems(path: str | os.PathLike, problems: Iterable[Problem]) -> None:
    """Write JSONL atomically (temp file in the same folder, then os.replace)."""
    folder = os.path.dirname(os.path.abspath(path))
    with tempfile.NamedTemporaryFile("w", dir=folder, suffix=".tmp", delete=False) as f:
        try:
            for p in problems:
                f.write(json.dumps({"numbers": list(p.numbers), "target": p.target}) + "\n")
        except BaseException:
            os.unlink(f.name)  # a failed write leaves the old file, and no temp file, behind
            raise
    os.replace(f.name, path)


def parse_problem_text(text: str, task: ArithTask | str) -> Problem:
    """A problem from the command line: `"3 7 25 50 -> 147"` (Game of 24: `"4 9 10 13"` too).

    >>> from lmzero.tasks.countdown import TASK
    >>> parse_problem_text("3 7 25 50 -> 147", TASK)
    Problem(numbers=(3, 7, 25, 50), target=147)
    >>> parse_problem_text("3 7 x", TASK)
    Traceback (most recent call last):
    lmzero.tasks.base.ProblemError: expected numbers like '3 7 25 50 -> 147', got '3 7 x'
    """
    task = _task(task)
    default = getattr(task, "default_target", None)
    example = "4 9 10 13" if default else "3 7 25 50 -> 147"
    head, arrow, tail = text.partition("->")
    words = head.replace(",", " ").split()
    if (not all(_digits(w) for w in words) or (arrow and not _digits(tail.strip()))
            or (default is None and not arrow)):
        raise ProblemError(f"expected numbers like {example!r}, got {_clip(text)}")
    if any(len(w.lstrip("0")) > len(str(MAX_NUMBER)) for w in [*words, tail.strip()]):
        raise ProblemError(f"numbers and the target must be at most {MAX_NUMBER}, got "
                           f"{_clip(text)}")  # before int(): 5,000 digits would raise there
    try:
        return _validated([int(w) for w in words], int(tail) if arrow else default, task)
    except ValueError as e:
        raise ProblemError(str(e)) from None


def _digits(word: str) -> bool:
    return word.isascii() and word.isdigit()
