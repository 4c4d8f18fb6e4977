"""The tree of an open-action search: a compact node table, one per problem.

With an open action space the children of a node are whatever steps the model wrote, so their
number differs per node and grows under progressive widening. Node fields are parallel lists
indexed by node id (the root is 0), which keeps the tree plain data that can be dumped as JSON.
Values are solve probabilities in [0, 1] (single agent: no sign flips).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from lmzero.models.step_model import softmax

ROOT = 0


def written_line(before: str, after: str, sampled: str) -> str:
    """The line a step added to the prompt (canonical: a calculator call with its exact result,
    Game of 24's sorted `left:`), else the `sampled` text: the model learns the line it will
    read back, never a wrong result the task corrected."""
    line = after[len(before):].rstrip("\n")
    return line if after.startswith(before) and line and "\n" not in line else sampled


@dataclass
class StepTree:
    states: list[Any] = field(default_factory=list)
    parent: list[int] = field(default_factory=list)  # -1 for the root
    step: list[str | None] = field(default_factory=list)  # the edge's step as the task wrote it
    logprob: list[float] = field(default_factory=list)  # log-prob of that step (Expansion's)
    prior: list[float] = field(default_factory=list)  # sibling-normalised prior of that step
    children: list[dict[str, int]] = field(default_factory=list)  # written step -> child id
    visits: list[int] = field(default_factory=list)
    value_sum: list[float] = field(default_factory=list)
    pending: list[int] = field(default_factory=list)  # walks in flight (virtual loss)
    raw_value: list[float | None] = field(default_factory=list)  # model value or reward
    estimate: list[float | None] = field(default_factory=list)  # value known before expansion
    expanded: list[bool] = field(default_factory=list)  # the model was asked about the node
    terminal: list[bool] = field(default_factory=list)
    reward: list[float] = field(default_factory=list)  # verifier's reward of a terminal node
    samples: list[int] = field(default_factory=list)  # continuations sampled from the node
    saturated: list[bool] = field(default_factory=list)  # widening found nothing new, even hot
    heat: list[float] = field(default_factory=list)  # sampling temperature factor (reheating)
    tokens: list[int] = field(default_factory=list)  # prompt + generated tokens of its requests
    wave: list[int] = field(default_factory=list)  # search wave that created the node (root: 0)
    wave_now: int = 0  # the wave new nodes are born in; step_search advances it

    @classmethod
    def new(cls, root_state) -> "StepTree":
        tree = cls()
        tree.add(root_state, parent=-1, step=None, logprob=0.0)
        return tree

    def __len__(self) -> int:
        return len(self.states)

    def add(self, state, parent: int, step: str | None, logprob: float) -> int:
        node = len(self.states)
        for name, value in (("states", state), ("parent", parent), ("step", step),
                            ("logprob", logprob), ("prior", 1.0), ("children", {}),
                            ("visits", 0), ("value_sum", 0.0), ("pending", 0),
                            ("raw_value", None), ("estimate", None), ("expanded", False),
                            ("terminal", False),
                            ("reward", 0.0), ("samples", 0), ("saturated", False),
                            ("heat", 1.0), ("tokens", 0), ("wave", self.wave_now)):
            getattr(self, name).append(value)
        if parent >= 0:
            self.children[parent][step] = node
        return node

    def child(self, node: int, text: str, logprob: float, task) -> int:
        """The child that step `text` leads to from `node`, added if new. A child is keyed by the
        line the task writes for the step (`written_line`): samples that differ only in what the
        task rewrites (a calculator's result, the order of a `left:` list) are one child, not
        siblings that split the prior and the visits over one state."""
        state = task.apply(self.states[node], text)
        line = written_line(task.prompt(self.states[node]), task.prompt(state), text)
        kid = self.children[node].get(line)
        return kid if kid is not None else self.add(state, node, line, logprob)

    def add_children(self, node: int, steps: list[str], logprobs: list[float], task) -> list[int]:
        """Merge new distinct steps under `node` (`child`; duplicates of existing children are
        dropped) and renormalise the priors of all its children. Returns the new children's ids."""
        first = len(self)
        for text, lp in zip(steps, logprobs):
            self.child(node, text, lp, task)
        self.renormalise(node)
        return list(range(first, len(self)))

    def renormalise(self, node: int) -> None:
        """Priors of `node`'s children: the softmax of their log-probs."""
        kids = list(self.children[node].values())
        for kid, p in zip(kids, softmax([self.logprob[k] for k in kids])):
            self.prior[kid] = p

    def q(self, node: int, default: float) -> float:
        """Mean value with in-flight walks counted as visits worth 0 (virtual loss)."""
        n = self.visits[node] + self.pending[node]
        return self.value_sum[node] / n if n else default

    def unvisited_q(self, node: int, default: float) -> float:
        """What selection takes an unvisited node to be worth: the value the model gave it
        when scoring its parent's steps (`estimate`), else `default` (first-play urgency)."""
        estimate = self.estimate[node]
        return default if estimate is None else estimate

    def completed_q(self, node: int, default: float) -> float:
        """A node's Q for an improved policy (Gumbel MuZero's completed Q): its mean value once
        visited, else what selection takes it to be worth (`unvisited_q`)."""
        return self.mean_value(node) if self.visits[node] else self.unvisited_q(node, default)

    def improved_logits(self, kids: list[int], value_scale: float, maxvisit_init: float,
                        default: float) -> list[float]:
        """log prior + sigma(completed Q) of sibling nodes `kids` (Danihelka et al. 2022, eq. 8:
        sigma(q) = (c_visit + max N) * c_scale * q, max N over `kids`); an unvisited kid without
        an estimate is worth `default`. The Gumbel root ranks steps by these plus its noise."""
        scale = (maxvisit_init + max(self.visits[k] for k in kids)) * value_scale
        return [math.log(max(self.prior[k], 1e-12)) + scale * self.completed_q(k, default)
                for k in kids]

    def improved_policy(self, node: int, value_scale: float, maxvisit_init: float) -> list[float]:
        """softmax(`improved_logits`) over `node`'s children in `children` order (eq. 11;
        unvisited children without an estimate take the node's mean value): the prior moved
        towards what search and the value head found, a policy target that does not merely
        echo the prior at a few visits as visit counts do."""
        kids = list(self.children[node].values())
        return softmax(self.improved_logits(kids, value_scale, maxvisit_init,
                                            self.mean_value(node)))

    def mean_value(self, node: int) -> float:
        if self.visits[node]:
            return self.value_sum[node] / self.visits[node]
        return self.raw_value[node] if self.raw_value[node] is not None else 0.0

    def path_to(self, node: int) -> list[int]:
        path = []
        while node >= 0:
            path.append(node)
            node = self.parent[node]
        return path[::-1]

    def most_visited_path(self, start: int = ROOT) -> list[int]:
        """The principal variation: from `start`, the most visited child (ties: higher value)
        until a node with no visited child."""
        path, node = [start], start
        while True:
            kids = [k for k in self.children[node].values() if self.visits[k] > 0]
            if not kids:
                return path
            node = max(kids, key=lambda k: (self.visits[k], self.mean_value(k)))
            path.append(node)

    def describe(self, node: int) -> dict:
        """The node as plain data, for explanations and JSON export."""
        return {"step": self.step[node], "visits": self.visits[node],
                "value": round(self.mean_value(node), 4), "prior": round(self.prior[node], 4),
                "terminal": self.terminal[node],
                "reward": self.reward[node] if self.terminal[node] else None}

    def to_dict(self, node: int = ROOT, depth: int = 8) -> dict:
        data = self.describe(node)
        if depth > 0 and self.children[node]:
            kids = sorted(self.children[node].values(), key=lambda k: -self.visits[k])
            data["children"] = [self.to_dict(k, depth - 1) for k in kids]
        return data


def widening_target(visits: int, k: int, c: float, alpha: float, cap: int) -> int:
    """Continuations a node may have sampled after `visits` visits: k(n) = ceil(c * n^alpha)
    (progressive widening, Coulom 2007; Couetoux et al. 2011), at least the first k, at most cap.

    >>> [widening_target(n, 4, 2.0, 0.5, 16) for n in (0, 1, 4, 5, 9, 16, 100)]
    [4, 4, 4, 5, 6, 8, 16]
    """
    return min(cap, max(k, math.ceil(c * visits ** alpha)))
