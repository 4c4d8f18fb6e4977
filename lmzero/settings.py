"""Dotted settings of a dataclass config (`actor.retry_budget` = 192): what `--set` on the
command line and a self-improvement run's `phases` both write, checked the same way.

A value must have the type the field has now (an int where a float is expected is fine); the
config's own checks (`__post_init__`) then run as they do for any config. Errors are
ValueErrors naming the setting.
"""

from __future__ import annotations

import json
from dataclasses import fields, is_dataclass, replace
from typing import Any


def with_setting(config: Any, path: str, value: Any) -> Any:
    """`config` with the field at `path` (dotted for nested configs) set to `value`."""
    try:
        return _set(config, path.split("."), value)
    except (TypeError, ValueError) as exc:  # ours, or the config's own check
        raise ValueError(f"{path}: {exc}") from None


def with_settings(config: Any, settings: dict[str, Any]) -> Any:
    """`config` with every `path: value` of `settings` set, in order."""
    for path, value in settings.items():
        config = with_setting(config, path, value)
    return config


def parse_value(text: str) -> Any:
    """A command-line value: JSON (numbers, true/false, null, lists) where it parses, else text."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _set(config: Any, names: list[str], value: Any) -> Any:
    known = {f.name for f in fields(config)}
    if names[0] not in known:
        raise ValueError(f"{type(config).__name__} has no field {names[0]!r} "
                         f"(fields: {', '.join(sorted(known))})")
    current = getattr(config, names[0])
    if len(names) > 1:
        if not is_dataclass(current):
            raise ValueError(f"{names[0]!r} is a value, not a group of fields")
        value = _set(current, names[1:], value)
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
