"""Game commands: `analyse` and `play` (Connect Four, tic-tac-toe, `openspiel:NAME`,
`pettingzoo:MODULE`, any game task), and AlphaZero self-play training behind `train`.

A game names and reads its own moves when it can (`move_name(state, a)`, `parse_move(text,
state)`: OpenSpiel's action strings); otherwise a move is its 1-based action number."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import typer
from rich.table import Table

from lmzero.cli.common import (SEED_MAX, LazyProgress, Preset, UserError, app, out,
                               progress_option, progress_wanted, scaled_summary)

MAX_SIMULATIONS = 100_000
"""Most simulations per move: the search tree holds one node (~100 bytes for Connect Four) per
simulation, so 10**8 would take ~10 GB per position."""
MAX_TOTAL_SIMULATIONS = 10_000_000
"""Most simulations `analyse` runs at once (positions x simulations): every position's tree is
searched in one batch, ~1 GB at this size."""


GAME_HELP = ("connect4, tictactoe, openspiel:NAME(params) (e.g. openspiel:breakthrough), "
             "pettingzoo:MODULE (e.g. pettingzoo:classic.connect_four_v3) or a game task")


def _game(name: str):
    """The game a name gives (`tasks.load_task`); UserError for a bad name or a step task."""
    from lmzero.tasks import TaskError, is_game, load_task
    try:
        game = load_task(name)
    except TaskError as exc:
        raise UserError(str(exc)) from None
    if not is_game(game):
        raise UserError(f"{name!r} is a step task, not a game: use {GAME_HELP}")
    return game


def move_label(game, state, action: int):
    """How a move is shown: the game's name for it, else its 1-based number."""
    name = getattr(game, "move_name", None)
    return name(state, action) if name else action + 1


def _action_id(game, action: int) -> dict:
    """{"action": id} where a move is shown by name (the id `visits` is indexed by)."""
    return {"action": action} if hasattr(game, "move_name") else {}


def _labels(game, state, actions) -> list:
    """`move_label` of each move of a line played from `state`."""
    out = []
    for a in actions:
        out.append(move_label(game, state, a))
        state = game.apply(state, a)
    return out


def _player(game, simulations: int | None, seed: int, checkpoint: Path | None = None,
            rollouts: bool = False):
    """The agent: the network of --checkpoint (else the shipped one) under PUCT; with
    --rollouts, or when no network exists, model-free UCT with random rollouts."""
    from lmzero.checkpoint import CheckpointError
    from lmzero.models.load import load_network, shipped_checkpoint
    from lmzero.player import SearchPlayer
    from lmzero.search import RolloutEvaluator, SearchConfig
    path = None if rollouts else (checkpoint or shipped_checkpoint(game))
    if path is None:
        config = SearchConfig(num_simulations=simulations or 2000, method="uct",
                              leaves_per_call=1)
        return SearchPlayer(game, RolloutEvaluator(game, seed=seed), config, seed=seed)
    try:
        evaluator = load_network(path, game)
    except CheckpointError as exc:
        raise UserError(str(exc)) from None
    config = SearchConfig(num_simulations=simulations or 200, method="puct", leaves_per_call=1)
    return SearchPlayer(game, evaluator, config, seed=seed)


CHECKPOINT = typer.Option(None, "--checkpoint", help="A checkpoint or run directory (default: "
                          "the network the project ships).")
ROLLOUTS = typer.Option(False, "--rollouts", help="Use model-free MCTS with random rollouts.")


def simulations_option(help: str):
    return typer.Option(None, "--simulations", min=1, max=MAX_SIMULATIONS, help=help)


def seed_option(help: str):
    return typer.Option(0, "--seed", min=0, max=SEED_MAX, help=help)


def _read_positions(path: Path, game):
    """All positions of the file, or a UserError naming the first bad line (nothing printed)."""
    from lmzero.tasks import ProblemError
    from lmzero.tasks.base import one_line, read_text_lines
    try:
        lines = read_text_lines(path, "positions")
    except ProblemError as exc:  # unreadable, binary or oversized: one line
        raise UserError(str(exc)) from None
    positions = []
    for number, line in enumerate(lines, start=1):
        text = line.strip()
        shown = repr(one_line(text, 60))
        try:
            state = game.from_moves(text)
        except ValueError as exc:
            raise UserError(f"{path}, line {number} ({shown}): {exc}") from None
        if game.is_terminal(state):
            raise UserError(f"{path}, line {number} ({shown}): the game is already over")
        positions.append((text, state))
    if not positions:
        raise UserError(f"{path}: no positions (one move sequence per line, e.g. 4453, "
                        "or a7a6 b2b3 for an OpenSpiel game, 3 3 4 for a PettingZoo one)")
    return positions


@app.command()
def analyse(
    game_name: str = typer.Argument(..., metavar="GAME", help=GAME_HELP),
    positions: Path = typer.Option(..., "--positions", help="One move sequence per line from "
                                   "the start; an empty line is the start. connect4 and "
                                   "tictactoe: 1-based columns or cells, e.g. 4453. OpenSpiel "
                                   "games: OpenSpiel's action strings or action ids, separated"
                                   " by spaces, commas or semicolons (a7a6 b2b3; x(0,0) o(1,1);"
                                   " Point 3, Point 5; 12 40). PettingZoo games: action ids,"
                                   " so separated (3 3 4)."),
    simulations: int = simulations_option("Simulations per position (default 200 with a "
                                          "network, 2000 with rollouts)."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per line."),
    checkpoint: Path = CHECKPOINT,
    rollouts: bool = ROLLOUTS,
    seed: int = seed_option("Random seed of the search."),
    solver: bool = typer.Option(False, "--solver", help="Also show the exact solver's best moves"
                                " (win/draw/loss); slow before ply ~8."),
    progress: bool = progress_option(),
    html: Path = typer.Option(None, "--html", help="Also write the first position's search "
                              "tree as one offline HTML page (docs/trees.md)."),
    tree_json: Path = typer.Option(None, "--tree-json", help="Also write the first position's "
                                   "search tree as JSON (schema lmzero-tree/1)."),
):
    """The move the agent chooses in each position, with root visits and value, and per move
    its prior, mean value q, lower confidence bound and principal variation."""
    game = _game(game_name)
    if not hasattr(game, "from_moves"):
        raise UserError(f"{game.name} reads no move lists (from_moves): analyse takes "
                        "connect4, tictactoe, openspiel:NAME or pettingzoo:MODULE")
    if solver and game.name != "connect4":
        raise UserError("--solver needs connect4 (the only game with an exact solver here)")
    items = _read_positions(positions, game)
    from lmzero.cli.view import check_output
    check_output(html, "--html")
    check_output(tree_json, "--tree-json")
    player = _player(game, simulations, seed, checkpoint, rollouts)
    total = len(items) * player.config.num_simulations
    if total > MAX_TOTAL_SIMULATIONS:
        raise UserError(f"{len(items)} positions x {player.config.num_simulations} simulations "
                        f"is more than the {MAX_TOTAL_SIMULATIONS:,} analyse runs at once: "
                        "split the file or lower --simulations")
    result = _search_positions(game, player, [s for _, s in items], seed,
                               progress_wanted(progress))
    rows = [dict(position=text, move=move_label(game, state, int(result.action[b])),
                 visits=result.visits[b].tolist(), value=round(float(result.root_value[b]), 4),
                 **_action_id(game, int(result.action[b])))
            for b, (text, state) in enumerate(items)]
    unusable = [r["position"] for r in rows if not math.isfinite(r["value"])]
    if unusable:  # never a NaN presented as a result (load refuses NaN weights: a last guard)
        raise UserError(f"the network's value of position {unusable[0]!r} is not a number: "
                        "its checkpoint is unusable")
    if solver:
        from lmzero.tasks.connect4_solver import Solver
        exact = Solver()
        for row, (_, state) in zip(rows, items):
            row["solver_best"] = [c + 1 for c in exact.best_moves(state)]
    for b, (row, (_, state)) in enumerate(zip(rows, items)):
        row["moves"] = _moves(game, state, result.tree, b)
    if html or tree_json:
        _write_tree(game, result, items, player.config, html, tree_json)
    if as_json:
        for row in rows:
            print(json.dumps(row))
        return
    _print_analysis(rows, solver, game)


def _write_tree(game, result, items, config, html, tree_json) -> None:
    """The first position's tree as a page and/or JSON; a note on stderr when the file held
    more positions (their trees are not written)."""
    from lmzero.cli.view import note, write_tree_files
    from lmzero.explain import game_tree_json
    text = items[0][0]
    tree = game_tree_json(game, result, 0, config,
                          title=f"{game.name}: {text or '(empty board)'}")
    write_tree_files(tree, html, tree_json)
    if len(items) > 1:
        note(f"the tree written is the first position's, {text or 'the empty board'}; "
             f"the trees of the other {len(items) - 1} are not written")


def _search_positions(game, player, states: list, seed: int, show: bool):
    """One batched search of every position, with a bar of the simulations done."""
    from lmzero.search import search
    total = len(states) * player.config.num_simulations
    with LazyProgress("simulations", total, show) as bar:
        def report(done: int) -> None:
            bar.update(completed=done, last=f"{len(states)} positions")
        return search(game, player.evaluator, states, player.config, rng=seed,
                      progress=report if show else None)


def _moves(game, state, tree, b: int) -> list[dict]:
    """`analysis.root_moves` for --json: moves as `move_label`s (with their action ids),
    figures rounded to 4 places."""
    from lmzero.search.analysis import root_moves

    def rounded(x):
        return None if x is None else round(x, 4)
    return [dict(move=move_label(game, state, m["action"]), visits=m["visits"],
                 prior=rounded(m["prior"]), q=rounded(m["q"]), lcb=rounded(m["lcb"]),
                 pv=_labels(game, state, m["pv"]), **_action_id(game, m["action"]))
            for m in root_moves(tree, b)]


PER_MOVE_COLUMNS = 9
"""Games with at most this many actions get a visits column per action; others, the top 3."""


def _print_analysis(rows: list[dict], solver: bool, game) -> None:
    """The table: visits per move (c1.. for 1-based moves, #0.. for action ids; or the 3 most
    visited), the root's value, then the chosen move's prior, q, lcb and principal variation
    (its first 8 moves)."""
    extra = ["solver best", "keeps"] if solver else []
    per_move = game.num_actions <= PER_MOVE_COLUMNS
    named = hasattr(game, "move_name")
    visit_columns = ([f"#{a}" if named else f"c{a + 1}" for a in range(game.num_actions)]
                     if per_move else ["top visits"])
    table = Table("position", "move", *visit_columns, "value", "prior",
                  "q", "lcb", "pv", *extra)
    for row in rows:
        best = ([" ".join(map(str, row["solver_best"])),
                 "yes" if row["move"] in row["solver_best"] else "NO"] if solver else [])
        chosen = next(m for m in row["moves"] if m["move"] == row["move"])
        figures = [f"{chosen['prior']:.2f}"] + ["-" if chosen[k] is None else f"{chosen[k]:+.2f}"
                                               for k in ("q", "lcb")]
        visits = (map(str, row["visits"]) if per_move else
                  [" ".join(f"{m['move']}:{m['visits']}" for m in sorted(
                      row["moves"], key=lambda m: -m["visits"])[:3])])
        table.add_row(row["position"] or "(empty)", str(row["move"]),
                      *visits, f"{row['value']:+.3f}", *figures,
                      " ".join(map(str, chosen["pv"][:8])), *best)
    out.print(table)


def parse_move(text: str, game, state) -> int:
    """The 0-based action of a typed 1-based move; ValueError (one line) for anything that is
    not a legal move. Only ASCII digits count: `str.isdigit` and `int` also take "٣" and "３".

    >>> from lmzero.tasks.tictactoe import TicTacToe
    >>> parse_move(" 5 ", TicTacToe(), TicTacToe().initial_state())
    4
    """
    from lmzero.tasks.base import one_line
    n = game.num_actions
    text = text.strip()
    if not (0 < len(text) <= len(str(n)) and all(c in "0123456789" for c in text)
            and 1 <= int(text) <= n):
        raise ValueError(f"{one_line(text, 20)!r} is not a move: type a number from 1 to {n}")
    if not game.legal_mask(state)[int(text) - 1]:
        raise ValueError(f"{text} is not legal here: choose another")
    return int(text) - 1


def _ask_move(game, state) -> int | None:
    """A legal 0-based action from the person, or None at end of input / 'q'."""
    n = game.num_actions
    own = getattr(game, "parse_move", None)  # the game reads its own moves (OpenSpiel's)
    ask = "your move (a move name or action id, q to quit): " if own else \
        f"your move (1-{n}, q to quit): "
    while True:
        try:
            text = input(ask)
        except EOFError:
            return None
        if text.strip().lower() in {"q", "quit", "exit"}:
            return None
        try:
            return own(text, state) if own else parse_move(text, game, state)
        except ValueError as exc:
            print(exc)


@app.command()
def play(
    game_name: str = typer.Argument(..., metavar="GAME", help=GAME_HELP),
    simulations: int = simulations_option("Agent's simulations (default 200 with a network, "
                                          "2000 with rollouts)."),
    first: bool = typer.Option(True, "--first/--second", help="Whether you move first."),
    seed: int = seed_option("Random seed of the agent."),
    checkpoint: Path = CHECKPOINT,
    rollouts: bool = ROLLOUTS,
    progress: bool = progress_option(),
):
    """Play against the agent in the terminal."""
    game = _game(game_name)
    if getattr(game, "num_players", 2) != 2:
        raise UserError(f"{game.name} is a one-player puzzle: play takes two-player games "
                        "(analyse searches puzzles)")
    player = _player(game, simulations, seed, checkpoint, rollouts)
    state = game.initial_state()
    human = 0 if first else 1
    while not game.is_terminal(state):
        print(game.render(state) + "\n")
        if game.to_play(state) == human:
            action = _ask_move(game, state)
            if action is None:
                print("bye")
                return
        else:
            result = _think(player, state, progress_wanted(progress))
            action = int(result.action[0])
            print(f"agent plays {move_label(game, state, action)} "
                  f"(value {result.root_value[0]:+.2f} for it)")
        player.observe(action)
        state = game.apply(state, action)
    print(game.render(state))
    value, mover = game.terminal_value(state), game.to_play(state)
    winner = mover if value > 0 else 1 - mover  # terminal_value is the mover's outcome
    print("draw" if value == 0 else ("you win" if winner == human else "the agent wins"))


def _think(player, state, show: bool):
    """The agent's search of `state`, with a bar of its simulations (erased after)."""
    with LazyProgress("agent thinking", player.config.num_simulations, show,
                      transient=True) as bar:
        report = (lambda done: bar.update(completed=done, last="")) if show else None
        return player.think(state, report)


def train_game(game_name: str, preset: Preset, run: Path | None, resume: bool,
                iterations: int | None, scale=None, show_progress: bool = True,
                threads: int | None = None, trunk: str = "mlp",
                overrides: list[str] = (), device: str | None = None) -> None:
    """AlphaZero self-play training: self-play with search, replay, learner, checkpoints;
    `overrides` are `--set` assignments, `device` (--device) is applied after them and on
    resume."""
    from dataclasses import replace

    from lmzero.cli.overrides import apply_overrides
    from lmzero.loop import preset_config, train as run_training, with_trunk

    try:
        config = with_trunk(preset_config(game_name, preset.value), trunk)
    except KeyError:
        raise UserError(f"no self-play preset {preset.value!r}") from None
    if iterations:
        config = replace(config, iterations=iterations)
    config = apply_overrides(config, list(overrides))
    run = run or Path("runs") / (re.sub(r"[^\w.=-]+", "_", game_name).strip("_")
                                 + f"-{preset.value}")  # openspiel:hex(board_size=5): no ( : )
    with LazyProgress(f"{game_name} iterations", config.iterations, show_progress) as bar:

        def report(i, phase, row):
            if row is None:
                bar.update(last=f"iteration {i}: {phase}")
                return
            figures = {k: v for k, v in row.items() if k.startswith(("score", "raw", "greedy",
                                                                      "search_vs"))}
            text = " ".join(f"{k}={v:.3g}" for k, v in figures.items())
            bar.update(completed=i + 1, last=text)
            out.print(f"iteration {i}: games={row['games']} loss={row['loss_total']:.3f} "
                      f"{row['positions_per_second']} pos/s  {text}{scaled_summary(row)}")
        try:
            run_training(config, run, resume=resume, progress=report, threads=threads,
                         iterations=iterations if resume else None, scale=scale,
                         device=device)
        except ValueError as exc:
            raise UserError(str(exc)) from None
    out.print(f"run directory: {run}")
