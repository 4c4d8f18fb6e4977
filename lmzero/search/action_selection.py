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


@njit(cache=True)
def _edge_stats(b, n, a, children, visits, value_sum):
    """(visits, mean value) of an edge; (0, nan) if never visited."""
    child = children[b, n, a]
    if child < 0 or visits[b, child] == 0:
        return 0, np.nan
    return visits[b, child], value_sum[b, child] / visits[b, child]


@njit(cache=True)
def puct_action(b, n, children, prior, legal, visits, value_sum, raw_value, sign,
                c_init, c_base, fpu, use_parent_fpu):
    """argmax_a Q(a) + c(s) P(a) sqrt(N) / (1 + N(a)).

    PUCT as in AlphaZero (Silver et al. 2018); c(s) = c_init + log((N + c_base + 1) / c_base).
    Unvisited edges take the first-play value `fpu`, or the node's own mean value.
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
        score = q + c * prior[b, n, a] * sqrt_total / (1.0 + na)
        if score > best:
            best, best_a = score, a
    return best_a


@njit(cache=True)
def uct_action(b, n, children, prior, legal, visits, value_sum, uct_c):
    """UCB1 on trees (Kocsis & Szepesvari 2006): Q(a) + c sqrt(ln N / N(a)).

    Unvisited edges come first, the one with the highest prior first.
    """
    log_total = math.log(max(visits[b, n], 1))
    best, best_a = -np.inf, -1
    for a in range(prior.shape[2]):
        if not legal[b, n, a]:
            continue
        na, q = _edge_stats(b, n, a, children, visits, value_sum)
        score = 1e9 + prior[b, n, a] if na == 0 else q + uct_c * math.sqrt(log_total / na)
        if score > best:
            best, best_a = score, a
    return best_a


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
