"""Phases of a self-improvement run: later iterations under other settings, one command."""

import json
import math
import shutil
from dataclasses import replace

import pytest
import torch

from lmzero import checkpoint
from lmzero.phases import config_at, phase_bounds, phase_index
from lmzero.run import Run
from lmzero.selfimprove import ImproveConfig, improve, preset
from tests.test_selfimprove import TINY

LEGAL = {"actor.search.actions": "legal", "actor.retry_budget": 8, "problems_per_iteration": 5}


def test_a_phase_applies_its_settings_from_its_iteration_on():
    config = ImproveConfig(iterations=8, phases=[{"from": 3, "set": LEGAL},
                                                 {"from": 6, "set": {"learner.lr": 0.5}}])
    assert [phase_index(config, i) for i in (0, 2, 3, 5, 6, 7)] == [0, 0, 1, 1, 2, 2]
    assert [phase_bounds(config, i) for i in (0, 4, 7)] == [(0, 3), (3, 6), (6, 8)]
    first, second, third = (config_at(config, i) for i in (2, 3, 6))
    assert first.actor.search.actions == "sampled" and first.problems_per_iteration == 128
    assert second.actor.search.actions == "legal" and second.actor.retry_budget == 8
    assert second.problems_per_iteration == 5 and second.learner.lr == config.learner.lr
    assert third.actor.search.actions == "legal" and third.learner.lr == 0.5  # phases add up
    assert second.phases == [] and config.actor.search.actions == "sampled"


def test_countdown_full_is_one_command_of_two_phases():
    config = preset("countdown", "full")
    assert config.iterations == 20 and config.phases[0]["from"] == 14
    late = config_at(config, 14)
    assert config_at(config, 13).actor.search.actions == "sampled"
    assert (late.actor.search.actions, late.actor.retry_budget,
            late.problems_per_iteration) == ("legal", 128, 128)


@pytest.mark.parametrize("phases, message", [
    ([{"from": 2}], "phases[0]: expected {\"from\": ITERATION"),
    ([{"from": 0, "set": LEGAL}], "phases[0]: \"from\" must be an iteration after 0"),
    ([{"from": 3, "set": LEGAL}, {"from": 3, "set": LEGAL}], "phases[1]: \"from\" must be"),
    ([{"from": True, "set": LEGAL}], "\"from\" must be an iteration"),
    ([{"from": 2, "set": {}}], "phases[0]: \"set\" must map at least one FIELD"),
    ([{"from": 2, "set": {"iterations": 9}}], "phases[0]: iterations is fixed for the whole run"),
    ([{"from": 2, "set": {"pretrain.steps": 9}}], "pretrain.steps is fixed"),
    ([{"from": 2, "set": {"actor.retries": 9}}],
     "phases[0]: actor.retries: StepActorConfig has no field 'retries'"),
    ([{"from": 2, "set": {"actor.retry_budget": -1}}],
     "phases[0]: actor.retry_budget: retry_budget must be >= 0"),
    ([{"from": 2, "set": {"actor.search.actions": 3}}], "expected str, got 3"),
])
def test_a_wrong_phase_is_one_error_naming_it(phases, message):
    with pytest.raises(ValueError) as error:
        ImproveConfig(phases=phases)
    assert message in str(error.value) and "\n" not in str(error.value)


PHASED = replace(TINY, iterations=3, phases=[
    {"from": 1, "set": {**LEGAL, "learner.steps_per_iteration": 3}}])


@pytest.mark.slow  # a two-iteration training run
def test_a_phased_run_changes_search_and_restarts_its_learner_and_window(tmp_path):
    learner = replace(PHASED.learner, warmup_steps=1, lr=0.01)
    rows = improve(replace(PHASED, learner=learner), tmp_path / "run")
    done = [r for r in rows if r["iteration"] >= 0]
    assert [r["phase"] for r in done] == [0, 1, 1]
    assert [r["learner_steps"] for r in done] == [5, 8, 11]
    # each phase's cosine ends at 0.1 x the peak: phase 1's spans its own 6 steps (3 done: 0.4)
    middle = 0.01 * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.4)))
    assert [r["lr"] for r in done] == [0.001, float(f"{middle:.3g}"), 0.001]
    assert [r["problems"] for r in done] == [12, 5, 5]
    # legal actions score every step and generate nothing; the first phase sampled steps
    assert done[0]["round_generated_tokens"] > 0
    assert done[1]["round_generated_tokens"] == done[2]["round_generated_tokens"] == 0
    # the second phase's window leaves out the first phase's round
    sizes = [len(json.loads((tmp_path / "run" / "replay" / f"attempts-{i:06d}.json")
                            .read_text())) for i in range(3)]
    assert sizes == [12, 5, 5]
    from lmzero.replay.buffer import TEXT_FIELDS, ReplayBuffer
    replay = ReplayBuffer(tmp_path / "run" / "replay", fields=TEXT_FIELDS)
    shard = [len(replay.shard_arrays(i)["prompt"]) for i in range(3)]
    assert done[1]["examples"] == shard[1] and done[2]["examples"] == shard[1] + shard[2]


@pytest.mark.slow  # two small runs and a resume (~10 s)
def test_a_resume_inside_a_phase_trains_as_the_uninterrupted_run(tmp_path):
    config = replace(PHASED, learner=replace(PHASED.learner, warmup_steps=1))  # cosine matters
    improve(config, tmp_path / "whole")
    shutil.copytree(tmp_path / "whole", tmp_path / "cut")  # then killed before its last save:
    shutil.rmtree(Run(tmp_path / "cut").checkpoint(2))
    metrics = tmp_path / "cut" / "metrics.jsonl"
    metrics.write_text("".join(line for line in metrics.read_text().splitlines(True)
                               if json.loads(line)["iteration"] != 2))
    improve(config, tmp_path / "cut", resume=True)
    weights = [checkpoint.load(Run(tmp_path / name).checkpoint(2))[0] for name in ("whole", "cut")]
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])


@pytest.mark.slow  # the refusal comes after the run's start is pretrained and evaluated (~5 s)
def test_scaled_out_runs_refuse_phases_before_starting_ray(tmp_path):
    from lmzero.distributed import ScaleError
    from lmzero.distributed.config import ScaleConfig
    with pytest.raises(ScaleError, match="--workers does not run a config with phases"):
        improve(replace(PHASED, iterations=1), tmp_path / "run", scale=ScaleConfig(workers=2))
