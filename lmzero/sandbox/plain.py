"""Plain data: the only kind of value that crosses the sandbox wall.

A candidate's return value is encoded inside the sandbox and decoded in the parent, which then
compares it with the expected value. The parent must never hold an object the candidate made, so
only values of exactly these types are encoded (`type(x) is T`, subclasses refused: an `int`
subclass or an object with a custom `__eq__` could otherwise compare equal to anything):

    None, bool, int, float, str, bytes, list, tuple, dict, set, frozenset

The encoding is JSON with tags for what JSON lacks, so `json.loads` (no pickle, no code) is the
whole parser on the parent's side, followed by a walk that rebuilds the exact types:

    list -> [..]          tuple -> {"t": [..]}      dict -> {"d": [[k, v], ..]}
    set -> {"s": [..]}    frozenset -> {"fs": [..]}  bytes -> {"y": "hex"}
    nan / inf / -inf -> {"f": "nan" | "inf" | "-inf"}    other floats, ints, str, bool, None: JSON

Depth and size are capped on both sides. This module is stdlib-only and has no `__future__`
import: its source is also the first part of the program that runs inside the sandbox.

>>> decode(encode({"a": (1, 2.5, float("inf")), "b": {frozenset({b"x"})}, "c": [None, True]}))
{'a': (1, 2.5, inf), 'b': {frozenset({b'x'})}, 'c': [None, True]}
>>> class Sneaky(int):
...     def __eq__(self, other): return True
>>> encode(Sneaky(3))
Traceback (most recent call last):
...
lmzero.sandbox.plain.PlainError: not plain data: Sneaky
"""

import json
import math

MAX_DEPTH = 64  # nesting of lists/tuples/dicts/sets; deeper values are refused
_TAGS = ("t", "d", "s", "fs", "y", "f")


class PlainError(ValueError):
    """A value that is not plain data, too deep, or too large (one line of text)."""


def encode(value, max_bytes: int = 1 << 20, max_depth: int = MAX_DEPTH) -> str:
    """The JSON text of `value`, or PlainError when it is not plain data or over the caps."""
    try:
        tagged = _tagged(value, max_depth, [max_bytes, max_bytes])
        text = json.dumps(tagged, ensure_ascii=True, allow_nan=False, separators=(",", ":"))
    except RecursionError:
        raise PlainError("value nested too deeply") from None
    except PlainError:
        raise
    except ValueError as e:  # e.g. an int beyond the int/str conversion limit
        raise PlainError(f"cannot encode: {str(e)[:200]}") from None
    if len(text) > max_bytes:
        raise PlainError(f"value larger than {max_bytes} bytes encoded")
    return text


def _tagged(x, depth: int, budget: list):
    """x with tags; `budget` = [bytes left, cap]: each element or character costs at least one
    encoded byte, so a value over the cap is refused before it is walked, let alone dumped."""
    t = type(x)
    if t is str or t is bytes:
        budget[0] -= len(x)
    elif t in (list, tuple, dict, set, frozenset):
        budget[0] -= len(x) + 1
    if budget[0] < 0:
        raise PlainError(f"value larger than {budget[1]} bytes encoded")
    if x is None or t is bool or t is int or t is str:
        return x
    if t is float:
        return x if math.isfinite(x) else {"f": repr(x)}
    if depth <= 0:
        raise PlainError("value nested too deeply")
    if t is list:
        return [_tagged(v, depth - 1, budget) for v in x]
    if t is tuple:
        return {"t": [_tagged(v, depth - 1, budget) for v in x]}
    if t is dict:
        return {"d": [[_tagged(k, depth - 1, budget), _tagged(v, depth - 1, budget)]
                      for k, v in x.items()]}
    if t is set or t is frozenset:
        return {"s" if t is set else "fs": [_tagged(v, depth - 1, budget) for v in x]}
    if t is bytes:
        return {"y": x.hex()}
    raise PlainError(f"not plain data: {t.__name__[:80]}")


def decode(text, max_depth: int = MAX_DEPTH):
    """The value `text` encodes; PlainError for anything `encode` could not have written."""
    try:
        raw = json.loads(text, parse_constant=_refuse_constant)
    except (ValueError, RecursionError, UnicodeDecodeError) as e:
        raise PlainError(f"not an encoded value: {str(e)[:200]}") from None
    return _untagged(raw, max_depth)


def _refuse_constant(name: str):
    raise ValueError(f"bare {name} (encode tags non-finite floats)")


def _untagged(x, depth: int):
    t = type(x)
    if x is None or t is bool or t is int or t is str or t is float:
        return x
    if depth <= 0:
        raise PlainError("value nested too deeply")
    if t is list:
        return [_untagged(v, depth - 1) for v in x]
    if t is not dict or len(x) != 1:
        raise PlainError("malformed encoded value")
    (tag, body), = x.items()
    if tag == "f" and body in ("nan", "inf", "-inf"):
        return float(body)
    if tag == "y" and type(body) is str:
        try:
            return bytes.fromhex(body)
        except ValueError:
            raise PlainError("malformed bytes") from None
    if tag not in _TAGS or type(body) is not list:
        raise PlainError("malformed encoded value")
    items = [_untagged(v, depth - 1) for v in body]
    try:
        if tag == "t":
            return tuple(items)
        if tag == "s":
            return set(items)
        if tag == "fs":
            return frozenset(items)
        if tag == "d" and all(type(p) is list and len(p) == 2 for p in items):
            return {k: v for k, v in items}
    except TypeError:  # an unhashable element or key
        raise PlainError("unhashable set element or dict key") from None
    raise PlainError("malformed encoded value")
