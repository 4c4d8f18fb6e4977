"""`--set FIELD=VALUE`: any field of a run's dataclass config from the command line, so a knob
needs no option of its own (`--set actor.retry_budget=192 --set actor.policy_target=improved`).

A value is read as JSON (numbers, true/false, null, lists), else taken as a string; the checks
are `lmzero.settings`' (the same as a self-improvement run's `phases`).
"""

from __future__ import annotations

from typing import Any

from lmzero.cli.common import UserError
from lmzero.settings import parse_value, with_setting


def apply_overrides(config: Any, assignments: list[str]) -> Any:
    """`config` with every `dotted.field=value` of `assignments` set (UserError: one line)."""
    for assignment in assignments:
        path, sep, text = assignment.partition("=")
        if not sep or not path:
            raise UserError(f"--set {assignment!r}: expected FIELD=VALUE "
                            "(e.g. actor.retry_budget=192)")
        try:
            config = with_setting(config, path, parse_value(text))
        except (TypeError, ValueError) as exc:
            raise UserError(f"--set {exc}") from None
    return config
