"""Tasks: what is solved and how it is scored, and the one registry that names them.

    name or reference ──► load_task ──► a Game (closed action space: legal moves)
                                    └─► a step task (open action space: the model writes a step,
                                        the task checks it; `base.TextTask` owns the rest)

Built-in games: tic-tac-toe and Connect Four (with exact solvers), and any sequential
perfect-information deterministic OpenSpiel game as `openspiel:NAME(params)` (`tasks.openspiel`),
and PettingZoo's turn-based games with action masks as `pettingzoo:MODULE`, e.g.
`pettingzoo:classic.connect_four_v3` (`tasks.pettingzoo`).
Built-in step tasks: Game of 24, Countdown (`arith`), math word problems (`mathword`), and code
with tests (`code`: `humaneval`, and `code` for the user's problem files). A user's task loads
by reference, `path/to/file.py:NAME` or `package.module:NAME`, or by name once an installed
package registers it under the entry-point group `lmzero.tasks`
(`[project.entry-points."lmzero.tasks"]`, `mytask = "mypkg.tasks:TASK"`). NAME may be a task
object, or a class or function that makes one when called without arguments.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from importlib.metadata import entry_points
from pathlib import Path

from lmzero.tasks.base import (REQUIRED, Game, ProblemError, StepTask, TextTask, read_jsonl_problems,
                               split_problems)

ENTRY_POINT_GROUP = "lmzero.tasks"

BUILTIN = {
    "tictactoe": "lmzero.tasks.tictactoe:TicTacToe",
    "connect4": "lmzero.tasks.connect4:ConnectFour",
    "game24": "lmzero.tasks.game24:TASK",
    "countdown": "lmzero.tasks.countdown:TASK",
    "math": "lmzero.tasks.mathword:TASK",
    "humaneval": "lmzero.tasks.code:HUMANEVAL",
    "code": "lmzero.tasks.code:TASK",
    "pbe": "lmzero.tasks.pbe:TASK",
}
"""Built-in tasks by name -> `module:attribute` (imported only when asked for)."""


class TaskError(ValueError):
    """A task name or reference that does not give a task (one-line message)."""


def names() -> list[str]:
    """Every task name `load_task` accepts: built-ins, then installed plugins."""
    return list(BUILTIN) + sorted(ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)
                                  if ep.name not in BUILTIN)


def load_task(ref: str):
    """The task a name or reference gives: a built-in name, an entry-point name, FILE.py:NAME
    or module:NAME; TaskError (one line) for anything else.

    >>> load_task("game24").name
    'game24'
    >>> load_task("chess")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    lmzero.tasks.TaskError: unknown task 'chess': use one of tictactoe, connect4, ... or module:NAME
    """
    if ref in BUILTIN:
        return _checked(_attribute(*BUILTIN[ref].split(":")), ref)
    for prefix in ADAPTERS:
        if ref.startswith(prefix):
            return _adapted(prefix, ref.removeprefix(prefix))
    plugins = {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}
    if ref in plugins:
        try:
            found = plugins[ref].load()
        except Exception as e:  # a broken plugin is the user's input: name it, one line
            raise TaskError(f"task plugin {ref!r} ({plugins[ref].value}) failed to load: "
                            f"{type(e).__name__}: {e}") from None
        return _checked(found, ref)
    where, sep, attr = ref.rpartition(":")
    if not sep or not where or not attr:
        raise TaskError(f"unknown task {ref!r}: use one of {', '.join(names())}, "
                        "openspiel:GAME, pettingzoo:MODULE, FILE.py:NAME or module:NAME")
    return _checked(_attribute(where, attr), ref)


def load_step_task(ref: str):
    """`load_task` for commands that need an open-action task (eval, solve, self-improvement)."""
    task = load_task(ref)
    if is_game(task):
        raise TaskError(f"{ref!r} is a game: this command takes a step task such as "
                        "game24, countdown, math or FILE.py:NAME")
    return task


def is_game(task) -> bool:
    """Whether a task has a closed action space (legal moves), i.e. trains by self-play."""
    return hasattr(task, "num_actions") and hasattr(task, "legal_mask")


ADAPTERS = {"openspiel:": ("lmzero.tasks.openspiel", "OpenSpiel games need the open_spiel "
                            "package: pip install 'lmzero[openspiel]'"),
            "pettingzoo:": ("lmzero.tasks.pettingzoo", "PettingZoo games need the pettingzoo "
                            "package: pip install 'lmzero[pettingzoo]'")}
"""Ref prefix -> (the adapter module, what to say when its library is not installed)."""


def _adapted(prefix: str, spec: str):
    """The game an adapter module's `load_game(spec)` gives (`tasks.openspiel`,
    `tasks.pettingzoo`); TaskError (one line) if its library is not installed or it cannot
    give a game lmzero plays (its load_game raises a ValueError subclass saying why)."""
    module, missing = ADAPTERS[prefix]
    try:
        load_game = importlib.import_module(module).load_game
    except ImportError:
        raise TaskError(missing) from None
    try:
        return load_game(spec)
    except ValueError as e:
        raise TaskError(str(e)) from None


def _attribute(where: str, attr: str):
    module = _module_from_file(where) if where.endswith(".py") else _import(where)
    if not hasattr(module, attr):
        raise TaskError(f"{where} has no {attr!r}")
    return getattr(module, attr)


def _import(name: str):
    try:
        return importlib.import_module(name)
    except ImportError as e:
        raise TaskError(f"cannot import task module {name!r}: {e}") from None


def _module_from_file(path: str):
    file = Path(path)
    if not file.is_file():
        raise TaskError(f"task file {path} does not exist")
    name = f"lmzero_task_{abs(hash(str(file.resolve())))}"
    if name in sys.modules:  # loaded before in this process: the same objects
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, file)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as e:  # the user's file: report it in one line, not a traceback
        del sys.modules[name]
        raise TaskError(f"task file {path} failed to load: {type(e).__name__}: {e}") from None
    return module


def _checked(found, ref: str):
    """The task object `found` is or makes; TaskError naming what it lacks."""
    if isinstance(found, type) and not is_game(found):
        _require(found, ref)
    if isinstance(found, type) or (callable(found) and not hasattr(found, "initial_state")):
        try:
            found = found()
        except Exception as e:
            raise TaskError(f"{ref}: calling {getattr(found, '__name__', found)!r} to make the "
                            f"task failed: {type(e).__name__}: {e}") from None
    if is_game(found):
        return found
    _require(found, ref)
    return found


def _require(found, ref: str) -> None:
    missing = [m for m in REQUIRED if not hasattr(found, m)]
    if missing:
        kind = found.__name__ if isinstance(found, type) else type(found).__name__
        raise TaskError(f"{ref} is not a task: {kind} lacks {', '.join(missing)} (subclass "
                        "lmzero.tasks.TextTask)")


__all__ = ["BUILTIN", "ENTRY_POINT_GROUP", "Game", "ProblemError", "StepTask", "TaskError",
           "TextTask", "is_game", "load_step_task", "load_task", "names", "read_jsonl_problems",
           "split_problems"]
