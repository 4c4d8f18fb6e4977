"""The residual convolutional trunk for board games (`TinyLMConfig.trunk = "resnet"`)."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from lmzero.learn import LearnerConfig
from lmzero.loop import TrainConfig, train
from lmzero.models.game_net import GameTokenizer, NetworkEvaluator
from lmzero.models.load import load_network
from lmzero.models.tinylm import TinyLM, TinyLMConfig
from lmzero.selfplay import SelfPlayConfig
from lmzero.tasks import tictactoe as ttt
from lmzero.tasks.connect4 import ConnectFour, from_moves

RESNET = dict(trunk="resnet", n_layer=2, n_embd=16)


def test_the_board_comes_from_the_game():
    config = GameTokenizer(ConnectFour()).model_config(**RESNET)
    assert (config.board_rows, config.board_cols, config.block_size) == (6, 7, 43)
    config = GameTokenizer(ttt.TicTacToe()).model_config(**RESNET)
    assert (config.board_rows, config.board_cols) == (3, 3)


@pytest.mark.parametrize("fields, message", [
    (dict(trunk="resnet"), "needs a board"),
    (dict(trunk="resnet", board_rows=7, board_cols=7, block_size=43), "at most block_size - 1"),
    (dict(trunk="resnet", board_rows=6, board_cols=7, block_size=1, observation_size=5),
     "at most observation_size"),
    (dict(trunk="transformer", block_size=1, observation_size=5),
     "observation input needs the MLP or resnet trunk"),
    (dict(board_rows=-1), "board_rows must be"),
    (dict(board_cols="7"), "board_cols must be"),
    (dict(trunk="conv"), "trunk must be one of transformer, mlp, resnet"),
])
def test_a_config_that_cannot_build_a_resnet_is_refused(fields, message):
    with pytest.raises(ValueError, match=message):
        TinyLMConfig(**fields)


def test_a_game_without_a_board_cannot_take_the_resnet_trunk():
    class Boardless(ttt.TicTacToe):
        board_shape = None
    with pytest.raises(ValueError, match="gives no board_shape"):
        GameTokenizer(Boardless()).model_config(**RESNET)


def test_outputs_depend_on_where_the_stones_are_and_who_moves():
    torch.manual_seed(0)
    game = ConnectFour()
    tokenizer = GameTokenizer(game)
    model = TinyLM(tokenizer.model_config(**RESNET)).eval()
    states = [from_moves(m) for m in ("4", "1", "44", "")]
    evaluator = NetworkEvaluator(game, model, tokenizer)
    priors, values = evaluator.evaluate(states)
    assert priors.shape == (4, 7) and np.allclose(priors.sum(1), 1) and values.shape == (4,)
    assert np.all(np.abs(values) < 1)
    assert not np.allclose(priors[0], priors[1])  # the same stone in another column
    tokens = torch.as_tensor(tokenizer.tokens(states[:1]))
    flipped = tokens.clone()
    flipped[0, -1] = 7 - flipped[0, -1]  # side-to-move token 3 <-> 4
    with torch.inference_mode():
        assert not torch.allclose(model(tokens)[1], model(flipped)[1])


def test_a_resnet_run_trains_checkpoints_and_loads_back(tmp_path):
    config = TrainConfig(game="tictactoe", iterations=2, eval_games=2, eval_simulations=4,
                         model=RESNET, selfplay=SelfPlayConfig(games=6, simulations=8),
                         learner=LearnerConfig(batch_size=32, steps_per_iteration=5))
    rows = train(config, tmp_path / "run")
    assert [r["iteration"] for r in rows] == [0, 1]
    evaluator = load_network(tmp_path / "run", ttt.TicTacToe())
    assert evaluator.model.cfg.trunk == "resnet" and evaluator.model.cfg.board_rows == 3
    rows = train(replace(config, iterations=2), tmp_path / "run", resume=True, iterations=3)
    assert [r["iteration"] for r in rows] == [0, 1, 2]


def test_an_openspiel_games_observation_planes_feed_the_resnet(tmp_path):
    pytest.importorskip("pyspiel")
    from lmzero.tasks.openspiel import load_game
    game = load_game("breakthrough")
    tokenizer = GameTokenizer(game)
    config = tokenizer.model_config(**RESNET)
    assert (config.board_rows, config.board_cols, config.observation_size) == (8, 8, 3 * 64 + 2)
    model = TinyLM(config)
    assert model.conv.stem.in_channels == 3 + 2  # three planes, the side to move as two more
    start = game.initial_state()
    after = game.apply(start, int(np.flatnonzero(game.legal_mask(start))[0]))
    priors, values = NetworkEvaluator(game, model, tokenizer).evaluate([start, after])
    assert priors.shape == (2, game.num_actions) and not np.allclose(priors[0], priors[1])
    assert np.allclose(priors.sum(1), 1) and np.all(priors[~np.stack(
        [game.legal_mask(start), game.legal_mask(after)])] == 0)
    assert values[0] != values[1]


def test_a_game_whose_observation_is_no_stack_of_planes_has_no_board():
    pytest.importorskip("pyspiel")
    from lmzero.tasks.openspiel import load_game
    game = load_game("nim")
    assert game.board_shape is None
    with pytest.raises(ValueError, match="gives no board_shape"):
        GameTokenizer(game).model_config(**RESNET)


def test_mirror_averaging_gives_each_state_the_mean_of_it_and_its_mirror():
    torch.manual_seed(1)
    game = ConnectFour()
    tokenizer = GameTokenizer(game)
    model = TinyLM(tokenizer.model_config(**RESNET)).eval()
    plain = NetworkEvaluator(game, model, tokenizer)
    averaged = NetworkEvaluator(game, model, tokenizer, mirror_average=True)
    state, image = from_moves("1123"), from_moves("7765")  # 1..7 <-> 7..1
    _, (v, vm) = plain.evaluate([state, image])
    priors, values = averaged.evaluate([state, image])
    assert not np.isclose(v, vm)  # the untrained network does not see the symmetry
    assert np.allclose(values, (v + vm) / 2, atol=1e-6)
    assert np.allclose(priors[0], priors[1][::-1], atol=1e-6)  # each the other's mirror
    [empty], _ = averaged.evaluate([from_moves("")])
    assert np.allclose(empty, empty[::-1], atol=1e-6)


def test_mirror_averaging_is_refused_without_a_cell_mirror():
    class Unmirrored(ttt.TicTacToe):
        mirror = None
    game = Unmirrored()
    with pytest.raises(ValueError, match="no left-right mirror"):
        NetworkEvaluator(game, TinyLM(GameTokenizer(game).model_config()), mirror_average=True)
