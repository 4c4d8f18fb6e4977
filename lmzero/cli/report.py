"""`lmzero report RUN_DIR`: one self-contained HTML page of a training run.

The page holds the run's plots (plots/*.png, embedded as data: URIs), its metrics.jsonl rows as a
table by iteration (self-improvement: held-out greedy pass@1 and MCTS solved, calls per solved
puzzle, curation holes; self-play: scores against the solver, losses, games), the curation
buckets pivoted (one row per bucket and figure, one column per iteration), and links to example
search trees of the run's newest checkpoint, each a page of its own written next to the report
by `lmzero.explain`. Nothing is fetched when the page opens: no CDN, no script, no link out.
"""

from __future__ import annotations

import base64
import html
import json
import re
from pathlib import Path

import typer

from lmzero.cli.common import UserError, app, out

BUCKET = re.compile(r"^(?P<figure>\w+)\[(?P<bucket>.+)\]$")
"""A curation figure of one bucket: `solve_rate[k=4 target 50-99]`."""
FIRST = ("iteration", "step", "heldout_greedy_pass1", "heldout_mcts_solved",
         "mcts_calls_per_solved", "train_solve_rate", "curation_holes", "curation_hole_buckets",
         "games", "positions")
"""Columns a run has that come first (the headline figures); the others follow in the order the
rows hold them."""
ON_CPU = dict(device="cpu")
"""A report reads a run's config on this machine's CPU: a run trained on a GPU reports here."""
GAME_SIMULATIONS = 200
"""Simulations of each example game search (as `lmzero play` and `analyse` with a network)."""
STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1200px; padding: 0 1em;
       color: #222; }
h1 { font-size: 1.5em; margin-bottom: .2em; } h2 { margin-top: 1.6em; font-size: 1.15em; }
.meta, .note { color: #555; } .note { font-style: italic; }
figure { display: inline-block; margin: 0 1em 1em 0; } img { max-width: 100%; }
figcaption { color: #555; font-size: .9em; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid #ddd; padding: 2px 6px; text-align: right; white-space: nowrap; }
th { background: #f4f4f4; position: sticky; top: 0; } td.text { text-align: left; }
pre { background: #f7f7f7; padding: .8em; overflow-x: auto; }
"""


@app.command()
def report(
    run_dir: Path = typer.Argument(..., metavar="RUN_DIR", help="A run directory that `lmzero "
                                   "train` wrote (e.g. runs/game24-quick)."),
    output: Path = typer.Option(None, "-o", "--output", help="Directory for the page "
                                "(index.html) and its tree pages (default RUN_DIR/report)."),
    examples: int = typer.Option(3, "--examples", min=0, max=20, help="Held-out problems "
                                 "(games: positions of the agent's own line) searched with the "
                                 "newest checkpoint, each tree on a page of its own; 0: none."),
):
    """One self-contained HTML page of a run: its plots, its metrics by iteration, and links to
    example search trees of its newest checkpoint."""
    from lmzero.checkpoint import write_atomic
    config, rows, skipped = _read_run(run_dir)
    folder = output or run_dir / "report"
    trees, note = _example_trees(run_dir, config, folder, examples)
    page = render_report(run_dir, config, rows, trees, note, skipped)
    write_atomic(folder / "index.html", page.encode("utf-8"))
    out.print(f"report: {folder / 'index.html'} ({len(rows)} metrics rows, "
              f"{len(trees)} example trees{'' if note is None else ': ' + note})",
              soft_wrap=True)  # one line, however long the path


def _read_run(run_dir: Path) -> tuple[dict, list[dict], list[int]]:
    """(config.json as a dict, {} if unreadable; the metrics rows; line numbers of
    metrics.jsonl that are not rows), or a UserError when there is nothing to report."""
    from lmzero.run import Run
    if not run_dir.is_dir():
        raise UserError(f"{run_dir}: not a run directory (give one that `lmzero train` wrote, "
                        "e.g. runs/game24-quick)")
    run = Run(run_dir)
    if not run.metrics_path.is_file():
        raise UserError(f"{run_dir}: not a run directory: no metrics.jsonl (give one that "
                        "`lmzero train` wrote, e.g. runs/game24-quick)")
    rows = run.metrics()
    if not rows:
        raise UserError(f"{run.metrics_path}: no metrics rows yet (a run writes one per "
                        "finished iteration)")
    try:
        config = json.loads(run.config_path.read_bytes())
    except (OSError, ValueError, RecursionError):
        config = None
    return (config if isinstance(config, dict) else {}), rows, run.unreadable_lines


# -- example trees ------------------------------------------------------------------------------

def _example_trees(run_dir: Path, config: dict, folder: Path,
                   count: int) -> tuple[list[dict], str | None]:
    """Tree pages of `count` example searches by the run's newest checkpoint, written into
    `folder`: [{file, title, summary}], and a note saying why there are none (or fewer)."""
    from lmzero.checkpoint import CheckpointError
    from lmzero.run import Run
    if count == 0:
        return [], "none asked for (--examples 0)"
    try:
        from lmzero.explain import game_tree_json, step_tree_json, write_html
    except ImportError:
        return [], "skipped: this lmzero has no lmzero.explain to draw them"
    if Run(run_dir).latest() is None:
        return [], "no checkpoint yet"
    kind = config.get("run_kind")
    try:
        if kind == "self-improvement":
            trees = _step_examples(run_dir, count, step_tree_json)
        elif kind == "self-play":
            trees = _game_examples(run_dir, count, game_tree_json)
        else:
            return [], f"only for self-improvement and self-play runs, not {kind or 'this'} runs"
    except (CheckpointError, ValueError) as exc:
        return [], f"skipped: {' '.join(str(exc).split())}"
    pages = []
    for number, tree in enumerate(trees, start=1):
        name = f"tree-{number}.html"
        write_html(tree, folder / name)
        pages.append(dict(file=name, title=tree["title"], summary=tree["summary"]))
    return pages, None


def _step_examples(run_dir: Path, count: int, step_tree_json) -> list[dict]:
    """Held-out problems solved by the newest model, as `lmzero train` shows them at its end."""
    from lmzero.cli.reasoning import example_solutions, run_model_spec
    from lmzero.run import Run
    from lmzero.selfimprove import ImproveConfig
    config = Run(run_dir).load_config(ImproveConfig, ON_CPU)
    task, problems, results, search = example_solutions(config, run_model_spec(run_dir), count)
    return [step_tree_json(task, r, search, p) for p, r in zip(problems, results)]


def _game_examples(run_dir: Path, count: int, game_tree_json) -> list[dict]:
    """The newest network's searches along its own line from the initial position."""
    from lmzero.loop import TrainConfig, make_game
    from lmzero.models.load import load_network
    from lmzero.run import Run
    from lmzero.search import SearchConfig, search
    game = make_game(Run(run_dir).load_config(TrainConfig, ON_CPU).game)
    evaluator = load_network(run_dir, game)
    config = SearchConfig(num_simulations=GAME_SIMULATIONS, method="puct", leaves_per_call=1)
    state, moves, trees = game.initial_state(), [], []
    for _ in range(count):
        if game.is_terminal(state):
            break
        result = search(game, evaluator, [state], config, rng=0)
        line = f"after {' '.join(map(str, moves))}" if moves else "the initial position"
        trees.append(game_tree_json(game, result, 0, config, title=f"{game.name}: {line}"))
        action = int(result.action[0])
        moves.append(action + 1)
        state = game.apply(state, action)
    return trees


# -- the page -----------------------------------------------------------------------------------

def render_report(run_dir: Path, config: dict, rows: list[dict], trees: list[dict],
                  note: str | None, skipped: list[int] = ()) -> str:
    """The page's text: plots, metrics, curation buckets, example trees, configuration."""
    name = html.escape(run_dir.resolve().name)
    done = sum(1 for r in rows if isinstance(r.get("iteration"), int) and r["iteration"] >= 0)
    meta = " · ".join(html.escape(str(x)) for x in (
        config.get("run_kind", "run of unknown kind"), config.get("task", config.get("game")),
        f"{len(rows)} metrics rows", f"{done} iterations") if x)
    parts = [f"<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
             f"<title>lmzero report: {name}</title><style>{STYLE}</style></head><body>",
             f"<h1>{name}</h1><p class=\"meta\">{meta}</p>"]
    if skipped:
        parts.append(f"<p class=\"note\">metrics.jsonl lines {', '.join(map(str, skipped))} "
                     "are not rows: left out</p>")
    parts += [_plots(run_dir), "<h2>Metrics by iteration</h2>", _metrics_table(rows),
              _buckets_table(rows), _trees(trees, note)]
    if config:
        parts.append("<h2>Configuration</h2><details><summary>config.json</summary><pre>"
                     f"{html.escape(json.dumps(config, indent=2))}</pre></details>")
    return "\n".join(p for p in parts if p) + "\n</body></html>\n"


def _plots(run_dir: Path) -> str:
    """Every plots/*.png of the run, inline."""
    figures = []
    for path in sorted((run_dir / "plots").glob("*.png")):
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        figures.append(f"<figure><img alt=\"{html.escape(path.stem)}\" "
                       f"src=\"data:image/png;base64,{data}\"><figcaption>"
                       f"{html.escape(path.name)}</figcaption></figure>")
    return "<h2>Plots</h2>" + ("".join(figures) or "<p class=\"note\">no plots yet</p>")


def _cell(value) -> str:
    """One value in a table cell: numbers right-aligned with 4 significant digits."""
    if value is None:
        return "<td>–</td>"
    if isinstance(value, float):
        return f"<td>{value:.4g}</td>"
    if isinstance(value, (int, bool)):
        return f"<td>{value}</td>"
    text = value if isinstance(value, str) else json.dumps(value)
    return f"<td class=\"text\">{html.escape(text)}</td>"


def _table(header: list[str], body: list[list]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    lines = "".join("<tr>" + "".join(_cell(v) for v in row) + "</tr>" for row in body)
    return f"<div class=\"scroll\"><table><tr>{head}</tr>{lines}</table></div>"


def _metrics_table(rows: list[dict]) -> str:
    """One row per metrics row, one column per key (curation buckets apart)."""
    seen = list(dict.fromkeys(k for r in rows for k in r if not BUCKET.match(k)))
    keys = [k for k in FIRST if k in seen] + [k for k in seen if k not in FIRST]
    return _table(keys, [[r.get(k) for k in keys] for r in rows])


def _buckets_table(rows: list[dict]) -> str:
    """Curation's figures per bucket: one row per (bucket, figure), one column per iteration."""
    cells: dict[tuple[str, str], dict] = {}
    for r in rows:
        for key, value in r.items():
            match = BUCKET.match(key)
            if match:
                cells.setdefault((match["bucket"], match["figure"]), {})[r.get("iteration")] = value
    if not cells:
        return ""
    iterations = list(dict.fromkeys(i for row in cells.values() for i in row))
    buckets = list(dict.fromkeys(b for b, _ in cells))  # in the curator's order
    figures = list(dict.fromkeys(f for _, f in cells))
    body = [[b, f, *(cells[b, f].get(i) for i in iterations)]
            for b in buckets for f in figures if (b, f) in cells]
    return ("<h2>Curation buckets</h2>"
            + _table(["bucket", "figure", *(f"iteration {i}" for i in iterations)], body))


def _trees(trees: list[dict], note: str | None) -> str:
    items = "".join(f"<li><a href=\"{html.escape(t['file'])}\">{html.escape(t['title'])}</a>"
                    f" — {html.escape(t['summary'])}</li>" for t in trees)
    text = f"<p class=\"note\">example trees: {html.escape(note)}</p>" if note else ""
    return ("<h2>Example trees (newest checkpoint)</h2>" + (f"<ul>{items}</ul>" if items else "")
            + text)
