"""Strength of a game network against fixed, known opponents (what the training loop logs)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from lmzero.eval.arena import SolverPlayer, match
from lmzero.player import PolicyPlayer, SearchPlayer, greedy_moves
from lmzero.search import RolloutEvaluator, SearchConfig

POSITIONS = Path(__file__).resolve().parents[2] / "bench" / "data" / "connect4_positions.jsonl"
ILLEGAL = -1000  # the solver's value of a full column


def keeps_best(values, action: int) -> bool:
    """Whether `action` keeps the best outcome, given solver move values [A] (ILLEGAL = full)."""
    values = np.asarray(values)
    legal = values != ILLEGAL
    return bool(0 <= action < len(values) and legal[action]
                and values[action] == values[legal].max())


def tictactoe_report(game, evaluator, games: int, simulations: int) -> dict:
    from lmzero.tasks import tictactoe as ttt
    states = ttt.reachable_states()
    greedy = greedy_moves(game, evaluator, states)
    keeps = np.mean([ttt.move_values(s)[a] == ttt.solve(s) for s, a in zip(states, greedy)])
    solver = lambda: SolverPlayer(game, ttt.move_values, seed=np.random.randint(1 << 30))
    raw = match(game, lambda: PolicyPlayer(game, evaluator), solver, games)
    searched = match(game, lambda: SearchPlayer(game, evaluator, SearchConfig(
        num_simulations=simulations)), solver, games)
    return dict(greedy_keeps_value=float(keeps), raw_vs_solver_losses=raw.losses,
                search_vs_solver_losses=searched.losses, raw_vs_solver_score=raw.score)


def connect4_report(game, evaluator, games: int, simulations: int,
                    opponents=(100, 1000)) -> dict:
    out = {}
    if POSITIONS.is_file():
        from lmzero.tasks.connect4 import from_moves
        rows = [json.loads(line) for line in POSITIONS.read_text().splitlines()]
        for name in ("6-13", "14-34"):
            subset = [r for r in rows if r["set"] == name]
            moves = greedy_moves(game, evaluator, [from_moves(r["moves"]) for r in subset])
            out[f"raw_policy_best_{name}"] = float(np.mean(
                [keeps_best(r["values"], int(a)) for r, a in zip(subset, moves)]))
    return {**out, **scores_vs_mcts(game, evaluator, games, simulations, opponents)}


def scores_vs_mcts(game, evaluator, games: int, simulations: int, opponents) -> dict:
    """`score_vs_mctsN`: the network's search (`simulations`) against model-free UCT with
    random rollouts at N simulations per move, seats alternated (any game)."""
    out = {}
    for sims in opponents:
        result = match(game, lambda: SearchPlayer(game, evaluator, SearchConfig(
            num_simulations=simulations)), lambda: SearchPlayer(
            game, RolloutEvaluator(game, seed=np.random.randint(1 << 30)),
            SearchConfig(num_simulations=sims, method="uct")), games)
        out[f"score_vs_mcts{sims}"] = result.score
    return out


def evaluate_network(game, evaluator, games: int, simulations: int) -> dict:
    """The game's own report (`game.network_report`: which opponents and positions judge a
    network is the game's to say); an empty row for a game that has none."""
    report = getattr(game, "network_report", None)
    return report(evaluator, games, simulations) if report else {}
