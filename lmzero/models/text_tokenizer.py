"""A fixed character vocabulary for the reasoning tasks' prompt and step language.

A state is written as text (`4 9 10 13 -> 24\\n13 - 9 = 4 (left: 4 4 10)\\n`); one character is
one token. The vocabulary is fixed, so ids never depend on the data seen, and it is saved with
every checkpoint (`CharTokenizer.vocab`) so a checkpoint is refused by a tokenizer that differs.

>>> tok = CharTokenizer()
>>> tok.decode(tok.encode("13 - 9 = 4 (left: 4 4 10)\\n"))
'13 - 9 = 4 (left: 4 4 10)\\n'
>>> tok.encode("#")
Traceback (most recent call last):
...
ValueError: character '#' (at 0) is not in the tokenizer's vocabulary
"""

from __future__ import annotations

from typing import Sequence

PAD, BOS = "<pad>", "<bos>"
"""Special tokens: padding (never attended to, never generated) and the start of every text."""
CHARACTERS = "\n 0123456789+-*/=()>:left"
"""Every character of the prompt/step language: the end of a line (a step), the space, digits,
operators, fractions' slash, the problem line's `->` and the `(left: ...)` annotation."""


class CharTokenizer:
    """Character-level tokenizer: ids 0 and 1 are PAD and BOS, then one id per character."""

    def __init__(self, characters: str = CHARACTERS):
        if len(set(characters)) != len(characters):
            raise ValueError("the tokenizer's characters must be distinct")
        self.vocab: list[str] = [PAD, BOS, *characters]
        """Token strings by id (saved in checkpoints)."""
        self.ids = {c: i for i, c in enumerate(self.vocab)}
        self.pad_id, self.bos_id = 0, 1
        self.newline_id = self.ids["\n"]

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    @classmethod
    def from_vocab(cls, vocab: Sequence[str]) -> "CharTokenizer":
        """The tokenizer a checkpoint was trained with; ValueError if it is not one of ours."""
        vocab = list(vocab)
        if vocab[:2] != [PAD, BOS] or any(len(c) != 1 for c in vocab[2:]):
            raise ValueError("not a character vocabulary (expected <pad>, <bos>, then characters)")
        return cls("".join(vocab[2:]))

    def encode(self, text: str) -> list[int]:
        """Token ids of `text`, one per character (no BOS: callers that need it prepend it)."""
        try:
            return [self.ids[c] for c in text]
        except KeyError:
            bad = next(i for i, c in enumerate(text) if c not in self.ids)
            raise ValueError(f"character {text[bad]!r} (at {bad}) is not in the tokenizer's "
                             "vocabulary") from None

    def decode(self, ids: Sequence[int]) -> str:
        """The text of `ids`; PAD and BOS are dropped."""
        return "".join(self.vocab[i] for i in ids if i > self.bos_id)
