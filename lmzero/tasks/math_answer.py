"""Reading and checking the answers of math word problems: pure functions, bounded on any input.

- `final_answer(step)`: the answer a reasoning line states (`Answer: 42`, `The answer is 42`,
  `#### 42`, `\\boxed{42}`), or None.
- `gsm8k_answer(text)`: the final answer of a GSM8K answer field (after its last `####` line).
- `answers_match(given, expected)`: typed comparison. Numbers ("18", "18.0", "$18", "18 apples",
  "1,800", "3/4", "-5", "50%") compare exactly as Fractions, on a regex fast path that never
  touches sympy. Anything else (`x+1`, `\\frac{1}{2}`, `sqrt(2)/2`) goes to sympy.
- `false_claims(step)` / `check_arithmetic(step)`: explicit equations in a line (`12 + 15 = 27`,
  `$12 x 3 = $36`, `2 + 3 + 4 = 9`) that are false.

Bounds (a hostile answer is reward 0, never a hang, an exhaustion or an exception): answers over
`MAX_ANSWER_CHARS` are refused before any parsing; numbers with more than `MAX_DIGITS` digits or
an exponent beyond `MAX_EXPONENT` are refused; claims are read from the first `MAX_CLAIM_CHARS`
characters of a step with regexes that cannot backtrack badly. Symbolic answers go through
`math_symbolic`: a whitelist before sympy, then sympy in a worker process that is killed after
`math_symbolic.SYMBOLIC_TIMEOUT` seconds (why a process, not a signal or a thread: see there).
"""

from __future__ import annotations

import re
from fractions import Fraction
from functools import lru_cache

from lmzero.tasks.math_symbolic import MAX_DIGITS, symbolic_equal

MAX_ANSWER_CHARS = 200
"""Longer answers are refused (False) before any parsing."""
MAX_EXPONENT = 40
"""Largest |e| of a number written like 1.5e3."""
MAX_CLAIM_CHARS = 4000
"""`false_claims` reads at most this many characters of a step (its first ones)."""
MAX_SCAN_CHARS = 4000
"""`final_answer` reads at most this many characters of a step (its last ones)."""

# -- final answers --------------------------------------------------------------------------------

_ANSWER = re.compile(r"(?:^|(?<=[.!?])\s)[\s*#>-]*(?:(?:so|thus|therefore|hence),?\s+)?"
                     r"(?:the\s+)?(?:final\s+)?answer\s*(?:is\b\s*:?|:)(.*)$",
                     re.IGNORECASE | re.DOTALL)
"""`Answer: N`, `The final answer is N`, `So the answer is: N`, at the start of the line or of a
sentence in it."""
_HASHES = re.compile(r"####(.*)$", re.DOTALL)
MAX_BOXED = 1000  # a \boxed{ whose braces do not close within this many characters is ignored


def final_answer(step: str) -> str | None:
    """The final answer a step states, or None.

    >>> final_answer("Answer: 42"), final_answer("So the answer is $18."), final_answer("#### 7")
    ('42', '$18', '7')
    >>> final_answer("Thus \\\\boxed{\\\\frac{1}{2}}"), final_answer("12 + 15 = 27")
    ('\\\\frac{1}{2}', None)
    """
    if not isinstance(step, str):
        return None
    step = step[-MAX_SCAN_CHARS:]  # a usable answer ends the step, and is short
    found = _boxed(step)
    if found is None:
        match = _HASHES.search(step) or _ANSWER.search(step)
        found = match.group(1) if match else None
    if found is None:
        return None
    found = found.strip().strip("*").strip()
    found = found[:-1].rstrip() if found.endswith(".") else found
    return found or None


def _boxed(text: str) -> str | None:
    """The content of the last `\\boxed{...}` (braces balanced), or None."""
    start = max(text.rfind("\\boxed{"), text.rfind("\\fbox{"))
    if start < 0:
        return None
    open_at = text.index("{", start)
    depth = 0
    for i in range(open_at, min(len(text), open_at + MAX_BOXED)):
        depth += (text[i] == "{") - (text[i] == "}")
        if depth == 0:
            return text[open_at + 1:i]
    return None


def gsm8k_answer(text: str) -> str:
    """The final answer of a GSM8K answer field: the text after its last `####` line, or the
    whole text stripped when it has none.

    >>> gsm8k_answer("She has 3 + 4 = <<3+4=7>>7 apples.\\n#### 7")
    '7'
    >>> gsm8k_answer(" 1,800 ")
    '1,800'
    """
    for line in reversed(text.splitlines()):
        if line.lstrip().startswith("####"):
            return line.lstrip()[4:].strip()
    return text.strip()


# -- numbers ------------------------------------------------------------------------------------

_UNIT_STOP = {"pi", "sqrt", "ln", "log", "exp", "sin", "cos", "tan", "inf", "infinity", "oo",
              "frac", *"abcdefijknptuvwxyz"}
"""Words after a number that make it an expression, not a unit (`2 pi`, `5 x`; `5 m` is 5)."""
_NUMBER = re.compile(
    r"(?P<sign>[-+]?)\s*\$?\s*(?P<sign2>-?)"
    r"(?:(?P<whole>\d+)\s+(?=\d+/))?"  # mixed number: 1 1/2
    r"(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d*)?|\d+(?:\.\d*)?|\.\d+)"
    r"(?:/(?P<den>\d+))?(?:[eE](?P<exp>[-+]?\d+))?"
    r"\s*(?P<pct>%|percent\b)?(?P<unit>(?:\s+[A-Za-z][A-Za-z']*(?:/[A-Za-z]+)?\.?){0,6})")
_FRAC = re.compile(r"(-?)\\frac\{(-?\d+)\}\{(\d+)\}|(-?)\\frac(\d)(\d)")
REFUSED = object()
"""What `parse_number` returns for a number past the caps (digits, exponent)."""


def parse_number(text: str, percent: bool = False):
    """A plain number as an exact Fraction; None when `text` is not a plain number; `REFUSED`
    when it is one but exceeds the caps. Thousands separators must group by three, trailing unit
    words are dropped, and `%` divides by 100 only when `percent` is set.

    >>> [str(parse_number(t)) for t in ["18.0", "$1,800", "3/4", "-5 dollars", "1 1/2", "50%"]]
    ['18', '1800', '3/4', '-5', '3/2', '50']
    >>> parse_number("50%", percent=True), parse_number("1,2"), parse_number("2 pi")
    (Fraction(1, 2), None, None)
    >>> parse_number("1e999999999") is REFUSED
    True
    """
    if len(text) > MAX_ANSWER_CHARS:
        return REFUSED
    frac = _FRAC.fullmatch(text)
    if frac:
        sign, num, den = (frac.group(1, 2, 3) if frac.group(2) is not None
                          else frac.group(4, 5, 6))
        if len(num) + len(den) > MAX_DIGITS:
            return REFUSED
        return None if int(den) == 0 else Fraction(int(num), int(den)) * (-1 if sign else 1)
    m = _NUMBER.fullmatch(text)
    if not m or m["unit"] and any(w.lower().strip(".") in _UNIT_STOP
                                  for w in re.split(r"[\s/]+", m["unit"].strip())):
        return None
    num = m["num"].replace(",", "")
    if sum(len(g or "") for g in (m["whole"], num, m["den"])) > MAX_DIGITS + 1:
        return REFUSED
    exp = m["exp"]
    if exp is not None and (len(exp.lstrip("+-")) > 3 or abs(int(exp)) > MAX_EXPONENT):
        return REFUSED
    value = Fraction(num)  # exact: Fraction parses decimal text without floats
    if m["den"] is not None:
        if "." in num or int(m["den"]) == 0:
            return None
        value /= int(m["den"])
    value += int(m["whole"] or 0)
    value *= Fraction(10) ** int(exp or 0)
    if m["pct"] and percent:
        value /= 100
    return -value if (m["sign"] == "-") != (m["sign2"] == "-") else value


_LATEX_DROP = re.compile(r"\\[,;:! ]|\\left|\\right|\\displaystyle|~")
_LATEX_WRAP = re.compile(r"\\(?:text|textbf|mathrm|mbox|operatorname)\{([^{}]*)\}")


def _clean(text: str) -> str:
    """Shared normalisation: math delimiters, LaTeX spacing and text wrappers, trailing period,
    a leading `x =`."""
    text = text.strip().replace("\u2212", "-")
    if len(text) > 1 and text[0] == text[-1] == "$":
        text = text[1:-1]
    for a, b in (("\\(", "\\)"), ("\\[", "\\]")):
        if text.startswith(a) and text.endswith(b):
            text = text[2:-2]
    text = _LATEX_WRAP.sub(r" \1", _LATEX_DROP.sub("", text))
    text = text.replace("\\$", "$").replace("\\%", "%").replace("dfrac", "frac")
    text = text.replace("tfrac", "frac").strip()
    boxed = _boxed(text)
    if boxed is not None and text.startswith(("\\boxed{", "\\fbox{")) and text.endswith("}"):
        text = boxed.strip()
    text = text[:-1].rstrip() if text.endswith(".") else text
    return re.sub(r"^[A-Za-z]\s*=\s*", "", text)


def answers_match(given: str, expected: str, *, percent: bool = False) -> bool:
    """Whether two answers are the same: exactly as numbers, else symbolically; never raises.

    >>> answers_match("$1,800.00", "1800"), answers_match("18 apples", "18.0")
    (True, True)
    >>> answers_match("3/4", "0.75"), answers_match("1,2", "12"), answers_match("50%", "50")
    (True, False, True)
    >>> answers_match("50%", "0.5"), answers_match("50%", "0.5", percent=True)
    (False, True)
    >>> answers_match("9**9**9**9", "1"), answers_match("x" * 10_000_000, "1")
    (False, False)
    """
    try:
        if not isinstance(given, str) or not isinstance(expected, str):
            return False
        if len(given) > MAX_ANSWER_CHARS or len(expected) > MAX_ANSWER_CHARS:
            return False
        return _match(given, expected, bool(percent))
    except Exception:  # a verifier never raises: a failed check is a mismatch
        return False


@lru_cache(maxsize=4096)
def _match(given: str, expected: str, percent: bool) -> bool:
    g, e = _clean(given), _clean(expected)
    a, b = parse_number(g, percent), parse_number(e, percent)
    if a is REFUSED or b is REFUSED or not g or not e:
        return False
    if a is not None and b is not None:
        return a == b
    if "".join(g.split()) == "".join(e.split()):
        return True
    return symbolic_equal(g, e)


# -- arithmetic claims in a step ------------------------------------------------------------------

_NUM = r"\$?(?:\d{1,3}(?:,\d{3})+|\d{1,30})(?:\.\d{1,30})?%?(?!\d|[,.]\d)"
_OP = r"\s*[-+*/x\u00d7\u00f7\u00b7\u2212]\s*"
_EXPR = rf"{_NUM}(?:{_OP}{_NUM}){{0,20}}"
_CHAIN = re.compile(rf"(?<![\w.,$]){_EXPR}(?:\s*=\s*{_EXPR}){{1,10}}")
_TOKEN = re.compile(rf"{_NUM}|[-+*/x\u00d7\u00f7\u00b7\u2212]")
_OPS = {"x": "*", "\u00d7": "*", "\u00f7": "/", "\u00b7": "*", "\u2212": "-"}


def false_claims(step: str) -> list[str]:
    """Why each explicit numeric equation in a step is false (empty when none is). A right side
    written with decimals may be rounded (`1/3 = 0.33`); anything unparseable is ignored.

    >>> false_claims("He pays $12 x 3 = $36, then 36 + 15 = 50.")
    ['36 + 15 = 51, not 50']
    >>> false_claims("2 + 3 * 4 = 14 and 10 / 3 = 3.33, so 1,2 = 3 is not checked")
    []
    """
    if not isinstance(step, str):
        return []
    text, errors = step[:MAX_CLAIM_CHARS], []
    for match in _CHAIN.finditer(text):
        end = match.end()
        if end < len(text) and (text[end].isalnum() or text[end] in "^(_"):
            continue  # the equation goes on in a form we do not read
        if "%" in match.group() or not re.search(r"\d\s*[-+*/x\u00d7\u00f7\u00b7\u2212]\s*\$?\d",
                                                 match.group()):
            continue  # percentages are ambiguous; a plain `a = b` claims no arithmetic
        errors += _chain_errors([s.strip() for s in match.group().split("=")])
    return errors


def check_arithmetic(step: str) -> str | None:
    """The first false claim of a step, or None.

    >>> check_arithmetic("12 + 15 = 28"), check_arithmetic("48 / 4 = 12")
    ('12 + 15 = 27, not 28', None)
    """
    errors = false_claims(step)
    return errors[0] if errors else None


def _chain_errors(parts: list[str]) -> list[str]:
    values = [_evaluate(p) for p in parts]
    errors = []
    for i in range(1, len(parts)):
        left, right = values[i - 1], values[i]
        if left is None or right is None:
            errors += [f"division by zero in {_show(parts[i - 1] if left is None else parts[i])}"]
            continue
        if left == right or _rounded_ok(left, parts[i]):
            continue
        first = _TOKEN.match(parts[i])
        if first and _number(first.group()) == left and _TOKEN.fullmatch(parts[i]) is None:
            continue  # run-on: `3 * 4 = 12 + 2 = 14` means 3 * 4 = 12, then 12 + 2 = 14
        errors.append(f"{_show(parts[i - 1])} = {format_exact(left)}, not {_show(parts[i])}")
    return errors


def _evaluate(expr: str) -> Fraction | None:
    """The value of `a op b op c ...` with * and / before + and -; None on division by zero."""
    tokens = _TOKEN.findall(expr)
    terms, sign, i = [], 1, 0
    while i < len(tokens):
        value = _number(tokens[i])
        while i + 2 < len(tokens) and _OPS.get(tokens[i + 1], tokens[i + 1]) in "*/":
            other = _number(tokens[i + 2])
            if _OPS.get(tokens[i + 1], tokens[i + 1]) == "*":
                value *= other
            elif other == 0:
                return None
            else:
                value /= other
            i += 2
        terms.append(sign * value)
        if i + 1 < len(tokens):
            sign = -1 if _OPS.get(tokens[i + 1], tokens[i + 1]) == "-" else 1
        i += 2
    return sum(terms, Fraction(0))


def _number(token: str) -> Fraction:
    return Fraction(token.strip("$%").replace(",", ""))


def _rounded_ok(value: Fraction, written: str) -> bool:
    """Whether `written` (one number with decimals) is `value` rounded to its decimals."""
    if not _TOKEN.fullmatch(written) or "." not in written:
        return False
    decimals = len(written.split(".")[1].rstrip("%"))
    return abs(value - _number(written)) <= Fraction(1, 2 * 10 ** decimals)


def _show(expr: str) -> str:
    """An expression as the error message quotes it: single spaces, no $ or separators."""
    parts = [t.strip("$").replace(",", "") if t[0].isdigit() or t[0] == "$" else t
             for t in _TOKEN.findall(expr)]
    return " ".join(parts)


def format_exact(value: Fraction) -> str:
    """An integer, a short decimal, or a/b."""
    if value.denominator == 1:
        return str(value.numerator)
    for places in range(1, 7):
        scaled = value * 10 ** places
        if scaled.denominator == 1:
            text = f"{abs(scaled.numerator):0{places + 1}d}"
            return ("-" if value < 0 else "") + text[:-places] + "." + text[-places:]
    return str(value)
