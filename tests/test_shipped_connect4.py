"""The shipped Connect Four network (lmzero/checkpoints/connect4): it loads verified, and it
plays well on solver-labelled positions from random play (bench/data), where model-free MCTS
with 100 random-rollout simulations keeps the best outcome in about 70% of positions."""

import json
from pathlib import Path

import numpy as np
import pytest

from lmzero import checkpoint
from lmzero.eval.game_eval import keeps_best
from lmzero.models.load import load_network, shipped_checkpoint
from lmzero.player import greedy_moves
from lmzero.search import SearchConfig, search
from lmzero.tasks.connect4 import ConnectFour, from_moves

GAME = ConnectFour()
DATA = Path(__file__).resolve().parents[1] / "bench" / "data" / "connect4_positions.jsonl"


@pytest.fixture(scope="module")
def network():
    path = shipped_checkpoint(GAME)
    assert path is not None, "lmzero/checkpoints/connect4 is missing"
    meta = checkpoint.verify(path)
    assert meta["game"] == "connect4" and "lmzero train connect4" in meta["command"]
    return load_network(path, GAME)


def test_shipped_network_keeps_the_outcome_in_most_early_positions(network):
    rows = [json.loads(line) for line in DATA.read_text().splitlines()]
    positions = [r for r in rows if r["set"] == "6-13"][:60]
    states = [from_moves(p["moves"]) for p in positions]
    raw = greedy_moves(GAME, network, states)
    searched = search(GAME, network, states, SearchConfig(num_simulations=100,
                                                          leaves_per_call=1), rng=0).action
    raw_share = np.mean([keeps_best(p["values"], a) for p, a in zip(positions, raw)])
    searched_share = np.mean([keeps_best(p["values"], a) for p, a in zip(positions, searched)])
    assert raw_share >= 0.7  # measured 0.90: a random legal move keeps it in ~0.35
    assert searched_share >= 0.8  # measured 0.95
    assert searched_share >= raw_share


def test_shipped_network_wins_and_blocks_at_once(network):
    # 112233: X to move wins in column 4. 44332: X holds columns 2-4 of the bottom row, so O
    # must block at column 1 or 5 (0-based 0 or 4) or lose at once
    result = search(GAME, network, [from_moves("112233"), from_moves("44332")],
                    SearchConfig(num_simulations=32, leaves_per_call=1), rng=0)
    assert int(result.action[0]) == 3
    assert int(result.action[1]) in (0, 4)
