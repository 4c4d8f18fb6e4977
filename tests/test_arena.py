"""The arena's bookkeeping: seats alternate, and the result says which seat won."""

import numpy as np

from lmzero.eval.arena import SolverPlayer, match
from lmzero.tasks import tictactoe as ttt
from lmzero.tasks.tictactoe import TicTacToe

GAME = TicTacToe()


class Lowest:
    """Always the lowest legal cell: X takes 0, 2, 4, 6 and wins on the 2-4-6 diagonal."""

    def choose(self, state) -> int:
        return int(np.flatnonzero(GAME.legal_mask(state))[0])


def test_a_seat_advantage_shows_as_wins_moving_first():
    result = match(GAME, Lowest, Lowest, 4)
    assert (result.wins, result.wins_first, result.draws, result.losses) == (2, 2, 0, 2)
    assert result.score == 0.5


def test_perfect_play_never_loses_and_wins_from_both_seats():
    result = match(GAME, lambda: SolverPlayer(GAME, ttt.move_values, seed=1), Lowest, 6)
    assert result.losses == 0 and result.wins == 6
    assert result.wins_first == 3  # three games from each seat
