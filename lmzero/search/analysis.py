"""What a searched root says about each of its moves, as KataGo's analysis engine reports it
(`moveInfos`): the prior, the mean value q, a lower confidence bound on q, and the principal
variation. Read from the tree (`tree.py`) after `search`; nothing here searches.

The tree keeps value sums only (no sum of squares), so the bound takes the largest variance a
value in [-1, 1] with mean q can have, (1 - q)(1 + q) = 1 - q^2 (Bhatia & Davis 2000), in place
of KataGo's running variance (KataGo: lcb = q - z * stdev / sqrt(n), with a t-quantile for z):

    lcb = q - LCB_Z * sqrt((1 - q^2) / n)

It is conservative: never narrower than the bound the true variance would give, and exact
where the variance is (a move every visit of which wins, q = 1, has lcb = 1).
"""

from __future__ import annotations

import math

import numpy as np

from lmzero.search.tree import ROOT, Tree

LCB_Z = 1.96
"""Standard errors below q that `lcb` lies (1.96: a one-sided 97.5% bound under a normal)."""
PV_MOVES = 10
"""Longest principal variation reported, in moves (KataGo's analysisPVLen is 15)."""


def lcb(q: float, n: int, z: float = LCB_Z) -> float:
    """Lower confidence bound on a mean value `q` in [-1, 1] of `n` visits (module docstring).

    >>> round(lcb(0.5, 100), 4), lcb(1.0, 3), lcb(-1.0, 1)
    (0.3303, 1.0, -1.0)
    """
    spread = math.sqrt(max(0.0, 1.0 - q * q) / n)  # Bhatia-Davis: var <= (1 - q)(1 + q)
    return max(-1.0, q - z * spread)


def principal_variation(tree: Tree, b: int, action: int, most: int = PV_MOVES) -> list[int]:
    """`action` at tree `b`'s root, then the most visited move at each node below while one was
    visited: 0-based actions, at most `most` of them."""
    child = int(tree.children[b, ROOT, action])
    if child < 0:  # a move never tried: no node below it yet
        return [action]
    return [action] + [int(tree.action[b, n]) for n in tree.most_visited_path(b, child, most)[1:]]


def root_moves(tree: Tree, b: int) -> list[dict]:
    """One entry per legal move at tree `b`'s root, most visited first (ties: higher prior):
    `action` (0-based), `visits`, `prior`, `q` (mean backed-up value from the point of view of
    the player to move at the root; None before a visit), `lcb` (None before a visit) and
    `pv` (0-based actions, starting with the move)."""
    visits, q = tree.child_visits(b), tree.child_values(b)
    prior = tree.prior[b, ROOT]
    legal = np.nonzero(tree.legal[b, ROOT])[0]
    order = sorted(legal, key=lambda a: (-visits[a], -prior[a], a))
    moves = []
    for a in order:
        n, mean = int(visits[a]), float(q[a])
        moves.append(dict(action=int(a), visits=n, prior=float(prior[a]),
                          q=mean if n else None, lcb=lcb(mean, n) if n else None,
                          pv=principal_variation(tree, b, int(a))))
    return moves
