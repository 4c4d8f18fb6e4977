"""Compiled search over packed states (`search.compiled`): it must build the trees the Python
path builds, keep every node's state right, and play as well with its own playouts."""

import hashlib

import numpy as np
import pytest

from lmzero.search import RolloutEvaluator, SearchConfig, search
from lmzero.search.search import reuse_tree
from lmzero.search.tree import ROOT
from lmzero.tasks.connect4 import ConnectFour, from_moves
from lmzero.tasks.tictactoe import TicTacToe, move_values, reachable_states


class PythonConnectFour(ConnectFour):
    kernels = None  # the same rules through the Python expander


class PythonTicTacToe(TicTacToe):
    kernels = None


class HashEvaluator:
    """A deterministic 'network': prior and value from a hash of the position."""

    def __init__(self, game):
        self.game = game

    def evaluate(self, states):
        priors, values = [], []
        for state in states:
            digest = hashlib.sha256(repr(self.game.key(state)).encode()).digest()
            raw = np.frombuffer(digest[:self.game.num_actions], np.uint8).astype(np.float32)
            priors.append((raw + 1) / (raw + 1).sum())
            values.append(digest[-1] / 127.5 - 1)
        return np.stack(priors), np.array(values, np.float32)


GAMES = [(ConnectFour(), PythonConnectFour(), ["", "4453", "627444"]),
         (TicTacToe(), PythonTicTacToe(), ["", "5", "519"])]


@pytest.mark.parametrize("method", ["puct", "gumbel", "uct"])
@pytest.mark.parametrize("games", GAMES, ids=["connect4", "tictactoe"])
def test_packed_states_build_the_python_paths_tree(games, method):
    packed_game, python_game, openings = games
    roots = [packed_game.from_moves(m) for m in openings]
    config = SearchConfig(num_simulations=150, method=method, leaves_per_call=4,
                          dirichlet_fraction=0.25)
    fast = search(packed_game, HashEvaluator(packed_game), roots, config, rng=3)
    slow = search(python_game, HashEvaluator(python_game), roots, config, rng=3)
    assert fast.tree.packed is not None and slow.tree.packed is None
    for name in ("num_nodes", "parent", "action", "children", "visits", "legal", "sign",
                 "terminal", "solved", "expanded", "wave"):
        assert np.array_equal(getattr(fast.tree, name), getattr(slow.tree, name)), name
    for name in ("prior", "raw_value", "value_sum"):
        assert np.allclose(getattr(fast.tree, name), getattr(slow.tree, name)), name
    assert np.array_equal(fast.action, slow.action)
    assert (fast.evaluations, fast.evaluator_calls) == (slow.evaluations, slow.evaluator_calls)


@pytest.mark.parametrize("games", GAMES, ids=["connect4", "tictactoe"])
def test_every_packed_state_is_the_one_its_path_reaches(games):
    game, _, openings = games
    roots = [game.from_moves(m) for m in openings]
    result = search(game, RolloutEvaluator(game, seed=1), roots,
                    SearchConfig(num_simulations=300, method="uct"), rng=0)
    tree = result.tree
    for b, root in enumerate(roots):
        for node in range(1, int(tree.num_nodes[b])):
            path, up = [], node
            while up != ROOT:
                path.append(int(tree.action[b, up]))
                up = int(tree.parent[b, up])
            state = root
            for a in reversed(path):
                state = game.apply(state, a)
            assert tree.state(b, node) == state
            assert tree.terminal[b, node] == game.is_terminal(state)
            if not tree.terminal[b, node]:
                assert np.array_equal(tree.legal[b, node], game.legal_mask(state))


def test_compiled_playouts_agree_with_python_playouts():
    """Same positions, same budget: the same move and about the same root value (the playouts
    draw from other random streams, so only statistics can agree)."""
    roots = [from_moves(m) for m in ("627444", "6524277247", "4453")]
    config = SearchConfig(num_simulations=3000, method="uct", uct_c=2.0)
    fast = search(ConnectFour(), RolloutEvaluator(ConnectFour(), seed=0), roots, config, rng=0)
    python = PythonConnectFour()
    slow = search(python, RolloutEvaluator(python, seed=0), roots, config, rng=0)
    assert fast.action.tolist() == slow.action.tolist()
    assert np.abs(fast.root_value - slow.root_value).max() < 0.08
    assert fast.evaluations == int((fast.tree.expanded & ~fast.tree.terminal).sum())


def test_compiled_playouts_are_reproducible_from_the_evaluator_seed():
    roots = [from_moves("4453")] * 2
    config = SearchConfig(num_simulations=500, method="uct")
    game = ConnectFour()
    a = search(game, RolloutEvaluator(game, seed=5), roots, config, rng=0)
    b = search(game, RolloutEvaluator(game, seed=5), roots, config, rng=0)
    c = search(game, RolloutEvaluator(game, seed=6), roots, config, rng=0)
    assert np.array_equal(a.visits, b.visits) and np.array_equal(a.tree.value_sum,
                                                                 b.tree.value_sum)
    assert not np.array_equal(a.tree.value_sum, c.tree.value_sum)
    assert not np.array_equal(a.tree.value_sum[0], a.tree.value_sum[1])  # roots draw apart


def test_compiled_search_plays_tictactoe_perfectly_from_nearly_every_position():
    game = TicTacToe()
    states = reachable_states()
    result = search(game, RolloutEvaluator(game, seed=0), states,
                    SearchConfig(num_simulations=400, method="uct"), rng=0)
    best = [move_values(s)[a] == move_values(s).max() for s, a in zip(states, result.action)]
    assert np.mean(best) >= 0.99


@pytest.mark.parametrize("method", ["puct", "gumbel"])
def test_compiled_playouts_take_a_win_in_one_and_prove_it(method):
    game = ConnectFour()
    root = from_moves("121212")  # X to move wins in column 1
    result = search(game, RolloutEvaluator(game, seed=0), [root],
                    SearchConfig(num_simulations=200, method=method, solve=True), rng=0)
    assert result.action[0] == 0
    assert result.tree.solved[0, ROOT] and result.tree.raw_value[0, ROOT] == 1.0
    assert np.isclose(result.policy[0].sum(), 1.0)


def test_progress_hears_the_compiled_search():
    game = ConnectFour()
    heard = []
    search(game, RolloutEvaluator(game), [from_moves("4453")] * 3,
           SearchConfig(num_simulations=2000, method="uct", leaves_per_call=1), rng=0,
           progress=heard.append)
    assert len(heard) > 3 and heard == sorted(heard) and heard[-1] == 3 * 2000


def test_a_reused_tree_keeps_its_packed_states():
    game = ConnectFour()
    root = from_moves("4453")
    config = SearchConfig(num_simulations=400, method="uct")
    first = search(game, RolloutEvaluator(game), [root], config, rng=0)
    move = int(first.action[0])
    kept = reuse_tree(first.tree, game, [move])
    assert kept.state(0, ROOT) == game.apply(root, move)
    second = search(game, RolloutEvaluator(game), config=config, tree=kept, rng=1)
    tree = second.tree
    for node in range(1, int(tree.num_nodes[0])):
        up = int(tree.parent[0, node])
        assert tree.state(0, node) == game.apply(tree.state(0, up), int(tree.action[0, node]))
