"""The seam between a task and the search: what a game must say about its states.

Search code only ever calls these methods, so a new game (or, later, a reasoning task with an
open action space) plugs in without the search knowing anything about it.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from typing import Any, Hashable, Protocol

import numpy as np

from lmzero.models.text_tokenizer import CHARACTERS

State = Any  # each game chooses its own immutable state representation


class Game(Protocol):
    """A two-player (or single-agent) game with a closed action space of `num_actions` moves.

    Values are always from the point of view of the player to move in the state they describe.
    """

    name: str
    num_actions: int  # size of the action space; legal moves are a subset of range(num_actions)

    def initial_state(self) -> State: ...

    def legal_mask(self, state: State) -> np.ndarray:
        """bool [num_actions]: which moves are legal (all False in a terminal state)."""

    def apply(self, state: State, action: int) -> State:
        """The state after `action`; never mutates `state`. Raises ValueError if illegal."""

    def is_terminal(self, state: State) -> bool: ...

    def terminal_value(self, state: State) -> float:
        """Outcome of a terminal state for the player to move in it (+1 win, 0 draw, -1 loss)."""

    def to_play(self, state: State) -> int:
        """Index of the player to move (0 or 1); single-agent tasks always return 0."""

    def key(self, state: State) -> Hashable:
        """A hashable identity of the position, for transpositions."""

    def rollout(self, state: State, rng: np.random.Generator) -> float:
        """Play uniformly random legal moves to the end; outcome for the player to move in `state`.

        Games override this with a fast version; `random_rollout` below is the generic fallback.
        """


def random_rollout(game: Game, state: State, rng: np.random.Generator) -> float:
    """Generic uniformly random playout, for games without a fast one of their own."""
    mover = game.to_play(state)
    while not game.is_terminal(state):
        legal = np.flatnonzero(game.legal_mask(state))
        state = game.apply(state, int(rng.choice(legal)))
    value = game.terminal_value(state)
    return value if game.to_play(state) == mover else -value


@contextlib.contextmanager
def quiet_stderr():
    """File descriptor 2 sent to /dev/null for the block: native code a game adapter calls
    (OpenSpiel's C++, SDL under PettingZoo's pygame) writes there directly, and a user error
    must stay one line."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


class StepTask(Protocol):
    """A single-agent task with an open action space: the model writes each step as text.

    The task parses and checks a step; an invalid step is a dead end (reward 0), never an error.
    Rewards lie in [0, 1] and are given only at terminal states.
    """

    name: str

    def initial_state(self, problem: Any) -> State: ...

    def apply(self, state: State, step: str) -> State:
        """The state after the step; an invalid step gives a terminal dead end."""

    def is_terminal(self, state: State) -> bool: ...

    def reward(self, state: State) -> float:
        """The verifier: 1.0 for a correct final state, 0.0 otherwise."""

    def prompt(self, state: State) -> str:
        """The text a language model conditions on: the problem and the steps so far."""

    def key(self, state: State) -> Hashable: ...

    def answer(self, state: State) -> str | None:
        """The solution as one expression, or None if the state does not solve the problem."""


class ProblemError(ValueError):
    """A problem file line or command-line problem that is malformed (one-line message)."""


SPLITS = ("train", "heldout", "all")

DEFAULT_JUDGE_QUESTION = "\nIs this on track to a correct solution? Answer yes or no.\nAnswer:"
"""LM-as-judge question for a task that names none, appended to the rendered prompt."""

REQUIRED = ("name", "initial_state", "apply", "is_terminal", "reward", "prompt", "key", "answer",
            "problem_from_json", "problem_to_json", "is_heldout")
"""What an object must have to serve as a step task (`tasks.load_task` checks it)."""


class TextTask:
    """Everything task-specific about an open-action (text step) task, in one object.

    Search, actors, the learner, evaluation, curation and the model backends only ever ask a task
    object, so a user's task plugs in (`--task FILE.py:NAME`) without the library knowing its
    name. Subclasses must define the `StepTask` methods plus `problem_from_json`,
    `problem_to_json` and `is_heldout`; everything else has a default that works.
    Problems must be hashable (curation counts attempts per problem).
    """

    name: str = "task"
    max_step_chars: int = 64
    """Longest step line a model should write, newline included: longer samples are dropped."""
    characters: str = CHARACTERS
    """Every character of the prompt/step language (the tinylm tokenizer's vocabulary)."""
    instruction: str = ""
    """What a pretrained LM reads before the task prompt: the rules and worked examples."""
    judge_question: str = DEFAULT_JUDGE_QUESTION
    """LM-as-judge question appended to the rendered prompt (value = P(yes))."""
    buckets: tuple[str, ...] = ()
    """Curation buckets expected before any attempt, in display order."""
    problem_example: str = '{"question": "...", "answer": "..."}'
    """One valid JSONL line, quoted in error messages."""
    heldout_eval_size: int = 200
    """How many held-out problems self-improvement evaluates (when the task can generate)."""
    default_count: int = 100
    """How many problems `lmzero eval` draws when given neither a file nor --limit."""

    def with_options(self, options: dict):
        """This task with generator options (from a run's config); default: takes none."""
        if options:
            raise ValueError(f"task {self.name!r} takes no options, got {sorted(options)}")
        return self

    # -- problems ---------------------------------------------------------------------------

    def problem_from_json(self, row: dict):
        """A problem from one parsed JSONL object; ValueError says what is wrong."""
        raise NotImplementedError

    def problem_to_json(self, problem) -> dict:
        """The JSON object of a problem (the inverse of `problem_from_json`)."""
        raise NotImplementedError

    def parse_problem(self, text: str):
        """A problem from the command line; default: a JSON object as in a problem file."""
        try:
            return self.problem_from_json(load_json_line(text))
        except (ValueError, TypeError, AttributeError) as e:
            raise ProblemError(f"expected a problem like {self.problem_example}: "
                               f"{one_line(e)}") from None

    def checkable(self, problem) -> bool:
        """Whether the verifier can judge this problem (a math question typed on the command
        line comes without its answer: search then runs on values alone)."""
        return True

    def stated_answer(self, state) -> str | None:
        """The answer a state states, right or not (`answer` gives only correct ones)."""
        return self.answer(state)

    def describe(self, problem) -> str:
        """One line naming a problem, for tables and logs."""
        return json.dumps(self.problem_to_json(problem))[:120]

    def read_problems(self, path) -> list:
        """JSONL problems, blank lines skipped; ProblemError names the file and line."""
        return read_jsonl_problems(self, path)

    def is_heldout(self, problem) -> bool:
        """Whether a problem belongs to the held-out split (a fixed rule of the problem)."""
        raise NotImplementedError

    def generate(self, n: int, seed: int = 0, split: str = "train") -> list:
        """`n` distinct problems of a split; tasks without built-in problems raise ProblemError."""
        raise ProblemError(f"task {self.name!r} has no built-in problems: pass --problems "
                           "FILE.jsonl")

    def heldout_problems(self) -> list:
        """The fixed held-out set that self-improvement evaluates every iteration."""
        return self.generate(self.heldout_eval_size, seed=999, split="heldout")

    def training_pool(self, n: int, seed: int) -> list:
        """Training-split problems to choose `n` from in one self-improvement iteration."""
        return self.generate(4 * n, seed=seed, split="train")

    # -- curation and world model -----------------------------------------------------------

    def bucket(self, problem) -> str:
        """The curation bucket of a problem (difficulty or category)."""
        return "all"

    def generate_for_buckets(self, buckets: list[str], n: int, seed: int) -> list:
        """`n` training problems aimed at the given buckets; default: a plain draw."""
        return self.generate(n, seed=seed, split="train")

    def pretrain_pool(self) -> list | None:
        """A fixed pool of problems to pretrain on; None: fresh generated ones every batch."""
        return None

    def world_trajectory(self, problem, rng) -> list[str]:
        """Steps of one trajectory to pretrain a world model on (random legal steps, or a
        worked solution); tasks without one cannot be pretrained."""
        raise NotImplementedError(f"task {self.name!r} has no world-model trajectories")

    def presets(self) -> dict[str, dict]:
        """Self-improvement presets by name: iterations, problems (per iteration), budget
        (calls per problem), steps (learner steps per iteration), optionally block_size."""
        return {}

    def pretrain_defaults(self) -> dict:
        """`PretrainConfig` fields this task's world model is trained with by default."""
        return {}


def split_problems(problems, which: str, is_heldout) -> list:
    """The problems of one split: "train", "heldout", or "all"."""
    if which not in SPLITS:
        raise ValueError(f"split must be 'train', 'heldout' or 'all', got {which!r}")
    return [p for p in problems if which == "all" or is_heldout(p) == (which == "heldout")]


def read_jsonl_problems(task, path) -> list:
    """JSONL lines through `task.problem_from_json`; any bad line raises ProblemError naming the
    file and line (a problem file is user input: one line, never a traceback)."""
    problems = []
    for lineno, row in jsonl_rows(path):
        try:
            if not isinstance(row, dict):
                raise ValueError(f"expected an object like {task.problem_example}")
            problems.append(task.problem_from_json(row))
        except (ValueError, TypeError) as e:
            raise ProblemError(f"{path}:{lineno}: {one_line(e)}") from None
    return problems


def jsonl_rows(path, what: str = "problems"):
    """(line number, parsed JSON) for each non-blank line of a JSONL file of `what`; a line that
    is not JSON raises ProblemError naming `file:line`."""
    for lineno, line in enumerate(read_text_lines(path, what), 1):
        if not line.strip():
            continue
        try:
            yield lineno, load_json_line(line)
        except ValueError as e:
            raise ProblemError(f"{path}:{lineno}: {one_line(e)}") from None


MAX_FILE_BYTES = 256 << 20
"""Largest problem or position file read (GSM8K's test set is 0.7 MiB)."""


def read_text_lines(path, what: str = "problems") -> list[str]:
    """The lines of a UTF-8 text file of `what`; ProblemError (one line) for an unreadable, binary
    or oversized one.

    Lines end only at "\\n" ("\\r\\n" too): `str.splitlines` would also cut at U+2028 and
    other separators that JSON strings may hold raw."""
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)  # bounded: `--problems /dev/zero` never ends
    except OSError as e:
        raise ProblemError(f"{path}: cannot read {what} ({e.strerror or e})") from None
    if len(data) > MAX_FILE_BYTES:
        raise ProblemError(f"{path}: {what} file larger than {MAX_FILE_BYTES >> 20} MiB")
    try:
        text = data.decode("utf-8-sig")  # a byte-order mark (Windows editors) is no text
    except UnicodeDecodeError as e:
        raise ProblemError(f"{path}: not a UTF-8 text file of {what} (byte {e.start} is "
                           f"{data[e.start:e.start + 1]!r})") from None
    lines = [line.removesuffix("\r") for line in text.split("\n")]
    return lines[:-1] if lines[-1] == "" else lines  # as splitlines: a last "\n" ends a line


def load_json_line(text: str):
    """`json.loads`, with every failure a ValueError saying what is wrong in one line: bad JSON,
    an integer too long to convert, or nesting deeper than the parser's recursion allows."""
    try:
        return json.loads(text)
    except RecursionError:  # `[` nested ~100,000 deep: the C decoder recurses per level
        raise ValueError("bad JSON (nested too deeply)") from None
    except ValueError as e:  # JSONDecodeError, or an integer past Python's digit limit
        raise ValueError(f"bad JSON ({getattr(e, 'msg', e)})") from None


def one_line(message, width: int = 300) -> str:
    """`message` as one line of at most `width` characters (an error quotes user input)."""
    text = " ".join(str(message).split())
    return text if len(text) <= width else text[:width - 3] + "..."
