"""A search actor: one process with its own model copy, running units of search.

What an actor searches is a `Recipe`: `build()` makes its state once (task, game, model),
`load_weights(state, arrays)` installs a new weight version, `run(state, payload, seed)` turns
one unit's payload into its result (a dict). Weights arrive as a version number and an object
reference inside a list (so Ray does not fetch them on every call): the arrays are pulled only
when the version changed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np


class Recipe(Protocol):
    def build(self) -> Any: ...

    def load_weights(self, state: Any, arrays: dict[str, np.ndarray]) -> None: ...

    def run(self, state: Any, payload: Any, seed: list[int]) -> dict: ...


@dataclass(frozen=True)
class Unit:
    """A batch of games or problems: `round` (the iteration, or 0 for an evaluation) and
    `index` name it; the seed of its randomness is derived from both, so whichever actor runs
    it, however often, it is the same unit."""
    round: int
    index: int
    payload: Any

    @property
    def id(self) -> tuple[int, int]:
        return self.round, self.index


class SearchActor:
    """Made a Ray actor by `pool.ActorPool` (`ray.remote(SearchActor)`)."""

    def __init__(self, recipe: Recipe, seed: int, threads: int = 1):
        import torch
        torch.set_num_threads(threads)
        self.recipe, self.seed = recipe, seed
        self.state = recipe.build()
        self.version: int | None = None

    def where(self) -> dict:
        """The process and Ray node this actor lives on (tests, progress, the bench)."""
        import ray
        return dict(pid=os.getpid(), node=ray.get_runtime_context().get_node_id())

    def run(self, unit: Unit, version: int, weights: list) -> dict:
        if weights and version != self.version:
            import ray
            self.recipe.load_weights(self.state, ray.get(weights[0]))
            self.version = version
        result = self.recipe.run(self.state, unit.payload, [self.seed, unit.round, unit.index])
        return dict(result, weight_version=version, pid=os.getpid())
