"""One search over a batch of roots: simulate (select) -> expand (evaluate) -> backward, repeated.

Each wave walks `leaves_per_call` paths in every tree (virtual loss keeps them apart), computes the
new leaves' states, and sends all non-terminal ones to the evaluator in a single call.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Callable, Literal, Sequence

import numpy as np

from lmzero.search import action_selection, simulate
from lmzero.search.action_selection import GUMBEL, PUCT, UCT, tie_breaks
from lmzero.search.compiled import leaf_arrays, plan_wave, seed_state, tree_arrays
from lmzero.search.evaluators import Evaluator, RolloutEvaluator
from lmzero.search.seq_halving import schedule
from lmzero.search.tree import ROOT, Tree
from lmzero.tasks.base import Game, State

Method = Literal["puct", "uct", "gumbel"]
_METHODS = {"puct": PUCT, "uct": UCT, "gumbel": GUMBEL}


@dataclass
class SearchConfig:
    num_simulations: int = 200
    """Simulations (root-to-leaf walks) per root and per call to `search`."""
    method: Method = "puct"
    """`puct` (AlphaZero), `uct` (UCB1, for model-free rollouts) or `gumbel` (Gumbel root with
    sequential halving; best at small budgets)."""
    c_init: float = 1.25
    """PUCT exploration constant c_init (AlphaZero pseudocode)."""
    c_base: float = 19652.0
    """PUCT c_base: exploration grows slowly with the parent's visits."""
    uct_c: float = 2.0
    """UCT exploration constant."""
    fpu: float | None = None
    """Value of unvisited edges under PUCT; None = the parent's own mean value."""
    dirichlet_alpha: float = 0.3
    """Concentration of the root noise (AlphaZero: 0.3 chess, 0.03 Go)."""
    dirichlet_fraction: float = 0.0
    """Share of root prior replaced by Dirichlet noise; 0 = off (self-play uses 0.25)."""
    temperature: float = 0.0
    """Move choice from root visits: 0 = most visited; 1 = proportional to visits."""
    leaves_per_call: int = 8
    """Leaves per tree gathered under virtual loss before one evaluator call."""
    virtual_loss: float = 1.0
    """Value subtracted from an edge while a walk through it awaits evaluation."""
    max_considered_actions: int = 16
    """Gumbel: root actions sampled (top-k by g + logits) before sequential halving."""
    gumbel_scale: float = 1.0
    """Gumbel: scale of the Gumbel noise; 0 makes the root choice deterministic."""
    value_scale: float = 0.1
    """Gumbel sigma(q) c_scale (Danihelka et al. 2022)."""
    maxvisit_init: float = 50.0
    """Gumbel sigma(q) c_visit."""
    transpositions: bool = False
    """Share evaluations between nodes whose states have the same `game.key`."""
    solve: bool = False
    """Back up proven outcomes (MCTS-Solver): a solved node is searched no further, the move choice
    takes a proven win and avoids proven losses. Assumes values lie in [-1, 1]. Off by default:
    with random rollouts on Connect Four it cost about 2 points of move quality at 10,000
    simulations (as it does in OpenSpiel's MCTS), see docs/architecture.md."""

    def __post_init__(self):
        if self.method not in _METHODS:
            raise ValueError(f"method must be one of {sorted(_METHODS)}, got {self.method!r}")
        if self.num_simulations < 1:
            raise ValueError(f"num_simulations must be >= 1, got {self.num_simulations}")
        if self.leaves_per_call < 1:
            raise ValueError(f"leaves_per_call must be >= 1, got {self.leaves_per_call}")
        if not 0.0 <= self.dirichlet_fraction <= 1.0:
            raise ValueError(f"dirichlet_fraction must be in [0, 1], got {self.dirichlet_fraction}")
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")


@dataclass
class SearchResult:
    action: np.ndarray  # int [B] move chosen at each root
    visits: np.ndarray  # int [B, A] visits of each root edge
    q_values: np.ndarray  # float [B, A] mean value of each root edge, NaN if unvisited
    root_value: np.ndarray  # float [B] mean value of each root, its player's point of view
    policy: np.ndarray  # float [B, A] search policy: visit shares, or Gumbel's improved policy
    tree: Tree = field(repr=False)
    evaluations: int = 0  # states sent to the evaluator
    evaluator_calls: int = 0  # calls to evaluator.evaluate
    waves: int = 0  # waves run (one evaluator call each at most); tree.wave numbers them


class _Expander:
    """Turns selected leaves into values: computes their states, asks the evaluator once per
    wave for the non-terminal ones, and writes priors, legal moves and values into the tree."""

    def __init__(self, game: Game, evaluator: Evaluator, transpositions: bool):
        self.game, self.evaluator = game, evaluator
        self.cache: dict | None = {} if transpositions else None
        self.evaluations = 0
        self.calls = 0

    def _state_of(self, tree: Tree, b: int, node: int) -> State:
        state = tree.states[b][node]
        if state is None:  # first visit: apply the edge's action to the parent's state
            up = tree.parent[b, node]
            parent_state = tree.states[b][up]
            state = self.game.apply(parent_state, int(tree.action[b, node]))
            tree.states[b][node] = state
            same = self.game.to_play(state) == self.game.to_play(parent_state)
            tree.sign[b, node] = 1 if same else -1
        return state

    def expand(self, tree: Tree, pairs: Sequence[tuple[int, int]]) -> None:
        if tree.packed is not None:
            return self.expand_packed(tree, np.array([b for b, _ in pairs], np.int64),
                                      np.array([n for _, n in pairs], np.int64))
        todo: dict[tuple[int, int], State] = {}
        for b, node in pairs:
            if tree.expanded[b, node] or (b, node) in todo:
                continue
            state = self._state_of(tree, b, node)
            if self.game.is_terminal(state):
                tree.terminal[b, node] = tree.expanded[b, node] = tree.solved[b, node] = True
                tree.raw_value[b, node] = self.game.terminal_value(state)
                continue
            todo[(b, node)] = state
        if not todo:
            return
        keys = list(todo)
        states = [todo[k] for k in keys]
        priors, values = self._evaluate(states)
        for (b, node), state, p, v in zip(keys, states, priors, values):
            legal = self.game.legal_mask(state)
            p = p * legal
            total = p.sum()
            tree.prior[b, node] = p / total if total > 0 else legal / max(legal.sum(), 1)
            tree.legal[b, node] = legal
            tree.raw_value[b, node] = v
            tree.expanded[b, node] = True

    def expand_packed(self, tree: Tree, b_idx: np.ndarray, nodes: np.ndarray) -> None:
        """`expand` for packed states: compiled up to the evaluator, which gets the wave's
        new live leaves in one call."""
        need = np.empty(len(b_idx), np.bool_)
        tree.kernels.expand(b_idx, nodes, leaf_arrays(tree), 0, np.uint64(1), need)
        b_idx, nodes = b_idx[need], nodes[need]
        if not len(b_idx):
            return
        priors, values = self._evaluate([tree.state(b, n) for b, n in zip(b_idx, nodes)])
        legal = tree.legal[b_idx, nodes]
        p = np.asarray(priors, np.float32) * legal
        total = p.sum(axis=1, keepdims=True)
        uniform = legal / np.maximum(legal.sum(axis=1, keepdims=True), 1)
        tree.prior[b_idx, nodes] = np.where(total > 0, p / np.where(total > 0, total, 1), uniform)
        tree.raw_value[b_idx, nodes] = values

    def _evaluate(self, states: list[State]) -> tuple[np.ndarray, np.ndarray]:
        if self.cache is None:
            self.calls += 1
            self.evaluations += len(states)
            return self.evaluator.evaluate(states)
        keys = [self.game.key(s) for s in states]
        missing = list({k: s for k, s in zip(keys, states) if k not in self.cache}.items())
        if missing:
            self.calls += 1
            self.evaluations += len(missing)
            priors, values = self.evaluator.evaluate([s for _, s in missing])
            for (k, _), p, v in zip(missing, priors, values):
                self.cache[k] = (p, v)
        return (np.stack([self.cache[k][0] for k in keys]),
                np.array([self.cache[k][1] for k in keys], dtype=np.float32))


def _new_tree(game: Game, roots: Sequence[State], capacity: int) -> Tree:
    tree = Tree.empty(len(roots), capacity, game.num_actions)
    for b, state in enumerate(roots):
        tree.states[b][ROOT] = state
    kernels = getattr(game, "kernels", None)
    return tree.with_kernels(kernels) if kernels is not None else tree


def _init_roots(tree: Tree, expander: _Expander, config: SearchConfig, rng) -> None:
    fresh = [(b, ROOT) for b in range(tree.batch_size) if not tree.expanded[b, ROOT]]
    expander.expand(tree, fresh)
    for b, _ in fresh:  # the root's own evaluation counts as its first visit
        tree.visits[b, ROOT] = 1
        tree.value_sum[b, ROOT] = tree.raw_value[b, ROOT]
    if config.dirichlet_fraction > 0:  # AlphaZero root exploration noise
        for b in range(tree.batch_size):
            legal = tree.legal[b, ROOT]
            if legal.any():
                noise = rng.dirichlet([config.dirichlet_alpha] * int(legal.sum()))
                eps = config.dirichlet_fraction
                tree.prior[b, ROOT, legal] = (1 - eps) * tree.prior[b, ROOT, legal] + eps * noise


def search(game: Game, evaluator: Evaluator, roots: Sequence[State] | None = None,
           config: SearchConfig | None = None, rng: np.random.Generator | int | None = None,
           tree: Tree | None = None,
           progress: Callable[[int], None] | None = None) -> SearchResult:
    """Run `config.num_simulations` simulations from each root and choose a move at each.

    Pass `tree` (from `reuse_tree`) instead of `roots` to continue a previous search.
    `progress(simulations)` hears after each wave how many simulations are done, over all
    roots (a solved root counts as done: it needs no more).
    """
    config = config or SearchConfig()
    rng = np.random.default_rng(rng)
    salt = _peek_salt(rng)
    if tree is None:
        if not roots:
            raise ValueError("search needs root states or a tree")
        tree = _new_tree(game, roots, config.num_simulations + 1)
    elif config.method == "gumbel" and tree.expanded[:, ROOT].any():
        raise ValueError("tree reuse is not supported with gumbel: its schedule needs a new root")
    else:
        tree = tree.grow(int(tree.num_nodes.max()) + config.num_simulations + 1)
    expander = _Expander(game, evaluator, config.transpositions)
    _init_roots(tree, expander, config, rng)

    B, A = tree.batch_size, tree.num_actions
    gumbel = config.gumbel_scale * rng.gumbel(size=(B, A))
    considered = np.zeros((B, config.num_simulations), np.int32)
    phase_end = np.full((B, config.num_simulations), config.num_simulations, np.int32)
    if config.method == "gumbel":
        for b in range(B):
            m = min(config.max_considered_actions, int(tree.legal[b, ROOT].sum()))
            considered[b], phase_end[b] = schedule(max(m, 1), config.num_simulations)
    plan = (gumbel, considered, phase_end, np.full(B, salt, np.uint64))
    if _compiled_playouts(game, evaluator, tree, config):
        waves = _run_compiled_waves(tree, expander, config, plan, progress)
    else:
        waves = _run_waves(tree, expander, config, plan, progress)
    result = _result(tree, config, rng, gumbel, expander, salt)
    result.waves = waves
    return result


def _peek_salt(rng: np.random.Generator) -> np.uint64:
    """The seed of `tie_break` (equal scores, in selection and in the move choice): read from a
    copy of `rng`, so every other draw of a search stays as it was, and shared by all roots, so
    a root's search does not depend on the batch it is in."""
    return np.uint64(int(copy.deepcopy(rng.bit_generator).random_raw()) | 1)


def _run_waves(tree: Tree, expander: _Expander, config: SearchConfig, plan,
               progress=None) -> int:
    """Waves until every root has its simulations (or is solved); returns how many ran.
    `plan`: (gumbel [B, A], considered [B, S], phase_end [B, S], salt [B])."""
    gumbel, considered, phase_end, salt = plan
    sims_done = np.zeros(tree.batch_size, np.int64)
    method = _METHODS[config.method]
    use_parent_fpu = config.fpu is None
    wave = 0
    while True:
        active = plan_wave(tree.solved, sims_done, phase_end, config.num_simulations,
                           config.leaves_per_call)
        if not active.shape[1]:
            return wave
        wave += 1
        leaves = np.empty(active.shape, np.int32)
        _select(tree, active, sims_done, leaves, method, config, use_parent_fpu, gumbel,
                considered, wave, salt)
        b_idx, slot = np.nonzero(leaves >= 0)
        nodes = leaves[b_idx, slot]
        if tree.packed is not None:
            expander.expand_packed(tree, b_idx.astype(np.int64), nodes.astype(np.int64))
        else:
            expander.expand(tree, list(zip(b_idx.tolist(), nodes.tolist())))
        values = tree.raw_value[b_idx, nodes].astype(np.float64)
        simulate.backward(b_idx.astype(np.int64), nodes.astype(np.int64), values, tree.parent,
                          tree.sign, tree.value_sum, config.virtual_loss, tree.children,
                          tree.legal, tree.raw_value, tree.solved, config.solve)
        if progress is not None:
            _report(progress, tree, config, sims_done)


def _report(progress, tree: Tree, config: SearchConfig, sims_done: np.ndarray) -> None:
    """Simulations done over all roots (a solved root counts as done: it needs no more)."""
    progress(int(np.where(tree.solved[:, ROOT], config.num_simulations, sims_done).sum()))


def _compiled_playouts(game: Game, evaluator: Evaluator, tree: Tree,
                       config: SearchConfig) -> bool:
    """Whether the whole search can run compiled: packed states and random playouts as the
    values (transpositions share evaluations through a Python dict, so they cannot)."""
    return (tree.packed is not None and isinstance(evaluator, RolloutEvaluator)
            and evaluator.game is game and not config.transpositions)


PROGRESS_WAVES = 64
"""Compiled waves between two progress reports (when someone listens)."""


def _run_compiled_waves(tree: Tree, expander: _Expander, config: SearchConfig, plan,
                        progress=None) -> int:
    """`_run_waves` with playouts, in compiled code: one call for the whole search (a call per
    `PROGRESS_WAVES` waves when `progress` listens); returns how many waves ran."""
    sims_done = np.zeros(tree.batch_size, np.int64)
    params = (_METHODS[config.method], config.c_init, config.c_base,
              0.0 if config.fpu is None else config.fpu, config.fpu is None, config.uct_c,
              config.virtual_loss, config.value_scale, config.maxvisit_init, config.solve,
              config.num_simulations, config.leaves_per_call)
    rng = seed_state(expander.evaluator.rng)
    chunk = PROGRESS_WAVES if progress is not None else np.iinfo(np.int32).max
    wave, finished = 0, False
    while not finished:
        wave, evaluations, calls, rng, finished = tree.kernels.waves(
            tree_arrays(tree), params, plan, sims_done, expander.evaluator.num_rollouts,
            rng, wave, chunk)
        expander.evaluations += evaluations
        expander.calls += calls
        if progress is not None:
            _report(progress, tree, config, sims_done)
    return wave


def _select(tree, active, sims_done, leaves, method, config, use_parent_fpu, gumbel, considered,
            wave: int, salt):
    simulate.select_leaves(
        tree.parent, tree.action, tree.children, tree.prior, tree.legal, tree.visits,
        tree.value_sum, tree.raw_value, tree.sign, tree.expanded, tree.solved, tree.num_nodes,
        active, sims_done, leaves, method, config.c_init, config.c_base,
        0.0 if config.fpu is None else config.fpu, use_parent_fpu, config.uct_c,
        config.virtual_loss, gumbel, considered, config.value_scale, config.maxvisit_init,
        tree.wave, wave, salt)


def _softmax(x: np.ndarray) -> np.ndarray:
    z = np.exp(x - x.max())
    return z / z.sum()


def _result(tree: Tree, config: SearchConfig, rng, gumbel, expander: _Expander,
            salt) -> SearchResult:
    B, A = tree.batch_size, tree.num_actions
    visits = np.stack([tree.child_visits(b) for b in range(B)])
    q_values = np.stack([tree.child_values(b) for b in range(B)])
    root_value = np.array([tree.node_value(b) for b in range(B)])
    policy = np.zeros((B, A))
    action = np.full(B, -1, np.int64)
    sigma_q, logits, scores = np.empty(A), np.empty(A), np.empty(A)
    for b in range(B):
        legal = tree.legal[b, ROOT]
        if not legal.any():
            continue  # terminal root: nothing to choose
        allowed = _unrefuted(tree, b, legal) if config.solve else legal
        if config.method == "gumbel":
            action[b], policy[b] = _gumbel_choice(tree, b, config, gumbel, allowed, sigma_q,
                                                  logits, scores)
            continue
        total = visits[b].sum()
        policy[b] = visits[b] / total if total > 0 else tree.prior[b, ROOT]
        action[b] = _visit_choice(visits[b], q_values[b], allowed, config.temperature, rng,
                                  tie_breaks(salt, ROOT, A))
    return SearchResult(action, visits, q_values, root_value, policy, tree,
                        expander.evaluations, expander.calls)


def _unrefuted(tree: Tree, b: int, legal: np.ndarray) -> np.ndarray:
    """bool [A]: at a solved root, the moves that reach its proven value; elsewhere, the moves
    not proven to lose (all legal moves if every one is)."""
    kids = tree.children[b, ROOT]
    safe = np.maximum(kids, 0)
    known = legal & (kids >= 0) & tree.solved[b, safe]
    exact = np.where(known, tree.sign[b, safe] * tree.raw_value[b, safe], np.nan)
    if tree.solved[b, ROOT]:
        return known & (exact == tree.raw_value[b, ROOT])
    losing = known & (exact <= -1.0)
    return legal & ~losing if (legal & ~losing).any() else legal


def _visit_choice(visits, q_values, legal, temperature, rng, ties) -> int:
    """Most visited edge (ties: higher mean value, then `ties` [A], the search's tie-break
    order: the lowest id would bias every game whose ids follow the board), or a sample from
    visits ** (1 / T)."""
    if temperature == 0:
        q = np.where(np.isnan(q_values), -np.inf, q_values)
        order = np.lexsort((-ties, -q, -visits))  # visits, then value, then the tie-break
        return int(next(a for a in order if legal[a]))
    weights = np.where(legal, visits.astype(np.float64), 0.0) ** (1.0 / temperature)
    if weights.sum() == 0:
        weights = legal.astype(np.float64)
    return int(rng.choice(len(weights), p=weights / weights.sum()))


def _gumbel_choice(tree, b, config, gumbel, allowed, sigma_q, logits, scores):
    """Most visited of the remaining candidates by g + logits + sigma(q) (Danihelka et al. 2022,
    Algorithm 2), among the `allowed` moves; policy target = softmax(logits + sigma(completed Q))
    (eq. 11)."""
    legal = tree.legal[b, ROOT]
    target = int(tree.child_visits(b)[allowed].max())
    for considered in (target, -1):  # -1: any visit count, if a proof cut the schedule short
        action_selection.gumbel_root_score(
            b, tree.children, tree.prior, tree.legal, tree.visits, tree.value_sum,
            tree.raw_value, gumbel, config.value_scale, config.maxvisit_init, considered,
            sigma_q, logits, scores)
        scores[~allowed] = -np.inf
        if np.isfinite(scores).any():
            break
    improved = np.where(legal, logits + sigma_q, -np.inf)
    return int(np.argmax(scores)), _softmax(improved)


def reuse_tree(tree: Tree, game: Game, actions: Sequence[int]) -> Tree:
    """The subtrees under each root's edge `actions[b]`, re-rooted, statistics kept.

    Lets a player keep the search it already did for the position it moves into.
    """
    B, N, A = tree.batch_size, tree.capacity, tree.num_actions
    new = Tree.empty(B, N, A)
    if tree.packed is not None:
        new.with_kernels(tree.kernels)
    for b, a in enumerate(actions):
        root_state = tree.states[b][ROOT]
        child = int(tree.children[b, ROOT, a])
        if child < 0 or tree.state(b, child) is None:
            new.states[b][ROOT] = game.apply(root_state, int(a))
            if tree.packed is not None:
                new.packed[b, ROOT] = tree.kernels.pack(new.states[b][ROOT])
            continue
        order = [np.array([child])]
        while order[-1].size:
            kids = tree.children[b, order[-1]].ravel()
            order.append(kids[kids >= 0])
        order = np.concatenate(order)
        remap = np.full(N + 1, -1, np.int32)  # remap[-1] stays -1 for "no node"
        remap[order] = np.arange(order.size)
        m = order.size
        for name in ("prior", "legal", "visits", "value_sum", "raw_value", "sign", "expanded",
                     "terminal", "solved", "action"):
            getattr(new, name)[b, :m] = getattr(tree, name)[b, order]
        new.children[b, :m] = remap[tree.children[b, order]]
        new.parent[b, :m] = remap[tree.parent[b, order]]
        new.parent[b, ROOT], new.action[b, ROOT], new.sign[b, ROOT] = -1, -1, 1
        new.value_sum[b, ROOT] *= tree.sign[b, child]  # the root keeps its own point of view
        new.num_nodes[b] = m
        new.states[b][:m] = [tree.states[b][i] for i in order]
        if tree.packed is not None:
            new.packed[b, :m] = tree.packed[b, order]
    return new
