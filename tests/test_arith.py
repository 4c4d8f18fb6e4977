"""Game of 24 and Countdown: the verifier's every error path, exact counts, splits and problem IO.

Ground truth here is independent of the module: a brute-force enumerator of expression trees and a
tiny safe evaluator of answers (Fractions, no eval), both written out below.
"""

import json
import re
from dataclasses import replace
from fractions import Fraction

import numpy as np
import pytest

from lmzero.tasks import arith, countdown, game24
from lmzero.tasks.arith import (ArithTask, Problem, ProblemError, StepError, check_step,
                                format_number, parse_number, parse_problem_text, parse_step,
                                read_problems, write_problems)

G24 = game24.TASK
CD = countdown.TASK
SOLUTION = ["13 - 9 = 4 (left: 4 4 10)", "10 - 4 = 6 (left: 4 6)", "6 * 4 = 24 (left: 24)"]


def p(text):
    numbers, _, target = text.partition("->")
    return Problem.make([int(n) for n in numbers.split()], int(target or 24))


def play(task, problem, steps):
    state = task.initial_state(problem)
    for step in steps:
        state = task.apply(state, step)
    return state


def evaluate(expr):
    """(value, numbers used) of an infix expression, by recursive descent over Fractions."""
    tokens = re.findall(r"\d+|[-+*/()]", expr)
    assert "".join(tokens) == expr.replace(" ", ""), f"stray characters in {expr!r}"
    pos, used = 0, []

    def atom():
        nonlocal pos
        token = tokens[pos]
        pos += 1
        if token == "(":
            value = sum_()
            assert tokens[pos] == ")"
            pos += 1
            return value
        used.append(int(token))
        return Fraction(int(token))

    def chain(sub, ops):
        nonlocal pos
        value = sub()
        while pos < len(tokens) and tokens[pos] in ops:
            op = tokens[pos]
            pos += 1
            value = arith.OPS[op](value, sub())
        return value

    def product():
        return chain(atom, "*/")

    def sum_():
        return chain(product, "+-")

    value = sum_()
    assert pos == len(tokens)
    return value, sorted(used)


def brute_force(numbers, target):
    """Every canonical expression (+ and * children sorted) over all numbers equal to target."""
    found = set()

    def walk(items):
        if len(items) == 1:
            if items[0][0] == target:
                found.add(items[0][1])
            return
        for i in range(len(items)):
            for j in range(i + 1, len(items)):
                (a, ea), (b, eb) = items[i], items[j]
                rest = items[:i] + items[i + 1:j] + items[j + 1:]
                new = [(a + b, "(%s + %s)" % tuple(sorted((ea, eb)))),
                       (a * b, "(%s * %s)" % tuple(sorted((ea, eb))))]
                new += [(a - b, f"({ea} - {eb})")] if a >= b else []
                new += [(b - a, f"({eb} - {ea})")] if b >= a else []
                new += [(a / b, f"({ea} / {eb})")] if b else []
                new += [(b / a, f"({eb} / {ea})")] if a else []
                for item in new:
                    walk(rest + [item])

    walk([(Fraction(n), str(n)) for n in numbers])
    return found


# --- numbers and steps ------------------------------------------------------------------------

def test_numbers_format_in_lowest_terms_and_round_trip():
    for x in [Fraction(4), Fraction(-3), Fraction(1, 5), Fraction(-7, 3), Fraction(0)]:
        assert parse_number(format_number(x)) == x
    assert format_number(Fraction(6, 4)) == "3/2" and parse_number("6/4") == Fraction(3, 2)


@pytest.mark.parametrize("text, message", [
    ("13 - 9 = 4", "does not match 'A op B = R (left: N N ...)'"),
    ("13 - 9 = 4 (left: )", "does not match"),
    ("13-9 = 4 (left: 4 4 10)", "does not match"),
    ("13 x 9 = 4 (left: 4 4 10)", "unknown operator 'x' (use one of + - * /)"),
    ("13 - 9 = 4.0 (left: 4 4 10)", "bad number '4.0'"),
    ("13 - nine = 4 (left: 4 4 10)", "bad number 'nine'"),
    ("13 - 9 = 4 (left: 4 4 ten)", "bad number 'ten'"),
    ("1/0 + 9 = 4 (left: 4 4 10)", "bad number '1/0' (zero denominator)"),
    ("9" * 5000 + " + 9 = 4 (left: 4 4 10)", "bad number '99999"),
])
def test_parse_step_rejects_each_malformed_step(text, message):
    with pytest.raises(StepError, match=re.escape(message)):
        parse_step(text)


def test_parse_step_reads_fractions_negatives_and_surrounding_whitespace():
    step = parse_step("  1/5 - 2 = -9/5 (left: 5 -9/5)\n")
    assert (step.a, step.op, step.b, step.result) == (Fraction(1, 5), "-", 2, Fraction(-9, 5))
    assert step.left == (Fraction(-9, 5), 5)


@pytest.mark.parametrize("problem, steps, message", [
    ("4 9 10 13", ["7 + 9 = 16 (left: 4 10 13 16)"], "7 is not among the remaining numbers 4 9"),
    ("4 9 10 13", ["13 - 7 = 6 (left: 4 6 9 10)"], "7 is not among the remaining numbers 4 9"),
    ("4 9 10 13", ["4 - 4 = 0 (left: 0 9 10 13)"],
     "4 - 4 needs two 4s but the remaining numbers are 4 9 10 13"),
    ("4 9 10 13", ["13 - 9 = 5 (left: 4 5 10)"], "13 - 9 = 4, not 5"),
    ("4 9 10 13", ["13 - 9 = 4 (left: 4 10)"], "left should be 4 4 10, not 4 10"),
    ("4 9 10 13", ["13 - 9 = 4 (left: 4 4 10 13)"], "left should be 4 4 10, not 4 4 10 13"),
    ("4 4 10 13", ["4 - 4 = 0 (left: 0 10 13)", "10 / 0 = 0 (left: 0 13)"],
     "division by zero: 10 / 0"),
    ("4 9 10 13", SOLUTION + ["24 - 24 = 0 (left: 0)"], "the state is terminal"),
    ("4 9 10 13", ["13 - 9 = 5 (left: 4 5 10)", "13 - 9 = 4 (left: 4 4 10)"],
     "the branch is already a dead end: 13 - 9 = 4, not 5"),
])
def test_bad_steps_raise_in_check_step_and_end_the_branch_in_apply(problem, steps, message):
    *before, bad = steps
    state = play(G24, p(problem), before)
    with pytest.raises(StepError, match=re.escape(message)):
        check_step(state, bad)
    dead = G24.apply(state, bad)  # never raises
    assert message in dead.error and dead.steps[-1] == bad
    assert G24.is_terminal(dead) and G24.reward(dead) == 0.0 and not G24.solved(dead)
    assert G24.answer(dead) is None and G24.legal_steps(dead) == []
    if state.error is None:  # a dead end keeps its parent's numbers but not its key
        assert G24.key(dead) != G24.key(state)


def test_a_step_uses_two_equal_numbers_only_when_both_remain():
    state = check_step(G24.initial_state(p("4 4 10 13")), "4 - 4 = 0 (left: 0 10 13)")
    assert state.numbers == (0, 10, 13)


def test_left_may_be_written_in_any_order_and_is_stored_sorted():
    state = check_step(G24.initial_state(p("4 9 10 13")), "13 - 9 = 4 (left: 10 4 4)")
    assert state.steps == ("13 - 9 = 4 (left: 4 4 10)",)


# --- the calculator ---------------------------------------------------------------------------

def test_the_calculator_keeps_the_operation_and_writes_the_result_and_numbers_left():
    assert CD.calculator and not G24.calculator  # Countdown's default; the 24 model writes all
    state = play(CD, p("3 7 25 50 -> 147"), ["25 * 7 = 165 (left: 3 50 165)",
                                             "50 x 3 = 1 (left: 1)"])
    assert state.steps[0] == "25 * 7 = 175 (left: 3 50 175)"
    assert "unknown operator 'x'" in state.error  # garbled text is still a dead end
    slipped = play(CD, p("3 7 25 50 -> 147"), ["25 * 7 = 165 (left: 3 50 165)"])
    off = replace(CD, calculator=False)
    assert play(off, p("3 7 25 50 -> 147"), ["25 * 7 = 165 (left: 3 50 165)"]).error == \
        "25 * 7 = 175, not 165"
    assert slipped.error is None and slipped.numbers == (3, 50, 175)
    done = play(CD, p("3 7 25 50 -> 147"),
                ["50 / 25 = 2", "7 * 2 = 14", "14 * 3", "42 + 0 = 147 (left: 147)"])
    assert done.numbers == (42,) and not CD.solved(done)  # the result is computed, not claimed


@pytest.mark.parametrize("step, message", [
    ("8 * 25 = 200 (left: 3 7 50 200)", "8 is not among the remaining numbers 3 7 25 50"),
    ("7 * 7 = 49 (left: 3 25 49 50)", "7 * 7 needs two 7s but the remaining numbers are"),
    ("50 / 0 = 0 (left: 0 3 7 25)", "0 is not among the remaining numbers"),
    ("25 *7 = 175 (left: 3 50 175)", "does not match 'A op B = R (left: N N ...)'"),
])
def test_the_calculator_never_invents_a_number(step, message):
    dead = CD.apply(CD.initial_state(p("3 7 25 50 -> 147")), step)
    assert message in dead.error and CD.reward(dead) == 0.0 and dead.steps == (step,)


def test_the_calculator_solves_only_what_the_operations_solve():
    steps = ["50 * 3 = 1 (left: 1)", "150 - 7 = 2 (left: 2)", "143 + 25 = 3 (left: 3)"]
    state = play(CD, p("3 7 25 50 -> 168"), steps)
    assert CD.solved(state) and CD.answer(state) == "((50 * 3) - 7) + 25"
    assert evaluate(CD.answer(state)) == (168, [3, 7, 25, 50])


# --- the task ---------------------------------------------------------------------------------

def test_known_solution_of_4_9_10_13_scores_1_and_its_answer_evaluates_to_24():
    state = play(G24, p("4 9 10 13"), SOLUTION)
    assert G24.reward(state) == 1.0 and G24.solved(state) and G24.is_terminal(state)
    assert G24.answer(state) == "(10 - 4) * (13 - 9)"
    assert evaluate(G24.answer(state)) == (24, [4, 9, 10, 13])


def test_prompt_is_the_problem_line_then_one_line_per_step():
    state = play(G24, p("4 9 10 13"), SOLUTION[:1])
    assert G24.prompt(state) == "4 9 10 13 -> 24\n13 - 9 = 4 (left: 4 4 10)\n"
    assert G24.prompt(G24.initial_state(p("3 7 25 50 -> 147"))) == "3 7 25 50 -> 147\n"


def test_a_wrong_final_value_scores_0():
    state = play(G24, p("4 9 10 13"), ["13 + 10 = 23 (left: 4 9 23)", "23 + 9 = 32 (left: 4 32)",
                                       "32 - 4 = 28 (left: 28)"])
    assert G24.is_terminal(state) and state.error is None and G24.reward(state) == 0.0
    assert G24.answer(state) is None


def test_transpositions_share_a_key():
    a = play(G24, p("4 9 10 13"), ["13 - 9 = 4 (left: 4 4 10)", "10 - 4 = 6 (left: 4 6)"])
    b = play(G24, p("4 9 10 13"), ["10 - 4 = 6 (left: 6 9 13)", "13 - 9 = 4 (left: 4 6)"])
    assert a.steps != b.steps and G24.key(a) == G24.key(b)
    c = play(G24, p("4 9 10 13"), ["10 - 9 = 1 (left: 1 4 13)"])
    assert G24.key(c) != G24.key(a)


def test_legal_steps_are_valid_distinct_and_canonical():
    state = G24.initial_state(p("4 4 10 13"))
    steps = G24.legal_steps(state)
    assert len(steps) == len(set(steps)) == 4 + 3 * 5  # pairs 4 4 (one 4 / 4), 10 4, 13 4, 13 10
    for text in steps:
        step = parse_step(text)
        assert check_step(state, text).steps == (text,)
        assert step.op == "/" or step.a >= step.b


def test_fractions_are_needed_for_1_5_5_5():
    steps = G24.solve(p("1 5 5 5"))
    assert steps[0] == "1 / 5 = 1/5 (left: 1/5 5 5)"
    state = play(G24, p("1 5 5 5"), steps)
    assert G24.reward(state) == 1.0 and evaluate(G24.answer(state)) == (24, [1, 5, 5, 5])
    assert brute_force([1, 5, 5, 5], 24) == {"((5 - (1 / 5)) * 5)"}
    assert G24.count_solutions(p("1 5 5 5")) == 1


def test_count_solutions_matches_brute_force():
    cases = list(game24.all_multisets()[::23]) + [p("4 9 10 13"), p("1 2 3 4"), p("3 3 8 8")]
    cases += [p("2 3 7 -> 17"), p("1 1 2 -> 4"), p("3 7 25 50 -> 147")]
    for problem in cases:
        task = G24 if len(problem.numbers) == 4 and problem.target == 24 else CD
        assert task.count_solutions(problem) == len(brute_force(problem.numbers, problem.target))


def test_solve_returns_verified_steps_or_none():
    for problem in game24.all_multisets()[::37]:
        steps = G24.solve(problem)
        if steps is None:
            assert G24.count_solutions(problem) == 0
        else:
            assert G24.reward(play(G24, problem, steps)) == 1.0
    assert G24.solve(p("1 1 1 1")) is None
    six = p("3 7 25 50 75 100 -> 952")
    assert CD.reward(play(CD, six, CD.solve(six))) == 1.0


def test_random_trajectory_is_legal_complete_and_seeded():
    problem = p("3 7 25 50 75 100 -> 952")
    runs = [CD.random_trajectory(problem, np.random.default_rng(seed)) for seed in (5, 5, 6)]
    assert runs[0] == runs[1] != runs[2]
    for steps in runs:
        state = play(CD, problem, steps)
        assert len(steps) == 5 and state.error is None and len(state.numbers) == 1


# --- Game of 24 -------------------------------------------------------------------------------

def test_game24_counts():
    assert len(game24.all_multisets()) == 1820
    assert len(game24.solvable_problems()) == 1362
    assert len(set(game24.all_multisets()) - set(game24.solvable_problems())) == 458


def test_game24_heldout_split_is_pinned_and_disjoint():
    train, heldout = game24.problems("train"), game24.problems("heldout")
    assert len(heldout) == 358 and len(train) == 1004
    assert not set(train) & set(heldout) and len(game24.problems("all")) == 1362
    for text in ["1 1 2 8", "1 1 2 9", "1 1 3 11", "5 5 5 5", "1 1 1 1"]:
        assert game24.is_heldout(p(text)), text
    for text in ["4 9 10 13", "1 5 5 5", "3 3 8 8", "1 1 1 8", "1 2 3 4"]:
        assert not game24.is_heldout(p(text)), text
    with pytest.raises(ValueError, match="split must be"):
        game24.problems("test")


# --- Countdown --------------------------------------------------------------------------------

def test_game24_larger_training_deck_keeps_the_heldout_split():
    """train_cards widens only the training puzzles: all solvable, none held out, a superset of
    the standard training split; the held-out puzzles are the standard 358."""
    wide = G24.with_options({"train_cards": 14})
    pool = wide.training_pool(256, seed=0)
    assert set(game24.problems("train")) < set(pool)
    assert max(max(q.numbers) for q in pool) == 14
    assert all(G24.count_solutions(q) > 0 and not game24.is_heldout(q) for q in pool)
    assert wide.heldout_problems() == game24.problems("heldout")
    assert set(wide.generate(40, seed=1)) <= set(pool)
    assert G24.training_pool(256, seed=0) == game24.problems("train")  # the default: 1-13


@pytest.mark.parametrize("options, message", [
    ({"cards": 20}, "takes only the option train_cards"),
    ({"train_cards": 12}, "integer from 13 to 30, got 12"),
    ({"train_cards": 31}, "integer from 13 to 30, got 31"),
    ({"train_cards": "20"}, "got '20'"),
])
def test_game24_options_errors_name_the_option(options, message):
    with pytest.raises(ValueError, match=message):
        G24.with_options(options)


def test_countdown_heldout_rule_is_pinned():
    assert countdown.is_heldout(p("3 7 25 50 -> 147")) and countdown.is_heldout(p("4 9 10 13"))
    assert not countdown.is_heldout(p("1 2 3 -> 6"))
    assert not countdown.is_heldout(p("2 3 7 11 13 50 -> 811"))


def test_countdown_generator_is_solvable_distinct_seeded_and_split():
    config = countdown.CountdownConfig(k=4, max_number=30, min_target=20, max_target=100)
    train = countdown.generate(40, config, seed=3)
    assert train == countdown.generate(40, config, seed=3) != countdown.generate(40, config, seed=4)
    heldout = countdown.generate(15, config, seed=3, split="heldout")
    assert len(set(train)) == 40 and not set(train) & set(heldout)
    assert not any(map(countdown.is_heldout, train)) and all(map(countdown.is_heldout, heldout))
    for problem in train + heldout:
        assert len(problem.numbers) == 4 and 1 <= min(problem.numbers) <= max(problem.numbers) <= 30
        assert 20 <= problem.target <= 100 and CD.count_solutions(problem) > 0
    six = countdown.generate(3, countdown.CountdownConfig(k=6), seed=0, split="all")
    assert all(CD.reward(play(CD, q, CD.solve(q))) == 1.0 for q in six)


@pytest.mark.slow  # generates and counts solutions of 5-number problems and a held-out split
def test_countdown_mixed_sizes_come_in_equal_shares_from_json_options():
    mixed = countdown.TASK.with_options({"k": [3, 4, 5]})  # a JSON list, as --set gives it
    assert mixed.config.k == (3, 4, 5) and hash(mixed.config)
    problems = mixed.generate(30, seed=2)
    assert sorted(len(q.numbers) for q in problems) == [3] * 10 + [4] * 10 + [5] * 10
    assert len({len(q.numbers) for q in problems[::3]}) == 3  # shuffled: a stride sees them all
    assert problems == mixed.generate(30, seed=2)
    assert all(CD.count_solutions(q) > 0 for q in problems)
    heldout = mixed.heldout_problems()
    assert sorted({len(q.numbers) for q in heldout}) == [3, 4, 5]
    assert all(map(countdown.is_heldout, heldout))


@pytest.mark.parametrize("fields, message", [
    ({"k": 2}, "set k between 3 and 6"),
    ({"k": [3, 7]}, "or a list of such counts"),
    ({"k": []}, "or a list of such counts"),
    ({"min_number": 0}, "1 <= min_number <= max_number"),
    ({"min_target": 50, "max_target": 10}, "1 <= min_target <= max_target"),
    ({"attempts_per_problem": 0}, "set it to >= 1"),
])
def test_countdown_config_errors_say_how_to_fix(fields, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        countdown.CountdownConfig(**fields)


def test_countdown_generator_gives_up_with_advice():
    impossible = countdown.CountdownConfig(k=3, max_number=2, min_target=100, max_target=100,
                                           attempts_per_problem=5)
    with pytest.raises(RuntimeError, match="widen the target range"):
        countdown.generate(1, impossible)


# --- problem IO -------------------------------------------------------------------------------

def test_problems_round_trip_through_jsonl(tmp_path):
    path = tmp_path / "problems.jsonl"
    problems = [p("4 9 10 13"), p("1 5 5 5")]
    write_problems(path, problems)
    assert read_problems(path, "game24") == problems and list(tmp_path.iterdir()) == [path]
    path.write_text('\n{"numbers": [50, 3, 7], "target": 80, "id": 1}\n\n')
    assert read_problems(path, CD) == [p("3 7 50 -> 80")]


@pytest.mark.parametrize("task, line, message", [
    ("game24", '{"numbers": [4, 9, 10, 13], "target": 24', "bad JSON"),
    ("game24", '[4, 9, 10, 13]', "expected an object like"),
    ("game24", '{"numbers": [4, 9, 10, 13]}', "missing key 'target'"),
    ("game24", '{"target": 24}', "missing key 'numbers'"),
    ("game24", '{"numbers": [4, 9, 10, 13.5], "target": 24}', "numbers must be a list of integers"),
    ("game24", '{"numbers": [4, 9, 10, 13], "target": "24"}', "target must be an integer"),
    ("game24", '{"numbers": [4, 9, 10], "target": 24}', "game24 needs exactly 4 numbers"),
    ("game24", '{"numbers": [4, 9, 10, 13], "target": 25}', "and target 24"),
    ("game24", '{"numbers": [0, 9, 10, 13], "target": 24}', "numbers must be positive integers"),
    ("countdown", '{"numbers": [4, 9], "target": 13}', "countdown needs 3 to 6 numbers, got 2"),
    ("countdown", '{"numbers": [1, 2, 3, 4, 5, 6, 7], "target": 13}', "3 to 6 numbers, got 7"),
    ("countdown", '{"numbers": [1, 2, 3], "target": 1' + "0" * 5000 + "}", "bad JSON"),
])
def test_read_problems_names_the_file_line_and_fault(tmp_path, task, line, message):
    path = tmp_path / "problems.jsonl"
    good = json.dumps({"numbers": [4, 9, 10, 13] if task == "game24" else [3, 7, 50], "target": 24})
    path.write_text(f"{good}\n\n{line}\n")
    with pytest.raises(ProblemError) as error:
        read_problems(path, task)
    text = str(error.value)
    assert text.startswith(f"{path}:3: ") and message in text and "\n" not in text


def test_read_problems_reports_a_missing_file(tmp_path):
    with pytest.raises(ProblemError, match="cannot read problems"):
        read_problems(tmp_path / "nope.jsonl", "game24")


def test_parse_problem_text_for_the_command_line():
    assert parse_problem_text("4 9 10 13", "game24") == p("4 9 10 13")
    assert parse_problem_text("13, 10, 9, 4 -> 24", G24) == p("4 9 10 13")
    assert parse_problem_text(" 3 7 25 50 ->147 ", "countdown") == p("3 7 25 50 -> 147")
    for text, task, message in [
            ("4 9 10", "game24", "game24 needs exactly 4 numbers"),
            ("4 9 ten 13", "game24", "expected numbers like '4 9 10 13'"),
            ("3 7 25 50", "countdown", "expected numbers like '3 7 25 50 -> 147'"),
            ("3 7 -> 10", "countdown", "countdown needs 3 to 6 numbers"),
            ("3 7 8 -> " + "9" * 5000, "countdown", "must be at most 1000000000"),
            ("4 9 10 13", "chess", "unknown task 'chess'")]:
        with pytest.raises(ValueError, match=re.escape(message)):
            parse_problem_text(text, task)
