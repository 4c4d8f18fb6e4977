"""The MLP trunk's folded first layer (`TinyLM._folded_input`): inference through the table
must equal the plain forward, and follow the weights as they change."""

import torch

from lmzero.models.game_net import GameTokenizer
from lmzero.models.tinylm import TinyLM
from lmzero.tasks.connect4 import ConnectFour, from_moves


def _model_and_tokens():
    torch.manual_seed(0)
    tokenizer = GameTokenizer(ConnectFour())
    model = TinyLM(tokenizer.model_config(trunk="mlp", n_layer=2, n_embd=16, mlp_width=64))
    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.1)
    states = [from_moves(m) for m in ("", "4", "4453", "1234567", "7777")]
    return model, torch.as_tensor(tokenizer.tokens(states))


def test_inference_through_the_table_equals_the_plain_forward():
    model, tokens = _model_and_tokens()
    logits, value = model(tokens)  # gradients on: the plain path
    assert logits.requires_grad
    for mode in (torch.inference_mode, torch.no_grad):
        with mode():
            folded = model(tokens)
        assert torch.allclose(folded[0], logits, atol=1e-5)
        assert torch.allclose(folded[1], value, atol=1e-6)
    assert model._folded is not None


def test_the_table_follows_an_optimizer_step_and_a_load():
    model, tokens = _model_and_tokens()
    with torch.inference_mode():
        before = model(tokens)[1]
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    model(tokens)[1].sum().backward()
    optimizer.step()
    with torch.inference_mode():
        stepped = model(tokens)[1]
    assert not torch.allclose(stepped, before)
    assert torch.allclose(stepped, model(tokens)[1], atol=1e-6)
    other, _ = _model_and_tokens()
    model.load_state_dict(other.state_dict())
    with torch.inference_mode():
        assert torch.allclose(model(tokens)[1], before, atol=1e-6)
