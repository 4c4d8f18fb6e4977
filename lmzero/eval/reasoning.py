"""Held-out evaluation of a step model on a reasoning task: every method, one budget accounting.

`solve_problems` runs one method on a list of problems (batched) and `report` turns the results
into the figures the CLI and the benchmarks print: solved, accuracy, mean model calls, prompt and
generated tokens, seconds, and each problem's answer.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from lmzero.models.step_model import StepModel
from lmzero.search.baselines import (SolveResult, best_of_n, check_next_state_values, decode,
                                     value_search)
from lmzero.search.best_first import best_first
from lmzero.search.budget import Budget, Progress
from lmzero.search.step_search import (StepSearchConfig, StepSearchResult, check_actions,
                                      step_search)
from lmzero.tasks.base import StepTask

METHODS = ("greedy", "value-greedy", "sample", "best-of-n", "beam", "bfs", "best-first", "mcts",
           "gumbel")
BY_VALUE_METHODS = ("value-greedy", "best-first")
"""The methods that read each legal step's next-state value from the scoring call (they always
take the legal steps; `search.baselines.check_next_state_values`)."""
GREEDY_METHODS = ("greedy", "value-greedy")
SEARCH_METHODS = ("mcts", "gumbel")
"""The methods with a search tree (`on_search` hears about their results)."""

OnSearch = Callable[[Any, StepSearchResult, StepSearchConfig], None]
"""`on_search(problem, result, search_config)`: one searched problem's result, tree included."""


@dataclass
class MethodConfig:
    method: str = "mcts"
    """One of greedy, value-greedy, sample, best-of-n, beam, bfs, best-first, mcts, gumbel.
    value-greedy decodes as greedy does, one call per step over the task's legal steps (it
    always takes them), but takes the step whose next state the value head rates highest: a
    one-step lookahead, reported apart from greedy (the policy's own answer). best-first
    expands the best-valued open state anywhere in its tree (`search.best_first`)."""
    budget: int | None = 64
    """Model calls per problem (a call is one request about one state); None = no cap."""
    token_budget: int | None = None
    """Generated tokens per problem; None = no cap."""
    verifier: bool = True
    """Let the verifier judge terminal states during the method (best-of-N: oracle). False: the
    method picks its answer alone and the verifier scores it afterwards."""
    k: int = 4
    """Steps sampled per expansion (search, beam, BFS)."""
    width: int = 4
    """Beam / BFS width."""
    temperature: float = 1.0
    """Sampling temperature (all methods but greedy)."""
    batch: int = 512
    """Problems searched together (one batched model call covers them all). Large: a search's
    last waves hold only its hardest problems, so every chunk ends in a tail of small model
    calls; MCTS at 64 calls over Game of 24's 358 held-out puzzles made 155 model calls as one
    batch (279 s on a loaded machine), where chunks of 64 (each heat then a call of its own)
    had not finished in 53 minutes."""
    values: str = "model"
    """Search (mcts, gumbel): node values from the model, or 'rollout' (greedy rollouts to the
    verifier, charged to the budget; needs the verifier)."""
    actions: str = "sampled"
    """mcts, gumbel and greedy: steps the model samples, or 'legal' (every legal step the task
    lists, scored by the model: `StepSearchConfig.actions`; greedy takes the most probable)."""
    seed: int = 0

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"unknown method {self.method!r}; choose one of {', '.join(METHODS)}")
        for name in ("budget", "token_budget"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be at least 1, got {value}")
        if self.k < 1 or self.width < 1 or self.batch < 1:
            raise ValueError("k, width and batch must be at least 1")
        most = StepSearchConfig.max_samples  # a node holds at most this many distinct steps
        if self.method in SEARCH_METHODS and self.k > most:
            raise ValueError(f"k={self.k}: {self.method} samples at most {most} steps per node "
                             f"(StepSearchConfig.max_samples); use k from 1 to {most}")
        if self.values not in ("model", "rollout"):
            raise ValueError(f"values must be 'model' or 'rollout', got {self.values!r}")
        if self.values == "rollout" and (self.method not in SEARCH_METHODS
                                         or not self.verifier):
            raise ValueError("rollout values are for mcts and gumbel with the verifier on")
        if self.actions not in ("sampled", "legal"):
            raise ValueError(f"actions must be 'sampled' or 'legal', got {self.actions!r}")
        if self.method == "best-first" and not self.verifier:
            raise ValueError("best-first stops at the first verified solution: it needs the "
                             "verifier (value-greedy decodes without one)")
        if self.actions == "legal" and self.method not in (*SEARCH_METHODS, *BY_VALUE_METHODS,
                                                           "greedy"):
            raise ValueError(f"legal actions are for greedy, value-greedy, best-first, mcts "
                             f"and gumbel, not {self.method}")

    @property
    def legal(self) -> bool:
        """Whether the method takes the task's legal steps (value-greedy and best-first always
        do)."""
        return self.actions == "legal" or self.method in BY_VALUE_METHODS


def check_method(task: StepTask, model: StepModel, config: MethodConfig) -> None:
    """ValueError (one line) where the task or the model cannot take the method's steps: legal
    steps to score, and for the by-value methods next-state values too. The methods check it
    themselves; a caller runs it to refuse before any problem is tried."""
    if config.method in BY_VALUE_METHODS:
        check_next_state_values(task, model, config.method)
    else:
        check_actions(task, model, config.actions)


def solve_problems(task: StepTask, model: StepModel, problems: Sequence, config: MethodConfig,
                   progress: Progress | None = None,
                   on_search: OnSearch | None = None) -> list[SolveResult]:
    """One result per problem, `config.batch` problems at a time; `progress(done, solved,
    calls, tokens)` hears the figures of all the problems so far (`budget.Progress`).
    `on_search(problem, result, search_config)` gets each problem's `StepSearchResult`, its
    tree included, in problem order as its batch ends (mcts, gumbel: `lmzero eval --trees`)."""
    results: list[SolveResult] = []
    for start in range(0, len(problems), config.batch):
        chunk = problems[start:start + config.batch]
        budgets = [Budget(config.budget, config.token_budget) for _ in chunk]
        results += _run_method(task, model, chunk, budgets, config,
                               _after(progress, results) if progress else None, on_search)
    return results


def _after(progress: Progress, earlier: list[SolveResult]) -> Progress:
    """`progress` for a later chunk: its figures added to those of the `earlier` results."""
    done, solved = len(earlier), sum(r.solved for r in earlier)
    calls = sum(r.budget.model_calls for r in earlier)
    tokens = sum(r.budget.generated_tokens for r in earlier)
    return lambda d, s, c, t: progress(done + d, solved + s, calls + c, tokens + t)


def _run_method(task, model, problems, budgets, config: MethodConfig,
                progress: Progress | None, on_search: OnSearch | None = None) -> list[SolveResult]:
    m = config.method
    if m in (*GREEDY_METHODS, "sample"):
        return decode(task, model, problems, budgets, greedy=m != "sample",
                      temperature=config.temperature, progress=progress, legal=config.legal,
                      by_value=m == "value-greedy")
    if m == "best-first":
        return best_first(task, model, problems, budgets, progress=progress)
    if m == "best-of-n":
        return best_of_n(task, model, problems, budgets, verifier=config.verifier,
                         temperature=config.temperature, progress=progress)
    if m in ("beam", "bfs"):
        return value_search(task, model, problems, budgets, width=config.width, k=config.k,
                            verifier=config.verifier, separate_values=m == "bfs",
                            temperature=config.temperature, progress=progress)
    search = StepSearchConfig(method="gumbel" if m == "gumbel" else "puct", k=config.k,
                              verifier=config.verifier, temperature=config.temperature,
                              values=config.values, actions=config.actions)
    found = step_search(task, model, problems, search, budgets, seed=config.seed,
                        progress=progress)
    for problem, result in zip(problems, found if on_search else ()):
        on_search(problem, result, search)
    return [SolveResult(r.solved, r.answer, r.final_state, r.budget) for r in found]


def report(task: StepTask, problems: Sequence, results: Sequence[SolveResult],
           seconds: float) -> dict:
    """Totals and means per problem, and one entry per problem (the CLI's --json): the problem
    as the task writes it (`numbers` and `target`; math: `question` and `answer`), solved, model
    calls, and the answer found in `expression`; `stated` is the answer the final state states
    when it is not that one (an unsolved math answer, a failing program: `task.stated_answer`).
    `over_token_budget` counts the problems whose
    last model call took them past their token cap (a call's tokens are known only when it
    returns, so the last one may overshoot)."""
    total = len(results)
    solved = sum(r.solved for r in results)
    over = sum(r.budget.max_tokens is not None and r.budget.generated_tokens > r.budget.max_tokens
               for r in results)

    def mean(field: str) -> float:
        return round(sum(getattr(r.budget, field) for r in results) / max(total, 1), 2)

    return {
        "solved": solved, "total": total, "accuracy": round(solved / max(total, 1), 4),
        "model_calls": mean("model_calls"), "prompt_tokens": mean("prompt_tokens"),
        "generated_tokens": mean("generated_tokens"), "seconds": round(seconds, 2),
        "over_token_budget": over,
        "problems": [{**task.problem_to_json(p), "solved": r.solved,
                      "model_calls": r.budget.model_calls, "expression": r.answer,
                      **_stated(task, r)} for p, r in zip(problems, results)],
    }


def _stated(task, result: SolveResult) -> dict:
    """{"stated": answer} when the final state states an answer other than `result.answer`."""
    stated = getattr(task, "stated_answer", None)
    said = stated(result.final_state) if stated and result.final_state is not None else None
    return {"stated": said} if said is not None and said != result.answer else {}


def evaluate(task: StepTask, model: StepModel, problems: Sequence, config: MethodConfig,
             progress: Progress | None = None, on_search: OnSearch | None = None) -> dict:
    """`report` of `solve_problems` (with its `progress` and `on_search`), timed."""
    started = time.perf_counter()
    results = solve_problems(task, model, problems, config, progress, on_search)
    return report(task, problems, results, time.perf_counter() - started)


def evaluate_scaled(task: StepTask, spec: str, problems: Sequence, config: MethodConfig,
                    scale, progress=None) -> dict:
    """`evaluate` with the problems spread over Ray actors (`distributed`), each loading the
    model `spec` names (a served model's requests fan out the same way); the same report.
    Units hold at most `config.batch` problems, each searched as one batch."""
    from lmzero.distributed.recipes import Evaluation
    from lmzero.distributed.rounds import Workers
    started = time.perf_counter()
    workers = Workers(Evaluation(task, spec, config, config.seed), scale, config.seed)
    workers.progress = progress
    try:
        found = workers.map([dict(problems=[task.problem_to_json(p)
                                            for p in problems[first:first + n]])
                             for first, n in workers.split(len(problems), most=config.batch)])
    finally:
        workers.close()
    results = [r for unit in found for r in unit["results"]]
    return report(task, problems, results, time.perf_counter() - started)
