"""Symbolic answers (`x+1`, `\\frac{1}{2}`, `sqrt(2)/2`) compared by sympy, in a worker process.

`symbolic_equal(a, b)` first rewrites both answers into sympy's input (`to_sympy_text`: the LaTeX
macros `\\frac`, `\\sqrt`, `\\cdot`, `\\pi`, braces) and refuses any that leave a whitelist
(characters, names in `FUNCTIONS`, at most `MAX_DEPTH` nested brackets and `MAX_DIGITS` digits in
a number, no scientific notation), so Python never sees anything but arithmetic on numbers,
single-letter symbols and known functions. The comparison itself (parse with `evaluate=False`,
then `simplify(a - b) == 0`) runs in a separate worker process (`python -I`, sympy only, its
address space capped at `WORKER_MEMORY` bytes) that is killed when a check runs past
`SYMBOLIC_TIMEOUT` seconds; the check is then False, and a new worker starts at once for the next.

Why a process: sympy's parser and `simplify` evaluate eagerly (`9**9**9**9`,
`expand((x+1)**999)`), and a long C-level big-integer operation cannot be interrupted in-process.
Signal timeouts (math-verify's approach) fire only on the main thread and only between
bytecodes, and a thread cannot be killed; a process can, and its memory cap stops an exhaustion
before the timeout does. Inside the worker, power towers and exponents past 64 are refused right
after parsing, so the usual hostile answers are False within a millisecond; the timeout is the
backstop for the rest. The first symbolic check in a process pays the worker's start (sympy's
import, about a second); each later one costs a pipe round trip plus sympy's own time. A
worker whose parent stops waiting ends itself (an alarm with no handler) a few seconds later.
"""

from __future__ import annotations

import atexit
import json
import os
import re
import select
import subprocess
import sys
import threading
import time

SYMBOLIC_TIMEOUT = 1.0
"""Seconds a symbolic comparison may take before its worker is killed (the check is False)."""
WORKER_MEMORY = 1 << 30
"""Address-space cap of the symbolic worker, in bytes."""
WORKER_START_TIMEOUT = 60.0
"""Seconds to wait for a new worker to import sympy (not counted in SYMBOLIC_TIMEOUT)."""
MAX_DIGITS = 40
"""Digits allowed in one number (here and in `math_answer`'s numbers)."""

FUNCTIONS = {"sqrt": "sqrt", "pi": "pi", "ln": "log", "log": "log", "exp": "exp", "sin": "sin",
             "cos": "cos", "tan": "tan", "abs": "Abs", "oo": "oo", "infty": "oo"}
"""Names a symbolic answer may use (-> sympy's name); any other name of 2+ letters refuses it."""
MAX_DEPTH = 20
"""Deepest bracket nesting a symbolic answer may have."""
_SAFE_CHARS = re.compile(r"[0-9A-Za-z+\-*/^(). ]*")


def to_sympy_text(text: str) -> str | None:
    """An answer rewritten into the input sympy's parser reads (LaTeX macros `\\frac`, `\\sqrt`,
    `\\cdot`, `\\pi`, braces), or None when it leaves the whitelist.

    >>> to_sympy_text("\\\\frac{\\\\sqrt{2}}{2}"), to_sympy_text("2^{10} \\\\cdot x")
    ('((sqrt(2))/(2))', '2^(10) * x')
    >>> to_sympy_text("__import__('os')"), to_sympy_text("1e999"), to_sympy_text("("*30 + ")"*30)
    (None, None, None)
    """
    if len(text) > 1000:  # `math_answer` refuses far shorter answers before this
        return None
    text = _expand_frac(text)
    if text is None:
        return None
    for latex, plain in (("\\sqrt", "sqrt"), ("\\cdot", "*"), ("\\times", "*"), ("\\pi", "pi"),
                         ("\\infty", "oo"), ("\\ln", "ln"), ("\\log", "log"), ("{", "("),
                         ("}", ")"), ("[", "("), ("]", ")")):
        text = text.replace(latex, plain)
    if not _SAFE_CHARS.fullmatch(text) or re.search(r"\d[eE][-+]?\d", text):
        return None  # backslashes, commas, quotes, underscores..., or scientific notation
    if any(len(run) > MAX_DIGITS for run in re.findall(r"\d+", text)):
        return None
    names = re.findall(r"[A-Za-z]+", text)
    if any(len(n) > 1 and n not in FUNCTIONS for n in names):
        return None
    depth = 0
    for c in text:
        depth += (c == "(") - (c == ")")
        if depth < 0 or depth > MAX_DEPTH:
            return None
    return re.sub(r"[A-Za-z]{2,}", lambda m: FUNCTIONS[m.group()], text) if depth == 0 else None


def _expand_frac(text: str) -> str | None:
    """`\\frac{A}{B}` -> `((A)/(B))`, recursively (`\\frac12` too); None when unbalanced."""
    out, i = [], 0
    while True:
        j = text.find("\\frac", i)
        if j < 0:
            return "".join(out) + text[i:]
        out.append(text[i:j])
        parts, k = [], j + 5
        for _ in range(2):
            while k < len(text) and text[k] == " ":
                k += 1
            if k < len(text) and text[k] == "{":
                end, depth = k, 0
                while end < len(text):
                    depth += (text[end] == "{") - (text[end] == "}")
                    if depth == 0:
                        break
                    end += 1
                if end == len(text):
                    return None
                parts.append(text[k + 1:end])
                k = end + 1
            elif k < len(text):
                parts.append(text[k])
                k += 1
            else:
                return None
        inner = [_expand_frac(p) for p in parts]
        if None in inner:
            return None
        out.append(f"(({inner[0]})/({inner[1]}))")
        i = k


_WORKER_SOURCE = r'''
import json, sys
try:
    import resource
    resource.setrlimit(resource.RLIMIT_AS, (LIMIT, LIMIT))
except Exception:
    pass
import sympy
from sympy.parsing.sympy_parser import (parse_expr, standard_transformations,
                                        implicit_multiplication, convert_xor)
TRANSFORMS = standard_transformations + (implicit_multiplication, convert_xor)
GLOBALS = {}
exec("from sympy import *", GLOBALS)
LOCALS = {c: sympy.Symbol(c) for c in "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"}
MAX_POWER, MAX_NODES = 64, 200

def parse(text):
    expr = parse_expr(text, local_dict=dict(LOCALS), global_dict=GLOBALS,
                      transformations=TRANSFORMS, evaluate=False)
    nodes = list(sympy.preorder_traversal(expr))
    if len(nodes) > MAX_NODES:
        raise ValueError("too large")
    for node in nodes:
        if isinstance(node, sympy.Pow):
            check_exponent(node.exp)
    return expr

def check_exponent(exp):
    """No towers: powers inside an exponent are divisions only, and a numeric exponent is
    small."""
    for node in sympy.preorder_traversal(exp):
        if isinstance(node, sympy.Pow) and node.exp != -1:
            raise ValueError("power tower")
        if isinstance(node, sympy.Number) and abs(node) > MAX_POWER:
            raise ValueError("large exponent")
    if not exp.free_symbols and abs(sympy.N(exp, 15)) > MAX_POWER:
        raise ValueError("large exponent")

def equal(a, b):
    x, y = parse(a), parse(b)
    diff = (x - y).doit()
    if diff == 0 or sympy.simplify(diff) == 0:
        return True
    return diff.equals(0) is True

import signal
equal("sqrt(2)/2", "1/sqrt(2)")  # warm up: sympy's first simplify loads much more than later ones
print("ready", flush=True)
for line in sys.stdin:
    signal.alarm(ALARM)  # no handler: the kernel ends a worker whose parent stopped waiting
    try:
        a, b = json.loads(line)
        answer = "1" if equal(a, b) else "0"
    except Exception:
        answer = "0"
    signal.alarm(0)
    print(answer, flush=True)
'''


class _SymbolicWorker:
    """One sympy worker process per process that needs it, killed when a check runs past
    `SYMBOLIC_TIMEOUT` (and replaced for the next check)."""

    def __init__(self):
        self.proc: subprocess.Popen | None = None
        self.ready = False
        self.failed_starts = 0
        self.lock = threading.Lock()

    def equal(self, a: str, b: str) -> bool:
        with self.lock:
            try:
                proc = self._started()
                if proc is None:
                    return False
                proc.stdin.write((json.dumps([a, b]) + "\n").encode())
                proc.stdin.flush()
                line = self._readline(proc, SYMBOLIC_TIMEOUT)
            except (OSError, ValueError):
                line = None
            if line is None:  # timed out or died: kill it, start the next one now
                self._kill()
                self._spawn()
                return False
            return line == "1"

    def _started(self) -> subprocess.Popen | None:
        if self.proc is None or self.proc.poll() is not None:
            self._spawn()
        if self.proc is not None and not self.ready:
            self.ready = self._readline(self.proc, WORKER_START_TIMEOUT) == "ready"
            if not self.ready:
                self.failed_starts += 1
                self._kill()
        return self.proc

    def _spawn(self) -> None:
        if self.failed_starts >= 3:  # no sympy, or no way to start python: stay False
            self.proc = None
            return
        source = _WORKER_SOURCE.replace("LIMIT", str(WORKER_MEMORY)).replace(
            "ALARM", str(int(SYMBOLIC_TIMEOUT) + 2))
        try:
            self.proc = subprocess.Popen([sys.executable, "-I", "-c", source],
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=subprocess.DEVNULL, bufsize=0)
        except OSError:
            self.proc = None
        self.ready = False

    @staticmethod
    def _readline(proc: subprocess.Popen, timeout: float) -> str | None:
        """One line from the worker within `timeout` seconds, or None."""
        fd, data = proc.stdout.fileno(), b""
        deadline = time.monotonic() + timeout
        while not data.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                return None
            chunk = os.read(fd, 64)
            if not chunk:
                return None
            data += chunk
        return data.decode().strip()

    def _kill(self) -> None:
        if self.proc is not None:
            try:
                self.proc.kill()
                self.proc.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                pass
        self.proc, self.ready = None, False

    def _forget(self) -> None:
        """In a forked child: the parent's worker is not ours to use or kill."""
        self.proc, self.ready, self.lock = None, False, threading.Lock()


_WORKER = _SymbolicWorker()
atexit.register(_WORKER._kill)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_WORKER._forget)


def symbolic_equal(a: str, b: str) -> bool:
    """Whether two answers are equal as sympy expressions; False when either leaves the
    whitelist, does not parse, or takes longer than `SYMBOLIC_TIMEOUT`.

    >>> symbolic_equal("x+1", "1+x"), symbolic_equal("9**9**9**9", "1")
    (True, False)
    """
    sa, sb = to_sympy_text(a), to_sympy_text(b)
    return sa is not None and sb is not None and _WORKER.equal(sa, sb)
