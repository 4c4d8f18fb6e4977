"""What every command shares: the typer app, the console, user errors, presets, progress bars,
and the entry point that turns user errors into one line and exit code 2."""

from __future__ import annotations

import sys
from enum import Enum

import typer
from rich.console import Console

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="AlphaZero-style planning and self-improvement atop language models.")
out = Console(width=120)  # wide enough for the analysis table when piped


class UserError(Exception):
    """A mistake in the user's input: reported as one line, exit code 2."""


class Preset(str, Enum):
    quick = "quick"
    full = "full"


def progress_bar():
    """A progress bar whose tasks carry a `last` field: the latest figures."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/"
               "{task.total}"), TimeElapsedColumn(), TextColumn("{task.fields[last]}"))
    return Progress(*columns, console=out)


def main() -> None:
    """Entry point: click's usage errors and our UserErrors become one line and exit code 2."""
    try:
        code = app(standalone_mode=False)
    except UserError as exc:
        print(f"lmzero: error: {exc}", file=sys.stderr)
        sys.exit(2)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        print("aborted", file=sys.stderr)
        sys.exit(130)
    except typer.TyperException as exc:  # click's usage errors (typer vendors click)
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        print(f"lmzero: error: {message}", file=sys.stderr)
        sys.exit(2)
    sys.exit(code or 0)
