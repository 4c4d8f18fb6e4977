"""Any OpenSpiel game through lmzero: `openspiel:NAME` or `openspiel:NAME(param=value,...)`.

`OpenSpielGame` adapts a sequential, perfect-information, deterministic OpenSpiel game with one
player (a puzzle) or two (zero-sum) to the `Game` protocol: a state is a `pyspiel.State`, never
mutated (`apply` clones it); actions are OpenSpiel's distinct action ids; the network reads the
game's `observation_tensor` plus the side to move (`observation`), so a new game needs no model
code. Everything else (simultaneous moves, imperfect information, chance nodes, more than two
players, general-sum payoffs, no observation tensor) is refused with one line saying why.

Returns are scaled from [min_utility, max_utility] to [-1, 1], the range of the value head. A
terminal state's player to move is the one after its last mover (as in our own games); OpenSpiel
reports no player there. OpenSpiel needs `pip install lmzero[openspiel]`.
"""

from __future__ import annotations

import difflib
import random
import re

import numpy as np
import pyspiel  # the open_spiel package: `tasks.load_task` says how to install it if missing

from lmzero.tasks.base import quiet_stderr

PREFIX = "openspiel:"
SEPARATORS = " ,;\t"
"""What may separate the moves of a move list (`OpenSpielGame.from_moves`)."""
NAMES_HINT = "python -c 'import pyspiel; print(pyspiel.registered_names())' lists them"


class OpenSpielError(ValueError):
    """An OpenSpiel game that cannot be loaded or played here (one-line message)."""


def load_game(spec: str) -> OpenSpielGame:
    """The adapter of `spec`, `NAME` or `NAME(param=value,...)` as OpenSpiel takes it.

    >>> load_game("hex(board_size=5)").num_actions
    25
    >>> load_game("kuhn_poker")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    lmzero.tasks.openspiel.OpenSpielError: openspiel:kuhn_poker is not supported: it has ...
    """
    name = spec.split("(", 1)[0].strip()
    known = pyspiel.registered_names()
    if name not in known:
        close = difflib.get_close_matches(name, known, n=3)
        guess = f" (did you mean {', '.join(close)}?)" if close else ""
        raise OpenSpielError(f"unknown OpenSpiel game {name!r}{guess}: {NAMES_HINT}")
    try:
        with quiet_stderr():  # OpenSpiel's C++ also prints the error: keep to one line
            game = pyspiel.load_game(spec)
    except pyspiel.SpielError as exc:  # bad parameters: OpenSpiel's own words, one line
        text = " ".join(str(exc).split())
        raise OpenSpielError(f"OpenSpiel could not load {spec!r}: {text}") from None
    why = unsupported(game)
    if why:
        raise OpenSpielError(f"{PREFIX}{spec} is not supported: {why}")
    return OpenSpielGame(game, spec)


def unsupported(game) -> str | None:
    """Why the search here cannot play `game` (a `pyspiel.Game`), or None if it can."""
    kind = game.get_type()
    if kind.dynamics != pyspiel.GameType.Dynamics.SEQUENTIAL:
        return "its players move simultaneously (lmzero searches sequential games)"
    if kind.information != pyspiel.GameType.Information.PERFECT_INFORMATION:
        return "it has imperfect information (lmzero searches perfect-information games)"
    if kind.chance_mode != pyspiel.GameType.ChanceMode.DETERMINISTIC:
        return "it has chance nodes (lmzero searches deterministic games)"
    if game.num_players() > 2:
        return f"it has {game.num_players()} players (lmzero plays one- or two-player games)"
    if game.num_players() == 2 and kind.utility != pyspiel.GameType.Utility.ZERO_SUM:
        return "it is not zero-sum (lmzero plays two-player zero-sum games)"
    if not kind.provides_observation_tensor:
        return "it has no observation tensor (the network's input)"
    if game.max_utility() <= game.min_utility():
        return "its utility range is empty"
    return None


class OpenSpielGame:
    """An OpenSpiel game as a lmzero `Game` (see the module doc)."""

    def __init__(self, game, spec: str):
        self.game = game  # the pyspiel.Game
        self.name = PREFIX + spec
        self.num_actions = game.num_distinct_actions()
        self.num_players = game.num_players()
        self._low, self._high = game.min_utility(), game.max_utility()
        shape = game.observation_tensor_shape()
        self.board_shape = tuple(shape[1:]) if len(shape) == 3 else None
        """(rows, columns) of the observation's planes when it is a stack of them (the resnet
        trunk reads them as such), else None."""

    def initial_state(self):
        return self.game.new_initial_state()

    def legal_mask(self, state) -> np.ndarray:
        if state.is_terminal():
            return np.zeros(self.num_actions, bool)
        return np.asarray(state.legal_actions_mask(), bool)

    def apply(self, state, action: int):
        if state.is_terminal() or action not in state.legal_actions():
            raise ValueError(f"illegal {self.name} move {action}")
        child = state.clone()
        child.apply_action(int(action))
        return child

    def is_terminal(self, state) -> bool:
        return state.is_terminal()

    def terminal_value(self, state) -> float:
        """The player to move's return, scaled from [min_utility, max_utility] to [-1, 1]."""
        r = state.returns()[self.to_play(state)]
        return float(2 * (r - self._low) / (self._high - self._low) - 1)

    def to_play(self, state) -> int:
        """OpenSpiel's current player; in a terminal state, the one after the last mover."""
        if self.num_players == 1:
            return 0
        if not state.is_terminal():
            return state.current_player()
        history = state.full_history()
        return 1 - history[-1].player if history else 0

    def key(self, state):
        """The action history: always the position (repetition rules included), though
        transpositions reached by different move orders do not share it."""
        return tuple(state.history())

    def rollout(self, state, rng: np.random.Generator) -> float:
        """Uniformly random moves to the end. The moves draw from a `random.Random` seeded
        from `rng` once: a numpy draw per move would cost more than OpenSpiel's move itself."""
        mover = self.to_play(state)
        state = state.clone()
        draw = random.Random(int(rng.bit_generator.random_raw())).random
        while not state.is_terminal():
            legal = state.legal_actions()
            state.apply_action(legal[int(draw() * len(legal))])  # in place: our clone
        value = self.terminal_value(state)
        return value if self.to_play(state) == mover else -value

    def observation(self, state) -> np.ndarray:
        """float32 [F + 2]: the observation tensor of the player to move, then the side to
        move one-hot (OpenSpiel's tensors are often absolute, e.g. a plane per colour)."""
        player = self.to_play(state)
        side = np.zeros(2, np.float32)
        side[player] = 1.0
        return np.concatenate([np.asarray(state.observation_tensor(player), np.float32), side])

    def render(self, state) -> str:
        return str(state)

    def move_name(self, state, action: int) -> str:
        """OpenSpiel's name of `action` in `state` (e.g. a2a3, d3, Point 5)."""
        return state.action_to_string(self.to_play(state), int(action))

    def parse_move(self, text: str, state) -> int:
        """The action a typed move names: an action id or OpenSpiel's action string (exact,
        then ignoring case); ValueError (one line) if it is no legal move here."""
        text = text.strip()
        legal = state.legal_actions() if not state.is_terminal() else []
        if text.isascii() and text.isdigit():
            if int(text) in legal:
                return int(text)
            raise ValueError(f"action {text} is not legal here")
        names = {state.action_to_string(state.current_player(), a): a for a in legal}
        if text in names:
            return names[text]
        folded = {k.lower(): a for k, a in names.items()}
        if text.lower() in folded:
            return folded[text.lower()]
        sample = ", ".join(list(names)[:6]) + (", ..." if len(names) > 6 else "")
        raise ValueError(f"{text[:30]!r} is not a legal move here: legal are {sample} "
                         "(or their action ids)")

    def from_moves(self, line: str):
        """The position after a line of moves from the start, each an OpenSpiel action string
        or an action id, separated by spaces, commas or semicolons: `a7a6 b2b3`,
        `x(0,0) o(1,1)`, `Point 3, Point 5`, `12 40`. Action strings may hold those
        separators, so each move is the longest legal action string the text starts with
        (ignoring case), else a token of digits (an id). An empty line is the start."""
        state, number = self.initial_state(), 0
        rest = line.strip(SEPARATORS)
        while rest:
            number += 1
            if state.is_terminal():
                raise ValueError(f"move {number} ({rest[:20]!r}) comes after the game is over")
            text = self._next_move(rest, state)
            try:
                action = self.parse_move(text, state)
            except ValueError as exc:
                raise ValueError(f"move {number}: {exc}") from None
            state = self.apply(state, action)
            rest = rest[len(text):].lstrip(SEPARATORS)
        return state

    def _next_move(self, rest: str, state) -> str:
        """The text of the first move of `rest`: the longest legal action string it starts
        with (followed by a separator or the end), else its first token."""
        folded = rest.lower()
        names = [state.action_to_string(state.current_player(), a) for a in state.legal_actions()]
        found = [n for n in names if folded.startswith(n.lower())
                 and rest[len(n):len(n) + 1] in ("",) + tuple(SEPARATORS)]
        if found:
            return max(found, key=len)
        return re.split(f"[{re.escape(SEPARATORS)}]", rest, maxsplit=1)[0]

    def network_report(self, evaluator, games: int, simulations: int) -> dict:
        """What training logs about a network: its search against rollout MCTS at equal
        simulations (`eval.game_eval.scores_vs_mcts`); no solver knows these games."""
        from lmzero.eval.game_eval import scores_vs_mcts
        return scores_vs_mcts(self, evaluator, games, simulations, (simulations,))
