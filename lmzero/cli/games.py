"""Game commands: `analyse` and `play` (Connect Four, tic-tac-toe), and AlphaZero self-play
training behind `train`."""

from __future__ import annotations

import json
import math
from enum import Enum
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


class GameName(str, Enum):
    connect4 = "connect4"
    tictactoe = "tictactoe"


def _game(name: GameName):
    from lmzero.tasks import load_task
    return load_task(name.value)


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
        raise UserError(f"{path}: no positions (one move sequence per line, e.g. 4453)")
    return positions


@app.command()
def analyse(
    game_name: GameName = typer.Argument(..., metavar="GAME", help="connect4"),
    positions: Path = typer.Option(..., "--positions", help="One move sequence per line: 1-based"
                                   " columns, e.g. 4453; an empty line is the empty board."),
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
    if game_name != GameName.connect4:
        raise UserError("analyse supports connect4 only")
    game = _game(game_name)
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
    rows = [dict(position=text, move=int(result.action[b]) + 1,
                 visits=result.visits[b].tolist(), value=round(float(result.root_value[b]), 4))
            for b, (text, _) in enumerate(items)]
    unusable = [r["position"] for r in rows if not math.isfinite(r["value"])]
    if unusable:  # never a NaN presented as a result (load refuses NaN weights: a last guard)
        raise UserError(f"the network's value of position {unusable[0]!r} is not a number: "
                        "its checkpoint is unusable")
    if solver:
        from lmzero.tasks.connect4_solver import Solver
        exact = Solver()
        for row, (_, state) in zip(rows, items):
            row["solver_best"] = [c + 1 for c in exact.best_moves(state)]
    for b, row in enumerate(rows):
        row["moves"] = _moves(result.tree, b)
    if html or tree_json:
        _write_tree(game, result, items, player.config, html, tree_json)
    if as_json:
        for row in rows:
            print(json.dumps(row))
        return
    _print_analysis(rows, solver)


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


def _moves(tree, b: int) -> list[dict]:
    """`analysis.root_moves` for --json: 1-based moves, figures rounded to 4 places."""
    from lmzero.search.analysis import root_moves

    def rounded(x):
        return None if x is None else round(x, 4)
    return [dict(move=m["action"] + 1, visits=m["visits"], prior=rounded(m["prior"]),
                 q=rounded(m["q"]), lcb=rounded(m["lcb"]), pv=[a + 1 for a in m["pv"]])
            for m in root_moves(tree, b)]


def _print_analysis(rows: list[dict], solver: bool) -> None:
    """The table: visits per column, the root's value, then the chosen move's prior, q, lcb
    and principal variation (its first 8 moves)."""
    extra = ["solver best", "keeps"] if solver else []
    table = Table("position", "move", *[f"c{c}" for c in range(1, 8)], "value", "prior",
                  "q", "lcb", "pv", *extra)
    for row in rows:
        best = ([" ".join(map(str, row["solver_best"])),
                 "yes" if row["move"] in row["solver_best"] else "NO"] if solver else [])
        chosen = next(m for m in row["moves"] if m["move"] == row["move"])
        figures = [f"{chosen['prior']:.2f}"] + ["-" if chosen[k] is None else f"{chosen[k]:+.2f}"
                                               for k in ("q", "lcb")]
        table.add_row(row["position"] or "(empty)", str(row["move"]),
                      *map(str, row["visits"]), f"{row['value']:+.3f}", *figures,
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
    while True:
        try:
            text = input(f"your move (1-{n}, q to quit): ")
        except EOFError:
            return None
        if text.strip().lower() in {"q", "quit", "exit"}:
            return None
        try:
            return parse_move(text, game, state)
        except ValueError as exc:
            print(exc)


@app.command()
def play(
    game_name: GameName = typer.Argument(..., metavar="GAME", help="connect4 or tictactoe"),
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
            print(f"agent plays {action + 1} (value {result.root_value[0]:+.2f} for it)")
        player.observe(action)
        state = game.apply(state, action)
    print(game.render(state))
    value = game.terminal_value(state)
    loser = game.to_play(state)
    print("draw" if value == 0 else ("you win" if loser != human else "the agent wins"))


def _think(player, state, show: bool):
    """The agent's search of `state`, with a bar of its simulations (erased after)."""
    with LazyProgress("agent thinking", player.config.num_simulations, show,
                      transient=True) as bar:
        report = (lambda done: bar.update(completed=done, last="")) if show else None
        return player.think(state, report)


def train_game(game_name: str, preset: Preset, run: Path | None, resume: bool,
                iterations: int | None, scale=None, show_progress: bool = True) -> None:
    """AlphaZero self-play training: self-play with search, replay, learner, checkpoints."""
    from dataclasses import replace

    from lmzero.loop import PRESETS, train as run_training

    if (game_name, preset.value) not in PRESETS:
        games = sorted({game for game, _ in PRESETS})
        raise UserError(f"no self-play preset for {game_name!r}: self-play trains "
                        f"{', '.join(games)}")
    config = PRESETS[(game_name, preset.value)]
    if iterations:
        config = replace(config, iterations=iterations)
    run = run or Path("runs") / f"{game_name}-{preset.value}"
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
            run_training(config, run, resume=resume, progress=report,
                         iterations=iterations if resume else None, scale=scale)
        except ValueError as exc:
            raise UserError(str(exc)) from None
    out.print(f"run directory: {run}")
