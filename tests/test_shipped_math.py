"""The shipped math models (`lmzero/checkpoints/math-pretrain`, `lmzero/checkpoints/math`): they
load verified, and greedy decoding solves held-out generated problems, checked by the verifier
and by an independent recomputation of the answer from the gold steps."""

from fractions import Fraction

import pytest

from lmzero.eval.reasoning import MethodConfig, solve_problems
from lmzero.models.load import SHIPPED
from lmzero.models.tinylm_steps import load_step_model
from lmzero.tasks.mathword import TASK

PROBLEMS = TASK.generate(40, seed=999, split="heldout")


def gold(problem) -> Fraction:
    """The answer recomputed from the generator's gold steps, not by the task's checker."""
    *_, last = [s for s in problem.solution if "=" in s]
    return Fraction(last.rsplit("=", 1)[1].strip())


@pytest.mark.parametrize("name, floor", [("math-pretrain", 0.5), ("math", 0.6)])
def test_shipped_math_models_solve_heldout_problems_greedily(name, floor):
    model = load_step_model(SHIPPED / name, task=TASK)
    assert model.meta["task"] == "math" and "command" in model.meta
    results = solve_problems(TASK, model, PROBLEMS, MethodConfig(method="greedy", budget=None))
    assert sum(r.solved for r in results) / len(results) >= floor
    assert all(map(TASK.is_heldout, PROBLEMS))
    for problem, result in zip(PROBLEMS, results):
        if result.solved:
            assert Fraction(result.answer.strip("$")) == gold(problem) == Fraction(problem.answer)
