"""The shipped Countdown model (`lmzero/checkpoints/countdown`): it loads verified, names the
command that made it, and search with it solves held-out problems, every answer re-evaluated
here from its expression text (not by the task's checker)."""

import pytest

from lmzero.eval.reasoning import MethodConfig, solve_problems
from lmzero.models.load import SHIPPED
from lmzero.models.tinylm_steps import load_step_model
from lmzero.tasks.countdown import TASK
from tests.test_arith import evaluate

PROBLEMS = TASK.heldout_problems()[:40]


@pytest.fixture(scope="module")
def model():
    return load_step_model(SHIPPED / "countdown", task=TASK)


def test_shipped_countdown_model_names_its_command_and_task(model):
    assert model.meta["task"] == "countdown" and "lmzero train countdown" in model.meta["command"]
    assert all(map(TASK.is_heldout, PROBLEMS)) and {len(p.numbers) for p in PROBLEMS} == {4}


@pytest.mark.slow  # statistical: 40 searches at 64 calls (~30 s)
def test_search_with_the_shipped_model_solves_most_heldout_problems(model):
    results = solve_problems(TASK, model, PROBLEMS, MethodConfig(method="mcts", budget=64,
                                                                 seed=0))
    assert sum(r.solved for r in results) / len(results) >= 0.5  # 62.5% when shipped
    for problem, result in zip(PROBLEMS, results):
        if result.solved:
            assert evaluate(result.answer) == (problem.target, list(problem.numbers))


@pytest.mark.slow  # statistical: 40 searches at 64 calls, every legal step scored (~20 s)
def test_search_over_legal_steps_solves_more(model):
    results = solve_problems(TASK, model, PROBLEMS, MethodConfig(method="mcts", budget=64,
                                                                 seed=0, actions="legal"))
    assert sum(r.solved for r in results) / len(results) >= 0.75  # 85% when shipped
    for problem, result in zip(PROBLEMS, results):
        if result.solved:
            assert evaluate(result.answer) == (problem.target, list(problem.numbers))
