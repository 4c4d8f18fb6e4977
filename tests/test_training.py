"""The AlphaZero loop's parts: the learner learns, a run resumes after a crash with nothing lost
or duplicated."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import replace

import numpy as np
import pytest
import torch

from lmzero.learn import Learner, LearnerConfig
from lmzero.loop import TrainConfig, positions_arrays, train
from lmzero.models.game_net import GameTokenizer, NetworkEvaluator
from lmzero.models.tinylm import TinyLM
from lmzero.replay import ReplayBuffer
from lmzero.run import Run
from lmzero.selfplay import SelfPlayConfig, play_games
from lmzero.tasks import tictactoe as ttt

GAME = ttt.TicTacToe()

TINY = TrainConfig(game="tictactoe", iterations=3, eval_games=2, eval_simulations=4,
                   selfplay=SelfPlayConfig(games=6, simulations=8),
                   learner=LearnerConfig(batch_size=32, steps_per_iteration=5))


@pytest.mark.parametrize("model", [dict(n_layer=1, n_embd=32),
                                   dict(trunk="resnet", n_layer=2, n_embd=32)],
                         ids=["transformer", "resnet"])
def test_learner_losses_fall_on_a_fixed_batch(model):
    torch.manual_seed(0)
    tokenizer = GameTokenizer(GAME)
    model = TinyLM(tokenizer.model_config(**model))
    states = ttt.reachable_states()[:64]
    rng = np.random.default_rng(0)
    policy = np.zeros((64, 9), np.float32)  # a sharp target: one legal move per position
    for i, s in enumerate(states):
        policy[i, rng.choice(np.flatnonzero(GAME.legal_mask(s)))] = 1.0
    data = dict(tokens=tokenizer.tokens(states), policy=policy,
                value=np.array([ttt.solve(s) for s in states], np.float32),
                target=np.ones(64, bool))
    learner = Learner(model, tokenizer.move_tokens, LearnerConfig(batch_size=64, lr=3e-3,
                      warmup_steps=5, mirror=False), total_steps=200)
    first = learner.train(data, 1, rng)
    learner.train(data, 200, rng)
    last = learner.train(data, 1, rng)
    assert last["value"] < 0.2 * first["value"]
    assert last["policy"] < 0.5 * first["policy"]


def test_self_play_records_consistent_targets():
    tokenizer = GameTokenizer(GAME)
    evaluator = NetworkEvaluator(GAME, TinyLM(tokenizer.model_config()), tokenizer)
    records = play_games(GAME, evaluator, SelfPlayConfig(games=5, simulations=8, playout_cap=0.5),
                         np.random.default_rng(0))
    assert len(records) == 5
    for r in records:
        assert len(r.states) == len(r.policies) == len(r.outcomes) >= 5
        np.testing.assert_allclose(r.policies.sum(1), 1.0, atol=1e-5)
        # the outcome alternates sign with the player to move, and matches the game's end
        assert set(np.unique(np.abs(r.outcomes))) <= {0.0, 1.0}
        assert np.all(r.outcomes[1:] == -r.outcomes[:-1])
        legal = np.stack([GAME.legal_mask(s) for s in r.states])
        assert np.all(r.policies[~legal] == 0)
    assert any(not r.targets.all() for r in records)  # playout cap: some moves are cheap


def test_value_target_mixes_the_outcome_with_the_search_value():
    """search_value_weight w: target = (1 - w) z + w q, q the root value of each search (exact
    where MCTS-Solver proved the position: a position one move from a win has q = 1)."""
    tokenizer = GameTokenizer(GAME)
    evaluator = NetworkEvaluator(GAME, TinyLM(tokenizer.model_config()), tokenizer)
    config = SelfPlayConfig(games=6, simulations=16, search_value_weight=0.5)
    records = play_games(GAME, evaluator, config, np.random.default_rng(1))
    for r in records:
        assert np.all(np.abs(r.search_values) <= 1.0)
        np.testing.assert_allclose(r.value_targets(0.5), 0.5 * r.outcomes + 0.5 * r.search_values)
        np.testing.assert_array_equal(r.value_targets(0.0), r.outcomes)
        # the last mover won, and its search (solver on) saw the winning move: q = 1 = z
        if r.outcomes[-1] == 1.0:
            assert r.search_values[-1] == pytest.approx(1.0)
    assert any(r.outcomes[-1] == 1.0 for r in records)
    arrays = positions_arrays(records, tokenizer, 0, search_value_weight=0.5)
    np.testing.assert_allclose(arrays["value"],
                               np.concatenate([r.value_targets(0.5) for r in records]))
    with pytest.raises(ValueError, match="search_value_weight"):
        SelfPlayConfig(search_value_weight=1.5)


def test_resume_with_more_iterations_extends_the_run(tmp_path):
    run_dir = tmp_path / "run"
    train(replace(TINY, iterations=1), run_dir)
    rows = train(replace(TINY, iterations=1), run_dir, resume=True, iterations=2)
    assert [r["iteration"] for r in rows] == [0, 1]
    assert json.loads((run_dir / "config.json").read_text())["iterations"] == 2
    assert ReplayBuffer(run_dir / "replay").shard_ids() == [0, 1]


def test_resume_after_a_crash_loses_and_duplicates_nothing(tmp_path):
    run_dir = tmp_path / "run"
    train(replace(TINY, iterations=2), run_dir)
    run = Run(run_dir)
    # simulate a kill during iteration 1: its checkpoint and metrics line never made it,
    # but its replay shard did, and the metrics file ends with a torn line
    shutil.rmtree(run.checkpoints / "00001")
    lines = run.metrics_path.read_text().splitlines()
    run.metrics_path.write_text(lines[0] + "\n" + lines[1][:20])
    shard_before = (run_dir / "replay" / "shard-000001.npz").read_bytes()
    rows = train(TINY, run_dir, resume=True, iterations=3)
    assert [r["iteration"] for r in rows] == [0, 1, 2]
    assert run.completed() == [0, 1, 2]
    assert (run_dir / "replay" / "shard-000001.npz").read_bytes() == shard_before
    games = ReplayBuffer(run_dir / "replay").window_arrays()["game"]
    assert sorted(set(games.tolist())) == list(range(3 * TINY.selfplay.games))
    assert (run_dir / "plots" / "strength.png").is_file()
    assert any((run_dir / "tb").iterdir())


def test_a_fresh_run_refuses_to_overwrite(tmp_path):
    train(replace(TINY, iterations=1), tmp_path / "run")
    with pytest.raises(ValueError, match="--resume"):
        train(replace(TINY, iterations=1), tmp_path / "run")


@pytest.mark.slow  # two training subprocesses
def test_kill_9_mid_run_then_resume(tmp_path):
    run_dir = tmp_path / "run"
    code = ("import sys; from dataclasses import replace; from lmzero.loop import train;"
            "from tests.test_training import TINY;"
            "train(replace(TINY, iterations=6), sys.argv[1], resume=len(sys.argv) > 2)")
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    proc = subprocess.Popen([sys.executable, "-c", code, str(run_dir)], env=env)
    deadline = time.time() + 120
    while time.time() < deadline and len(Run(run_dir).completed()) < 2:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert 2 <= len(Run(run_dir).completed()) < 6
    subprocess.run([sys.executable, "-c", code, str(run_dir), "resume"], env=env, check=True,
                   timeout=300)
    run = Run(run_dir)
    assert run.completed() == list(range(6))
    assert [r["iteration"] for r in run.metrics()] == list(range(6))
    games = ReplayBuffer(run_dir / "replay").window_arrays()["game"]
    assert sorted(set(games.tolist())) == list(range(6 * TINY.selfplay.games))


def test_killed_between_checkpoint_and_metrics_line(tmp_path):
    run_dir = tmp_path / "run"
    train(replace(TINY, iterations=2), run_dir)
    run = Run(run_dir)
    full = run.metrics()
    run.metrics_path.write_text(json.dumps(full[0]) + "\n")  # iteration 1's line never written
    rows = train(TINY, run_dir, resume=True)  # config.json still says 2 iterations
    assert [r["iteration"] for r in rows] == [0, 1]
    assert rows[1]["loss_total"] == full[1]["loss_total"]  # restored from the checkpoint
    assert run.completed() == [0, 1]


@pytest.mark.slow  # training: about 2.5 minutes here
def test_tictactoe_quick_preset_learns_perfect_play(tmp_path):
    """The `lmzero train tictactoe` quick preset, from scratch: the network's greedy move keeps
    the game-theoretic value in every one of the 4,520 reachable positions, and neither the raw
    network nor its search loses to the exact solver."""
    from lmzero.eval.game_eval import tictactoe_report
    from lmzero.loop import PRESETS, build_model
    from lmzero.models.game_net import NetworkEvaluator
    config = PRESETS[("tictactoe", "quick")]
    rows = train(config, tmp_path / "run")
    final = rows[-1]
    assert final["raw_vs_solver_losses"] == 0 and final["search_vs_solver_losses"] == 0
    assert final["greedy_keeps_value"] == 1.0
    torch.manual_seed(config.seed)
    untrained, tokenizer = build_model(GAME, config)  # it learned: the start was far off
    start = tictactoe_report(GAME, NetworkEvaluator(GAME, untrained.eval(), tokenizer), 2, 4)
    assert start["greedy_keeps_value"] < 0.8


def test_arena_gating_keeps_the_best_network_for_self_play(tmp_path):
    never = replace(TINY, iterations=2, gate_games=4, gate_threshold=1.01)  # nothing can pass
    rows = train(never, tmp_path / "never")
    assert all(not r["gate_accepted"] and 0 <= r["gate_score"] <= 1 for r in rows)
    from lmzero import checkpoint
    first = checkpoint.load_extra(tmp_path / "never" / "checkpoints" / "00001", "best")
    torch.manual_seed(TINY.seed)
    from lmzero.loop import build_model, make_game
    initial = build_model(make_game("tictactoe"), TINY)[0].state_dict()
    assert all(torch.equal(first[k], initial[k]) for k in initial)  # self-play net never changed
    always = replace(TINY, iterations=2, gate_games=2, gate_threshold=0.0)
    rows = train(always, tmp_path / "always")
    assert all(r["gate_accepted"] for r in rows)
    last = tmp_path / "always" / "checkpoints" / "00001"
    best, weights = checkpoint.load_extra(last, "best"), checkpoint.load(last)[0]
    assert all(torch.equal(best[k], weights[k]) for k in weights)


def test_optimizer_state_survives_a_checkpoint(tmp_path):
    from lmzero import checkpoint
    tokenizer = GameTokenizer(GAME)
    states = ttt.reachable_states()[:32]
    data = dict(tokens=tokenizer.tokens(states), policy=np.full((32, 9), 1 / 9, np.float32),
                value=np.zeros(32, np.float32), target=np.ones(32, bool))
    torch.manual_seed(0)
    model = TinyLM(tokenizer.model_config(trunk="mlp", n_embd=16))
    learner = Learner(model, tokenizer.move_tokens, LearnerConfig(batch_size=8), total_steps=10)
    learner.train(data, 3, np.random.default_rng(0))
    path = checkpoint.save(tmp_path / "c", model.state_dict(), {},
                           extra={"optimizer": learner.optimizer_tensors()})
    clone = TinyLM(tokenizer.model_config(trunk="mlp", n_embd=16))
    clone.load_state_dict(checkpoint.load(path)[0])
    resumed = Learner(clone, tokenizer.move_tokens, LearnerConfig(batch_size=8), total_steps=10)
    resumed.load_optimizer_tensors(checkpoint.load_extra(path, "optimizer"), learner.step_count)
    for p, q in zip(model.parameters(), clone.parameters()):
        a, b = learner.optimizer.state[p], resumed.optimizer.state[q]
        assert torch.equal(a["exp_avg"], b["exp_avg"]) and torch.equal(a["exp_avg_sq"], b["exp_avg_sq"])
    # the next step is the same step: identical weights afterwards
    learner.train(data, 1, np.random.default_rng(5))
    resumed.train(data, 1, np.random.default_rng(5))
    assert all(torch.allclose(p, q) for p, q in zip(model.parameters(), clone.parameters()))


def test_a_damaged_shard_is_redone_if_unfinished_and_named_if_finished(tmp_path):
    """A shard of an unfinished iteration that does not read back is played again; one of a
    finished iteration (its data trained a checkpoint) stops the resume, naming the file,
    before any work."""
    from lmzero.replay.buffer import ReplayError
    run_dir = tmp_path / "run"
    reference = train(replace(TINY, iterations=2), run_dir)
    run = Run(run_dir)
    shutil.rmtree(run.checkpoints / "00001")  # killed after shard 1, before its checkpoint
    shard = run_dir / "replay" / "shard-000001.npz"
    shard.write_bytes(shard.read_bytes()[:100])
    rows = train(TINY, run_dir, resume=True)
    assert [r["loss_total"] for r in rows] == [r["loss_total"] for r in reference]
    first = run_dir / "replay" / "shard-000000.npz"
    first.write_bytes(b"garbage")
    with pytest.raises(ReplayError, match="shard-000000.npz: unreadable replay shard"):
        train(TINY, run_dir, resume=True, iterations=3)
    assert run.completed() == [0, 1]


def test_threads_apply_to_a_new_run_and_replace_a_resumed_runs(tmp_path):
    run_dir = tmp_path / "run"
    train(replace(TINY, iterations=1), run_dir, threads=2)
    assert json.loads((run_dir / "config.json").read_text())["threads"] == 2
    train(TINY, run_dir, resume=True, iterations=2, threads=1)
    saved = json.loads((run_dir / "config.json").read_text())
    assert (saved["threads"], saved["iterations"]) == (1, 2)
