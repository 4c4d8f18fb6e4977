"""`lmzero analyse --json`'s per-move figures (KataGo-like): prior, q, lcb and principal
variation, read from the tree, next to the keys it always had."""

import io
import json
import math
import sys

import numpy as np
import pytest

from lmzero.cli.common import main
from lmzero.cli.games import _game, _player
from lmzero.search import search
from lmzero.search.analysis import lcb, root_moves
from lmzero.tasks.connect4 import from_moves

OLD_KEYS = {"position", "move", "visits", "value"}
WIN_IN_ONE = "112233"  # X to move wins at once in column 4


def analyse(monkeypatch, capsys, tmp_path, lines, *extra):
    """The rows (--json) or the text of `lmzero analyse connect4` on `lines`."""
    positions = tmp_path / "positions.txt"
    positions.write_text("\n".join(lines) + "\n")
    monkeypatch.setattr(sys, "argv", ["lmzero", "analyse", "connect4", "--positions",
                                      str(positions), *extra])
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    with pytest.raises(SystemExit) as exit_:
        main()
    captured = capsys.readouterr()
    assert exit_.value.code == 0, captured.err
    if "--json" in extra:
        return [json.loads(line) for line in captured.out.splitlines()]
    return captured.out


@pytest.fixture(scope="module")
def searched():
    """The search analyse runs (shipped network, 60 simulations, seed 0) on three positions."""
    game = _game("connect4")
    player = _player(game, 60, 0)
    texts = ["4453", "", WIN_IN_ONE]
    states = [from_moves(t) for t in texts]
    return texts, states, search(game, player.evaluator, states, player.config, rng=0)


def test_old_keys_are_unchanged_and_the_new_ones_added(monkeypatch, capsys, tmp_path,
                                                       searched):
    texts, _, result = searched
    rows = analyse(monkeypatch, capsys, tmp_path, texts, "--simulations", "60", "--json")
    for b, row in enumerate(rows):
        assert set(row) == OLD_KEYS | {"moves"}
        assert list(row)[:4] == ["position", "move", "visits", "value"]  # their old order
        assert row["position"] == texts[b] and row["move"] == int(result.action[b]) + 1
        assert row["visits"] == result.visits[b].tolist()
        assert row["value"] == round(float(result.root_value[b]), 4)
        for move in row["moves"]:
            assert set(move) == {"move", "visits", "prior", "q", "lcb", "pv"}
        assert [m["visits"] for m in row["moves"]] == sorted(row["visits"], reverse=True)


def test_priors_sum_to_one_over_the_legal_moves(monkeypatch, capsys, tmp_path):
    rows = analyse(monkeypatch, capsys, tmp_path, ["4444443", ""], "--simulations", "20",
                   "--json")
    assert sorted(m["move"] for m in rows[0]["moves"]) == [1, 2, 3, 5, 6, 7]  # column 4 full
    for row in rows:
        assert sum(m["prior"] for m in row["moves"]) == pytest.approx(1.0, abs=1e-3)


def test_q_is_the_childs_value_sum_over_visits_and_lcb_lies_below(searched):
    _, _, result = searched
    tree = result.tree
    for b in range(tree.batch_size):
        for move in root_moves(tree, b):
            child = tree.children[b, 0, move["action"]]
            if move["visits"] == 0:
                assert move["q"] is None and move["lcb"] is None
                continue
            assert move["visits"] == tree.visits[b, child]
            assert move["q"] == pytest.approx(tree.value_sum[b, child] / tree.visits[b, child])
            bound = move["q"] - 1.96 * math.sqrt((1 - move["q"] ** 2) / move["visits"])
            assert move["lcb"] == pytest.approx(max(-1.0, bound))
            assert move["lcb"] <= move["q"] + 1e-12


def test_pv_starts_with_the_move_and_is_legal(searched):
    texts, states, result = searched
    game = _game("connect4")
    for b, state in enumerate(states):
        for move in root_moves(result.tree, b):
            pv = move["pv"]
            assert pv[0] == move["action"] and 1 <= len(pv) <= 10
            if move["visits"] <= 1:
                assert pv == [move["action"]]  # nothing visited below it yet
            position = state
            for i, action in enumerate(pv):
                assert game.legal_mask(position)[action], (texts[b], pv)
                position = game.apply(position, action)
                if game.is_terminal(position):
                    assert i == len(pv) - 1  # a line ends where the game does


def test_the_winning_move_in_one_has_the_best_q_and_a_pv_of_itself(monkeypatch, capsys,
                                                                   tmp_path):
    [row] = analyse(monkeypatch, capsys, tmp_path, [WIN_IN_ONE], "--json")
    best = max(row["moves"], key=lambda m: m["q"] if m["q"] is not None else -math.inf)
    assert best["move"] == 4 and best["q"] == 1.0 and best["lcb"] == 1.0
    assert best["pv"] == [4]
    assert all(m["q"] is None or m["q"] < 1.0 for m in row["moves"] if m["move"] != 4)


def test_lcb_is_exact_where_the_variance_is_and_widens_with_fewer_visits():
    assert lcb(1.0, 1) == 1.0 and lcb(-1.0, 50) == -1.0
    assert lcb(0.2, 10) < lcb(0.2, 100) < 0.2
    assert lcb(0.0, 1) == -1.0  # clipped to the lowest value there is
    assert np.isclose(lcb(0.5, 100), 0.5 - 1.96 * math.sqrt(0.75 / 100))


def test_the_table_shows_the_chosen_moves_figures(monkeypatch, capsys, tmp_path):
    text = analyse(monkeypatch, capsys, tmp_path, [WIN_IN_ONE], "--simulations", "50")
    header = next(line for line in text.splitlines() if "position" in line)
    for name in ("prior", "q", "lcb", "pv"):
        assert f" {name} " in header
    row = next(line for line in text.splitlines() if WIN_IN_ONE in line)
    assert "+1.00" in row  # q and lcb of the winning move
