"""The `lmzero` command at its edges, run in-process through `main()` as a user meets it: bad
options and hostile inputs end in one stderr line and exit 2 (nothing on stdout, no
traceback); a huge budget on an unsolvable puzzle ends when the search tree is exhausted; a
token budget is overshot by at most the last model call, and the output says so."""

import io
import json
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lmzero.cli.common import main
from lmzero.eval.reasoning import BY_VALUE_METHODS, METHODS, MethodConfig, solve_problems
from lmzero.models.step_model import Expansion
from lmzero.search.budget import Budget
from lmzero.search.step_search import StepSearchConfig, step_search
from lmzero.tasks.arith import Problem
from lmzero.tasks.game24 import TASK
from tests.test_step_search import state_of

UNSOLVABLE = Problem.make([1, 1, 1, 1], 24)


def lmzero(monkeypatch, capsys, *args, stdin: str = ""):
    """(exit code, stdout, stderr) of `lmzero ARGS` run through the real entry point."""
    monkeypatch.setattr(sys, "argv", ["lmzero", *map(str, args)])
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    with pytest.raises(SystemExit) as exit_:
        main()
    captured = capsys.readouterr()
    return exit_.value.code, captured.out, captured.err


def assert_user_error(result, *fragments):
    code, stdout, stderr = result
    assert code == 2, (stdout, stderr)
    assert stdout == "" and "Traceback" not in stderr
    assert stderr.startswith("lmzero: error: ") and stderr.count("\n") == 1, stderr
    for fragment in fragments:
        assert fragment in stderr, stderr


@pytest.fixture
def files(tmp_path):
    """Hostile input files by name."""
    made = {"binary": bytes(range(256)) * 4,
            "deep": b"[" * 100_000 + b"\n",
            "digits300": json.dumps({"numbers": [4, 9, 10, int("9" * 300)],
                                     "target": 24}).encode() + b"\n",
            "unicode_positions": "4453\n44\u0663\n".encode(),
            "positions": b"4453\n",
            "long_question": json.dumps({"question": "What is " + "9" * 400 + " plus 1?",
                                         "answer": 1}).encode() + b"\n"}
    for name, data in made.items():
        (tmp_path / name).write_bytes(data)
    return tmp_path


BAD_OPTIONS = [
    (["solve", "game24", "4 9 10 13", "--seed", "-1"], "--seed"),
    (["solve", "game24", "4 9 10 13", "--seed", "9" * 20], "--seed"),
    (["eval", "game24", "--seed", "-1"], "--seed"),
    (["eval", "game24", "--k", "17", "--limit", "1"], "at most 16 steps per node"),
    (["eval", "game24", "--method", "gumbel", "--k", "17", "--limit", "1"], "use k from 1 to 16"),
    (["eval", "game24", "--k", "65"], "--k"),
    (["play", "tictactoe", "--simulations", "1e8"], "--simulations"),
    (["play", "tictactoe", "--simulations", "100000000"], "--simulations"),
    (["play", "tictactoe", "--seed", "-1"], "--seed"),
    (["solve", "game24", "1 1 1 1", "--budget", "9" * 20], "--budget"),
    (["eval", "game24", "--budget", "9" * 20], "--budget"),
    (["eval", "game24", "--token-budget", "9" * 20], "--token-budget"),
    (["eval", "game24", "--limit", "9" * 12], "--limit"),
    (["solve", "game24", "4 9 10 " + "9" * 300], "at most 1000000000"),
    (["solve", "game24", '{"numbers": ' + "[" * 100_000 + "}"], "nested too deeply"),
    (["solve", "countdown", "\u0663 7 25 50 -> 147"], "expected numbers like"),
    (["solve"], "missing the task"),
    (["eval"], "missing the task"),
    (["analyse"], "Missing argument"),
    (["eval", "game24", "--budget"], "requires an argument"),
]


@pytest.mark.parametrize("args, fragment", BAD_OPTIONS, ids=lambda a: " ".join(a)[:40]
                         if isinstance(a, list) else None)
def test_bad_options_are_one_line_and_exit_2(monkeypatch, capsys, args, fragment):
    assert_user_error(lmzero(monkeypatch, capsys, *args), fragment)


@pytest.mark.parametrize("args, fragment", [
    (["eval", "game24", "--problems", "{binary}"], "not a UTF-8 text file"),
    (["analyse", "connect4", "--positions", "{binary}"], "not a UTF-8 text file"),
    (["eval", "game24", "--problems", "{deep}"], "deep:1: bad JSON (nested too deeply)"),
    (["eval", "game24", "--problems", "{digits300}"], "digits300:1: numbers must be at most"),
    (["analyse", "connect4", "--positions", "{unicode_positions}"], "line 2"),
    (["analyse", "connect4", "--positions", "{positions}", "--seed", "9" * 20], "--seed"),
    (["analyse", "connect4", "--positions", "{positions}", "--simulations", "100001"],
     "--simulations"),
    (["eval", "math", "--problems", "{long_question}"], "problem 1"),
    (["solve", "math", "What is " + "9" * 400 + " plus 1?"], "does not fit the model"),
    (["solve", "math", "Ann has 3 apples; she buys 4 more. How many?"], "';'"),
])
def test_hostile_files_and_problems_are_one_line_and_exit_2(monkeypatch, capsys, files, args,
                                                            fragment):
    args = [a.format(**{p.name: p for p in files.iterdir()}) for a in args]
    assert_user_error(lmzero(monkeypatch, capsys, *args), fragment)


@pytest.mark.parametrize("args", [["train", "tictactoe"], ["train", "game24"],
                                  ["train", "game24", "--stage", "pretrain"]])
def test_train_refused_before_any_progress_output(monkeypatch, capsys, tmp_path, args):
    afile = tmp_path / "afile"
    afile.write_text("x")
    assert_user_error(lmzero(monkeypatch, capsys, *args, "--run", afile), "is a file")


def test_unicode_digits_are_not_moves(monkeypatch, capsys):
    code, stdout, stderr = lmzero(monkeypatch, capsys, "play", "tictactoe", "--rollouts",
                                  stdin="\u0663\n\uff13\n\u00b2\nq\n")
    assert code == 0 and stderr == ""
    for typed in ("\u0663", "\uff13", "\u00b2"):
        assert f"'{typed}' is not a move" in stdout
    assert stdout.rstrip().endswith("bye")


def test_huge_budget_on_an_unsolvable_puzzle_ends_when_the_tree_is_exhausted(monkeypatch,
                                                                              capsys):
    code, stdout, stderr = lmzero(monkeypatch, capsys, "solve", "game24", "1 1 1 1", "--budget",
                                  10**9)
    assert code == 1 and stderr == ""
    assert "search exhausted after" in stdout and "no solution" in stdout


def test_token_budget_overshoot_is_one_call_and_reported(monkeypatch, capsys):
    code, stdout, _ = lmzero(monkeypatch, capsys, "eval", "game24", "--token-budget", 1,
                             "--limit", 2, "--json")
    report = json.loads(stdout)
    assert code == 0 and report["model_calls"] == 1.0 and report["over_token_budget"] == 2
    code, stdout, _ = lmzero(monkeypatch, capsys, "eval", "game24", "--token-budget", 1,
                             "--limit", 2)
    assert code == 0 and "note: 2 of 2 problems passed --token-budget 1" in stdout


# -- the search under the same budgets, with a model whose costs are known -------------------


class LegalStepsModel:
    """Proposes every legal step of the state (rebuilt from the prompt) whatever k asks, with
    `tokens` generated tokens per request and value 0.5: the tree it grows is the puzzle's whole
    game tree."""

    def __init__(self, tokens: int = 30):
        self.tokens = tokens

    def expand(self, prompts, k, *, temperature=1.0, greedy=False, with_value=True):
        out = []
        for prompt in prompts:
            steps = TASK.legal_steps(state_of(prompt))[:1 if greedy else None]
            out.append(Expansion(steps, [-1.0] * len(steps), 0.5 if with_value else None,
                                 prompt_tokens=len(prompt), generated_tokens=self.tokens))
        return out

    def value(self, prompts):
        return [Expansion(value=0.5, prompt_tokens=len(p)) for p in prompts]


@pytest.mark.parametrize("method", ["puct", "gumbel"])
@pytest.mark.parametrize("verifier", [True, False])
def test_an_exhausted_tree_stops_the_search_whatever_the_budget(method, verifier):
    budget = Budget(max_calls=10**9)
    config = StepSearchConfig(method=method, verifier=verifier)
    [result] = step_search(TASK, LegalStepsModel(), [UNSOLVABLE], config, [budget])
    assert not result.solved and result.exhausted
    assert budget.model_calls < 1000 and result.simulations < 100_000


def test_a_search_that_solves_is_not_exhausted():
    [result] = step_search(TASK, LegalStepsModel(), [Problem.make([4, 9, 10, 13], 24)],
                           StepSearchConfig(), [Budget(max_calls=10**9)])
    assert result.solved and not result.exhausted


@pytest.mark.parametrize("method", [m for m in METHODS if m not in BY_VALUE_METHODS])
@pytest.mark.parametrize("cap", [1, 100])
def test_a_token_cap_is_passed_by_at_most_one_call(method, cap):
    """(value-greedy and best-first only score the legal steps: they generate nothing.)"""
    model = LegalStepsModel(tokens=30)
    config = MethodConfig(method=method, budget=None, token_budget=cap)
    [result] = solve_problems(TASK, model, [UNSOLVABLE], config)
    assert result.budget.generated_tokens < cap + model.tokens  # the cap, plus < one call


OPTION_VALUES = st.one_of(st.integers(-2**70, 2**70).map(str), st.floats().map(str),
                          st.text(max_size=12))


@settings(max_examples=30, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(budget=OPTION_VALUES, seed=OPTION_VALUES, method=st.sampled_from(
    ["mcts", "gumbel", "beam", "", "MCTS", "mcts\n"]))
def test_any_option_value_is_a_result_or_one_line(monkeypatch, capsys, budget, seed, method):
    """Fuzzed `solve` options: a solution (exit 0), no solution (exit 1, said on stdout), or a
    user error in one line (exit 2); never a traceback."""
    code, stdout, stderr = lmzero(monkeypatch, capsys, "solve", "game24", "4 9 10 13",
                                  "--budget", budget, "--seed", seed, "--method", method)
    if code == 2:
        assert_user_error((code, stdout, stderr))
    else:
        assert code in (0, 1) and stderr == "", stderr
        assert ("solution:" in stdout) == (code == 0)


def test_threads_reach_the_training_loop_and_not_pretraining(monkeypatch, capsys, tmp_path):
    from lmzero import loop as training
    seen = {}
    monkeypatch.setattr(training, "train", lambda *a, **kw: seen.update(kw) or [])
    code, _, err = lmzero(monkeypatch, capsys, "train", "tictactoe", "--threads", "3",
                          "--run", tmp_path / "run", "--no-progress")
    assert code == 0, err
    assert seen["threads"] == 3
    assert_user_error(lmzero(monkeypatch, capsys, "train", "game24", "--stage", "pretrain",
                             "--threads", "2"), "--threads applies to --stage selfplay")


@pytest.mark.parametrize("option, message", [
    (["--model", "tinylm:lmzero/checkpoints/game24"], "--model applies to --stage selfplay"),
    (["--set", "learner.lr=0.01"], "--set applies to --stage selfplay"),
    (["--from-scratch"], "--from-scratch applies to --stage selfplay"),
    (["--actions", "legal"], "--actions applies to --stage selfplay"),
    (["--trunk", "resnet"], "--trunk applies to games"),
])
def test_pretraining_refuses_the_options_it_would_ignore(monkeypatch, capsys, tmp_path, option,
                                                         message):
    """World-model pretraining reads none of these: each is one line, before a run exists."""
    assert_user_error(lmzero(monkeypatch, capsys, "train", "game24", "--stage", "pretrain",
                             "--run", tmp_path / "run", *option), message)
    assert not (tmp_path / "run").exists()


def test_trunk_picks_the_game_network_and_is_refused_elsewhere(monkeypatch, capsys, tmp_path):
    from lmzero import loop as training
    seen = []
    monkeypatch.setattr(training, "train", lambda config, *a, **kw: seen.append(config) or [])
    for trunk in ("resnet", "mlp"):
        code, _, err = lmzero(monkeypatch, capsys, "train", "connect4", "--preset", "full",
                              "--trunk", trunk, "--run", tmp_path / trunk, "--no-progress")
        assert code == 0, err
    resnet, mlp = seen
    assert resnet.model == dict(trunk="resnet", n_layer=4, n_embd=32)
    assert mlp.model == training.PRESETS[("connect4", "full")].model  # the preset's own
    assert resnet.selfplay == mlp.selfplay and resnet.learner == mlp.learner
    assert_user_error(lmzero(monkeypatch, capsys, "train", "game24", "--trunk", "resnet"),
                      "--trunk applies to games")
    assert_user_error(lmzero(monkeypatch, capsys, "train", "connect4", "--trunk", "resnet",
                             "--resume", "--run", tmp_path / "resnet"),
                      "--trunk applies to a new run")


def test_a_resnet_on_a_game_without_a_board_is_one_line(monkeypatch, capsys, tmp_path):
    """The resnet needs a board grid; a game without `board_shape` is refused before training."""
    assert_user_error(lmzero(monkeypatch, capsys, "train", "openspiel:nim", "--trunk",
                             "resnet", "--run", tmp_path / "run", "--no-progress"),
                      "the resnet trunk needs a board")
    assert not (tmp_path / "run").exists()  # so the same --run can be used for the retry
