"""The step learner's batches: step rows by weight, value rows apart."""

import numpy as np
import pytest
import torch

from lmzero.learn.pretrain import PretrainConfig, build_model
from lmzero.learn.step_learner import StepLearner, StepLearnerConfig
from lmzero.models.text_tokenizer import CharTokenizer

NAN = float("nan")


def _learner(**config):
    tokenizer = CharTokenizer()
    model = build_model(PretrainConfig(model=dict(n_layer=1, n_embd=16, n_head=2, mlp_width=32,
                                                  block_size=64)), tokenizer)
    return StepLearner(model, tokenizer, StepLearnerConfig(batch_size=20, **config), 10)


DATA = dict(prompt=np.array(["1 1 -> 2\n", "1 1 -> 2\n", "2 3 -> 6\n", "4 -> 5\n", "7 -> 7\n"]),
            step=np.array(["1 + 1 = 2", "1 * 1 = 1", "", "", ""]),
            weight=np.array([0.9, 0.1, 0.0, 0.0, 0.0], np.float32),
            value=np.array([NAN, NAN, 1.0, 0.0, 0.5], np.float32))


def test_step_rows_are_drawn_by_weight_and_fill_the_policy_fraction():
    draw, unit = _learner(policy_fraction=0.5)._sampler(DATA, None, np.random.default_rng(0))
    assert unit
    counts = np.bincount(np.concatenate([draw() for _ in range(400)]), minlength=5)
    assert counts[:2].sum() == counts[2:].sum() == 400 * 10  # half the batch each
    assert 0.85 < counts[0] / counts[:2].sum() < 0.95  # in proportion to 0.9 : 0.1
    assert np.allclose(counts[2:] / counts[2:].sum(), 1 / 3, atol=0.03)


def test_curation_probabilities_scale_both_kinds():
    probabilities = np.array([0.1, 0.4, 0.1, 0.1, 0.3])
    draw, _ = _learner()._sampler(DATA, probabilities, np.random.default_rng(0))
    counts = np.bincount(np.concatenate([draw() for _ in range(400)]), minlength=5)
    assert 0.27 < counts[1] / counts[:2].sum() < 0.35  # 0.4 * 0.1 against 0.1 * 0.9: 4 / 13
    assert 0.55 < counts[4] / counts[2:].sum() < 0.65  # 0.3 of the 0.5 on value rows


def test_one_kind_alone_or_none_falls_back_to_weighted_rows():
    only_values = {k: v[2:] for k, v in DATA.items()}
    draw, unit = _learner()._sampler(only_values, None, np.random.default_rng(0))
    assert not unit and len(draw()) == 3
    draw, unit = _learner(policy_fraction=None)._sampler(DATA, None, np.random.default_rng(0))
    assert not unit


def test_training_lowers_the_loss_on_a_fixed_set():
    learner = _learner(lr=3e-3, warmup_steps=1)
    learner.total_steps = 80

    def loss():
        with torch.no_grad():
            return {k: float(v) for k, v in learner.losses(
                DATA["prompt"].tolist(), DATA["step"].tolist(), DATA["weight"],
                DATA["value"]).items()}
    before = loss()
    learner.train(DATA, 80, np.random.default_rng(0))
    after = loss()
    assert after["policy"] < 0.6 * before["policy"] and after["value"] < 0.5 * before["value"]


def test_policy_fraction_must_be_a_share():
    with pytest.raises(ValueError, match="policy_fraction"):
        StepLearnerConfig(policy_fraction=1.0)
