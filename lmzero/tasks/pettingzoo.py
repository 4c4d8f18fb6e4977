"""PettingZoo AEC games through lmzero: `pettingzoo:MODULE`, e.g. classic.connect_four_v3.

`PettingZooGame` adapts a turn-based (AEC) PettingZoo environment with one or two agents, a
Discrete action space and a dict observation holding 'observation' and 'action_mask' (the form of
PettingZoo's classic board games) to the `Game` protocol. A state is a `PettingZooState`: the raw
(unwrapped) environment after the moves, the action history and who moved last; `apply` steps a
copy, never its input. The network reads the mover's 'observation' flattened plus the side to
move (`observation`), as for OpenSpiel games, so a new game needs no model code. Parallel
environments, other action or observation spaces and more than two agents are refused with one
line saying why.

A game is scored by the rewards of its last step (classic games pay -1/0/1 only at the end),
scaled from the environment's reward range (default [-1, 1]) to [-1, 1]. A terminal state's
player to move is the one after its last mover (as in our own games). PettingZoo needs
`pip install 'lmzero[pettingzoo]'`.
"""

from __future__ import annotations

import copy
import difflib
import importlib
import os
import pkgutil
import random
import re
from dataclasses import dataclass

import numpy as np

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")  # classic games import pygame

from gymnasium import spaces  # noqa: E402  (a dependency of pettingzoo)
from pettingzoo.utils.env import AECEnv, ParallelEnv  # noqa: E402  (`tasks.load_task` says
# how to install pettingzoo if missing)

from lmzero.tasks.base import quiet_stderr  # noqa: E402

PREFIX = "pettingzoo:"
SEPARATORS = " ,;\t"
"""What may separate the moves of a move list (`PettingZooGame.from_moves`)."""
SHARED = ("action_spaces", "observation_spaces", "possible_agents", "_ezpickle_args",
          "_ezpickle_kwargs")
"""Attributes of a raw environment that never change while it plays: copies share them (so do
those that cannot be copied, such as a pygame surface: `PettingZooGame` finds them)."""


class PettingZooError(ValueError):
    """A PettingZoo environment that cannot be loaded or played here (one-line message)."""


@dataclass(frozen=True, eq=False)
class PettingZooState:
    """A position: the raw environment after `history` (never stepped again once made) and the
    index of the agent that made the last move (None at the start)."""

    env: AECEnv
    history: tuple[int, ...] = ()
    last_mover: int | None = None


def load_game(spec: str) -> PettingZooGame:
    """The adapter of `spec`, a module below `pettingzoo.` whose `env()` makes the game.

    >>> load_game("classic.tictactoe_v3").num_actions
    9
    >>> load_game("classic.rps_v2")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    lmzero.tasks.pettingzoo.PettingZooError: pettingzoo:classic.rps_v2 is not supported: its ...
    """
    module = _import(spec.strip())
    try:
        make = getattr(module, "env", None)
    except ImportError:  # PettingZoo's packages answer unknown names so
        make = None
    if not callable(make):
        raise PettingZooError(f"{PREFIX}{spec} has no env() (name a game module such as "
                              "classic.connect_four_v3)")
    env = _call(make, spec, "env()")
    why = unsupported(env)
    if why:
        raise PettingZooError(f"{PREFIX}{spec} is not supported: {why}")
    _call(lambda: env.reset(seed=0), spec, "reset()")  # the wrappers insist on one before use
    return PettingZooGame(env, spec.strip())


def _call(function, spec: str, what: str):
    """`function()` with stderr quiet (SDL, under pygame, complains there e.g. of XDG_RUNTIME_DIR);
    PettingZooError quoting the environment's own failure in one line."""
    try:
        with quiet_stderr():
            return function()
    except Exception as exc:
        text = " ".join(str(exc).split())
        raise PettingZooError(f"{PREFIX}{spec}: {what} failed: {type(exc).__name__}: "
                              f"{text}") from None


def _import(spec: str):
    """The module `pettingzoo.SPEC`; PettingZooError for a name it does not have (with close
    names among its siblings) or a game whose own dependencies are missing."""
    name = f"pettingzoo.{spec}"
    if not re.fullmatch(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*", spec):
        raise PettingZooError(f"unknown PettingZoo module {spec!r}: name one like "
                              "classic.connect_four_v3")
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name and not f"{name}.".startswith(f"{exc.name}."):  # the game's own dependency
            raise PettingZooError(f"{name} needs the {exc.name!r} package, which is not "
                                  "installed") from None
        raise PettingZooError(f"unknown PettingZoo module {spec!r}{_guess(spec)}") from None
    except ImportError as exc:
        raise PettingZooError(f"{name} failed to import: {' '.join(str(exc).split())}") from None


def _guess(spec: str) -> str:
    """' (did you mean ...?)' with modules close to `spec` in its parent package, or ''."""
    parent, _, _ = spec.rpartition(".")
    try:
        package = importlib.import_module(f"pettingzoo.{parent}" if parent else "pettingzoo")
        found = [(f"{parent}." if parent else "") + m.name
                 for m in pkgutil.iter_modules(getattr(package, "__path__", []))]
    except ImportError:
        return ""
    games = [m for m in found if re.search(r"_v\d+$", m)] or found  # versioned: game modules
    close = difflib.get_close_matches(spec, games, n=3)
    return f" (did you mean {', '.join(close)}?)" if close else ""


def unsupported(env) -> str | None:
    """Why the search here cannot play `env` (what a module's `env()` made), or None if it can."""
    if isinstance(env, ParallelEnv):
        return "it is a parallel environment (lmzero plays turn-based AEC environments)"
    if not isinstance(env, AECEnv):
        return f"env() made a {type(env).__name__}, not a PettingZoo AEC environment"
    agents = list(env.possible_agents)
    if not 1 <= len(agents) <= 2:
        return f"it has {len(agents)} agents (lmzero plays one- or two-player games)"
    acts = [env.action_space(a) for a in agents]
    if not all(isinstance(s, spaces.Discrete) and s.start == 0 for s in acts):
        return f"its action space is {acts[0]} (lmzero needs Discrete actions from 0)"
    if len({int(s.n) for s in acts}) != 1:
        return "its agents have action spaces of different sizes"
    for agent in agents:
        obs = env.observation_space(agent)
        if not (isinstance(obs, spaces.Dict) and {"observation", "action_mask"} <= set(obs)):
            return ("its observations are no dict of 'observation' and 'action_mask' "
                    "(lmzero reads legal moves from the mask)")
    return None


def _clone(env: AECEnv, shared=SHARED) -> AECEnv:
    """A copy of a raw environment that can be stepped apart from it. `copy.deepcopy` will not
    do: environments pickle as their constructor arguments (gymnasium's EzPickle), so a deep copy
    is a fresh, un-reset one. Copying the instance dictionary keeps the position; the `shared`
    attributes (spaces, rendering resources) are shared, not copied."""
    state = vars(env)
    memo = {id(state[k]): state[k] for k in shared if k in state}
    twin = object.__new__(type(env))
    twin.__dict__.update(copy.deepcopy(state, memo))
    return twin


def _uncopyable(env: AECEnv):
    """Names of the attributes of `env` that `copy.deepcopy` refuses (a pygame surface made at
    reset for rendering): no part of the position, so copies share them."""
    for name, value in vars(env).items():
        try:
            copy.deepcopy(value)
        except Exception:  # whatever an attribute's pickling raises
            yield name


def _finished(env: AECEnv) -> bool:
    return any(env.terminations.values()) or any(env.truncations.values())


class PettingZooGame:
    """A PettingZoo AEC environment as a lmzero `Game` (see the module doc)."""

    def __init__(self, env, spec: str):
        self.raw = env.unwrapped  # reset; stepped only through copies, without the wrappers
        self._shared = SHARED + tuple(_uncopyable(self.raw))
        self.name = PREFIX + spec
        self.agents = list(env.possible_agents)
        self.num_players = len(self.agents)
        self.num_actions = int(env.action_space(self.agents[0]).n)
        self._low, self._high = getattr(self.raw, "reward_range", None) or (-1.0, 1.0)
        if not self._high > self._low:
            raise PettingZooError(f"{self.name} is not supported: its reward range is empty")

    def initial_state(self) -> PettingZooState:
        return PettingZooState(self.raw)  # shared: apply copies before it steps

    def legal_mask(self, state: PettingZooState) -> np.ndarray:
        if _finished(state.env):
            return np.zeros(self.num_actions, bool)
        mask = state.env.observe(state.env.agent_selection)["action_mask"]
        return np.asarray(mask, bool).reshape(self.num_actions)

    def apply(self, state: PettingZooState, action: int) -> PettingZooState:
        if _finished(state.env):
            raise ValueError(f"cannot play {self.name} move {action}: the game is over")
        action = int(action)
        if not (0 <= action < self.num_actions and self.legal_mask(state)[action]):
            raise ValueError(f"illegal {self.name} move {action}")
        env = _clone(state.env, self._shared)
        env.step(action)
        return PettingZooState(env, state.history + (action,), self.to_play(state))

    def is_terminal(self, state: PettingZooState) -> bool:
        return _finished(state.env)

    def terminal_value(self, state: PettingZooState) -> float:
        """The player to move's reward of the last step, scaled from the reward range to [-1, 1]."""
        r = state.env.rewards[self.agents[self.to_play(state)]]
        return float(2 * (r - self._low) / (self._high - self._low) - 1)

    def to_play(self, state: PettingZooState) -> int:
        """The selected agent's index; in a terminal state, the one after the last mover."""
        if self.num_players == 1:
            return 0
        if _finished(state.env):
            return 0 if state.last_mover is None else 1 - state.last_mover
        return self.agents.index(state.env.agent_selection)

    def key(self, state: PettingZooState):
        """The action history: always the position, though transpositions do not share it."""
        return state.history

    def rollout(self, state: PettingZooState, rng: np.random.Generator) -> float:
        """Uniformly random moves to the end, on one copy stepped in place. The moves draw from
        a `random.Random` seeded from `rng` once (cheaper than a numpy draw per move)."""
        mover = self.to_play(state)
        env, last = _clone(state.env, self._shared), state.last_mover
        draw = random.Random(int(rng.bit_generator.random_raw())).random
        while not _finished(env):
            legal = np.flatnonzero(env.observe(env.agent_selection)["action_mask"])
            last = self.agents.index(env.agent_selection)
            env.step(int(legal[int(draw() * len(legal))]))
        end = PettingZooState(env, state.history, last)
        value = self.terminal_value(end)
        return value if self.to_play(end) == mover else -value

    def observation(self, state: PettingZooState) -> np.ndarray:
        """float32 [F + 2]: the mover's 'observation' flattened, then the side to move one-hot
        (PettingZoo's planes are relative to the mover: the one-hot says whose they are)."""
        player = self.to_play(state)
        side = np.zeros(2, np.float32)
        side[player] = 1.0
        seen = state.env.observe(self.agents[player])["observation"]
        return np.concatenate([np.asarray(seen, np.float32).ravel(), side])

    def render(self, state: PettingZooState) -> str:
        """The board drawn from an observation of [rows, columns, planes] whose first two
        planes are the mover's pieces and the opponent's, as in PettingZoo's Connect Four and
        tic-tac-toe (x: the first agent, o: the second); else the observation itself."""
        player = self.to_play(state)
        seen = np.asarray(state.env.observe(self.agents[player])["observation"])
        if seen.ndim != 3 or seen.shape[2] < 2:
            return str(seen)
        mine, theirs = ("x", "o") if player == 0 else ("o", "x")
        rows = ["".join(mine if c[0] else theirs if c[1] else "." for c in row) for row in seen]
        return "\n".join(rows)

    def move_name(self, state: PettingZooState, action: int) -> str:
        """A move's name is its action id (PettingZoo names no moves)."""
        return str(int(action))

    def parse_move(self, text: str, state: PettingZooState) -> int:
        """The action id `text` names; ValueError (one line) if it is no legal move here."""
        text = text.strip()
        if not (text.isascii() and text.isdigit()):
            raise ValueError(f"{text[:30]!r} is not a legal move here: moves are action ids "
                             f"0-{self.num_actions - 1}")
        if int(text) >= self.num_actions or not self.legal_mask(state)[int(text)]:
            raise ValueError(f"action {text} is not legal here")
        return int(text)

    def from_moves(self, line: str) -> PettingZooState:
        """The position after a line of action ids from the start, separated by spaces, commas
        or semicolons (`3 3 4`, `0,4,8`); an empty line is the start."""
        state = self.initial_state()
        moves = [m for m in re.split(f"[{re.escape(SEPARATORS)}]+", line.strip()) if m]
        for number, text in enumerate(moves, start=1):
            if self.is_terminal(state):
                raise ValueError(f"move {number} ({text[:20]!r}) comes after the game is over")
            try:
                state = self.apply(state, self.parse_move(text, state))
            except ValueError as exc:
                raise ValueError(f"move {number}: {exc}") from None
        return state

    def network_report(self, evaluator, games: int, simulations: int) -> dict:
        """What training logs about a network: its search against rollout MCTS at equal
        simulations (`eval.game_eval.scores_vs_mcts`); no solver knows these games."""
        from lmzero.eval.game_eval import scores_vs_mcts
        return scores_vs_mcts(self, evaluator, games, simulations, (simulations,))


__all__ = ["PettingZooError", "PettingZooGame", "PettingZooState", "load_game"]
