"""Connect Four (7 columns x 6 rows) on 64-bit bitboards.

Why bitboards: the search calls `apply`, `is_terminal` and `rollout` millions of times, and a
whole position fits in two integers, so every rule becomes a handful of shifts and masks.

Layout (the usual one): column c owns bits 7*c .. 7*c+6; bit 7*c + r is row r counted from the
bottom, and bit 7*c + 6 is a sentinel that is never set, so shifted lines never wrap from one
column into the next.  A state keeps `current` (the stones of the player to move) and `mask`
(all stones), plus the ply count `moves`; the opponent's stones are `current ^ mask`.
Player 0 (rendered X) moves first.
"""

from __future__ import annotations

import sys
from typing import NamedTuple

import numba
import numpy as np

from lmzero.search import compiled

WIDTH = 7
HEIGHT = 6
H1 = HEIGHT + 1  # bits per column, counting the sentinel
NUM_CELLS = WIDTH * HEIGHT  # 42

BOTTOM_MASK = sum(1 << (H1 * c) for c in range(WIDTH))  # lowest cell of every column
BOARD_MASK = BOTTOM_MASK * ((1 << HEIGHT) - 1)  # every playable cell
TOP_MASKS = tuple(1 << (H1 * c + HEIGHT - 1) for c in range(WIDTH))  # highest cell per column


class C4State(NamedTuple):
    """Immutable position; `current` holds the stones of the player to move."""

    current: int  # bitboard of the mover's stones
    mask: int  # bitboard of all stones
    moves: int  # plies played so far (0..42)


# ---------------------------------------------------------------- pure bit rules


@numba.njit(cache=True, inline="always")
def has_four(bits: int) -> bool:
    """True if `bits` holds four in a row: vertical (1), horizontal (7) and both diagonals."""
    for shift in (1, H1, HEIGHT, H1 + 1):
        pairs = bits & (bits >> shift)
        if pairs & (pairs >> (2 * shift)):
            return True
    return False


def play_bits(current: int, mask: int, col: int) -> tuple[int, int]:
    """(current, mask) after the mover drops a stone in `col`; the roles swap."""
    return current ^ mask, mask | (mask + (1 << (H1 * col)))


# ---------------------------------------------------------------- fast random playouts
# Randomness: a xorshift64* stream inside the compiled code, seeded (splitmix64) from one draw of
# the caller's numpy Generator, so a rollout is reproducible from that Generator.  Reseeding
# numba's own np.random instead costs ~1.5 us per call (more than a whole playout here) and
# would reset global RNG state that other jitted code may rely on.


@numba.njit(cache=True)
def _playout(current: int, mask: int, moves: int, s: np.uint64) -> tuple[int, np.uint64]:
    """Uniformly random moves to the end; (outcome for the mover at the start, rng state)."""
    if has_four(current ^ mask):  # already lost: the previous mover made four
        return -1, s
    sign = 1
    while moves < NUM_CELLS:
        while True:  # rejection sampling keeps the choice uniform over open columns
            draw, s = compiled.next_draw(s)
            col = np.int64(draw % np.uint64(WIDTH))
            if not (mask >> (H1 * col + HEIGHT - 1)) & 1:
                break
        new_mask = mask | (mask + (np.int64(1) << (H1 * col)))
        if has_four(current | (new_mask ^ mask)):
            return sign, s
        current, mask, moves = current ^ mask, new_mask, moves + 1
        sign = -sign
    return 0, s


@numba.njit(cache=True)
def _seed_state(seed: int) -> np.uint64:
    """Spread a user seed over 64 bits (splitmix64 finaliser); never zero for xorshift."""
    z = np.uint64(seed) + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z ^= z >> np.uint64(31)
    return z if z != np.uint64(0) else np.uint64(1)


@numba.njit(cache=True)
def rollout_bits(current: int, mask: int, moves: int, seed: int) -> int:
    """One random playout from a bitboard position, reproducible from `seed`."""
    value, _ = _playout(current, mask, moves, _seed_state(seed))
    return value


@numba.njit(cache=True)
def rollouts_bits(current: int, mask: int, moves: int, seed: int, n: int) -> np.ndarray:
    """`n` random playouts from one position: int8 [n] outcomes for the mover."""
    out = np.empty(n, dtype=np.int8)
    s = _seed_state(seed)
    for i in range(n):
        value, s = _playout(current, mask, moves, s)
        out[i] = value
    return out


def _draw_seed(rng: np.random.Generator) -> int:
    """A non-negative int64 seed from `rng` (random_raw is ~5x cheaper than rng.integers)."""
    return int(rng.bit_generator.random_raw()) >> 1


# ---------------------------------------------------------------- compiled search
# A packed state is the row [current, mask, moves] (`search.compiled`): the search then expands,
# plays out and backs up whole waves without touching Python.


@numba.njit(cache=True)
def _k_play(s, col, out):
    current, mask = s[0], s[1]
    out[0] = current ^ mask
    out[1] = mask | (mask + (np.int64(1) << (H1 * col)))
    out[2] = s[2] + 1


@numba.njit(cache=True)
def _k_outcome(s):
    if has_four(s[0] ^ s[1]):  # the previous mover made four
        return True, -1.0
    return s[2] >= NUM_CELLS, 0.0


@numba.njit(cache=True)
def _k_legal(s, out):
    for col in range(WIDTH):
        out[col] = not (s[1] >> (H1 * col + HEIGHT - 1)) & 1


@numba.njit(cache=True)
def _k_to_play(s):
    return s[2] % 2


@numba.njit(cache=True)
def _k_playout(s, rng):
    return _playout(s[0], s[1], s[2], rng)


# The rules are passed as `_rules._k_*`, attributes of this module: numba cannot cache a
# function that passes a plain global function as a value, but it can when reached this way.
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


KERNELS = compiled.GameKernels(
    width=3, pack=lambda state: np.array(state, np.int64),
    unpack=lambda row: C4State(int(row[0]), int(row[1]), int(row[2])),
    expand=_expand, waves=_waves)


# ---------------------------------------------------------------- parsing and display


def from_moves(seq: str) -> C4State:
    """The position after 1-based column digits such as "4453"; ValueError names the problem."""
    state = C4State(0, 0, 0)
    for i, ch in enumerate(seq, start=1):
        if ch not in "0123456789":  # not isdigit(): it takes "٣" and "３", and int() reads them
            raise ValueError(f"{ch!r} is not a column digit 1-7 (move {i})")
        col = int(ch)
        if not 1 <= col <= WIDTH:
            raise ValueError(f"column {col} is out of range 1-{WIDTH} (move {i})")
        if has_four(state.current ^ state.mask):
            raise ValueError(f"game is already over before move {i}")
        if state.mask & TOP_MASKS[col - 1]:
            raise ValueError(f"column {col} is full (move {i})")
        state = C4State(*play_bits(state.current, state.mask, col - 1), state.moves + 1)
    return state


_CELL_SHIFTS = np.array([[H1 * c + r for c in range(WIDTH)] for r in range(HEIGHT)], np.uint64)


def _cells(state: C4State) -> np.ndarray:
    """int8 [6, 7] (row from bottom, column): 1 = mover, -1 = opponent, 0 = empty."""
    current = (np.uint64(state.current) >> _CELL_SHIFTS) & np.uint64(1)
    occupied = (np.uint64(state.mask) >> _CELL_SHIFTS) & np.uint64(1)
    return (2 * current.astype(np.int8) - 1) * occupied.astype(np.int8)


def encode(state: C4State) -> np.ndarray:
    """int8 [42] cells from the mover's viewpoint, row-major from the bottom row."""
    return _cells(state).reshape(-1)


def render(state: C4State) -> str:
    """Text board, top row first; X moved first, O second; column numbers 1-7 below."""
    grid = _cells(state)
    mover_is_x = state.moves % 2 == 0
    symbols = {1: "X" if mover_is_x else "O", -1: "O" if mover_is_x else "X", 0: "."}
    rows = [" ".join(symbols[int(v)] for v in grid[r]) for r in range(HEIGHT - 1, -1, -1)]
    rows.append(" ".join(str(c + 1) for c in range(WIDTH)))
    return "\n".join(rows)


# ---------------------------------------------------------------- the Game


def _legal_table() -> dict[int, np.ndarray]:
    """Legal moves depend only on which top cells are filled: 128 cases, computed once (the
    search asks for them at every new leaf)."""
    table = {}
    for full in range(1 << WIDTH):
        tops = sum(TOP_MASKS[c] for c in range(WIDTH) if full >> c & 1)
        legal = np.array([not full >> c & 1 for c in range(WIDTH)], dtype=bool)
        legal.flags.writeable = False
        table[tops] = legal
    return table


_ALL_TOPS = sum(TOP_MASKS)
_LEGAL_BY_TOP = _legal_table()
_NO_MOVES = np.zeros(WIDTH, dtype=bool)
_NO_MOVES.flags.writeable = False


class ConnectFour:
    """Connect Four implementing the `Game` protocol; actions are 0-based columns."""

    name = "connect4"
    num_actions = WIDTH
    kernels = KERNELS  # search runs compiled over packed states (`search.compiled`)
    board_shape = (HEIGHT, WIDTH)  # `encode`'s cells, row-major from the bottom (resnet trunk)

    def network_report(self, evaluator, games: int, simulations: int) -> dict:
        """What training logs about a network: raw-policy accuracy on solver-labelled positions,
        scores against rollout MCTS (`eval.game_eval.connect4_report`)."""
        from lmzero.eval.game_eval import connect4_report
        return connect4_report(self, evaluator, games, simulations)

    def initial_state(self) -> C4State:
        return C4State(0, 0, 0)

    def from_moves(self, seq: str) -> C4State:
        return from_moves(seq)

    def winner(self, state: C4State) -> int | None:
        """Index of the player who made four (only the last mover can have), else None."""
        if has_four(state.current ^ state.mask):
            return (state.moves - 1) % 2
        return None

    def is_terminal(self, state: C4State) -> bool:
        return state.moves >= NUM_CELLS or has_four(state.current ^ state.mask)

    def terminal_value(self, state: C4State) -> float:
        return -1.0 if has_four(state.current ^ state.mask) else 0.0

    def legal_mask(self, state: C4State) -> np.ndarray:
        """bool [7], read-only (shared by all positions with the same full columns)."""
        if self.is_terminal(state):
            return _NO_MOVES
        return _LEGAL_BY_TOP[state.mask & _ALL_TOPS]

    def apply(self, state: C4State, action: int) -> C4State:
        if not 0 <= action < WIDTH:
            raise ValueError(f"action {action} is out of range 0-{WIDTH - 1}")
        if self.is_terminal(state):
            raise ValueError("cannot play in a finished game")
        if state.mask & TOP_MASKS[action]:
            raise ValueError(f"column {action} (0-based) is full")
        return C4State(*play_bits(state.current, state.mask, action), state.moves + 1)

    def to_play(self, state: C4State) -> int:
        return state.moves % 2

    def key(self, state: C4State) -> int:
        """current + mask is unique per position (the mask's top bits fix the column heights)."""
        return state.current + state.mask

    def rollout(self, state: C4State, rng: np.random.Generator) -> float:
        return float(rollout_bits(state.current, state.mask, state.moves, _draw_seed(rng)))

    def rollouts(self, state: C4State, n: int, rng: np.random.Generator) -> np.ndarray:
        """int8 [n] outcomes of `n` random playouts in one compiled call (for batch use)."""
        return rollouts_bits(state.current, state.mask, state.moves, _draw_seed(rng), n)

    def encode(self, state: C4State) -> np.ndarray:
        return encode(state)

    def mirror(self) -> np.ndarray:
        """Action permutation of the left-right reflection (a symmetry of the rules)."""
        return np.arange(WIDTH)[::-1].copy()

    def render(self, state: C4State) -> str:
        return render(state)
