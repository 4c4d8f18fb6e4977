"""Best-first search over a task's legal steps, ordered by the value head.

Value-greedy decoding (`baselines.value_greedy_step`) follows the best-valued next state down
one path; this search keeps every next state it has seen in one frontier and always expands the
best-valued open one, wherever it is in the tree, so a path that dead-ends hands its budget to
the next-best state instead of stopping. It is GPT-f's best-first proof search (Polu and
Sutskever 2020) ordered by the learned value rather than by summed log-probability: no visit
counts and no backups, one scoring call per expansion, the verifier judging each terminal next
state (the first that solves ends the problem). In Game of 24 it is the strongest use of a call
here (README): its first three calls are value-greedy's path.
"""

from __future__ import annotations

import heapq
import itertools
from typing import Any, Sequence

from lmzero.models.step_model import Expansion, StepModel
from lmzero.search.baselines import (SolveResult, ask, check_next_state_values, check_step_values,
                                     finish)
from lmzero.search.budget import Budget, Progress, report
from lmzero.tasks.base import StepTask


def best_first(task: StepTask, model: StepModel, problems: Sequence, budgets: Sequence[Budget],
               progress: Progress | None = None) -> list[SolveResult]:
    """Each round expands, for every problem still open, its best-valued frontier state (the
    root first) in one batched scoring call, until a verified solution, an empty frontier or
    the budget. `progress` as in `step_search`, after every round."""
    check_next_state_values(task, model, "best-first")
    order = itertools.count()  # ties go to the state seen first
    frontiers = [[(0.0, next(order), task.initial_state(p))] for p in problems]
    seen: list[set] = [set() for _ in problems]
    solved: list[Any] = [None] * len(problems)
    while True:
        live = [i for i, f in enumerate(frontiers)
                if solved[i] is None and f and budgets[i].affords()]
        if progress is not None:  # a problem not live now never is again
            report(progress, budgets, len(problems) - len(live),
                   sum(s is not None for s in solved))
        if not live:
            break
        states = [heapq.heappop(frontiers[i])[2] for i in live]
        answers = ask(task, model, [(budgets[i], s) for i, s in zip(live, states)], 1,
                       legal=True, step_values=True)
        for i, state, answer in zip(live, states, answers):
            solved[i] = _grow(task, state, answer, frontiers[i], seen[i], order)
    return [finish(task, s, b) for s, b in zip(solved, budgets)]


def _grow(task, state, answer: Expansion, frontier: list, seen: set, order) -> Any:
    """The first next state of `state` that the verifier finds solved, else None; every open
    next state not seen before joins `frontier` at its value (a min-heap on -value)."""
    check_step_values(answer)
    for step, value in zip(answer.steps, answer.step_values):
        child = task.apply(state, step)
        if task.is_terminal(child):
            if task.reward(child) > 0:
                return child
            continue
        key = task.key(child)
        if key not in seen:
            seen.add(key)
            heapq.heappush(frontier, (-value, next(order), child))
    return None
