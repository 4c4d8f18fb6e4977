"""`--set FIELD=VALUE`: any field of a run's dataclass config from the command line, so a knob
needs no option of its own (`--set actor.retry_budget=192 --set actor.policy_target=improved`).

A value is read as JSON (numbers, true/false, null, lists), else taken as a string; it must
have the type the field has now (an int where a float is expected is fine). The config's own
checks (`__post_init__`) then run as they do for any config.
"""

from __future__ import annotations

import json
from dataclasses import fields, is_dataclass, replace
from typing import Any

from lmzero.cli.common import UserError


def apply_overrides(config: Any, assignments: list[str]) -> Any:
    """`config` with every `dotted.field=value` of `assignments` set (UserError: one line)."""
    for assignment in assignments:
        path, sep, text = assignment.partition("=")
        if not sep or not path:
            raise UserError(f"--set {assignment!r}: expected FIELD=VALUE "
                            "(e.g. actor.retry_budget=192)")
        try:
            config = _set(config, path.split("."), _parse(text), path)
        except (TypeError, ValueError) as exc:
            raise UserError(f"--set {path}: {exc}") from None
    return config


def _set(config: Any, names: list[str], value: Any, path: str) -> Any:
    known = {f.name for f in fields(config)}
    if names[0] not in known:
        raise UserError(f"--set {path}: {type(config).__name__} has no field {names[0]!r} "
                        f"(fields: {', '.join(sorted(known))})")
    current = getattr(config, names[0])
    if len(names) > 1:
        if not is_dataclass(current):
            raise UserError(f"--set {path}: {names[0]!r} is a value, not a group of fields")
        value = _set(current, names[1:], value, path)
    else:
        _check_type(current, value)
    return replace(config, **{names[0]: value})


def _check_type(current: Any, value: Any) -> None:
    if is_dataclass(current):
        raise TypeError("names a group of fields: set one of them (FIELD.NAME=VALUE)")
    if current is None or value is None:
        return
    if isinstance(current, bool) != isinstance(value, bool) or not (
            isinstance(value, type(current))
            or isinstance(current, float) and isinstance(value, int)):
        raise TypeError(f"expected {type(current).__name__}, got {json.dumps(value)}")


def _parse(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text
