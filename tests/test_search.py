"""Search core against answers known exactly: bandits, tic-tac-toe values, batching invariants."""

import numpy as np
import pytest

from lmzero.search import (ExactEvaluator, RolloutEvaluator, SearchConfig, reuse_tree, search)
from lmzero.tasks import tictactoe as ttt

GAME = ttt.TicTacToe()


class Bandit:
    """One decision among arms with fixed payoffs: the best arm is known exactly.

    State 0 is the root; state 1 + a is "arm a pulled" (terminal, worth payoff[a]). Single agent.
    """

    name = "bandit"

    def __init__(self, payoffs):
        self.payoffs = np.asarray(payoffs, dtype=float)
        self.num_actions = len(payoffs)

    def initial_state(self):
        return 0

    def legal_mask(self, state):
        return np.full(self.num_actions, state == 0)

    def apply(self, state, action):
        return 1 + action

    def is_terminal(self, state):
        return state != 0

    def terminal_value(self, state):
        return float(self.payoffs[state - 1])

    def to_play(self, state):
        return 0

    def key(self, state):
        return state


class NoisyBandit(Bandit):
    """Each arm opens an endless corridor (state (arm, depth), one move: go deeper), so every
    visit to an arm reaches a new leaf and draws a new noisy payoff from the evaluator."""

    def initial_state(self):
        return (-1, 0)

    def legal_mask(self, state):
        return np.full(self.num_actions, True) if state[0] < 0 else np.arange(self.num_actions) == 0

    def apply(self, state, action):
        return (action, 1) if state[0] < 0 else (state[0], state[1] + 1)

    def is_terminal(self, state):
        return False


class NoisyArms:
    """Evaluator: the arm's payoff plus Gaussian noise, uniform prior."""

    def __init__(self, bandit, sigma, seed=0):
        self.bandit, self.sigma, self.rng = bandit, sigma, np.random.default_rng(seed)

    def evaluate(self, states):
        priors = np.stack([self.bandit.legal_mask(s) / self.bandit.legal_mask(s).sum()
                           for s in states])
        values = np.array([0.0 if s[0] < 0 else self.bandit.payoffs[s[0]] +
                           self.sigma * self.rng.normal() for s in states])
        return priors, values


def exact(game):
    return ExactEvaluator(game, lambda s: 0.0)


@pytest.mark.parametrize("method", ["puct", "uct", "gumbel"])
def test_bandit_best_arm_deterministic(method):
    bandit = Bandit([0.1, 0.5, -0.3, 0.9, 0.2, 0.0])
    result = search(bandit, exact(bandit), [0], SearchConfig(num_simulations=64, method=method,
                                                            solve=False), rng=0)
    assert result.action[0] == 3
    assert result.visits[0].sum() == 64
    assert result.q_values[0, 3] == pytest.approx(0.9)


@pytest.mark.parametrize("method", ["puct", "uct"])
def test_equal_arms_are_tried_in_no_fixed_order(method):
    """With a uniform prior and fewer simulations than moves, which moves get tried and which
    is chosen among equals must not follow the action ids: before the tie-break, UCT tried only
    the lowest ids, and on Breakthrough it lost every game from one seat."""
    bandit = Bandit([0.0] * 20)
    tried, chosen = np.zeros(20), np.zeros(20)
    for seed in range(60):
        result = search(bandit, exact(bandit), [0], SearchConfig(num_simulations=4, method=method,
                                                                 solve=False), rng=seed)
        tried += result.visits[0] > 0
        chosen[result.action[0]] += 1
    assert tried.sum() == 60 * 4 and (tried > 0).all() and tried[:4].sum() < 60
    assert (chosen > 0).sum() >= 12 and chosen.max() <= 10
    again = search(bandit, exact(bandit), [0], SearchConfig(num_simulations=4, method=method,
                                                            solve=False), rng=7)
    first = search(bandit, exact(bandit), [0], SearchConfig(num_simulations=4, method=method,
                                                            solve=False), rng=7)
    assert again.visits.tolist() == first.visits.tolist()  # the order is the seed's
    assert again.action[0] == first.action[0]


@pytest.mark.parametrize("method", ["puct", "uct", "gumbel"])
def test_noisy_bandit_best_arm(method):
    payoffs = [0.2, 0.6, 0.0, -0.4, 0.3]
    wins = 0
    for seed in range(20):
        bandit = NoisyBandit(payoffs)
        result = search(bandit, NoisyArms(bandit, sigma=0.5, seed=seed), [bandit.initial_state()],
                        SearchConfig(num_simulations=400, method=method), rng=seed)
        wins += result.action[0] == 1
    assert wins >= 18


@pytest.mark.parametrize("num_simulations", [2, 4, 8, 16])
def test_gumbel_small_budget_finds_best_arm(num_simulations):
    arms = max(2, num_simulations // 2)
    best = arms // 3
    payoffs = np.linspace(-1, -0.5, arms)  # a clear winner: the Gumbel draw still counts at the end
    payoffs[best] = 1.0
    bandit = Bandit(payoffs)
    picks = [search(bandit, exact(bandit), [0], SearchConfig(num_simulations=num_simulations,
                    method="gumbel"), rng=seed).action[0] for seed in range(100)]
    # the final pick adds the Gumbel draw (that is what makes it a policy improvement in
    # expectation): with these payoffs the best arm should win about 93-99% of the draws
    assert np.mean(np.array(picks) == best) >= 0.9
    # without Gumbel noise: always the best arm, even with one simulation per arm
    payoffs = np.linspace(-1, 0, num_simulations)
    payoffs[num_simulations // 3] = 1.0
    bandit = Bandit(payoffs)
    deterministic = search(bandit, exact(bandit), [0], SearchConfig(
        num_simulations=num_simulations, method="gumbel", gumbel_scale=0.0), rng=0)
    assert deterministic.action[0] == num_simulations // 3
    assert np.argmax(deterministic.policy[0]) == num_simulations // 3


def test_gumbel_two_simulations_follow_the_prior():
    # 16 arms, 2 simulations: only the two arms the prior favours can be tried; pick the better
    payoffs = np.zeros(16)
    payoffs[[5, 11]] = [0.2, 0.8]

    class Prior:
        def evaluate(self, states):
            p = np.full(16, 0.01)
            p[[5, 11]] = 0.43
            return np.stack([p] * len(states)), np.zeros(len(states))

    bandit = Bandit(payoffs)
    result = search(bandit, Prior(), [0], SearchConfig(num_simulations=2, method="gumbel",
                                                      gumbel_scale=0.0), rng=0)
    assert result.visits[0, [5, 11]].tolist() == [1, 1]
    assert result.action[0] == 11


def _positions(predicate):
    return [s for s in ttt.reachable_states() if predicate(s)]


def _immediate_wins(state):
    return [a for a in np.flatnonzero(GAME.legal_mask(state))
            if GAME.is_terminal(GAME.apply(state, int(a)))
            and GAME.terminal_value(GAME.apply(state, int(a))) == -1]


def _threatened(state):
    """The opponent would win at once if it were its move."""
    cells = list(state.cells)
    opponent = 2 - GAME.to_play(state)
    return any(sorted(cells[i] for i in line) == [0, opponent, opponent] for line in ttt.LINES)


def _check_moves(states, config, predicate_ok):
    result = search(GAME, RolloutEvaluator(GAME, seed=1), states, config, rng=0)
    bad = [(s.cells, int(a)) for s, a in zip(states, result.action) if not predicate_ok(s, a)]
    return bad


MODEL_FREE = [SearchConfig(num_simulations=1000), SearchConfig(num_simulations=400, method="uct")]


@pytest.mark.parametrize("config", [SearchConfig(num_simulations=100),
                                    SearchConfig(num_simulations=100, method="uct")])
def test_tictactoe_takes_every_win_in_one(config):
    states = _positions(lambda s: bool(_immediate_wins(s)))
    assert len(states) > 500
    bad = _check_moves(states, config, lambda s, a: ttt.move_values(s)[a] == 1)
    assert bad == []


def test_gumbel_keeps_every_tictactoe_value_with_exact_values():
    # exact leaf values isolate the search: Gumbel's sign handling and halving must keep the
    # game-theoretic value in every reachable position (noise off, as when playing to win)
    states = ttt.reachable_states()
    result = search(GAME, ExactEvaluator(GAME, ttt.solve), states,
                    SearchConfig(num_simulations=64, method="gumbel", gumbel_scale=0.0), rng=0)
    bad = [s.cells for s, a in zip(states, result.action) if ttt.move_values(s)[a] != ttt.solve(s)]
    assert bad == []


def _wins_in_two(state):
    """No immediate win, but a move after which every reply allows one (e.g. a fork)."""
    if _immediate_wins(state):
        return False
    for a in np.flatnonzero(GAME.legal_mask(state)):
        after = GAME.apply(state, int(a))
        replies = [GAME.apply(after, int(r)) for r in np.flatnonzero(GAME.legal_mask(after))]
        if replies and all(not GAME.is_terminal(r) and _immediate_wins(r) for r in replies):
            return True
    return False


@pytest.mark.parametrize("config", MODEL_FREE)
def test_tictactoe_finds_every_win_in_two(config):
    # the mover must pick a move that keeps the forced win (the fork, or a threat that forks)
    states = _positions(_wins_in_two)
    assert len(states) > 100
    bad = _check_moves(states, config,
                       lambda s, a: ttt.move_values(s)[a] == 1)
    assert bad == []


@pytest.mark.parametrize("config", MODEL_FREE)
def test_tictactoe_blocks_every_immediate_threat(config):
    states = _positions(lambda s: not _immediate_wins(s) and _threatened(s))
    assert len(states) > 300
    bad = _check_moves(states, config,
                       lambda s, a: ttt.move_values(s)[a] == ttt.solve(s))
    assert bad == []


@pytest.mark.parametrize("method", ["puct", "gumbel"])
def test_empty_board_value_tends_to_draw(method):
    evaluator = ExactEvaluator(GAME, ttt.solve)
    values = [abs(search(GAME, evaluator, [GAME.initial_state()],
                         SearchConfig(num_simulations=n, method=method), rng=0).root_value[0])
              for n in (100, 1000, 10000)]
    assert values[0] > values[1] > values[2]
    assert values[2] < 0.1


def test_batched_search_agrees_with_one_root_at_a_time():
    states = ttt.reachable_states()[::97]
    config = SearchConfig(num_simulations=150, leaves_per_call=1)
    evaluator = ExactEvaluator(GAME, ttt.solve)
    batched = search(GAME, evaluator, states, config, rng=0)
    for b, state in enumerate(states):
        single = search(GAME, evaluator, [state], config, rng=0)
        assert single.visits[0].tolist() == batched.visits[b].tolist()
        assert single.action[0] == batched.action[b]


def test_virtual_loss_batching_keeps_the_answer():
    states = _positions(lambda s: bool(_immediate_wins(s)))[:200]
    evaluator = ExactEvaluator(GAME, ttt.solve)
    result = search(GAME, evaluator, states, SearchConfig(num_simulations=64, leaves_per_call=16,
                                                          solve=False))
    assert all(ttt.move_values(s)[a] == 1 for s, a in zip(states, result.action))
    assert result.evaluator_calls <= 64 // 16 + 1 + 1  # one call per wave, plus the roots
    assert result.visits.sum(axis=1).tolist() == [64] * len(states)


def test_transpositions_share_evaluations_without_changing_the_search():
    evaluator = ExactEvaluator(GAME, ttt.solve)
    root = [GAME.initial_state()]
    plain = search(GAME, evaluator, root, SearchConfig(num_simulations=2000, leaves_per_call=1,
                                                       solve=False), rng=0)
    shared = search(GAME, evaluator, root, SearchConfig(num_simulations=2000, leaves_per_call=1,
                                                        transpositions=True, solve=False), rng=0)
    assert shared.visits.tolist() == plain.visits.tolist()
    assert shared.evaluations < plain.evaluations * 0.8


def test_tree_reuse_keeps_the_subtree():
    evaluator = ExactEvaluator(GAME, ttt.solve)
    first = search(GAME, evaluator, [GAME.initial_state()], SearchConfig(num_simulations=500))
    move = int(first.action[0])
    kept = int(first.visits[0, move])
    tree = reuse_tree(first.tree, GAME, [move])
    assert tree.visits[0, 0] == kept
    assert tree.states[0][0] == GAME.apply(GAME.initial_state(), move)
    again = search(GAME, evaluator, config=SearchConfig(num_simulations=100), tree=tree)
    assert again.visits[0].sum() == kept - 1 + 100  # the root's own first visit has no edge
    value_before = -first.q_values[0, move]  # the child's value, from its own player's view
    assert again.root_value[0] == pytest.approx(value_before, abs=0.2)


def test_solver_proves_wins_and_stops_early():
    states = _positions(_wins_in_two)
    result = search(GAME, RolloutEvaluator(GAME, seed=1), states,
                    SearchConfig(num_simulations=2000, solve=True))
    assert result.tree.solved[:, 0].all()  # every win in two is proven...
    assert (result.root_value == 1.0).all()  # ...with its exact value
    assert (result.visits.sum(axis=1) < 2000).all()  # ...before the budget is spent
    assert all(ttt.move_values(s)[a] == 1 for s, a in zip(states, result.action))
    # a proven draw too: X . O / O X X / . . O, X to move must block at 6 and the game is drawn
    drawn = ttt.TTTState((1, 0, 2, 2, 1, 1, 0, 0, 2))
    assert ttt.solve(drawn) == 0
    result = search(GAME, RolloutEvaluator(GAME), [drawn], SearchConfig(num_simulations=1000,
                                                                         solve=True))
    assert result.tree.solved[0, 0] and result.root_value[0] == 0.0
    assert ttt.move_values(drawn)[result.action[0]] == 0


def test_without_solver_the_budget_is_spent():
    states = _positions(_wins_in_two)[:20]
    result = search(GAME, RolloutEvaluator(GAME, seed=1), states,
                    SearchConfig(num_simulations=300, solve=False))
    assert (result.visits.sum(axis=1) == 299).all() or (result.visits.sum(axis=1) == 300).all()
    assert not result.tree.solved[:, 0].any()


def test_terminal_root_gets_no_move():
    state = ttt.TTTState((1, 1, 1, 2, 2, 0, 0, 0, 0))
    result = search(GAME, exact(GAME), [state], SearchConfig(num_simulations=10))
    assert result.action[0] == -1
    assert result.root_value[0] == -1.0


@pytest.mark.parametrize("bad", [dict(method="alphabeta"), dict(num_simulations=0),
                                 dict(leaves_per_call=0), dict(dirichlet_fraction=2.0),
                                 dict(temperature=-1)])
def test_config_errors_say_what_is_wrong(bad):
    field = next(iter(bad))
    with pytest.raises(ValueError, match=field):
        SearchConfig(**bad)


def test_dirichlet_noise_and_temperature_spread_the_moves():
    evaluator = ExactEvaluator(GAME, ttt.solve)
    config = SearchConfig(num_simulations=50, dirichlet_fraction=0.25, temperature=1.0)
    moves = {int(search(GAME, evaluator, [GAME.initial_state()], config, rng=s).action[0])
             for s in range(20)}
    assert len(moves) >= 3
