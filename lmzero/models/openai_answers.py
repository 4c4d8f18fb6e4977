"""A served /completions or /models answer, checked field by field where it is parsed.

An OpenAI-compatible server can answer what the API does not promise (HTML, a JSON list, empty
`choices`, a log-prob that is a string or NaN, a `usage` of the wrong shape). Every field is
validated here, before anything reads it, so such an answer is one `BackendError` line naming
the endpoint and the field, never a TypeError from deep inside the search. Standard library
only; the HTTP side is `openai_backend`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from lmzero.models.lm_steps import BackendError, cut_step
from lmzero.tasks.base import one_line

MISSING = object()
"""A field the answer lacks (told apart from one sent as null)."""


@dataclass
class Sample:
    """One checked choice of a /completions answer."""

    step: str | None
    """The step it proposes; None when cut off at max_tokens."""
    logprob: float
    """Summed log-prob of its tokens."""
    tokens: int
    """Tokens with a log-prob."""
    top: dict[str, float] = field(default_factory=dict)
    """Its first token's top log-probs (the judge's yes/no), {} when the server sent none."""


@dataclass
class Answer:
    """One checked /completions answer: its samples and its `usage`."""

    samples: list[Sample]
    prompt_tokens: int
    """Prompt tokens the server computed (0 when it does not say)."""
    cached_tokens: int
    """Of which came from its prefix cache."""
    completion_tokens: int
    """Generated tokens; counted from the log-probs when the server does not say."""


class _Malformed(Exception):
    """A field that is not what the API promises; the message names the field."""



def parse_completion(answer: object, url: str, keep_indent: bool = False) -> Answer:
    """A decoded /completions answer -> an Answer, or one BackendError naming `url` and the
    first field that is wrong (`keep_indent`: steps keep their leading whitespace).

    >>> parse_completion({"choices": [{"text": "1 + 2 = 3", "finish_reason": "stop",
    ...     "logprobs": {"token_logprobs": [-0.5, "abc"]}}]}, "http://h/v1")
    ... # doctest: +ELLIPSIS
    Traceback (most recent call last):
    lmzero...BackendError: http://h/v1: choices[0].logprobs.token_logprobs[1] is 'abc', not a number
    """
    try:
        body = _object(answer, "the answer")
        choices = body.get("choices", MISSING)
        if not isinstance(choices, list) or not choices:
            raise _Malformed(f"choices is {_shown(choices)}, not a non-empty list")
        samples = [_sample(c, f"choices[{i}]", keep_indent) for i, c in enumerate(choices)]
        usage = _usage(body.get("usage"), sum(s.tokens for s in samples))
    except _Malformed as e:
        raise BackendError(f"{url}: {e}") from None
    return Answer(samples, *usage)


def parse_models(answer: object, url: str) -> list[str]:
    """A decoded /models answer -> the model names, or one BackendError naming the field."""
    try:
        data = _object(answer, "the answer").get("data", MISSING)
        if not isinstance(data, list):
            raise _Malformed(f"data is {_shown(data)}, not a list of models")
        return [_string(_object(m, f"data[{i}]").get("id", MISSING), f"data[{i}].id")
                for i, m in enumerate(data)]
    except _Malformed as e:
        raise BackendError(f"{url}: {e}") from None


def _sample(choice: object, path: str, keep_indent: bool = False) -> Sample:
    choice = _object(choice, path)
    text = _string(choice.get("text", MISSING), f"{path}.text")
    finish = choice.get("finish_reason")
    if finish is not None:
        _string(finish, f"{path}.finish_reason")
    logprobs = choice.get("logprobs")
    if logprobs is None:
        raise _Malformed(f"{path} has no log-probabilities (the server must support "
                         "'logprobs')")
    logprobs = _object(logprobs, f"{path}.logprobs")
    path += ".logprobs.token_logprobs"
    listed = _list(logprobs.get("token_logprobs", MISSING), path)
    values = [_logprob(x, f"{path}[{j}]") for j, x in enumerate(listed) if x is not None]
    top = _top(logprobs.get("top_logprobs"), path.replace("token_", "top_"))
    return Sample(cut_step(text, finish != "length", keep_indent), sum(values), len(values), top)


def _top(tops: object, path: str) -> dict[str, float]:
    """The first token's top log-probs, every token's entries checked; {} when absent."""
    if tops is None:
        return {}
    checked = []
    for j, entry in enumerate(_list(tops, path)):
        entry = {} if entry is None else _object(entry, f"{path}[{j}]")
        checked.append({token: _logprob(lp, f"{path}[{j}][{token!r}]")
                        for token, lp in entry.items()})  # JSON keys are strings
    return checked[0] if checked else {}


def _usage(usage: object, counted: int) -> tuple[int, int, int]:
    """(prompt tokens, of which cached, completion tokens); without usage the completion tokens
    are counted from the log-probs and the prompt is unknown (0)."""
    if usage is None:
        return 0, 0, counted
    usage = _object(usage, "usage")
    prompt = _count(usage.get("prompt_tokens"), "usage.prompt_tokens", 0)
    completion = _count(usage.get("completion_tokens"), "usage.completion_tokens", counted)
    details = usage.get("prompt_tokens_details")
    path = "usage.prompt_tokens_details"
    cached = 0 if details is None else _count(_object(details, path).get("cached_tokens"),
                                              f"{path}.cached_tokens", 0)
    if cached > prompt:
        raise _Malformed(f"{path}.cached_tokens is {cached}, more than usage.prompt_tokens "
                         f"({prompt})")
    return prompt, cached, completion


def _shown(value: object) -> str:
    """A field's value as an error message quotes it: short, one line."""
    return "missing" if value is MISSING else one_line(repr(value), 40)


def _object(value: object, path: str) -> dict:
    if not isinstance(value, dict):
        kind = "missing" if value is MISSING else f"a JSON {_json_kind(value)}"
        raise _Malformed(f"{path} is {kind}, not an object")
    return value


def _json_kind(value: object) -> str:
    kinds = {list: "list", str: "string", bool: "boolean", type(None): "null"}
    return kinds.get(type(value), "number")


def _list(value: object, path: str) -> list:
    if not isinstance(value, list):
        raise _Malformed(f"{path} is {_shown(value)}, not a list")
    return value


def _string(value: object, path: str) -> str:
    if not isinstance(value, str):
        raise _Malformed(f"{path} is {_shown(value)}, not a string")
    return value


def _logprob(value: object, path: str) -> float:
    """A finite number <= 0 (a little rounding above 0 allowed); NaN, inf, strings, booleans
    and positive numbers refused (exp of a large one would overflow the judge)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _Malformed(f"{path} is {_shown(value)}, not a number")
    try:
        number = float(value)
    except OverflowError:  # an integer of hundreds of digits
        number = math.nan
    if not -math.inf < number <= 1e-3:  # False for NaN
        raise _Malformed(f"{path} is {_shown(value)}, not a log-probability (a finite number "
                         "<= 0)")
    return number


def _count(value: object, path: str, default: int) -> int:
    """A token count: a non-negative integer (`default` when absent or null)."""
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _Malformed(f"{path} is {_shown(value)}, not a token count")
    return value
