"""The root conftest.py: which lmzero modules pytest imports for their doctests.

A module whose top-level imports (its own, or those of the lmzero modules it imports) need a
package that is not installed is left out of the doctest collection instead of failing it.
"""

from pathlib import Path

import pytest

import conftest

PACKAGE = Path(conftest.__file__).resolve().parent / "lmzero"


def test_no_module_needs_an_optional_extra_at_import():
    # vllm is never installed by `make test`: no module may import it (or another extra that is
    # missing here) at its top level, so every module's doctests are collected
    assert not conftest._installed("a_package_that_does_not_exist")
    modules = sorted(PACKAGE.rglob("*.py"))
    assert len(modules) > 40
    assert {str(p.relative_to(PACKAGE)): conftest.missing_packages(p) for p in modules
            if conftest.missing_packages(p)} == {}


def test_a_missing_package_leaves_out_its_importers(monkeypatch):
    installed = conftest._installed
    monkeypatch.setattr(conftest, "_installed", lambda top: top != "typer" and installed(top))
    conftest._imports.cache_clear()
    try:
        # lmzero/cli/common.py imports typer itself; lmzero/cli/__main__.py through lmzero.cli
        assert conftest.missing_packages(PACKAGE / "cli" / "common.py") == ["typer"]
        assert conftest.missing_packages(PACKAGE / "cli" / "__main__.py") == ["typer"]
        assert conftest.missing_packages(PACKAGE / "search" / "seq_halving.py") == []
        assert conftest.pytest_ignore_collect(PACKAGE / "cli" / "common.py", None) is True
        assert conftest.pytest_ignore_collect(PACKAGE / "search" / "search.py", None) is None
        # outside lmzero/ the hook leaves collection alone
        assert conftest.pytest_ignore_collect(Path(__file__), None) is None
    finally:
        conftest._imports.cache_clear()
        conftest.LEFT_OUT.clear()


@pytest.mark.parametrize("source, expected", [
    ("import os\nimport numpy as np\n", {"os", "numpy"}),
    ("from torch import nn\n", {"torch", "torch.nn"}),
    ("def f():\n    import vllm\n", set()),  # lazy: imported when called
    ("try:\n    import peft\nexcept ImportError:\n    peft = None\n", set()),  # optional
    ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import transformers\n",
     {"typing", "typing.TYPE_CHECKING"}),
    ("import sys\nif sys.version_info < (3, 11):\n    import tomli\n",
     {"sys", "tomli"}),  # a conditional import counts
])
def test_top_level_imports(source, expected):
    import ast
    tree = ast.parse(source)
    names = set(conftest._top_level_imports(PACKAGE / "search" / "search.py", tree))
    assert names == expected


def test_relative_imports_are_made_absolute():
    import ast
    tree = ast.parse("from .connect4 import WIDTH\nfrom .. import checkpoint\n")
    names = set(conftest._top_level_imports(PACKAGE / "tasks" / "connect4_solver.py", tree))
    assert names == {"lmzero.tasks.connect4", "lmzero.tasks.connect4.WIDTH", "lmzero",
                     "lmzero.checkpoint"}
