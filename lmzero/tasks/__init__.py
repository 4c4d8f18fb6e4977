"""Tasks: what is solved and how it is scored.

Games with closed action spaces (`Game`: tic-tac-toe, Connect Four, with exact solvers) and
reasoning tasks with open ones (`StepTask`: Game of 24, Countdown — the model writes each step as
text, `ArithTask` parses and checks it, an invalid step is a dead end).
"""

from lmzero.tasks.arith import ArithState, ArithTask, Problem, ProblemError, StepError
from lmzero.tasks.base import Game, StepTask

__all__ = ["ArithState", "ArithTask", "Game", "Problem", "ProblemError", "StepError", "StepTask"]
