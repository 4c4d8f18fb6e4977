"""Math word problems: the answer check (typed, symbolic, hostile input), the arithmetic-claim
check, problem files (GSM8K included), states and rewards, and the generator."""

import doctest
import hashlib
import json
import random

import pytest

from lmzero.tasks import ProblemError, load_task, math_answer, math_symbolic, mathgen, mathword
from lmzero.tasks.math_answer import (answers_match, check_arithmetic, false_claims,
                                      final_answer, gsm8k_answer)
from lmzero.tasks.mathword import TASK, Problem


@pytest.mark.parametrize("module", [math_answer, math_symbolic, mathword, mathgen])
def test_doctests_pass(module):
    result = doctest.testmod(module)
    assert result.failed == 0 and result.attempted > 0


# --- final answers ------------------------------------------------------------------------------

@pytest.mark.parametrize("step, answer", [
    ("Answer: 42", "42"), ("answer:42", "42"), ("ANSWER: $18.", "$18"),
    ("The answer is 42", "42"), ("So the final answer is: 7 apples.", "7 apples"),
    ("**Answer:** 12", "12"), ("#### 1,800", "1,800"), ("She has 5. #### 5", "5"),
    ("The total is \\boxed{\\frac{1}{2}}.", "\\frac{1}{2}"), ("\\boxed{{1}+{2}}", "{1}+{2}"),
    ("12 + 15 = 27", None), ("Answer:", None), ("We need the answer for the apples", None),
    ("\\boxed{12", None), ("", None),
])
def test_final_answer(step, answer):
    assert final_answer(step) == answer


def test_gsm8k_answer_takes_the_last_hash_line():
    assert gsm8k_answer("3 + 4 = <<3+4=7>>7\n#### 7") == "7"
    assert gsm8k_answer("#### 1\nmore\n####  2 ") == "2"
    assert gsm8k_answer(" 42 ") == "42"


# --- answer matching ----------------------------------------------------------------------------

@pytest.mark.parametrize("given, expected, percent, same", [
    ("18", "18", False, True), ("18.0", "18", False, True), ("$18", "18", False, True),
    ("18 dollars", "18", False, True), ("18 apples", "18.00", False, True),
    ("$18.00 per hour", "18", False, True), ("\\$18", "18", False, True),
    ("1,800", "1800", False, True), ("1,800.5", "1800.50", False, True),
    ("1,2", "12", False, False), ("12,34", "1234", False, False),
    ("3/4", "0.75", False, True), ("-5", "-5", False, True), ("-5", "5", False, False),
    ("$-5", "-5", False, True), ("\u22125", "-5", False, True),
    ("50%", "0.5", True, True), ("50%", "0.5", False, False), ("50%", "50", False, True),
    ("50 percent", "0.5", True, True), ("\\frac{3}{4}", "0.75", False, True),
    ("$\\frac{3}{4}$", "3/4", False, True), ("\\boxed{5}", "5", False, True),
    ("x = 5", "5", False, True), ("1 1/2", "1.5", False, True), ("1.5e3", "1500", False, True),
    ("19", "18", False, False), ("0.333", "1/3", False, False), ("18.", "18", False, True),
    ("2 pi", "2", False, False), ("5 x", "5", False, False), ("", "5", False, False),
    ("five", "5", False, False),
])
def test_numeric_answers(given, expected, percent, same):
    assert answers_match(given, expected, percent=percent) is same
    assert answers_match(expected, given, percent=percent) is same


@pytest.mark.parametrize("given, expected, same", [
    ("x+1", "1+x", True), ("\\frac{1}{2}", "0.5", True), ("sqrt(2)/2", "1/sqrt(2)", True),
    ("\\frac{\\sqrt{3}}{2}", "sqrt(3)/2", True), ("2x", "x*2", True), ("x^2", "x**2", True),
    ("\\sqrt{8}", "2\\sqrt{2}", True), ("\\frac{\\pi}{2}", "pi/2", True),
    ("(x+1)^2", "x^2+2x+1", True), ("x+2", "x+1", False), ("sqrt(2)", "1.414", False),
])
def test_symbolic_answers(given, expected, same, monkeypatch):
    monkeypatch.setattr(math_symbolic, "SYMBOLIC_TIMEOUT", 30.0)  # correctness, not speed
    assert answers_match(given, expected) is same


HOSTILE = ["9**9**9**9", "10**10**10", "9^9^9^9", "2**(64*64*64*64)", "factorial(10**9)",
           "1e999999999", "2*1e999999999", "1" * 10_000_000 + " apples", "x" * 10_000_000,
           "(" * 10_000 + "1" + ")" * 10_000, "\\frac{" * 5_000, "\\boxed{" * 10_000,
           "__import__('os').system('true')", "lambda: 1", "x.__class__", "\x00", "9" * 1000,
           "1/0", "0/0", "oo", "zoo", "nan"]


@pytest.mark.parametrize("hostile", HOSTILE, ids=lambda s: repr(s[:20]))
def test_hostile_answers_give_false_and_return(hostile):
    assert answers_match(hostile, "1") is False
    assert answers_match("1", hostile, percent=True) is False
    final_answer(hostile)  # returns, whatever it finds
    assert isinstance(false_claims(hostile), list)


def test_non_strings_never_raise():
    assert answers_match(None, "1") is False and answers_match(1, "1") is False
    assert final_answer(None) is None and false_claims(None) == []


def test_a_slow_symbolic_check_is_killed_and_the_next_one_works(monkeypatch):
    monkeypatch.setattr(math_symbolic, "SYMBOLIC_TIMEOUT", 30.0)
    assert answers_match("3*(y+3)", "3y+9") is True  # a worker is running
    before = math_symbolic._WORKER.proc.pid
    monkeypatch.setattr(math_symbolic, "SYMBOLIC_TIMEOUT", 0.2)
    # expanding a 4-variable polynomial to degree 60 takes sympy far longer than 0.2 s
    assert answers_match("(x+y+z+w+1)^60", "(x+y+z+w)^60 + 1") is False
    assert math_symbolic._WORKER.proc.pid != before  # killed, and a new one started
    monkeypatch.setattr(math_symbolic, "SYMBOLIC_TIMEOUT", 30.0)
    assert answers_match("2*(y+3)", "2y+6") is True


# --- arithmetic claims --------------------------------------------------------------------------

@pytest.mark.parametrize("step, errors", [
    ("12 + 15 = 27", []), ("12 + 15 = 28", ["12 + 15 = 27, not 28"]),
    ("3 * 5 = 15", []), ("48 / 4 = 12", []), ("48 / 4 = 13", ["48 / 4 = 12, not 13"]),
    ("He pays $12 x 3 = $36.", []), ("He pays $12 x 3 = $37.", ["12 x 3 = 36, not 37"]),
    ("2 + 3 + 4 = 9", []), ("2 + 3 * 4 = 14", []), ("2 + 3 + 4 = 10", ["2 + 3 + 4 = 9, not 10"]),
    ("1/3 = 0.33", []), ("2/3 = 0.67", []), ("2/3 = 0.66", ["2 / 3 = 2/3, not 0.66"]),
    ("7 / 2 = 3.5", []), ("10 / 4 = 2.5 cakes", []), ("1,200 + 300 = 1,500", []),
    ("3 * 4 = 12 + 2 = 14", []), ("5 / 0 = 0", ["division by zero in 5 / 0"]),
    ("5 - 8 = -3", []), ("(3 + 4) * 2 = 14", []), ("(3 + 4) * 2 = 15", []),
    ("2x + 3 = 7", []), ("1,2 + 3 = 5", []), ("50% * 10 = 5", []), ("x = 5 + 3 = 8", []),
    ("Step 1: 5 + 3 = 8 and 8 * 2 = 17", ["8 * 2 = 16, not 17"]),
    ("12 + 15 = 27, then 27 - 7 = 21", ["27 - 7 = 20, not 21"]), ("Answer: 20", []),
])
def test_false_claims(step, errors):
    assert false_claims(step) == errors
    assert check_arithmetic(step) == (errors[0] if errors else None)


# --- problem files ------------------------------------------------------------------------------

def test_reads_plain_and_gsm8k_lines(tmp_path):
    path = tmp_path / "p.jsonl"
    rows = [{"question": "Ann has 3 apples.\nShe buys 4 more. How many?", "answer": "7"},
            {"question": "Q two?", "answer": "He has 2 * 3 = <<2*3=6>>6.\n#### 1,800"},
            {"question": "Q three?", "answer": 18}, {"question": "Q four?", "answer": 2.5},
            {"question": "Q five?", "answer": "50%", "percent": True, "id": "extra keys ok"}]
    path.write_text("\n".join(json.dumps(r) for r in rows[:2]) + "\n\n"
                    + "\n".join(json.dumps(r) for r in rows[2:]) + "\n")
    problems = TASK.read_problems(path)
    assert [p.answer for p in problems] == ["7", "1,800", "18", "2.5", "50%"]
    assert problems[0].question == "Ann has 3 apples. She buys 4 more. How many?"
    assert problems[4].percent and TASK.problem_to_json(problems[4])["percent"] is True
    assert TASK.problem_to_json(problems[0]) == {"question": problems[0].question, "answer": "7"}
    assert all(TASK.bucket(p) == "unknown" for p in problems)


@pytest.mark.parametrize("line, message", [
    ('{"question": "Q?"}', "missing key 'answer'"),
    ('{"answer": "1"}', "missing key 'question'"),
    ('{"question": "", "answer": "1"}', "question must be a non-empty string"),
    ('{"question": 5, "answer": "1"}', "question must be a non-empty string"),
    ('{"question": "Q?", "answer": ""}', "answer must have 1 to"),
    ('{"question": "Q?", "answer": true}', "answer must be a string or a number"),
    ('{"question": "Q?", "answer": ["1"]}', "answer must be a string or a number"),
    ('{"question": "Q?", "answer": 1e999}', "answer must be a finite number"),
    ('{"question": "Q?", "answer": "####"}', "answer must have 1 to"),
    (json.dumps({"question": "Q" * 5000, "answer": "1"}), "question has 5000 characters"),
    (json.dumps({"question": "Q?", "answer": "1" * 300}), "answer must have 1 to"),
    ('{"question": "Q?", "answer": "1", "percent": "yes"}', "percent must be true or false"),
    ('["Q?", "1"]', "expected an object like"), ("{bad json", "bad JSON"),
])
def test_bad_lines_name_file_and_line(tmp_path, line, message):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"question": "Q?", "answer": "1"}\n' + line + "\n")
    with pytest.raises(ProblemError, match=f"bad.jsonl:2: .*{message[:20]}") as info:
        TASK.read_problems(path)
    assert "\n" not in str(info.value)


def test_parse_problem_takes_json_or_a_bare_question():
    assert TASK.parse_problem('{"question": "Q?", "answer": 3}') == Problem("Q?", "3")
    bare = TASK.parse_problem("  Ann has 3 apples.\n How many? ")
    assert bare == Problem("Ann has 3 apples. How many?", "")
    with pytest.raises(ProblemError):
        TASK.parse_problem("   ")


# --- states -------------------------------------------------------------------------------------

PROBLEM = Problem("Ann has 12 apples. She buys 5 more and gives away 3. How many apples does "
                  "she have now?", "14")


def run(steps, problem=PROBLEM):
    state = TASK.initial_state(problem)
    for step in steps:
        state = TASK.apply(state, step)
    return state


def test_a_correct_solution_is_rewarded():
    state = run(["12 + 5 = 17", "17 - 3 = 14", "Answer: 14"])
    assert TASK.is_terminal(state) and TASK.reward(state) == 1.0 and TASK.answer(state) == "14"
    assert TASK.prompt(state) == PROBLEM.question + "\n12 + 5 = 17\n17 - 3 = 14\nAnswer: 14\n"
    assert TASK.prompt(TASK.initial_state(PROBLEM)) == PROBLEM.question + "\n"


@pytest.mark.parametrize("final", ["The answer is 14.", "#### 14", "\\boxed{14}", "Answer: $14",
                                   "Answer: 14 apples", "So she has 14 apples. Answer: 14.0"])
def test_final_answer_forms_are_terminal(final):
    state = run(["12 + 5 = 17", final])
    assert TASK.is_terminal(state) and TASK.reward(state) == 1.0


def test_wrong_answer_and_reasoning_lines():
    state = run(["She buys 5 more, so 12 + 5 = 17 apples."])
    assert not TASK.is_terminal(state) and state.final is None and TASK.reward(state) == 0.0
    wrong = TASK.apply(state, "Answer: 15")
    assert TASK.is_terminal(wrong) and wrong.error is None and TASK.reward(wrong) == 0.0
    assert TASK.answer(wrong) is None


@pytest.mark.parametrize("steps, error", [
    (["She has 12 + 5 = 18"], "12 + 5 = 17, not 18"),
    (["12 + 5 = 17", "17 - 3 = 14. Answer: 15"], None),  # a true claim, a wrong answer: no error
    (["12 + 5 = 17", "17 - 3 = 15. Answer: 15"], "17 - 3 = 14, not 15"),
    (["   \n "], "empty step"),
    (["12 + 5 = 17"] * 12 + ["Answer: 14"], "more than 12 steps"),
    (["Answer: 14", "Answer: 14"], "the state is terminal: no step can follow"),
    (["x" * 3000], "step longer than 2000 characters"),
])
def test_dead_ends(steps, error):
    state = run(steps)
    assert state.error == error and TASK.is_terminal(state) and TASK.reward(state) == 0.0
    assert all("\n" not in s and len(s) <= 2000 for s in state.steps)


def test_steps_are_flattened_to_one_line():
    state = run(["12 + 5\n= 17  apples"])
    assert state.steps == ("12 + 5 = 17 apples",) and state.error is None


def test_hostile_final_answer_gives_zero():
    for hostile in ("9**9**9**9", "(" * 500 + ")" * 500, "10**10**10"):
        state = run([f"Answer: {hostile}"])
        assert TASK.is_terminal(state) and TASK.reward(state) == 0.0


def test_keys_separate_dead_ends_and_problems():
    good, bad = run(["12 + 5 = 17"]), run(["12 + 5 = 17"])
    assert TASK.key(good) == TASK.key(bad)
    assert TASK.key(run(["She has 12 + 5 = 18"])) != TASK.key(good)
    other = Problem(PROBLEM.question, "15")
    assert TASK.key(run(["12 + 5 = 17"], other)) != TASK.key(good)
    assert hash(Problem("q", "1", solution=("a",), ops=2)) == hash(Problem("q", "1"))


def test_registry_and_seam():
    assert load_task("math") is TASK
    assert TASK.name == "math" and TASK.buckets == ("2 ops", "3 ops", "4 ops", "5 ops", "6 ops")
    assert "Answer:" in TASK.instruction and TASK.judge_question.strip()
    assert len(set(TASK.characters)) == len(TASK.characters)


# --- held-out rule and generator ----------------------------------------------------------------

def test_heldout_rule_is_the_documented_hash():
    for p in mathgen.generate(50, seed=3, split="all"):
        text = " ".join(p.question.split())
        expect = int(hashlib.sha256(text.encode()).hexdigest(), 16) % 4 == 0
        assert TASK.is_heldout(p) == expect
        assert TASK.is_heldout(Problem(p.question.replace(" ", "  \n"), "?")) == expect


def test_generator_is_deterministic_and_splits_are_disjoint():
    a = TASK.generate(300, seed=5)
    assert [p.question for p in a] == [p.question for p in TASK.generate(300, seed=5)]
    assert [p.solution for p in a] == [p.solution for p in TASK.generate(300, seed=5)]
    assert len(set(a)) == 300
    held = TASK.generate(300, seed=5, split="heldout")
    assert not any(TASK.is_heldout(p) for p in a) and all(TASK.is_heldout(p) for p in held)
    assert not {p.question for p in a} & {p.question for p in held}
    with pytest.raises(ValueError, match="split must be"):
        TASK.generate(1, split="test")


@pytest.mark.parametrize("split", ["train", "heldout"])
def test_generated_problems_follow_the_rules(split):
    problems = TASK.generate(300, seed=11, split=split)
    allowed = set(TASK.characters)
    ops_seen = set()
    for p in problems:
        text = TASK.prompt(TASK.initial_state(p)) + "".join(s + "\n" for s in p.solution)
        assert set(text) <= allowed, text
        assert len(p.question) <= 200 and len(text) <= 300
        assert len(p.solution) == p.ops + 1 and TASK.bucket(p) == f"{p.ops} ops"
        assert 2 <= p.ops <= 6
        ops_seen.add(p.ops)
        for step in p.solution[:-1]:
            a, op, b, eq, c = step.split()
            a, b, c = int(a), int(b), int(c)
            assert eq == "=" and 0 < c < 10_000
            if op in "+-":
                assert a < 1000 and b < 1000
            elif op == "*":
                assert min(a, b) <= 12
            else:
                assert 2 <= b <= 12 and a == b * c
        assert max(len(s) for s in p.solution) < TASK.max_step_chars
        state = run(TASK.world_trajectory(p, random.Random(0)), p)
        assert state.error is None and TASK.reward(state) == 1.0, (p.question, state)
    assert ops_seen == {2, 3, 4, 5, 6}


def test_every_template_makes_every_operation_count_but_ages_six():
    rng = random.Random(0)
    for name in mathgen.TEMPLATES:
        for ops in mathgen.OPS:
            if name == "ages" and ops == 6:
                continue  # six relations rarely fit in 200 characters
            made = [mathgen.draw(rng, name, ops, top) for top in mathgen.RANGES * 40]
            assert any(p is not None and p.ops == ops for p in made), (name, ops)


def test_buckets_aim_the_generator_and_heldout_set():
    problems = TASK.generate_for_buckets(["3 ops", "6 ops", "elsewhere"], 10, seed=1)
    assert sorted(TASK.bucket(p) for p in problems) == ["3 ops"] * 5 + ["6 ops"] * 5
    assert not any(TASK.is_heldout(p) for p in problems)
    held = TASK.heldout_problems()
    assert len(held) == 200 and all(TASK.is_heldout(p) for p in held)


def test_only_generated_problems_have_a_world_trajectory():
    with pytest.raises(ValueError, match="only generated problems"):
        TASK.world_trajectory(PROBLEM, random.Random(0))


def test_a_calculator_call_gets_the_exact_result_and_can_be_turned_off():
    from dataclasses import replace as with_
    from lmzero.tasks.mathword import calculate
    assert calculate("48 / 5 = 9") == "48 / 5 = 9.6" and calculate("1 / 3 = 0") == "1 / 3 = 1/3"
    assert calculate("7 / 0 = 1") == "7 / 0 = 1"  # left to the claim check
    state = run(["12 + 5 = 18", "17 - 3 = 1"])
    assert state.steps == ("12 + 5 = 17", "17 - 3 = 14") and state.error is None
    strict = with_(TASK, calculator=False)
    dead = strict.apply(strict.initial_state(state.problem), "12 + 5 = 18")
    assert dead.error == "12 + 5 = 17, not 18" and strict.reward(dead) == 0.0
