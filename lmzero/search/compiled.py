"""Search with no Python per leaf, for games whose rules are numba kernels (`GameKernels`).

Why: with random playouts a Connect Four simulation costs about a microsecond of compiled work,
and any Python per leaf (building a state object, a legal mask, an evaluator call) costs more
than that. A game that sets `kernels` keeps each node's state packed in an int64 row
(`Tree.packed`); expansion (the child's state, game over, legal moves, the uniform prior, and the
playouts when the evaluator is `RolloutEvaluator`) runs compiled over a whole wave. With playouts
the wave loop itself is compiled, so one call runs a whole batched search; with a network the
evaluator still gets each wave's new leaves in one call.

The rule kernels a game provides, numba functions over a packed row `s` (int64 [width]):
    play(s, action, out)         writes the state after `action` into `out`
    outcome(s) -> (bool, float)  game over, and then its value for the player to move
    legal(s, out)                fills out (bool [A]) with the legal moves of a live state
    to_play(s) -> int            the player to move
    playout(s, rng) -> (value, rng)   one uniformly random playout, outcome for the mover;
                                 rng is a xorshift64 state (uint64), threaded through
The generic kernels below take the rules as arguments. numba cannot cache a function whose
arguments are functions, but it caches one that passes its own globals on, so each game wraps
the two entry points in cached functions of its own (`tasks.connect4`, `tasks.tictactoe`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
from numba import njit

from lmzero.search.simulate import backward, select_leaves


@dataclass(frozen=True)
class GameKernels:
    """A game's rules as compiled code over packed states, and its two cached entry points."""

    width: int
    """int64 words of a packed state."""
    pack: Callable[[Any], np.ndarray]
    """State -> int64 [width]."""
    unpack: Callable[[np.ndarray], Any]
    """int64 [width] -> State (the game's own state object)."""
    expand: Callable
    """`expand(b_idx, nodes, tree, num_rollouts, rng, need) -> (evaluations, rng)`: the game's
    cached wrapper of `expand_leaves`."""
    waves: Callable
    """`waves(tree, params, schedule, sims_done, num_rollouts, rng, wave, max_waves)`: the
    game's cached wrapper of `run_waves`."""


@njit(cache=True)
def plan_wave(solved, sims_done, phase_end, num_simulations, leaves_per_call):
    """bool [B, width]: which walks the next wave takes in each tree (width 0: search done).

    A root takes no walk once solved or at its budget, and a wave stops at the end of a Gumbel
    halving phase (`phase_end`): the halving must see the phase's values.
    """
    B = sims_done.shape[0]
    remaining = np.zeros(B, np.int64)
    width = 0
    for b in range(B):
        if solved[b, 0] or sims_done[b] >= num_simulations:
            continue
        remaining[b] = phase_end[b, sims_done[b]] - sims_done[b]
        width = max(width, remaining[b])
    width = min(width, leaves_per_call)
    active = np.zeros((B, width), np.bool_)
    for b in range(B):
        for j in range(min(width, remaining[b])):
            active[b, j] = True
    return active


@njit(cache=True)
def expand_leaves(play, outcome, legal_moves, to_play, playout, b_idx, nodes, tree,
                  num_rollouts, rng, need):
    """Expand the leaves (b_idx [K], nodes [K]) of `tree` (the tuple `tree_arrays` makes).

    Computes each new node's packed state from its parent's, its sign, game over and legal
    moves with a uniform prior; values come from `num_rollouts` playouts, or, with 0, are left
    to the caller: need [K] marks the leaves its evaluator must fill (prior and raw_value).
    A leaf reached twice in one wave is expanded once. Returns (leaves evaluated, rng).
    """
    (parent, action, prior, legal, raw_value, sign, expanded, terminal, solved, packed) = tree
    A = legal.shape[2]
    evaluations = 0
    for k in range(b_idx.shape[0]):
        b, node = b_idx[k], nodes[k]
        need[k] = False
        if expanded[b, node]:
            continue
        s = packed[b, node]
        if node != 0:
            up = parent[b, node]
            play(packed[b, up], action[b, node], s)
            sign[b, node] = 1 if to_play(s) == to_play(packed[b, up]) else -1
        expanded[b, node] = True
        over, value = outcome(s)
        if over:
            terminal[b, node] = True
            solved[b, node] = True
            raw_value[b, node] = value
            continue
        legal_moves(s, legal[b, node])
        count = 0
        for a in range(A):
            count += legal[b, node, a]
        for a in range(A):
            prior[b, node, a] = legal[b, node, a] / count if count else 0.0
        evaluations += 1
        if num_rollouts == 0:
            need[k] = True
            continue
        total = 0.0
        for _ in range(num_rollouts):
            v, rng = playout(s, rng)
            total += v
        raw_value[b, node] = total / num_rollouts
    return evaluations, rng


@njit(cache=True)
def run_waves(play, outcome, legal_moves, to_play, playout, tree, params, schedule, sims_done,
              num_rollouts, rng, wave, max_waves):
    """Up to `max_waves` waves of select -> expand with playouts -> backward, all compiled.

    tree: `tree_arrays(tree, with_search=True)`; params: `wave_params(config)`; schedule:
    (gumbel [B, A], considered [B, S], phase_end [B, S], salt [B]). Returns (waves so far, leaves
    evaluated, waves that evaluated any, rng, finished).
    """
    (parent, action, children, prior, legal, visits, value_sum, raw_value, sign, expanded,
     terminal, solved, num_nodes, born, packed) = tree
    (method, c_init, c_base, fpu, use_parent_fpu, uct_c, virtual_loss, value_scale,
     maxvisit_init, solve, num_simulations, leaves_per_call) = params
    gumbel, considered, phase_end, salt = schedule
    B = visits.shape[0]
    leaf_tree = (parent, action, prior, legal, raw_value, sign, expanded, terminal, solved,
                 packed)
    evaluations, calls = 0, 0
    for _ in range(max_waves):
        active = plan_wave(solved, sims_done, phase_end, num_simulations, leaves_per_call)
        width = active.shape[1]
        if width == 0:
            return wave, evaluations, calls, rng, True
        wave += 1
        leaves = np.empty((B, width), np.int32)
        select_leaves(parent, action, children, prior, legal, visits, value_sum, raw_value,
                      sign, expanded, solved, num_nodes, active, sims_done, leaves, method,
                      c_init, c_base, fpu, use_parent_fpu, uct_c, virtual_loss, gumbel,
                      considered, value_scale, maxvisit_init, born, wave, salt)
        count = 0
        for b in range(B):
            for j in range(width):
                count += leaves[b, j] >= 0
        b_idx = np.empty(count, np.int64)
        nodes = np.empty(count, np.int64)
        k = 0
        for b in range(B):
            for j in range(width):
                if leaves[b, j] >= 0:
                    b_idx[k], nodes[k] = b, leaves[b, j]
                    k += 1
        need = np.empty(count, np.bool_)
        done, rng = expand_leaves(play, outcome, legal_moves, to_play, playout, b_idx, nodes,
                                  leaf_tree, num_rollouts, rng, need)
        evaluations += done
        calls += done > 0
        values = np.empty(count, np.float64)
        for k in range(count):
            values[k] = raw_value[b_idx[k], nodes[k]]
        backward(b_idx, nodes, values, parent, sign, value_sum, virtual_loss, children, legal,
                 raw_value, solved, solve)
    return wave, evaluations, calls, rng, False


@njit(cache=True, inline="always")
def next_draw(s):
    """(32 random bits, next state) of the xorshift64* stream `s` (uint64, nonzero): playouts
    draw inside compiled code from a state the caller seeds, so they are reproducible."""
    s ^= s >> np.uint64(12)
    s ^= s << np.uint64(25)
    s ^= s >> np.uint64(27)
    return (s * np.uint64(0x2545F4914F6CDD1D)) >> np.uint64(32), s


def leaf_arrays(tree) -> tuple:
    """The arrays `expand_leaves` reads and writes, in its order."""
    return (tree.parent, tree.action, tree.prior, tree.legal, tree.raw_value, tree.sign,
            tree.expanded, tree.terminal, tree.solved, tree.packed)


def tree_arrays(tree) -> tuple:
    """Every array `run_waves` reads and writes, in its order."""
    return (tree.parent, tree.action, tree.children, tree.prior, tree.legal, tree.visits,
            tree.value_sum, tree.raw_value, tree.sign, tree.expanded, tree.terminal,
            tree.solved, tree.num_nodes, tree.wave, tree.packed)


def seed_state(rng: np.random.Generator) -> np.uint64:
    """A nonzero xorshift64 state drawn from `rng` (one draw per search)."""
    return np.uint64(int(rng.bit_generator.random_raw()) | 1)
