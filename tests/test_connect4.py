"""Connect Four rules, random playouts and the exact solver, checked against plain references.

The references here (a list-of-columns board, a scan for four around the last stone, and an
unpruned minimax) share no code with the bitboard implementation, so agreement means something.
"""

from __future__ import annotations

import numpy as np
import pytest

from lmzero.tasks.connect4 import C4State, ConnectFour, encode, from_moves, render
from lmzero.tasks.connect4_solver import ILLEGAL, Solver

GAME = ConnectFour()
DRAW_SEQ = "316573124532754444221262613114577756763653"  # a full board with no four


@pytest.fixture(scope="module")
def solver() -> Solver:
    return Solver(log2_size=20)


# ---------------------------------------------------------------- independent reference


def ref_board(seq: str) -> list[list[int]]:
    """Columns of player ids (0 = first player), bottom first; assumes `seq` is legal."""
    cols: list[list[int]] = [[] for _ in range(7)]
    for i, ch in enumerate(seq):
        cols[int(ch) - 1].append(i % 2)
    return cols


def ref_four_at(cols: list[list[int]], c: int, r: int) -> bool:
    """Does the stone at column c, row r lie on a line of four of its colour?"""
    who = cols[c][r]

    def owner(cc: int, rr: int) -> int | None:
        return cols[cc][rr] if 0 <= cc < 7 and 0 <= rr < len(cols[cc]) else None

    for dc, dr in ((1, 0), (0, 1), (1, 1), (1, -1)):
        run = 1
        for sign in (1, -1):
            k = 1
            while owner(c + sign * k * dc, r + sign * k * dr) == who:
                run += 1
                k += 1
        if run >= 4:
            return True
    return False


def ref_score(cols: list[list[int]], moves: int, last: tuple[int, int] | None, memo=None) -> int:
    """Unpruned minimax in Pons' scale for the player to move (win with k-th stone: 22 - k).

    `memo` only caches finished subtrees (keyed by the board), it never cuts a search short.
    """
    if last is not None and ref_four_at(cols, *last):
        return -((44 - moves) // 2)
    if moves == 42:
        return 0
    memo = {} if memo is None else memo
    key = tuple(tuple(col) for col in cols)
    if key not in memo:
        best = -100
        for c in range(7):
            if len(cols[c]) < 6:
                cols[c].append(moves % 2)
                best = max(best, -ref_score(cols, moves + 1, (c, len(cols[c]) - 1), memo))
                cols[c].pop()
        memo[key] = best
    return memo[key]


def ref_wins_now(cols: list[list[int]], who: int) -> list[int]:
    """Columns where player `who` would complete four right now."""
    wins = []
    for c in range(7):
        if len(cols[c]) < 6:
            cols[c].append(who)
            if ref_four_at(cols, c, len(cols[c]) - 1):
                wins.append(c)
            cols[c].pop()
    return wins


def ref_random_seq(ply: int, rng: np.random.Generator, careful: bool = False) -> str:
    """A random move string of `ply` moves in which nobody has won yet.

    careful: block the opponent's immediate wins and avoid handing them one, so that the games
    last longer and late positions stay undecided, i.e. harder for the solver.
    """
    while True:
        cols: list[list[int]] = [[] for _ in range(7)]
        seq = ""
        for i in range(ply):
            moves = [k for k in range(7) if len(cols[k]) < 6]
            if careful:
                block = [c for c in ref_wins_now(cols, 1 - i % 2) if c in moves]
                safe = []
                for c in block or moves:
                    cols[c].append(i % 2)
                    if not ref_wins_now(cols, 1 - i % 2):
                        safe.append(c)
                    cols[c].pop()
                moves = safe or block or moves
            c = int(rng.choice(moves))
            cols[c].append(i % 2)
            seq += str(c + 1)
            if ref_four_at(cols, c, len(cols[c]) - 1):
                break
        else:
            return seq


def sign(x: int) -> int:
    return (x > 0) - (x < 0)


# ---------------------------------------------------------------- parsing and rules


def test_from_moves_matches_apply_and_renders():
    state = GAME.initial_state()
    for col in (3, 3, 4, 2):
        state = GAME.apply(state, col)
    assert from_moves("4453") == state == GAME.from_moves("4453")
    assert from_moves("") == GAME.initial_state() == C4State(0, 0, 0)
    assert state.moves == 4 and GAME.to_play(state) == 0
    lines = render(state).splitlines()
    assert lines[-1] == "1 2 3 4 5 6 7"
    assert lines[-2] == ". . O X X . ."
    assert lines[-3] == ". . . O . . ."
    cells = encode(state)  # int8 [42], mover (X) = 1, row-major from the bottom
    assert cells.shape == (42,) and cells.dtype == np.int8
    assert list(cells[:7]) == [0, 0, -1, 1, 1, 0, 0] and cells[7 + 3] == -1
    assert np.count_nonzero(cells) == 4


@pytest.mark.parametrize(
    "seq, message",
    [
        ("44a", r"'a' is not a column digit 1-7 \(move 3\)"),
        ("4 4", r"' ' is not a column digit 1-7 \(move 2\)"),
        ("448", r"column 8 is out of range 1-7 \(move 3\)"),
        ("0", r"column 0 is out of range 1-7 \(move 1\)"),
        ("1111111", r"column 1 is full \(move 7\)"),
        ("12121212", r"game is already over before move 8"),
    ],
)
def test_from_moves_errors(seq, message):
    with pytest.raises(ValueError, match=message):
        from_moves(seq)


def test_apply_rejects_illegal_moves():
    with pytest.raises(ValueError, match="out of range"):
        GAME.apply(GAME.initial_state(), 7)
    with pytest.raises(ValueError, match="full"):
        GAME.apply(from_moves("111111"), 0)
    with pytest.raises(ValueError, match="finished"):
        GAME.apply(from_moves("1212121"), 4)


@pytest.mark.parametrize(
    "seq",
    [
        "1122334",  # horizontal, bottom row
        "1212121",  # vertical
        "12234334744",  # diagonal /
        "76654554144",  # diagonal \ (the mirror image)
        "4455667",  # horizontal, touching the right edge
    ],
)
def test_terminal_detection_for_each_direction(seq):
    before, after = from_moves(seq[:-1]), from_moves(seq)
    assert not GAME.is_terminal(before) and GAME.winner(before) is None
    assert GAME.is_terminal(after) and GAME.terminal_value(after) == -1.0
    winner = (len(seq) - 1) % 2
    assert GAME.winner(after) == winner
    cols = ref_board(seq)
    last = int(seq[-1]) - 1
    assert ref_four_at(cols, last, len(cols[last]) - 1)
    assert not GAME.legal_mask(after).any()


def test_second_player_win_and_full_board_draw():
    assert not GAME.is_terminal(from_moves("1232425"))
    o_wins = from_moves("12324252")  # O stacks four in column 2
    assert GAME.is_terminal(o_wins) and GAME.winner(o_wins) == 1
    draw = from_moves(DRAW_SEQ)
    assert draw.moves == 42 and GAME.is_terminal(draw)
    assert GAME.winner(draw) is None and GAME.terminal_value(draw) == 0.0
    assert not GAME.legal_mask(draw).any()
    cols = ref_board(DRAW_SEQ)
    assert not any(ref_four_at(cols, c, r) for c in range(7) for r in range(6))


def test_legal_mask_and_keys():
    state = from_moves("111111222")
    assert list(GAME.legal_mask(state)) == [False, True, True, True, True, True, True]
    assert GAME.key(from_moves("12")) != GAME.key(from_moves("21"))
    assert GAME.key(from_moves("1324")) == GAME.key(from_moves("2413"))  # transposition
    assert GAME.key(from_moves("45")) != GAME.key(from_moves("43"))


# ---------------------------------------------------------------- random playouts


def test_rollout_values_and_reproducibility():
    state = from_moves("4453")
    values = [GAME.rollout(state, np.random.default_rng(s)) for s in range(200)]
    assert set(values) <= {-1.0, 0.0, 1.0} and len(set(values)) > 1
    again = [GAME.rollout(state, np.random.default_rng(s)) for s in range(200)]
    assert values == again
    a = GAME.rollouts(state, 500, np.random.default_rng(7))
    b = GAME.rollouts(state, 500, np.random.default_rng(7))
    assert a.shape == (500,) and np.array_equal(a, b)
    assert GAME.rollout(from_moves("1212121"), np.random.default_rng(0)) == -1.0
    assert GAME.rollout(from_moves(DRAW_SEQ), np.random.default_rng(0)) == 0.0


def test_rollout_statistics_from_empty_board():
    """Uniform random play: the first player wins ~55.6%, loses ~44.2% (so mean ~ +0.11)."""
    out = GAME.rollouts(GAME.initial_state(), 40_000, np.random.default_rng(3))
    assert abs(out.mean() - 0.114) < 0.02
    # one move in: the value flips sign for the new mover
    after = GAME.rollouts(from_moves("1"), 40_000, np.random.default_rng(4))
    assert after.mean() < 0


def test_rollout_immediate_win_is_found_often():
    """X threatens 2 and 6 on the bottom row; random play still wins for X more often."""
    out = GAME.rollouts(from_moves("445544"), 5_000, np.random.default_rng(5))
    assert out.mean() > 0.3


# ---------------------------------------------------------------- solver


def test_solver_matches_brute_force_on_late_positions(solver):
    rng = np.random.default_rng(11)
    for i in range(40):
        seq = ref_random_seq(int(rng.integers(28, 38)), rng, careful=i % 2 == 0)
        state, cols = from_moves(seq), ref_board(seq)
        expect = ref_score(cols, len(seq), None)
        assert solver.solve(state, weak=False) == expect, seq
        assert solver.solve(state, weak=True) == sign(expect), seq
        strong, weak = solver.move_values(state, weak=False), solver.move_values(state, weak=True)
        for c in range(7):
            if len(cols[c]) == 6:
                assert strong[c] == ILLEGAL and weak[c] == ILLEGAL
                continue
            cols[c].append(len(seq) % 2)
            child = -ref_score(cols, len(seq) + 1, (c, len(cols[c]) - 1))
            cols[c].pop()
            assert strong[c] == child and weak[c] == sign(child), (seq, c)
        assert solver.best_moves(state, weak=False) == list(np.flatnonzero(strong == strong.max()))


def test_solver_known_results(solver):
    win_now = from_moves("445566")  # X to move, three in a row on the bottom
    assert solver.solve(win_now) == 1
    assert solver.solve(win_now, weak=False) == (43 - 6) // 2  # wins with its 4th stone: 18
    values = solver.move_values(win_now)
    assert values[2] == 1 and values[6] == 1  # both ends complete four
    assert set(solver.best_moves(win_now)) >= {2, 6}
    lost = from_moves("4455443")  # O to move; X threatens both ends of its bottom three
    assert solver.solve(lost) == -1
    assert solver.solve(lost, weak=False) == -((42 - 7) // 2)  # X wins with its 5th stone
    assert (solver.move_values(lost) == -1).all()
    over = from_moves("1212121")
    assert solver.solve(over) == -1 and (solver.move_values(over) == ILLEGAL).all()
    assert solver.best_moves(over) == []
    assert solver.solve(from_moves(DRAW_SEQ)) == 0


def test_weak_and_strong_agree_on_sign():
    """Separate tables, so neither mode can lean on bounds the other one stored."""
    weak_solver, strong_solver = Solver(log2_size=20), Solver(log2_size=20)
    rng = np.random.default_rng(21)
    for i, ply in enumerate([12, 14, 16, 16, 16, 16, 18, 18, 20, 22] * 2):
        state = from_moves(ref_random_seq(ply, rng, careful=i % 2 == 0))
        weak = weak_solver.move_values(state, weak=True)
        strong = strong_solver.move_values(state, weak=False)
        legal = GAME.legal_mask(state)
        assert np.array_equal(weak[legal], np.sign(strong[legal])), render(state)
        assert weak_solver.solve(state) == sign(strong_solver.solve(state, weak=False))
    state = from_moves("44444362")  # a ply-8 position, cold tables
    assert Solver(20).solve(state, weak=True) == sign(Solver(20).solve(state, weak=False)) == 1


def test_solver_rejects_tiny_tables():
    with pytest.raises(ValueError, match="log2_size"):
        Solver(log2_size=10)


# ---------------------------------------------------------------- open_spiel cross-check


def test_rules_agree_with_open_spiel():
    pyspiel = pytest.importorskip("pyspiel")
    spiel_game = pyspiel.load_game("connect_four")
    rng = np.random.default_rng(31)
    for _ in range(200):
        ours, theirs = GAME.initial_state(), spiel_game.new_initial_state()
        while True:
            assert GAME.is_terminal(ours) == theirs.is_terminal()
            if theirs.is_terminal():
                break
            assert list(np.flatnonzero(GAME.legal_mask(ours))) == theirs.legal_actions()
            action = int(rng.choice(theirs.legal_actions()))
            ours, theirs = GAME.apply(ours, action), theirs.child(action)
        returns = theirs.returns()  # [first player, second player]
        winner = GAME.winner(ours)
        expect = None if returns[0] == 0 else (0 if returns[0] > 0 else 1)
        assert winner == expect
