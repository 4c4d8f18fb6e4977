"""The step-task loops on a chosen torch device: pretraining, self-improvement and `lmzero eval
--device`.

Each loop test runs on the CPU everywhere (the device plumbing, with `device="cpu"` given
explicitly) and on the GPU too where torch sees one: the model, its learner and every scoring
call go to the device, checkpoints come back as CPU tensors, and a resumed run restores them.
The configuration checks run everywhere (a GPU is faked where a check needs one to pass; a
device torch cannot use is refused in `tests/test_cli_overrides.py`).
"""

from dataclasses import replace

import numpy as np
import pytest
import torch

from lmzero.learn.pretrain import PretrainConfig, pretrain
from lmzero.models.tinylm_steps import load_step_model
from lmzero.selfimprove import ImproveConfig, improve
from lmzero.tasks.game24 import TASK, problems
from tests.fault_runs import PRETRAIN
from tests.test_cli_edge import assert_user_error, lmzero
from tests.test_selfimprove import TINY

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs a CUDA GPU"))]


@pytest.fixture
def fake_gpu(monkeypatch):
    """`check_device` accepts cuda on this machine (for checks that come after it)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)


@pytest.mark.slow  # training steps, a resume and a reload
@pytest.mark.parametrize("device", DEVICES)
def test_pretraining_runs_resumes_and_loads_on(device, tmp_path):
    config = PretrainConfig(**dict(PRETRAIN, steps=8, checkpoint_every=4, eval_problems=2,
                                   device=device))
    pretrain(config, tmp_path / "run")
    rows = pretrain(config, tmp_path / "run", resume=True, steps=12)  # optimizer back on device
    assert [r["step"] for r in rows] == [3, 7, 11] and np.isfinite(rows[-1]["loss_policy"])
    model = load_step_model(tmp_path / "run", task=TASK, device=device)
    assert model.model.device.type == device
    states = [TASK.initial_state(p) for p in problems("heldout")[:3]]
    scored = model.score([TASK.prompt(s) for s in states], [TASK.legal_steps(s) for s in states])
    assert all(np.isfinite(a.logprobs).all() and -1 <= a.value <= 1 for a in scored)


@pytest.mark.slow  # a world-model stage, a round of search, learner steps and the held-out check
@pytest.mark.parametrize("device", DEVICES)
def test_self_improvement_runs_and_resumes_on(device, tmp_path):
    config = replace(TINY, iterations=1, problems_per_iteration=4, eval_problems=3,
                     greedy_problems=6, device=device,
                     pretrain=PretrainConfig(**dict(PRETRAIN, eval_problems=0)))
    assert config.pretrain.device == device  # the world-model stage runs there too
    improve(config, tmp_path / "run")
    rows = improve(config, tmp_path / "run", resume=True, iterations=2)
    assert [r["iteration"] for r in rows] == [-1, 0, 1]
    assert rows[-1]["learner_steps"] == 2 * TINY.learner.steps_per_iteration
    assert 0 <= rows[-1]["heldout_greedy_pass1"] <= 1
    assert load_step_model(tmp_path / "run", task=TASK).model.device.type == "cpu"


@pytest.mark.slow  # a round of sampling and policy-gradient steps from the shipped model
@pytest.mark.parametrize("device", DEVICES)
def test_grpo_with_its_kl_reference_runs_on(device, tmp_path):
    from lmzero.models.load import SHIPPED
    from lmzero.selfimprove import preset, with_algo
    config = with_algo(preset("game24", "quick"), "grpo")
    # the shipped self-improved model: its samples pass often enough to give advantages
    config = replace(config, init=str(SHIPPED / "game24"), iterations=1, device=device,
                     problems_per_iteration=6, eval_problems=3, greedy_problems=6,
                     eval_budget=4, threads=1, grpo=replace(config.grpo, kl_coef=0.05),
                     learner=replace(config.learner, steps_per_iteration=2, batch_size=16),
                     sampling=replace(config.sampling, group_size=4))
    row = improve(config, tmp_path / "run")[-1]
    assert row["learner_steps"] == 2 and np.isfinite(row["loss_kl"]) and row["loss_kl"] >= 0


def test_the_run_device_reaches_the_world_model_stage(fake_gpu):
    assert ImproveConfig(device="cuda:1").pretrain.device == "cuda:1"
    assert ImproveConfig().pretrain.device == "cpu"


def test_an_hf_trainee_is_pointed_at_its_own_device_option(fake_gpu):
    with pytest.raises(ValueError, match="an hf model's device is hf_model.device"):
        ImproveConfig(model="hf:/nowhere/model.gguf", device="cuda")


def test_train_refuses_an_unknown_device_in_one_line(monkeypatch, capsys, tmp_path):
    result = lmzero(monkeypatch, capsys, "train", "game24", "--run", tmp_path / "run",
                    "--set", "device=gpu")
    assert_user_error(result, "device 'gpu' is not a torch device")
    assert not (tmp_path / "run").exists()


def test_eval_refuses_an_unknown_device_in_one_line(monkeypatch, capsys):
    assert_user_error(lmzero(monkeypatch, capsys, "eval", "game24", "--device", "tpu"),
                      "--device: device 'tpu' is not a torch device")


def test_eval_refuses_a_device_for_a_served_model(monkeypatch, capsys, fake_gpu):
    assert_user_error(lmzero(monkeypatch, capsys, "eval", "game24", "--device", "cuda",
                             "--model", "openai:http://127.0.0.1:9/v1#m"),
                      "--device moves tinylm and hf models; openai models run where")


def test_eval_refuses_a_device_with_workers(monkeypatch, capsys, fake_gpu):
    assert_user_error(lmzero(monkeypatch, capsys, "eval", "game24", "--device", "cuda",
                             "--workers", "2"),
                      "with --workers the actors load their own copies")


def test_eval_on_the_cpu_device_solves_as_before(monkeypatch, capsys):
    args = ("eval", "game24", "--method", "greedy", "--limit", "8", "--json")
    default = lmzero(monkeypatch, capsys, *args)
    placed = lmzero(monkeypatch, capsys, *args, "--device", "cpu")
    assert default[0] == placed[0] == 0
    import json
    solved = [json.loads(r[1])["solved"] for r in (default, placed)]
    assert solved[0] == solved[1]
