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


def _attempt(task, problem, solved: bool, examples: int, budget, retried: bool = False) -> dict:
    return dict(problem=task.problem_to_json(problem), solved=bool(solved), examples=examples,
                model_calls=budget.model_calls, prompt_tokens=budget.prompt_tokens,
                generated_tokens=budget.generated_tokens, retried=retried)


def _concat(parts: list[dict]) -> dict:
    return {k: np.concatenate([p[k] for p in parts]) for k in TEXT_FIELDS}


class _WindowLearner:
    """Train on the replay window, drawn with the curation weights (expert iteration, RFT)."""
    config = None

    def train(self, trainee, replay, round_index: int, probabilities, rng) -> dict:
        data = replay.window_arrays()
        steps = self.steps(data)
        if not steps:
            return dict(policy=float("nan"), value=float("nan"))
        return trainee.train(data, steps, rng, probabilities(data) if probabilities else None)

    def steps(self, data: dict) -> int:
        """The round's learner steps."""
        return self.config.learner.steps_per_iteration


class ExpertIteration(_WindowLearner):
    """Search, then imitate the search (AlphaZero's recipe on steps)."""
    name = "expert-iteration"

    def __init__(self, config):
        self.config = config

    def collect(self, task, step_model, problems, seed):
        from lmzero.selfplay.step_actor import attempt_problems
        found = attempt_problems(task, step_model, problems, self.config.actor, task.bucket,
                                 task.is_heldout, seed=seed)
        attempts = [_attempt(task, a.problem, a.solved, a.size, a.budget, a.retried)
                    for a in found]
        return attempts, _concat([a.examples for a in found])


def _sampled_round(config, task, step_model, problems, seed, rows_of) -> tuple[list, dict]:
    """rft's and grpo's `collect`: groups of sampled trajectories (`sampling_actor`), each
    group's replay rows as `rows_of(group)` makes them, and its attempt."""
    from lmzero.selfplay.sampling_actor import sample_groups
    from lmzero.selfplay.step_actor import problem_name, rows_to_arrays
    _seed(step_model, seed)
    attempts, parts = [], []
    for g in sample_groups(task, step_model, problems, config.sampling, task.is_heldout):
        rows = rows_of(g)
        parts.append(rows_to_arrays(rows, task.bucket(g.problem), problem_name(task, g.problem)))
        attempts.append(_attempt(task, g.problem, g.solved, len(rows), g.budget))
    return attempts, _concat(parts)


class RejectionSampling(_WindowLearner):
    """Best-of-N with the verifier; the distinct passing trajectories are the targets, seen at
    most `sampling.epochs` times each per round (a fixed step count on the few passes of a weak
    model, 15 rows in Game of 24's first round, replayed them ~200 times and the policy
    collapsed onto them)."""
    name = "rft"

    def __init__(self, config):
        self.config = config

    def steps(self, data: dict) -> int:
        learner = self.config.learner
        per_step = max(1, round(learner.batch_size * (learner.policy_fraction or 1.0)))
        passing = int((data["weight"] > 0).sum())
        return min(learner.steps_per_iteration,
                   math.ceil(self.config.sampling.epochs * passing / per_step))

    def collect(self, task, step_model, problems, seed):
        return _sampled_round(self.config, task, step_model, problems, seed, self._rows)

    def _rows(self, group) -> list[tuple]:
        from lmzero.selfplay.sampling_actor import outcome_value_rows
        passing = {tuple(zip(w.prompts, w.written)) for w in group.trajectories if w.reward > 0}
        rows = [(p, s, 1.0, np.nan) for walk in sorted(passing) for p, s in walk]
        return rows + (outcome_value_rows(group) if self.config.sampling.value_rows else [])


class GRPO:
    """Group-relative policy gradient on the round's own samples (on-policy: no window)."""
    name = "grpo"

    def __init__(self, config, reference=None):
        self.config, self.reference = config, reference

    def collect(self, task, step_model, problems, seed):
        from lmzero.learn.grpo import grpo_rows
        return _sampled_round(self.config, task, step_model, problems, seed, lambda g: grpo_rows(
            g, self.config.grpo, self.config.sampling.value_rows))

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
