"""An in-process vLLM engine on a GPU as a `StepModel` (`pip install lmzero[vllm]`).

Offline `vllm.LLM` with prefix caching on: all prompts of a call go in one `generate`, each with
`SamplingParams(n=k, logprobs=0, stop=["\\n"])`, so the engine computes a prompt once and shares
it across its k samples; across calls, states that share a prefix (the instruction, earlier
steps) hit the prefix cache. `num_cached_tokens` of each output is reported as reused.
Values: 'judge' (one generated token with top log-probs) or 'none' (vLLM gives no hidden
states for a value head). `reload_weights` loads new weights into the running engine after a
learner update and drops the prefix cache, which holds keys of the old weights.

Not run in this repository's tests (no GPU): checked end to end by `bench/gpu/check_vllm.sh`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from lmzero.models.lm_steps import (BackendError, PromptFormat, check_request, cut_step,
                                    merge_samples, per_prompt, yes_probability)
from lmzero.models.step_model import Expansion


@dataclass
class VLLMConfig:
    model: str = ""
    """A model directory, a .gguf file or a hub name the GPU machine has cached."""
    instruction: str | None = None
    """Text before the task prompt; None = the task's own (`task.instruction`)."""
    chat: bool = False
    """Wrap prompts with the tokenizer's chat template (the task prompt starts the answer)."""
    value: str = "none"
    """'judge' (the LM's P(yes) to `judge_question`) or 'none'."""
    judge_question: str | None = None
    """value='judge': text appended to the prompt; None = the task's default."""
    max_step_tokens: int = 48
    """Longest step in tokens; a sample cut off there is dropped."""
    gpu_memory_utilization: float = 0.5
    """Share of GPU memory vLLM may take (weights + KV cache)."""
    dtype: str = "auto"
    """Weights' dtype as vLLM names it."""
    max_model_len: int = 4096
    """Longest prompt + step in tokens (bounds the KV cache vLLM reserves)."""
    seed: int = 0
    """Engine seed."""

    def __post_init__(self):
        if not self.model:
            raise ValueError("name a model: vllm:NAME_OR_PATH")
        if self.value not in ("judge", "none"):
            raise ValueError(f"value must be 'judge' or 'none' with vllm, got {self.value!r}")


def _vllm():
    try:
        import vllm
    except ImportError:
        raise BackendError("the vllm backend needs vLLM and a GPU: pip install 'lmzero[vllm]'") \
            from None
    return vllm


class VLLMStepModel:
    """k sampled steps per prompt from an in-process vLLM engine (module doc)."""

    def __init__(self, config: VLLMConfig, task=None):
        vllm = _vllm()
        self.config, self.vllm = config, vllm
        self.llm = vllm.LLM(model=config.model, enable_prefix_caching=True, seed=config.seed,
                            dtype=config.dtype, max_model_len=config.max_model_len,
                            gpu_memory_utilization=config.gpu_memory_utilization)
        self.format = PromptFormat.for_task(task, config.chat, config.instruction,
                                            config.judge_question)
        self.tokenizer = self.llm.get_tokenizer()

    def render(self, prompt: str) -> str:
        if not self.format.chat:
            return self.format.plain(prompt)
        return self.tokenizer.apply_chat_template(self.format.messages(), tokenize=False,
                                                  add_generation_prompt=True) + prompt

    def expand(self, prompts: Sequence[str], k: int, *, temperature=1.0,
               greedy: bool = False, with_value: bool = True) -> list[Expansion]:
        check_request(k, temperature, greedy)
        n = 1 if greedy else k
        temps = dict.fromkeys(per_prompt(temperature, len(prompts)))
        params = {t: self.vllm.SamplingParams(n=n, temperature=0.0 if greedy else t,
                                              max_tokens=self.config.max_step_tokens,
                                              logprobs=0, stop=["\n"]) for t in temps}
        if len(params) == 1:
            params = next(iter(params.values()))
        else:  # vLLM takes one SamplingParams per prompt
            params = [params[t] for t in per_prompt(temperature, len(prompts))]
        outputs = self.llm.generate([self.render(p) for p in prompts], params, use_tqdm=False)
        judged = (self._judge(prompts) if with_value and self.config.value == "judge"
                  else [(None, 0)] * len(prompts))
        result = []
        for out, (value, judge_tokens) in zip(outputs, judged):
            length, cached = len(out.prompt_token_ids), out.num_cached_tokens or 0
            samples = out.outputs
            texts = [cut_step(s.text, s.finish_reason != "length", self.format.keep_indent)
                     for s in samples]
            result.append(merge_samples(
                texts, [s.cumulative_logprob or 0.0 for s in samples],
                [len(s.token_ids) for s in samples], value=value,
                prompt_tokens=length - cached + judge_tokens,
                reused_prompt_tokens=cached + (len(samples) - 1) * length))
        return result

    def value(self, prompts: Sequence[str]) -> list[Expansion]:
        if self.config.value == "none":
            return [Expansion() for _ in prompts]
        return [Expansion(value=v, prompt_tokens=n) for v, n in self._judge(prompts)]

    def _judge(self, prompts: Sequence[str]) -> list[tuple[float, int]]:
        params = self.vllm.SamplingParams(n=1, temperature=0.0, max_tokens=1, logprobs=20)
        texts = [self.render(p) + self.format.judge_question for p in prompts]
        out = []
        for o in self.llm.generate(texts, params, use_tqdm=False):
            tops = o.outputs[0].logprobs[0] if o.outputs[0].logprobs else {}
            yes = sum(math.exp(lp.logprob) for lp in tops.values()
                      if (lp.decoded_token or "").strip().lower() == "yes")
            no = sum(math.exp(lp.logprob) for lp in tops.values()
                     if (lp.decoded_token or "").strip().lower() == "no")
            out.append((yes_probability(yes, no),
                        len(o.prompt_token_ids) - (o.num_cached_tokens or 0)))
        return out

    def reload_weights(self, weights) -> None:
        """Load new weights into the running engine: a state dict (name -> tensor, sent to the
        workers) or a safetensors file / directory (read by each worker itself, no tensor
        crosses processes); then drop the prefix cache, whose keys the old weights made. With
        vLLM's worker processes, functions travel pickled: set
        VLLM_ALLOW_INSECURE_SERIALIZATION=1 (bench/gpu/check_vllm.sh does)."""
        if isinstance(weights, (str, Path)):
            path = Path(weights)
            files = [str(f) for f in (sorted(path.glob("*.safetensors")) if path.is_dir()
                                      else [path])]
            if not files or not all(Path(f).is_file() for f in files):
                raise BackendError(f"{path}: no .safetensors weights to load")

            def load(model, files=files):
                from safetensors.torch import load_file
                return len(model.load_weights((k, v) for f in files
                                              for k, v in load_file(f).items()) or ())
        else:
            items = [(k, v.detach().cpu()) for k, v in weights.items()]

            def load(model, items=items):
                return len(model.load_weights(iter(items)) or ())
        self.llm.apply_model(load)
        self.llm.reset_prefix_cache()
