"""The verdict of programming by example: run a complete program on every example input in the
sandbox, and compare what it returns with the expected outputs here, in the parent.

The program is model-written code, so it runs only inside `lmzero.sandbox` (one warm `Sandbox`
per process, made on first use); the expected outputs never enter the sandbox, so a program
cannot read them. The reward is 1 only when every call returns a value exactly equal (same type
and value, `pbe_dsl.same`) to its expected output; an error, a timeout, a crash or a wrong value
on any example is 0. Search asks for the reward of the same terminal program many times, so
verdicts are cached per (examples, program).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from lmzero.tasks.pbe_dsl import RETURN, parse_value, same, show

CACHE_SIZE = 200_000
"""Verdicts kept (least recently used dropped first): a few MB of text at most."""

_cache: OrderedDict[tuple, float] = OrderedDict()
_sandbox = None


def program_text(lines: tuple[str, ...] | list[str]) -> str:
    """The function the sandbox runs: `def f(x):`, the statements, `return x`.

    >>> print(program_text(["x = sorted(x)"]), end="")
    def f(x):
        x = sorted(x)
        return x
    """
    body = [*lines, RETURN] if not lines or lines[-1] != RETURN else list(lines)
    return "def f(x):\n" + "".join(f"    {line}\n" for line in body)


def sandbox():
    """The process's warm sandbox, made on first use (a worker is started once, not per call)."""
    global _sandbox
    if _sandbox is None:
        from lmzero.sandbox import Sandbox
        _sandbox = Sandbox()
    return _sandbox


def remember(examples: tuple, lines: tuple[str, ...], reward: float) -> None:
    """Record a verdict (bounded LRU)."""
    _cache[(examples, tuple(lines))] = reward
    _cache.move_to_end((examples, tuple(lines)))
    if len(_cache) > CACHE_SIZE:
        _cache.popitem(last=False)


def verdict(examples: tuple[tuple[str, str], ...], lines: tuple[str, ...]) -> float:
    """1.0 iff the program returns every expected output exactly, run in the sandbox; cached."""
    key = (examples, tuple(lines))
    if key in _cache:
        _cache.move_to_end(key)
        return _cache[key]
    return run_verdicts([(examples, tuple(lines))])[0]


def run_verdicts(items: list[tuple[tuple, tuple[str, ...]]]) -> list[float]:
    """Verdicts of many (examples, program) pairs in one batched sandbox run; each remembered."""
    from lmzero.sandbox import Job
    jobs = [Job(program=program_text(lines), entry_point="f",
                calls=[f"({show(parse_value(i))},)" for i, _ in examples])
            for examples, lines in items]
    results = sandbox().run(jobs)
    rewards = []
    for (examples, lines), calls in zip(items, results):
        expected = [parse_value(o) for _, o in examples]
        reward = 1.0 if all_match(calls, expected) else 0.0
        remember(examples, lines, reward)
        rewards.append(reward)
    return rewards


def all_match(calls, expected: list[Any]) -> bool:
    """Whether every call ended "ok" with a value exactly equal to its expected output."""
    return len(calls) == len(expected) and all(
        c.status == "ok" and same(c.value, e) for c, e in zip(calls, expected))
