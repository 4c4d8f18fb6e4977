"""Descent and backup over a batch of trees, as numba kernels (the hot loop of every search).

`select_leaves` walks each tree from its root to a leaf, allocating the new child node on the way
and adding a virtual loss to every edge it takes, so that the next walk in the same wave prefers
other paths and one model call can evaluate many leaves (Chaslot et al. 2008, "Parallel MCTS").
`backward` adds the leaf values and removes those virtual losses.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from lmzero.search.action_selection import (
    GUMBEL, PUCT, gumbel_interior_action, gumbel_root_score, puct_action, uct_action)


@njit(cache=True)
def _root_gumbel_action(b, k, children, prior, legal, visits, value_sum, raw_value, gumbel,
                        considered, value_scale, maxvisit_init, sigma_q, logits, scores):
    seq_len = considered.shape[1]
    target = considered[b, k] if k < seq_len else -1
    gumbel_root_score(b, children, prior, legal, visits, value_sum, raw_value, gumbel,
                      value_scale, maxvisit_init, target, sigma_q, logits, scores)
    best_a = np.argmax(scores)
    if scores[best_a] == -np.inf:  # no edge has the scheduled count (collisions): drop the filter
        gumbel_root_score(b, children, prior, legal, visits, value_sum, raw_value, gumbel,
                          value_scale, maxvisit_init, -1, sigma_q, logits, scores)
        best_a = np.argmax(scores)
    return best_a


@njit(cache=True)
def select_leaves(parent, action, children, prior, legal, visits, value_sum, raw_value, sign,
                  expanded, solved, num_nodes, active, sims_done, leaves, method, c_init,
                  c_base, fpu, use_parent_fpu, uct_c, virtual_loss, gumbel, considered,
                  value_scale, maxvisit_init, born, wave, salt):
    """Fill leaves [B, L] with one leaf per walk (-1 where active [B, L] is False).

    sims_done [B] counts each tree's root walks (Gumbel's schedule is indexed by it); a node
    allocated here gets `born[b, node] = wave`; salt [B] (uint64, drawn per search) orders each
    tree's equal PUCT and UCT scores (`tie_break`).
    """
    B, L = leaves.shape
    A = prior.shape[2]
    sigma_q = np.empty(A)
    logits = np.empty(A)
    scores = np.empty(A)
    for b in range(B):
        for slot in range(L):
            leaves[b, slot] = -1
            if not active[b, slot]:
                continue
            node = 0
            visits[b, 0] += 1
            while expanded[b, node] and not solved[b, node]:
                if method == GUMBEL and node == 0:
                    a = _root_gumbel_action(b, sims_done[b], children, prior, legal, visits,
                                            value_sum, raw_value, gumbel, considered,
                                            value_scale, maxvisit_init, sigma_q, logits, scores)
                elif method == GUMBEL:
                    a = gumbel_interior_action(b, node, children, prior, legal, visits,
                                               value_sum, raw_value, value_scale,
                                               maxvisit_init, sigma_q, logits)
                elif method == PUCT:
                    a = puct_action(b, node, children, prior, legal, visits, value_sum,
                                    raw_value, sign, c_init, c_base, fpu, use_parent_fpu,
                                    salt[b])
                else:
                    a = uct_action(b, node, children, prior, legal, visits, value_sum, uct_c,
                                   salt[b])
                if a < 0:  # no legal move in a non-terminal state: the node stays a leaf
                    break
                child = children[b, node, a]
                fresh = child < 0
                if fresh:  # lazy allocation: the edge's node exists from its first visit on
                    child = num_nodes[b]
                    num_nodes[b] += 1
                    parent[b, child] = node
                    action[b, child] = a
                    children[b, node, a] = child
                    born[b, child] = wave
                visits[b, child] += 1
                value_sum[b, child] -= virtual_loss
                node = child
                if fresh:
                    break
            leaves[b, slot] = node
            sims_done[b] += 1
    return leaves


@njit(cache=True)
def backward(tree_index, leaf, value, parent, sign, value_sum, virtual_loss, children, legal,
             raw_value, solved, solve):
    """Add value [K] (leaf's own point of view) along each leaf's path, undoing virtual losses.

    Visits were already counted on the way down. With `solve`, exact values also climb the path
    (MCTS-Solver, Winands et al. 2008): a node is solved once one child is a proven win for its
    player (value 1 from its point of view) or all of its children are solved.
    """
    for k in range(leaf.shape[0]):
        b, node, v = tree_index[k], leaf[k], value[k]
        if solve and solved[b, node]:
            _propagate_solved(b, parent[b, node], children, legal, sign, raw_value, solved, parent)
        while node != 0:
            v = sign[b, node] * v  # to the point of view of the player who chose this edge
            value_sum[b, node] += v + virtual_loss
            node = parent[b, node]
        value_sum[b, 0] += v


@njit(cache=True)
def _propagate_solved(b, node, children, legal, sign, raw_value, solved, parent):
    while node >= 0 and not solved[b, node]:
        best = -np.inf
        complete = True
        for a in range(legal.shape[2]):
            if not legal[b, node, a]:
                continue
            child = children[b, node, a]
            if child < 0 or not solved[b, child]:
                complete = False
                continue
            best = max(best, sign[b, child] * raw_value[b, child])
        if best < 1.0 and not complete:
            return
        solved[b, node] = True
        raw_value[b, node] = best
        node = parent[b, node]
