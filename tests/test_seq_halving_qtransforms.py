"""Sequential halving's visit schedule and the completed-Q transform, against exact answers.

Both follow mctx (google-deepmind/mctx, `seq_halving.get_sequence_of_considered_visits` and
`qtransforms.qtransform_completed_by_mix_value`): the schedules below are those of mctx's own
tests (plus one of two actions), and the Q transform is checked against numbers worked out by
hand (as fractions) and against a plain NumPy transcription of mctx's formula.
"""

from fractions import Fraction

import numpy as np
import pytest

from lmzero.search import SearchConfig, search
from lmzero.search.qtransforms import completed_sigma_q
from lmzero.search.seq_halving import considered_visit_sequence, schedule
from tests.test_search import Bandit  # one arm pull, terminal: payoffs known exactly

# --- sequential halving ------------------------------------------------------------------------


@pytest.mark.parametrize("considered, simulations, expected", [
    # exactly m log2 m simulations: 8 actions once, 4 actions twice, 2 actions four times
    (8, 24, [0] * 8 + [1] * 4 + [2] * 4 + [3, 3, 4, 4, 5, 5, 6, 6]),
    # more simulations: a phase repeats its round, the last phase takes what is left
    (8, 47, [0] * 8 + [1] * 4 + [2] * 4 + [3] * 4
     + [4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13, 14, 14, 15, 15,
        16, 16, 17]),
    (8, 2, [0, 0]),  # fewer simulations than actions: cut short
    (8, 13, [0] * 8 + [1] * 4 + [2]),
    (7, 24, [0] * 7 + [1, 1, 1, 2, 2, 2] + [3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8]),  # 7 -> 3 -> 2
    (0, 16, list(range(16))),  # nothing to choose between: one action gets every visit
    (1, 16, list(range(16))),
    (2, 6, [0, 0, 1, 1, 2, 2]),  # two actions: one phase, three rounds
])
def test_considered_visits_match_mctx(considered, simulations, expected):
    assert len(expected) == simulations
    seq = considered_visit_sequence(considered, simulations)
    assert seq.dtype == np.int32 and seq.tolist() == expected
    assert schedule(considered, simulations)[0].tolist() == expected


def test_phase_ends_mark_where_each_halving_happens():
    # 8 actions, 24 simulations: phases [0, 8), [8, 16) (4 actions, two rounds), [16, 24)
    seq, ends = schedule(8, 24)
    assert ends.dtype == np.int32
    assert ends.tolist() == [8] * 8 + [16] * 8 + [24] * 8
    # a cut-short schedule ends its last phase at the budget: 13 simulations leave one round
    # of 4 actions (13 // (3 * 4) = 1), then the 2-action phase is cut after its first visit
    assert schedule(8, 13)[1].tolist() == [8] * 8 + [12] * 4 + [13]
    assert schedule(1, 5)[1].tolist() == [5] * 5  # one action: a single phase
    # within a phase, every considered action gets the same number of visits before the next
    for start, end in [(0, 8), (8, 16), (16, 24)]:
        counts = np.bincount(seq[start:end])
        assert len(set(counts[counts > 0].tolist())) == 1


def test_the_schedule_gives_the_budget_and_halves_the_field():
    for m in range(2, 17):
        for n in (1, m, 3 * m, 50, 200):
            seq, ends = schedule(m, n)
            assert len(seq) == len(ends) == n
            assert seq[0] == 0 and np.all(np.diff(ends) >= 0) and ends[-1] == n
            # phase by phase: each round visits every action still considered once (so each
            # visit count appears `width` times; the budget may cut the last round), and the
            # next phase considers half as many, never fewer than 2
            width, start = m, 0
            for end in sorted(set(ends.tolist())):
                segment = seq[start:end]
                counts = np.bincount(segment)[segment.min():]
                assert all(c == width for c in counts[:-1]) and 0 < counts[-1] <= width, (m, n)
                width, start = max(2, width // 2), end


class Uniform:
    """Uniform prior over the legal arms, value 0: the arms' payoffs come from the terminals."""

    def __init__(self, game):
        self.game = game

    def evaluate(self, states):
        masks = np.stack([self.game.legal_mask(s) for s in states]).astype(np.float32)
        priors = masks / np.maximum(masks.sum(1, keepdims=True), 1)
        return priors, np.zeros(len(states))


def test_gumbel_root_visits_follow_the_schedule():
    """8 arms, 24 simulations, no Gumbel noise: every arm once, the best 4 twice more, the best 2
    four times more, so the visits are 7 7 3 3 1 1 1 1 in the order of the payoffs."""
    payoffs = [0.3, -0.5, 0.9, 0.1, -0.2, 0.7, 0.0, 0.5]
    bandit = Bandit(payoffs)
    result = search(bandit, Uniform(bandit), [0], SearchConfig(
        num_simulations=24, method="gumbel", gumbel_scale=0.0, leaves_per_call=1, solve=False),
        rng=0)
    by_payoff = np.argsort(payoffs)[::-1]
    assert result.visits[0, by_payoff].tolist() == [7, 7, 3, 3, 1, 1, 1, 1]
    assert result.action[0] == 2


# --- completed Q-values ------------------------------------------------------------------------


def one_node(children_visits, children_value_sum, prior, legal, raw_value):
    """Tree arrays for a root (node 0) whose action a leads to node 1 + a, or to no node where
    children_visits[a] is None."""
    A = len(prior)
    children = np.full((1, A + 1, A), -1, np.int32)
    visits = np.zeros((1, A + 1), np.int32)
    value_sum = np.zeros((1, A + 1), np.float64)
    for a, (n, w) in enumerate(zip(children_visits, children_value_sum)):
        if n is not None:
            children[0, 0, a] = 1 + a
            visits[0, 1 + a], value_sum[0, 1 + a] = n, w
    visits[0, 0] = 1 + sum(n or 0 for n in children_visits)
    raw = np.zeros((1, A + 1), np.float32)
    raw[0, 0] = raw_value
    return dict(children=children, prior=np.asarray(prior, np.float32)[None, None].repeat(A + 1, 1),
                legal=np.asarray(legal, np.bool_)[None, None].repeat(A + 1, 1), visits=visits,
                value_sum=value_sum, raw_value=raw)


def sigma_q(arrays, value_scale=0.1, maxvisit_init=50.0):
    out = np.empty(arrays["prior"].shape[2], np.float64)
    completed_sigma_q(0, 0, arrays["children"], arrays["prior"], arrays["legal"],
                      arrays["visits"], arrays["value_sum"], arrays["raw_value"], value_scale,
                      maxvisit_init, out)
    return out


def test_completed_q_of_a_worked_example():
    """Visited: a0 (3 visits, Q = 1/2), a1 (1 visit, Q = -1/5); a2 unvisited; a3 illegal.
    v_mix = (v + N * sum_visited p Q / sum_visited p) / (1 + N) with v = 1/10, N = 4, p = 1/2,
    1/4: (1/10 + 4 * (1/4 - 1/20) / (3/4)) / 5 = 7/30. Completed Q = (1/2, -1/5, 7/30), min-max
    normalised (1, 0, 13/21), times (50 + max N) * 0.1 = 5.3."""
    arrays = one_node([3, 1, None, None], [1.5, -0.2, 0.0, 0.0], [0.5, 0.25, 0.25, 0.0],
                      [True, True, True, False], raw_value=0.1)
    half, fifth, tenth = Fraction(1, 2), Fraction(1, 5), Fraction(1, 10)
    v_mix = (tenth + 4 * (half * half - Fraction(1, 4) * fifth) / Fraction(3, 4)) / 5
    assert v_mix == Fraction(7, 30)
    scale = Fraction(53, 10)
    expected = [scale, 0, scale * (v_mix + fifth) / (half + fifth), 0]
    assert expected[2] == Fraction(53, 10) * Fraction(13, 21)
    np.testing.assert_allclose(sigma_q(arrays), [float(x) for x in expected], rtol=1e-6)


def test_the_scale_grows_with_the_most_visited_action():
    # two visited actions: after min-max the better one is exactly (c_visit + max N) * c_scale
    for top, scale, init in [(1, 0.1, 50.0), (10, 0.1, 50.0), (10, 1.0, 0.0), (7, 0.25, 3.0)]:
        arrays = one_node([top, 1], [0.9 * top, -0.4], [0.5, 0.5], [True, True], raw_value=0.0)
        np.testing.assert_allclose(sigma_q(arrays, scale, init), [(init + top) * scale, 0.0])


def test_without_visits_every_legal_action_gets_zero():
    # nothing visited: each action is completed with the raw value, so max - min = 0 (mctx's
    # epsilon keeps the division finite) and the transform adds nothing to the logits
    arrays = one_node([None] * 4, [0.0] * 4, [0.4, 0.3, 0.2, 0.1], [True] * 4, raw_value=0.7)
    assert sigma_q(arrays).tolist() == [0.0] * 4


def test_mixed_value_of_mctx_own_test():
    """mctx's test_mix_value: raw value -0.8, prior softmax(-inf, -1, 2, -inf), visits 0 4 4 0,
    Q = 10 / 54 * (20, 3, -1, 10). The unvisited actions are completed with
    v_mix = (v + 8 (p1 Q1 + p2 Q2)) / 9, which is the minimum here, so their output is 0, and
    action 2 sits at (Q2 - v_mix) / (Q1 - v_mix) of the way to the maximum, action 1."""
    logits = np.array([-np.inf, -1.0, 2.0, -np.inf])
    probs = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    q = 10.0 / 54 * np.array([20.0, 3.0, -1.0, 10.0])
    v_mix = (-0.8 + 8 * (probs[1] * q[1] + probs[2] * q[2])) / 9
    arrays = one_node([None, 4, 4, None], [0.0, 4 * q[1], 4 * q[2], 0.0], probs, [True] * 4,
                      raw_value=-0.8)
    scale = (50 + 4) * 0.1
    expected = [0.0, scale, scale * (q[2] - v_mix) / (q[1] - v_mix), 0.0]
    np.testing.assert_allclose(sigma_q(arrays), expected, rtol=1e-5, atol=1e-6)


def mctx_completed_by_mix_value(qvalues, visit_counts, prior_probs, raw_value,
                                value_scale=0.1, maxvisit_init=50.0, epsilon=1e-8):
    """mctx's qtransform_completed_by_mix_value, written out in NumPy for one node."""
    prior_probs = np.maximum(np.finfo(np.float32).tiny, prior_probs)
    visited = visit_counts > 0
    total = visit_counts.sum()
    if visited.any():
        weighted_q = np.sum(np.where(visited, prior_probs * qvalues / prior_probs[visited].sum(),
                                     0.0))
    else:
        weighted_q = 0.0
    value = (raw_value + total * weighted_q) / (total + 1)
    completed = np.where(visited, qvalues, value)
    completed = (completed - completed.min()) / max(completed.max() - completed.min(), epsilon)
    return (maxvisit_init + visit_counts.max()) * value_scale * completed


def test_agrees_with_mctx_formula_on_random_nodes():
    rng = np.random.default_rng(0)
    for _ in range(200):
        A = int(rng.integers(2, 9))
        n = rng.integers(0, 6, size=A) * (rng.random(A) < 0.6)
        q = rng.uniform(-1, 1, size=A)
        prior = rng.dirichlet(np.ones(A)).astype(np.float32)
        raw = np.float32(rng.uniform(-1, 1))
        arrays = one_node([int(k) if k else None for k in n], (n * q).tolist(), prior,
                          [True] * A, raw_value=raw)
        expected = mctx_completed_by_mix_value(q, n, prior.astype(np.float64), float(raw))
        np.testing.assert_allclose(sigma_q(arrays), expected, rtol=1e-5, atol=1e-5)


def test_illegal_actions_are_left_out_of_the_normalisation():
    # the same node with an extra illegal action, whatever its entry says: legal outputs unchanged
    base = one_node([2, None, 1], [1.0, 0.0, -0.3], [0.5, 0.3, 0.2], [True] * 3, raw_value=0.2)
    wider = one_node([2, None, 1, 5], [1.0, 0.0, -0.3, 50.0], [0.5, 0.3, 0.2, 0.0],
                     [True, True, True, False], raw_value=0.2)
    wider["visits"][0, 4] = 5  # even a visited child behind an illegal edge changes nothing
    out = sigma_q(wider)
    assert out[3] == 0.0
    np.testing.assert_allclose(out[:3], sigma_q(base), rtol=1e-6)
    assert out[0] == pytest.approx((50 + 2) * 0.1)  # nor does it count towards max N
