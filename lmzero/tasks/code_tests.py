"""A problem's tests as a plan the parent can judge without running test code in the sandbox.

Model-written code runs only in `lmzero.sandbox`; what comes back is plain data, and the verdict
is taken here, in the parent. So a test is split by its shape:

    assert candidate(ARGS) == EXPECTED          ─► Case: ARGS is the call's argument tuple,
    assert EXPECTED == candidate(ARGS)                 EXPECTED a value computed in the parent
    assert candidate(ARGS) is True|False|None          (literal_eval, else a restricted eval),
    assert candidate(ARGS)  /  assert not candidate(ARGS)     compared with the returned value
    anything else (abs(candidate(x) - 3.5) < 1e-6, ─► Script: the test's own statements, run in
    loops, helpers, assignments)                       the parent with every candidate(...) call
                                                       answered from the sandbox (`code_script`)

Test text is trusted (the dataset's or the user's own file, as pytest would run it); model code
never is. A call to the function under test by its own name (HumanEval/33's `sort_third(...)`)
is a candidate call too. ARGS are sent as source without names (a literal), since a program
could rebind any name they used (`float`, a helper); other ARGS are evaluated in the parent and
written back as a literal (`to_source`).
"""

from __future__ import annotations

import ast
import builtins
import math
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

CALL = "__lmzero_call__"
"""The name a script calls in place of the function under test (`code_script`)."""
FAIL = "__lmzero_fail__"
"""What a script calls when one of its assertions is false (with the assertion's index)."""
KINDS = ("==", "is", "truthy", "falsy")
"""How a Case compares the returned value: equality, identity with True/False/None, truth."""
PURE = {name: getattr(builtins, name) for name in (
    "abs", "bool", "dict", "float", "frozenset", "int", "len", "list", "max", "min", "range",
    "reversed", "round", "set", "sorted", "str", "sum", "tuple", "complex", "bytes", "chr",
    "ord", "pow", "divmod", "all", "any", "zip", "enumerate", "map", "filter")}
"""Builtins an EXPECTED or ARGS expression may use when evaluated in the parent outside a
script (no helpers, no imports)."""


@dataclass(frozen=True)
class Case:
    """One assertion judged by one call: its argument tuple's source and what to compare."""

    args: str
    """Source of the argument tuple, without names, e.g. "([1, 2, 3], 2)"."""
    kind: str
    """One of KINDS."""
    expected: Any = None
    """The value the result must equal ("==") or be ("is": True, False or None)."""
    source: str = ""
    """The assertion as written, for messages."""

    def holds(self, value) -> bool:
        """Whether a returned plain value satisfies the assertion (the parent's comparison:
        `value` holds only exact builtin types, so `==` runs no model code).

        >>> Case("(1,)", "==", [2]).holds([2]), Case("(1,)", "is", True).holds(1)
        (True, False)
        """
        if self.kind == "==":
            return bool(value == self.expected)
        if self.kind == "is":
            return value is self.expected
        return bool(value) == (self.kind == "truthy")


@dataclass(frozen=True)
class Script:
    """Test statements the parent runs, each candidate call answered from the sandbox."""

    code: str
    """The test module with `check(candidate)` rewritten: candidate calls call CALL with the
    argument tuple, a false assertion calls FAIL(i) with i an index into `asserts`."""
    helpers: str
    """Trusted code that runs first in the parent: the prompt's imports and helper functions
    (the function under test left out), the problem's setup code."""
    asserts: tuple[str, ...]
    """The source of each rewritten assertion."""


@dataclass(frozen=True)
class Plan:
    """Everything needed to judge a program against a problem's tests."""

    cases: tuple[Case, ...]
    """Assertions judged call by call."""
    script: Script | None
    """The rest, or None when every assertion is a Case."""

    @property
    def units(self) -> int:
        """Test units for partial credit: each case, and the script as one."""
        return len(self.cases) + (self.script is not None)


class _Bound(ast.NodeVisitor):
    """Names a test binds (assignments, loop targets, imports, defs): an assertion that reads
    one of them depends on earlier statements and must run in the script."""

    def __init__(self):
        self.names: set[str] = set()

    def visit_Name(self, node):
        if isinstance(node.ctx, ast.Store):
            self.names.add(node.id)

    def visit_alias(self, node):
        self.names.add((node.asname or node.name).split(".")[0])

    def visit_FunctionDef(self, node):
        self.names.add(node.name)
        self.generic_visit(node)

    visit_ClassDef = visit_AsyncFunctionDef = visit_FunctionDef


def plan_humaneval(test: str, entry_point: str, prompt: str = "", setup: str = "") -> Plan:
    """The plan of a HumanEval test module (`def check(candidate): ...`); ValueError says what
    is wrong with the text."""
    module = _parse(test, "test")
    checks = [n for n in module.body if isinstance(n, ast.FunctionDef) and n.name == "check"]
    if len(checks) != 1 or len(checks[0].args.args) != 1:
        raise ValueError("test must define check(candidate) once")
    check = checks[0]
    names = {check.args.args[0].arg, entry_point}
    rest = [n for n in module.body if n is not check]
    return _plan(check, names, _helpers(prompt, entry_point, setup, rest))


def plan_asserts(tests: list[str], entry_point: str, prompt: str = "",
                 setup: str = "") -> Plan:
    """The plan of MBPP-style test statements (`assert f(1) == 2`, one string each)."""
    body = []
    for i, text in enumerate(tests, 1):
        body += _parse(text, f"test {i}").body
    check = ast.parse("def check(candidate):\n    pass").body[0]
    check.body = body or check.body
    return _plan(check, {entry_point}, _helpers(prompt, entry_point, setup, []))


def _plan(check: ast.FunctionDef, names: set[str], helpers: str) -> Plan:
    bound = _Bound()
    for statement in check.body:
        bound.visit(statement)
    cases, kept = [], []
    for statement in check.body:
        if _trivially_true(statement):
            continue
        case = _case(statement, names, bound.names)
        if case is not None:
            cases.append(case)
        else:
            kept.append(statement)
    if not cases and not any(_calls(s, names) for s in kept):
        raise ValueError("no test calls the function under test")
    script = None
    if kept:  # even without candidate calls: an assertion that fails must fail the program
        check.body = kept
        script = _script(check, names, helpers)
    return Plan(tuple(cases), script)


def _parse(text: str, what: str) -> ast.Module:
    try:
        return ast.parse(text)
    except SyntaxError as e:
        raise ValueError(f"{what} is not Python: {e.msg} (line {e.lineno})") from None
    except (ValueError, RecursionError, MemoryError) as e:  # NUL bytes, nesting
        raise ValueError(f"{what} is not Python: {type(e).__name__}") from None


def _trivially_true(statement: ast.stmt) -> bool:
    """`assert True, "..."`, a docstring, a bare name (HumanEval/129's `print`): no test."""
    if isinstance(statement, ast.Assert):
        return isinstance(statement.test, ast.Constant) and bool(statement.test.value) is True
    if isinstance(statement, ast.Expr):
        return isinstance(statement.value, (ast.Constant, ast.Name))
    return isinstance(statement, ast.Pass)


def _is_call(node: ast.AST, names: set[str]) -> bool:
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            and node.func.id in names)


def _calls(node: ast.AST, names: set[str]) -> bool:
    return any(_is_call(n, names) for n in ast.walk(node))


def _case(statement: ast.stmt, names: set[str], bound: set[str]) -> Case | None:
    """The Case an assertion is, or None when it must run in the script."""
    if not isinstance(statement, ast.Assert):
        return None
    test, source = statement.test, ast.unparse(statement.test)
    call, kind, expected = None, None, None
    if _is_call(test, names):
        call, kind = test, "truthy"
    elif isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not) \
            and _is_call(test.operand, names):
        call, kind = test.operand, "falsy"
    elif isinstance(test, ast.Compare) and len(test.ops) == 1:
        left, op, right = test.left, test.ops[0], test.comparators[0]
        if isinstance(op, ast.Eq) and _is_call(right, names) and not _is_call(left, names):
            left, right = right, left
        if _is_call(left, names) and not _calls(right, names):
            if isinstance(op, ast.Eq):
                call, kind, expected = left, "==", right
            elif isinstance(op, ast.Is) and isinstance(right, ast.Constant) \
                    and right.value in (True, False, None):
                call, kind, expected = left, "is", right
    if call is None or call.keywords or _calls(ast.Tuple(call.args, ast.Load()), names):
        return None
    if any(isinstance(n, ast.Name) and n.id in bound for n in ast.walk(test)):
        return None
    try:
        args = _args_source(call.args)
        value = None if expected is None else evaluate(expected)
    except Exception:  # noqa: BLE001 - needs helpers or the test's names: run it as a script
        return None
    return Case(args, kind, value, source)


def _args_source(args: list[ast.expr]) -> str:
    """The argument tuple as name-free source: as written when it has no names, else evaluated
    here and written back (`to_source`)."""
    node = ast.Tuple(args, ast.Load())
    if not any(isinstance(n, ast.Name) for n in ast.walk(node)):
        return ast.unparse(node)
    return to_source(evaluate(node))


def evaluate(node: ast.expr):
    """A trusted expression's value in the parent: a literal, else an eval that sees only PURE
    builtins.

    >>> evaluate(ast.parse("2.0 / 3.0", mode="eval").body)
    0.6666666666666666
    """
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        code = compile(ast.Expression(node), "<test>", "eval")
        return eval(code, {"__builtins__": PURE})  # noqa: S307 - the test's text, no helpers


def to_source(value) -> str:
    """Name-free source that evaluates to `value` (plain data only); ValueError otherwise.

    >>> to_source(([1, 2.5], "a", {3: None}, float("inf"), set(), True))
    "([1, 2.5], 'a', {3: None}, 1e999, {*()}, True)"
    """
    if value is None or isinstance(value, (bool, int, str, bytes)):
        return repr(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "(1e999 - 1e999)"
        return repr(value) if math.isfinite(value) else ("1e999" if value > 0 else "-1e999")
    if isinstance(value, complex):
        return f"complex({to_source(value.real)}, {to_source(value.imag)})" if not \
            math.isfinite(abs(value)) else repr(value)
    kind = type(value)
    if kind is list:
        return "[" + ", ".join(map(to_source, value)) + "]"
    if kind is tuple:
        inner = ", ".join(map(to_source, value))
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if kind is dict:
        return "{" + ", ".join(f"{to_source(k)}: {to_source(v)}" for k, v in value.items()) + "}"
    if kind is set:
        return "{" + ", ".join(map(to_source, sorted(value, key=repr))) + "}" if value else \
            "{*()}"
    raise ValueError(f"an argument of type {kind.__name__} cannot be sent to the sandbox")


class _Rewrite(ast.NodeTransformer):
    """candidate(a, b) -> CALL((a, b)); `assert T` -> `if not T: FAIL(i)` (FAIL raises, or
    does nothing while results are pending)."""

    def __init__(self, names: set[str]):
        self.names, self.asserts = names, []

    def visit_Call(self, node):
        self.generic_visit(node)
        if not _is_call(node, self.names):
            return node
        if node.keywords:
            raise ValueError(f"a test calls the function with keywords: {ast.unparse(node)[:80]}")
        return ast.Call(ast.Name(CALL, ast.Load()), [ast.Tuple(node.args, ast.Load())], [])

    def visit_Assert(self, node):
        self.asserts.append(ast.unparse(node.test))
        node = self.generic_visit(node)
        fail = ast.Expr(ast.Call(ast.Name(FAIL, ast.Load()),
                                 [ast.Constant(len(self.asserts) - 1)], []))
        return ast.If(ast.UnaryOp(ast.Not(), node.test), [fail], [])


def _script(check: ast.FunctionDef, names: set[str], helpers: str) -> Script:
    rewrite = _Rewrite(names)
    check = rewrite.visit(check)
    module = ast.fix_missing_locations(ast.Module([check], []))
    return Script(ast.unparse(module), helpers, tuple(rewrite.asserts))


def _helpers(prompt: str, entry_point: str, setup: str, test_rest: list[ast.stmt]) -> str:
    """The trusted code a script runs first: the prompt's top level without the function under
    test (a HumanEval prompt stops after its docstring, so a `pass` body closes it), the test
    module's other statements (METADATA), then the problem's setup code."""
    parts = []
    if prompt.strip():
        module = None
        for text in (prompt, prompt.rstrip("\n") + "\n    pass\n"):
            try:
                module = ast.parse(text)
                break
            except (SyntaxError, ValueError):
                continue
        if module is None:
            raise ValueError("prompt is not Python (nor a function head with its docstring)")
        parts += [n for n in module.body
                  if not (isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
                          and n.name == entry_point)]
    parts += test_rest
    text = ast.unparse(ast.Module(parts, [])) if parts else ""
    return text + ("\n" + setup if setup.strip() else "")


@lru_cache(maxsize=4096)
def infer_entry_point(tests: tuple[str, ...]) -> str:
    """The function every test calls, builtins aside; ValueError when not exactly one.

    >>> infer_entry_point(("assert set(shared((1, 2), (2,))) == {2}",
    ...                    "assert math.isclose(shared((1,), (1,))[0], 1)"))
    'shared'
    """
    counts: Counter[str] = Counter()
    for i, text in enumerate(tests, 1):
        module = _parse(text, f"test {i}")
        counts.update({n.func.id for n in ast.walk(module) if isinstance(n, ast.Call)
                       and isinstance(n.func, ast.Name) and not hasattr(builtins, n.func.id)})
    everywhere = [name for name, n in counts.items() if n == len(tests)]
    if len(everywhere) != 1:
        raise ValueError("cannot tell the function under test from test_list: give "
                         "\"entry_point\"")
    return everywhere[0]
