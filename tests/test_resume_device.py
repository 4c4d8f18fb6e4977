"""A run begun on one device goes on on another: `lmzero train --resume --device cpu` on a run
whose config.json names a GPU this machine lacks, and `lmzero report` of such a run.

The GPU run is made here by sealing a CPU run's config.json with `device="cuda"` (torch's
CUDA check faked only while the config is built): checkpoints hold CPU tensors whichever device
wrote them, so the config is all that ties a run to its GPU.
"""

from dataclasses import replace

import pytest
import torch

from lmzero.learn import LearnerConfig
from lmzero.learn.pretrain import PretrainConfig, load_config, pretrain
from lmzero.loop import TrainConfig
from lmzero.run import Run, open_run
from lmzero.selfimprove import ImproveConfig, improve
from lmzero.selfplay import SelfPlayConfig
from tests.fault_runs import PRETRAIN
from tests.test_cli_edge import assert_user_error, lmzero
from tests.test_selfimprove import TINY

TTT = TrainConfig(game="tictactoe", iterations=1, selfplay=SelfPlayConfig(games=4),
                  learner=LearnerConfig(batch_size=16))
NO_GPU = "torch sees no CUDA GPU on this machine"


def begun_on_gpu(monkeypatch, run_dir, config):
    """Seal `run_dir`'s config.json as `config` on cuda, as a GPU machine would have."""
    with monkeypatch.context() as faked:
        faked.setattr(torch.cuda, "is_available", lambda: True)
        Run(run_dir).save_config(replace(config, device="cuda"))


@pytest.fixture(autouse=True)
def no_gpu(monkeypatch):
    """This machine has no GPU, whatever the one running the tests has."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


def test_a_gpu_run_resumes_only_with_its_device_replaced(monkeypatch, tmp_path):
    open_run(tmp_path / "run", TTT)
    begun_on_gpu(monkeypatch, tmp_path / "run", TTT)
    with pytest.raises(ValueError, match=f"config.json: device 'cuda': {NO_GPU}"):
        open_run(tmp_path / "run", TTT, resume=True)
    run, config = open_run(tmp_path / "run", TTT, resume=True, device="cpu")
    assert config == TTT and run.load_config(TrainConfig).device == "cpu"  # saved so


def test_a_self_improvement_run_moves_its_world_model_stage_with_it(monkeypatch, tmp_path):
    config = replace(TINY, pretrain=PretrainConfig(**PRETRAIN))
    open_run(tmp_path / "run", config)
    begun_on_gpu(monkeypatch, tmp_path / "run", config)
    assert Run(tmp_path / "run").config_path.read_text().count('"device": "cuda"') == 2
    _, resumed = open_run(tmp_path / "run", config, resume=True, device="cpu")
    assert (resumed.device, resumed.pretrain.device) == ("cpu", "cpu")
    stage = PretrainConfig(**PRETRAIN)
    open_run(tmp_path / "stage", stage, digits=7)
    begun_on_gpu(monkeypatch, tmp_path / "stage", stage)
    with pytest.raises(ValueError, match=NO_GPU):
        load_config(tmp_path / "stage")
    assert load_config(tmp_path / "stage", "cpu") == stage


@pytest.mark.slow  # two iterations of self-play and a report's searches
def test_train_resume_takes_device_and_report_reads_a_gpu_run(monkeypatch, capsys, tmp_path):
    """One iteration of tic-tac-toe on the CPU, sealed as a GPU run: `--resume` alone is one
    line naming the device; `lmzero report` reads it; `--resume --device cpu` trains on."""
    from lmzero.loop import train
    train(TTT, tmp_path / "run")
    begun_on_gpu(monkeypatch, tmp_path / "run", TTT)
    resume = ["train", "tictactoe", "--run", tmp_path / "run", "--resume", "--iterations", 2]
    assert_user_error(lmzero(monkeypatch, capsys, *resume), f"device 'cuda': {NO_GPU}")
    code, _, stderr = lmzero(monkeypatch, capsys, "report", tmp_path / "run", "--examples", 1)
    assert code == 0, stderr
    code, stdout, stderr = lmzero(monkeypatch, capsys, *resume, "--device", "cpu")
    assert code == 0, stderr
    assert "iteration 1:" in stdout and "iteration 0:" not in stdout  # went on, redid nothing
    assert Run(tmp_path / "run").load_config(TrainConfig) == replace(TTT, iterations=2)


@pytest.mark.parametrize("stage", ["selfplay", "pretrain"])
@pytest.mark.parametrize("device, message", [
    ("gpu", "--device: device 'gpu' is not a torch device (cpu, cuda, cuda:N)"),
    ("cuda", f"--device: device 'cuda': {NO_GPU}")])
def test_train_refuses_a_device_it_cannot_use_before_any_run(monkeypatch, capsys, tmp_path,
                                                             stage, device, message):
    result = lmzero(monkeypatch, capsys, "train", "game24", "--stage", stage, "--run",
                    tmp_path / "run", "--device", device)
    assert_user_error(result, message)
    assert not (tmp_path / "run").exists()


def test_device_on_a_new_run_comes_after_set(monkeypatch, capsys, tmp_path):
    """`--set device=cuda --device cpu`: the run is made on the CPU (the GPU faked only so
    that `--set` accepts it)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    code, _, stderr = lmzero(monkeypatch, capsys, "train", "tictactoe", "--run",
                             tmp_path / "run", "--iterations", 1, "--set", "device=cuda",
                             "--set", "selfplay.games=4", "--device", "cpu")
    assert code == 0, stderr
    assert Run(tmp_path / "run").load_config(TrainConfig).device == "cpu"


@pytest.mark.slow  # a world-model stage, a round of search and learner steps
def test_a_gpu_self_improvement_run_killed_after_its_stage_goes_on_here(monkeypatch, tmp_path):
    config = replace(TINY, iterations=1, problems_per_iteration=4, eval_problems=3,
                     greedy_problems=6, pretrain=PretrainConfig(**dict(PRETRAIN,
                                                                       eval_problems=0)))
    open_run(tmp_path / "run", config)  # killed after its world-model stage:
    pretrain(config.pretrain, tmp_path / "run" / "pretrain")
    begun_on_gpu(monkeypatch, tmp_path / "run", config)
    begun_on_gpu(monkeypatch, tmp_path / "run" / "pretrain", config.pretrain)
    with pytest.raises(ValueError, match=NO_GPU):
        improve(config, tmp_path / "run", resume=True)
    rows = improve(config, tmp_path / "run", resume=True, device="cpu")
    assert [r["iteration"] for r in rows] == [-1, 0]
    # the stage was resumed (a no-op: it was done) on the run's new device
    assert Run(tmp_path / "run" / "pretrain").load_config(PretrainConfig).device == "cpu"
