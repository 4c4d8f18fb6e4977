"""The `lmzero` command as a user runs it: outputs, and every error path (one line, exit 2)."""

import json
import subprocess
import sys

import pytest

from lmzero.tasks.connect4 import ConnectFour, from_moves
from lmzero.tasks.connect4_solver import Solver


def lmzero(*args, stdin=""):
    return subprocess.run([sys.executable, "-m", "lmzero.cli", *args], input=stdin,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture
def positions(tmp_path):
    def write(text):
        path = tmp_path / "positions.txt"
        path.write_text(text)
        return str(path)
    return write


def test_help_lists_the_commands():
    run = lmzero("--help")
    assert run.returncode == 0
    assert "analyse" in run.stdout and "play" in run.stdout


@pytest.mark.slow  # 3000 simulations per position
def test_analyse_json_finds_the_winning_and_blocking_moves(positions):
    # 4433: X to move must take the bottom row's open end; 112233: X wins at once in column 4
    lines = ["4433", "112233"]
    run = lmzero("analyse", "connect4", "--positions", positions("\n".join(lines) + "\n"),
                 "--simulations", "3000", "--json")
    assert run.returncode == 0, run.stderr
    rows = [json.loads(line) for line in run.stdout.splitlines()]
    assert [r["position"] for r in rows] == lines
    solver = Solver()
    for row in rows:
        assert set(row) == {"position", "move", "visits", "value", "moves"}
        assert len(row["visits"]) == 7 and sum(row["visits"]) == 3000
        best = [c + 1 for c in solver.best_moves(from_moves(row["position"]))]
        assert row["move"] in best
        assert -1 <= row["value"] <= 1
    assert rows[1]["move"] == 4  # 112233: X to move wins at once in column 4
    assert rows[1]["value"] > 0.9


@pytest.mark.slow  # subprocess
def test_analyse_table_output(positions):
    run = lmzero("analyse", "connect4", "--positions", positions("4453\n\n"), "--simulations", "50")
    assert run.returncode == 0, run.stderr
    assert "4453" in run.stdout and "(empty)" in run.stdout


@pytest.mark.parametrize("text, message", [
    ("4453\n44x3\n", "line 2"),
    ("4453\n448\n", "line 2 ('448'): column 8 is out of range"),
    ("4444444\n", "column 4 is full"),
    ("1212121\n", "already over"),
    ("12121213\n", "already over"),
    ("0\n", "column 0 is out of range"),
])
def test_analyse_malformed_line_is_one_line_error_and_exit_2(positions, text, message):
    run = lmzero("analyse", "connect4", "--positions", positions(text), "--simulations", "10")
    assert run.returncode == 2
    assert run.stdout == ""  # nothing partial printed as if valid
    assert message in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("args, message", [
    (["analyse", "connect4", "--positions", "/nonexistent/file"], "cannot read"),
    (["analyse", "chess", "--positions", "x"], "chess"),
    (["analyse", "connect4"], "--positions"),
    (["analyse", "connect4", "--positions", "x", "--bogus"], "--bogus"),
    (["analyse", "connect4", "--positions", "x", "--simulations", "0"], "--simulations"),
    (["analyse", "openspiel:kuhn_poker", "--positions", "x"], "imperfect information"),
    (["analyse", "tictactoe", "--positions", "x", "--solver"], "--solver needs connect4"),
])
def test_cli_usage_errors_are_one_line_and_exit_2(args, message, positions):
    args = [positions("4\n") if a == "x" else a for a in args]
    run = lmzero(*args)
    assert run.returncode == 2
    assert message in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1


def test_empty_positions_file_is_an_error(positions):
    run = lmzero("analyse", "connect4", "--positions", positions(""))
    assert run.returncode == 2 and "no positions" in run.stderr


@pytest.mark.slow  # subprocess
def test_play_rejects_bad_moves_and_prompts_again():
    moves = "8\nabc\n\n1\n1\n1\n1\n1\n1\n1\nq\n"
    run = lmzero("play", "connect4", "--simulations", "20", stdin=moves)
    assert run.returncode == 0, run.stderr
    assert "'8' is not a move" in run.stdout
    assert "'abc' is not a move" in run.stdout
    assert "'' is not a move" in run.stdout
    assert "agent plays" in run.stdout
    assert run.stdout.count("your move") >= 5


def test_play_tictactoe_to_the_end_never_loses_to_a_person_who_plays_badly():
    # the person always plays the lowest free cell; the agent must win (or at worst draw)
    run = lmzero("play", "tictactoe", "--simulations", "500", "--second",
                 stdin="1\n2\n3\n4\n5\n6\n7\n8\n9\n")
    assert run.returncode == 0, run.stderr
    assert "the agent wins" in run.stdout or "draw" in run.stdout


@pytest.fixture
def connect4_checkpoint(tmp_path):
    """An untrained Connect Four network, saved as the training loop saves one."""
    import torch

    from lmzero import checkpoint
    from lmzero.models.game_net import GameTokenizer
    from lmzero.models.tinylm import TinyLM
    torch.manual_seed(0)
    model = TinyLM(GameTokenizer(ConnectFour()).model_config(trunk="mlp", n_embd=32))
    return checkpoint.save(tmp_path / "ckpt", model.state_dict(),
                           dict(game="connect4", model=model.cfg.to_dict(), iteration=0))


@pytest.mark.slow  # subprocess
def test_analyse_with_a_network_checkpoint(positions, connect4_checkpoint):
    run = lmzero("analyse", "connect4", "--positions", positions("4453\n112233\n"), "--json",
                 "--checkpoint", str(connect4_checkpoint), "--simulations", "300")
    assert run.returncode == 0, run.stderr
    rows = [json.loads(line) for line in run.stdout.splitlines()]
    assert [sum(r["visits"]) for r in rows] == [300, 300]
    assert rows[1]["move"] == 4  # even an untrained network's search finds the win in one


@pytest.mark.parametrize("damage, message", [
    ("tamper", "checksum mismatch"),
    ("pickle", "pickles are refused"),
    ("manifest", "neither a checkpoint nor a run directory"),
])
@pytest.mark.slow  # two subprocesses per case
def test_corrupt_checkpoints_are_refused_in_one_line(positions, connect4_checkpoint, damage,
                                                     message):
    import torch
    weights = connect4_checkpoint / "model.safetensors"
    if damage == "tamper":
        data = bytearray(weights.read_bytes())
        data[len(data) // 2] ^= 1
        weights.write_bytes(bytes(data))
    elif damage == "pickle":
        torch.save({"x": torch.zeros(1)}, connect4_checkpoint / "extra.pt")
    else:
        (connect4_checkpoint / "manifest.json").unlink()
    for args in (["analyse", "connect4", "--positions", positions("44\n")],
                 ["play", "connect4"]):
        run = lmzero(*args, "--checkpoint", str(connect4_checkpoint), stdin="q\n")
        assert run.returncode == 2, run.stdout
        assert message in run.stderr and len(run.stderr.strip().splitlines()) == 1


def test_checkpoint_of_another_game_is_refused(positions, tmp_path):
    from lmzero import checkpoint
    from lmzero.models.game_net import GameTokenizer
    from lmzero.models.tinylm import TinyLM
    from lmzero.tasks.tictactoe import TicTacToe
    model = TinyLM(GameTokenizer(TicTacToe()).model_config(n_embd=32))
    path = checkpoint.save(tmp_path / "ttt", model.state_dict(),
                           dict(game="tictactoe", model=model.cfg.to_dict()))
    run = lmzero("analyse", "connect4", "--positions", positions("44\n"), "--checkpoint", str(path))
    assert run.returncode == 2 and "not 'connect4'" in run.stderr
