"""Programming by example (`lmzero/tasks/pbe*.py`): the generator and its split, the grammar's
dead ends, world-model trajectories, and the verdict through the real sandbox (programs run
there, outputs are compared here), plus the shipped checkpoints' held-out figures."""

import numpy as np
import pytest

from lmzero.tasks import load_task, pbe_gen, pbe_verdict
from lmzero.tasks.pbe import MAX_LINES, TASK, PbeState
from lmzero.tasks.pbe_dsl import LINES, RETURN, characters, same, show, trusted_apply
from lmzero.tasks.pbe_gen import Problem


def solve(problem, lines):
    state = TASK.initial_state(problem)
    for line in lines:
        state = TASK.apply(state, line)
    return state


def test_registered_and_generator_is_deterministic_and_distinct():
    assert load_task("pbe") is TASK
    a, b = TASK.generate(60, seed=3), TASK.generate(60, seed=3)
    assert [p.text for p in a] == [p.text for p in b]
    assert [p.solution for p in a] == [p.solution for p in b]
    assert len({p.text for p in a}) == 60
    assert [p.text for p in TASK.generate(60, seed=4)] != [p.text for p in a]


def test_split_is_a_rule_of_the_examples_and_disjoint():
    train, heldout = TASK.generate(300, seed=1), TASK.generate(100, seed=1, split="heldout")
    assert not any(map(TASK.is_heldout, train)) and all(map(TASK.is_heldout, heldout))
    assert not {p.text for p in train} & {p.text for p in heldout}
    mixed = TASK.generate(400, seed=2, split="all")
    share = sum(map(TASK.is_heldout, mixed)) / len(mixed)
    assert 0.15 < share < 0.35  # a quarter by hash
    twin = Problem(heldout[0].examples)  # same examples, no solution: the same problem
    assert twin == heldout[0] and TASK.is_heldout(twin)


def test_generated_examples_are_informative_and_reproduced_by_the_hidden_program():
    for problem in TASK.generate(100, seed=5, split="all"):
        values = problem.values()
        assert 1 <= len(problem.solution) <= 4
        assert sum(show(i) != show(o) for i, o in values) >= 3
        assert len({show(o) for _, o in values}) > 1
        for given, expected in values:
            for line in problem.solution:
                given = trusted_apply(line, given)
            assert same(given, expected)


def test_json_round_trip_and_bad_problems():
    problem = TASK.generate(1, seed=7)[0]
    assert TASK.problem_from_json(TASK.problem_to_json(problem)) == problem
    for row in ({"examples": [["__import__('os')", "1"]]}, {"examples": "x"},
                {"examples": [["[1]", "[1]"]], "solution": ["import os"]}, {}):
        with pytest.raises(ValueError):
            TASK.problem_from_json(row)


@pytest.mark.parametrize("steps", [
    ["import os"], ["x = __import__('os').getcwd()"], ["x = sorted(x); import os"],
    ["x = sorted(x)  # ok?"], ["x = open('/etc/passwd').read()"], [RETURN],
    ["x = sorted(x)"] * (MAX_LINES + 1), ["x = sorted(x)", RETURN, "x = len(x)"]])
def test_a_step_outside_the_grammar_is_a_dead_end(steps, monkeypatch):
    monkeypatch.setattr(pbe_verdict, "sandbox", lambda: pytest.fail("a dead end never runs"))
    state = solve(TASK.generate(1, seed=8)[0], steps)
    assert state.error is not None and TASK.is_terminal(state) and TASK.reward(state) == 0.0
    assert TASK.prompt(state).count("\n") == 1 + len(steps)  # one line per step, as written


def test_step_language_fits_the_vocabulary_and_the_step_limit():
    vocab = set(TASK.characters)
    assert len(vocab) == len(TASK.characters) == len(characters())
    assert max(len(line) + 1 for line in LINES) <= TASK.max_step_chars
    for problem in TASK.generate(200, seed=9, split="all"):
        assert set(TASK.prompt(solve(problem, [*problem.solution, RETURN]))) <= vocab


def test_world_trajectories_are_legal_and_their_rewards_true():
    rng = np.random.default_rng(0)
    seen = set()
    for problem in TASK.generate(60, seed=10):
        steps = TASK.world_trajectory(problem, rng)
        state = solve(problem, steps)
        assert state.error is None and state.complete and steps[-1] == RETURN
        reward = pbe_verdict._cache[(problem.examples, tuple(steps))]  # computed, not run
        assert reward == (1.0 if tuple(steps[:-1]) == problem.solution else reward)
        seen.add(reward)
    assert seen == {0.0, 1.0}


# -- the verdict through the real sandbox -------------------------------------------------------

def test_verdict_runs_in_the_sandbox_and_compares_outside():
    problems = TASK.generate(6, seed=11)
    right = [solve(p, [*p.solution, RETURN]) for p in problems]
    wrong = [solve(p, ["x = x[::-1]", "x = x[::-1]", RETURN]) for p in problems]  # identity
    pbe_verdict._cache.clear()
    assert [TASK.reward(s) for s in right] == [1.0] * 6
    assert [TASK.reward(s) for s in wrong] == [0.0] * 6
    assert TASK.answer(right[0]) == "; ".join([*problems[0].solution, RETURN])
    assert TASK.answer(wrong[0]) is None


def test_verdicts_are_cached_per_program(monkeypatch):
    problem = TASK.generate(1, seed=12)[0]
    state = solve(problem, [*problem.solution, RETURN])
    pbe_verdict._cache.clear()
    assert TASK.reward(state) == 1.0
    monkeypatch.setattr(pbe_verdict, "sandbox", lambda: pytest.fail("asked twice"))
    assert TASK.reward(state) == 1.0


def test_hostile_and_wrong_typed_programs_fail_in_the_sandbox():
    """Programs no DSL state can hold, judged directly: they run sandboxed and score 0; a value
    of the wrong type (True for 1, a tuple for a list) is not a match."""
    examples = (("[1,2]", "2"), ("[5]", "1"))
    hostile = [("import os", "x = os.listdir('/')"), ("x = open('/etc/passwd').read()",),
               ("while True: pass",), ("raise SystemExit(0)",), ("x = [v * 0 for v in x]",)]
    assert pbe_verdict.run_verdicts([(examples, lines) for lines in hostile]) == [0.0] * 5
    assert pbe_verdict.run_verdicts([(examples, ("x = len(x)",))]) == [1.0]  # the control
    ones, pair = (("[5]", "1"), ("[7]", "1")), (("[1,2]", "[1,2]"),)
    assert pbe_verdict.run_verdicts([(ones, ("x = bool(len(x))",)),  # True == 1, not same
                                     (pair, ("x = tuple(x)",))]) == [0.0, 0.0]


def test_a_state_holding_a_non_dsl_line_is_never_run(monkeypatch):
    monkeypatch.setattr(pbe_verdict, "sandbox", lambda: pytest.fail("never run"))
    problem = TASK.generate(1, seed=13)[0]
    state = PbeState(problem, ("import os", RETURN))  # built around `apply`
    assert TASK.reward(state) == 0.0


# -- the shipped checkpoints --------------------------------------------------------------------

HELDOUT = TASK.generate(60, seed=999, split="heldout")


@pytest.mark.slow
@pytest.mark.parametrize("name, floor", [("pbe-pretrain", 0.0), ("pbe", 0.05)])
def test_shipped_pbe_models_write_valid_programs_and_solve_greedily(name, floor):
    """Measured greedy on this slice: world model 0/60 (it needs search: MCTS at 32 calls
    26% on `lmzero eval`'s 100), self-improved 4/60; every greedy program is valid DSL."""
    from lmzero.eval.reasoning import MethodConfig, solve_problems
    from lmzero.models.load import SHIPPED
    from lmzero.models.tinylm_steps import load_step_model
    model = load_step_model(SHIPPED / name, task=TASK)
    assert model.meta["task"] == "pbe" and "command" in model.meta
    results = solve_problems(TASK, model, HELDOUT, MethodConfig(method="greedy", budget=None))
    assert sum(r.solved for r in results) / len(results) >= floor
    valid = [r.final_state.error is None and r.final_state.complete for r in results]
    assert sum(valid) >= 0.9 * len(results)
