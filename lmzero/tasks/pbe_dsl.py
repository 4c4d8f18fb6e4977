"""The step language of programming by example: one-line Python statements over a variable `x`.

A program is a few statements from a fixed, finite set (`LINES`, e.g. `x = sorted(x)`,
`x = [v * 2 for v in x]`, `x = x.upper()`) and ends with `return x`. Exact membership in that
set is the grammar: any other line is a dead end, so nothing a model writes outside the DSL is
ever executed, and what is written inside it still runs only in the sandbox (`pbe_verdict`).

Values are small and plain: an int, a string of letters, or a list of ints or letters, written
compactly (`[3,1,2]`, `'abc'`, `['a','b']`) so a prompt fits a small model's block.

`trusted_apply` evaluates *our own* generator's statements in this process: they are constants
of this module compiled once, never model text; the generator needs them to compute outputs.
"""

from __future__ import annotations

import ast
from typing import Any, Callable

RETURN = "return x"
"""The terminal step: the program is complete."""

_TEMPLATES = (
    # list -> list
    "x = sorted(x)", "x = sorted(x, reverse=True)", "x = x[::-1]", "x = x[1:]", "x = x[:-1]",
    "x = x[{k}:]|2,3", "x = x[:{k}]|1,2,3", "x = [v + {k} for v in x]|1,2,3",
    "x = [v - {k} for v in x]|1,2,3", "x = [v * {k} for v in x]|2,3,10", "x = [v * v for v in x]",
    "x = [v % {k} for v in x]|2,3", "x = [v // 2 for v in x]",
    "x = [v for v in x if v % 2 == 0]", "x = [v for v in x if v % 2 == 1]",
    "x = [v for v in x if v > {k}]|2,3,4,5", "x = [v for v in x if v < {k}]|3,4,5",
    "x = sorted(set(x))", "x = x + x", "x = x + [{k}]|0,1", "x = [{k}] + x|0,1",
    # list -> int, int -> int, int -> list
    "x = sum(x)", "x = len(x)", "x = max(x)", "x = min(x)", "x = x[0]", "x = x[-1]",
    "x = x + {k}|1,2,3", "x = x - {k}|1,2,3", "x = x * {k}|2,3,10", "x = x * x",
    "x = x % {k}|2,3,10", "x = x // 2", "x = list(range(x))", "x = [x]",
    # strings
    "x = x.upper()", "x = x.capitalize()", "x = ''.join(sorted(x))", "x = x.count('a')",
    "x = x.replace('a', '')", "x = list(x)", "x = ''.join(x)", "x = '-'.join(x)",
)


def _expand(template: str) -> list[str]:
    text, _, ks = template.partition("|")
    return [text.format(k=k) for k in ks.split(",")] if ks else [text]


LINES: tuple[str, ...] = tuple(line for t in _TEMPLATES for line in _expand(t))
"""Every statement of the DSL (the grammar is exact membership)."""
LINE_SET = frozenset(LINES)

MAX_INT = 999
"""Largest |int| a value may hold (inputs and every intermediate of a generated program)."""
MAX_LEN = 12
"""Longest list or string a value may be."""


def is_statement(line: str) -> bool:
    """Whether a step is a statement of the DSL.

    >>> is_statement("x = sorted(x)"), is_statement("import os"), is_statement(RETURN)
    (True, False, False)
    """
    return line in LINE_SET


def valid_value(v: Any) -> bool:
    """Whether `v` is a value of the language: a bounded int, a string of ASCII letters, or a
    list of bounded ints or of single letters (bools are not ints here).

    >>> valid_value([3, 1]), valid_value("ab"), valid_value([1, "a"]), valid_value(True)
    (True, True, False, False)
    """
    if type(v) is int:
        return abs(v) <= MAX_INT
    if type(v) is str:
        return len(v) <= MAX_LEN and v.isascii() and (v == "" or v.isalpha())
    if type(v) is list and len(v) <= MAX_LEN:
        if all(type(e) is int and abs(e) <= MAX_INT for e in v):
            return True
        return all(type(e) is str and len(e) == 1 and e.isascii() and e.isalpha() for e in v)
    return False


def show(v: Any) -> str:
    """The compact text of a value (no spaces), as prompts and sandbox calls write it.

    >>> show([3, 1, 2]), show("abc"), show(list("ab")), show(-4)
    ('[3,1,2]', "'abc'", "['a','b']", '-4')
    """
    if type(v) is list:
        return "[" + ",".join(show(e) for e in v) + "]"
    return repr(v)


def parse_value(text: str) -> Any:
    """A value from its text (`ast.literal_eval`: a literal, never code); ValueError if it is
    not a value of the language.

    >>> parse_value("[3,1,2]")
    [3, 1, 2]
    >>> parse_value("__import__('os')")
    Traceback (most recent call last):
    ValueError: not a value of the language: "__import__('os')"
    """
    try:
        v = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        raise ValueError(f"not a value of the language: {text[:60]!r}") from None
    if not valid_value(v):
        raise ValueError(f"not a value of the language: {text[:60]!r}")
    return v


def same(a: Any, b: Any) -> bool:
    """Exact equality: same type and value, element by element (1 is not True, [1] not (1,)).

    >>> same([1, 2], [1, 2]), same(1, True), same([1], (1,))
    (True, False, False)
    """
    if type(a) is not type(b):
        return False
    if type(a) is list:
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


def _compile(line: str) -> Callable[[Any], Any]:
    """A function for one of this module's own statements (`x = EXPR` -> `lambda x: EXPR`)."""
    assert line in LINE_SET, line  # only the module's constants, never a model's text
    return eval(compile("lambda x: " + line.removeprefix("x = "), "<pbe-dsl>", "eval"),
                {"__builtins__": {"sorted": sorted, "set": set, "sum": sum, "len": len,
                                  "max": max, "min": min, "list": list, "range": range}})


_TRUSTED = {line: _compile(line) for line in LINES}


def trusted_apply(line: str, v: Any) -> Any:
    """Our own statement `line` applied to `v`; ValueError when it fails or leaves the language
    (an empty max, a string where an int is needed, a value too large)."""
    if type(v) is list:
        v = list(v)  # a statement never mutates in place, but the caller's value stays its own
    try:
        out = _TRUSTED[line](v)
    except (TypeError, ValueError, IndexError, ZeroDivisionError, OverflowError, KeyError,
            AttributeError):
        raise ValueError(f"{line!r} fails on {show(v)}") from None
    if not valid_value(out):
        raise ValueError(f"{line!r} on {show(v)} leaves the language")
    return out


def characters() -> str:
    """Every character of the prompt and step language (the tinylm vocabulary), in a fixed
    order: newline, space, digits, letters, then the punctuation the statements and values use."""
    letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
    punct = sorted(set("".join(LINES) + "[],'->|") - set(letters) - set("0123456789 "))
    return "\n 0123456789" + letters + "".join(punct)
