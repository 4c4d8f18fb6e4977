"""Every parser a user's text reaches, fuzzed: the only outcomes are a valid result or the
documented one-line error (ProblemError, ValueError, UserError), never a traceback of another
kind, a hang or a result that breaks what comes after it (a problem the prompt cannot show).

Inputs: problem text and JSONL files (the built-in tasks' `parse_problem` and `read_problems`,
from fuzzed bytes, text and JSON, with deep nesting, huge numbers, Unicode digits and blank
lines), Connect Four positions and typed moves, model specs, and the math answer checks (which
read a model's text and must never raise or hang). Hypothesis runs derandomized: the same
examples every run.
"""

import json
import string

import pytest
from hypothesis import example, given, settings, strategies as st

from lmzero.cli.common import UserError
from lmzero.cli.games import _read_positions, parse_move
from lmzero.models.spec import parse_spec
from lmzero.tasks import ProblemError, load_task
from lmzero.tasks.arith import MAX_NUMBER, Problem as ArithProblem
from lmzero.tasks.connect4 import ConnectFour, from_moves
from lmzero.tasks.math_answer import (answers_match, check_arithmetic, final_answer,
                                      gsm8k_answer)
from lmzero.tasks.mathword import TASK as MATH, calculate
from lmzero.tasks.tictactoe import TicTacToe

FUZZ = settings(max_examples=150, deadline=None, derandomize=True)
FEW = settings(max_examples=40, deadline=None, derandomize=True)  # each example writes a file

STEP_TASKS = ("game24", "countdown", "math")
UNICODE_DIGITS = "٠١٢٣٤٥٦٧٨٩０１２３４５６７８９۳߃१৩²³¹₃"
"""Characters `str.isdigit` (and often `int`) accept that are not ASCII digits."""
PROBLEM_ALPHABET = string.digits + " ,->{}[]\":" + UNICODE_DIGITS + "\n\t\u2028\x00é;"

texts = st.one_of(
    st.text(),
    st.text(alphabet=PROBLEM_ALPHABET, max_size=60),
    st.builds(lambda n: "9" * n, st.integers(250, 6000)),  # huge numbers
    st.builds(lambda n, c: c * n, st.integers(1, 120_000), st.sampled_from("[{")),  # deep
    st.binary().map(lambda b: b.decode("latin-1")),
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
    | st.builds(lambda n: 10 ** n, st.integers(9, 400)),
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=20)
problem_rows = st.one_of(
    st.fixed_dictionaries({"numbers": st.lists(st.integers(-5, 2 * 10**9) | json_values,
                                               max_size=7),
                           "target": st.integers(-5, 10**12) | json_values}),
    st.fixed_dictionaries({"question": st.text(max_size=80) | json_values,
                           "answer": st.text(max_size=30) | st.integers() | st.floats()
                           | json_values},
                          optional={"percent": json_values, "ops": json_values}),
    json_values,
)


def one_line(error: BaseException) -> str:
    """The error's message, checked to be one non-empty line a user can read."""
    message = str(error)
    assert message and "\n" not in message and "\r" not in message, repr(message)
    assert len(message) < 1000, len(message)
    return message


def check_problem(task, problem) -> None:
    """A problem a parser accepted is one the rest of the pipeline can use."""
    hash(problem)  # curation counts attempts per problem
    prompt = task.prompt(task.initial_state(problem))
    assert isinstance(prompt, str) and prompt.endswith("\n")
    if task.checkable(problem):  # a bare math question has no answer to write back
        row = json.loads(json.dumps(task.problem_to_json(problem)))
        assert task.problem_from_json(row) == problem
    if isinstance(problem, ArithProblem):
        assert all(0 < n <= MAX_NUMBER for n in (*problem.numbers, problem.target))


# -- problems -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", STEP_TASKS)
@FUZZ
@given(text=texts)
@example(text="[" * 100_000)
@example(text='{"numbers": ' + "[" * 100_000 + "}")
@example(text="4 9 10 " + "9" * 300)
@example(text="3 7 25 50 -> " + "9" * 5000)
@example(text="٣ ٧ ٢٥ ٥٠ -> ١٤٧")
@example(text='{"question": "Q?", "answer": ' + "9" * 5000 + "}")
def test_parse_problem_gives_a_problem_or_one_line_problem_error(name, text):
    parsed_or_refused(load_task(name), text)


@pytest.mark.parametrize("name", STEP_TASKS)
@FUZZ
@given(row=problem_rows)
def test_parse_problem_of_json_rows(name, row):
    parsed_or_refused(load_task(name), json.dumps(row))


def parsed_or_refused(task, text: str) -> None:
    """`task.parse_problem(text)` is a usable problem, or a one-line ProblemError."""
    try:
        problem = task.parse_problem(text)
    except ProblemError as error:
        one_line(error)
    else:
        check_problem(task, problem)


@pytest.mark.parametrize("name", STEP_TASKS)
@FEW
@given(data=st.binary(max_size=300))
@example(data=b"\xff\xfe\x00\x01garbage\n")
@example(data=b"\xef\xbb\xbf" + b'{"numbers": [4, 9, 10, 13], "target": 24}\n')
def test_read_problems_of_fuzzed_bytes(tmp_path_factory, name, data):
    path = tmp_path_factory.mktemp("bytes") / "p.jsonl"
    path.write_bytes(data)
    read_and_check(load_task(name), path)


@pytest.mark.parametrize("name", STEP_TASKS)
@FEW
@given(rows=st.lists(problem_rows | st.just(""), max_size=5), ascii_only=st.booleans())
def test_read_problems_of_fuzzed_json_lines(tmp_path_factory, name, rows, ascii_only):
    lines = [row if row == "" else json.dumps(row, ensure_ascii=ascii_only) for row in rows]
    path = tmp_path_factory.mktemp("rows") / "p.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    task = load_task(name)
    problems = read_and_check(task, path)
    if problems is not None:  # every line read: one problem per non-blank line
        assert len(problems) == sum(bool(line.strip()) for line in lines)


def read_and_check(task, path):
    """The file's problems, each checked, or None after a one-line ProblemError naming it."""
    try:
        problems = task.read_problems(path)
    except ProblemError as error:
        assert one_line(error).startswith(str(path))
        return None
    for problem in problems:
        check_problem(task, problem)
    return problems


@pytest.mark.parametrize("line, message", [
    ("[" * 100_000, "nested too deeply"),
    ('{"numbers": [4, 9, 10, ' + "9" * 300 + '], "target": 24}', "at most 1000000000"),
    ('{"numbers": [4, 9, 10, 1' + "0" * 5000 + '], "target": 24}', "bad JSON"),
    ('{"numbers": [4, 9, 10, 13], "target": 24}\x00', "bad JSON"),
])
def test_hostile_problem_lines_name_the_file_and_line(tmp_path, line, message):
    path = tmp_path / "p.jsonl"
    path.write_text('{"numbers": [4, 9, 10, 13], "target": 24}\n\n' + line + "\n")
    with pytest.raises(ProblemError) as error:
        load_task("game24").read_problems(path)
    assert one_line(error.value).startswith(f"{path}:3: ") and message in str(error.value)


def test_json_strings_may_hold_line_separators_a_jsonl_line_does_not_end_at(tmp_path):
    row = {"question": "Ann has 3 apples\u2028and buys 4 more.\x85 How many?", "answer": 7}
    text = json.dumps(row, ensure_ascii=False)
    assert len(text.splitlines()) > 1  # what str.splitlines would have cut
    path = tmp_path / "p.jsonl"
    path.write_bytes((text + "\r\n").encode())
    [problem] = MATH.read_problems(path)
    assert problem.answer == "7"


def test_binary_and_unreadable_files_are_one_line_errors(tmp_path):
    binary = tmp_path / "b.jsonl"
    binary.write_bytes(bytes(range(256)))
    for path, message in ((binary, "not a UTF-8 text file"), (tmp_path, "cannot read problems"),
                          (tmp_path / "none", "cannot read problems")):
        with pytest.raises(ProblemError) as error:
            load_task("game24").read_problems(path)
        assert message in one_line(error.value)


# -- games ----------------------------------------------------------------------------------------


@FUZZ
@given(text=st.text(alphabet=string.digits + UNICODE_DIGITS + " x\n", max_size=50) | st.text())
@example(text="44٣")
@example(text="4４")
def test_connect4_positions_are_ascii_columns_or_one_line_value_error(text):
    try:
        state = from_moves(text)
    except ValueError as error:
        one_line(error)
    else:
        assert set(text) <= set("1234567") and state.moves == len(text)


GAMES = (ConnectFour(), TicTacToe())


@pytest.mark.parametrize("game", GAMES, ids=lambda g: g.name)
@FUZZ
@given(text=st.text(alphabet=string.digits + UNICODE_DIGITS + " q+-.", max_size=6) | st.text())
@example(text="٣")
@example(text="３")
@example(text="²")
@example(text="9" * 5000)
def test_typed_moves_are_ascii_numbers_or_one_line_value_error(game, text):
    state = game.initial_state()
    try:
        action = parse_move(text, game, state)
    except ValueError as error:
        one_line(error)
    else:
        assert text.strip().isascii() and text.strip() == str(action + 1)
        assert game.legal_mask(state)[action]


@FEW
@given(data=st.binary(max_size=200) | st.text(alphabet="1234567\n\r x٣", max_size=60)
       .map(str.encode))
@example(data=bytes(range(256)))
@example(data="4453\n44٣\n".encode())
def test_position_files_give_positions_or_one_line_user_error(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("positions") / "positions.txt"
    path.write_bytes(data)
    try:
        positions = _read_positions(path, ConnectFour())
    except UserError as error:
        one_line(error)
    else:
        assert positions and all(text.isascii() for text, _ in positions)


# -- model specs and math answers -----------------------------------------------------------------


@FUZZ
@given(spec=st.text() | st.sampled_from(["tinylm:", "openai:ftp://x", "hf:\n", "vllm: "])
       .flatmap(lambda prefix: st.text(max_size=20).map(lambda rest: prefix + rest)))
def test_parse_spec_gives_a_spec_or_one_line_value_error(spec):
    try:
        kind, where, model = parse_spec(spec)
    except ValueError as error:
        one_line(error)
    else:
        assert kind in ("tinylm", "hf", "openai", "vllm") and where.strip()


answer_texts = st.one_of(
    st.text(max_size=80),
    st.text(alphabet=string.digits + UNICODE_DIGITS + " +-*/=.,$%x\\{}boxed^()e", max_size=60),
    st.builds(lambda n: "Answer: " + "9" * n, st.integers(30, 5000)),
    st.builds(lambda n: "\\boxed{" * n, st.integers(1, 5000)),
    st.builds(lambda n: "1 + " * n + "1 = 2", st.integers(1, 3000)),
)


@FUZZ
@given(step=answer_texts)
@example(step="9**9**9**9")
@example(step="Answer: ٣")
def test_final_answer_and_claim_checks_never_raise(step):
    found = final_answer(step)
    assert found is None or (isinstance(found, str) and found)
    assert isinstance(gsm8k_answer(step), str)
    claim = check_arithmetic(step)
    assert claim is None or isinstance(claim, str)
    assert isinstance(calculate(step), str)


@FUZZ
@given(given_=answer_texts, expected=answer_texts)
@example(given_="9**9**9**9", expected="1")
@example(given_="x" * 10_000, expected="x" * 10_000)
@example(given_="٣", expected="3")
def test_answers_match_never_raises(given_, expected):
    assert answers_match(given_, expected) in (True, False)
    assert answers_match(given_, expected, percent=True) in (True, False)


@FUZZ
@given(step=answer_texts | texts)
def test_a_hostile_step_is_a_state_never_an_error(step):
    for task, problem in ((MATH, MATH.parse_problem('{"question": "Q?", "answer": 7}')),
                          (load_task("game24"), load_task("game24").parse_problem("4 9 10 13"))):
        state = task.apply(task.initial_state(problem), step)
        assert task.prompt(state).count("\n") == 2  # the problem, then the step: one line
        assert task.reward(state) in (0.0, 1.0)
