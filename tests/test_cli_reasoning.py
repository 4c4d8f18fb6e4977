"""`lmzero eval` and `lmzero solve` on the reasoning tasks: output shape and every user error."""

import json
import subprocess
import sys

import pytest

from lmzero.models.tinylm import TinyLM, TinyLMConfig
from lmzero.tasks import game24
from tests.checkpoints import untrained_checkpoint


def lmzero(*args):
    return subprocess.run([sys.executable, "-m", "lmzero.cli", *args], capture_output=True,
                          text=True, timeout=300)


@pytest.fixture(scope="module")
def untrained(tmp_path_factory):
    """A small untrained text model: its steps are mostly invalid, which is fine here."""
    return untrained_checkpoint(tmp_path_factory.mktemp("ckpt") / "game24", game24.TASK, 192)


def test_eval_json_has_the_documented_keys(untrained, tmp_path):
    problems = tmp_path / "p.jsonl"
    problems.write_text('{"numbers": [4, 9, 10, 13], "target": 24}\n\n'
                        '{"numbers": [1, 1, 1, 1], "target": 24}\n')
    result = lmzero("eval", "game24", "--checkpoint", str(untrained), "--method", "mcts",
                    "--budget", "6", "--problems", str(problems), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert {"solved", "total", "accuracy", "model_calls", "prompt_tokens", "generated_tokens",
            "seconds", "problems"} <= set(report)
    assert report["total"] == 2
    assert [p["numbers"] for p in report["problems"]] == [[4, 9, 10, 13], [1, 1, 1, 1]]
    for p in report["problems"]:
        assert set(p) == {"numbers", "target", "solved", "model_calls", "expression"}
        assert 1 <= p["model_calls"] <= 6
    assert report["problems"][1]["solved"] is False


@pytest.mark.slow  # subprocesses
@pytest.mark.parametrize("method", ["greedy", "best-of-n", "bfs"])
def test_eval_table_on_the_heldout_split(untrained, method):
    result = lmzero("eval", "game24", "--checkpoint", str(untrained), "--method", method,
                    "--budget", "4", "--limit", "3")
    assert result.returncode == 0, result.stderr
    assert "accuracy" in result.stdout and "mean model calls" in result.stdout


def test_solve_prints_the_principal_variation_or_says_it_failed(untrained):
    result = lmzero("solve", "game24", "4 9 10 13", "--checkpoint", str(untrained),
                    "--budget", "8")
    assert result.returncode in (0, 1), result.stderr
    assert "principal variation" in result.stdout
    assert ("solution:" in result.stdout) == (result.returncode == 0)
    assert "model calls" in result.stdout


@pytest.mark.slow  # subprocess
def test_solve_over_legal_actions_generates_nothing(untrained):
    result = lmzero("solve", "game24", "4 9 10 13", "--checkpoint", str(untrained),
                    "--budget", "8", "--actions", "legal")
    assert result.returncode in (0, 1), result.stderr
    assert "principal variation" in result.stdout and " 0 generated tokens" in result.stdout


@pytest.mark.parametrize("args, message", [
    (["eval", "game24", "--method", "dfs"], "unknown method 'dfs'"),
    (["eval", "game24", "--budget", "0"], "--budget"),
    (["eval", "chess"], "'chess'"),
    (["solve", "game24", "4 9 x"], "4 9 x"),
    (["solve", "game24", "4 9 10 13", "--method", "beam"], "mcts or gumbel"),
    (["eval", "game24", "--method", "beam", "--actions", "legal"],
     "legal actions are for greedy, value-greedy, best-first, mcts and gumbel, not beam"),
    pytest.param(["eval", "math", "--method", "value-greedy", "--limit", "1"],
                 "value-greedy scores the task's legal steps, and task 'math' cannot list them",
                 marks=pytest.mark.slow),
    (["eval", "game24", "--actions", "all"], "actions must be 'sampled' or 'legal'"),
    pytest.param(["eval", "math", "--actions", "legal", "--limit", "1"],
                 "task 'math' cannot list its legal steps", marks=pytest.mark.slow),
    # these three import torch before they fail (~5 s each): the slow tier
    pytest.param(["eval", "game24", "--checkpoint", "/nonexistent"], "/nonexistent",
                 marks=pytest.mark.slow),
    pytest.param(["train", "game24", "--model", "openai:http://127.0.0.1:9/v1#m"],
                 "cannot train", marks=pytest.mark.slow),
    pytest.param(["train", "countdown", "--model", "gpt4"], "bad model spec 'gpt4'",
                 marks=pytest.mark.slow),
    (["train", "connect4", "--model", "hf:x.gguf"], "--model applies to step tasks"),
    (["train", "connect4", "--actions", "legal"], "--actions applies to step tasks"),
    pytest.param(["train", "game24", "--algo", "grpo", "--actions", "legal"],
                 "--actions applies to expert-iteration (grpo does not search)",
                 marks=pytest.mark.slow),
    pytest.param(["train", "game24", "--actions", "every"],
                 "actions must be 'sampled' or 'legal'", marks=pytest.mark.slow),
    (["train", "game24", "--resume", "--set", "actor.retry_budget=9"],
     "--set applies to a new run"),
    pytest.param(["train", "connect4", "--set", "selfplay.sims=9"],
                 "SelfPlayConfig has no field 'sims'", marks=pytest.mark.slow),
])
def test_user_errors_are_one_line_and_exit_2(args, message):
    result = lmzero(*args)
    assert result.returncode == 2
    assert message in result.stderr and result.stderr.count("\n") == 1
    assert result.stdout == ""


@pytest.mark.parametrize("line, message", [
    ("{bad json", "p.jsonl:2: bad JSON"),
    ('{"numbers": [4, 9, 10], "target": 24}', "p.jsonl:2:"),
    ('{"numbers": [4, 9, 10, 13]}', "p.jsonl:2:"),
])
def test_malformed_problem_line_names_the_line(untrained, tmp_path, line, message):
    problems = tmp_path / "p.jsonl"
    problems.write_text('{"numbers": [4, 9, 10, 13], "target": 24}\n' + line + "\n")
    result = lmzero("eval", "game24", "--checkpoint", str(untrained), "--problems",
                    str(problems))
    assert result.returncode == 2 and message in result.stderr
    assert result.stderr.count("\n") == 1 and result.stdout == ""


@pytest.mark.slow  # subprocess
def test_a_game_checkpoint_is_not_a_text_model(tmp_path):
    from lmzero import checkpoint
    model = TinyLM(TinyLMConfig(vocab_size=16, block_size=10, n_layer=1, n_embd=16))
    checkpoint.save(tmp_path / "c", model.state_dict(), {"game": "tictactoe",
                                                         "model": model.cfg.to_dict()})
    result = lmzero("eval", "game24", "--checkpoint", str(tmp_path / "c"), "--limit", "1")
    assert result.returncode == 2 and "not a text-model checkpoint" in result.stderr


@pytest.mark.slow  # subprocess over 358 puzzles (~6 s)
def test_eval_without_a_file_or_limit_covers_game24s_whole_heldout_split(untrained):
    result = lmzero("eval", "game24", "--checkpoint", str(untrained), "--method", "greedy",
                    "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["total"] == 358  # every solvable held-out puzzle
