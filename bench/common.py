"""What every benchmark script shares: the machine description and writing its report."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path


def machine_info(**versions) -> dict:
    import numba
    import numpy as np
    return {"platform": platform.platform(), "python": platform.python_version(),
            "cpus": os.cpu_count(), "numpy": np.__version__, "numba": numba.__version__,
            **versions}


def write_report(out: Path, name: str, report: dict, plot) -> None:
    """out/NAME.json and out/NAME.png (drawn by `plot(report, path)`)."""
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(report, indent=1))
    plot(report, out / f"{name}.png")
    print(f"wrote {out / (name + '.json')} and {out / (name + '.png')}")


def print_table(title: str, header: list[str], rows: list[list[str]]) -> None:
    """A rich table, first column left-aligned, the rest right-aligned."""
    from rich.console import Console
    from rich.table import Table
    table = Table(title=title)
    for i, h in enumerate(header):
        table.add_column(h, justify="left" if i == 0 else "right")
    for r in rows:
        table.add_row(*r)
    Console(width=160).print(table)


def pyspiel_state(game, moves: str):
    """OpenSpiel's state after 1-based column digits (its actions are 0-based columns, as ours)."""
    state = game.new_initial_state()
    for ch in moves:
        state.apply_action(int(ch) - 1)
    return state
