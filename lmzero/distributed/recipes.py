"""What a search actor runs, one recipe per loop: game self-play, search on training problems
(self-improvement), and held-out evaluation. Each builds its state in the actor once and turns
a unit's payload into a result: `arrays` for replay (with each row's attempt id), a `count`
(games or problems), and what the driver reports.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np


def _load_arrays(model, arrays: dict) -> None:
    import torch
    model.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in arrays.items()})
    model.eval()


def _int_seed(seed: list[int]) -> int:
    return int(np.random.SeedSequence(seed).generate_state(1)[0])


@dataclass
class GameSelfPlay:
    """A unit: {"first": the id of its first game, "games": how many}; games are numbered
    across the run (iteration i's are i * games ... (i + 1) * games - 1)."""
    config: Any  # loop.TrainConfig

    def build(self):
        from lmzero.loop import build_model, make_game
        from lmzero.models.game_net import NetworkEvaluator
        game = make_game(self.config.game)
        model, tokenizer = build_model(game, self.config)
        return NetworkEvaluator(game, model.eval(), tokenizer)

    def load_weights(self, evaluator, arrays: dict) -> None:
        _load_arrays(evaluator.model, arrays)

    def run(self, evaluator, payload: dict, seed: list[int]) -> dict:
        from lmzero.loop import positions_arrays
        from lmzero.selfplay import play_games
        selfplay = replace(self.config.selfplay, games=payload["games"])
        evaluator.positions = 0
        records = play_games(evaluator.game, evaluator, selfplay, np.random.default_rng(seed))
        arrays = positions_arrays(records, evaluator.tokenizer, payload["first"],
                                  selfplay.search_value_weight)
        arrays["attempt"] = arrays["game"]
        return dict(arrays=arrays, count=payload["games"], positions=evaluator.positions)


@dataclass
class StepAttempts:
    """A unit: {"first": the attempt id of its first problem, "problems": task JSON}; each
    problem is attempted as the run's algorithm says (`learn.algorithms`: searched, or sampled
    N times) and becomes replay examples."""
    config: Any  # selfimprove.ImproveConfig

    def build(self):
        from lmzero.learn.pretrain import build_model, tokenizer_for
        from lmzero.selfimprove import task_of
        task = task_of(self.config)
        tokenizer = tokenizer_for(task)
        return task, build_model(self.config.pretrain, tokenizer).eval(), tokenizer

    def load_weights(self, state, arrays: dict) -> None:
        _load_arrays(state[1], arrays)

    def run(self, state, payload: dict, seed: list[int]) -> dict:
        from lmzero.learn.algorithms import algorithm_for
        from lmzero.models.tinylm_steps import TinyLMStepModel
        task, model, tokenizer = state
        problems = [task.problem_from_json(p) for p in payload["problems"]]
        seed = _int_seed(seed)
        step_model = TinyLMStepModel(model, tokenizer, seed=seed,
                                     max_step_chars=task.max_step_chars,
                                     meta=dict(task=task.name))
        attempts, arrays = algorithm_for(self.config).collect(task, step_model, problems, seed)
        arrays["attempt"] = np.concatenate([np.full(a["examples"], payload["first"] + j)
                                            for j, a in enumerate(attempts)])
        attempts = [dict(a, attempt=payload["first"] + j) for j, a in enumerate(attempts)]
        return dict(arrays=arrays, attempts=attempts, count=len(attempts))


@dataclass
class Evaluation:
    """A unit: {"problems": task JSON}; the results of one method on them, as
    `eval.reasoning.solve_problems` gives them (nothing enters replay)."""
    task: Any
    spec: str
    """The model, as `models.spec.load_model` reads it (a checkpoint: tinylm:PATH)."""
    method: Any  # eval.reasoning.MethodConfig
    seed: int

    def build(self):
        from lmzero.models.spec import load_model
        return load_model(self.spec, self.task, seed=self.seed)

    def load_weights(self, model, arrays: dict) -> None:
        raise NotImplementedError("evaluation actors load their model by spec")

    def run(self, model, payload: dict, seed: list[int]) -> dict:
        from lmzero.eval.reasoning import solve_problems
        problems = [self.task.problem_from_json(p) for p in payload["problems"]]
        generator = getattr(model, "generator", None)
        if generator is not None:  # the same unit samples the same, whichever actor runs it
            generator.manual_seed(_int_seed(seed))
        return dict(results=solve_problems(self.task, model, problems, self.method),
                    count=len(problems))
