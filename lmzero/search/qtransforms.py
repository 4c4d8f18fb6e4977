"""Completed Q-values (Gumbel AlphaZero, Danihelka et al. 2022, appendix D), as a numba kernel.

Unvisited actions get the mixed value v_mix (eq. 33) instead of a guess, the completed values are
min-max normalised over the legal actions, and scaled by sigma(q) = (c_visit + max_b N(b)) * c_scale
(eq. 8) so they add to logits on a comparable scale.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def completed_sigma_q(b, n, children, prior, legal, visits, value_sum, raw_value,
                      value_scale, maxvisit_init, out):
    """Write sigma(completed Q) for the edges out of node n of tree b into out [A]."""
    A = out.shape[0]
    sum_n = 0
    max_n = 0
    weighted_q = 0.0
    visited_prior = 0.0
    for a in range(A):
        out[a] = 0.0
        child = children[b, n, a]
        if legal[b, n, a] and child >= 0 and visits[b, child] > 0:
            nv = visits[b, child]
            q = value_sum[b, child] / nv
            out[a] = q
            sum_n += nv
            max_n = max(max_n, nv)
            weighted_q += prior[b, n, a] * q
            visited_prior += prior[b, n, a]
    v_mix = raw_value[b, n]
    if visited_prior > 0.0:  # eq. 33: mix the raw value with the prior-weighted visited Q
        v_mix = (raw_value[b, n] + sum_n * weighted_q / visited_prior) / (1.0 + sum_n)
    lo = np.inf
    hi = -np.inf
    for a in range(A):
        if not legal[b, n, a]:
            continue
        child = children[b, n, a]
        if child < 0 or visits[b, child] == 0:
            out[a] = v_mix
        lo = min(lo, out[a])
        hi = max(hi, out[a])
    scale = (maxvisit_init + max_n) * value_scale
    span = max(hi - lo, 1e-8)
    for a in range(A):
        out[a] = scale * (out[a] - lo) / span if legal[b, n, a] else 0.0
