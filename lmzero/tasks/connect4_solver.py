"""Exact Connect Four solver: negamax with alpha-beta, compiled with numba.

Why our own: later stages label self-play positions with perfect values, so the solver must be
exact and fast on positions from ply ~6 onward.  The ingredients:

* only "non-losing" moves are searched: with two playable opponent threats the mover has lost,
  one playable threat forces the reply, and the cell under an opponent threat is never filled;
* moves are tried by the threats they create (favouring the mover's row parity, penalising
  filling the cell under one's own threat), ties broken centre-first;
* a transposition table (one packed int64 per slot, prime size, keyed by current + mask with
  mirror images merged) keeps a lower and an upper bound per position; children are probed
  first for a cutoff (enhanced transposition cutoff).  Bounds never go stale, so the table is
  reused across calls and across weak/strong modes.

Scores follow Pascal Pons' convention for the player to move: 0 is a draw, a win with the
mover's k-th stone scores 22 - k (so larger = sooner), a loss is the negative.  Weak mode only
asks win/draw/loss inside the window [-1, 1], as two null-window probes (> 0? then > -1?),
which prune harder than one [-1, 1] search; strong mode narrows the exact score by null-window
bisection.
"""

from __future__ import annotations

import numba
import numpy as np

from .connect4 import BOARD_MASK, BOTTOM_MASK, H1, HEIGHT, NUM_CELLS, WIDTH, C4State, has_four

ILLEGAL = -1000  # move_values' sentinel for a full column or a finished game
_ORDER = np.array([3, 2, 4, 1, 5, 0, 6], dtype=np.int64)  # centre first


# ---------------------------------------------------------------- bit helpers


@numba.njit(cache=True, inline="always")
def _threats(position: int, mask: int) -> int:
    """Bitboard of empty cells that would complete four for the owner of `position`."""
    # vertical: three stacked stones below the cell
    r = (position << 1) & (position << 2) & (position << 3)
    for shift in (H1, HEIGHT, H1 + 1):  # horizontal, the two diagonals
        p = (position << shift) & (position << (2 * shift))
        r |= p & (position << (3 * shift))  # three stones on one side
        r |= p & (position >> shift)  # two on one side, one on the other
        p = (position >> shift) & (position >> (2 * shift))
        r |= p & (position << shift)
        r |= p & (position >> (3 * shift))
    return r & (BOARD_MASK ^ mask)


@numba.njit(cache=True, inline="always")
def _popcount(x: int) -> int:
    n = 0
    while x:
        x &= x - 1
        n += 1
    return n


@numba.njit(cache=True, inline="always")
def _non_losing_moves(current: int, mask: int) -> int:
    """Bitboard of playable cells that do not hand the opponent an immediate win (0 = lost)."""
    possible = (mask + BOTTOM_MASK) & BOARD_MASK
    opp_threats = _threats(current ^ mask, mask)
    forced = possible & opp_threats
    if forced:
        if forced & (forced - 1):  # two threats to block at once: lost
            return 0
        possible = forced
    return possible & ~(opp_threats >> 1)  # never fill the cell under an opponent threat


@numba.njit(cache=True, inline="always")
def _can_win_now(current: int, mask: int) -> bool:
    return ((mask + BOTTOM_MASK) & BOARD_MASK & _threats(current, mask)) != 0


# ---------------------------------------------------------------- transposition table
# One int64 per slot, so a probe costs one cache miss: bits 0-31 the key's low 32 bits (with a
# prime table size > 2^17 the slot and this tag pin down the 49-bit key), bits 32-39 the lower
# bound + 64, bits 40-47 the upper bound + 64, bit 48 "in use".  Mirror images share a slot.

_TAG = 0xFFFFFFFF
_USED = 1 << 48
_NO_BOUND = 64  # |score| <= 21, so -64 / +64 mean "nothing known"
_COLS = tuple(((1 << H1) - 1) << (H1 * c) for c in range(WIDTH))  # 7-bit field of each column


@numba.njit(cache=True, inline="always")
def _canonical(key: int) -> int:
    """The smaller of the key and its left-right mirror (current + mask is column-local)."""
    shift1, shift2, shift3 = 6 * H1, 4 * H1, 2 * H1
    mirror = (
        ((key & _COLS[0]) << shift1) | ((key & _COLS[6]) >> shift1)
        | ((key & _COLS[1]) << shift2) | ((key & _COLS[5]) >> shift2)
        | ((key & _COLS[2]) << shift3) | ((key & _COLS[4]) >> shift3)
        | (key & _COLS[3])
    )
    return min(key, mirror)


@numba.njit(cache=True, inline="always")
def _tt_bounds(table, key: int) -> tuple[int, int]:
    """(lower, upper) bounds known for the position with this canonical key."""
    e = table[key % table.shape[0]]
    if (e & (_TAG | _USED)) != ((key & _TAG) | _USED):
        return -_NO_BOUND, _NO_BOUND
    return ((e >> 32) & 0xFF) - 64, ((e >> 40) & 0xFF) - 64


@numba.njit(cache=True, inline="always")
def _tt_store(table, key: int, lo: int, hi: int) -> None:
    """Tighten the bounds kept for a canonical key (replacing another position in its slot)."""
    old_lo, old_hi = _tt_bounds(table, key)
    lo = max(lo, old_lo)
    hi = min(hi, old_hi)
    table[key % table.shape[0]] = (key & _TAG) | ((lo + 64) << 32) | ((hi + 64) << 40) | _USED


# ---------------------------------------------------------------- move ordering

_ODD_ROWS = sum(1 << (H1 * c + r) for c in range(WIDTH) for r in (0, 2, 4))  # rows 1, 3, 5
_EVEN_ROWS = BOARD_MASK ^ _ODD_ROWS  # rows 2, 4, 6


@numba.njit(cache=True, inline="always")
def _ordered_moves(current: int, mask: int, moves: int, moves_bb: int, out: np.ndarray) -> int:
    """Fill `out[:7]` with single-cell move bitboards, most promising first; returns the count.

    Key: threats the move makes (x4), plus those on rows of the mover's parity (odd rows favour
    the first player, even rows the second; x2), minus 4 for filling the cell under one's own
    threat (the opponent then blocks it).  Ties stay centre-first (stable insertion sort).
    """
    scores = out[8:]  # int64 [7] sort keys, kept in the same per-ply buffer row
    parity = _ODD_ROWS if moves % 2 == 0 else _EVEN_ROWS
    own = _threats(current, mask)
    n = 0
    for col in _ORDER:
        mv = moves_bb & (((1 << HEIGHT) - 1) << (H1 * col))
        if mv:
            th = _threats(current | mv, mask)
            score = 4 * _popcount(th) + 2 * _popcount(th & parity)
            if (mv << 1) & own:
                score -= 4
            k = n
            while k > 0 and scores[k - 1] < score:
                out[k] = out[k - 1]
                scores[k] = scores[k - 1]
                k -= 1
            out[k] = mv
            scores[k] = score
            n += 1
    return n


# ---------------------------------------------------------------- search

_SIG = "int64(int64, int64, int64, int64, int64, int64[:], int64[:, :])"


@numba.njit(_SIG, cache=True)  # explicit types: numba segfaults loading cached recursion without
def _negamax(current, mask, moves, alpha, beta, table, work):
    """Score of a position whose mover cannot win at once, as a fail-hard alpha-beta bound.

    `work` int64 [44, 16]: rows 0..42 are per-ply move buffers; [43, 0] counts the nodes.
    """
    work[NUM_CELLS + 1, 0] += 1
    nxt = _non_losing_moves(current, mask)
    if nxt == 0:
        return -((NUM_CELLS - moves) // 2)
    if moves >= NUM_CELLS - 2:  # no one can win in the last two plies any more
        return 0
    key = _canonical(current + mask)
    lo, hi = _tt_bounds(table, key)
    lo = max(lo, -((NUM_CELLS - 2 - moves) // 2))  # the opponent cannot win on the next ply
    hi = min(hi, (NUM_CELLS - 1 - moves) // 2)  # we cannot win on this ply
    if lo >= beta or lo == hi:
        return lo
    if hi <= alpha:
        return hi
    alpha = max(alpha, lo)
    beta = min(beta, hi)
    order = work[moves]
    n = _ordered_moves(current, mask, moves, nxt, order)
    opp = current ^ mask
    for j in range(n):  # enhanced transposition cutoff: a child already known to be good enough
        child_hi = _tt_bounds(table, _canonical(opp + (mask | order[j])))[1]
        if -child_hi >= beta:
            _tt_store(table, key, -child_hi, _NO_BOUND)
            return -child_hi
    for j in range(n):
        score = -_negamax(opp, mask | order[j], moves + 1, -beta, -alpha, table, work)
        if score >= beta:
            _tt_store(table, key, score, _NO_BOUND)
            return score
        alpha = max(alpha, score)
    _tt_store(table, key, -_NO_BOUND, alpha)
    return alpha


@numba.njit(cache=True)
def _solve(current, mask, moves, weak, table, work):
    """Value of any position for the mover: the sign in weak mode, else the exact score."""
    if has_four(current ^ mask):  # the previous mover has just won
        return -1 if weak else -((NUM_CELLS + 2 - moves) // 2)
    if moves >= NUM_CELLS:
        return 0
    if _can_win_now(current, mask):
        return 1 if weak else (NUM_CELLS + 1 - moves) // 2
    if weak:
        if _negamax(current, mask, moves, 0, 1, table, work) > 0:
            return 1
        return 0 if _negamax(current, mask, moves, -1, 0, table, work) > -1 else -1
    lo = -((NUM_CELLS - moves) // 2)
    hi = (NUM_CELLS + 1 - moves) // 2
    while lo < hi:  # null-window searches, probing near zero first (draws and close games)
        med = lo + (hi - lo) // 2
        if med <= 0 and lo // 2 < med:
            med = lo // 2
        elif med >= 0 and hi // 2 > med:
            med = hi // 2
        r = _negamax(current, mask, moves, med, med + 1, table, work)
        if r <= med:
            hi = r
        else:
            lo = r
    return lo


@numba.njit(cache=True)
def _move_values(current, mask, moves, weak, table, work):
    """int64 [7] value of each column for the mover (-solve of the child); ILLEGAL if not open."""
    out = np.full(WIDTH, ILLEGAL, dtype=np.int64)
    if has_four(current ^ mask) or moves >= NUM_CELLS:
        return out
    for col in range(WIDTH):
        if (mask >> (H1 * col + HEIGHT - 1)) & 1:
            continue
        child_mask = mask | (mask + (1 << (H1 * col)))
        out[col] = -_solve(current ^ mask, child_mask, moves + 1, weak, table, work)
    return out


def _next_prime(n: int) -> int:
    def is_prime(m: int) -> bool:
        return m > 1 and all(m % d for d in range(2, int(m**0.5) + 1))

    while not is_prime(n):
        n += 1
    return n


class Solver:
    """Holds the transposition table (8 bytes x 2^log2_size) so that calls share their work.

    Not thread-safe: searches write into the shared table and move buffers.
    """

    def __init__(self, log2_size: int = 23):
        if log2_size < 18:
            raise ValueError(f"log2_size must be >= 18 so table keys stay exact, got {log2_size}")
        self.table = np.zeros(_next_prime(1 << log2_size), dtype=np.int64)  # packed entries
        self.work = np.zeros((NUM_CELLS + 2, 16), dtype=np.int64)  # move buffers, node count

    def reset(self) -> None:
        """Forget every stored bound (only needed to time cold searches)."""
        self.table[:] = 0

    @property
    def nodes(self) -> int:
        """Positions searched so far (for benchmarks)."""
        return int(self.work[NUM_CELLS + 1, 0])

    def solve(self, state: C4State, weak: bool = True) -> int:
        """Value for the player to move: -1/0/+1 if weak, else the exact score (Pons' scale)."""
        return int(_solve(state.current, state.mask, state.moves, weak, self.table, self.work))

    def move_values(self, state: C4State, weak: bool = True) -> np.ndarray:
        """int64 [7]: value of each column for the mover; ILLEGAL (-1000) where it is not open."""
        return _move_values(state.current, state.mask, state.moves, weak, self.table, self.work)

    def best_moves(self, state: C4State, weak: bool = True) -> list[int]:
        """The 0-based columns that keep the best outcome (weak: best win/draw/loss class)."""
        values = self.move_values(state, weak)
        legal = values != ILLEGAL
        if not legal.any():
            return []
        best = values[legal].max()
        return [int(c) for c in np.flatnonzero(legal & (values == best))]
