"""A game-playing agent: search on every move, keeping the subtree of the move actually played.

Used by `lmzero play`, `lmzero analyse` and the benchmarks, so the agent a person plays is the one
that was measured.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from lmzero.search import Evaluator, SearchConfig, SearchResult, reuse_tree, search
from lmzero.search.tree import Tree
from lmzero.tasks.base import Game, State


@dataclass
class SearchPlayer:
    game: Game
    evaluator: Evaluator
    config: SearchConfig = field(default_factory=SearchConfig)
    seed: int = 0
    reuse: bool = True
    """Keep the searched subtree between moves (not with Gumbel, whose schedule needs a new root)."""

    def __post_init__(self):
        self.rng = np.random.default_rng(self.seed)
        self._tree: Tree | None = None
        self._history: list[int] = []
        self.reuse = self.reuse and self.config.method != "gumbel"

    def think(self, state: State, progress=None) -> SearchResult:
        """Search `state`; reuses the tree when `state` follows from the last searched one.
        `progress(simulations)` as in `search`."""
        tree = self._tree if self._tree is not None and self._tree.states[0][0] == state else None
        result = search(self.game, self.evaluator, None if tree else [state], self.config,
                        self.rng, tree=tree, progress=progress)
        self._tree = result.tree if self.reuse else None
        return result

    def choose(self, state: State) -> int:
        return int(self.think(state).action[0])

    def observe(self, action: int) -> None:
        """Tell the player a move was made in the last searched position (its own or not)."""
        if self._tree is not None:
            self._tree = reuse_tree(self._tree, self.game, [action])


@dataclass
class PolicyPlayer:
    """The raw network: the legal move with the highest prior, no search (0 simulations)."""

    game: Game
    evaluator: Evaluator

    def choose(self, state: State) -> int:
        return int(greedy_moves(self.game, self.evaluator, [state])[0])


def greedy_moves(game: Game, evaluator: Evaluator, states) -> np.ndarray:
    """int [K]: each state's legal move with the highest prior (one evaluator call)."""
    priors, _ = evaluator.evaluate(states)
    legal = np.stack([game.legal_mask(s) for s in states])
    return np.argmax(np.where(legal, priors, -1.0), axis=1)
