"""`lmzero train --set FIELD=VALUE`: any config field from the command line, checked."""

import pytest
import torch

from lmzero.cli.common import UserError
from lmzero.cli.overrides import apply_overrides
from lmzero.learn.pretrain import PretrainConfig
from lmzero.loop import preset_config
from lmzero.selfimprove import ImproveConfig


def test_nested_fields_are_set_with_their_types():
    config = apply_overrides(ImproveConfig(), ["actor.retry_budget=192", "learner.lr=1",
                                               "actor.policy_target=improved", "curate=false",
                                               "init=null", "actor.search.actions=legal"])
    assert config.actor.retry_budget == 192 and config.actor.policy_target == "improved"
    assert config.learner.lr == 1 and config.curate is False and config.init is None
    assert config.actor.search.actions == "legal"
    assert ImproveConfig().actor.retry_budget == 0  # the default is untouched


def test_phases_are_set_as_json():
    config = apply_overrides(ImproveConfig(iterations=8), [
        'phases=[{"from": 5, "set": {"actor.search.actions": "legal"}}]'])
    assert config.phases == [{"from": 5, "set": {"actor.search.actions": "legal"}}]


def test_a_game_config_takes_them_too():
    config = apply_overrides(preset_config("connect4", "quick"),
                             ["selfplay.simulations=32", "learner.lr=0.01"])
    assert config.selfplay.simulations == 32 and config.learner.lr == 0.01


@pytest.mark.parametrize("assignment, message", [
    ("actor.retry=1", "StepActorConfig has no field 'retry' (fields: budget, min_visits"),
    ("actor.retries=3", "StepActorConfig has no field 'retries'"),
    ("actor.retry_budget=many", "--set actor.retry_budget: expected int, got \"many\""),
    ("actor.retry_budget=2.5", "expected int, got 2.5"),
    ("curate=1", "expected bool, got 1"),
    ("actor.retry_budget=-1", "--set actor.retry_budget: retry_budget must be >= 0"),
    ("actor.policy_target=prior", "policy_target must be 'visits' or 'improved'"),
    ("actor=3", "--set actor: names a group of fields"),
    ("iterations.x=3", "'iterations' is a value, not a group of fields"),
    ("=3", "expected FIELD=VALUE"),
    ("actor.retry_budget", "expected FIELD=VALUE"),
    ('phases=[{"from": 2, "set": {"seed": 1}}]', "--set phases: phases[0]: seed is fixed"),
    ('phases=[{"from": 2, "set": {"actor.retry_budget": "x"}}]',
     "--set phases: phases[0]: actor.retry_budget: expected int, got \"x\""),
])
def test_a_wrong_assignment_is_one_line_naming_it(assignment, message):
    with pytest.raises(UserError) as error:
        apply_overrides(ImproveConfig(), [assignment])
    text = str(error.value)
    assert message in text and "\n" not in text


@pytest.mark.parametrize("value, message", [
    ("gpu", "device 'gpu' is not a torch device (cpu, cuda, cuda:N)"),
    ("mps", "device 'mps': lmzero's networks run on cpu or cuda"),
    pytest.param("cuda", "device 'cuda': torch sees no CUDA GPU on this machine",
                 marks=pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is here")),
])
def test_a_device_this_machine_lacks_is_one_line(value, message):
    for config in (preset_config("connect4", "quick"), ImproveConfig()):  # games, step tasks
        with pytest.raises(UserError) as error:
            apply_overrides(config, [f"device={value}"])
        assert f"--set device: {message}" == str(error.value)
    with pytest.raises(ValueError) as error:  # the world-model stage checks its own
        PretrainConfig(device=value)
    assert str(error.value) == message


def test_the_cpu_device_trains_as_before():
    assert apply_overrides(preset_config("connect4", "quick"), ["device=cpu"]).device == "cpu"
