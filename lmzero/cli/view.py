"""`lmzero view`: a tree JSON file ("lmzero-tree/1") as one offline HTML page; and what the
commands that write trees (`solve --html/--tree-json`, `analyse --html/--tree-json`,
`eval --trees`) share: output paths checked before any search, writes turned into one line."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer

from lmzero.cli.common import UserError, app, out


def check_output(path: Path | None, option: str) -> None:
    """A UserError now, before a search is spent, when `path` cannot be written (missing
    directories are fine: the write makes them)."""
    if path is None:
        return
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{option} {path}: is a directory")
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise UserError(f"{option} {path}: cannot write there ({parent} is not a writable "
                        "directory)")


def check_output_dir(path: Path | None, option: str) -> None:
    """As `check_output`, for a directory of files."""
    if path is None:
        return
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UserError(f"{option} {path}: is not a directory")
    check_output(path / "x", option)


def write_tree_files(tree: dict, html: Path | None = None,
                     tree_json: Path | None = None) -> list[Path]:
    """Write the tree's page and/or JSON (atomically); the paths written."""
    from lmzero.explain import write_html, write_tree_json
    written = []
    try:
        if tree_json is not None:
            write_tree_json(tree, tree_json)
            written.append(Path(tree_json))
        if html is not None:
            write_html(tree, html)
            written.append(Path(html))
    except ValueError as exc:  # a tree the schema refuses: a bug of ours, said in one line
        raise UserError(f"cannot write the tree: {exc}") from None
    return written


def tree_writer(task, directory: Path):
    """`on_search(problem, result, config)` for `eval.reasoning.evaluate`: each searched
    problem's tree as DIR/problem-NNNN.json and .html, numbered from 1 in problem order."""
    from lmzero.explain import step_tree_json
    count = 0

    def on_search(problem, result, config) -> None:
        nonlocal count
        count += 1
        stem = Path(directory) / f"problem-{count:04d}"
        write_tree_files(step_tree_json(task, result, config, problem=problem),
                         stem.with_suffix(".html"), stem.with_suffix(".json"))
    return on_search


@app.command()
def view(
    tree_file: Path = typer.Argument(..., metavar="FILE.json", help="A tree written by "
                                     "`solve --tree-json`, `analyse --tree-json` or "
                                     "`eval --trees` (schema lmzero-tree/1, docs/trees.md)."),
    output: Path = typer.Option(None, "-o", "--output", help="The HTML page to write "
                                "(default: FILE.html next to FILE.json)."),
):
    """Turn a tree JSON file into one self-contained HTML page that opens from disk."""
    from lmzero.explain import read_tree_json
    output = output or Path(tree_file).with_suffix(".html")
    if Path(output).resolve() == Path(tree_file).resolve():
        raise UserError(f"-o {output}: would overwrite the tree file itself")
    check_output(output, "-o")
    try:
        tree = read_tree_json(tree_file)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    write_tree_files(tree, html=output)
    out.print(f"wrote {output} ({len(tree['nodes']):,} nodes)")


def note(message: str) -> None:
    """One line on stderr that is not an error."""
    print(f"lmzero: note: {message}", file=sys.stderr)
