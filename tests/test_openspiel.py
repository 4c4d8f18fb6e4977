"""OpenSpiel games through lmzero (`tasks/openspiel.py`): the adapter keeps the `Game` contract
on five games, agrees with our own tic-tac-toe, refuses what it cannot play in one line, and the
CLI trains, plays and analyses `openspiel:NAME`."""

import json
import subprocess
import sys

import numpy as np
import pytest

pyspiel = pytest.importorskip("pyspiel")

from lmzero.tasks import TaskError, load_task  # noqa: E402
from lmzero.tasks import tictactoe as ttt  # noqa: E402
from lmzero.tasks.openspiel import OpenSpielError, load_game  # noqa: E402

GAMES = ["breakthrough", "hex(board_size=5)", "othello", "nine_mens_morris", "tic_tac_toe"]


def lmzero(*args, stdin=""):
    return subprocess.run([sys.executable, "-m", "lmzero.cli", *args], input=stdin,
                          capture_output=True, text=True, timeout=300)


def random_game(game, seed: int):
    """Every state of one uniformly random game, the terminal one last."""
    rng = np.random.default_rng(seed)
    states = [game.initial_state()]
    while not game.is_terminal(states[-1]):
        legal = np.flatnonzero(game.legal_mask(states[-1]))
        states.append(game.apply(states[-1], int(rng.choice(legal))))
    return states


@pytest.mark.parametrize("spec", GAMES)
def test_adapter_keeps_the_game_contract(spec):
    game = load_task(f"openspiel:{spec}")
    assert game.name == f"openspiel:{spec}"
    states = random_game(game, seed=0)
    for state in states[:-1]:
        mask = game.legal_mask(state)
        assert mask.shape == (game.num_actions,) and mask.dtype == bool
        assert np.flatnonzero(mask).tolist() == state.legal_actions()
        assert game.to_play(state) == state.current_player()
        x = game.observation(state)
        assert x.dtype == np.float32 and x[-2:].tolist() == [game.to_play(state) == 0,
                                                             game.to_play(state) == 1]
    last = states[-1]
    assert game.is_terminal(last) and not game.legal_mask(last).any()
    # the player to move in a terminal state is the one after the last mover
    assert game.to_play(last) == 1 - last.full_history()[-1].player
    assert game.terminal_value(last) == last.returns()[game.to_play(last)]
    assert len({game.key(s) for s in states}) == len(states)


@pytest.mark.parametrize("spec", GAMES)
def test_apply_never_mutates_and_refuses_illegal_moves(spec):
    game = load_task(f"openspiel:{spec}")
    state = random_game(game, seed=1)[3]
    before = (str(state), state.history())
    action = int(np.flatnonzero(game.legal_mask(state))[0])
    child = game.apply(state, action)
    assert (str(state), state.history()) == before
    assert child.history() == state.history() + [action]
    illegal = np.flatnonzero(~game.legal_mask(state))
    if len(illegal):
        with pytest.raises(ValueError, match="illegal"):
            game.apply(state, int(illegal[0]))


@pytest.mark.parametrize("spec", ["breakthrough", "hex(board_size=5)", "othello",
                                  "tic_tac_toe"])
def test_to_play_alternates(spec):
    game = load_task(f"openspiel:{spec}")
    states = random_game(game, seed=5)  # seed 5: an othello game with a pass
    assert [game.to_play(s) for s in states] == [i % 2 for i in range(len(states))]


def test_othello_passes_are_moves_that_hand_over_the_turn():
    game = load_task("openspiel:othello")
    states = random_game(game, seed=5)
    passes = [(a, b) for a, b in zip(states, states[1:]) if b.history()[-1] == 64]
    assert passes and all(game.move_name(a, 64) == "pass" for a, _ in passes)
    assert all(game.to_play(b) == 1 - game.to_play(a) for a, b in passes)


def test_nine_mens_morris_mill_gives_the_mover_another_move():
    game = load_task("openspiel:nine_mens_morris")
    states = random_game(game, seed=0)
    again = [b for a, b in zip(states, states[1:-1]) if game.to_play(a) == game.to_play(b)]
    assert again  # a mill: the same player removes a stone
    assert all(game.to_play(s) == s.current_player() for s in states[:-1])


@pytest.mark.parametrize("moves, value", [((0, 3, 1, 4, 2), -1.0),  # X wins: O to move lost
                                          ((4, 0, 8, 2, 1, 7, 6, 3, 5), 0.0)])  # a draw
def test_terminal_values_match_our_tictactoe(moves, value):
    ours, theirs = ttt.TicTacToe(), load_task("openspiel:tic_tac_toe")
    a, b = ours.initial_state(), theirs.initial_state()
    for move in moves:
        assert ours.to_play(a) == theirs.to_play(b)
        assert ours.legal_mask(a).tolist() == theirs.legal_mask(b).tolist()
        a, b = ours.apply(a, move), theirs.apply(b, move)
    assert ours.is_terminal(a) and theirs.is_terminal(b)
    assert ours.to_play(a) == theirs.to_play(b)
    assert ours.terminal_value(a) == theirs.terminal_value(b) == value


@pytest.mark.parametrize("cells", ["1425", "152", "5137", "51", "15"])  # 1-based cells
def test_search_finds_the_same_moves_as_on_our_tictactoe(cells):
    """Wins at once (1425: X at 3), forced blocks (152: O at 3; 5137: X at 4), quiet
    positions: with exact leaf values, both games' searches choose a best move, visit alike."""
    from lmzero.search import ExactEvaluator, SearchConfig, search
    ours, theirs = ttt.TicTacToe(), load_task("openspiel:tic_tac_toe")
    a = ours.from_moves(cells)
    b = theirs.from_moves(" ".join(str(int(c) - 1) for c in cells))
    values = ttt.move_values(a)
    best = set(np.flatnonzero(values == values.max()).tolist())
    config = SearchConfig(num_simulations=300, method="puct")
    # exact values of our game's states as the evaluator of both: searches must agree
    exact_ours = ExactEvaluator(ours, ttt.solve)
    exact_theirs = ExactEvaluator(theirs, lambda s: ttt.solve(ours.from_moves(
        "".join(str(h + 1) for h in s.history()))))
    mine = search(ours, exact_ours, [a], config, rng=0)
    spiel = search(theirs, exact_theirs, [b], config, rng=0)
    assert int(mine.action[0]) in best and int(spiel.action[0]) in best
    assert mine.visits.tolist() == spiel.visits.tolist()


def test_rollout_search_blocks_and_wins_on_openspiel_tictactoe():
    from lmzero.search import RolloutEvaluator, SearchConfig, search
    game = load_task("openspiel:tic_tac_toe")
    lines = {"0 3 1 4": {2}, "4 0 8 2": {1}, "0 4 1": {2}, "4 0 3 1": {2, 5}}
    states = [game.from_moves(line) for line in lines]
    result = search(game, RolloutEvaluator(game, seed=0), states,
                    SearchConfig(num_simulations=2000, method="uct"), rng=0)
    for b, best in enumerate(lines.values()):
        assert int(result.action[b]) in best


@pytest.mark.parametrize("spec, why", [
    ("kuhn_poker", "imperfect information"),
    ("goofspiel", "simultaneously"),
    ("backgammon", "chance nodes"),
    ("quoridor(players=3)", "3 players"),
    ("morpion_solitaire", "no observation tensor"),
])
def test_unsupported_games_are_refused_in_one_line(spec, why):
    with pytest.raises(TaskError) as info:
        load_task(f"openspiel:{spec}")
    message = str(info.value)
    assert why in message and "not supported" in message and "\n" not in message


def test_unknown_names_and_bad_parameters_say_how_to_find_names():
    with pytest.raises(OpenSpielError, match="did you mean breakthrough.*registered_names"):
        load_game("brekthrough")
    with pytest.raises(OpenSpielError, match="could not load 'hex.board_size=x.'") as info:
        load_game("hex(board_size=x)")
    assert "\n" not in str(info.value)


def test_a_one_player_puzzle_is_searched_with_scaled_returns():
    game = load_task("openspiel:cliff_walking")
    states = random_game(game, seed=0)
    assert {game.to_play(s) for s in states} == {0}
    low, high = game.game.min_utility(), game.game.max_utility()
    r = states[-1].returns()[0]
    assert game.terminal_value(states[-1]) == pytest.approx(2 * (r - low) / (high - low) - 1)


def test_moves_are_read_as_action_strings_or_ids():
    game = load_task("openspiel:breakthrough")
    by_name = game.from_moves("a7a6 b2b3")
    ids = [a for a in by_name.history()]
    assert game.from_moves(" ".join(map(str, ids))).history() == ids
    assert game.from_moves(f"A7A6, {ids[1]}").history() == ids  # commas, any case
    morris = load_task("openspiel:nine_mens_morris")  # action strings with spaces, commas
    assert morris.from_moves("Point 3, Point 5").history() == [3, 5]
    assert morris.from_moves("Point 3 Point 5;Point 7").history() == [3, 5, 7]
    tictactoe = load_task("openspiel:tic_tac_toe")
    assert tictactoe.from_moves("x(0,0) o(1,1),2").history() == [0, 4, 2]
    with pytest.raises(ValueError, match="move 2: 'zz' is not a legal move"):
        game.from_moves("a7a6 zz")


def test_the_network_reads_the_observation_vector():
    from lmzero.loop import TrainConfig, build_model
    from lmzero.models.game_net import NetworkEvaluator
    game = load_task("openspiel:hex(board_size=5)")
    model, tokenizer = build_model(game, TrainConfig(game=game.name))
    assert (model.cfg.observation_size, model.cfg.vocab_size) == (9 * 25 + 2, 25)
    states = random_game(game, seed=0)[:4]
    assert tokenizer.tokens(states).shape == (4, 9 * 25 + 2)
    priors, values = NetworkEvaluator(game, model, tokenizer).evaluate(states)
    for state, p in zip(states, priors):  # priors only on legal moves, summing to one
        assert p[~game.legal_mask(state)].sum() == 0 and abs(p.sum() - 1) < 1e-5
    assert np.all(np.abs(values) <= 1)


@pytest.mark.slow  # a training iteration and its evaluation (~2-4 s)
def test_the_network_reads_the_observation_and_trains(tmp_path):
    import torch

    from lmzero.learn import LearnerConfig
    from lmzero.loop import TrainConfig, build_model, train
    from lmzero.models.load import load_network
    from lmzero.selfplay import SelfPlayConfig
    game = load_task("openspiel:tic_tac_toe")
    config = TrainConfig(game=game.name, iterations=1, eval_games=2, eval_simulations=4,
                         selfplay=SelfPlayConfig(games=4, simulations=8, method="gumbel"),
                         learner=LearnerConfig(steps_per_iteration=3, batch_size=16))
    model, tokenizer = build_model(game, config)
    assert model.cfg.observation_size == 3 * 9 + 2 and model.cfg.vocab_size == 9
    rows = train(config, tmp_path / "run")
    assert rows[-1]["iteration"] == 0 and "score_vs_mcts4" in rows[-1]
    evaluator = load_network(tmp_path / "run", game)
    priors, values = evaluator.evaluate([game.initial_state()])
    assert priors.shape == (1, 9) and abs(priors.sum() - 1) < 1e-5 and -1 <= values[0] <= 1
    assert torch.isfinite(torch.as_tensor(values)).all()


@pytest.mark.slow  # a subprocess trains one quick iteration (~20 s here)
def test_cli_trains_then_analyses_openspiel_tictactoe(tmp_path):
    run = lmzero("train", "openspiel:tic_tac_toe", "--preset", "quick", "--iterations", "1",
                 "--run", str(tmp_path / "run"))
    assert run.returncode == 0, run.stderr
    positions = tmp_path / "positions.txt"
    positions.write_text("x(0,0) o(1,0) x(0,1) o(1,1)\n0 4 1\n")
    run = lmzero("analyse", "openspiel:tic_tac_toe", "--positions", str(positions),
                 "--checkpoint", str(tmp_path / "run"), "--simulations", "200", "--json")
    assert run.returncode == 0, run.stderr
    rows = [json.loads(line) for line in run.stdout.splitlines()]
    assert [r["action"] for r in rows] == [2, 2]  # win at once; block
    assert rows[0]["move"] == "x(0,2)"


def test_cli_analyse_error_paths_are_one_line(tmp_path):
    positions = tmp_path / "positions.txt"
    positions.write_text("a7a6\na7a6 zz\n")
    for args, message in [
        (["openspiel:breakthrough"], "line 2 ('a7a6 zz'): move 2: 'zz' is not a legal move"),
        (["openspiel:backgammon"], "chance nodes"),
        (["openspiel:breakthrough", "--solver"], "--solver needs connect4"),
    ]:
        run = lmzero("analyse", *args, "--positions", str(positions))
        assert run.returncode == 2 and message in run.stderr, run.stderr
        assert len(run.stderr.strip().splitlines()) == 1 and run.stdout == ""


@pytest.mark.slow  # three subprocesses (~2-4 s)
def test_cli_play_prints_the_board_and_reads_move_names():
    run = lmzero("play", "openspiel:tic_tac_toe", "--rollouts", "--simulations", "20",
                 stdin="zz\nx(1,1)\nq\n")
    assert run.returncode == 0, run.stderr
    assert "...\n...\n..." in run.stdout  # str(state), OpenSpiel's board
    assert "'zz' is not a legal move here" in run.stdout
    assert "agent plays o(" in run.stdout and "bye" in run.stdout
    refused = lmzero("play", "openspiel:kuhn_poker")
    assert refused.returncode == 2 and "imperfect information" in refused.stderr
    puzzle = lmzero("play", "openspiel:cliff_walking")
    assert puzzle.returncode == 2 and "one-player" in puzzle.stderr


def test_without_open_spiel_the_registry_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "pyspiel", None)  # import pyspiel now raises ImportError
    monkeypatch.delitem(sys.modules, "lmzero.tasks.openspiel")
    with pytest.raises(TaskError, match=r"pip install 'lmzero\[openspiel\]'"):
        load_task("openspiel:breakthrough")
