"""Arena: players meet with seats alternated; results with a confidence interval.

A player is anything with `choose(state) -> action` (and optionally `observe(action)` to keep its
tree); `SolverPlayer` plays perfectly, picking at random among the best moves.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from lmzero.tasks.base import Game


@dataclass
class MatchResult:
    wins: int = 0
    draws: int = 0
    losses: int = 0
    wins_first: int = 0
    """Of `wins`, those in the games ours moved first (the rest were won second): a seat
    advantage shows here."""

    @property
    def games(self) -> int:
        return self.wins + self.draws + self.losses

    @property
    def score(self) -> float:
        """Points per game: win 1, draw 1/2."""
        return (self.wins + 0.5 * self.draws) / max(self.games, 1)

    def interval(self, z: float = 1.96) -> tuple[float, float]:
        """Normal-approximation interval of the score (per-game points, clipped to [0, 1])."""
        n = max(self.games, 1)
        points = [1.0] * self.wins + [0.5] * self.draws + [0.0] * self.losses
        sd = float(np.std(points)) if points else 0.0
        half = z * sd / math.sqrt(n)
        return max(0.0, self.score - half), min(1.0, self.score + half)


class SolverPlayer:
    """Perfect play from `move_values(state) -> [A]` values, ties broken at random."""

    def __init__(self, game: Game, move_values: Callable, seed: int = 0):
        self.game, self.move_values = game, move_values
        self.rng = np.random.default_rng(seed)

    def choose(self, state) -> int:
        values = np.asarray(self.move_values(state), dtype=float)
        legal = self.game.legal_mask(state)
        best = values[legal].max()
        return int(self.rng.choice(np.flatnonzero(legal & (values == best))))


def play(game: Game, first, second, state=None) -> float:
    """One game; returns the first player's result (+1, 0, -1)."""
    state = game.initial_state() if state is None else state
    players = (first, second)
    start = game.to_play(state)
    while not game.is_terminal(state):
        mover = players[game.to_play(state) != start]
        action = mover.choose(state)
        for p in players:
            if hasattr(p, "observe"):
                p.observe(action)
        state = game.apply(state, action)
    value = game.terminal_value(state)
    return value if game.to_play(state) == start else -value


def match(game: Game, ours: Callable[[], object], theirs: Callable[[], object],
          games: int) -> MatchResult:
    """`games` games, ours first in the even ones; fresh players each game (no shared tree)."""
    result = MatchResult()
    for g in range(games):
        a, b = ours(), theirs()
        r = play(game, a, b) if g % 2 == 0 else -play(game, b, a)
        result.wins += r > 0
        result.wins_first += r > 0 and g % 2 == 0
        result.draws += r == 0
        result.losses += r < 0
    return result
