"""Actors for open-action tasks: search training problems and turn each tree into examples.

The model should imitate the *search*, not just lucky samples (AlphaZero's policy target):
every expanded node with enough visits gives its children's visit shares as weights on their
steps (failed terminal children excluded: an invalid step is never reinforced). A node on a
verified solution path puts `path_share` of its weight on the path's step (the verifier proved
it; by default all of it), and visit shares elsewhere count `offpath_weight` as much: with a
verifier, the search's strongest evidence is the solution it proved. Value targets: 1 on a
verified solution path, the search's mean value at other well-visited non-terminal nodes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from lmzero.models.step_model import StepModel
from lmzero.search.budget import Budget
from lmzero.search.step_search import StepSearchConfig, StepSearchResult, step_search


@dataclass
class StepActorConfig:
    search: StepSearchConfig = field(default_factory=lambda: StepSearchConfig(widen=True))
    """How each training problem is searched (the verifier is on: the rules are known)."""
    budget: int = 48
    """Model calls per training problem."""
    min_visits: int = 2
    """A node needs this many visits before its visit shares are a policy target."""
    path_share: float = 1.0
    """Weight a solution-path node puts on the verified step (the rest follows visits)."""
    offpath_weight: float = 0.1
    """Scale of the visit-share policy weights at nodes off a verified solution path. At a few
    dozen calls their visits mostly echo the model's own prior and value head: distilled at full
    weight (with path_share 0.5) they gave held-out greedy pass@1 3.6%, against 11.5% this way
    (500 learner steps on one replay: bench/distill_targets.py)."""
    policy_target: str = "visits"
    """What an expanded node's children are taught: `visits` (their visit shares, once the node
    has `min_visits`) or `improved` (`StepTree.improved_policy`: the prior moved towards the
    children's Q, Gumbel MuZero's target; with legal actions every child has a value). Either
    is scaled by `offpath_weight` off a verified solution path."""
    retry_budget: int = 0
    """Model calls of a second, fresh search of each problem the first left unsolved (0: no
    retry). Search teaches only what it solves: a state it never reaches on a solution path
    keeps a value target near 0 and no policy target, so a model that fails a kind of problem
    at `budget` would go on failing it. A larger search that solves it gives its states their
    first positive targets (Game of 24's fraction puzzles: solved within 128 calls, not 32)."""

    def __post_init__(self):
        if self.policy_target not in ("visits", "improved"):
            raise ValueError(f"policy_target must be 'visits' or 'improved', got "
                             f"{self.policy_target!r}")
        if self.retry_budget < 0:
            raise ValueError(f"retry_budget must be >= 0, got {self.retry_budget}")


@dataclass
class Attempt:
    problem: object
    solved: bool
    model_calls: int
    examples: dict = field(repr=False)  # replay arrays (TEXT_FIELDS), one row per example
    budget: Budget | None = field(default=None, repr=False)
    """The search's calls and tokens (both searches' for a retried problem)."""
    retried: bool = False
    """The first search failed and a second one (`retry_budget`) made the examples."""

    @property
    def size(self) -> int:
        return len(self.examples["prompt"])


def attempt_problems(task, model: StepModel, problems: Sequence, config: StepActorConfig,
                     bucket_of: Callable, is_heldout: Callable, seed: int) -> list[Attempt]:
    """Search every problem (batched) and extract its examples. Refuses held-out problems:
    training never sees them."""
    for p in problems:
        if is_heldout(p):
            raise ValueError(f"held-out problem {problem_name(task, p)} offered for training")
    budgets = [Budget(max_calls=config.budget) for _ in problems]
    results = step_search(task, model, problems, config.search, budgets, seed=seed)
    retried = _retry_unsolved(task, model, problems, results, config, seed)
    return [Attempt(p, r.solved, r.budget.model_calls,
                    examples_of(task, r, config, bucket_of(p), problem_name(task, p)), r.budget,
                    retried=i in retried)
            for i, (p, r) in enumerate(zip(problems, results))]


def _retry_unsolved(task, model, problems, results: list, config: StepActorConfig,
                    seed: int) -> set[int]:
    """Search the unsolved problems again with `retry_budget` calls (batched, a fresh tree and
    another seed); the retry's result replaces the first, charged with both searches' calls
    and tokens. The indices retried."""
    failed = [i for i, r in enumerate(results) if not r.solved] if config.retry_budget else []
    if not failed:
        return set()
    budgets = [Budget(max_calls=config.retry_budget) for _ in failed]
    again = step_search(task, model, [problems[i] for i in failed], config.search, budgets,
                        seed=seed + 1)
    for i, result in zip(failed, again):
        result.budget.add(results[i].budget)
        results[i] = result
    return set(failed)


def _grafted_path_rows(task, result: StepSearchResult, on_path: set) -> list[tuple]:
    """The verified steps of a solution that search never expanded (a solving rollout grafted
    into the tree): each is a target with full weight and its prompt is worth 1."""
    rows = []
    for node, nxt in zip(result.path, result.path[1:]):
        tree = result.tree
        if node in on_path and not tree.expanded[node] and not tree.terminal[node]:
            prompt = task.prompt(tree.states[node])
            rows += [(prompt, tree.step[nxt], 1.0, np.nan),
                     (prompt, "", 0.0, 1.0)]
    return rows


def problem_name(task, problem) -> str:
    """One line naming a problem (`task.describe`: `4 9 10 13 -> 24`, a question)."""
    describe = getattr(task, "describe", None)
    return describe(problem) if describe else str(problem)


def examples_of(task, result: StepSearchResult, config: StepActorConfig, bucket: str,
                problem: str) -> dict:
    tree = result.tree
    on_path = set(result.path) if result.solved else set()
    rows: list[tuple[str, str, float, float]] = []  # prompt, step, weight, value (NaN = none)
    for node in range(len(tree)):
        if tree.terminal[node] or not tree.expanded[node]:
            continue
        prompt = task.prompt(tree.states[node])
        kids = list(tree.children[node].values())
        # a failed terminal child (an invalid step, a wrong final number) is never a target
        weights = _policy_weights(tree, node, kids, config)
        if node in on_path:
            nxt = result.path[result.path.index(node) + 1]
            share = config.path_share if weights.any() else 1.0
            weights = (1 - share) * weights + share * np.array([k == nxt for k in kids])
        value = 1.0 if node in on_path else (
            tree.mean_value(node) if tree.visits[node] >= config.min_visits else np.nan)
        if node not in on_path:
            weights *= config.offpath_weight
        rows += [(prompt, tree.step[k], float(w), np.nan)
                 for k, w in zip(kids, weights) if w > 0]
        if not np.isnan(value):
            rows.append((prompt, "", 0.0, float(value)))
        # terminal states get no value rows: with the verifier on, search never asks the value
        # head about them (and dead ends would swamp the replay: ~80% of all rows)
    rows += _grafted_path_rows(task, result, on_path)
    return rows_to_arrays(rows, bucket, problem)


def _policy_weights(tree, node: int, kids: list[int], config: StepActorConfig) -> np.ndarray:
    """The policy target over an expanded node's children (`policy_target`), zeros where the
    node has none; a failed terminal child (an invalid step, a wrong final number) gets 0."""
    failed = np.array([tree.terminal[k] and tree.reward[k] == 0 for k in kids])
    if config.policy_target == "improved":
        search = config.search
        weights = np.array(tree.improved_policy(node, search.value_scale, search.maxvisit_init))
    else:
        weights = np.array([tree.visits[k] for k in kids], dtype=np.float64)
        if weights[~failed].sum() < config.min_visits:
            return np.zeros(len(kids))
    weights[failed] = 0.0
    total = weights.sum()
    return weights / total if total > 0 else weights


def rows_to_arrays(rows: list[tuple], bucket: str, problem: str) -> dict:
    """Replay arrays (`replay.TEXT_FIELDS`) of (prompt, step, weight, value) rows of one
    problem."""
    prompts, steps, weights, values = tuple(zip(*rows)) if rows else ((), (), (), ())
    n = len(rows)
    return dict(prompt=np.array(prompts, dtype=str), step=np.array(steps, dtype=str),
                weight=np.array(weights, np.float32), value=np.array(values, np.float32),
                bucket=np.array([bucket] * n, dtype=str), problem=np.array([problem] * n,
                                                                            dtype=str))
