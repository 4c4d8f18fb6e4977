"""Search over a closed action space: every legal step the task lists, scored by the model
(`StepSearchConfig.actions="legal"`, `TinyLMStepModel.score`)."""

import math

import pytest
import torch

from lmzero.models import tinylm_steps
from lmzero.models.step_model import Expansion
from lmzero.models.tinylm_steps import TinyLMStepModel
from lmzero.search.budget import Budget
from lmzero.search.step_search import StepSearchConfig, check_actions, step_search
from lmzero.search.step_tree import ROOT
from lmzero.tasks.arith import Problem
from lmzero.tasks.game24 import TASK
from tests.test_step_search import PUZZLE, SOLUTION, ToyModel, state_of
from tests.test_text_model import PROMPTS, TOK, one_thread, random_model  # noqa: F401


@torch.inference_mode()
def test_score_is_the_teacher_forced_log_probability_and_the_childs_value():
    model = random_model(seed=3)
    m = TinyLMStepModel(model)
    prompts = PROMPTS[:2]
    steps = [TASK.legal_steps(state_of(p)) for p in prompts]
    answers = m.score(prompts, steps)
    for prompt, given, answer in zip(prompts, steps, answers):
        assert sorted(answer.steps) == sorted(given)
        assert answer.logprobs == sorted(answer.logprobs, reverse=True)
        for step, logprob, value in zip(answer.steps, answer.logprobs, answer.step_values):
            text = prompt + step + "\n"
            ids = TOK.encode(text)
            # each of the line's characters, predicted from everything before it
            expected = sum(float(m._logp(m._prefill([text[:t]])[0])[0, ids[t]])
                           for t in range(len(prompt), len(text)))
            assert math.isclose(logprob, expected, rel_tol=1e-4, abs_tol=1e-4)
            assert math.isclose(value, m.value([text])[0].value, abs_tol=1e-5)
        assert answer.value == pytest.approx(m.value([prompt])[0].value, abs=1e-6)
        tokens = 1 + len(prompt) + sum(len(s) + 1 for s in given)
        assert answer.prompt_tokens == tokens and answer.generated_tokens == 0


def test_score_batched_in_small_chunks_equals_one_prompt_at_a_time(monkeypatch):
    m = TinyLMStepModel(random_model(seed=4, rope=True))
    prompts = PROMPTS
    steps = [TASK.legal_steps(state_of(p)) for p in prompts]  # 30, 18 and 6 steps: ragged
    alone = [m.score([p], [s])[0] for p, s in zip(prompts, steps)]
    monkeypatch.setattr(tinylm_steps, "SCORE_ROWS", 40)  # three forwards, one per prompt
    for together in (m.score(prompts, steps), m.score(prompts, steps, with_value=False)):
        for a, b in zip(alone, together):
            assert a.steps == b.steps and a.prompt_tokens == b.prompt_tokens
            assert a.logprobs == pytest.approx(b.logprobs, abs=1e-4)
    assert together[0].value is None and together[0].step_values == []


def test_score_refuses_mismatched_lists_and_reads_no_unreadable_prompt():
    m = TinyLMStepModel(random_model(block_size=40))
    with pytest.raises(ValueError, match="1 step lists for 2 prompts"):
        m.score(PROMPTS[:2], [["1 + 2 = 3 (left: 3 3 4)"]])
    long, short = PROMPTS[2], PROMPTS[1]  # the first is longer than the block
    legal = TASK.legal_steps(state_of(short))
    out = m.score([long, short], [["8 * 3 = 24 (left: 24)"], legal])
    assert out[0].steps == [] and out[0].value == 0.0
    # BOS and the prompt take 15 slots: a step fits with its newline in the other 25
    assert sorted(out[1].steps) == sorted(s for s in legal if len(s) + 1 <= 25)
    assert 0 < len(out[1].steps) < len(legal)


class ToyScorer(ToyModel):
    """ToyModel that also scores given steps: favourite steps log-prob -3 (the others 0), so
    the policy points away from the solution; a favourite step's child is worth 0.9 to the
    model, any other 0.1."""

    def __init__(self, favourite=()):
        super().__init__(favourite=favourite, value=0.5)
        self.scored: list[list[str]] = []

    def score(self, prompts, steps, *, with_value=True):
        out = []
        for prompt, given in zip(prompts, steps):
            self.scored.append(list(given))
            order = sorted(given, key=lambda s: s in self.favourite)
            out.append(Expansion(order, [-3.0 if s in self.favourite else 0.0 for s in order],
                                 value=0.5, prompt_tokens=len(prompt),
                                 step_values=[0.9 if s in self.favourite else 0.1
                                              for s in order]))
        return out


def test_legal_actions_score_every_legal_step_and_follow_the_childrens_values():
    model = ToyScorer(favourite=SOLUTION)
    budget = Budget(max_calls=20)
    config = StepSearchConfig(actions="legal", leaves_per_call=1)
    [result] = step_search(TASK, model, [PUZZLE], config, [budget])
    assert result.solved and result.answer == "(10 - 4) * (13 - 9)"
    assert model.scored[0] == TASK.legal_steps(TASK.initial_state(PUZZLE))
    assert not [kind for kind, *_ in model.log]  # never sampled: no expand or value request
    # the solution's steps had the lowest priors but the highest child values: the three
    # expansions on its path are all the search needed
    assert budget.model_calls == 3 == len(model.scored)
    tree = result.tree
    first = tree.children[ROOT][SOLUTION[0]]
    assert tree.prior[first] < min(tree.prior[k] for k in tree.children[ROOT].values()
                                   if k != first) and tree.estimate[first] == 0.9
    assert math.isclose(sum(tree.prior[k] for k in tree.children[ROOT].values()), 1.0)


def test_legal_actions_exhaust_an_unsolvable_puzzle_without_widening():
    model = ToyScorer()
    budget = Budget(max_calls=10_000)
    [result] = step_search(TASK, model, [Problem.make([1, 1, 1, 1], 24)],
                           StepSearchConfig(actions="legal"), [budget])
    assert not result.solved and result.exhausted
    # every node that is not terminal was scored, once: that is what exhausted it
    tree = result.tree
    open_nodes = [n for n in range(len(tree)) if not tree.terminal[n]]
    assert all(tree.expanded[n] for n in open_nodes)
    assert budget.model_calls == len(model.scored) == len(open_nodes) > 5
    assert not any(tree.saturated) and set(tree.samples) <= {0, StepSearchConfig.k}


def test_legal_actions_need_a_task_that_lists_steps_and_a_model_that_scores():
    class NoList:
        name = "nolist"

    with pytest.raises(ValueError, match="cannot list its legal steps"):
        check_actions(NoList(), ToyScorer(), "legal")
    with pytest.raises(ValueError, match=r"\(ToyModel\) cannot score given steps"):
        step_search(TASK, ToyModel(), [PUZZLE], StepSearchConfig(actions="legal"))
    check_actions(NoList(), ToyModel(), "sampled")  # sampled actions need neither
    with pytest.raises(ValueError, match="actions must be 'sampled' or 'legal'"):
        StepSearchConfig(actions="all")


def test_the_tree_json_shows_an_unvisited_childs_value_read_while_scoring():
    from lmzero.explain import step_tree_json
    config = StepSearchConfig(actions="legal", leaves_per_call=1)
    [result] = step_search(TASK, ToyScorer(favourite=SOLUTION), [PUZZLE], config, [Budget(20)])
    nodes = step_tree_json(TASK, result, config, problem=PUZZLE)["nodes"]
    unvisited = [n for n in nodes if n["parent"] == ROOT and n["visits"] == 0]
    assert unvisited and {n["value"] for n in unvisited} == {0.1}
    assert {n["value"] for n in nodes if n["step"] == SOLUTION[0]} == {0.5}  # expanded: its own


def test_a_retry_with_more_calls_solves_what_the_first_search_could_not():
    from lmzero.selfimprove import _retry_figures
    from lmzero.selfplay.step_actor import StepActorConfig, attempt_problems
    search = StepSearchConfig(actions="legal", leaves_per_call=1)
    unsolvable = Problem.make([1, 1, 1, 1], 24)

    def attempts(retry_budget):
        config = StepActorConfig(search=search, budget=2, retry_budget=retry_budget)
        return attempt_problems(TASK, ToyScorer(favourite=SOLUTION), [PUZZLE, unsolvable],
                                config, str, lambda p: False, seed=0)

    first, never = attempts(0)  # the solution takes 3 calls: 2 are not enough
    assert not first.solved and not first.retried and first.model_calls == 2
    assert not (first.examples["value"] == 1).any()
    solved, never = attempts(8)
    # the retry is a fresh search (3 calls), charged on top of the first search's 2
    assert solved.solved and solved.retried and solved.model_calls == 2 + 3
    root = TASK.prompt(TASK.initial_state(PUZZLE))
    rows = solved.examples
    assert ((rows["prompt"] == root) & (rows["value"] == 1)).any()
    assert rows["step"][(rows["prompt"] == root) & (rows["weight"] == 1)].tolist() == [
        SOLUTION[0]]
    assert not never.solved and never.retried and never.model_calls == 2 + 8
    assert _retry_figures([dict(solved=True, retried=True), dict(solved=False, retried=True),
                           dict(solved=True)]) == dict(retried=2, retry_solved=1)
    assert _retry_figures([dict(solved=False)]) == {}
    with pytest.raises(ValueError, match="retry_budget must be >= 0"):
        StepActorConfig(retry_budget=-1)


def test_the_improved_policy_target_moves_the_prior_towards_the_childrens_values():
    from lmzero.selfplay.step_actor import StepActorConfig, examples_of
    search = StepSearchConfig(actions="legal", leaves_per_call=1)
    # one call: the root's steps scored, each child's value read, none visited yet
    [result] = step_search(TASK, ToyScorer(favourite=SOLUTION), [PUZZLE], search,
                           [Budget(max_calls=1)])
    tree = result.tree
    kids = list(tree.children[ROOT].values())
    first = tree.children[ROOT][SOLUTION[0]]
    improved = tree.improved_policy(ROOT, search.value_scale, search.maxvisit_init)
    # Gumbel MuZero's eq. 11 by hand: log prior + (c_visit + max N) * c_scale * completed Q
    scale = (search.maxvisit_init + max(tree.visits[k] for k in kids)) * search.value_scale
    q = [tree.mean_value(k) if tree.visits[k] else tree.estimate[k] for k in kids]
    logits = [math.log(tree.prior[k]) + scale * v for k, v in zip(kids, q)]
    assert improved == pytest.approx([math.exp(x) / sum(map(math.exp, logits)) for x in logits])
    # the solution's first step: the lowest prior, the highest value, now the likeliest
    assert tree.prior[first] == min(tree.prior[k] for k in kids)
    assert max(zip(improved, kids))[1] == first
    root = TASK.prompt(TASK.initial_state(PUZZLE))

    def root_weights(**kw):
        config = StepActorConfig(search=search, offpath_weight=1.0, **kw)
        rows = examples_of(TASK, result, config, "b", "p")
        at_root = (rows["prompt"] == root) & (rows["weight"] > 0)
        return dict(zip(rows["step"][at_root].tolist(), rows["weight"][at_root].tolist()))

    # no child has a visit to share yet; the improved target covers every legal step
    assert len(root_weights(policy_target="improved")) == len(kids)
    assert max(root_weights(policy_target="improved").items(), key=lambda x: x[1])[0] == \
        SOLUTION[0]
    assert sum(root_weights(policy_target="improved").values()) == pytest.approx(1.0, abs=1e-5)
    assert root_weights(policy_target="visits") == {}
    with pytest.raises(ValueError, match="policy_target must be 'visits' or 'improved'"):
        StepActorConfig(policy_target="prior")


def test_greedy_over_legal_steps_takes_the_most_probable_and_never_slips():
    from lmzero.eval.reasoning import MethodConfig, solve_problems
    from lmzero.search.baselines import decode
    from lmzero.tasks.game24 import problems
    puzzles = problems("heldout")[:6]
    model = TinyLMStepModel(random_model(seed=5, block_size=160))
    results = solve_problems(TASK, model, puzzles, MethodConfig(method="greedy",
                                                                actions="legal"))
    for puzzle, r in zip(puzzles, results):
        # a random model writes garbage when it generates; choosing among legal steps, every
        # trajectory runs to one number, each step the one the model scores highest
        assert r.final_state.error is None and len(r.final_state.numbers) == 1
        state = TASK.initial_state(puzzle)
        for written in r.final_state.steps:
            [answer] = model.score([TASK.prompt(state)], [TASK.legal_steps(state)],
                                   with_value=False)
            assert written == answer.steps[0]
            state = TASK.apply(state, written)
        assert r.budget.model_calls == 3 and r.budget.generated_tokens == 0
    with pytest.raises(ValueError, match=r"\(ToyModel\) cannot score given steps"):
        decode(TASK, ToyModel(), [PUZZLE], [Budget()], legal=True)
    with pytest.raises(ValueError, match="legal actions decode greedily"):
        decode(TASK, ToyScorer(), [PUZZLE], [Budget()], greedy=False, legal=True)
    with pytest.raises(ValueError, match="legal actions are for greedy, value-greedy, "
                                         "best-first, mcts and gumbel, not beam"):
        MethodConfig(method="beam", actions="legal")


class ValuedScorer(ToyScorer):
    """ToyScorer whose scoring call values each step's next state (as tinylm's does)."""
    values_next_states = True


def test_value_greedy_follows_next_state_values_and_the_prior_into_terminal_states():
    """Values lead to the solution against the prior; into terminal states, which the value
    head never learns, the step is the prior's (here not the solving one)."""
    from lmzero.search.baselines import decode
    model = ValuedScorer(favourite=SOLUTION)
    [r] = decode(TASK, model, [PUZZLE], [Budget()], legal=True, by_value=True)
    assert list(r.final_state.steps[:2]) == SOLUTION[:2]
    state = TASK.apply(TASK.apply(TASK.initial_state(PUZZLE), SOLUTION[0]), SOLUTION[1])
    [answer] = model.score([TASK.prompt(state)], [TASK.legal_steps(state)])
    assert r.final_state.steps[2] == answer.steps[0] != SOLUTION[2] and not r.solved
    assert r.budget.model_calls == 3 and model.scored[0] == TASK.legal_steps(
        TASK.initial_state(PUZZLE))


def test_value_greedy_breaks_ties_by_the_prior_and_needs_every_value():
    from lmzero.search.baselines import value_greedy_step
    state = TASK.initial_state(PUZZLE)
    steps = TASK.legal_steps(state)[:3]
    tied = Expansion(steps, [-0.1, -1.0, -2.0], step_values=[0.2, 0.7, 0.7])
    assert value_greedy_step(TASK, state, tied) == steps[1]
    with pytest.raises(ValueError, match="a next-state value for every scored step"):
        value_greedy_step(TASK, state, Expansion(steps, [-0.1, -1.0, -2.0],
                                                 step_values=[0.2]))
    assert value_greedy_step(TASK, state, Expansion()) == ""  # no step: the task's slip


def test_value_greedy_refuses_a_model_whose_scores_carry_no_next_state_values():
    from lmzero.eval.reasoning import MethodConfig, solve_problems
    from lmzero.search.baselines import decode
    with pytest.raises(ValueError, match=r"value-greedy reads .* \(ToyScorer\) gives none"):
        solve_problems(TASK, ToyScorer(), [PUZZLE], MethodConfig(method="value-greedy"))
    with pytest.raises(ValueError, match=r"value-greedy reads .* \(ToyModel\) gives none"):
        decode(TASK, ToyModel(), [PUZZLE], [Budget()], legal=True, by_value=True)

    class NoList:
        name = "nolist"

    with pytest.raises(ValueError, match="value-greedy scores the task's legal steps, and task "
                                         "'nolist' cannot list them"):
        decode(NoList(), ValuedScorer(), [PUZZLE], [Budget()], legal=True, by_value=True)
    with pytest.raises(ValueError, match="it needs legal actions"):
        decode(TASK, ValuedScorer(), [PUZZLE], [Budget()], by_value=True)
    assert MethodConfig(method="value-greedy").legal  # it always takes the legal steps


def test_best_first_backs_off_to_the_next_best_state_and_stops_at_a_verified_solution():
    """Values that lead to the solution (13 - 9, then 10 - 4) find it in three calls, the
    verifier judging 6 * 4 = 24 among the last state's next states; flat values spend the whole
    budget and leave no answer."""
    from lmzero.search.best_first import best_first
    model = ValuedScorer(favourite=SOLUTION)
    [r] = best_first(TASK, model, [PUZZLE], [Budget(max_calls=8)])
    # the root, then the favourite three- and two-number states: the third call's next states
    # include 6 * 4 = 24, which the verifier finds
    assert r.solved and r.answer is not None and r.budget.model_calls == 3
    assert list(r.final_state.steps[:2]) == SOLUTION[:2]
    [stuck] = best_first(TASK, ValuedScorer(), [PUZZLE], [Budget(max_calls=5)])
    assert stuck.budget.model_calls == 5 and not stuck.solved and stuck.final_state is None


def test_best_first_expands_states_in_value_order_across_the_tree():
    from lmzero.search.best_first import best_first

    class Ranked(ValuedScorer):
        """Values by the steps' order in the scoring call: the first is best everywhere."""
        def score(self, prompts, steps, *, with_value=True):
            out = super().score(prompts, steps, with_value=with_value)
            for a in out:
                a.step_values[:] = [1.0 - 0.01 * j for j in range(len(a.steps))]
            return out

    model = Ranked()
    best_first(TASK, model, [PUZZLE], [Budget(max_calls=3)])
    root = TASK.initial_state(PUZZLE)
    first = TASK.apply(root, TASK.legal_steps(root)[0])
    # call 2 expands the root's best next state (1.0), call 3 that state's best next state
    # (1.0), not the root's second (0.99)
    assert model.scored[1] == TASK.legal_steps(first)
    assert model.scored[2] == TASK.legal_steps(TASK.apply(first, TASK.legal_steps(first)[0]))


def test_best_first_needs_the_verifier_and_next_state_values():
    from lmzero.eval.reasoning import MethodConfig, solve_problems
    with pytest.raises(ValueError, match="best-first stops at the first verified solution"):
        MethodConfig(method="best-first", verifier=False)
    with pytest.raises(ValueError, match=r"best-first reads .* \(ToyScorer\) gives none"):
        solve_problems(TASK, ToyScorer(), [PUZZLE], MethodConfig(method="best-first"))
    assert MethodConfig(method="best-first").legal
