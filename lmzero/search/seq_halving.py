"""Sequential halving at the root (Gumbel AlphaZero, Danihelka et al. 2022, section 3.1).

The budget of n simulations is split into ceil(log2 m) phases; in each phase every action still
considered gets the same number of visits, then the worse half is dropped. Written as a table of
"considered visit counts": simulation k visits an action whose visit count equals `seq[k]`, which
lets one selection rule (argmax over those actions) reproduce the whole schedule.
"""

from __future__ import annotations

import math

import numpy as np


def considered_visit_sequence(num_considered: int, num_simulations: int) -> np.ndarray:
    """int32 [num_simulations]: the visit count an action must have to be picked at step k.

    >>> considered_visit_sequence(4, 8).tolist()
    [0, 0, 0, 0, 1, 1, 2, 2]
    >>> considered_visit_sequence(1, 3).tolist()
    [0, 1, 2]
    """
    return schedule(num_considered, num_simulations)[0]


def schedule(num_considered: int, num_simulations: int) -> tuple[np.ndarray, np.ndarray]:
    """(considered visit counts, phase ends), both int32 [num_simulations].

    phase_end[k] is the first simulation of the phase after k's: simulations of one phase may be
    evaluated together, but the halving after it needs their values first.

    >>> schedule(4, 8)[1].tolist()
    [4, 4, 4, 4, 8, 8, 8, 8]
    """
    if num_considered <= 1:
        seq = np.arange(num_simulations, dtype=np.int32)
        return seq, np.full(num_simulations, num_simulations, np.int32)
    phases = math.ceil(math.log2(num_considered))
    seq: list[int] = []
    ends: list[int] = []
    visits = [0] * num_considered
    width = num_considered
    while len(seq) < num_simulations:
        extra = max(1, num_simulations // (phases * width))
        start = len(seq)
        for _ in range(extra):
            seq.extend(visits[:width])
            for i in range(width):
                visits[i] += 1
        ends.extend([min(len(seq), num_simulations)] * (len(seq) - start))
        width = max(2, width // 2)
    return (np.asarray(seq[:num_simulations], dtype=np.int32),
            np.asarray(ends[:num_simulations], dtype=np.int32))
