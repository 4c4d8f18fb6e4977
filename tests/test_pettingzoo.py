"""PettingZoo games through lmzero (`tasks/pettingzoo.py`): the adapter agrees with our own
Connect Four move by move, never mutates a state, is searched and trained like any game, refuses
what it cannot play in one line, and the CLI analyses `pettingzoo:MODULE`."""

import json
import sys
import types

import numpy as np
import pytest

pytest.importorskip("pettingzoo")

from lmzero.tasks import TaskError, load_task  # noqa: E402
from lmzero.tasks.connect4 import ConnectFour  # noqa: E402
from lmzero.tasks.pettingzoo import PettingZooError, load_game  # noqa: E402
from tests.test_cli_edge import lmzero  # noqa: E402

C4 = "pettingzoo:classic.connect_four_v3"
TTT = "pettingzoo:classic.tictactoe_v3"


@pytest.mark.parametrize("seed", range(6))
def test_connect_four_agrees_with_ours_on_random_games(seed):
    ours, theirs = ConnectFour(), load_task(C4)
    assert theirs.name == C4 and theirs.num_actions == 7
    rng = np.random.default_rng(seed)
    a, b = ours.initial_state(), theirs.initial_state()
    while True:
        assert ours.to_play(a) == theirs.to_play(b)
        assert ours.legal_mask(a).tolist() == theirs.legal_mask(b).tolist()
        assert ours.is_terminal(a) == theirs.is_terminal(b)
        x = theirs.observation(b)
        assert x.dtype == np.float32 and x.shape == (6 * 7 * 2 + 2,)
        assert x[-2:].tolist() == [theirs.to_play(b) == 0, theirs.to_play(b) == 1]
        if ours.is_terminal(a):
            break
        move = int(rng.choice(np.flatnonzero(ours.legal_mask(a))))
        a, b = ours.apply(a, move), theirs.apply(b, move)
    assert ours.terminal_value(a) == theirs.terminal_value(b)
    assert not theirs.legal_mask(b).any()
    assert theirs.to_play(b) == 1 - theirs.to_play(theirs.from_moves(
        " ".join(map(str, b.history[:-1]))))


def test_a_win_and_a_full_board_score_as_in_our_game():
    ours, theirs = ConnectFour(), load_task(C4)
    win = theirs.from_moves("3 3 4 4 5 5 6")  # the first player makes four in the bottom row
    assert theirs.is_terminal(win) and theirs.to_play(win) == 1
    assert theirs.terminal_value(win) == ours.terminal_value(ours.from_moves("4455667")) == -1
    with pytest.raises(ValueError, match="over"):
        theirs.apply(win, 0)


def test_apply_never_mutates_and_refuses_illegal_moves():
    game = load_task(C4)
    state = game.from_moves("0 0 0 0 0")
    before = (game.observation(state).tolist(), game.legal_mask(state).tolist(), state.history)
    child = game.apply(state, 0)  # fills column 0
    assert (game.observation(state).tolist(), game.legal_mask(state).tolist(),
            state.history) == before
    assert child.history == state.history + (0,) and not game.legal_mask(child)[0]
    with pytest.raises(ValueError, match="illegal"):
        game.apply(child, 0)
    with pytest.raises(ValueError, match="illegal"):
        game.apply(child, 7)
    game.rollout(state, np.random.default_rng(0))  # steps a copy in place, not `state`
    assert game.legal_mask(state).tolist() == before[1]
    assert game.key(child) == (0,) * 6 and game.render(child).splitlines()[-1].startswith("x")


def test_rollouts_score_from_the_player_to_move():
    game = load_task(C4)
    state = game.from_moves("3 3 4 4 5 5")  # the first player to move wins at 2 or 6
    rng = np.random.default_rng(0)
    values = [game.rollout(state, rng) for _ in range(40)]
    assert set(values) <= {-1.0, 0.0, 1.0} and np.mean(values) > 0.2


def test_rollout_search_wins_and_blocks_on_tictactoe():
    from lmzero.search import RolloutEvaluator, SearchConfig, search
    game = load_task(TTT)
    lines = {"0 3 1 4": {2}, "4 0 8 2": {1}, "0 4 1": {2}, "4 0 3 1": {2, 5}}
    states = [game.from_moves(line) for line in lines]
    result = search(game, RolloutEvaluator(game, seed=0), states,
                    SearchConfig(num_simulations=800, method="uct"), rng=0)
    for b, best in enumerate(lines.values()):
        assert int(result.action[b]) in best


def test_self_play_training_runs(tmp_path):
    from lmzero.learn import LearnerConfig
    from lmzero.loop import TrainConfig, build_model, train
    from lmzero.selfplay import SelfPlayConfig
    game = load_task(TTT)
    config = TrainConfig(game=TTT, iterations=1, eval_games=2, eval_simulations=4,
                         selfplay=SelfPlayConfig(games=4, simulations=8),
                         learner=LearnerConfig(batch_size=16, steps_per_iteration=3))
    model, _ = build_model(game, config)
    assert model.cfg.observation_size == 3 * 3 * 2 + 2 and model.cfg.vocab_size == 9
    rows = train(config, tmp_path / "run")
    assert rows[-1]["iteration"] == 0 and "score_vs_mcts4" in rows[-1]


def fake_module(monkeypatch, name: str, make) -> str:
    """`pettingzoo:NAME` made importable, its `env()` calling `make`."""
    module = types.ModuleType(f"pettingzoo.{name}")
    module.env = make
    monkeypatch.setitem(sys.modules, f"pettingzoo.{name}", module)
    return f"pettingzoo:{name}"


def test_parallel_and_continuous_environments_are_refused(monkeypatch):
    from gymnasium import spaces
    from pettingzoo.utils.env import AECEnv, ParallelEnv

    class Parallel(ParallelEnv):
        possible_agents = ["a", "b"]

    class Continuous(AECEnv):
        possible_agents = ["a", "b"]

        def action_space(self, agent):
            return spaces.Box(-1, 1, (2,))

    for name, make, why in [("fake_parallel_v0", Parallel, "parallel environment"),
                            ("fake_box_v0", Continuous, "Discrete"),
                            ("fake_none_v0", lambda: 3, "not a PettingZoo AEC")]:
        with pytest.raises(TaskError, match=why) as info:
            load_task(fake_module(monkeypatch, name, make))
        assert "\n" not in str(info.value)


@pytest.mark.parametrize("module, why", [
    ("classic.conect_four_v3", "unknown PettingZoo module .*did you mean classic.connect_four_v3"),
    ("classic", "has no env()"),
    ("classic.rps_v2", "'observation' and 'action_mask'"),
    ("mpe.simple_spread_v3", "3 agents"),
    ("../etc", "unknown PettingZoo module"),
])
def test_what_cannot_be_played_is_refused_in_one_line(module, why):
    with pytest.raises(TaskError, match=why) as info:
        load_task(f"pettingzoo:{module}")
    assert "\n" not in str(info.value)
    with pytest.raises(PettingZooError, match=why):
        load_game(module)


def test_moves_are_action_ids_with_one_line_errors():
    game = load_task(TTT)
    assert game.from_moves("0, 4;8 2").history == (0, 4, 8, 2)
    assert game.from_moves("").history == ()
    assert game.parse_move(" 5 ", game.initial_state()) == 5 and game.move_name(None, 5) == "5"
    for line, message in [("0 zz", "move 2: 'zz' is not a legal move"),
                          ("0 0", "move 2: action 0 is not legal"),
                          ("0 9", "move 2: action 9 is not legal"),
                          ("0 3 1 4 2 5", "move 6 .* comes after the game is over")]:
        with pytest.raises(ValueError, match=message):
            game.from_moves(line)


def test_cli_analyses_a_pettingzoo_game(monkeypatch, capsys, tmp_path):
    positions = tmp_path / "positions.txt"
    positions.write_text("0 3 1 4\n4 0 8 2\n")
    code, out, err = lmzero(monkeypatch, capsys, "analyse", TTT, "--positions", positions,
                            "--rollouts", "--simulations", "400", "--json")
    assert code == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["action"] for r in rows] == [2, 1] and rows[0]["move"] == "2"  # win; block


def test_cli_errors_are_one_line(monkeypatch, capsys, tmp_path):
    positions = tmp_path / "positions.txt"
    positions.write_text("0\n0 zz\n")
    for game, message in [(TTT, "line 2 ('0 zz'): move 2: 'zz' is not a legal move"),
                          ("pettingzoo:classic.rps_v2", "not supported")]:
        code, out, err = lmzero(monkeypatch, capsys, "analyse", game, "--positions", positions)
        assert code == 2 and message in err and out == "", err
        assert len(err.strip().splitlines()) == 1


def test_without_pettingzoo_the_registry_says_what_to_install(monkeypatch):
    for name in [n for n in sys.modules if n == "pettingzoo" or n.startswith("pettingzoo.")]:
        monkeypatch.setitem(sys.modules, name, None)  # importing it now raises ImportError
    monkeypatch.setitem(sys.modules, "pettingzoo", None)
    monkeypatch.delitem(sys.modules, "lmzero.tasks.pettingzoo")
    with pytest.raises(TaskError, match=r"pip install 'lmzero\[pettingzoo\]'"):
        load_task(C4)
