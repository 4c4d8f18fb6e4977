"""Tree search over steps a language model writes (open action spaces), batched over problems.

Each wave walks up to `leaves_per_call` paths in every unfinished tree under virtual loss; a walk
ends at a node the model has not seen (expand it: k sampled steps + the state's value), at a node
due for progressive widening (ask for more steps), or at a terminal state (the verifier's reward,
or without a verifier the value head's opinion). All requests of a wave go to the model in one
batched call per kind (and temperature: a node whose widening brought nothing new is sampled
hotter next time). One request about one state is one model call, charged to that problem's
budget; the search stops at the cap, at a verified solution, or when the tree is exhausted:
every path ends at a terminal state and no node can sample a step it has not seen (a node is
closed once it cannot widen and all its children are closed), so an unsolvable puzzle ends
without spending a huge budget. With the verifier a closed subtree's value is exact, so
selection passes it by while its parent has an open child (as an MCTS solver does; Winands et
al. 2008): walks go where something is left to learn, and exhaustion comes in a few hundred
walks instead of millions. Where the task can list its legal steps, `actions="legal"` makes the
action space closed, as in AlphaZero: an expansion scores every legal step (`model.score`)
instead of sampling k, and the value the model reads for each child in that forward is the
child's worth until a walk visits it.

    problems ─► roots ─► select (PUCT | Gumbel root, widening) ─► requests ─► StepModel (batched)
                               ▲                                                  │
                               └──────────── backup(values, rewards) ◄────────────┘
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Sequence

import numpy as np

from lmzero.models.step_model import Expansion, StepModel
from lmzero.search.budget import Budget, Progress, report
from lmzero.search.seq_halving import schedule
from lmzero.search.step_tree import ROOT, StepTree, widening_target
from lmzero.tasks.base import StepTask


MAX_PLAN = 100_000
"""Longest Gumbel sequential-halving schedule, in simulations (a budget beyond it keeps
visiting the last phase's survivors in turn)."""
MAX_IDLE_PLAN = 2_500
"""The idle-walk guard (`_exhausted`) allows 4 walks per planned simulation, planned counted up
to this: ~10,000 walks in a row without a model call, whatever the budget."""


@dataclass
class StepSearchConfig:
    method: Literal["puct", "gumbel"] = "puct"
    """`puct` (AlphaZero selection everywhere) or `gumbel` (Gumbel top-k with sequential halving
    at the root, PUCT below; better when the budget is a few dozen calls)."""
    simulations: int | None = None
    """Walks per problem; None = until the budget's call cap (or 64 without a cap)."""
    k: int = 4
    """Steps sampled when a node is first expanded (duplicates merge)."""
    widen: bool = True
    """Progressive widening: sample more steps at a node as its visits grow."""
    widen_c: float = 2.0
    """Widening: once a node with n visits has sampled fewer than ceil(widen_c * n^widen_alpha)
    steps, it asks for k more."""
    widen_alpha: float = 0.5
    """Widening exponent alpha (0 < alpha < 1)."""
    max_samples: int = 16
    """Most distinct steps one node holds: widening stops there. Repeats do not count (a sharp
    policy's 16 samples held 3-9 distinct steps, and its searches ended with budget left)."""
    c_puct: float = 1.5
    """PUCT exploration constant: Q + c * P * sqrt(N) / (1 + n)."""
    verifier: bool = True
    """Score terminal states with the task's verifier during search and stop at the first solution
    (the AlphaZero setting: the rules are known). False: terminal states get the value head's
    estimate and the most visited path's answer is scored afterwards."""
    leaves_per_call: int = 4
    """Walks per tree gathered under virtual loss before one batched model call."""
    temperature: float = 1.0
    """Sampling temperature of the model's steps."""
    reheat: float = 1.4
    """A widening request that brings no new step multiplies that node's temperature by this,
    up to `max_temperature`; the node closes only when even that brings nothing. A sharp
    (trained) policy repeats its favourite steps, and closing at the first repeat ended searches
    with most of their budget unspent. 1 = close at the first fruitless request."""
    max_temperature: float = 2.0
    """The hottest a node is ever sampled (see `reheat`)."""
    max_considered: int = 8
    """Gumbel: steps sampled at the root and considered by sequential halving."""
    gumbel_scale: float = 1.0
    """Gumbel: scale of the Gumbel noise on the root logits (0 = deterministic)."""
    value_scale: float = 0.1
    """Gumbel sigma(q) c_scale (Danihelka et al. 2022, eq. 8)."""
    maxvisit_init: float = 50.0
    """Gumbel sigma(q) c_visit."""
    default_value: float = 0.5
    """Value of a state when the model has no value head."""
    values: Literal["model", "rollout"] = "model"
    """Where a new node's value comes from: the model (its value head or judge; `default_value`
    without one), or a rollout to the verifier (the model's greedy steps from the node to a
    terminal state, whose reward is the value; every rollout call is charged to the budget)."""
    max_rollout_steps: int = 32
    """Longest rollout, in steps (an unfinished one is worth `default_value`)."""
    actions: Literal["sampled", "legal"] = "sampled"
    """Where a node's steps come from: `sampled` (the model writes k, more as the node widens)
    or `legal` (a closed action space, as in AlphaZero: the task lists every legal step,
    `task.legal_steps`, and the model scores them all, `model.score`; priors are the model's
    probabilities renormalised over them, nothing widens). Legal steps give search the breadth
    a sharpened policy's samples lose; scoring them is charged as prompt tokens."""

    def __post_init__(self):
        if self.values not in ("model", "rollout"):
            raise ValueError(f"values must be 'model' or 'rollout', got {self.values!r}")
        if self.values == "rollout" and not self.verifier:
            raise ValueError("rollout values are scored by the verifier: they need verifier=True")
        if self.actions not in ("sampled", "legal"):
            raise ValueError(f"actions must be 'sampled' or 'legal', got {self.actions!r}")
        if self.method not in ("puct", "gumbel"):
            raise ValueError(f"method must be 'puct' or 'gumbel', got {self.method!r}")
        if self.k < 1 or self.max_samples < self.k:
            raise ValueError(f"need 1 <= k <= max_samples, got k={self.k}, "
                             f"max_samples={self.max_samples}")
        if not 0 < self.widen_alpha < 1:
            raise ValueError(f"widen_alpha must be in (0, 1), got {self.widen_alpha}")
        if self.reheat < 1 or self.max_temperature < self.temperature:
            raise ValueError(f"need reheat >= 1 and max_temperature >= temperature, got "
                             f"{self.reheat} and {self.max_temperature}")
        if self.leaves_per_call < 1:
            raise ValueError(f"leaves_per_call must be >= 1, got {self.leaves_per_call}")


@dataclass
class StepSearchResult:
    solved: bool
    """Whether the answer is correct (by the verifier, applied afterwards if not during)."""
    answer: str | None
    """The answer as one expression, or None."""
    final_state: Any
    """The state the answer comes from (a solution, or the end of the most visited path)."""
    path: list[int]
    """Node ids from the root to `final_state` (the principal variation)."""
    tree: StepTree = field(repr=False)
    budget: Budget = field(repr=False)
    simulations: int = 0
    exhausted: bool = False
    """Whether the search stopped because its tree was exhausted (every path ends at a terminal
    state, no node can sample a new step) before its budget was spent."""
    closed: set[int] = field(default_factory=set, repr=False)
    """Nodes the search closed: a judged terminal a walk reached, or a node that could not
    widen once every child it may enter was closed (module docstring)."""

    def principal_variation(self) -> list[dict]:
        return [self.tree.describe(n) for n in self.path[1:]]


@dataclass
class _Request:
    tree: int
    node: int
    kind: Literal["expand", "widen", "value"]
    k: int
    path: list[int]


class _Lane:
    """One problem's search: its tree, budget, Gumbel schedule and progress."""

    def __init__(self, task: StepTask, problem, budget: Budget, config: StepSearchConfig,
                 rng: np.random.Generator):
        self.tree = StepTree.new(task.initial_state(problem))
        self.budget = budget
        capped = budget.max_calls is not None or budget.max_tokens is not None
        # walks that end at a known terminal cost no call, so only an explicit simulation
        # count stops the search before its budget does
        self.sims_cap = config.simulations or (math.inf if capped else 64)
        # Gumbel's schedule length: past MAX_PLAN simulations halving is long over, and a
        # schedule as long as a budget of 10**9 calls would not fit in memory
        self.planned = min(config.simulations or budget.max_calls or 64, MAX_PLAN)
        self.simulations = 0
        self.solution: int | None = None
        self.done = False
        self.closed: set[int] = set()  # nodes with nothing left to ask (module docstring)
        self.idle_walks = 0  # walks in a row that needed no model call
        self.widening: set[int] = set()  # nodes with a widening request in flight
        self.gumbel = config.gumbel_scale * rng.gumbel(size=config.max_considered)
        self.considered: list[int] = []
        self.seq = self.phase_end = None

    def start_gumbel(self, config: StepSearchConfig) -> None:
        kids = list(self.tree.children[ROOT].values())
        logits = [math.log(max(self.tree.prior[k], 1e-12)) for k in kids]
        order = np.argsort([-(g + lg) for g, lg in zip(self.gumbel, logits)])
        self.considered = [kids[i] for i in order[:config.max_considered]]
        self.seq, self.phase_end = schedule(max(len(self.considered), 1), self.planned)


def check_actions(task: StepTask, model: StepModel, actions: str) -> None:
    """ValueError (one line) when `actions="legal"` meets a task that cannot list its legal
    steps or a model that cannot score given steps."""
    if actions != "legal":
        return
    if not callable(getattr(task, "legal_steps", None)):
        raise ValueError(f"task {task.name!r} cannot list its legal steps (no legal_steps "
                         "method): use sampled actions")
    if not callable(getattr(model, "score", None)):
        raise ValueError(f"this model ({type(model).__name__}) cannot score given steps: legal "
                         "actions need the tinylm or hf backend")


def step_search(task: StepTask, model: StepModel, problems: Sequence, config: StepSearchConfig,
                budgets: Sequence[Budget] | None = None, seed: int = 0,
                progress: Progress | None = None) -> list[StepSearchResult]:
    """Search every problem (batched together) and return one result per problem; after every
    wave, `progress(done, solved, calls, tokens)` gets the batch's figures (`budget.Progress`)."""
    check_actions(task, model, config.actions)
    rng = np.random.default_rng(seed)
    budgets = budgets or [Budget() for _ in problems]
    lanes = [_Lane(task, p, b, config, rng) for p, b in zip(problems, budgets)]
    roots = [_issue(lane.tree, _Request(i, ROOT, "expand", _root_k(config), [ROOT]))
             for i, lane in enumerate(lanes)]
    _next_wave(lanes)
    _run(task, model, lanes, roots, config)  # the root's evaluation is its first visit
    for lane in lanes:
        if config.method == "gumbel":
            lane.start_gumbel(config)
    results: list = [None] * len(lanes)
    done = solved = 0
    while True:
        requests = []
        for i, lane in enumerate(lanes):
            if not lane.done:
                requests += _collect(task, i, lane, config)
                if lane.done:  # its tree changes no more: its result is final
                    results[i] = _result(task, lane, config)
                    done, solved = done + 1, solved + results[i].solved
        report(progress, budgets, done, solved)
        if all(lane.done for lane in lanes):
            break
        _next_wave(lanes)
        _run(task, model, lanes, requests, config)
    return results


def _next_wave(lanes: list[_Lane]) -> None:
    """Count one more wave in every unfinished tree: its new nodes are born in it (the root in
    wave 0, the root's first children in wave 1; `StepTree.wave`)."""
    for lane in lanes:
        if not lane.done:
            lane.tree.wave_now += 1


def _root_k(config: StepSearchConfig) -> int:
    return max(config.k, config.max_considered) if config.method == "gumbel" else config.k


def _collect(task, index: int, lane: _Lane, config: StepSearchConfig) -> list[_Request]:
    """Walk up to leaves_per_call paths in one tree; return the model requests they end in."""
    requests: list[_Request] = []
    wave_end = lane.sims_cap
    if lane.phase_end is not None and lane.simulations < lane.planned:
        wave_end = int(lane.phase_end[lane.simulations])  # halving needs this phase's values
    for _ in range(config.leaves_per_call):
        if (_finished(lane) or lane.simulations >= wave_end
                or not lane.budget.affords(len(requests))):
            break
        request = _walk(task, index, lane, config)
        if request is False:  # collided with a walk in flight: wait for the next wave
            break
        lane.simulations += 1
        lane.idle_walks = lane.idle_walks + 1 if request is None else 0
        if request is not None:
            requests.append(request)
    if not requests and _finished(lane):
        lane.done = True
    return requests


def _finished(lane: _Lane) -> bool:
    return (lane.solution is not None or lane.budget.exhausted
            or lane.simulations >= lane.sims_cap or _exhausted(lane))


def _exhausted(lane: _Lane) -> bool:
    """Nothing left to ask: the root is closed, or (without the verifier, whose selection keeps
    revisiting judged terminal states) no walk in a long run reached a node left to ask."""
    return ROOT in lane.closed or lane.idle_walks > 4 * min(lane.planned, MAX_IDLE_PLAN) + 64


def _walk(task, index: int, lane: _Lane, config: StepSearchConfig):
    """Select from the root to a leaf. Returns a request, None (a terminal leaf, backed up at
    once), or False (the path runs into a node already awaiting the model)."""
    tree, node, path = lane.tree, ROOT, [ROOT]
    while True:
        if tree.terminal[node]:
            if tree.raw_value[node] is None:  # no verifier: the model must judge it
                return _issue(tree, _Request(index, node, "value", 1, path))
            _backup(tree, path, tree.raw_value[node], pending=False)
            _close(lane, path, config)
            return None
        if not tree.expanded[node]:
            return _issue(tree, _Request(index, node, "expand", config.k, path))
        if node in lane.widening:
            return False
        if _can_widen(tree, node, config):
            want = widening_target(tree.visits[node], config.k, config.widen_c,
                                   config.widen_alpha, math.inf)
            if want > tree.samples[node]:
                lane.widening.add(node)
                # a whole chunk of k more samples: every request of a wave then shares one
                # sample count, so the wave is one batched model call (not one per count)
                return _issue(tree, _Request(index, node, "widen", config.k, path))
        if not tree.children[node]:  # the model wrote nothing usable here: a dead end
            tree.terminal[node], tree.raw_value[node] = True, 0.0
            continue
        if config.method == "gumbel" and node == ROOT and lane.considered:
            node = _gumbel_root_child(lane, config)
        else:
            node = _puct_child(tree, node, config, lane.closed if config.verifier else ())
        path.append(node)


def _close(lane: _Lane, path: list[int], config: StepSearchConfig) -> None:
    """After a walk ended at a judged terminal node: close it, then each ancestor, bottom up,
    while the ancestor cannot widen and every child a walk may enter is closed."""
    tree = lane.tree
    lane.closed.add(path[-1])
    for node in reversed(path[:-1]):
        gumbel_root = config.method == "gumbel" and node == ROOT and lane.considered
        kids = lane.considered if gumbel_root else tree.children[node].values()
        if _can_widen(tree, node, config) or not all(k in lane.closed for k in kids):
            return
        lane.closed.add(node)


def _can_widen(tree: StepTree, node: int, config: StepSearchConfig) -> bool:
    return (config.widen and config.actions == "sampled" and not tree.saturated[node]
            and len(tree.children[node]) < config.max_samples
            and not (config.method == "gumbel" and node == ROOT))


def _issue(tree: StepTree, request: _Request) -> _Request | bool:
    if tree.pending[request.node] and request.kind != "widen":
        return False
    for n in request.path:
        tree.pending[n] += 1
    return request


def _puct_child(tree: StepTree, node: int, config: StepSearchConfig, closed=()) -> int:
    """PUCT (AlphaZero): argmax Q + c * P * sqrt(N) / (1 + n); unvisited Q = parent's mean.
    Children in `closed` are passed by unless all are."""
    fpu = tree.q(node, tree.mean_value(node))
    total = math.sqrt(tree.visits[node] + tree.pending[node])
    best, best_score = -1, -math.inf
    kids = list(tree.children[node].values())
    kids = [k for k in kids if k not in closed] or kids
    for kid in kids:
        n = tree.visits[kid] + tree.pending[kid]
        score = (tree.q(kid, tree.unvisited_q(kid, fpu))
                 + config.c_puct * tree.prior[kid] * total / (1 + n))
        if score > best_score:
            best, best_score = kid, score
    return best


def _gumbel_scores(lane: _Lane, config: StepSearchConfig) -> list[float]:
    """g + logits + sigma(q) for the considered root steps (Gumbel AlphaZero, eq. 8); unvisited
    steps take the root's value (a simple v_mix)."""
    tree = lane.tree
    logits = tree.improved_logits(lane.considered, config.value_scale, config.maxvisit_init,
                                  tree.mean_value(ROOT))
    return [g + x for g, x in zip(lane.gumbel, logits)]


def _gumbel_root_child(lane: _Lane, config: StepSearchConfig) -> int:
    """Sequential halving: visit a considered step whose visit count matches the schedule."""
    tree = lane.tree
    target = int(lane.seq[min(lane.simulations, len(lane.seq) - 1)])
    scores = _gumbel_scores(lane, config)
    counts = [tree.visits[k] + tree.pending[k] for k in lane.considered]
    every = range(len(counts))
    open_ = [i for i in every if lane.considered[i] not in lane.closed] if config.verifier else []
    open_ = open_ or every  # as in `_puct_child`: closed steps wait while others are open
    allowed = [i for i in open_ if counts[i] == target] or \
              [i for i in open_ if counts[i] == min(counts[j] for j in open_)]
    return lane.considered[max(allowed, key=lambda i: scores[i])]


def _backup(tree: StepTree, path: list[int], value: float, pending: bool) -> None:
    for n in path:
        tree.visits[n] += 1
        tree.value_sum[n] += value
        if pending:
            tree.pending[n] -= 1


def _run(task, model: StepModel, lanes: list[_Lane], requests: list[_Request],
         config: StepSearchConfig) -> None:
    """Send the wave's requests to the model (one batched call per kind and sample count:
    nodes of every heat share it, each with its own temperature) and fold the answers into the
    trees. Splitting by heat too had cut a wave's batch into three or four small ones."""
    groups: dict[tuple[str, int], list[_Request]] = {}
    for r in requests:
        groups.setdefault(("value", 1) if r.kind == "value" else ("expand", r.k), []).append(r)
    for (kind, k), group in groups.items():
        prompts = [task.prompt(lanes[r.tree].tree.states[r.node]) for r in group]
        if kind == "value":
            answers = model.value(prompts)
        elif config.actions == "legal":
            answers = model.score(prompts, [task.legal_steps(lanes[r.tree].tree.states[r.node])
                                            for r in group], with_value=config.values == "model")
        else:
            heats = [config.temperature * lanes[r.tree].tree.heat[r.node] for r in group]
            answers = model.expand(prompts, k, temperature=heats,
                                   with_value=config.values == "model")
        for r, answer in zip(group, answers):  # charged before any rollout spends more
            lanes[r.tree].budget.charge(answer)
            lanes[r.tree].tree.tokens[r.node] += answer.prompt_tokens + answer.generated_tokens
        if kind == "expand" and config.values == "rollout":
            answers = _with_rollout_values(task, model, lanes, group, answers, config)
        for r, answer in zip(group, answers):
            _fold(task, lanes[r.tree], r, answer, config)


def _with_rollout_values(task, model: StepModel, lanes: list[_Lane], group: list[_Request],
                         answers: list[Expansion], config: StepSearchConfig) -> list[Expansion]:
    """The answers with each expanded node's value from a rollout (widening requests reuse the
    value the node already has, so they get none); a solving rollout joins the tree."""
    todo = [j for j, r in enumerate(group) if r.kind == "expand"]
    values, rollouts = _rollout_values(task, model, [lanes[group[j].tree] for j in todo],
                                       [lanes[group[j].tree].tree.states[group[j].node]
                                        for j in todo], config)
    answers = list(answers)
    for j, value, steps in zip(todo, values, rollouts):
        answers[j] = replace(answers[j], value=value)
        if value > 0:  # a verified solution: it joins the tree, and the search ends
            _graft(task, lanes[group[j].tree], group[j].node, steps)
    return answers


def _rollout_values(task, model: StepModel, lanes: list[_Lane], states: list,
                    config: StepSearchConfig) -> tuple[list[float], list[list[str]]]:
    """Rollouts to the verifier: from each state, the model's greedy steps (batched across
    states, each call charged to its tree's budget) until a terminal state; its reward is the
    value. A rollout cut by the budget or `max_rollout_steps` is worth `default_value`.
    Returns the values and each rollout's steps."""
    states, steps = list(states), [[] for _ in states]
    for _ in range(config.max_rollout_steps):
        live = [i for i, s in enumerate(states)
                if not task.is_terminal(s) and not lanes[i].budget.exhausted]
        if not live:
            break
        answers = model.expand([task.prompt(states[i]) for i in live], 1, greedy=True,
                               with_value=False)
        for i, answer in zip(live, answers):
            lanes[i].budget.charge(answer)
            steps[i].append(answer.steps[0] if answer.steps else "")
            states[i] = task.apply(states[i], steps[i][-1])
    values = [float(task.reward(s)) if task.is_terminal(s) else config.default_value
              for s in states]
    return values, steps


def _graft(task, lane: _Lane, node: int, steps: list[str]) -> None:
    """Add a rollout's solving steps under `node` as a chain (the solution the tree returns)."""
    tree = lane.tree
    for step in steps:
        parent, node = node, tree.child(node, step, 0.0, task)
        tree.renormalise(parent)
    tree.terminal[node], tree.reward[node] = True, task.reward(tree.states[node])
    tree.raw_value[node] = tree.reward[node]
    if lane.solution is None:
        lane.solution = node


def _fold(task, lane: _Lane, r: _Request, answer: Expansion, config: StepSearchConfig) -> None:
    """Write a charged answer into the tree and back its value up the walk's path."""
    tree = lane.tree
    value = config.default_value if answer.value is None else float(answer.value)
    if r.kind == "value":
        tree.raw_value[r.node] = value
    else:
        if r.kind == "expand":
            tree.raw_value[r.node] = value
            tree.expanded[r.node] = True
        else:
            lane.widening.discard(r.node)
            value = tree.raw_value[r.node]
        tree.samples[r.node] += r.k
        new = tree.add_children(r.node, answer.steps, answer.logprobs, task)
        if r.kind == "widen" and not new:
            hotter = tree.heat[r.node] * config.reheat
            if config.reheat > 1 and (config.temperature * hotter
                                      <= config.max_temperature + 1e-9):
                tree.heat[r.node] = hotter
            else:
                tree.saturated[r.node] = True
        for kid in new:
            state = tree.states[kid]
            if task.is_terminal(state):
                tree.terminal[kid] = True
                tree.reward[kid] = task.reward(state)
                if config.verifier:
                    tree.raw_value[kid] = tree.reward[kid]
                    if tree.reward[kid] > 0 and lane.solution is None:
                        lane.solution = kid
        _estimate(tree, new, answer)
    _backup(tree, r.path, value, pending=True)


def _estimate(tree: StepTree, new: list[int], answer: Expansion) -> None:
    """Give each new child the value the model read for it while scoring its step (legal
    actions), if the child's prompt is exactly the parent's plus that step's line; a judged
    terminal child's is its reward."""
    if not answer.step_values:  # sampled steps: nothing read ahead
        return
    values = dict(zip(answer.steps, answer.step_values))
    for kid in new:
        if tree.step[kid] in values:
            judged = tree.terminal[kid] and tree.raw_value[kid] is not None
            tree.estimate[kid] = tree.raw_value[kid] if judged else values[tree.step[kid]]


def _result(task, lane: _Lane, config: StepSearchConfig) -> StepSearchResult:
    tree = lane.tree
    lane.budget.stop()
    if lane.solution is not None:
        path = tree.path_to(lane.solution)
    else:  # with a verifier this path is unsolved (else the search had stopped): shown only
        path = _final_path(lane, config)
    state = tree.states[path[-1]]
    solved = task.is_terminal(state) and task.reward(state) > 0
    return StepSearchResult(solved=solved, answer=task.answer(state) if solved else None,
                            final_state=state, path=path, tree=tree, budget=lane.budget,
                            simulations=lane.simulations,
                            exhausted=lane.solution is None and _exhausted(lane),
                            closed=lane.closed)


def _final_path(lane: _Lane, config: StepSearchConfig) -> list[int]:
    """Without a verifier: the most visited path (Gumbel: the root step with the best score
    among the most visited considered ones, as in mctx)."""
    tree = lane.tree
    if config.method == "gumbel" and lane.considered and tree.visits[ROOT] > 1:
        scores = _gumbel_scores(lane, config)
        top = max(tree.visits[k] for k in lane.considered)
        best = max((i for i, k in enumerate(lane.considered) if tree.visits[k] == top),
                   key=lambda i: scores[i])
        return [ROOT] + tree.most_visited_path(start=lane.considered[best])
    return tree.most_visited_path()
