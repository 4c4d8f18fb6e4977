"""The search tree as plain data: a node table of arrays, batched over many roots.

Every array's first axis is the batch of trees (B), the second the node (N); per-action arrays add
the action axis (A). Node `ROOT` is each tree's root; children are allocated lazily, the first time
a simulation takes their edge, so a search of S simulations needs at most S + 1 nodes.

Value convention: `value_sum[b, n]` sums values from the point of view of the player who chose the
edge into `n` (the player to move at its parent); for the root, its own player to move. `sign[b, n]`
is -1 when the player to move changes across that edge (two-player games), +1 when it does not
(single-agent tasks), so `sign * value` converts a value at `n` to its parent's point of view.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ROOT = 0  # index of every tree's root node
NO_CHILD = -1  # children[b, n, a] of an edge never taken
NO_PARENT = -1  # parent[b, ROOT]


@dataclass
class Tree:
    parent: np.ndarray  # int32 [B, N] parent node, NO_PARENT at the root
    action: np.ndarray  # int32 [B, N] action on the edge from the parent
    children: np.ndarray  # int32 [B, N, A] child node per action, NO_CHILD if never taken
    prior: np.ndarray  # float32 [B, N, A] policy prior, 0 on illegal actions
    legal: np.ndarray  # bool [B, N, A] legal actions (all False until expanded / at terminals)
    visits: np.ndarray  # int32 [B, N] visit count, virtual visits of pending leaves included
    value_sum: np.ndarray  # float64 [B, N] sum of backed-up values, parent's point of view
    raw_value: np.ndarray  # float32 [B, N] evaluator's value, the node's own point of view
    sign: np.ndarray  # int8 [B, N] +1/-1: converts a value at the node to its parent's view
    expanded: np.ndarray  # bool [B, N] evaluated (or terminal): its edges may be selected
    terminal: np.ndarray  # bool [B, N] game over at this node; raw_value is the exact outcome
    solved: np.ndarray  # bool [B, N] exact value known (terminal, or proven from its children)
    wave: np.ndarray  # int32 [B, N] search wave that allocated the node (0: root, or kept)
    num_nodes: np.ndarray  # int32 [B] nodes in use per tree
    states: list  # B lists of N game states (None until the node's state is computed)
    packed: np.ndarray | None = None  # int64 [B, N, W] states as rows, for a game with kernels
    kernels: object = None  # that game's `search.compiled.GameKernels` (unpacks `packed`)

    @classmethod
    def empty(cls, batch: int, capacity: int, num_actions: int) -> "Tree":
        B, N, A = batch, capacity, num_actions
        tree = cls(
            parent=np.full((B, N), NO_PARENT, np.int32),
            action=np.full((B, N), -1, np.int32),
            children=np.full((B, N, A), NO_CHILD, np.int32),
            prior=np.zeros((B, N, A), np.float32),
            legal=np.zeros((B, N, A), np.bool_),
            visits=np.zeros((B, N), np.int32),
            value_sum=np.zeros((B, N), np.float64),
            raw_value=np.zeros((B, N), np.float32),
            sign=np.ones((B, N), np.int8),
            expanded=np.zeros((B, N), np.bool_),
            terminal=np.zeros((B, N), np.bool_),
            solved=np.zeros((B, N), np.bool_),
            wave=np.zeros((B, N), np.int32),
            num_nodes=np.ones(B, np.int32),
            states=[[None] * N for _ in range(B)],
        )
        return tree

    def with_kernels(self, kernels) -> "Tree":
        """This tree keeping its states packed for `kernels` (rows allocated, roots packed)."""
        B, N = self.batch_size, self.capacity
        self.kernels = kernels
        self.packed = np.zeros((B, N, kernels.width), np.int64)
        for b in range(B):
            if self.states[b][ROOT] is not None:
                self.packed[b, ROOT] = kernels.pack(self.states[b][ROOT])
        return self

    def state(self, b: int, node: int):
        """The game state at `node` of tree `b` (unpacked on first use when states are packed),
        None if it was never computed."""
        state = self.states[b][node]
        if state is None and self.packed is not None and self.expanded[b, node]:
            state = self.states[b][node] = self.kernels.unpack(self.packed[b, node])
        return state

    @property
    def batch_size(self) -> int:
        return self.visits.shape[0]

    @property
    def capacity(self) -> int:
        return self.visits.shape[1]

    @property
    def num_actions(self) -> int:
        return self.prior.shape[2]

    def child_visits(self, b: int, node: int = ROOT) -> np.ndarray:
        """int [A] visits of each edge out of `node` (0 for edges never taken)."""
        kids = self.children[b, node]
        return np.where(kids >= 0, self.visits[b, np.maximum(kids, 0)], 0)

    def most_visited_path(self, b: int, node: int = ROOT, most: int | None = None) -> list[int]:
        """Node ids of tree `b` from `node` down the most visited child (ties: the lower
        action) while one was visited: at most `most` nodes."""
        path = [node]
        while most is None or len(path) < most:
            visits = self.child_visits(b, node)
            if visits.max(initial=0) <= 0:
                break
            node = int(self.children[b, node, int(np.argmax(visits))])
            path.append(node)
        return path

    def child_values(self, b: int, node: int = ROOT) -> np.ndarray:
        """float [A] mean value of each edge, from the point of view of the player at `node`.

        NaN for edges never visited.
        """
        kids = self.children[b, node]
        safe = np.maximum(kids, 0)
        n = self.visits[b, safe]
        with np.errstate(invalid="ignore", divide="ignore"):
            q = self.value_sum[b, safe] / n
        return np.where((kids >= 0) & (n > 0), q, np.nan)

    def node_value(self, b: int, node: int = ROOT) -> float:
        """Mean backed-up value of `node` from the point of view of the player to move there."""
        n = self.visits[b, node]
        if n == 0 or self.solved[b, node]:
            return float(self.raw_value[b, node])
        return float(self.sign[b, node] * self.value_sum[b, node] / n)

    def grow(self, capacity: int) -> "Tree":
        """A copy with room for `capacity` nodes per tree (used before reusing a tree)."""
        if capacity <= self.capacity:
            return self
        bigger = Tree.empty(self.batch_size, capacity, self.num_actions)
        n = self.capacity
        for name in ("parent", "action", "children", "prior", "legal", "visits", "value_sum",
                     "raw_value", "sign", "expanded", "terminal", "solved", "wave"):
            getattr(bigger, name)[:, :n] = getattr(self, name)
        bigger.num_nodes[:] = self.num_nodes
        bigger.states = [s + [None] * (capacity - n) for s in self.states]
        if self.packed is not None:
            bigger.with_kernels(self.kernels).packed[:, :n] = self.packed
        return bigger
