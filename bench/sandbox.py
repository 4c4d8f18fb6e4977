"""Sandbox throughput: candidate evaluations per second, ours against one `python -c` each.

A candidate evaluation = one Job: a small model-style program (a mix of right, wrong, raising,
looping-free and unparsable ones over six little problems) called on 3 argument tuples, judged
in the parent against expected values. Engines, measured in the same run on the same jobs:

  sandbox            lmzero.sandbox.Sandbox: warm bwrap sandboxes (one per core), a fork per
                     call, rlimits, cgroup where allowed; the verdict decided in the parent
  python -c          no isolation: one `python -I -S -c` process per candidate that runs its 3
                     calls and prints them as JSON; as many at once as there are cores

Both must reach the same verdict on every job (checked). Start-up of the warm sandboxes is timed
apart from the evaluations (it is paid once per Sandbox).

Writes bench/out/sandbox.json and bench/out/sandbox.png.

    .venv/bin/python bench/sandbox.py --quick     # 60 jobs
    .venv/bin/python bench/sandbox.py             # 200 jobs x 3 calls, ~15 s
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT_DIR))

from bench.common import machine_info, print_table, write_report  # noqa: E402
from lmzero.sandbox import Job, Limits, Sandbox  # noqa: E402
from lmzero.sandbox.bwrap import base_python  # noqa: E402
from lmzero.sandbox.sandbox import default_workers  # noqa: E402

OUT_DIR = ROOT_DIR / "bench" / "out"

# (entry point, argument tuples, reference solution, wrong variants): each problem's candidates
PROBLEMS = [
    ("add", ["(1, 2)", "(-5, 5)", "(10**20, 1)"], "def add(a, b):\n    return a + b\n",
     ["def add(a, b):\n    return a - b\n", "def add(a, b):\n    return str(a + b)\n"]),
    ("rev", ["('abc',)", "('',)", "('racecar',)"], "def rev(s):\n    return s[::-1]\n",
     ["def rev(s):\n    return s\n", "def rev(s)\n    return s[::-1]\n"]),
    ("fib", ["(0,)", "(10,)", "(30,)"],
     "def fib(n):\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a\n",
     ["def fib(n):\n    return n\n", "def fib(n):\n    return [0, 1][n]\n"]),
    ("uniq", ["([3, 1, 3, 2],)", "([],)", "([5, 5, 5],)"],
     "def uniq(xs):\n    return sorted(set(xs))\n",
     ["def uniq(xs):\n    return set(xs)\n", "def uniq(xs):\n    return tuple(sorted(set(xs)))\n"]),
    ("count", ["('hello',)", "('',)", "('aab',)"],
     "from collections import Counter\ndef count(s):\n    return dict(Counter(s))\n",
     ["from collections import Counter\ndef count(s):\n    return Counter(s)\n",
      "def count(s):\n    return {c: 1 for c in s}\n"]),
    ("isprime", ["(2,)", "(91,)", "(97,)"],
     "def isprime(n):\n    return n > 1 and all(n % d for d in range(2, int(n**0.5) + 1))\n",
     ["def isprime(n):\n    return n % 2 == 1\n", "def isprime(n):\n    raise NotImplementedError\n"]),
]
BASELINE = """
import json, sys
calls = {calls!r}
out = []
try:
    ns = {{}}
    exec(compile({program!r}, "<candidate>", "exec"), ns)
    for c in calls:
        try:
            out.append(["ok", repr(ns[{entry!r}](*eval(c)))])
        except Exception as e:
            out.append(["error", type(e).__name__])
except SyntaxError as e:
    out = [["syntax error", str(e)]] * len(calls)
print(json.dumps(out))
"""


def make_jobs(n: int) -> tuple[list[Job], list[list]]:
    """n jobs cycling through every problem's right and wrong candidates; expected values."""
    jobs, expected = [], []
    variants = [(entry, calls, prog, ref) for entry, calls, ref, wrong in PROBLEMS
                for prog in [ref, *wrong]]
    for i in range(n):
        entry, calls, program, ref = variants[i % len(variants)]
        ns: dict = {}
        exec(ref, ns)  # the reference solution is ours: run here for the expected values
        jobs.append(Job(program, entry, calls))
        expected.append([ns[entry](*eval(c)) for c in calls])
    return jobs, expected


def judge_sandbox(results, expected) -> list[bool]:
    return [all(r.status == "ok" and type(r.value) is type(e) and r.value == e
                for r, e in zip(rs, es)) for rs, es in zip(results, expected)]


def run_baseline(jobs: list[Job], workers: int, timeout: float) -> list[list]:
    python = base_python()

    def one(job: Job):
        script = BASELINE.format(calls=job.calls, program=job.program, entry=job.entry_point)
        try:
            run = subprocess.run([python, "-I", "-S", "-c", script], capture_output=True,
                                 text=True, timeout=timeout)
            return json.loads(run.stdout)
        except (subprocess.TimeoutExpired, ValueError):
            return [["crash", ""]] * len(job.calls)
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(one, jobs))


def judge_baseline(results, expected) -> list[bool]:
    return [all(s == "ok" and v == repr(e) for (s, v), e in zip(rs, es))
            for rs, es in zip(results, expected)]


def time_engine(name: str, fn, n_jobs: int, n_calls: int) -> dict:
    start = time.perf_counter()
    out = fn()
    seconds = time.perf_counter() - start
    print(f"  {name:12s} {n_jobs} jobs in {seconds:.2f}s: {n_jobs / seconds:,.1f} evals/s",
          flush=True)
    return {"name": name, "jobs": n_jobs, "calls": n_calls, "seconds": seconds,
            "evals_per_s": n_jobs / seconds, "calls_per_s": n_calls / seconds, "out": out}


def plot(report: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    engines = report["engines"]
    fig, ax = plt.subplots(figsize=(6, 4))
    bars = ax.bar([e["name"] for e in engines], [e["evals_per_s"] for e in engines],
                  color=["tab:blue", "tab:gray"])
    ax.bar_label(bars, labels=[f"{e['evals_per_s']:.0f}/s" for e in engines])
    ax.set_ylabel("candidate evaluations per second")
    ax.set_title(f"{report['config']['jobs']} jobs x 3 calls, {report['config']['workers']} "
                 f"workers, {report['machine']['cpus']} CPUs")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--jobs", type=int, default=200, help="candidate programs (default 200)")
    p.add_argument("--workers", type=int, default=default_workers(),
                   help="warm sandboxes, and baseline processes at once (default: one per core)")
    p.add_argument("--quick", action="store_true", help="a smoke run: 60 jobs")
    p.add_argument("--out", type=Path, default=OUT_DIR)
    args = p.parse_args(argv)
    if args.quick:
        args.jobs = 60
    jobs, expected = make_jobs(args.jobs)
    n_calls = sum(len(j.calls) for j in jobs)
    limits = Limits()

    t0 = time.perf_counter()
    box = Sandbox(limits, workers=args.workers)
    startup = time.perf_counter() - t0
    print(f"sandbox start-up ({args.workers} warm sandboxes) {startup:.2f}s", flush=True)
    box.run(jobs[:args.workers * 2])  # touch every path once
    ours = time_engine("sandbox", lambda: box.run(jobs), args.jobs, n_calls)
    report_text = box.report()
    box.close()
    base = time_engine("python -c", lambda: run_baseline(jobs, args.workers,
                                                         limits.wall_seconds),
                       args.jobs, n_calls)
    verdicts_ours = judge_sandbox(ours.pop("out"), expected)
    verdicts_base = judge_baseline(base.pop("out"), expected)
    if verdicts_ours != verdicts_base:
        diff = [i for i, (a, b) in enumerate(zip(verdicts_ours, verdicts_base)) if a != b]
        raise SystemExit(f"the engines disagree on jobs {diff[:10]}")
    ours["ratio_vs_baseline"] = ours["evals_per_s"] / base["evals_per_s"]
    report = {
        "benchmark": "sandbox throughput",
        "config": {"jobs": args.jobs, "calls_per_job": 3, "workers": args.workers,
                   "limits": limits.as_message(), "quick": args.quick},
        "passed": sum(verdicts_ours), "failed": len(jobs) - sum(verdicts_ours),
        "sandbox_startup_seconds": startup, "isolation": report_text.splitlines(),
        "engines": [ours, base], "machine": machine_info(),
    }
    rows = [[e["name"], str(e["jobs"]), f"{e['seconds']:.2f}", f"{e['evals_per_s']:,.1f}",
             f"{e['calls_per_s']:,.1f}",
             f"{e['ratio_vs_baseline']:.2f}x" if "ratio_vs_baseline" in e else "1.00x"]
            for e in report["engines"]]
    print_table(f"Candidate evaluations (jobs of 3 calls; {report['passed']} pass, "
                f"{report['failed']} fail; {args.workers} workers)",
                ["engine", "jobs", "seconds", "evals/s", "calls/s", "vs python -c"], rows)
    write_report(args.out, "sandbox", report, plot)


if __name__ == "__main__":
    main()
