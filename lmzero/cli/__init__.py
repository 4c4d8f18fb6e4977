"""The `lmzero` command: a thin layer over the library. User errors: one line, exit code 2.

Each module registers its commands on the one typer app: `games` (analyse, play), `reasoning`
(eval, solve), `train` (train, for both), `judge` (completions against tests, pass@k),
`view` (a search tree's JSON as an offline HTML page), `report` (one HTML page of a run)."""

from lmzero.cli import games, judge, reasoning, report, train, view  # noqa: F401  (registers them)
from lmzero.cli.common import app, main

__all__ = ["app", "main"]
