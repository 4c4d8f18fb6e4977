"""What every pretrained-LM backend (hf, openai, vllm) shares: how a state becomes the text a
model continues, how a sample becomes a step, and how k samples become one `Expansion`.

A prompt is the instruction (the task's rules and one worked example) followed by the task's
own prompt (problem line + steps so far). With a chat model the instruction is the user's turn
and the task prompt is the start of the assistant's answer, which the model continues; a plain
completion model reads instruction + a blank line + the task prompt. A sample is one line: it
ends at the first token containing a newline (or at end-of-text); the step is the text before
that newline, stripped. A sample that reaches `max_step_tokens` without ending is dropped: its
tokens count, it proposes nothing (as in `tinylm_steps`).
"""

from __future__ import annotations

from dataclasses import dataclass

from lmzero.models.step_model import Expansion


class BackendError(ValueError):
    """A model backend that cannot serve a request: missing package, unreachable server,
    unknown model, a response without log-probabilities (one-line message)."""


_ARITH_RULES = ("Combine the numbers with + - * / to reach the target after the arrow, using "
                "every number exactly once. Write one step per line: A op B = R (left: the "
                "remaining numbers in ascending order).")
_SHOTS = {  # worked examples (few-shot): a 135M model copies the format far better with them
    "countdown": ("4 9 10 13 -> 24\n13 - 9 = 4 (left: 4 4 10)\n10 - 4 = 6 (left: 4 6)\n"
                  "6 * 4 = 24 (left: 24)", "2 5 7 -> 45\n7 + 2 = 9 (left: 5 9)\n"
                  "9 * 5 = 45 (left: 45)", "3 6 8 -> 6\n8 - 6 = 2 (left: 2 3)\n"
                  "3 * 2 = 6 (left: 6)", "1 4 11 -> 55\n4 + 1 = 5 (left: 5 11)\n"
                  "11 * 5 = 55 (left: 55)"),
    "game24": ("4 9 10 13 -> 24\n13 - 9 = 4 (left: 4 4 10)\n10 - 4 = 6 (left: 4 6)\n"
               "6 * 4 = 24 (left: 24)", "1 2 3 4 -> 24\n2 + 1 = 3 (left: 3 3 4)\n"
               "3 + 3 = 6 (left: 4 6)\n6 * 4 = 24 (left: 24)", "1 1 4 6 -> 24\n"
               "1 * 1 = 1 (left: 1 4 6)\n4 * 1 = 4 (left: 4 6)\n6 * 4 = 24 (left: 24)"),
}
INSTRUCTIONS = {task: _ARITH_RULES + "\n\n" + "\n\n".join(shots) for task, shots in _SHOTS.items()}
"""Default instruction per task (the step format of `tasks/arith.py` and a worked example)."""

JUDGE_QUESTIONS = {
    "countdown": "\nCan the numbers left still reach the target exactly? Answer yes or no.\n"
                 "Answer:",
    "game24": "\nCan the numbers left still make 24 exactly? Answer yes or no.\nAnswer:",
}
"""Default LM-as-judge question per task, appended to the rendered prompt."""
DEFAULT_JUDGE_QUESTION = "\nIs this on track to a correct solution? Answer yes or no.\nAnswer:"


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

    @staticmethod
    def for_task(task: str | None, chat: bool = False, instruction: str | None = None,
                 judge_question: str | None = None) -> "PromptFormat":
        """The task's default instruction and judge question unless given."""
        return PromptFormat(
            instruction=INSTRUCTIONS.get(task or "", "") if instruction is None else instruction,
            chat=chat,
            judge_question=(JUDGE_QUESTIONS.get(task or "", DEFAULT_JUDGE_QUESTION)
                            if judge_question is None else judge_question))

    def plain(self, prompt: str) -> str:
        """The completion-model text.

        >>> PromptFormat("Rules.").plain("4 9 10 13 -> 24\\n")
        'Rules.\\n\\n4 9 10 13 -> 24\\n'
        """
        return f"{self.instruction}\n\n{prompt}" if self.instruction else prompt

    def messages(self) -> list[dict]:
        """The chat turns before the answer (the answer itself is the task prompt)."""
        return [{"role": "user", "content": self.instruction or "Continue."}]


def cut_step(text: str, ended: bool) -> str | None:
    """The step a sample proposes: its text up to the first newline, stripped; None when the
    sample never ended (cut off at the length limit).

    >>> cut_step(" 13 - 9 = 4 (left: 4 4 10)\\n\\n", True), cut_step("13 - 9 = ", False)
    ('13 - 9 = 4 (left: 4 4 10)', None)
    """
    if not ended:
        return None
    return text.split("\n", 1)[0].strip()


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


def check_request(k: int, temperature: float, greedy: bool) -> None:
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if not greedy and temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature} (greedy=True decodes the "
                         "most likely step)")
