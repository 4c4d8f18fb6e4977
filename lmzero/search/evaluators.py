"""The seam a model plugs into: `evaluate(states) -> (priors, values)`, batched.

Search only calls `evaluate`, with every leaf of a wave at once, so a network backend sees one big
batch per call. Two model-free evaluators ship here: random rollouts (classic MCTS) and exact
values (for tests against known answers).
"""

from __future__ import annotations

from typing import Callable, Protocol, Sequence

import numpy as np

from lmzero.tasks.base import Game, State, random_rollout


class Evaluator(Protocol):
    def evaluate(self, states: Sequence[State]) -> tuple[np.ndarray, np.ndarray]:
        """priors float32 [K, A] (0 on illegal moves, rows sum to 1) and values float32 [K] in
        [-1, 1], each from the point of view of the player to move in that state."""


def uniform_priors(game: Game, states: Sequence[State]) -> np.ndarray:
    """float32 [K, A]: the same prior on every legal move."""
    masks = np.stack([game.legal_mask(s) for s in states]).astype(np.float32)
    return masks / np.maximum(masks.sum(axis=1, keepdims=True), 1.0)


class RolloutEvaluator:
    """Uniform prior; value = mean outcome of `num_rollouts` uniformly random playouts."""

    def __init__(self, game: Game, num_rollouts: int = 1, seed: int = 0):
        if num_rollouts < 1:
            raise ValueError(f"num_rollouts must be >= 1, got {num_rollouts}")
        self.game = game
        self.num_rollouts = num_rollouts
        self.rng = np.random.default_rng(seed)
        fast = getattr(game, "rollout", None)
        self._rollout = fast if fast is not None else (lambda s, r: random_rollout(game, s, r))

    def evaluate(self, states):
        rollout, rng, n = self._rollout, self.rng, self.num_rollouts
        if n == 1:
            values = np.array([rollout(s, rng) for s in states], dtype=np.float32)
        else:
            values = np.array([sum(rollout(s, rng) for _ in range(n)) / n for s in states],
                              dtype=np.float32)
        return uniform_priors(self.game, states), values


class ExactEvaluator:
    """Uniform prior; value = `value_fn(state)`, the game-theoretic value (e.g. from a solver)."""

    def __init__(self, game: Game, value_fn: Callable[[State], float]):
        self.game = game
        self.value_fn = value_fn

    def evaluate(self, states):
        values = np.array([self.value_fn(s) for s in states], dtype=np.float32)
        return uniform_priors(self.game, states), values
