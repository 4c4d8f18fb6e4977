"""Which edge a simulation follows at a node: PUCT, UCT, and the Gumbel rules, as numba kernels.

All kernels score edges from the point of view of the player to move at the node and return the
action index; they read the tree arrays of `tree.py` directly (numba does not take dataclasses).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from lmzero.search.qtransforms import completed_sigma_q

PUCT, UCT, GUMBEL = 0, 1, 2  # selection methods, as numba-friendly integers
TIE = 1e-7
"""Weight of `tie_break` in PUCT and UCT scores: it only orders edges whose scores are equal (a
uniform prior's unvisited edges), never outweighs a real difference in prior or value."""


@njit(cache=True, inline="always")
def tie_break(salt, node, a):
    """A pseudo-random number in [0, 1), fixed per (search, node, action): splitmix64 of the
    three. Without it, equal scores went to the lowest action id, and with a uniform prior and
    fewer simulations than moves, UCT only ever tried the first ids: on Breakthrough, whose ids
    run over the board in one direction, it then lost to random play from one seat and won from
    the other (OpenSpiel's MCTS shuffles each node's children for the same reason)."""
    z = (salt ^ (np.uint64(node) * np.uint64(0x9E3779B97F4A7C15))
         ^ (np.uint64(a) * np.uint64(0xD1B54A32D192ED03)))
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return float(z >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@njit(cache=True)
def tie_breaks(salt, node, num_actions):
    """float [A]: `tie_break(salt, node, a)` for every action (the final move choice's order)."""
    out = np.empty(num_actions)
    for a in range(num_actions):
        out[a] = tie_break(salt, node, a)
    return out


@njit(cache=True)
def _edge_stats(b, n, a, children, visits, value_sum):
    """(visits, mean value) of an edge; (0, nan) if never visited."""
    child = children[b, n, a]
    if child < 0 or visits[b, child] == 0:
        return 0, np.nan
    return visits[b, child], value_sum[b, child] / visits[b, child]


@njit(cache=True)
def puct_action(b, n, children, prior, legal, visits, value_sum, raw_value, sign,
                c_init, c_base, fpu, use_parent_fpu, salt):
    """argmax_a Q(a) + c(s) P(a) sqrt(N) / (1 + N(a)).

    PUCT as in AlphaZero (Silver et al. 2018); c(s) = c_init + log((N + c_base + 1) / c_base).
    Unvisited edges take the first-play value `fpu`, or the node's own mean value; equal scores
    are ordered by `tie_break(salt, n, a)`.
    """
    total = visits[b, n]
    c = c_init + math.log((total + c_base + 1.0) / c_base)
    sqrt_total = math.sqrt(max(total, 1))
    if use_parent_fpu:
        fpu = sign[b, n] * value_sum[b, n] / total if total > 0 else raw_value[b, n]
    best, best_a = -np.inf, -1
    for a in range(prior.shape[2]):
        if not legal[b, n, a]:
            continue
        na, q = _edge_stats(b, n, a, children, visits, value_sum)
        if na == 0:
            q = fpu
        score = q + c * prior[b, n, a] * sqrt_total / (1.0 + na) + TIE * tie_break(salt, n, a)
        if score > best:
            best, best_a = score, a
    return best_a


@njit(cache=True)
def uct_action(b, n, children, prior, legal, visits, value_sum, uct_c, salt):
    """UCB1 on trees (Kocsis & Szepesvari 2006): Q(a) + c sqrt(ln N / N(a)).

    Unvisited edges come first, the one with the highest prior first; equal scores are ordered
    by `tie_break(salt, n, a)`.
    """
    log_total = math.log(max(visits[b, n], 1))
    best, best_a, first, first_a = -np.inf, -1, -np.inf, -1
    for a in range(prior.shape[2]):
        if not legal[b, n, a]:
            continue
        na, q = _edge_stats(b, n, a, children, visits, value_sum)
        tie = TIE * tie_break(salt, n, a)
        if na == 0:  # compared apart: beside a huge constant the tie-break would round away
            if prior[b, n, a] + tie > first:
                first, first_a = prior[b, n, a] + tie, a
        elif q + uct_c * math.sqrt(log_total / na) + tie > best:
            best, best_a = q + uct_c * math.sqrt(log_total / na) + tie, a
    return first_a if first_a >= 0 else best_a


@njit(cache=True)
def _masked_logits(b, n, prior, legal, out):
    for a in range(out.shape[0]):
        out[a] = math.log(max(prior[b, n, a], 1e-12)) if legal[b, n, a] else -np.inf


@njit(cache=True)
def gumbel_interior_action(b, n, children, prior, legal, visits, value_sum, raw_value,
                           value_scale, maxvisit_init, sigma_q, logits):
    """Deterministic non-root selection of Gumbel MuZero (Danihelka et al. 2022, eq. 14).

    argmax_a pi'(a) - N(a) / (1 + sum_b N(b)), pi' = softmax(logits + sigma(completed Q)).
    """
    completed_sigma_q(b, n, children, prior, legal, visits, value_sum, raw_value,
                      value_scale, maxvisit_init, sigma_q)
    _masked_logits(b, n, prior, legal, logits)
    A = logits.shape[0]
    top = -np.inf
    for a in range(A):
        logits[a] += sigma_q[a]
        top = max(top, logits[a])
    z = 0.0
    total = 0
    for a in range(A):
        if legal[b, n, a]:
            z += math.exp(logits[a] - top)
            total += _edge_stats(b, n, a, children, visits, value_sum)[0]
    best, best_a = -np.inf, -1
    for a in range(A):
        if not legal[b, n, a]:
            continue
        na = _edge_stats(b, n, a, children, visits, value_sum)[0]
        score = math.exp(logits[a] - top) / z - na / (1.0 + total)
        if score > best:
            best, best_a = score, a
    return best_a


@njit(cache=True)
def gumbel_root_score(b, children, prior, legal, visits, value_sum, raw_value, gumbel,
                      value_scale, maxvisit_init, considered_visit, sigma_q, logits, out):
    """out [A] = g(a) + logits(a) + sigma(completed Q)(a) for edges visited `considered_visit`
    times, -inf elsewhere: sequential halving's pick (Danihelka et al. 2022, Algorithm 2).

    A negative `considered_visit` drops the visit-count filter.
    """
    completed_sigma_q(b, 0, children, prior, legal, visits, value_sum, raw_value,
                      value_scale, maxvisit_init, sigma_q)
    _masked_logits(b, 0, prior, legal, logits)
    for a in range(out.shape[0]):
        out[a] = -np.inf
        if legal[b, 0, a]:
            na = _edge_stats(b, 0, a, children, visits, value_sum)[0]
            if considered_visit < 0 or na == considered_visit:
                out[a] = gumbel[b, a] + logits[a] + sigma_q[a]
