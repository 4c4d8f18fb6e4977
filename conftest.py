"""Test-session settings for the whole repository.

pytest collects the doctests of every module under lmzero/ (`--doctest-modules`, see
pyproject.toml), so no test keeps a list of modules to doctest.

Importing a module for its doctests must not need an optional extra (vllm, transformers, peft,
...): a module under lmzero/ that imports, at its top level, a package that is not installed here
is left out of the collection instead of failing it. The check reads each module's top-level
imports (no list of modules or packages to keep up to date).
"""

from __future__ import annotations

import ast
import importlib.util
import os
import signal
import sys
from functools import lru_cache
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent / "lmzero"

# One intra-op thread for torch, here and in the `lmzero` subprocesses the tests start (they
# inherit the environment): the tests' models are tiny, and on a 2-core machine shared with other
# work, two spinning OpenMP threads made a 1-layer model's decoding ~200 times slower (19 s instead
# of 0.1 s for `lmzero solve` at budget 8). Set OMP_NUM_THREADS yourself to override.
os.environ.setdefault("OMP_NUM_THREADS", "1")
if "torch" in sys.modules:  # imported before this file (by a plugin): the variable came too late
    sys.modules["torch"].set_num_threads(int(os.environ["OMP_NUM_THREADS"]))

# A SIGINT the tests send reaches their subprocesses as Ctrl-C reaches a command started from a
# terminal. A background job (`make test &`, nohup) starts with SIGINT ignored, and an ignored
# signal stays ignored across exec, so the children would never see it (the Ctrl-C tests failed
# so); a handled one is reset to the default at exec, and each Python child installs its own.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def _top_level_imports(path: Path, tree: ast.Module):
    """Modules imported when `path` is imported (module body, `if` and `try` blocks; not function
    bodies, which import lazily), relative imports made absolute."""
    package = _module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    stack = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            yield module
            yield from (f"{module}.{alias.name}" for alias in node.names)  # maybe submodules
        elif isinstance(node, ast.If):
            if not (isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"):
                stack += node.body + node.orelse
        elif isinstance(node, ast.Try):
            # an import inside try/except ImportError is optional by construction
            if not any(_catches_import_error(h) for h in node.handlers):
                stack += node.body


def _catches_import_error(handler: ast.ExceptHandler) -> bool:
    names = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return handler.type is None or any(
        isinstance(n, ast.Name) and n.id in ("ImportError", "ModuleNotFoundError", "Exception")
        for n in names)


def _module_name(path: Path) -> str:
    parts = path.resolve().relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _module_files(name: str) -> list[Path]:
    """The files of lmzero module `name` and of the packages above it (all run on import)."""
    parts, files = name.split("."), []
    for i in range(1, len(parts) + 1):
        base = PACKAGE.parent.joinpath(*parts[:i])
        for candidate in (base / "__init__.py", base.with_suffix(".py")):
            if candidate.is_file():
                files.append(candidate)
                break
    return files


@lru_cache(maxsize=None)
def _installed(top: str) -> bool:
    try:
        return importlib.util.find_spec(top) is not None
    except (ImportError, ValueError):
        return False


@lru_cache(maxsize=None)
def _imports(path: Path) -> tuple[frozenset, tuple]:
    """(packages not installed, lmzero files) that `path` imports at its top level."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    except (OSError, SyntaxError, UnicodeDecodeError):
        return frozenset(), ()  # let pytest report it
    missing, files = set(), []
    for name in _top_level_imports(path, tree):
        top = name.split(".")[0]
        if top == "lmzero":
            files += _module_files(name)
        elif top not in sys.stdlib_module_names and not _installed(top):
            missing.add(top)
    return frozenset(missing), tuple(dict.fromkeys(files))


def missing_packages(path: Path) -> list[str]:
    """The packages not installed here that importing `path` would import (directly, or through
    other lmzero modules)."""
    todo, seen, missing = [Path(path).resolve()], set(), set()
    while todo:  # follow the package's own imports
        file = todo.pop()
        if file not in seen:
            seen.add(file)
            direct, files = _imports(file)
            missing |= direct
            todo += files
    return sorted(missing)


LEFT_OUT: dict[Path, list[str]] = {}


def pytest_ignore_collect(collection_path: Path, config):
    path = Path(collection_path).resolve()
    if path.suffix != ".py" or PACKAGE not in path.parents:
        return None
    missing = missing_packages(path)
    if missing:
        LEFT_OUT[path] = missing
        return True
    return None


def pytest_terminal_summary(terminalreporter):
    for path, missing in sorted(LEFT_OUT.items()):
        terminalreporter.write_line(f"doctests of {path.relative_to(PACKAGE.parent)} not "
                                    f"collected: {', '.join(missing)} not installed")
