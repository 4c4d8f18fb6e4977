"""Tic-tac-toe, with an exact solver by full minimax (the ground truth of the search tests).

A state is a 9-tuple of cells (0 empty, 1 = X, 2 = O), X moving first; actions are cells 0..8,
row-major from the top left.
"""

from __future__ import annotations

import sys
from functools import lru_cache
from typing import NamedTuple

import numba
import numpy as np

from lmzero.search import compiled

LINES = ((0, 1, 2), (3, 4, 5), (6, 7, 8), (0, 3, 6), (1, 4, 7), (2, 5, 8), (0, 4, 8), (2, 4, 6))
LINE_BITS = tuple(sum(1 << i for i in line) for line in LINES)


class TTTState(NamedTuple):
    cells: tuple  # 9 ints: 0 empty, 1 X, 2 O

    @property
    def moves(self) -> int:
        return sum(c != 0 for c in self.cells)


def winner(cells: tuple) -> int:
    """1 or 2 if that player has three in a line, else 0."""
    for i, j, k in LINES:
        if cells[i] and cells[i] == cells[j] == cells[k]:
            return cells[i]
    return 0


# ---------------------------------------------------------------- compiled search
# A packed state is the row [X's cells, O's cells, moves] as bit sets (`search.compiled`).


@numba.njit(cache=True)
def _k_lines(bits):
    for line in LINE_BITS:
        if bits & line == line:
            return True
    return False


@numba.njit(cache=True)
def _k_play(s, cell, out):
    out[0], out[1], out[2] = s[0], s[1], s[2] + 1
    out[s[2] % 2] |= np.int64(1) << cell


@numba.njit(cache=True)
def _k_outcome(s):
    if s[2] and _k_lines(s[(s[2] - 1) % 2]):  # only the previous mover can have a line
        return True, -1.0
    return s[2] >= 9, 0.0


@numba.njit(cache=True)
def _k_legal(s, out):
    for cell in range(9):
        out[cell] = not ((s[0] | s[1]) >> cell) & 1


@numba.njit(cache=True)
def _k_to_play(s):
    return s[2] % 2


@numba.njit(cache=True)
def _k_playout(s, rng):
    """Uniformly random cells to the end; (outcome for the mover at the start, rng state)."""
    bits = np.array([s[0], s[1]])
    moves = s[2]
    if moves and _k_lines(bits[(moves - 1) % 2]):
        return -1.0, rng
    sign = 1.0
    while moves < 9:
        while True:  # rejection sampling keeps the choice uniform over empty cells
            draw, rng = compiled.next_draw(rng)
            cell = np.int64(draw % np.uint64(9))
            if not ((bits[0] | bits[1]) >> cell) & 1:
                break
        bits[moves % 2] |= np.int64(1) << cell
        if _k_lines(bits[moves % 2]):
            return sign, rng
        moves += 1
        sign = -sign
    return 0.0, rng


# The rules are passed as `_rules._k_*` (see `tasks.connect4`: numba caches it only so).
_rules = sys.modules[__name__]


@numba.njit(cache=True)
def _expand(b_idx, nodes, tree, num_rollouts, rng, need):
    return compiled.expand_leaves(_rules._k_play, _rules._k_outcome, _rules._k_legal,
                                  _rules._k_to_play, _rules._k_playout, b_idx, nodes, tree,
                                  num_rollouts, rng, need)


@numba.njit(cache=True)
def _waves(tree, params, schedule, sims_done, num_rollouts, rng, wave, max_waves):
    return compiled.run_waves(_rules._k_play, _rules._k_outcome, _rules._k_legal,
                              _rules._k_to_play, _rules._k_playout, tree, params, schedule,
                              sims_done, num_rollouts, rng, wave, max_waves)


def _pack(state: TTTState) -> np.ndarray:
    x = sum(1 << i for i, c in enumerate(state.cells) if c == 1)
    o = sum(1 << i for i, c in enumerate(state.cells) if c == 2)
    return np.array([x, o, state.moves], np.int64)


def _unpack(row: np.ndarray) -> TTTState:
    return TTTState(tuple(1 if row[0] >> i & 1 else 2 if row[1] >> i & 1 else 0
                          for i in range(9)))


KERNELS = compiled.GameKernels(width=3, pack=_pack, unpack=_unpack, expand=_expand,
                               waves=_waves)


class TicTacToe:
    name = "tictactoe"
    num_actions = 9
    kernels = KERNELS  # search runs compiled over packed states (`search.compiled`)
    board_shape = (3, 3)  # `encode`'s cells, row-major (resnet trunk)

    def network_report(self, evaluator, games: int, simulations: int) -> dict:
        """What training logs about a network: greedy value keeping over every position, games
        against the exact solver (`eval.game_eval.tictactoe_report`)."""
        from lmzero.eval.game_eval import tictactoe_report
        return tictactoe_report(self, evaluator, games, simulations)

    def initial_state(self) -> TTTState:
        return TTTState((0,) * 9)

    def to_play(self, state: TTTState) -> int:
        return state.moves % 2

    def is_terminal(self, state: TTTState) -> bool:
        return winner(state.cells) != 0 or state.moves == 9

    def terminal_value(self, state: TTTState) -> float:
        # a line can only have been completed by the previous mover: a loss for the player to move
        return -1.0 if winner(state.cells) else 0.0

    def legal_mask(self, state: TTTState) -> np.ndarray:
        if self.is_terminal(state):
            return np.zeros(9, bool)
        return np.array([c == 0 for c in state.cells])

    def apply(self, state: TTTState, action: int) -> TTTState:
        if not 0 <= action < 9 or state.cells[action] != 0 or self.is_terminal(state):
            raise ValueError(f"illegal tic-tac-toe move {action}")
        cells = list(state.cells)
        cells[action] = 1 + self.to_play(state)
        return TTTState(tuple(cells))

    def from_moves(self, seq: str) -> TTTState:
        """The position after 1-based cells played from the empty board, e.g. "519"."""
        state = self.initial_state()
        for i, ch in enumerate(seq.strip()):
            if ch not in "123456789":
                raise ValueError(f"move {i + 1} ({ch!r}) is not a cell 1-9")
            if self.is_terminal(state) or state.cells[int(ch) - 1]:
                raise ValueError(f"move {i + 1} (cell {ch}) is not legal here")
            state = self.apply(state, int(ch) - 1)
        return state

    def key(self, state: TTTState):
        return state.cells

    def rollout(self, state: TTTState, rng: np.random.Generator) -> float:
        mover = self.to_play(state)
        while not self.is_terminal(state):
            state = self.apply(state, int(rng.choice(np.flatnonzero(self.legal_mask(state)))))
        value = self.terminal_value(state)
        return value if self.to_play(state) == mover else -value

    def encode(self, state: TTTState) -> np.ndarray:
        """int8 [9] cells from the mover's viewpoint: 1 mover, -1 opponent, 0 empty."""
        mover = 1 + self.to_play(state)
        return np.array([0 if c == 0 else (1 if c == mover else -1) for c in state.cells], np.int8)

    def mirror(self) -> np.ndarray:
        """Action permutation of the left-right reflection (a symmetry of the rules)."""
        return np.array([2, 1, 0, 5, 4, 3, 8, 7, 6])

    def render(self, state: TTTState) -> str:
        marks = ".XO"
        rows = ["".join(marks[c] for c in state.cells[r * 3:r * 3 + 3]) for r in range(3)]
        return "\n".join(rows)


@lru_cache(maxsize=None)
def _minimax(cells: tuple) -> int:
    game = TicTacToe()
    state = TTTState(cells)
    if game.is_terminal(state):
        return int(game.terminal_value(state))
    return max(-_minimax(game.apply(state, a).cells) for a in np.flatnonzero(game.legal_mask(state)))


def solve(state: TTTState) -> int:
    """Game-theoretic value for the player to move: +1 win, 0 draw, -1 loss (full minimax)."""
    return _minimax(state.cells)


def move_values(state: TTTState) -> np.ndarray:
    """int [9]: value of each legal move for the player to move; -2 for illegal moves."""
    game = TicTacToe()
    out = np.full(9, -2, dtype=np.int64)
    for a in np.flatnonzero(game.legal_mask(state)):
        out[a] = -solve(game.apply(state, int(a)))
    return out


def reachable_states() -> list[TTTState]:
    """Every non-terminal position reachable from the empty board (4,520 of them)."""
    game, seen, stack = TicTacToe(), set(), [TicTacToe().initial_state()]
    while stack:
        state = stack.pop()
        if state.cells in seen or game.is_terminal(state):
            continue
        seen.add(state.cells)
        stack.extend(game.apply(state, int(a)) for a in np.flatnonzero(game.legal_mask(state)))
    return [TTTState(c) for c in sorted(seen)]
