"""Exact counting of expression trees over a multiset, the solver behind Game of 24 and Countdown.

A trajectory of canonical steps (see `arith.ArithTask.legal_steps`) is a bottom-up evaluation of a
binary expression tree, so "some canonical trajectory reaches t" is "some tree over all the numbers
evaluates to t". Trees split over partitions of the multiset into two parts, which memoises on
sorted Fraction tuples: all 1,820 Game of 24 multisets are classified in about a second.
"""

from __future__ import annotations

from collections import defaultdict
from fractions import Fraction
from functools import lru_cache


@lru_cache(maxsize=1 << 12)
def _partitions(values: tuple) -> tuple:
    """Unordered splits {S1, S2} of a sorted multiset into non-empty parts, |S1| <= |S2|."""
    n, seen = len(values), set()
    for mask in range(1, (1 << n) - 1):
        s1 = tuple(v for i, v in enumerate(values) if mask >> i & 1)
        s2 = tuple(v for i, v in enumerate(values) if not mask >> i & 1)
        if (len(s1), s1) <= (len(s2), s2):
            seen.add((s1, s2))
    return tuple(sorted(seen))


@lru_cache(maxsize=1 << 12)
def _trees(values: tuple) -> dict:
    """{value: number of distinct trees over `values` with that value} (see count_trees)."""
    if len(values) == 1:
        return {values[0]: 1}
    out: dict = defaultdict(int)
    for s1, s2 in _partitions(values):
        c1, c2, same = _trees(s1), _trees(s2), s1 == s2
        twice: dict = defaultdict(int)  # + and * over ordered pairs of one part with itself
        for v1, n1 in c1.items():
            for v2, n2 in c2.items():
                n = n1 * n2
                sym = twice if same else out
                sym[v1 + v2] += n
                sym[v1 * v2] += n
                if v1 >= v2:
                    out[v1 - v2] += n
                if v2:
                    out[v1 / v2] += n
                if not same and v2 >= v1:
                    out[v2 - v1] += n
                if not same and v1:
                    out[v2 / v1] += n
            if same:  # unordered pairs {t1, t2} = (ordered pairs + pairs (t, t)) / 2
                twice[v1 + v1] += n1
                twice[v1 * v1] += n1
        for v, n in twice.items():
            out[v] += n // 2
    return dict(out)


@lru_cache(maxsize=1 << 16)
def count_trees(values: tuple, target: Fraction) -> int:
    """Distinct expression trees over the sorted multiset `values` that equal `target`.

    Each tree uses every value once, and each node is a canonical step: subtraction only where
    the result is non-negative, no division by zero. The children of + and * are unordered
    (a * b is b * a) and equal values are interchangeable; associativity is not collapsed, so
    (a + b) + c and a + (b + c) count twice. The root op is inverted (which v2 makes v1 op v2 equal
    the target?) rather than enumerating the larger part, so six numbers stay cheap.

    >>> count_trees((Fraction(1), Fraction(5), Fraction(5), Fraction(5)), Fraction(24))
    1
    """
    t = target
    if t < 0:
        return 0  # every value is >= 0: canonical subtraction never goes negative
    if len(values) <= 3 or t == 0:
        return _trees(values).get(t, 0)
    total = 0
    for s1, s2 in _partitions(values):
        twice = 0  # + and * when both parts are the same multiset, over ordered pairs
        for v1, n1 in _trees(s1).items():  # s1 is the smaller part
            plus = count_trees(s2, t - v1) + (count_trees(s2, t / v1) if v1 else 0)
            minus = count_trees(s2, v1 - t) + (count_trees(s2, v1 / t) if v1 else 0)  # v1-v2, v1/v2
            if s1 == s2:
                twice += n1 * (plus + (v1 + v1 == t) + (v1 * v1 == t))
                total += n1 * minus
            else:  # the parts differ, so v2 - v1 and v2 / v1 are new trees too
                flipped = count_trees(s2, v1 + t) + (count_trees(s2, t * v1) if v1 else 0)
                total += n1 * (plus + minus + flipped)
        total += twice // 2
    return total
