"""The language-model side of the reasoning tasks: character tokenizer, KV-cached TinyLM, the
batched step model, and world-model pretraining (tiny, fast runs)."""

import json

import numpy as np
import pytest
import torch

from lmzero.checkpoint import CheckpointError
from lmzero.models.text_tokenizer import CharTokenizer
from lmzero.models.tinylm import TinyLM, TinyLMConfig
from lmzero.models.tinylm_steps import TinyLMStepModel, load_step_model

TOK = CharTokenizer()
PROMPTS = ["4 9 10 13 -> 24\n13 - 9 = 4 (left: 4 4 10)\n", "1 2 3 4 -> 24\n",
           "3 3 8 8 -> 24\n8 / 3 = 8/3 (left: 3 8 8/3)\n3 - 8/3 = 1/3 (left: 1/3 8)\n"]


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def random_model(seed=0, std=0.3, block_size=128, rope=False) -> TinyLM:
    """Untrained but opinionated (large weights), so decoding is not a coin toss."""
    torch.manual_seed(seed)
    model = TinyLM(TinyLMConfig(vocab_size=TOK.vocab_size, block_size=block_size, n_layer=2,
                                n_head=2, n_embd=32, rope=rope))
    for p in model.parameters():
        p.data.normal_(0, std)
    return model.eval()


def test_tokenizer_round_trip_and_unknown_character():
    text = "".join(PROMPTS)
    ids = TOK.encode(text)
    assert len(ids) == len(text) and TOK.decode(ids) == text
    assert min(ids) > TOK.bos_id  # PAD and BOS are never characters
    assert TOK.decode([TOK.bos_id, *ids, TOK.pad_id]) == text
    assert CharTokenizer.from_vocab(TOK.vocab).vocab == TOK.vocab
    with pytest.raises(ValueError, match=r"'x' \(at 2\)"):
        TOK.encode("1 x 2")


@pytest.mark.parametrize("rope", [False, True])
@torch.inference_mode()
def test_kv_cache_logits_equal_the_full_forward(rope):
    model = random_model(rope=rope)
    seqs = [torch.tensor([TOK.bos_id, *TOK.encode(p)]) for p in PROMPTS]
    L = max(map(len, seqs))
    batch = torch.stack([torch.cat([torch.zeros(L - len(s), dtype=torch.long), s]) for s in seqs])
    cut = L - 5  # a left-padded prefill, then one token at a time on 2 branches of each row
    prefix = model.new_cache(torch.tensor([L - len(s) for s in seqs]), cut)
    parts = [model.forward_cached(batch[:, :cut], prefix)]
    branches = prefix.branch(2, 5)
    parts += [model.forward_cached(batch[:, t:t + 1].repeat_interleave(2, 0), branches)
              for t in range(cut, L)]
    for b, s in enumerate(seqs):
        full_logits, full_value = model(s[None])
        head = full_logits[0, :len(s) - 5]
        torch.testing.assert_close(parts[0][0][b, L - len(s):], head, atol=1e-5, rtol=0)
        for row in (2 * b, 2 * b + 1):
            tail = torch.cat([p[0][row] for p in parts[1:]])
            torch.testing.assert_close(tail, full_logits[0, -5:], atol=1e-5, rtol=0)
            torch.testing.assert_close(parts[-1][1][row], full_value[0], atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="capacity"):
        model.forward_cached(batch[:, :1].repeat_interleave(2, 0), branches)


def test_expand_distinct_steps_priors_and_exact_token_counts():
    step_model = TinyLMStepModel(random_model(std=0.15, rope=True), TOK, seed=3,
                                 max_step_chars=12)
    expansions = step_model.expand(PROMPTS, 16)
    assert len(expansions) == len(PROMPTS)
    assert any(e.steps for e in expansions)
    for prompt, e in zip(PROMPTS, expansions):
        assert len(set(e.steps)) == len(e.steps) <= 16
        assert all("\n" not in s and len(s) < 12 for s in e.steps)
        assert e.logprobs == sorted(e.logprobs, reverse=True)
        if e.steps:
            assert sum(e.priors) == pytest.approx(1.0)
        assert e.prompt_tokens == len(prompt) + 1 and e.reused_prompt_tokens == 0  # BOS + chars
        assert 0 <= e.value <= 1
        assert sum(len(s) + 1 for s in e.steps) <= e.generated_tokens <= 16 * 12
    # the mean log-prob of a step is that of its characters and newline under the model
    i = next(i for i, x in enumerate(expansions) if x.steps)
    e = expansions[i]
    text = [TOK.bos_id, *TOK.encode(PROMPTS[i] + e.steps[0] + "\n")]
    with torch.no_grad():
        logits, value = step_model.model(torch.tensor(text[:-1])[None])
    logits[..., [TOK.pad_id, TOK.bos_id]] = float("-inf")
    logp = torch.log_softmax(logits[0], -1)
    n = len(e.steps[0]) + 1
    mean = float(logp[-n:].gather(1, torch.tensor(text[-n:])[:, None]).mean())
    assert e.logprobs[0] == pytest.approx(mean, abs=1e-4)
    # deterministic under a seed
    again = TinyLMStepModel(step_model.model, TOK, seed=3, max_step_chars=12).expand(PROMPTS, 16)
    assert [x.steps for x in again] == [x.steps for x in expansions]
    values = step_model.value(PROMPTS)
    assert [v.value for v in values] == pytest.approx([x.value for x in expansions], abs=1e-6)
    assert values[0].generated_tokens == 0 and not values[0].steps


def test_one_temperature_per_prompt_in_one_batch():
    """Search sends nodes of different heat in one call: each row samples at its own
    temperature, and a list of equal temperatures is the same as the number."""
    model = random_model(std=0.15, rope=True)
    one = TinyLMStepModel(model, TOK, seed=5, max_step_chars=12).expand(PROMPTS, 8,
                                                                      temperature=1.3)
    listed = TinyLMStepModel(model, TOK, seed=5, max_step_chars=12).expand(
        PROMPTS, 8, temperature=[1.3] * len(PROMPTS))
    assert [e.steps for e in listed] == [e.steps for e in one]
    # a near-zero temperature on one prompt makes its samples (almost) all the greedy step
    cold = TinyLMStepModel(model, TOK, seed=5, max_step_chars=12).expand(
        PROMPTS, 8, temperature=[1e-4] + [2.0] * (len(PROMPTS) - 1))
    greedy = TinyLMStepModel(model, TOK, max_step_chars=12).expand(PROMPTS[:1], 1, greedy=True)
    assert cold[0].steps == greedy[0].steps
    assert max(len(e.steps) for e in cold[1:]) > 1
    with pytest.raises(ValueError, match="2 temperatures for"):
        TinyLMStepModel(model, TOK).expand(PROMPTS, 2, temperature=[1.0, 1.0])
    with pytest.raises(ValueError, match="temperature must be > 0"):
        TinyLMStepModel(model, TOK).expand(PROMPTS[:2], 2, temperature=[1.0, 0.0])


def test_a_step_longer_than_the_limit_is_dropped_but_counted():
    model = random_model()
    model.policy_head.bias.data[TOK.newline_id] = -1e4  # never ends a line
    e = TinyLMStepModel(model, TOK, max_step_chars=7).expand(PROMPTS[:1], 4)[0]
    assert e.steps == [] and e.generated_tokens == 4 * 7


def test_corrupt_or_foreign_checkpoints_are_refused(tmp_path):
    step_model = TinyLMStepModel(random_model(), TOK, meta=dict(task="game24"))
    path = step_model.save(tmp_path / "ck", step=0)
    loaded = load_step_model(path, task="game24")
    assert loaded.meta["task"] == "game24"
    for a, b in zip(loaded.model.state_dict().values(), step_model.model.state_dict().values()):
        assert torch.equal(a, b)
    with pytest.raises(CheckpointError, match="not 'countdown'"):
        load_step_model(path, task="countdown")
    data = bytearray((path / "model.safetensors").read_bytes())
    data[-1] ^= 0xFF
    (path / "model.safetensors").write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="checksum"):
        load_step_model(path)
    with pytest.raises(CheckpointError, match="neither a checkpoint"):
        load_step_model(tmp_path / "nothing-here")
    game_meta = tmp_path / "game"  # a game network's checkpoint is not a text model
    from lmzero import checkpoint
    checkpoint.save(game_meta, step_model.model.state_dict(), dict(game="connect4"))
    with pytest.raises(CheckpointError, match="not a text-model"):
        load_step_model(game_meta)
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["meta"]["vocab"] == TOK.vocab


# -- world-model pretraining ------------------------------------------------------------------

TINY = dict(steps=120, batch_size=16, lr=1e-2, warmup_steps=10, log_every=30,
            checkpoint_every=60, eval_problems=8,
            model=dict(n_layer=1, n_head=2, n_embd=32, block_size=160))


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    from lmzero.learn.pretrain import PretrainConfig, pretrain
    run_dir = tmp_path_factory.mktemp("pretrain") / "run"
    rows = pretrain(PretrainConfig(**TINY), run_dir)
    return run_dir, rows


def test_pretraining_writes_a_loadable_checkpoint_and_its_losses_fall(tiny_run):
    run_dir, rows = tiny_run
    assert [r["step"] for r in rows] == [29, 59, 89, 119]
    assert rows[-1]["loss_policy"] < 0.6 * rows[0]["loss_policy"]
    assert 0 <= rows[-1]["heldout_step_validity"] <= 1
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == ["0000059", "0000119"]
    model = load_step_model(run_dir, task="game24")  # a run directory: its newest checkpoint
    assert model.meta["step"] == 119 and model.model.cfg.n_embd == 32
    assert [json.loads(line)["step"] for line in
            (run_dir / "metrics.jsonl").read_text().splitlines()] == [29, 59, 89, 119]


def test_resume_after_a_crash_reproduces_the_uninterrupted_run(tiny_run, tmp_path):
    import shutil

    from lmzero.learn.pretrain import PretrainConfig, pretrain
    run_dir, rows = tiny_run
    crashed = tmp_path / "crashed"
    shutil.copytree(run_dir, crashed)
    shutil.rmtree(crashed / "checkpoints" / "0000119")  # killed after step 89 was logged
    lines = (crashed / "metrics.jsonl").read_text().splitlines()
    (crashed / "metrics.jsonl").write_text("\n".join(lines[:3]) + "\n")
    with pytest.raises(ValueError, match="--resume"):
        pretrain(PretrainConfig(**TINY), crashed)
    resumed = pretrain(PretrainConfig(), crashed, resume=True)  # config.json, not this one
    assert [r["step"] for r in resumed] == [29, 59, 89, 119]
    assert resumed[-1]["loss_policy"] == rows[-1]["loss_policy"]
    a = load_step_model(run_dir).model.state_dict()
    b = load_step_model(crashed).model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_batched_greedy_equals_unbatched_greedy(tiny_run):
    from lmzero.tasks import game24
    step_model = load_step_model(tiny_run[0])
    task = game24.TASK
    prompts = [task.prompt(task.initial_state(p)) for p in game24.problems("heldout")[:6]]
    prompts += PROMPTS  # prompts of different lengths: left padding differs per row
    batched = step_model.expand(prompts, 4, greedy=True)
    assert sum(len(e.steps) for e in batched) >= 3
    for prompt, b in zip(prompts, batched):
        alone = step_model.expand([prompt], 4, greedy=True)[0]
        assert alone.steps == b.steps and len(b.steps) <= 1
        assert alone.logprobs == pytest.approx(b.logprobs, abs=1e-5)
        assert alone.value == pytest.approx(b.value, abs=1e-6)
        assert alone.generated_tokens == b.generated_tokens


def test_pretraining_data_never_holds_a_heldout_puzzle():
    from lmzero.learn.pretrain import PretrainConfig, TrajectorySource
    from lmzero.tasks import countdown, game24
    from lmzero.tasks.arith import Problem
    source = TrajectorySource(PretrainConfig(task="game24"))
    assert len(source.pool) == len(game24.split(game24.all_multisets(), "train"))
    drawn = set(source.problems(5000, np.random.default_rng(0)))
    assert not any(game24.is_heldout(p) for p in drawn)
    assert any(game24.TASK.count_solutions(p) == 0 for p in drawn)  # unsolvable ones too
    texts, rewards = source.batch(64, np.random.default_rng(1))
    for text in texts:
        numbers = [int(n) for n in text.split(" -> ")[0].split()]
        assert not game24.is_heldout(Problem.make(numbers, 24))
        assert len(text.splitlines()) == 4  # problem line + 3 steps
    source = TrajectorySource(PretrainConfig(task="countdown"))
    texts, rewards = source.batch(32, np.random.default_rng(2))
    assert set(rewards) <= {0.0, 1.0}
    for text in texts:
        head, target = text.splitlines()[0].split(" -> ")
        assert not countdown.is_heldout(Problem.make(map(int, head.split()), int(target)))


def lmzero(*args):
    import subprocess
    import sys
    return subprocess.run([sys.executable, "-m", "lmzero.cli", *args], capture_output=True,
                          text=True, timeout=300)


@pytest.mark.slow  # four subprocesses
def test_cli_pretrain_writes_a_step_model_and_refuses_wrong_options(tmp_path):
    run = lmzero("train", "game24", "--stage", "pretrain", "--run", str(tmp_path / "r"),
                 "--steps", "2")
    assert run.returncode == 0, run.stderr
    assert "heldout_step_validity" in run.stdout
    assert load_step_model(tmp_path / "r", task="game24").meta["step"] == 1
    for args, message in [(("tictactoe", "--from-scratch"), "--from-scratch applies to"),
                          (("connect4", "--stage", "pretrain"), "is for step tasks"),
                          (("tictactoe", "--steps", "3"), "--steps applies to --stage pretrain")]:
        run = lmzero("train", *args, "--run", str(tmp_path / "x"))
        assert run.returncode == 2 and message in run.stderr
        assert len(run.stderr.strip().splitlines()) == 1
