"""Open-action search and the baselines, with toy models whose proposals and priors are known."""

import math
from dataclasses import replace

import pytest

from lmzero.eval.reasoning import MethodConfig, evaluate
from lmzero.models.lm_steps import by_temperature
from lmzero.models.step_model import Expansion
from lmzero.search.budget import Budget
from lmzero.search.step_search import StepSearchConfig, step_search
from lmzero.search.step_tree import ROOT, widening_target
from lmzero.tasks.arith import Problem
from lmzero.tasks.game24 import TASK

PUZZLE = Problem.make([4, 9, 10, 13], 24)


def state_of(prompt: str):
    """Rebuild the state from the prompt text, as a language model would read it."""
    head, *steps = prompt.rstrip("\n").split("\n")
    numbers, target = head.split(" -> ")
    state = TASK.initial_state(Problem.make(map(int, numbers.split()), int(target)))
    for step in steps:
        state = TASK.apply(state, step)
    return state


class ToyModel:
    """Proposes legal steps in a fixed order, handing out the next ones on each request about
    the same state (like sampling without replacement). Steps on `favourite` solutions get
    log-prob 0, the others -3; the value is `value` everywhere. Logs every request."""

    def __init__(self, favourite=(), value=0.5):
        self.favourite, self.value_of = set(favourite), value
        self.handed: dict[str, int] = {}
        self.log: list[tuple[str, str, int]] = []

    def _ordered(self, state):
        steps = TASK.legal_steps(state)
        return sorted(steps, key=lambda s: s not in self.favourite)

    def expand(self, prompts, k, *, temperature=1.0, greedy=False, with_value=True):
        out = []
        for prompt in prompts:
            self.log.append(("expand", prompt, k))
            steps = self._ordered(state_of(prompt))
            start = 0 if greedy else self.handed.get(prompt, 0)
            picked = [steps[(start + i) % len(steps)] for i in range(1 if greedy else k)]
            self.handed[prompt] = start + len(picked)
            distinct = list(dict.fromkeys(picked))
            out.append(Expansion(distinct, [0.0 if s in self.favourite else -3.0
                                            for s in distinct], self.value_of,
                                 prompt_tokens=len(prompt),
                                 generated_tokens=sum(len(s) + 1 for s in picked)))
        return out

    def value(self, prompts):
        self.log += [("value", p, 0) for p in prompts]
        return [Expansion(value=self.value_of, prompt_tokens=len(p)) for p in prompts]


SOLUTION = ["13 - 9 = 4 (left: 4 4 10)", "10 - 4 = 6 (left: 4 6)", "6 * 4 = 24 (left: 24)"]


def test_widening_target_follows_ceil_c_n_alpha():
    assert [widening_target(n, 2, 1.0, 0.5, 99) for n in (0, 4, 5, 9, 10, 17)] == [2, 2, 3, 3, 4, 5]


def test_mcts_follows_known_priors_to_the_solution_and_counts_exactly():
    model = ToyModel(favourite=SOLUTION)
    budget = Budget(max_calls=50)
    config = StepSearchConfig(k=2, leaves_per_call=1, widen=False)
    [result] = step_search(TASK, model, [PUZZLE], config, [budget])
    assert result.solved and result.answer == "(10 - 4) * (13 - 9)"
    # root, then each favourite child: three expansions, the third writes the winning step
    assert budget.model_calls == 3 == len(model.log)
    assert budget.prompt_tokens == sum(len(p) for _, p, _ in model.log)
    assert [d["step"] for d in result.principal_variation()] == SOLUTION
    tree = result.tree
    assert math.isclose(sum(tree.prior[k] for k in tree.children[ROOT].values()), 1.0)
    assert math.isclose(tree.prior[tree.children[ROOT][SOLUTION[0]]], 1 / (1 + math.exp(-3)))


def test_generated_tokens_are_those_of_the_samples():
    model = ToyModel(favourite=SOLUTION)
    budget = Budget(max_calls=50)
    step_search(TASK, model, [PUZZLE], StepSearchConfig(k=2, leaves_per_call=1, widen=False),
                [budget])
    expected = 0
    replay = ToyModel(favourite=SOLUTION)
    for _, prompt, k in model.log:
        expected += replay.expand([prompt], k)[0].generated_tokens
    assert budget.generated_tokens == expected


def test_progressive_widening_asks_for_more_at_the_right_visit_counts():
    unsolvable = Problem.make([1, 1, 1, 1], 24)  # four distinct steps from the root
    model = ToyModel(value=0.0)
    config = StepSearchConfig(k=2, leaves_per_call=1, widen_c=1.0, widen_alpha=0.5,
                              max_samples=8, reheat=1.0)
    [result] = step_search(TASK, model, [unsolvable], config, [Budget(max_calls=30)])
    root_prompt = TASK.prompt(TASK.initial_state(unsolvable))
    root_requests = [k for kind, p, k in model.log if p == root_prompt]
    # k(n) = ceil(sqrt(n)) > samples: 2 more at 5 visits (4 sampled), 2 more at 17 visits
    assert root_requests == [2, 2, 2]
    tree = result.tree
    assert tree.samples[ROOT] == 6 and tree.visits[ROOT] >= 17
    assert len(tree.children[ROOT]) == 4  # the third request only repeated steps
    assert tree.saturated[ROOT] and not result.solved


class RepeatingModel(ToyModel):
    """Hands out the same first `cold` steps at temperature <= 1 (a sharp policy repeating its
    favourites); hotter, it also hands out the rest. Logs each request's temperature."""

    def __init__(self, cold=2):
        super().__init__(value=0.0)
        self.cold, self.temperatures = cold, []

    def expand(self, prompts, k, *, temperature=1.0, greedy=False, with_value=True):
        if not isinstance(temperature, (int, float)):  # one per prompt: one call per heat
            return by_temperature(prompts, temperature, lambda some, t: self.expand(
                some, k, temperature=t, greedy=greedy, with_value=with_value))
        self.temperatures += [round(temperature, 6)] * len(prompts)
        if temperature <= 1.0:  # cold: start again from the first step
            for p in prompts:
                self.handed[p] = self.handed.get(p, 0) % self.cold
        return super().expand(prompts, k, temperature=temperature, greedy=greedy,
                              with_value=with_value)


def test_a_fruitless_widening_samples_hotter_before_the_node_closes():
    unsolvable = Problem.make([1, 1, 1, 1], 24)  # four distinct steps from the root
    root_prompt = TASK.prompt(TASK.initial_state(unsolvable))
    config = StepSearchConfig(k=2, leaves_per_call=1, widen_c=1.0, widen_alpha=0.5,
                              max_samples=16, reheat=1.5, max_temperature=2.0)
    model = RepeatingModel(cold=2)
    [result] = step_search(TASK, model, [unsolvable], config, [Budget(max_calls=200)])
    root = [t for (kind, p, k), t in zip(model.log, model.temperatures) if p == root_prompt]
    # cold: the same two steps twice (fruitless) -> 1.5: two new steps -> 1.5 again: nothing
    # new (all four known) -> 2.25 would pass max_temperature: the root closes
    assert root == [1.0, 1.0, 1.5, 1.5]
    assert len(result.tree.children[ROOT]) == 4 and result.tree.saturated[ROOT]
    closed = StepSearchConfig(k=2, leaves_per_call=1, widen_c=1.0, widen_alpha=0.5,
                              max_samples=16, reheat=1.0)
    model = RepeatingModel(cold=2)
    [result] = step_search(TASK, model, [unsolvable], closed, [Budget(max_calls=200)])
    assert len(result.tree.children[ROOT]) == 2 and result.tree.saturated[ROOT]


class SlippingModel:
    """Writes one operation three ways at the root: right, with an unsorted `left:`, and with a
    wrong result; a prior that favours the slip."""

    def expand(self, prompts, k, *, temperature=1.0, greedy=False, with_value=True):
        steps = ["13 - 9 = 5 (left: 4 5 10)", "13 - 9 = 4 (left: 10 4 4)",
                 "13 - 9 = 4 (left: 4 4 10)"]
        return [Expansion(steps, [-0.1, -1.0, -2.0], 0.5, prompt_tokens=len(p),
                          generated_tokens=60) for p in prompts]

    def value(self, prompts):
        return [Expansion(value=0.5, prompt_tokens=len(p)) for p in prompts]


@pytest.mark.parametrize("calculator, children", [(False, 2), (True, 1)])
def test_steps_the_task_writes_alike_are_one_child(calculator, children):
    task = replace(TASK, calculator=calculator)
    config = StepSearchConfig(k=3, leaves_per_call=1, widen=False)
    [result] = step_search(task, SlippingModel(), [PUZZLE], config, [Budget(max_calls=1)])
    tree = result.tree
    kids = tree.children[ROOT]
    assert len(kids) == children and "13 - 9 = 4 (left: 4 4 10)" in kids
    right = kids["13 - 9 = 4 (left: 4 4 10)"]
    assert tree.step[right] == "13 - 9 = 4 (left: 4 4 10)" and tree.states[right].error is None
    # the first sample that writes the line gives the child its prior (the slip's, when on)
    assert tree.logprob[right] == (-0.1 if calculator else -1.0)
    assert math.isclose(sum(tree.prior[k] for k in kids.values()), 1.0)


def test_reheat_settings_are_checked():
    with pytest.raises(ValueError, match="reheat"):
        StepSearchConfig(reheat=0.5)
    with pytest.raises(ValueError, match="max_temperature"):
        StepSearchConfig(temperature=1.5, max_temperature=1.0)


@pytest.mark.parametrize("method", ["puct", "gumbel"])
def test_search_solves_with_verifier_and_stops_at_the_cap(method):
    model = ToyModel()  # no favourites: uniform priors, the search must look around
    budget = Budget(max_calls=64)
    config = StepSearchConfig(method=method, k=4, leaves_per_call=4)
    [result] = step_search(TASK, model, [PUZZLE], config, [budget])
    assert budget.model_calls <= 64 and budget.model_calls == len(model.log)
    assert result.solved or budget.model_calls == 64
    unsolvable = Budget(max_calls=20)
    [miss] = step_search(TASK, ToyModel(), [Problem.make([1, 1, 1, 1], 24)], config, [unsolvable])
    assert not miss.solved and miss.answer is None and unsolvable.model_calls <= 20


def test_without_verifier_the_most_visited_path_is_scored_afterwards():
    model = ToyModel(favourite=SOLUTION, value=0.5)
    config = StepSearchConfig(k=2, leaves_per_call=1, widen=False, verifier=False)
    [result] = step_search(TASK, model, [PUZZLE], config, [Budget(max_calls=20)])
    assert any(kind == "value" for kind, _, _ in model.log)  # terminal states were judged
    assert result.path == result.tree.most_visited_path()
    assert result.solved == (TASK.reward(result.final_state) > 0)


@pytest.mark.parametrize("method", ["greedy", "sample", "best-of-n", "beam", "bfs", "mcts",
                                    "gumbel"])
@pytest.mark.parametrize("verifier", [True, False])
def test_every_method_respects_the_budget(method, verifier):
    model = ToyModel(favourite=SOLUTION)
    config = MethodConfig(method=method, budget=7, verifier=verifier, k=2, width=2)
    report = evaluate(TASK, model, [PUZZLE, Problem.make([1, 1, 1, 1], 24)], config)
    assert all(p["model_calls"] <= 7 for p in report["problems"])
    assert report["model_calls"] == sum(p["model_calls"] for p in report["problems"]) / 2
    assert report["problems"][1]["solved"] is False
    if verifier and method in ("greedy", "beam", "mcts"):  # the favourite path wins
        assert report["problems"][0]["expression"] == "(10 - 4) * (13 - 9)"


def test_greedy_uses_one_call_per_step():
    model = ToyModel(favourite=SOLUTION)
    report = evaluate(TASK, model, [PUZZLE], MethodConfig(method="greedy", budget=None))
    assert report["solved"] == 1 and report["model_calls"] == 3


def test_unknown_method_is_refused():
    with pytest.raises(ValueError, match="unknown method 'dfs'"):
        MethodConfig(method="dfs")


def test_rollout_values_come_from_the_verifier_and_are_charged():
    """values='rollout': a new node's value is the verifier's reward at the end of the model's
    greedy steps from it; every rollout call counts; a solving rollout joins the tree."""
    model = ToyModel(favourite=SOLUTION)
    budget = Budget(max_calls=50)
    config = StepSearchConfig(k=2, leaves_per_call=1, widen=False, values="rollout")
    [result] = step_search(TASK, model, [PUZZLE], config, [budget])
    # the root's expansion, then a greedy rollout down the favourite steps: three calls
    assert result.solved and result.answer == "(10 - 4) * (13 - 9)"
    assert budget.model_calls == 4 == len(model.log)
    assert [d["step"] for d in result.principal_variation()] == SOLUTION
    assert result.tree.raw_value[ROOT] == 1.0


def test_a_failed_rollout_is_worth_its_reward():
    from lmzero.search.baselines import decode
    unsolvable = Problem.make([1, 1, 1, 1], 24)
    [greedy] = decode(TASK, ToyModel(), [unsolvable], [Budget()])
    model = ToyModel()
    budget = Budget(max_calls=12)
    config = StepSearchConfig(k=2, leaves_per_call=1, widen=False, values="rollout")
    [result] = step_search(TASK, model, [unsolvable], config, [budget])
    assert not result.solved and budget.model_calls == 12
    assert result.tree.raw_value[ROOT] == TASK.reward(greedy.final_state) == 0.0
    rollout_calls = [entry for entry in model.log if entry[2] == 1]
    assert rollout_calls  # greedy rollout requests (k=1) were made and charged
    with pytest.raises(ValueError, match="verifier"):
        StepSearchConfig(values="rollout", verifier=False)


def test_every_step_of_a_grafted_rollout_solution_becomes_a_full_weight_target():
    """A solution found by a rollout joins the tree without being expanded; the actor still
    turns each of its verified steps into a step row of weight 1 (and its prompt into value 1)."""
    from lmzero.selfplay.step_actor import StepActorConfig, examples_of
    config = StepSearchConfig(k=2, leaves_per_call=1, widen=False, values="rollout")
    [result] = step_search(TASK, ToyModel(favourite=SOLUTION), [PUZZLE], config,
                           [Budget(max_calls=50)])
    rows = examples_of(TASK, result, StepActorConfig(), "bucket", "4 9 10 13 -> 24")
    full = {(p, s) for p, s, w in zip(rows["prompt"], rows["step"], rows["weight"]) if w == 1.0}
    states = [TASK.initial_state(PUZZLE)]
    for step in SOLUTION:
        states.append(TASK.apply(states[-1], step))
    assert full == {(TASK.prompt(s), step) for s, step in zip(states, SOLUTION)}
    valued = {p for p, v in zip(rows["prompt"], rows["value"]) if v == 1.0}
    assert valued == {TASK.prompt(s) for s in states[:-1]}
