"""What one self-improvement round does with its compute: the three algorithms
`lmzero train TASK --algo` chooses between, behind one interface so that they share the
trainee, the curator, the run directory, the budget accounting and the held-out evaluation.

- `expert-iteration` (the default): search every training problem (MCTS with the verifier,
  `selfplay.step_actor`) and distil the trees into the model (visit shares, verified values).
- `rft`: rejection-sampling fine-tuning: best-of-N with the verifier, fine-tune on the distinct
  passing trajectories (Yuan et al. 2023; RAFT, Dong et al. 2023).
- `grpo`: group-relative policy optimisation, no search and no critic (`learn.grpo`).

`collect` runs on an actor (in this process or on Ray: `distributed.recipes.StepAttempts`) and
returns the round's attempts and replay rows; `train` runs in the learner.
"""

from __future__ import annotations

import math
from typing import ClassVar, Protocol

import numpy as np

from lmzero.replay.buffer import TEXT_FIELDS


class Algorithm(Protocol):
    name: ClassVar[str]

    def collect(self, task, step_model, problems: list, seed: int) -> tuple[list[dict], dict]:
        """Attempts (problem, solved, examples, model_calls, prompt and generated tokens) and
        the replay arrays of a round's problems."""

    def train(self, trainee, replay, round_index: int, probabilities, rng) -> dict:
        """The learner's updates after round `round_index`: mean losses."""


def _attempt(task, problem, solved: bool, examples: int, budget) -> dict:
    return dict(problem=task.problem_to_json(problem), solved=bool(solved), examples=examples,
                model_calls=budget.model_calls, prompt_tokens=budget.prompt_tokens,
                generated_tokens=budget.generated_tokens)


def _concat(parts: list[dict]) -> dict:
    return {k: np.concatenate([p[k] for p in parts]) for k in TEXT_FIELDS}


def _name(task, problem) -> str:
    describe = getattr(task, "describe", None)
    return describe(problem) if describe else str(problem)


class _WindowLearner:
    """Train on the replay window, drawn with the curation weights (expert iteration, RFT)."""
    config = None

    def train(self, trainee, replay, round_index: int, probabilities, rng) -> dict:
        data = replay.window_arrays()
        weights = probabilities(data) if probabilities else None
        return trainee.train(data, self.config.learner.steps_per_iteration, rng, weights)


class ExpertIteration(_WindowLearner):
    """Search, then imitate the search (AlphaZero's recipe on steps)."""
    name = "expert-iteration"

    def __init__(self, config):
        self.config = config

    def collect(self, task, step_model, problems, seed):
        from lmzero.selfplay.step_actor import attempt_problems
        found = attempt_problems(task, step_model, problems, self.config.actor, task.bucket,
                                 task.is_heldout, seed=seed)
        attempts = [_attempt(task, a.problem, a.solved, a.size, a.budget) for a in found]
        return attempts, _concat([a.examples for a in found])


class RejectionSampling(_WindowLearner):
    """Best-of-N with the verifier; the distinct passing trajectories are the targets, seen at
    most `sampling.epochs` times each per round (a fixed step count on the few passes of a weak
    model, 15 rows in Game of 24's first round, replayed them ~200 times and the policy
    collapsed onto them)."""
    name = "rft"

    def __init__(self, config):
        self.config = config

    def train(self, trainee, replay, round_index: int, probabilities, rng) -> dict:
        data = replay.window_arrays()
        learner = self.config.learner
        per_step = max(1, round(learner.batch_size * (learner.policy_fraction or 1.0)))
        passing = int((data["weight"] > 0).sum())
        steps = min(learner.steps_per_iteration,
                    math.ceil(self.config.sampling.epochs * passing / per_step))
        if not steps or not len(data["prompt"]):
            return dict(policy=float("nan"), value=float("nan"))
        return trainee.train(data, steps, rng, probabilities(data) if probabilities else None)

    def collect(self, task, step_model, problems, seed):
        from lmzero.selfplay.sampling_actor import (outcome_value_rows, rows_to_arrays,
                                                    sample_groups)
        _seed(step_model, seed)
        groups = sample_groups(task, step_model, problems, self.config.sampling,
                               task.is_heldout)
        attempts, parts = [], []
        for g in groups:
            passing = {tuple(zip(w.prompts, w.written)) for w in g.trajectories if w.reward > 0}
            rows = [(p, s, 1.0, np.nan) for walk in sorted(passing) for p, s in walk]
            rows += outcome_value_rows(g) if self.config.sampling.value_rows else []
            parts.append(rows_to_arrays(rows, task.bucket(g.problem), _name(task, g.problem)))
            attempts.append(_attempt(task, g.problem, g.solved, len(rows), g.budget))
        return attempts, _concat(parts)


class GRPO:
    """Group-relative policy gradient on the round's own samples (on-policy: no window)."""
    name = "grpo"

    def __init__(self, config, reference=None):
        self.config, self.reference = config, reference

    def collect(self, task, step_model, problems, seed):
        from lmzero.learn.grpo import grpo_rows
        from lmzero.selfplay.sampling_actor import rows_to_arrays, sample_groups
        _seed(step_model, seed)
        groups = sample_groups(task, step_model, problems, self.config.sampling,
                               task.is_heldout)
        attempts, parts = [], []
        for g in groups:
            rows = grpo_rows(g, self.config.grpo, self.config.sampling.value_rows)
            parts.append(rows_to_arrays(rows, task.bucket(g.problem), _name(task, g.problem)))
            attempts.append(_attempt(task, g.problem, g.solved, len(rows), g.budget))
        return attempts, _concat(parts)

    def train(self, trainee, replay, round_index: int, probabilities, rng) -> dict:
        from lmzero.learn.grpo import GRPOUpdate
        update = GRPOUpdate(trainee.learner, self.config.grpo, self.config.sampling.temperature,
                            self.reference)
        learner = self.config.learner
        return update.run(replay.shard_arrays(round_index), learner.steps_per_iteration,
                          learner.batch_size, rng)


def _seed(step_model, seed: int) -> None:
    generator = getattr(step_model, "generator", None)
    if generator is not None:
        generator.manual_seed(seed)


ALGORITHMS: dict[str, type] = {a.name: a for a in (ExpertIteration, RejectionSampling, GRPO)}
"""`--algo` values -> algorithm classes (each built from an `ImproveConfig`)."""


def algorithm_for(config, reference=None):
    """The algorithm an `ImproveConfig` names."""
    kind = ALGORITHMS[config.algo]
    return kind(config, reference) if kind is GRPO else kind(config)
