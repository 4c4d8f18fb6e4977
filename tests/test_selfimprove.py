"""The self-improvement loop for reasoning tasks: held-out puzzles stay out, resume, learning."""

import json
import shutil
from dataclasses import replace

import numpy as np
import pytest

from lmzero.learn.pretrain import PretrainConfig
from lmzero.learn.step_learner import StepLearnerConfig
from lmzero.replay.buffer import TEXT_FIELDS, ReplayBuffer
from lmzero.run import Run
from lmzero.selfimprove import ImproveConfig, improve
from lmzero.selfplay.step_actor import StepActorConfig, attempt_problems
from lmzero.tasks import game24

TINY = ImproveConfig(
    iterations=2, problems_per_iteration=12, eval_problems=6, eval_budget=6,
    pretrain=PretrainConfig(steps=30, batch_size=8, eval_problems=0, checkpoint_every=30,
                            model=dict(n_layer=1, n_head=2, n_embd=32, block_size=160)),
    learner=StepLearnerConfig(batch_size=16, steps_per_iteration=5),
    actor=StepActorConfig(budget=6))


def replay_problems(run_dir):
    replay = ReplayBuffer(run_dir / "replay", fields=TEXT_FIELDS)
    return [(sid, set(replay._read(sid)["problem"].tolist())) for sid in replay.shard_ids()]


def test_heldout_puzzles_are_refused_and_never_enter_replay(tmp_path):
    heldout = game24.problems("heldout")[0]
    with pytest.raises(ValueError, match="held-out"):
        attempt_problems(game24.TASK, None, [heldout], StepActorConfig(), str, game24.is_heldout,
                         seed=0)
    rows = improve(TINY, tmp_path / "run")
    assert [r["iteration"] for r in rows] == [-1, 0, 1]
    names = {" ".join(map(str, p.numbers)) + " -> 24" for p in game24.problems("heldout")}
    shards = replay_problems(tmp_path / "run")
    assert [sid for sid, _ in shards] == [0, 1]
    assert all(problems and not problems & names for _, problems in shards)


@pytest.mark.slow  # three short runs: the loop, a crash, a resume
def test_resume_after_a_crash_redoes_nothing_already_written(tmp_path):
    run_dir = tmp_path / "run"
    improve(replace(TINY, iterations=1), run_dir)
    first = replay_problems(run_dir)
    # a kill in iteration 1, after its replay shard was written, before its checkpoint
    attempts = run_dir / "replay" / "attempts-000000.json"
    improve(replace(TINY, iterations=2), tmp_path / "other")  # produce an iteration-1 shard
    for name in ("shard-000001.npz", "attempts-000001.json"):
        shutil.copy(tmp_path / "other" / "replay" / name, run_dir / "replay" / name)
    shard1 = (run_dir / "replay" / "shard-000001.npz").read_bytes()
    with open(run_dir / "metrics.jsonl", "a") as f:
        f.write('{"iteration": 1, "torn')  # a line cut by the kill
    rows = improve(TINY, run_dir, resume=True, iterations=3)
    assert [r["iteration"] for r in rows] == [-1, 0, 1, 2]
    assert Run(run_dir).completed() == [0, 1, 2]
    assert (run_dir / "replay" / "shard-000001.npz").read_bytes() == shard1  # not searched again
    assert replay_problems(run_dir)[0] == first[0]
    assert attempts.is_file()
    attempted = [len(json.loads((run_dir / "replay" / f"attempts-{i:06d}.json").read_text()))
                 for i in range(3)]
    assert attempted == [12, 12, 12]


def test_a_finished_run_is_not_overwritten(tmp_path):
    improve(replace(TINY, iterations=1), tmp_path / "run")
    with pytest.raises(ValueError, match="already holds a run"):
        improve(TINY, tmp_path / "run")


def test_examples_weight_the_searched_steps_by_visits():
    from lmzero.search.budget import Budget
    from lmzero.search.step_search import StepSearchConfig, step_search
    from lmzero.selfplay.step_actor import examples_of
    from tests.test_step_search import PUZZLE, SOLUTION, TASK, ToyModel
    config = StepActorConfig(search=StepSearchConfig(k=2, leaves_per_call=1, widen=False))
    [result] = step_search(TASK, ToyModel(favourite=SOLUTION), [PUZZLE], config.search,
                           [Budget(max_calls=20)])
    rows = examples_of(TASK, result, config, "4-7", "4 9 10 13 -> 24")
    policy = rows["weight"] > 0
    root_prompt = TASK.prompt(TASK.initial_state(PUZZLE))
    at_root = policy & (rows["prompt"] == root_prompt)
    # the root is on the solution path: its verified step carries at least path_share
    assert rows["step"][at_root].tolist()[0] == SOLUTION[0]
    assert np.isclose(rows["weight"][at_root].sum(), 1.0)
    assert rows["weight"][at_root][0] >= config.path_share
    values = dict(zip(rows["prompt"][~policy].tolist(), rows["value"][~policy].tolist()))
    assert values[root_prompt] == 1.0  # on the verified path
    assert not any(p.count("\n") == 4 for p in values)  # no terminal states: search never asks


def test_off_path_visit_shares_count_offpath_weight_as_much():
    from lmzero.search.budget import Budget
    from lmzero.search.step_search import StepSearchConfig, step_search
    from lmzero.selfplay.step_actor import examples_of
    from tests.test_step_search import PUZZLE, SOLUTION, TASK, ToyModel
    config = StepActorConfig(search=StepSearchConfig(k=4, leaves_per_call=1, max_samples=40),
                             min_visits=1)
    # no preference at the root: the search visits other first steps before it solves
    [result] = step_search(TASK, ToyModel(favourite=SOLUTION[1:]), [PUZZLE], config.search,
                           [Budget(max_calls=200)])
    assert result.solved
    path_prompts = {TASK.prompt(result.tree.states[n]) for n in result.path}
    rows = examples_of(TASK, result, config, "4-7", "4 9 10 13 -> 24")
    policy = rows["weight"] > 0
    off = policy & ~np.isin(rows["prompt"], list(path_prompts))
    assert off.any()
    for prompt in set(rows["prompt"][off].tolist()):  # visit shares sum to 1 per state, scaled
        assert np.isclose(rows["weight"][off & (rows["prompt"] == prompt)].sum(),
                          config.offpath_weight)
    for prompt in path_prompts - {TASK.prompt(result.tree.states[result.path[-1]])}:
        at = policy & (rows["prompt"] == prompt)
        assert rows["weight"][at].tolist() == [1.0]  # path_share 1: only the verified step
    pure = examples_of(TASK, result, replace(config, offpath_weight=0.0), "4-7", "x")
    assert set(pure["prompt"][pure["weight"] > 0].tolist()) <= path_prompts


@pytest.mark.slow  # training: over a minute here
def test_one_iteration_improves_the_solve_rate_on_its_own_training_problems(tmp_path):
    """From the shipped world model: search 16 training puzzles, learn from the trees once, and
    greedy decoding now solves puzzles that it could not before (the search's solutions were
    distilled into the policy)."""
    from lmzero.eval.reasoning import MethodConfig, solve_problems
    from lmzero.models.tinylm_steps import load_step_model
    from lmzero.selfimprove import shipped_world_model
    from lmzero.tasks.arith import write_problems
    world = shipped_world_model("game24")
    assert world is not None, "the Game of 24 world model ships with the package"
    puzzles = game24.problems("train")[::61][:16]
    write_problems(tmp_path / "train.jsonl", puzzles)
    greedy = MethodConfig(method="greedy", budget=None)

    def solved(path):
        model = load_step_model(path, task="game24", seed=0)
        return sum(r.solved for r in solve_problems(game24.TASK, model, puzzles, greedy))

    before = solved(world)
    config = replace(TINY, iterations=1, problems_per_iteration=16, init=str(world),
                     train_problems=str(tmp_path / "train.jsonl"), pretrain=PretrainConfig(),
                     actor=StepActorConfig(budget=48),
                     learner=StepLearnerConfig(batch_size=64, steps_per_iteration=60),
                     eval_problems=2, eval_budget=2, threads=1)
    rows = improve(config, tmp_path / "run")
    assert rows[-1]["train_solve_rate"] >= 0.1  # the search found solutions to learn from
    after = solved(tmp_path / "run")
    assert after > before, (before, after)


def test_a_shipped_world_model_stays_the_start_when_the_config_gains_a_field():
    """A manifest written before a TinyLMConfig field existed still builds the same model: the
    comparison fills in defaults (a new field once made every run pretrain from scratch)."""
    from lmzero import checkpoint
    from lmzero.learn.pretrain import build_model, tokenizer_for
    from lmzero.models.load import SHIPPED
    from lmzero.selfimprove import _same_architecture, preset, task_of
    for name in ("game24", "countdown"):
        config = preset(name, "quick")
        model = build_model(config.pretrain, tokenizer_for(task_of(config)))
        saved = checkpoint.verify(SHIPPED / f"{name}-pretrain")["model"]
        assert _same_architecture(saved, model.cfg)
        older = {k: v for k, v in model.cfg.to_dict().items() if k != "rope"}  # rope=False
        assert not _same_architecture(older, model.cfg)  # a default that differs: another model
        assert not _same_architecture(dict(saved, n_layer=9), model.cfg)
        assert not _same_architecture({"no_such_field": 1}, model.cfg)
