"""tinylm as a `StepModel`: a character-level TinyLM that writes the next step of a reasoning
task and judges the state with its value head.

Batching: prompts are left-padded to the longest and prefilled in one forward (BOS + the prompt's
characters); that forward also gives the value of each state (the tanh head on the prompt's last
token, mapped to [0, 1]). The KV cache is then branched k times per prompt (the shared prefix is
computed and stored once, `KVCache.branch`) and all prompts x k samples decode together, one
forward per character. A sample
ends at its newline; one that has not ended after `max_step_chars` characters (or when the block
is full) is dropped: it counts as generated tokens but proposes no step.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import torch
import torch.nn.functional as F

from lmzero import checkpoint
from lmzero.checkpoint import CheckpointError
from lmzero.models.lm_steps import check_request, per_prompt
from lmzero.models.step_model import Expansion
from lmzero.models.text_tokenizer import CharTokenizer
from lmzero.models.tinylm import KVCache, TinyLM, TinyLMConfig

SCORE_ROWS = 4096
"""Most rows of one scoring forward: a prompt branches into one row per step, as many as its
longest list in the forward (Game of 24's first state has 30 legal steps, a 6-number Countdown
state hundreds)."""
KIND = "tinylm-text"
"""`meta["kind"]` of a text-model checkpoint (game checkpoints have none)."""


class TinyLMStepModel:
    """Sample next steps and values from a TinyLM over `CharTokenizer` text (see module doc)."""

    values_next_states = True
    """`score` also returns `step_values`, each scored step's next-state value from the same
    forward (value-greedy decoding reads them)."""

    def __init__(self, model: TinyLM, tokenizer: CharTokenizer | None = None, *, seed: int = 0,
                 max_step_chars: int = 64, meta: dict | None = None):
        self.model = model.eval()
        self.tokenizer = tokenizer or CharTokenizer()
        if self.tokenizer.vocab_size != model.cfg.vocab_size:
            raise ValueError(f"the model has {model.cfg.vocab_size} tokens, the tokenizer "
                             f"{self.tokenizer.vocab_size}")
        self.max_step_chars = max_step_chars
        """Longest step (newline included); a longer sample is dropped. Game of 24's longest
        legal step has 40, Countdown-6's rarely more than 60."""
        self.meta = dict(meta or {})
        """What the checkpoint said besides the model (task, training step, ...)."""
        self.source: str | None = None
        """The checkpoint directory it was loaded from (`load_step_model`), for messages."""
        self.generator = torch.Generator(model.device).manual_seed(seed)
        """Draws the samples; on the model's device (moved there with it: `_sampler`)."""
        self.banned = torch.tensor([self.tokenizer.pad_id, self.tokenizer.bos_id])

    # -- the StepModel protocol ---------------------------------------------------------------

    @torch.inference_mode()
    def expand(self, prompts: Sequence[str], k: int, *, temperature=1.0,
               greedy: bool = False, with_value: bool = True) -> list[Expansion]:
        """k sampled steps per prompt (one greedy step if `greedy`), deduplicated, most probable
        first; `logprobs` are mean log-probs per token under the model (temperature 1). The
        temperature is one for all prompts or one per prompt: rows of any heat share a batch."""
        check_request(k, temperature, greedy)
        if not prompts:
            return []
        temps = per_prompt(temperature, len(prompts))
        if not all(fits := self._fits(prompts)):
            keep = [i for i, f in enumerate(fits) if f]
            inner = iter(self.expand([prompts[i] for i in keep], k,
                                     temperature=[temps[i] for i in keep], greedy=greedy,
                                     with_value=with_value))
            return [next(inner) if f else self._unreadable(with_value) for f in fits]
        samples = 1 if greedy else k
        logits, values, cache, lengths = self._prefill(prompts)
        room = min(self.max_step_chars, self.model.cfg.block_size - cache.length)
        heat = torch.tensor(temps, device=logits.device).repeat_interleave(samples)[:, None]
        texts, logprobs, generated = self._decode(logits.repeat_interleave(samples, dim=0),
                                                  cache.branch(samples, room), greedy, heat)
        out = []
        for i, length in enumerate(lengths):
            span = range(i * samples, (i + 1) * samples)
            distinct = {texts[r]: logprobs[r] for r in span if texts[r] is not None}
            steps = sorted(distinct, key=lambda s: -distinct[s])  # stable: ties by sample order
            out.append(Expansion(steps=steps, logprobs=[distinct[s] for s in steps],
                                 value=self._unit(values[i]) if with_value else None,
                                 prompt_tokens=length, reused_prompt_tokens=0,
                                 generated_tokens=sum(generated[r] for r in span)))
        return out

    @torch.inference_mode()
    def value(self, prompts: Sequence[str]) -> list[Expansion]:
        """The value of each state, in [0, 1], from one prompt forward."""
        if not prompts:
            return []
        if not all(fits := self._fits(prompts)):
            inner = iter(self.value([p for p, f in zip(prompts, fits) if f]))
            return [next(inner) if f else self._unreadable(True) for f in fits]
        _, values, _, lengths = self._prefill(prompts)
        return [Expansion(value=self._unit(v), prompt_tokens=n) for v, n in zip(values, lengths)]

    @torch.inference_mode()
    def score(self, prompts: Sequence[str], steps: Sequence[Sequence[str]], *,
              with_value: bool = True) -> list[Expansion]:
        """Each prompt's given steps scored by the model (a closed action space: a task's legal
        steps), most probable first; `logprobs` are summed over the step's line, newline
        included, so their softmax is the model's distribution renormalised over the steps
        given. One model call per prompt: the prompt and its steps' tokens are charged as
        prompt tokens (teacher-forced, none generated). A step that does not fit the block
        after its prompt is dropped."""
        if len(steps) != len(prompts):
            raise ValueError(f"{len(steps)} step lists for {len(prompts)} prompts")
        if not all(fits := self._fits(prompts)):
            keep = [i for i, f in enumerate(fits) if f]
            inner = iter(self.score([prompts[i] for i in keep], [steps[i] for i in keep],
                                    with_value=with_value))
            return [next(inner) if f else self._unreadable(with_value) for f in fits]
        out: list[Expansion] = []
        for chunk in _row_chunks([len(s) for s in steps], SCORE_ROWS):
            out += self._score_chunk([prompts[i] for i in chunk], [steps[i] for i in chunk],
                                     with_value)
        return out

    def _score_chunk(self, prompts, steps, with_value: bool) -> list[Expansion]:
        first, values, cache, lengths = self._prefill(prompts)
        room = self.model.cfg.block_size - cache.length
        lines = [list(dict.fromkeys(s for s in given if len(s) + 1 <= room)) for given in steps]
        encoded = [[self.tokenizer.encode(s + "\n") for s in given] for given in lines]
        G = max((len(e) for e in encoded), default=0)  # rows per prompt (short lists padded)
        T = max((len(t) for e in encoded for t in e), default=0)
        if G == 0:
            return [Expansion(value=self._unit(v) if with_value else None, prompt_tokens=n)
                    for v, n in zip(values, lengths)]
        tokens = torch.full((len(prompts), G, T), self.tokenizer.pad_id, dtype=torch.long)
        real = torch.zeros(len(prompts), G, T, dtype=torch.bool)  # [N, G, T] tokens scored
        for i, e in enumerate(encoded):
            for j, t in enumerate(e):
                tokens[i, j, :len(t)], real[i, j, :len(t)] = torch.tensor(t), True
        device = self.model.device
        tokens, real = tokens.view(-1, T).to(device), real.view(-1, T).to(device)
        # the whole line goes in (its newline too): the value head at the newline is the value
        # of the state the step leads to, whose prompt is exactly this prompt and line
        later, after = self.model.forward_cached(tokens, cache.branch(G, T), every_value=True)
        logp = torch.cat([self._logp(first).repeat_interleave(G, 0)[:, None],
                          self._logp(later[:, :-1])], 1)  # [N*G, T, V]
        picked = logp.gather(2, tokens[:, :, None]).squeeze(2)  # padding: -inf, not counted
        total = picked.where(real, 0.0).sum(1).view(-1, G)
        last = (real.sum(1) - 1).clamp(min=0)  # [N*G] each row's newline
        child = after.gather(1, last[:, None]).view(-1, G)  # [N, G] tanh values
        scored = real.view(-1, G * T).sum(1).tolist()  # [N] step tokens read per prompt
        total, child, values = total.cpu(), child.cpu(), values.cpu()  # one copy, not N * G
        out = []
        for i, given in enumerate(lines):
            order = sorted(range(len(given)), key=lambda j: -float(total[i, j]))
            out.append(Expansion(steps=[given[j] for j in order],
                                 logprobs=[float(total[i, j]) for j in order],
                                 step_values=[self._unit(child[i, j]) for j in order]
                                 if with_value else [],
                                 value=self._unit(values[i]) if with_value else None,
                                 prompt_tokens=lengths[i] + scored[i]))
        return out

    def prompt_tokens(self, prompt: str) -> int:
        """Tokens the model reads for `prompt`: BOS + one per character; ValueError for a
        character the model never saw."""
        return 1 + len(self.tokenizer.encode(prompt))

    def _fits(self, prompts: Sequence[str]) -> list[bool]:
        """Whether BOS + each prompt fits the model's block. One that does not is a state the
        model cannot read (a math calculator line grew a long fraction mid-search): a dead end
        with value 0 (`_unreadable`), not an error that ends the whole run."""
        return [self.prompt_tokens(p) <= self.model.cfg.block_size for p in prompts]

    @staticmethod
    def _unreadable(with_value: bool) -> Expansion:
        return Expansion(steps=[], logprobs=[], value=0.0 if with_value else None)

    # -- decoding -----------------------------------------------------------------------------

    def _prefill(self, prompts: Sequence[str]):
        """Left-padded BOS + prompt forward: (next-token logits [N, V], values [N], the prompts'
        KV cache, prompt lengths in tokens)."""
        encoded = [[self.tokenizer.bos_id, *self.tokenizer.encode(p)] for p in prompts]
        lengths = [len(e) for e in encoded]
        L = max(lengths)
        if L > self.model.cfg.block_size:  # a model trained on shorter problems: one line
            raise CheckpointError(f"{self.source or 'the model'}: a prompt of {L} tokens "
                                  f"exceeds the model's block_size {self.model.cfg.block_size}")
        tokens = torch.full((len(prompts), L), self.tokenizer.pad_id, dtype=torch.long)
        for i, e in enumerate(encoded):
            tokens[i, L - len(e):] = torch.tensor(e)
        pad = torch.tensor([L - n for n in lengths])
        cache = self.model.new_cache(pad, L)
        logits, values = self.model.forward_cached(tokens.to(self.model.device), cache)
        return logits[:, -1], values, cache, lengths

    def _banned(self, logits: torch.Tensor) -> torch.Tensor:
        """Logits [..., V] as float with padding and BOS made impossible: the distribution
        steps are sampled from and scored under."""
        return logits.float().index_fill(-1, self.banned.to(logits.device), float("-inf"))

    def _logp(self, logits: torch.Tensor) -> torch.Tensor:
        """Log-probs [..., V] of that distribution."""
        return F.log_softmax(self._banned(logits), dim=-1)

    def _decode(self, logits: torch.Tensor, cache: KVCache, greedy: bool,
                temperature: torch.Tensor):
        """Decode one line for each of R rows from their first-token logits [R, V], their
        (empty, branched) cache and their sampling temperatures [R, 1]: (text without newline
        or None if dropped, mean log-prob, tokens generated) per row. Rows that have ended stay in the batch, ignored, until all have
        (removing them would copy the cache; most lines of a batch end within a few tokens)."""
        R, device = logits.shape[0], logits.device
        out = torch.full((R, self.max_step_chars), -1, dtype=torch.long, device=device)  # ids
        logprob = torch.zeros(R, device=device)  # summed log-probs of each row's tokens
        ended = torch.zeros(R, dtype=torch.bool, device=device)  # row wrote its newline
        steps = min(self.max_step_chars, cache.capacity + 1)  # the last token is not fed back
        for t in range(steps):
            logits = self._banned(logits)
            logp = F.log_softmax(logits, dim=-1)  # [R, V], the model's own distribution
            if greedy:
                token = logp.argmax(-1)
            else:
                probs = F.softmax(logits / temperature, dim=-1)
                token = torch.multinomial(probs, 1, generator=self._sampler(device)).squeeze(1)
            writing = ~ended  # rows still writing their line
            out[writing, t] = token[writing]
            logprob[writing] += logp[writing].gather(1, token[writing, None]).squeeze(1)
            ended |= writing & (token == self.tokenizer.newline_id)
            if ended.all() or t == steps - 1:
                break
            logits = self.model.forward_cached(token[:, None], cache)[0][:, -1]
        out, logprob, ended = out.cpu(), logprob.cpu(), ended.cpu()
        counts = (out >= 0).sum(1).tolist()
        texts = [self.tokenizer.decode(out[r, :counts[r] - 1].tolist()) if ended[r] else None
                 for r in range(R)]
        means = (logprob / torch.tensor(counts).clamp(min=1)).tolist()
        return texts, means, counts

    def _sampler(self, device: torch.device) -> torch.Generator:
        """The sampling generator, re-seeded on `device` if the model moved since (a generator
        draws only for tensors on its own device)."""
        if self.generator.device != device:
            self.generator = torch.Generator(device).manual_seed(self.generator.initial_seed())
        return self.generator

    @staticmethod
    def _unit(v: torch.Tensor) -> float:
        return (float(v) + 1) / 2  # tanh value in [-1, 1] -> probability-like value in [0, 1]

    # -- checkpoints --------------------------------------------------------------------------

    def checkpoint_meta(self, **extra) -> dict:
        return dict(self.meta, kind=KIND, model=self.model.cfg.to_dict(),
                    vocab=self.tokenizer.vocab, **extra)

    def save(self, path: Path, **meta) -> Path:
        """Write the model as a checkpoint directory (meta: model config, vocabulary, `meta`)."""
        return checkpoint.save(Path(path), self.model.state_dict(), self.checkpoint_meta(**meta))


def _row_chunks(counts: Sequence[int], rows: int) -> list[list[int]]:
    """Consecutive index groups whose size times their largest count stays within `rows` (a
    group holds at least one index).

    >>> _row_chunks([30, 30, 6, 200, 1], 64)
    [[0, 1], [2], [3], [4]]
    """
    chunks: list[list[int]] = []
    widest = 0
    for i, n in enumerate(counts):
        if chunks and (len(chunks[-1]) + 1) * max(widest, n, 1) <= rows:
            chunks[-1].append(i)
            widest = max(widest, n)
        else:
            chunks.append([i])
            widest = n
    return chunks


def load_step_model(path: Path, *, seed: int = 0, task=None,
                    max_step_chars: int | None = None, device: str = "cpu") -> TinyLMStepModel:
    """The step model of a checkpoint directory, or of a run directory's newest checkpoint;
    CheckpointError (one line) for anything else, or a model trained on another `task` (a task
    object, or its name); its longest step is the task's unless `max_step_chars` says. The meta
    is checked before anything is built (`models.load`); given a task object, the model must
    also read the task's characters and fit its first prompt and a step. `device`: where the
    network runs (`check_device`); scores and steps come back on the CPU either way."""
    from lmzero.models.load import build_model, model_config, verified_checkpoint
    name = getattr(task, "name", task)
    path, meta = verified_checkpoint(path, KIND, name,
                                     "not a text-model checkpoint (a game network?)")
    config = model_config(path, meta)
    tokenizer = _checked_tokenizer(path, meta, config, task)
    meta = {k: v for k, v in meta.items() if k not in ("kind", "model", "vocab")}
    if max_step_chars is None:
        max_step_chars = getattr(task, "max_step_chars", None) or _registered_step_chars(meta)
    _check_block(path, config, task)
    model = build_model(path, config, torch.tensor([[tokenizer.bos_id]])).to(device)
    step_model = TinyLMStepModel(model, tokenizer, seed=seed, max_step_chars=max_step_chars,
                                 meta=meta)
    step_model.source = str(path)
    return step_model


def _checked_tokenizer(path: Path, meta: dict, config: TinyLMConfig, task) -> CharTokenizer:
    """The checkpoint's tokenizer, if it fits its model (and `task`'s characters, if given)."""
    if config.trunk != "transformer":
        raise CheckpointError(f"{path}: a text model needs the transformer trunk, the manifest "
                              f"says {config.trunk!r}")
    try:
        tokenizer = CharTokenizer.from_vocab(meta["vocab"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: bad vocabulary in the manifest ({exc})") from None
    if tokenizer.vocab_size != config.vocab_size:
        raise CheckpointError(f"{path}: the vocabulary has {tokenizer.vocab_size} tokens, the "
                              f"model {config.vocab_size}")
    missing = sorted(set(getattr(task, "characters", "")) - set(tokenizer.vocab[2:]))
    if missing:
        raise CheckpointError(f"{path}: the vocabulary lacks {missing[0]!r}, a character of "
                              f"task {task.name!r}")
    return tokenizer


def _check_block(path: Path, config: TinyLMConfig, task) -> None:
    """Refuse a block too short for the task's example problem's prompt and one of its longest
    steps (a longer prompt met later is refused by `_prefill`). Tasks whose example does not
    parse are not checked here."""
    try:
        problem = task.problem_from_json(json.loads(task.problem_example))
        prompt = task.prompt(task.initial_state(problem))
        need = 1 + len(prompt) + int(task.max_step_chars)  # BOS + the prompt + a step
    except (AttributeError, TypeError, ValueError, KeyError, NotImplementedError):
        return  # a task name, no task, or a plugin task without a usable example
    if config.block_size < need:
        raise CheckpointError(f"{path}: block_size {config.block_size} is too short for task "
                              f"{task.name!r} (its first prompt and a step take {need} tokens)")


def _registered_step_chars(meta: dict) -> int:
    """The longest step of the task a checkpoint names, if registered (built in or an installed
    plugin); 64 otherwise. Never a FILE.py:NAME or module:NAME reference: the manifest is data,
    and loading such a task would run the code it names."""
    from lmzero.tasks import TaskError, load_task, names
    task = meta.get("task")
    if not isinstance(task, str) or task not in names():
        return 64
    try:
        return load_task(task).max_step_chars
    except (TaskError, AttributeError):
        return 64
