"""Self-play: many concurrent games searched as one batch, so the network sees large batches.

Each move, every live game's position becomes a root of one `search` call. The search policy
(visit shares, or Gumbel's improved policy) becomes the policy target; the final outcome, seen
from each position's player to move, the value target.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

from lmzero.search import Evaluator, SearchConfig, search
from lmzero.tasks.base import Game


@dataclass
class SelfPlayConfig:
    games: int = 64
    """Games played concurrently (one batched search per move across all of them)."""
    simulations: int = 64
    """Simulations per move (full searches)."""
    method: Literal["puct", "gumbel"] = "puct"
    """Search at the root: PUCT with Dirichlet noise, or Gumbel with sequential halving."""
    dirichlet_fraction: float = 0.25
    """PUCT root noise share (AlphaZero)."""
    dirichlet_alpha: float = 0.5
    """PUCT root noise concentration; larger for games with few moves."""
    temperature_moves: int = 8
    """Moves played proportionally to visits (temperature 1) before playing the most visited."""
    playout_cap: float = 1.0
    """Playout cap randomization (KataGo): share of moves searched with `simulations`; the
    others get `cheap_simulations` and are not policy targets. 1.0 = off."""
    cheap_simulations: int = 16
    """Simulations of the cheap moves under playout cap randomization."""
    random_opening: int = 0
    """Each game starts with k uniformly random moves, k drawn from 0..random_opening, so the
    data covers positions that strong self-play never reaches (those moves are not recorded)."""
    leaves_per_call: int = 4
    """Leaves per game gathered under virtual loss before each network call."""
    search_value_weight: float = 0.0
    """Value target = (1 - w) * final outcome + w * the root's search value. The outcome of one
    game is a noisy label (a single blunder flips it); the search value, exact where
    MCTS-Solver proved the position, is a smoother one. 0 = outcome only (AlphaZero)."""

    def __post_init__(self):
        if not 0 < self.playout_cap <= 1:
            raise ValueError(f"playout_cap must be in (0, 1], got {self.playout_cap}")
        if not 0 <= self.search_value_weight <= 1:
            raise ValueError("search_value_weight must be in [0, 1], got "
                             f"{self.search_value_weight}")
        if self.method not in ("puct", "gumbel"):
            raise ValueError(f"self-play method must be 'puct' or 'gumbel', got {self.method!r}")

    def search_config(self, simulations: int, explore: bool) -> SearchConfig:
        gumbel = self.method == "gumbel"
        return SearchConfig(
            num_simulations=simulations, method=self.method, leaves_per_call=self.leaves_per_call,
            solve=True,
            dirichlet_fraction=self.dirichlet_fraction if explore and not gumbel else 0.0,
            dirichlet_alpha=self.dirichlet_alpha, temperature=1.0 if explore else 0.0,
            gumbel_scale=1.0, max_considered_actions=16)


@dataclass
class GameRecord:
    states: list  # the positions, in order
    policies: np.ndarray  # float32 [M, A] search policy at each position
    outcomes: np.ndarray  # float32 [M] final result for the player to move at each position
    targets: np.ndarray  # bool [M] full search: the policy is a training target
    search_values: np.ndarray  # float32 [M] root value of the search at each position

    def value_targets(self, search_value_weight: float) -> np.ndarray:
        w = search_value_weight
        return ((1 - w) * self.outcomes + w * self.search_values).astype(np.float32)


def play_games(game: Game, evaluator: Evaluator, config: SelfPlayConfig,
               rng: np.random.Generator) -> list[GameRecord]:
    """Play `config.games` games to the end, all searched together."""
    n = config.games
    states = [_random_opening(game, rng, config.random_opening) for _ in range(n)]
    history: list[list[tuple]] = [[] for _ in range(n)]
    live = list(range(n))
    ply = 0
    while live:
        full = rng.random(len(live)) < config.playout_cap
        actions = np.empty(len(live), np.int64)
        policies = np.zeros((len(live), game.num_actions), np.float32)
        values = np.zeros(len(live), np.float32)
        explore = ply < config.temperature_moves
        for mask, sims in ((full, config.simulations), (~full, config.cheap_simulations)):
            idx = np.flatnonzero(mask)
            if idx.size == 0:
                continue
            cfg = config.search_config(sims, explore)
            if not mask.all() and sims == config.cheap_simulations:
                cfg = replace(cfg, dirichlet_fraction=0.0)  # cheap moves: no noise (KataGo)
            result = search(game, evaluator, [states[live[i]] for i in idx], cfg, rng)
            actions[idx] = result.action
            policies[idx] = result.policy
            values[idx] = result.root_value
        for j, g in enumerate(live):
            history[g].append((states[g], policies[j], bool(full[j]), values[j]))
            states[g] = game.apply(states[g], int(actions[j]))
        live = [g for g in live if not game.is_terminal(states[g])]
        ply += 1
    return [_record(game, h, final) for h, final in zip(history, states)]


def _random_opening(game: Game, rng: np.random.Generator, max_moves: int):
    state = game.initial_state()
    for _ in range(int(rng.integers(0, max_moves + 1))):
        legal = np.flatnonzero(game.legal_mask(state))
        after = game.apply(state, int(rng.choice(legal)))
        if game.is_terminal(after):
            break
        state = after
    return state


def _record(game: Game, steps: list[tuple], final) -> GameRecord:
    value = game.terminal_value(final)  # for the player to move at the end
    last = game.to_play(final)
    outcomes = np.array([value if game.to_play(s[0]) == last else -value for s in steps],
                        np.float32)
    return GameRecord(states=[s[0] for s in steps],
                      policies=np.stack([s[1] for s in steps]).astype(np.float32),
                      outcomes=outcomes, targets=np.array([s[2] for s in steps]),
                      search_values=np.array([s[3] for s in steps], np.float32))
