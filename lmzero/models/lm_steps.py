"""What every pretrained-LM backend (hf, openai, vllm) shares: how a state becomes the text a
model continues, how a sample becomes a step, and how k samples become one `Expansion`.

A prompt is the instruction (the task's rules and worked examples: `task.instruction`) followed by the task's
own prompt (problem line + steps so far). With a chat model the instruction is the user's turn
and the task prompt is the start of the assistant's answer, which the model continues; a plain
completion model reads instruction + a blank line + the task prompt. A sample is one line: it
ends at the first token containing a newline (or at end-of-text); the step is the text before
that newline, stripped (trailing space only, for a task whose steps are indented code lines:
`task.keeps_indent`). A sample that reaches `max_step_tokens` without ending is dropped: its
tokens count, it proposes nothing (as in `tinylm_steps`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from lmzero.models.step_model import Expansion
from lmzero.tasks.base import DEFAULT_JUDGE_QUESTION


class BackendError(ValueError):
    """A model backend that cannot serve a request: missing package, unreachable server,
    unknown model, a response without log-probabilities (one-line message)."""


@dataclass
class PromptFormat:
    """How a task prompt is shown to a pretrained LM."""

    instruction: str = ""
    """Text before the task prompt (rules, an example); empty = the task prompt alone."""
    chat: bool = False
    """Wrap as a chat: the instruction is the user's turn, the task prompt starts the answer."""
    judge_question: str = DEFAULT_JUDGE_QUESTION
    """LM-as-judge: appended to the rendered prompt; the value is P(yes) / (P(yes) + P(no)) of
    the next token."""
    keep_indent: bool = False
    """Keep a step's leading whitespace (code lines, whose indentation is syntax)."""

    @staticmethod
    def for_task(task, chat: bool = False, instruction: str | None = None,
                 judge_question: str | None = None) -> "PromptFormat":
        """The task's own instruction and judge question (`task.instruction`,
        `task.judge_question`) unless given; `task` may be None (no instruction) or a
        registered task's name."""
        if isinstance(task, str):
            from lmzero.tasks import load_task
            task = load_task(task)
        return PromptFormat(
            instruction=getattr(task, "instruction", "") if instruction is None else instruction,
            chat=chat,
            judge_question=(getattr(task, "judge_question", DEFAULT_JUDGE_QUESTION)
                            if judge_question is None else judge_question),
            keep_indent=bool(getattr(task, "keeps_indent", False)))

    def plain(self, prompt: str) -> str:
        """The completion-model text.

        >>> PromptFormat("Rules.").plain("4 9 10 13 -> 24\\n")
        'Rules.\\n\\n4 9 10 13 -> 24\\n'
        """
        return f"{self.instruction}\n\n{prompt}" if self.instruction else prompt

    def messages(self) -> list[dict]:
        """The chat turns before the answer (the answer itself is the task prompt)."""
        return [{"role": "user", "content": self.instruction or "Continue."}]


def cut_step(text: str, ended: bool, keep_indent: bool = False) -> str | None:
    """The step a sample proposes: its text up to the first newline, stripped (only at the end
    with `keep_indent`); None when the sample never ended (cut off at the length limit).

    >>> cut_step(" 13 - 9 = 4 (left: 4 4 10)\\n\\n", True), cut_step("13 - 9 = ", False)
    ('13 - 9 = 4 (left: 4 4 10)', None)
    >>> cut_step("    return x  \\n", True, keep_indent=True)
    '    return x'
    """
    if not ended:
        return None
    line = text.split("\n", 1)[0]
    return line.rstrip() if keep_indent else line.strip()


def merge_samples(texts: list[str | None], logprob_sums: list[float], counts: list[int], *,
                  value: float | None = None, prompt_tokens: int = 0,
                  reused_prompt_tokens: int = 0) -> Expansion:
    """One request's samples -> an Expansion: distinct steps, most probable first, each with
    its length-normalised log-prob (sum / tokens; the best of equal texts written with different
    tokens); dropped samples (None) propose nothing; every sample's tokens count.

    >>> e = merge_samples(["a", "b", "a", None], [-2.0, -1.0, -1.0, -9.0], [2, 2, 2, 5])
    >>> e.steps, e.logprobs, e.generated_tokens
    (['a', 'b'], [-0.5, -0.5], 11)
    """
    best: dict[str, float] = {}
    for text, total, n in zip(texts, logprob_sums, counts):
        if text is not None:
            mean = total / max(n, 1)  # TS-LLM / AlphaMath: mean log-prob per token
            best[text] = max(mean, best.get(text, -float("inf")))
    steps = sorted(best, key=lambda s: -best[s])  # stable: ties keep sampling order
    return Expansion(steps=steps, logprobs=[best[s] for s in steps], value=value,
                     prompt_tokens=prompt_tokens, reused_prompt_tokens=reused_prompt_tokens,
                     generated_tokens=sum(counts))


def yes_probability(p_yes: float, p_no: float) -> float:
    """LM-as-judge value: the yes share of the yes/no mass (0.5 when the model gives neither).

    >>> yes_probability(0.75, 0.25), yes_probability(0.0, 0.0)
    (0.75, 0.5)
    """
    total = p_yes + p_no
    return p_yes / total if total > 0 else 0.5


def check_request(k: int, temperature, greedy: bool) -> None:
    """ValueError for k < 1 or a temperature (one, or one per prompt) that is not > 0."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    for t in ([temperature] if isinstance(temperature, (int, float)) else temperature):
        if not greedy and not t > 0:
            raise ValueError(f"temperature must be > 0, got {t} (greedy=True decodes the "
                             "most likely step)")


def per_prompt(temperature, n: int) -> list[float]:
    """`expand`'s temperature as one value per prompt: a number for all of them, or a sequence
    with one each (so search can send nodes of different heat in one batched call).

    >>> per_prompt(0.7, 2), per_prompt([1.0, 1.4], 2)
    ([0.7, 0.7], [1.0, 1.4])
    """
    if isinstance(temperature, (int, float)):
        return [float(temperature)] * n
    temps = [float(t) for t in temperature]
    if len(temps) != n:
        raise ValueError(f"{len(temps)} temperatures for {n} prompts")
    return temps


def by_temperature(prompts: Sequence[str], temperature, expand_some) -> list:
    """`expand_some(prompts, temperature)` once per distinct temperature, the answers back in
    prompt order: for backends whose sampler takes one temperature per batch."""
    temps = per_prompt(temperature, len(prompts))
    out: list = [None] * len(prompts)
    for t in dict.fromkeys(temps):
        idx = [i for i, x in enumerate(temps) if x == t]
        for i, answer in zip(idx, expand_some([prompts[i] for i in idx], t)):
            out[i] = answer
    return out
