"""The ways people use LMs today, under the same budget as the search: greedy (and value-greedy),
sampling, best-of-N, beam search with the value head, and BFS as in Tree of Thoughts
(best-first search over legal steps: `search/best_first.py`).

Every method works on many problems at once (one batched model call per round) and charges each
problem's `Budget` one call per request about one state. With `verifier=True` the task's checker
may judge terminal states while the method runs (best-of-N "oracle": any correct sample counts);
with `verifier=False` the method must pick its answer alone (majority vote or the value head) and
the checker scores that one answer afterwards.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Sequence

from lmzero.models.step_model import Expansion, StepModel
from lmzero.search.budget import Budget, Progress, report
from lmzero.search.step_search import check_actions
from lmzero.tasks.base import StepTask


@dataclass
class SolveResult:
    solved: bool
    """Whether the chosen answer is correct (the verifier's judgement)."""
    answer: str | None
    """The chosen answer as one expression, or None."""
    final_state: Any
    """The state the answer comes from."""
    budget: Budget = field(repr=False)


def ask(task, model: StepModel, items: list[tuple[Budget, Any]], k: int, *, greedy=False,
        temperature=1.0, value_only=False, legal=False, step_values=False) -> list[Expansion]:
    """One batched call: a request about each state, each charged to its own budget. `legal`:
    the state's legal steps scored (`task.legal_steps`), most probable first (`step_values`:
    with the value of each one's next state, read in the same forward)."""
    if not items:
        return []
    prompts = [task.prompt(state) for _, state in items]
    if legal:
        answers = model.score(prompts, [task.legal_steps(state) for _, state in items],
                              with_value=step_values)
    else:
        answers = (model.value(prompts) if value_only else
                   model.expand(prompts, k, greedy=greedy, temperature=temperature))
    for (budget, _), answer in zip(items, answers):
        budget.charge(answer)
    return answers


def finish(task, state, budget: Budget) -> SolveResult:
    budget.stop()
    solved = state is not None and task.is_terminal(state) and task.reward(state) > 0
    return SolveResult(solved, task.answer(state) if solved else None, state, budget)


def decode(task: StepTask, model: StepModel, problems: Sequence, budgets: Sequence[Budget],
           greedy: bool = True, temperature: float = 1.0,
           progress: Progress | None = None, legal: bool = False,
           by_value: bool = False) -> list[SolveResult]:
    """One trajectory per problem: the most likely step each time (greedy) or a sampled one.
    `legal` (greedy only): the most probable of the task's legal steps, as a game's raw policy
    takes its best legal move, so a slip never ends the trajectory. `by_value` (legal greedy):
    the legal step whose next state the value head rates highest (`value_greedy_step`), read
    in the same one call per step. `progress` as in `step_search`, after every round."""
    if legal and not greedy:
        raise ValueError("legal actions decode greedily (sampling them is not wired)")
    if by_value and not legal:
        raise ValueError("decoding by value reads every legal step's next state: it needs "
                         "legal actions")
    if by_value:
        check_next_state_values(task, model, "value-greedy")
    elif legal:
        check_actions(task, model, "legal")
    states = [task.initial_state(p) for p in problems]
    while True:
        live = [i for i, s in enumerate(states)
                if not task.is_terminal(s) and budgets[i].affords()]
        if progress is not None:  # a problem not live now never is again
            report(progress, budgets, len(states) - len(live),
                   sum(task.is_terminal(s) and task.reward(s) > 0 for s in states))
        if not live:
            break
        answers = ask(task, model, [(budgets[i], states[i]) for i in live], 1, greedy=greedy,
                      temperature=temperature, legal=legal, step_values=by_value)
        for i, answer in zip(live, answers):
            step = (value_greedy_step(task, states[i], answer) if by_value else
                    answer.steps[0] if answer.steps else "")
            states[i] = task.apply(states[i], step)
    return [finish(task, s, b) for s, b in zip(states, budgets)]


def check_next_state_values(task, model: StepModel, method: str) -> None:
    """ValueError (one line) unless the task lists its legal steps and the model's scoring call
    values each step's next state too (`values_next_states`: tinylm; the hf backend values
    prompts only, and a value call per next state would change what a call buys)."""
    if not callable(getattr(task, "legal_steps", None)):
        raise ValueError(f"{method} scores the task's legal steps, and task {task.name!r} cannot "
                         "list them (no legal_steps method): use greedy, beam or mcts")
    if not getattr(model, "values_next_states", False):
        raise ValueError(f"{method} reads each legal step's next-state value from the scoring "
                         f"call; this model ({type(model).__name__}) gives none: use a tinylm "
                         "model")


def value_greedy_step(task, state, answer: Expansion) -> str:
    """Of a state's scored legal steps, the one whose next state the value head rates highest
    (ties: the more probable). Where every next state is terminal, the most probable step: the
    value head learns no terminal states (the verifier judges them in search), and greedy
    decoding has no verifier to ask. A one-step lookahead through the value head, at greedy
    decoding's cost; in Game of 24 it is the value head, not the policy, that carries the first
    step to puzzles the model never trained on (README)."""
    if not answer.steps:
        return ""
    open_ = [j for j, step in enumerate(answer.steps)
             if not task.is_terminal(task.apply(state, step))]
    if not open_:
        return answer.steps[0]
    check_step_values(answer)
    return answer.steps[max(open_, key=lambda j: answer.step_values[j])]


def check_step_values(answer: Expansion) -> None:
    """ValueError unless a scoring answer carries a next-state value for every step."""
    if len(answer.step_values) != len(answer.steps):
        raise ValueError("decoding by value needs a next-state value for every scored step")


def best_of_n(task: StepTask, model: StepModel, problems: Sequence, budgets: Sequence[Budget],
              n: int | None = None, verifier: bool = True, temperature: float = 1.0,
              progress: Progress | None = None) -> list[SolveResult]:
    """Sample trajectories until `n` are complete (n=None: until the budget runs out; 8 without
    a cap). Oracle (`verifier`): solved if any sample is, stopping at the first. No oracle:
    majority vote over the final answers' values (self-consistency), then score that one.
    `progress` as in `step_search`, after every round."""
    lanes: list[list] = [[] for _ in problems]  # per problem: trajectories in progress
    done: list[list] = [[] for _ in problems]  # per problem: finished (terminal) states
    capped = [b.max_calls is not None or b.max_tokens is not None for b in budgets]
    want = [n or (None if c else 8) for c in capped]  # None: as many as the budget allows
    width = n or 8  # trajectories advanced side by side per problem
    while True:
        items, owners = [], []
        for i, problem in enumerate(problems):
            if verifier and any(task.reward(s) > 0 for s in done[i]):
                continue  # the oracle has its answer
            started = len(done[i]) + len(lanes[i])
            while len(lanes[i]) < width and (want[i] is None or started < want[i]):
                lanes[i].append(task.initial_state(problem))
                started += 1
            asked = 0
            for j, state in enumerate(lanes[i]):
                if budgets[i].affords(asked):
                    items.append((budgets[i], state))
                    owners.append((i, j))
                    asked += 1
        if progress is not None:  # a problem asked nothing this round is finished
            _report_picks(task, progress, budgets, done, verifier,
                          {i for i, _ in owners})
        if not items:
            break
        answers = ask(task, model, items, 1, temperature=temperature)
        for (i, j), answer in zip(owners, answers):
            lanes[i][j] = task.apply(lanes[i][j], answer.steps[0] if answer.steps else "")
        for i in range(len(problems)):
            done[i] += [s for s in lanes[i] if task.is_terminal(s)]
            lanes[i] = [s for s in lanes[i] if not task.is_terminal(s)]
    return [finish(task, _pick(task, d, verifier), b) for d, b in zip(done, budgets)]


def _report_picks(task, progress: Progress, budgets, done: list[list], verifier: bool,
                  asked: set[int]) -> None:
    """best-of-N's figures: the problems asked nothing this round are finished, and solved
    when the sample they pick is."""
    picks = [_pick(task, d, verifier) for i, d in enumerate(done) if i not in asked]
    report(progress, budgets, len(picks),
           sum(s is not None and task.reward(s) > 0 for s in picks))


def _pick(task, finished: list, verifier: bool):
    if not finished:
        return None
    if verifier:
        return next((s for s in finished if task.reward(s) > 0), finished[0])
    valid = [s for s in finished if getattr(s, "error", None) is None]
    if not valid:
        return finished[0]
    votes = Counter(_final_value(s) for s in valid)  # self-consistency (Wang et al. 2023)
    top = votes.most_common(1)[0][0]
    return next(s for s in valid if _final_value(s) == top)


def _final_value(state):
    numbers = getattr(state, "numbers", None)
    return tuple(numbers) if numbers is not None else state


def value_search(task: StepTask, model: StepModel, problems: Sequence, budgets: Sequence[Budget],
                 width: int = 4, k: int = 4, verifier: bool = True, separate_values: bool = False,
                 temperature: float = 1.0, progress: Progress | None = None) -> list[SolveResult]:
    """Breadth-first search keeping the `width` best states by the value head at each depth.

    `separate_values=False` is beam search: expanding a candidate (one call) returns its value
    and its next steps together, and the best `width` expanded candidates survive.
    `separate_values=True` is BFS as in Tree of Thoughts (Yao et al. 2023): one call proposes
    k steps from each frontier state, one call values each new candidate, and the best `width`
    candidates form the next frontier. Terminal candidates are judged by the verifier, or
    without it by a value call; without a verifier the answer is the best-valued terminal state.
    Problems are searched one after another: `progress` hears after each.
    """
    results = []
    for problem, budget in zip(problems, budgets):
        results.append(_value_search_one(task, model, problem, budget, width, k, verifier,
                                         separate_values, temperature))
        report(progress, budgets, len(results), sum(r.solved for r in results))
    return results


def _value_search_one(task, model, problem, budget, width, k, verifier, separate_values,
                      temperature) -> SolveResult:
    ends: list[tuple[float, Any]] = []  # (value, terminal state)
    frontier = [task.initial_state(problem)]
    proposals: list[Expansion] | None = None  # beam: the frontier's own expansions
    if not separate_values:
        proposals = ask(task, model, [(budget, frontier[0])], k, temperature=temperature)
    while frontier:
        if proposals is None:  # BFS: ask each frontier state for steps
            frontier = budget.afford(frontier)
            proposals = ask(task, model, [(budget, s) for s in frontier], k,
                            temperature=temperature)
        seen, children = set(), []
        for state, answer in zip(frontier, proposals):
            for step in answer.steps:
                child = task.apply(state, step)
                if task.key(child) not in seen:
                    seen.add(task.key(child))
                    children.append(child)
        terminal = [c for c in children if task.is_terminal(c)]
        if verifier:
            solved = next((c for c in terminal if task.reward(c) > 0), None)
            if solved is not None:
                return finish(task, solved, budget)
        else:
            ends += _valued(task, model, budget, terminal)
        open_ = [c for c in children if not task.is_terminal(c)]
        asked = budget.afford(open_)
        if not asked:
            break
        answers = ask(task, model, [(budget, c) for c in asked], k,
                      temperature=temperature, value_only=separate_values)
        ranked = sorted(zip(asked, answers), key=lambda ca: -(ca[1].value or 0.0))[:width]
        frontier = [c for c, _ in ranked]
        proposals = None if separate_values else [a for _, a in ranked]
    best = max(ends, key=lambda vs: vs[0])[1] if ends else None
    return finish(task, best, budget)


def _valued(task, model, budget, states) -> list[tuple[float, Any]]:
    """Value calls on terminal states (no verifier), as far as the budget allows."""
    states = budget.afford(states)
    if not states:
        return []
    answers = ask(task, model, [(budget, s) for s in states], 1, value_only=True)
    return [(a.value or 0.0, s) for s, a in zip(states, answers)]
