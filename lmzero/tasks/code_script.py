"""Run a test script in the parent, every call to the model's function answered by the sandbox.

The script (`code_tests.Script`) is the test's own trusted text with each `candidate(...)` made
a call of `CALL(args)`. A run is a few passes over it:

    pass 1: CALL records its argument tuple (as a literal) and returns PENDING, a placeholder
            that absorbs any use (arithmetic, comparison, iteration), so the pass goes on and
            records every call whose arguments do not depend on a result
    sandbox: the recorded calls run, batched with every other program's
    pass 2: CALL returns the results, in order, as plain data (a fresh copy per pass); a call
            not seen before is recorded again for another round, until a pass needs none

The last pass decides: an assertion false -> "wrong answer"; a call that did not return ("error",
"timeout", "crash", ...) -> that status, even if the test caught it; a test that raises on the
returned values -> "wrong answer". A pass must make the same calls as the one before (the
test's `random` is seeded identically each pass); one that does not, or a script that needs more
than MAX_ROUNDS rounds or MAX_CALLS calls, or arguments that are not plain data, is "unchecked":
never a pass. Why passes and not one pass per call: a round trip to the sandbox per call would
cost a process wake-up each; HumanEval's scripts all finish in one round.

The parent's namespace is not a security boundary (test text is trusted, and results are plain
data of exact builtin types); its restricted builtins and imports keep a test from touching the
file system or printing into the judge's output by accident.
"""

from __future__ import annotations

import builtins
import copy
import random
import types
from functools import lru_cache

from lmzero.tasks.code_tests import CALL, FAIL, Script, to_source

MAX_ROUNDS = 8
"""Sandbox round trips one script may take (calls whose arguments depend on earlier results)."""
MAX_CALLS = 5000
"""Calls one script may make (a loop that never ends while its results are pending)."""
SEED = 0
"""Seed of the `random` module a script imports: the same in every pass."""
MODULES = frozenset({
    "math", "cmath", "random", "string", "copy", "collections", "itertools", "functools",
    "operator", "re", "fractions", "decimal", "heapq", "bisect", "statistics", "typing",
    "numbers", "hashlib", "datetime", "array", "textwrap", "unicodedata", "json", "abc"})
"""Modules a test (or the prompt's helpers) may import in the parent."""
_FUNCTIONS = (
    "abs all any ascii bin bool bytearray bytes callable chr classmethod complex dict divmod "
    "enumerate filter float format frozenset getattr hasattr hash hex id int isinstance "
    "issubclass iter len list map max memoryview min next object oct ord pow property range "
    "repr reversed round set setattr slice sorted staticmethod str sum super tuple type zip "
    "__build_class__ NotImplemented Ellipsis").split()


class _Pending:
    """A result not known yet: every operation on it gives itself, so a recording pass runs on
    (truthy, empty when iterated, 0 as a number)."""

    def __getattr__(self, name):
        return self

    def __call__(self, *args, **kwargs):
        return self

    def __bool__(self):
        return True

    def __iter__(self):
        return iter(())

    def __len__(self):
        return 0

    def __float__(self):
        return 0.0

    def __int__(self):
        return 0

    __index__ = __int__

    def __complex__(self):
        return 0j

    def __contains__(self, item):
        return True

    def __hash__(self):
        return 0

    def __repr__(self):
        return "<pending>"

    def __format__(self, spec):
        return "<pending>"

    def _self(self, *args):
        return self


for _name in ("add sub mul truediv floordiv mod pow matmul and or xor lshift rshift divmod "
              "radd rsub rmul rtruediv rfloordiv rmod rpow rmatmul rand ror rxor rlshift "
              "rrshift rdivmod eq ne lt le gt ge neg pos abs invert round getitem "
              "trunc floor ceil").split():
    setattr(_Pending, f"__{_name}__", _Pending._self)

PENDING = _Pending()


class _Stop(BaseException):
    """Ends a pass from inside the test: a failed call or a refusal (BaseException, so a test's
    `except Exception` cannot swallow it)."""


class _Refused(_Stop):
    """The test imports a module the judge does not allow: it cannot be run here."""


class _Failed(Exception):
    """An assertion of the script is false (its index into `Script.asserts`)."""


def _print(*args, **kwargs) -> None:
    """A test's print goes nowhere: the judge's output is its own."""


def _random_module() -> types.ModuleType:
    """`random` as a script sees it: module functions of one `Random(SEED)`, new each pass."""
    rng = random.Random(SEED)
    module = types.ModuleType("random")
    for name in ("random", "randint", "choice", "choices", "shuffle", "sample", "uniform",
                 "randrange", "gauss", "getrandbits", "seed", "triangular", "betavariate"):
        setattr(module, name, getattr(rng, name))
    module.Random = random.Random
    return module


def _namespace() -> dict:
    """A fresh global namespace for one pass: listed builtins, exceptions, guarded imports."""
    table = {name: getattr(builtins, name) for name in _FUNCTIONS}
    table.update({name: value for name, value in vars(builtins).items()
                  if isinstance(value, type) and issubclass(value, BaseException)})
    seeded = _random_module()

    def guarded_import(name, globals=None, locals=None, fromlist=(), level=0):
        if level or name.split(".")[0] not in MODULES:
            raise _Refused(f"the judge does not let a test import {name!r}")
        if name == "random":
            return seeded
        return builtins.__import__(name, globals, locals, fromlist, level)

    table.update(print=_print, __import__=guarded_import)
    return {"__builtins__": table, "__name__": "lmzero_test"}


@lru_cache(maxsize=512)
def _compiled(script: Script):
    return (compile(script.helpers, "<helpers>", "exec"),
            compile(script.code, "<test>", "exec"))


class ScriptRun:
    """One program's script over its rounds: the calls asked for, their results, the outcome.

    `step()` runs a pass and returns the argument sources of calls that need the sandbox (empty
    when the run is over: then `outcome` is (status, detail), status "passed", "wrong answer",
    a call's status, or "unchecked"); `give(results)` hands back their CallResults in order."""

    def __init__(self, script: Script):
        self.script = script
        self.calls: list[str] = []  # argument tuple sources, in the order the test made them
        self.results: list = []  # CallResults of calls[:len(results)]
        self.rounds = self.cursor = 0  # cursor: calls made so far in the current pass
        self.stop: tuple[str, str] | None = None  # an outcome decided inside the pass
        self.outcome: tuple[str, str] | None = None

    def give(self, results: list) -> None:
        self.results += results

    def step(self) -> list[str]:
        """One pass; the new calls it needs (none when the outcome is known)."""
        if self.outcome is not None:
            return []
        known, self.cursor, self.stop = len(self.calls), 0, None
        raised = self._pass()
        new = self.calls[known:]
        if self.stop is not None:
            self.outcome = self.stop
        elif new:
            self.rounds += 1
            if self.rounds <= MAX_ROUNDS:
                return new
            self.outcome = ("unchecked", f"the test needs more than {MAX_ROUNDS} rounds of calls")
        elif isinstance(raised, _Failed):
            self.outcome = ("wrong answer", "assert " + self.script.asserts[raised.args[0]])
        elif raised is not None:
            self.outcome = ("wrong answer", f"the test raised {type(raised).__name__}: "
                                            f"{raised}"[:200])
        else:
            self.outcome = ("passed", "")
        return []

    def _pass(self) -> BaseException | None:
        """Run helpers and the test once; the exception that ended the test, if any."""
        helpers, test = _compiled(self.script)
        namespace = _namespace()
        try:
            exec(helpers, namespace)  # noqa: S102 - trusted: the prompt's and test's own text
            exec(test, namespace)  # noqa: S102
        except (Exception, _Refused) as e:  # noqa: BLE001 - trusted text that cannot run here
            self.stop = ("unchecked", f"the test's own code fails in the judge: "
                                      f"{type(e).__name__}: {e}"[:200])
            return None
        namespace[CALL], namespace[FAIL] = self._call, self._fail
        try:
            namespace["check"](None)
        except _Refused as e:
            self.stop = self.stop or ("unchecked", str(e))
        except _Stop:
            return None
        except Exception as e:  # noqa: BLE001 - the test failed on what the program returned
            return e
        return None

    def _fail(self, index: int) -> None:
        """A false assertion: it ends the test, unless it read a result still pending (then
        the pass goes on recording calls)."""
        if self.cursor <= len(self.results):
            raise _Failed(index)

    def _call(self, args: tuple):
        """A candidate call: its known result, or PENDING after recording it."""
        i, self.cursor = self.cursor, self.cursor + 1
        if i >= MAX_CALLS:
            self.stop = self.stop or ("unchecked", f"the test makes more than {MAX_CALLS} calls")
            raise _Stop
        try:
            source = to_source(args)
        except ValueError as e:
            if len(self.calls) > len(self.results):  # arguments made of a pending result:
                raise _Stop from None  # this pass ends; the next one has the result
            self.stop = self.stop or ("unchecked", str(e))
            raise _Stop from None
        if i < len(self.calls) and self.calls[i] != source:
            self.stop = self.stop or ("unchecked", "the test's calls differ between passes")
            raise _Stop
        if i >= len(self.results):
            if i >= len(self.calls):
                self.calls.append(source)
            return PENDING
        result = self.results[i]
        if result.status != "ok":
            self.stop = self.stop or (result.status, result.detail)
            raise _Stop
        return copy.deepcopy(result.value)
