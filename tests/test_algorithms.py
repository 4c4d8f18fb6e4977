"""The algorithms `lmzero train --algo` chooses between: sampled groups graded by the verifier,
GRPO's advantages, rows and clipped update, rejection sampling's targets, the learner's scoring
forward, the config and CLI checks, and (slow) a round of each algorithm end to end."""

import json
from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lmzero.learn.algorithms import (ALGORITHMS, GRPO, ExpertIteration, RejectionSampling,
                                     algorithm_for)
from lmzero.learn.grpo import GRPOConfig, GRPOUpdate, group_advantages, grpo_rows
from lmzero.learn.pretrain import PretrainConfig, build_model, tokenizer_for
from lmzero.learn.step_learner import StepLearner, StepLearnerConfig
from lmzero.models.step_model import Expansion
from lmzero.replay.buffer import TEXT_FIELDS
from lmzero.search.budget import Budget
from lmzero.selfimprove import ALGO_LEARNING_RATES, ImproveConfig, with_algo
from lmzero.selfplay.sampling_actor import (Group, SamplingConfig, Trajectory,
                                            outcome_value_rows, sample_groups)
from lmzero.selfplay.step_actor import rows_to_arrays
from lmzero.tasks import load_task
from lmzero.tasks.arith import Problem
from tests.test_cli_edge import assert_user_error, lmzero

TASK = load_task("game24")
PUZZLE = Problem.make([4, 9, 10, 13], 24)  # training split, bucket "4-7"
OTHER = Problem.make([1, 2, 3, 4], 24)  # training split
HELDOUT = Problem.make([1, 1, 4, 6], 24)  # held-out split
ROOT = "4 9 10 13 -> 24\n"
# two solutions of PUZZLE, through different first steps
A1 = "13 - 9 = 4 (left: 4 4 10)"
A2 = "10 - 4 = 6 (left: 4 6)"
B1 = "10 - 4 = 6 (left: 6 9 13)"
B2 = "13 - 9 = 4 (left: 4 6)"
LAST = "6 * 4 = 24 (left: 24)"
A1_UNSORTED = "13 - 9 = 4 (left: 10 4 4)"  # valid; the task writes it back as A1
WRONG = "13 - 9 = 3 (left: 3 4 10)"  # a wrong result: a dead end at once
NAN = float("nan")


class ScriptedModel:
    """A StepModel that writes, at each prompt, the next of that prompt's scripted steps in turn
    (so the j-th trajectory through a prompt gets its j-th step); an empty script, a "" entry or an
    unknown prompt gives no step at all. Costs: the prompt's and step's characters."""

    def __init__(self, script: dict[str, list[str]]):
        self.script, self.seen, self.calls = script, {}, []

    def expand(self, prompts, k, *, temperature=1.0, greedy=False, with_value=True):
        self.calls.append(dict(n=len(prompts), k=k, temperature=temperature, greedy=greedy,
                               with_value=with_value))
        out = []
        for prompt in prompts:
            options = self.script.get(prompt, [])
            i = self.seen.get(prompt, 0)
            self.seen[prompt] = i + 1
            step = options[i % len(options)] if options else ""
            steps = [step] if step else []
            out.append(Expansion(steps=steps, logprobs=[-1.0] * len(steps), value=None,
                                 prompt_tokens=len(prompt),
                                 generated_tokens=sum(len(s) + 1 for s in steps)))
        return out


def puzzle_script(root: list[str]) -> dict[str, list[str]]:
    """PUZZLE's root writes `root` in turn; after A1 or B1 the model finishes the solution."""
    return {ROOT: root, ROOT + A1 + "\n": [A2], ROOT + A1 + "\n" + A2 + "\n": [LAST],
            ROOT + B1 + "\n": [B2], ROOT + B1 + "\n" + B2 + "\n": [LAST]}


def charged(prompts_and_steps) -> tuple[int, int]:
    """(prompt tokens, generated tokens) ScriptedModel charges for these calls."""
    return (sum(len(p) for p, _ in prompts_and_steps),
            sum(len(s) + 1 for _, s in prompts_and_steps if s))


# -- group_advantages -------------------------------------------------------------------------


def test_group_advantages_are_standardised_rewards():
    a = group_advantages(np.array([1, 0, 0, 1], np.float32))
    assert np.allclose(a, [1, -1, -1, 1], atol=1e-3) and a.dtype == np.float32
    b = group_advantages(np.array([1, 0, 0, 0], np.float32))  # mean .25, std sqrt(3)/4
    assert np.allclose(b, np.array([0.75, -0.25, -0.25, -0.25]) / (np.sqrt(3) / 4), atol=1e-3)
    assert abs(b.sum()) < 1e-5


def test_group_advantages_without_std_scaling_are_mean_centred():
    a = group_advantages(np.array([1, 0, 0, 0], np.float32), scale_by_std=False)
    assert np.allclose(a, [0.75, -0.25, -0.25, -0.25])


@pytest.mark.parametrize("scale", [True, False])
def test_equal_rewards_give_zero_advantages(scale):
    for r in ([1, 1, 1], [0, 0, 0, 0], [0.5]):
        a = group_advantages(np.array(r, np.float32), scale_by_std=scale)
        assert np.array_equal(a, np.zeros(len(r))) and np.isfinite(a).all()


# -- grpo_rows, outcome_value_rows ------------------------------------------------------------


def walk(steps: list[str], reward: float) -> Trajectory:
    """A trajectory of PUZZLE through `steps` (their prompts as the task writes them)."""
    prompts, state = [], TASK.initial_state(PUZZLE)
    for s in steps:
        prompts.append(TASK.prompt(state))
        state = TASK.apply(state, s)
    return Trajectory(prompts=prompts, steps=list(steps), written=list(steps), reward=reward)


def test_grpo_rows_carry_each_trajectorys_advantage_and_monte_carlo_values():
    group = Group(PUZZLE, [walk([A1, A2, LAST], 1.0), walk([WRONG], 0.0),
                           walk([A1, "nonsense"], 0.0), walk([B1, B2, LAST], 1.0)], Budget())
    rows = grpo_rows(group, GRPOConfig())
    values = [r for r in rows if r[1] == ""]
    steps = [r for r in rows if r[1] != ""]
    assert len(values) + len(steps) == len(rows)
    assert all(w == 0.0 for _, _, w, _ in values)
    assert dict((p, v) for p, _, _, v in values) == {
        ROOT: 0.5,  # all four went through the root, two solved
        ROOT + A1 + "\n": 0.5, ROOT + A1 + "\n" + A2 + "\n": 1.0,
        ROOT + B1 + "\n": 1.0, ROOT + B1 + "\n" + B2 + "\n": 1.0}
    # one row per non-empty step, with its trajectory's advantage (+-1 here), no value target
    assert [(p, s) for p, s, _, _ in steps] == [
        (p, s) for w in group.trajectories for p, s in zip(w.prompts, w.steps)]
    assert len(steps) == 3 + 1 + 2 + 3
    assert all(np.isnan(v) for *_, v in steps)
    advantage = {s: w for _, s, w, _ in steps}
    assert advantage[A2] == pytest.approx(1, abs=1e-3) and advantage[B2] == advantage[A2]
    assert advantage[WRONG] == pytest.approx(-1, abs=1e-3) == advantage["nonsense"]
    dr = {s: w for _, s, w, _ in grpo_rows(group, GRPOConfig(scale_by_std=False)) if s}
    assert dr[A2] == pytest.approx(0.5) and dr[WRONG] == pytest.approx(-0.5)


def test_grpo_rows_skip_empty_steps():
    group = Group(PUZZLE, [walk([A1, A2, LAST], 1.0), walk([""], 0.0)], Budget())
    rows = grpo_rows(group, GRPOConfig())
    assert [s for _, s, _, _ in rows if s] == [A1, A2, LAST]
    assert all(w > 0.9 for _, s, w, _ in rows if s)


@pytest.mark.parametrize("reward", [0.0, 1.0])
def test_a_group_that_scored_alike_gives_only_value_rows(reward):
    group = Group(PUZZLE, [walk([A1, A2, LAST], reward), walk([B1, B2, LAST], reward)],
                  Budget())
    rows = grpo_rows(group, GRPOConfig())
    assert rows == outcome_value_rows(group)
    assert {s for _, s, _, _ in rows} == {""} and {v for *_, v in rows} == {reward}
    assert len(rows) == 5  # root, and two prompts down each path


def test_rows_to_arrays_of_no_rows_are_empty_replay_arrays():
    empty = rows_to_arrays([], "4-7", "x")
    assert set(empty) == set(TEXT_FIELDS) and all(len(v) == 0 for v in empty.values())
    arrays = rows_to_arrays([("p", "s", 0.5, NAN), ("p", "", 0.0, 1.0)], "4-7", "x")
    assert arrays["weight"].tolist() == [0.5, 0.0] and arrays["bucket"].tolist() == ["4-7"] * 2
    assert np.isnan(arrays["value"][0]) and arrays["value"][1] == 1.0


# -- sample_groups ----------------------------------------------------------------------------


def test_sample_groups_runs_group_size_trajectories_graded_by_the_verifier():
    model = ScriptedModel({**puzzle_script([A1_UNSORTED, WRONG, B1, ""]),
                           "1 2 3 4 -> 24\n": ["2 + 1 = 3 (left: 3 3 4)"],
                           "1 2 3 4 -> 24\n2 + 1 = 3 (left: 3 3 4)\n": ["3 + 3 = 6 (left: 4 6)"],
                           "1 2 3 4 -> 24\n2 + 1 = 3 (left: 3 3 4)\n3 + 3 = 6 (left: 4 6)\n":
                               ["6 + 4 = 10 (left: 10)"]})
    config = SamplingConfig(group_size=4, temperature=0.7)
    puzzle, other = sample_groups(TASK, model, [PUZZLE, OTHER], config, TASK.is_heldout)
    assert puzzle.problem == PUZZLE and other.problem == OTHER
    assert len(puzzle.trajectories) == len(other.trajectories) == 4
    # one batched call per step over every live trajectory, one sample each, no value asked
    assert [c["n"] for c in model.calls] == [8, 6, 6]
    assert all(c["k"] == 1 and c["temperature"] == 0.7 and not c["greedy"]
               and not c["with_value"] for c in model.calls)
    a, wrong, b, empty = puzzle.trajectories
    assert puzzle.rewards.tolist() == [1.0, 0.0, 1.0, 0.0] and puzzle.solved
    assert other.rewards.tolist() == [0.0] * 4 and not other.solved  # 3 + 3 + 4 = 10
    # the sampled text and the line the task wrote back (A1's left: sorted)
    assert a.steps == [A1_UNSORTED, A2, LAST] and a.written == [A1, A2, LAST]
    assert a.prompts == [ROOT, ROOT + A1 + "\n", ROOT + A1 + "\n" + A2 + "\n"]
    assert wrong.steps == wrong.written == [WRONG] and wrong.prompts == [ROOT]
    assert b.steps == b.written == [B1, B2, LAST]
    assert empty.steps == [""] and empty.prompts == [ROOT]
    # each call is charged to its own problem's budget: one per step sampled
    assert puzzle.budget.model_calls == 3 + 1 + 3 + 1 == sum(len(t.steps)
                                                             for t in puzzle.trajectories)
    assert other.budget.model_calls == 12
    calls = [(p, s) for t in puzzle.trajectories for p, s in zip(t.prompts, t.steps)]
    assert (puzzle.budget.prompt_tokens, puzzle.budget.generated_tokens) == charged(calls)
    assert puzzle.budget.stopped is not None


def test_a_trajectory_still_running_at_max_steps_scores_zero():
    model = ScriptedModel(puzzle_script([A1]))
    [group] = sample_groups(TASK, model, [PUZZLE], SamplingConfig(group_size=2, max_steps=2))
    assert [t.steps for t in group.trajectories] == [[A1, A2]] * 2
    assert group.rewards.tolist() == [0.0, 0.0] and group.budget.model_calls == 4


def test_heldout_problems_are_refused_before_any_sampling():
    model = ScriptedModel(puzzle_script([A1]))
    with pytest.raises(ValueError, match="held-out"):
        sample_groups(TASK, model, [PUZZLE, HELDOUT], SamplingConfig(group_size=2),
                      TASK.is_heldout)
    assert model.calls == []
    [group] = sample_groups(TASK, model, [HELDOUT], SamplingConfig(group_size=2))  # no check
    assert group.rewards.tolist() == [0.0, 0.0]


@pytest.mark.parametrize("kwargs", [dict(group_size=0), dict(max_steps=0),
                                    dict(temperature=0.0)])
def test_sampling_config_is_checked(kwargs):
    with pytest.raises(ValueError, match="group_size"):
        SamplingConfig(**kwargs)


# -- the algorithms' collect ------------------------------------------------------------------


def improve_config(**sampling) -> ImproveConfig:
    return ImproveConfig(task="game24", sampling=SamplingConfig(**sampling))


def test_rejection_sampling_keeps_the_distinct_passing_trajectories():
    # A1 twice (once as sampled unsorted: the same written trajectory), B once, two failures
    model = ScriptedModel(puzzle_script([A1_UNSORTED, WRONG, A1, B1, ""]))
    algo = RejectionSampling(improve_config(group_size=5, value_rows=True))
    attempts, data = algo.collect(TASK, model, [PUZZLE], seed=3)
    assert set(data) == set(TEXT_FIELDS)
    step = data["step"] != ""
    targets = sorted(zip(data["prompt"][step], data["step"][step]))
    assert targets == sorted([(ROOT, A1), (ROOT + A1 + "\n", A2),
                              (ROOT + A1 + "\n" + A2 + "\n", LAST), (ROOT, B1),
                              (ROOT + B1 + "\n", B2), (ROOT + B1 + "\n" + B2 + "\n", LAST)])
    assert (data["weight"][step] == 1.0).all() and np.isnan(data["value"][step]).all()
    assert (data["weight"][~step] == 0.0).all()
    values = dict(zip(data["prompt"][~step], data["value"][~step]))
    assert values == pytest.approx({ROOT: 3 / 5, ROOT + A1 + "\n": 1.0,
                                    ROOT + A1 + "\n" + A2 + "\n": 1.0, ROOT + B1 + "\n": 1.0,
                                    ROOT + B1 + "\n" + B2 + "\n": 1.0})
    assert set(data["bucket"]) == {"4-7"} and set(data["problem"]) == {"4 9 10 13 -> 24"}
    [attempt] = attempts
    assert attempt["problem"] == TASK.problem_to_json(PUZZLE) and attempt["solved"] is True
    assert attempt["examples"] == len(data["prompt"]) == 6 + 5
    assert attempt["model_calls"] == 3 + 1 + 3 + 3 + 1
    calls = [(ROOT, A1_UNSORTED), (ROOT + A1 + "\n", A2), (ROOT + A1 + "\n" + A2 + "\n", LAST),
             (ROOT, WRONG), (ROOT, A1), (ROOT + A1 + "\n", A2),
             (ROOT + A1 + "\n" + A2 + "\n", LAST), (ROOT, B1), (ROOT + B1 + "\n", B2),
             (ROOT + B1 + "\n" + B2 + "\n", LAST), (ROOT, "")]
    assert (attempt["prompt_tokens"], attempt["generated_tokens"]) == charged(calls)


def test_rejection_sampling_of_an_unsolved_problem_keeps_only_values():
    model = ScriptedModel(puzzle_script([WRONG, ""]))
    attempts, data = RejectionSampling(improve_config(group_size=4, value_rows=True)).collect(
        TASK, model, [PUZZLE], seed=0)
    assert data["step"].tolist() == [""] and data["value"].tolist() == [0.0]
    assert attempts[0]["solved"] is False and attempts[0]["examples"] == 1
    # without value rows (the default: no critic) an unsolved problem leaves nothing
    attempts, data = RejectionSampling(improve_config(group_size=4)).collect(
        TASK, ScriptedModel(puzzle_script([WRONG, ""])), [PUZZLE], seed=0)
    assert len(data["prompt"]) == 0 and attempts[0]["examples"] == 0


def test_rft_sees_its_passing_rows_at_most_epochs_times():
    """A round's learner steps are capped so each passing step row is drawn ~`epochs` times
    (policy rows per step: batch_size x policy_fraction)."""
    from dataclasses import replace

    class Trainee:
        calls = []

        def train(self, data, steps, rng, probabilities):
            self.calls.append(steps)
            return dict(policy=0.0, value=0.0)

    class Replay:
        def __init__(self, n_pass):
            self.data = dict(prompt=np.array(["p"] * (n_pass + 5)), weight=np.array(
                [1.0] * n_pass + [0.0] * 5, np.float32))

        def window_arrays(self):
            return self.data

    config = improve_config(epochs=2.0)
    config = replace(config, learner=replace(config.learner, batch_size=64,
                                             policy_fraction=0.5, steps_per_iteration=150))
    trainee = Trainee()
    algo = RejectionSampling(config)
    for n_pass in (15, 1000, 10_000):
        algo.train(trainee, Replay(n_pass), 0, None, np.random.default_rng(0))
    assert trainee.calls == [1, 63, 150]  # ceil(2 * 15 / 32), ceil(2 * 1000 / 32), the cap
    assert np.isnan(algo.train(trainee, Replay(0), 0, None, None)["policy"])
    assert trainee.calls == [1, 63, 150]  # nothing passed: no step at all


def test_rejection_sampling_refuses_heldout_problems():
    with pytest.raises(ValueError, match="held-out"):
        RejectionSampling(improve_config(group_size=2)).collect(
            TASK, ScriptedModel({}), [HELDOUT], seed=0)


def test_grpo_collect_weights_the_sampled_steps_by_advantage():
    model = ScriptedModel(puzzle_script([A1_UNSORTED, WRONG]))
    attempts, data = GRPO(improve_config(group_size=4)).collect(TASK, model, [PUZZLE], seed=0)
    step = data["step"] != ""
    weight = dict(zip(data["step"][step], data["weight"][step]))
    # the ratio is of the text the policy wrote: A1 as sampled, not as the task rewrote it
    assert set(weight) == {A1_UNSORTED, A2, LAST, WRONG}
    assert weight[A1_UNSORTED] == pytest.approx(1, abs=1e-3)
    assert weight[WRONG] == pytest.approx(-1, abs=1e-3)
    assert step.sum() == 2 * 3 + 2 * 1
    assert attempts[0]["model_calls"] == 8 and attempts[0]["examples"] == len(data["step"])


def test_algorithm_for_builds_the_configured_algorithm():
    assert list(ALGORITHMS) == ["expert-iteration", "rft", "grpo"]
    assert isinstance(algorithm_for(ImproveConfig()), ExpertIteration)
    assert isinstance(algorithm_for(ImproveConfig(algo="rft")), RejectionSampling)
    reference = torch.nn.Linear(1, 1)
    grpo = algorithm_for(ImproveConfig(algo="grpo"), reference)
    assert isinstance(grpo, GRPO) and grpo.reference is reference


# -- StepLearner.score ------------------------------------------------------------------------


def learner(lr=3e-3, total_steps=40) -> StepLearner:
    torch.manual_seed(0)
    tokenizer = tokenizer_for(TASK)
    model = build_model(PretrainConfig(model=dict(n_layer=1, n_embd=32, n_head=2,
                                                  block_size=96)), tokenizer)
    model.eval()
    return StepLearner(model, tokenizer,
                       StepLearnerConfig(batch_size=4, lr=lr, warmup_steps=1), total_steps)


def summed(lrn: StepLearner, prompts, steps, temperature=1.0) -> np.ndarray:
    with torch.no_grad():
        logp, _, _ = lrn.score(prompts, steps, temperature, np.full(len(prompts), NAN))
    return logp.sum(1).numpy()


@pytest.mark.parametrize("temperature", [1.0, 0.5])
def test_score_is_the_log_softmax_of_each_step_character_and_its_newline(temperature):
    lrn = learner()
    prompts, steps = [ROOT, ROOT + A1 + "\n", ROOT], [B1, A2, ""]
    with torch.no_grad():
        logp, mask, value_loss = lrn.score(prompts, steps, temperature, [NAN, 0.5, 1.0])
    tok = lrn.tokenizer
    for b, (prompt, step) in enumerate(zip(prompts, steps)):
        n = len(step) + 1 if step else 0
        expected_mask = torch.zeros(mask.shape[1], dtype=torch.bool)
        expected_mask[len(prompt):len(prompt) + n] = True  # position t predicts token t + 1
        assert torch.equal(mask[b], expected_mask)
        assert (logp[b][~mask[b]] == 0).all()
        if not step:
            continue
        ids = [tok.bos_id, *tok.encode(prompt + step + "\n")]
        with torch.no_grad():  # the row alone, unpadded
            logits, _ = lrn.model(torch.tensor([ids]))
        ref = F.log_softmax(logits[0] / temperature, -1)
        positions = range(len(prompt), len(prompt) + n)
        expected = torch.stack([ref[t, ids[t + 1]] for t in positions])
        assert torch.allclose(logp[b, len(prompt):len(prompt) + n], expected, atol=1e-5)
        assert (expected < 0).all()
    # the value loss is the learner's own (rows with a NaN target left out)
    with torch.no_grad():
        losses = lrn.losses(prompts, steps, [0.0, 0.0, 0.0], [NAN, 0.5, 1.0])
    assert value_loss.item() == pytest.approx(losses["value"].item(), abs=1e-6)


def test_score_under_another_model_uses_that_model():
    lrn, other = learner(), learner()
    with torch.no_grad():
        for p in other.model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    with torch.no_grad():
        mine = lrn.score([ROOT], [A1], 1.0, [NAN])[0]
        theirs = lrn.score([ROOT], [A1], 1.0, [NAN], model=other.model)[0]
        direct = other.score([ROOT], [A1], 1.0, [NAN])[0]
    assert torch.allclose(theirs, direct) and not torch.allclose(mine, theirs)


# -- GRPOUpdate -------------------------------------------------------------------------------


def grpo_data(good=A1, bad=B1) -> dict:
    """One prompt, a step with advantage +1 and one with -1, and a value row."""
    return rows_to_arrays([(ROOT, good, 1.0, NAN), (ROOT, bad, -1.0, NAN), (ROOT, "", 0.0, 0.5)],
                          "4-7", "4 9 10 13 -> 24")


def test_grpo_update_raises_the_positive_step_and_lowers_the_negative_one():
    lrn = learner()
    data = grpo_data()
    before = summed(lrn, [ROOT, ROOT], [A1, B1])
    losses = GRPOUpdate(lrn, GRPOConfig(epochs=30), temperature=1.0).run(
        data, steps=15, batch_size=4, rng=np.random.default_rng(0))
    after = summed(lrn, [ROOT, ROOT], [A1, B1])
    assert after[0] > before[0] + 1 and after[1] < before[1] - 1, (before, after)
    assert lrn.step_count == 15 and not lrn.model.training
    assert set(losses) == {"policy", "value", "kl", "clipped"}
    assert losses["kl"] == 0.0 and 0 < losses["clipped"] <= 1  # the ratio left the clip range


def test_grpo_first_update_has_ratio_one():
    lrn = learner()
    good, bad = A1, "4 + 4 = 8 (left: 8 9 10 13)"  # different lengths: 26 and 28 tokens
    losses = GRPOUpdate(lrn, GRPOConfig(), temperature=1.0).run(
        grpo_data(good, bad), steps=1, batch_size=4, rng=np.random.default_rng(0))
    assert losses["clipped"] == 0.0
    # ratio 1: the surrogate is the token-level mean of the advantages
    n_good, n_bad = len(good) + 1, len(bad) + 1
    assert losses["policy"] == pytest.approx(-(n_good - n_bad) / (n_good + n_bad), abs=1e-3)


def test_grpo_kl_to_a_frozen_reference_is_nonnegative_and_grows():
    lrn = learner(lr=1e-2)
    reference = GRPOUpdate.frozen_copy(lrn.model)
    assert reference is not lrn.model and not reference.training
    assert not any(p.requires_grad for p in reference.parameters())
    start = {k: v.clone() for k, v in reference.state_dict().items()}
    update = GRPOUpdate(lrn, GRPOConfig(kl_coef=0.1, epochs=100), temperature=1.0,
                        reference=reference)
    first = update.run(grpo_data(), steps=1, batch_size=4, rng=np.random.default_rng(0))
    assert first["kl"] == pytest.approx(0.0, abs=1e-5)  # the policy is the reference
    later = update.run(grpo_data(), steps=8, batch_size=4, rng=np.random.default_rng(1))
    assert later["kl"] > 1e-4
    assert all(torch.equal(v, reference.state_dict()[k]) for k, v in start.items())
    assert any(not torch.equal(v, lrn.model.state_dict()[k]) for k, v in start.items())


def test_grpo_update_makes_at_most_epochs_passes():
    """A round's steps are capped at ceil(epochs * rows / batch_size): 2 step rows and a value
    row, batch 4 -> one step per 2 epochs (PPO's mu), whatever `steps` asks."""
    for epochs, expected in ((2.0, 1), (4.0, 2), (100.0, 15)):
        lrn = learner()
        GRPOUpdate(lrn, GRPOConfig(epochs=epochs), temperature=1.0).run(
            grpo_data(), steps=15, batch_size=4, rng=np.random.default_rng(0))
        assert lrn.step_count == expected


def test_grpo_update_without_steps_or_rows_does_nothing():
    lrn = learner()
    update = GRPOUpdate(lrn, GRPOConfig(), temperature=1.0)
    for data, steps in ((grpo_data(), 0), (rows_to_arrays([], "b", "p"), 5)):
        losses = update.run(data, steps, 4, np.random.default_rng(0))
        assert np.isnan(losses["policy"]) and np.isnan(losses["value"])
    assert lrn.step_count == 0


def test_grpo_update_on_value_rows_alone_fits_the_values():
    lrn = learner()
    data = rows_to_arrays([(ROOT, "", 0.0, 1.0), (ROOT + A1 + "\n", "", 0.0, 1.0)], "b", "p")
    first = GRPOUpdate(lrn, GRPOConfig(), 1.0).run(data, 1, 4, np.random.default_rng(0))
    later = GRPOUpdate(lrn, GRPOConfig(), 1.0).run(data, 10, 4, np.random.default_rng(0))
    assert first["policy"] == 0.0 and later["value"] < first["value"]


@pytest.mark.parametrize("kwargs", [dict(clip=0.0), dict(clip=1.0), dict(kl_coef=-0.1),
                                    dict(value_weight=-1.0)])
def test_grpo_config_is_checked(kwargs):
    with pytest.raises(ValueError, match="clip"):
        GRPOConfig(**kwargs)


# -- ImproveConfig ----------------------------------------------------------------------------


def test_an_unknown_algo_is_refused_naming_the_choices():
    with pytest.raises(ValueError, match="'ppo'.*expert-iteration, rft, grpo"):
        ImproveConfig(algo="ppo")
    with pytest.raises(ValueError, match="'ppo'.*expert-iteration, rft, grpo"):
        with_algo(ImproveConfig(), "ppo")


def test_with_algo_sets_the_algorithms_learning_rate():
    base = ImproveConfig(learner=StepLearnerConfig(lr=1e-3))
    grpo = with_algo(base, "grpo")
    assert grpo.algo == "grpo" and grpo.learner.lr == ALGO_LEARNING_RATES["grpo"] == 3e-4
    assert grpo.learner.steps_per_iteration == base.learner.steps_per_iteration
    rft = with_algo(base, "rft")
    assert rft.algo == "rft" and rft.learner.lr == 1e-3
    assert base.algo == "expert-iteration" and base.learner.lr == 1e-3  # not changed


def test_sampling_and_grpo_configs_come_back_from_config_json():
    config = ImproveConfig(algo="grpo", sampling=dict(group_size=3, temperature=0.5),
                           grpo=dict(kl_coef=0.05))
    assert config.sampling == SamplingConfig(group_size=3, temperature=0.5)
    assert config.grpo == GRPOConfig(kl_coef=0.05)


def test_a_kl_reference_needs_a_starting_tinylm():
    """kl_coef > 0 from scratch would pull the policy towards random weights, and an hf model's
    reference is not wired: both refused when the config is made."""
    with pytest.raises(ValueError, match="needs a starting model"):
        ImproveConfig(algo="grpo", from_scratch=True, grpo=GRPOConfig(kl_coef=0.1))
    with pytest.raises(ValueError, match="tinylm only"):
        ImproveConfig(algo="grpo", model="hf:x.gguf", grpo=GRPOConfig(kl_coef=0.1))
    assert ImproveConfig(algo="grpo", from_scratch=True).grpo.kl_coef == 0


# -- the CLI ----------------------------------------------------------------------------------


@pytest.mark.parametrize("args, fragment", [
    (["train", "game24", "--stage", "pretrain", "--algo", "grpo"],
     "--algo applies to --stage selfplay"),
    (["train", "connect4", "--algo", "rft"], "--algo applies to step tasks"),
])
def test_algo_where_it_does_not_apply_is_one_line(monkeypatch, capsys, tmp_path, args,
                                                  fragment):
    run = tmp_path / "run"
    assert_user_error(lmzero(monkeypatch, capsys, *args, "--run", run), fragment)
    assert not run.exists()


def test_resuming_with_another_algo_is_refused(monkeypatch, capsys, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"algo": "rft", "task": "game24"}))
    assert_user_error(lmzero(monkeypatch, capsys, "train", "game24", "--run", run, "--resume",
                             "--algo", "grpo"),
                      f"{run} was trained with --algo rft", "start a new --run")
    assert sorted(p.name for p in run.iterdir()) == ["config.json"]  # nothing started


def test_check_resumed_algo_reads_only_the_algo_key(tmp_path):
    from lmzero.cli.common import UserError
    from lmzero.cli.reasoning import _check_resumed_algo
    run = tmp_path / "run"
    _check_resumed_algo(run, "grpo")  # no config: open_run reports it
    run.mkdir()
    (run / "config.json").write_text("{not json")
    _check_resumed_algo(run, "grpo")
    (run / "config.json").write_text(json.dumps({"algo": "grpo"}))
    _check_resumed_algo(run, "grpo")
    (run / "config.json").write_text(json.dumps({"task": "game24"}))  # before --algo existed
    _check_resumed_algo(run, "expert-iteration")
    with pytest.raises(UserError, match="--algo expert-iteration"):
        _check_resumed_algo(run, "rft")


def test_an_unknown_algo_is_a_usage_error(monkeypatch, capsys):
    code, stdout, stderr = lmzero(monkeypatch, capsys, "train", "game24", "--algo", "ppo")
    assert code == 2 and stdout == ""
    assert "--algo" in stderr and "ppo" in stderr and stderr.count("\n") == 1


# -- end to end (slow) ------------------------------------------------------------------------


@pytest.mark.slow  # three short runs of self-improvement from the shipped world model
@pytest.mark.parametrize("algo", list(ALGORITHMS))
def test_a_round_of_each_algo_records_its_compute(tmp_path, algo):
    from lmzero.models.load import SHIPPED
    from lmzero.selfimprove import improve, preset
    config = with_algo(preset("game24", "quick"), algo)
    # from the shipped self-improved model: its samples pass often enough that rft and grpo
    # have rows to learn from (their steps are capped by the rows they have; none from the
    # world model's 8 x 4 samples)
    config = replace(config, init=str(SHIPPED / "game24"), iterations=1,
                     problems_per_iteration=8, eval_problems=4,
                     greedy_problems=8, eval_budget=8,
                     actor=replace(config.actor, budget=8),
                     learner=replace(config.learner, steps_per_iteration=3, batch_size=16),
                     sampling=replace(config.sampling, group_size=4),
                     threads=1)  # the preset's 2 threads: ~25 times slower on 2 busy cores
    rows = improve(config, tmp_path / "run")
    assert [r["iteration"] for r in rows] == [-1, 0]
    row = rows[-1]
    assert row["algo"] == algo and row["problems"] == 8
    assert row["round_model_calls"] > 0 and row["round_generated_tokens"] > 0
    assert row["tokens_spent"] == row["round_prompt_tokens"] + row["round_generated_tokens"]
    assert row["learner_steps"] == 3
    if algo == "grpo":
        assert {"loss_policy", "loss_value", "loss_kl", "loss_clipped"} <= set(row)
    attempts = json.loads((tmp_path / "run" / "replay" / "attempts-000000.json").read_text())
    assert sum(a["model_calls"] for a in attempts) == row["round_model_calls"]
    if algo != "expert-iteration":  # a whole group per problem, each step one call
        assert all(a["model_calls"] >= 4 for a in attempts)

    rows = improve(config, tmp_path / "run", resume=True, iterations=2)
    assert [r["iteration"] for r in rows] == [-1, 0, 1]
    first, second = rows[1], rows[2]
    assert second["algo"] == algo and second["learner_steps"] == 6
    assert second["tokens_spent"] == (first["tokens_spent"] + second["round_prompt_tokens"]
                                      + second["round_generated_tokens"])
