"""Actors without search: sample groups of whole trajectories and let the verifier grade them.

The data of the algorithms that spend their compute on samples instead of trees
(`learn.algorithms`): rejection-sampling fine-tuning keeps the trajectories that pass, GRPO
weighs every trajectory by how it did against its group. A group is `group_size` trajectories
of one problem, advanced together: every live trajectory of every problem is one row of one
batched model call per step (a single sample each, so repeated steps keep their multiplicity:
GRPO's group statistics need it), each call charged to its problem's `Budget` like any method's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from lmzero.models.step_model import StepModel
from lmzero.search.budget import Budget
from lmzero.search.step_tree import written_line


@dataclass
class SamplingConfig:
    group_size: int = 8
    """Trajectories sampled per problem (GRPO's group; RFT's N in best-of-N)."""
    temperature: float = 1.0
    """Sampling temperature of every step."""
    max_steps: int = 32
    """Longest trajectory, in steps (one still running then is unfinished: reward 0)."""
    epochs: float = 4.0
    """rft: the most times a round's learner steps may show each passing step row (fewer steps
    when there are few passes)."""
    value_rows: bool = False
    """Also write Monte Carlo value rows (`outcome_value_rows`) so the value head learns this
    algorithm's outcomes. Off: neither rft nor grpo has a critic, and the value head search
    uses at evaluation time stays the starting model's (the trunk under it still moves).
    On, from Game of 24's world model, the mostly-failed samples taught it that every state is
    lost and held-out MCTS at 32 calls fell from 28% to 2-8% (`bench/search_vs_rl.py`)."""

    def __post_init__(self):
        if (self.group_size < 1 or self.max_steps < 1 or not self.temperature > 0
                or not self.epochs > 0):
            raise ValueError(f"need group_size >= 1, max_steps >= 1, temperature > 0 and "
                             f"epochs > 0, got {self.group_size}, {self.max_steps}, "
                             f"{self.temperature}, {self.epochs}")


@dataclass
class Trajectory:
    prompts: list[str] = field(default_factory=list)
    """The prompt of each state the trajectory left."""
    steps: list[str] = field(default_factory=list)
    """The step sampled there, as the model wrote it."""
    written: list[str] = field(default_factory=list)
    """The step as the task wrote it into the next prompt (`step_tree.written_line`: the
    canonical line a fine-tuned model will read back)."""
    reward: float = 0.0
    """The verifier's reward of the final state (0 when unfinished)."""


@dataclass
class Group:
    problem: object
    trajectories: list[Trajectory]
    budget: Budget
    """Calls and tokens of the whole group."""

    @property
    def rewards(self) -> np.ndarray:
        return np.array([t.reward for t in self.trajectories], dtype=np.float32)

    @property
    def solved(self) -> bool:
        return bool((self.rewards > 0).any())


def sample_groups(task, model: StepModel, problems: Sequence, config: SamplingConfig,
                  is_heldout=None) -> list[Group]:
    """`group_size` sampled trajectories of every problem, graded by the verifier."""
    for p in problems:
        if is_heldout is not None and is_heldout(p):
            raise ValueError(f"held-out problem {p} offered for training")
    groups = [Group(p, [Trajectory() for _ in range(config.group_size)], Budget())
              for p in problems]
    states = [[task.initial_state(g.problem)] * config.group_size for g in groups]
    for _ in range(config.max_steps):
        live = [(i, j) for i, row in enumerate(states) for j, s in enumerate(row)
                if not task.is_terminal(s)]
        if not live:
            break
        prompts = [task.prompt(states[i][j]) for i, j in live]
        answers = model.expand(prompts, 1, temperature=config.temperature, with_value=False)
        for (i, j), prompt, answer in zip(live, prompts, answers):
            groups[i].budget.charge(answer)
            step = answer.steps[0] if answer.steps else ""
            states[i][j] = after = task.apply(states[i][j], step)
            walk = groups[i].trajectories[j]
            walk.prompts.append(prompt)
            walk.steps.append(step)
            walk.written.append(written_line(prompt, task.prompt(after), step))
    for group, row in zip(groups, states):
        group.budget.stop()
        for walk, state in zip(group.trajectories, row):
            walk.reward = float(task.reward(state)) if task.is_terminal(state) else 0.0
    return groups


def outcome_value_rows(group: Group) -> list[tuple]:
    """A value row for every distinct state the group visited: the mean reward of the
    trajectories through it (a Monte Carlo value, no critic involved), so search at evaluation
    time has a value head trained on this algorithm's own data."""
    totals: dict[str, list[float]] = {}
    for walk in group.trajectories:
        for prompt in dict.fromkeys(walk.prompts):
            totals.setdefault(prompt, []).append(walk.reward)
    return [(prompt, "", 0.0, float(np.mean(r))) for prompt, r in totals.items()]
