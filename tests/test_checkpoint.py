"""Checkpoints round-trip, and anything untrustworthy is refused with a one-line reason."""

import json

import pytest
import torch

from lmzero.checkpoint import CheckpointError, load, save
from lmzero.models.tinylm import TinyLM, TinyLMConfig


@pytest.fixture
def model():
    torch.manual_seed(0)
    return TinyLM(TinyLMConfig(vocab_size=12, block_size=10, n_layer=1, n_embd=32))


def shapes(model):
    return {k: v.shape for k, v in model.state_dict().items()}


def test_round_trip_restores_every_tensor_and_meta(tmp_path, model):
    save(tmp_path / "ckpt", model.state_dict(), {"step": 7, "config": model.cfg.to_dict()})
    tensors, meta = load(tmp_path / "ckpt", shapes(model))
    assert meta["step"] == 7
    clone = TinyLM(TinyLMConfig(**meta["config"]))
    clone.load_state_dict(tensors)
    tokens = torch.randint(0, 12, (3, 10))
    for a, b in zip(model(tokens), clone(tokens)):
        assert torch.equal(a, b)


def test_saving_again_replaces_atomically(tmp_path, model):
    save(tmp_path / "c", model.state_dict(), {"step": 1})
    save(tmp_path / "c", model.state_dict(), {"step": 2})
    assert load(tmp_path / "c")[1]["step"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c"]  # no temporary leftovers


def test_tampered_weights_are_refused(tmp_path, model):
    path = save(tmp_path / "c", model.state_dict(), {})
    data = bytearray((path / "model.safetensors").read_bytes())
    data[-1] ^= 0xFF
    (path / "model.safetensors").write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="checksum mismatch"):
        load(path)


def test_pickle_files_are_refused(tmp_path, model):
    path = save(tmp_path / "c", model.state_dict(), {})
    torch.save(model.state_dict(), path / "model.pt")
    with pytest.raises(CheckpointError, match="model.pt"):
        load(path)


def test_missing_tensor_is_refused(tmp_path, model):
    state = dict(model.state_dict())
    state.pop("value_head.0.weight")
    path = save(tmp_path / "c", state, {})
    with pytest.raises(CheckpointError, match="value_head.0.weight is missing"):
        load(path, shapes(model))


def test_wrong_shape_and_bad_manifest_are_refused(tmp_path, model):
    other = TinyLM(TinyLMConfig(vocab_size=12, block_size=10, n_layer=1, n_embd=64))
    path = save(tmp_path / "c", other.state_dict(), {})
    with pytest.raises(CheckpointError, match="shape"):
        load(path, shapes(model))
    (path / "manifest.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="unreadable manifest"):
        load(path)
    manifest = {"format": "other", "meta": {}, "files": {}}
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(CheckpointError, match="unknown format"):
        load(path)
    with pytest.raises(CheckpointError, match="not a checkpoint directory"):
        load(tmp_path / "nowhere")


@pytest.mark.parametrize("trunk", ["transformer", "mlp"])
def test_tinylm_shapes_and_value_range(trunk):
    model = TinyLM(TinyLMConfig(vocab_size=12, block_size=10, trunk=trunk))
    logits, value = model(torch.randint(0, 12, (4, 10)))
    assert logits.shape == (4, 10, 12) and value.shape == (4,)
    assert (value.abs() <= 1).all()


def test_tinylm_config_errors_say_how_to_fix():
    with pytest.raises(ValueError, match="trunk"):
        TinyLMConfig(trunk="rnn")
    with pytest.raises(ValueError, match="multiple of n_head"):
        TinyLMConfig(n_embd=30, n_head=4)
