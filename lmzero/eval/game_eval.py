"""Strength of a game network against fixed, known opponents (what the training loop logs)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from lmzero.eval.arena import SolverPlayer, match
from lmzero.player import PolicyPlayer, SearchPlayer
from lmzero.search import RolloutEvaluator, SearchConfig

POSITIONS = Path(__file__).resolve().parents[2] / "bench" / "data" / "connect4_positions.jsonl"


def tictactoe_report(game, evaluator, games: int, simulations: int) -> dict:
    from lmzero.tasks import tictactoe as ttt
    states = ttt.reachable_states()
    priors, _ = evaluator.evaluate(states)
    legal = np.stack([game.legal_mask(s) for s in states])
    greedy = np.argmax(np.where(legal, priors, -1), axis=1)
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
            priors, _ = evaluator.evaluate([from_moves(r["moves"]) for r in subset])
            ok = []
            for r, p in zip(subset, priors):
                v = np.array(r["values"])
                ok.append(v[int(np.argmax(np.where(v > -1000, p, -1)))] == v.max())
            out[f"raw_policy_best_{name}"] = float(np.mean(ok))
    for sims in opponents:
        result = match(game, lambda: SearchPlayer(game, evaluator, SearchConfig(
            num_simulations=simulations)), lambda: SearchPlayer(
            game, RolloutEvaluator(game, seed=np.random.randint(1 << 30)),
            SearchConfig(num_simulations=sims, method="uct")), games)
        out[f"score_vs_mcts{sims}"] = result.score
    return out


def evaluate_network(game, evaluator, games: int, simulations: int) -> dict:
    if game.name == "tictactoe":
        return tictactoe_report(game, evaluator, games, simulations)
    return connect4_report(game, evaluator, games, simulations)
