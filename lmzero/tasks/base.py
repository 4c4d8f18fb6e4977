"""The seam between a task and the search: what a game must say about its states.

Search code only ever calls these methods, so a new game (or, later, a reasoning task with an
open action space) plugs in without the search knowing anything about it.
"""

from __future__ import annotations

from typing import Any, Hashable, Protocol

import numpy as np

State = Any  # each game chooses its own immutable state representation


class Game(Protocol):
    """A two-player (or single-agent) game with a closed action space of `num_actions` moves.

    Values are always from the point of view of the player to move in the state they describe.
    """

    name: str
    num_actions: int  # size of the action space; legal moves are a subset of range(num_actions)

    def initial_state(self) -> State: ...

    def legal_mask(self, state: State) -> np.ndarray:
        """bool [num_actions]: which moves are legal (all False in a terminal state)."""

    def apply(self, state: State, action: int) -> State:
        """The state after `action`; never mutates `state`. Raises ValueError if illegal."""

    def is_terminal(self, state: State) -> bool: ...

    def terminal_value(self, state: State) -> float:
        """Outcome of a terminal state for the player to move in it (+1 win, 0 draw, -1 loss)."""

    def to_play(self, state: State) -> int:
        """Index of the player to move (0 or 1); single-agent tasks always return 0."""

    def key(self, state: State) -> Hashable:
        """A hashable identity of the position, for transpositions."""

    def rollout(self, state: State, rng: np.random.Generator) -> float:
        """Play uniformly random legal moves to the end; outcome for the player to move in `state`.

        Games override this with a fast version; `random_rollout` below is the generic fallback.
        """


def random_rollout(game: Game, state: State, rng: np.random.Generator) -> float:
    """Generic uniformly random playout, for games without a fast one of their own."""
    mover = game.to_play(state)
    while not game.is_terminal(state):
        legal = np.flatnonzero(game.legal_mask(state))
        state = game.apply(state, int(rng.choice(legal)))
    value = game.terminal_value(state)
    return value if game.to_play(state) == mover else -value


class StepTask(Protocol):
    """A single-agent task with an open action space: the model writes each step as text.

    The task parses and checks a step; an invalid step is a dead end (reward 0), never an error.
    Rewards lie in [0, 1] and are given only at terminal states.
    """

    name: str

    def initial_state(self, problem: Any) -> State: ...

    def apply(self, state: State, step: str) -> State:
        """The state after the step; an invalid step gives a terminal dead end."""

    def is_terminal(self, state: State) -> bool: ...

    def reward(self, state: State) -> float:
        """The verifier: 1.0 for a correct final state, 0.0 otherwise."""

    def prompt(self, state: State) -> str:
        """The text a language model conditions on: the problem and the steps so far."""

    def key(self, state: State) -> Hashable: ...

    def answer(self, state: State) -> str | None:
        """The solution as one expression, or None if the state does not solve the problem."""
