"""Checkpoints round-trip, and anything untrustworthy is refused with a one-line reason."""

import json

import pytest
import torch

from lmzero.checkpoint import (FORMAT, CheckpointError, header_shapes, load, load_extra,
                               meta_sha256, save, upgrade)
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


def test_the_manifest_covers_the_meta_by_a_checksum(tmp_path, model):
    path = save(tmp_path / "c", model.state_dict(), {"step": 1, "task": "game24"})
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["format"] == FORMAT and manifest["meta_sha256"] == meta_sha256(manifest["meta"])
    manifest["meta"]["task"] = "countdown"
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(CheckpointError, match="meta checksum mismatch"):
        load(path)
    with pytest.raises(TypeError, match="must be a dict"):
        save(tmp_path / "d", model.state_dict(), ["step", 1])


def test_non_finite_weights_are_refused_by_every_load(tmp_path, model):
    from safetensors.torch import save_file

    from tests.test_faults_checkpoint import reseal
    state = dict(model.state_dict())
    path = save(tmp_path / "c", state, {}, extra={"optimizer": {"0.exp_avg": state["tok.weight"]}})
    poisoned = state["tok.weight"].clone()
    poisoned[3, 4] = float("nan")
    save_file(dict(state, **{"tok.weight": poisoned}), str(path / "model.safetensors"))
    save_file({"0.exp_avg": poisoned}, str(path / "optimizer.safetensors"))
    reseal(path, json.loads((path / "manifest.json").read_text()))
    with pytest.raises(CheckpointError, match="tensor tok.weight holds NaN"):
        load(path, shapes(model))
    with pytest.raises(CheckpointError, match="tensor 0.exp_avg holds NaN"):
        load_extra(path, "optimizer")


def test_a_diverged_model_is_not_saved_and_the_last_good_checkpoint_stays(tmp_path, model):
    path = save(tmp_path / "c", model.state_dict(), dict(step=1))
    state = {k: v.clone() for k, v in model.state_dict().items()}
    state["tok.weight"][0, 0] = float("inf")
    with pytest.raises(CheckpointError, match="not saved, tensor tok.weight holds NaN or inf"):
        save(path, state, dict(step=2))
    assert load(path, shapes(model))[1] == dict(step=1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c"]


def test_shapes_are_checked_from_the_header_before_the_data_is_read(tmp_path, model,
                                                                   monkeypatch):
    path = save(tmp_path / "c", model.state_dict(), {})
    assert header_shapes(path) == {k: tuple(v) for k, v in shapes(model).items()}
    expected = dict(shapes(model), **{"tok.weight": (10**9, 32)})
    monkeypatch.setattr("lmzero.checkpoint._read", lambda *a: pytest.fail("data was read"))
    with pytest.raises(CheckpointError, match=r"tok.weight has shape \(12, 32\)"):
        load(path, expected)


def test_a_format_1_checkpoint_still_loads_and_upgrades_in_place(tmp_path, model):
    path = save(tmp_path / "c", model.state_dict(), {"step": 3})
    manifest = json.loads((path / "manifest.json").read_text())
    del manifest["meta_sha256"]
    (path / "manifest.json").write_text(json.dumps(dict(manifest, format="lmzero-checkpoint/1")))
    assert load(path)[1] == {"step": 3}  # runs saved before format/2 resume
    assert upgrade(path) is True and upgrade(path) is False
    upgraded = json.loads((path / "manifest.json").read_text())
    assert upgraded["format"] == FORMAT and upgraded["files"] == manifest["files"]
    assert load(path)[1] == {"step": 3}


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
    for fields, message in [(dict(n_layer=True), "n_layer must be an integer"),
                            (dict(n_embd=64.0), "n_embd must be an integer"),
                            (dict(n_head=0), r"n_head must be in \[1, 4096\], got 0"),
                            (dict(n_layer=10**7), "n_layer must be in"),
                            (dict(dropout=1.5), "dropout must be"),
                            (dict(rope="no"), "rope must be true or false"),
                            (dict(n_embd=12, n_head=4, rope=True), "must be even")]:
        with pytest.raises(ValueError, match=message):
            TinyLMConfig(**fields)
