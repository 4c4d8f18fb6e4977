"""The `lmzero` command: a thin layer over the library. User errors: one line, exit code 2.

Each module registers its commands on the one typer app: `games` (analyse, play), `reasoning`
(eval, solve), `train` (train, for both), `judge` (completions against tests, pass@k)."""

from lmzero.cli import games, judge, reasoning, train  # noqa: F401  (registers the commands)
from lmzero.cli.common import app, main

__all__ = ["app", "main"]
