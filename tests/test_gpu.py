"""The networks and their learners on a GPU give what they give on the CPU.

Skipped where torch sees no CUDA GPU (CI, a laptop); run on a GPU machine with
`python -m pytest tests/test_gpu.py`. Each test builds a model on the CPU, copies it to the GPU,
and compares outputs (to float tolerance) and a learner step's losses.
"""

import copy

import numpy as np
import pytest
import torch

from lmzero.learn import Learner, LearnerConfig
from lmzero.learn.pretrain import PretrainConfig, build_model
from lmzero.learn.step_learner import StepLearner, StepLearnerConfig
from lmzero.models.game_net import GameTokenizer, NetworkEvaluator
from lmzero.models.text_tokenizer import CharTokenizer
from lmzero.models.tinylm import TinyLM
from lmzero.models.tinylm_steps import TinyLMStepModel
from lmzero.tasks.connect4 import ConnectFour, from_moves
from lmzero.tasks.game24 import TASK, problems

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
GPU = torch.device("cuda")


def _step_models() -> tuple[TinyLMStepModel, TinyLMStepModel]:
    torch.manual_seed(0)
    tokenizer = CharTokenizer()
    model = build_model(PretrainConfig(model=dict(n_layer=2, n_embd=32, n_head=2,
                                                  mlp_width=64, block_size=128)), tokenizer)
    return (TinyLMStepModel(model, tokenizer, max_step_chars=TASK.max_step_chars),
            TinyLMStepModel(copy.deepcopy(model).to(GPU), tokenizer,
                            max_step_chars=TASK.max_step_chars))


def _states(n: int = 6):
    return [TASK.initial_state(p) for p in problems("heldout")[:n]]


def test_scored_legal_steps_match_the_cpu():
    cpu, gpu = _step_models()
    states = _states()
    prompts, legal = [TASK.prompt(s) for s in states], [TASK.legal_steps(s) for s in states]
    for a, b in zip(cpu.score(prompts, legal), gpu.score(prompts, legal)):
        assert np.allclose(a.logprobs, b.logprobs, atol=1e-3)
        assert np.allclose(a.step_values, b.step_values, atol=1e-4)
        assert a.value == pytest.approx(b.value, abs=1e-4)
        assert a.prompt_tokens == b.prompt_tokens


def test_greedy_and_sampled_steps_on_the_gpu():
    cpu, gpu = _step_models()
    prompts = [TASK.prompt(s) for s in _states()]
    greedy_cpu = cpu.expand(prompts, 1, greedy=True)
    greedy_gpu = gpu.expand(prompts, 1, greedy=True)
    assert [e.steps for e in greedy_cpu] == [e.steps for e in greedy_gpu]
    sampled = gpu.expand(prompts, 4, temperature=1.0)  # the generator follows the model
    assert all(1 <= len(e.steps) <= 4 and e.generated_tokens > 0 for e in sampled)
    assert gpu.generator.device.type == "cuda"


def test_step_learner_losses_match_the_cpu():
    cpu, gpu = _step_models()
    config = StepLearnerConfig(batch_size=4)
    state = _states(1)[0]
    prompts = [TASK.prompt(state)] * 3
    steps = TASK.legal_steps(state)[:3]
    weights, values = np.ones(3, np.float32), np.array([np.nan, 0.5, 1.0], np.float32)
    a = StepLearner(cpu.model, cpu.tokenizer, config, 10).losses(prompts, steps, weights, values)
    b = StepLearner(gpu.model, gpu.tokenizer, config, 10).losses(prompts, steps, weights, values)
    for k in ("policy", "value"):
        assert float(a[k].detach()) == pytest.approx(float(b[k].detach()), rel=1e-4, abs=1e-5)


@pytest.mark.parametrize("trunk", ["mlp", "resnet"])
def test_game_network_and_learner_on_the_gpu(trunk):
    game = ConnectFour()
    tokenizer = GameTokenizer(game)
    torch.manual_seed(0)
    cpu = TinyLM(tokenizer.model_config(trunk=trunk, n_layer=2, n_embd=32, mlp_width=64))
    gpu = copy.deepcopy(cpu).to(GPU)
    states = [from_moves(m) for m in ("", "4", "44", "4435", "1234567")]
    p_cpu, v_cpu = NetworkEvaluator(game, cpu, tokenizer).evaluate(states)
    p_gpu, v_gpu = NetworkEvaluator(game, gpu, tokenizer).evaluate(states)
    assert np.allclose(p_cpu, p_gpu, atol=1e-4) and np.allclose(v_cpu, v_gpu, atol=1e-4)
    data = dict(tokens=tokenizer.tokens(states), value=np.linspace(-1, 1, 5).astype(np.float32),
                policy=np.full((5, 7), 1 / 7, np.float32), target=np.ones(5, bool))
    losses = []
    for model in (cpu, gpu):
        learner = Learner(model, tokenizer.move_tokens, LearnerConfig(batch_size=5, mirror=False),
                          total_steps=4)
        losses.append(learner.train(data, 2, np.random.default_rng(0)))
    for k in ("policy", "value"):
        assert losses[0][k] == pytest.approx(losses[1][k], rel=1e-3)


def test_optimizer_state_restores_onto_the_gpu():
    game = ConnectFour()
    tokenizer = GameTokenizer(game)
    model = TinyLM(tokenizer.model_config(trunk="mlp", n_layer=1, n_embd=16, mlp_width=32))
    data = dict(tokens=tokenizer.tokens([from_moves("33")] * 4), value=np.zeros(4, np.float32),
                policy=np.full((4, 7), 1 / 7, np.float32), target=np.ones(4, bool))
    learner = Learner(model, tokenizer.move_tokens, LearnerConfig(batch_size=4), total_steps=4)
    learner.train(data, 1, np.random.default_rng(0))
    saved = learner.optimizer_tensors()  # what a checkpoint holds: CPU tensors
    resumed = Learner(copy.deepcopy(model).to(GPU), tokenizer.move_tokens,
                      LearnerConfig(batch_size=4), total_steps=4)
    resumed.load_optimizer_tensors({k: v.cpu() for k, v in saved.items()}, 1)
    resumed.train(data, 1, np.random.default_rng(1))  # AdamW steps with the restored moments
    assert resumed.step_count == 2


def test_self_play_training_runs_and_resumes_on_the_gpu(tmp_path):
    from lmzero.learn import LearnerConfig
    from lmzero.loop import TrainConfig, train
    from lmzero.models.load import load_network
    from lmzero.selfplay import SelfPlayConfig
    from lmzero.tasks.tictactoe import TicTacToe

    config = TrainConfig(game="tictactoe", iterations=1, eval_games=2, eval_simulations=4,
                         device="cuda", selfplay=SelfPlayConfig(games=8, simulations=8),
                         learner=LearnerConfig(batch_size=32, steps_per_iteration=5))
    train(config, tmp_path / "run")
    rows = train(config, tmp_path / "run", resume=True, iterations=2)  # optimizer back on GPU
    assert [r["iteration"] for r in rows] == [0, 1] and np.isfinite(rows[-1]["loss_total"])
    priors, _ = load_network(tmp_path / "run" / "checkpoints" / "00001",
                             TicTacToe()).evaluate([TicTacToe().initial_state()])
    assert priors.shape == (1, 9) and priors.sum() == pytest.approx(1, abs=1e-5)  # on the CPU
