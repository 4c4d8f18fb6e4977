"""Curated vs uniform problem and replay sampling in self-improvement, at equal compute.

Two runs from the same starting model with the same number of iterations, problems per
iteration, search budget and learner steps; one lets the curator choose problems (frontier and
hole buckets) and weight the replay, the other draws both uniformly. The table gives held-out
greedy pass@1 and MCTS solve rate per iteration for both, their ratio, and the final per-bucket
training solve rates.

    .venv/bin/python bench/curation.py --task game24 --iterations 3
    .venv/bin/python bench/curation.py --task countdown --iterations 4 --problems 128

Writes bench/out/curation.json and .png (run directories under bench/out/curation-runs/).
"""

from __future__ import annotations

import argparse
import shutil
import sys
from dataclasses import replace
from pathlib import Path

ROOT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT_DIR))

from bench.common import machine_info, print_table, write_report  # noqa: E402


def run(args) -> dict:
    import torch

    from lmzero.selfimprove import improve, preset
    base = replace(preset(args.task, "quick"), iterations=args.iterations,
                   problems_per_iteration=args.problems, threads=args.threads)
    runs = {}
    for name, curate in (("curated", True), ("uniform", False)):
        directory = args.out / "curation-runs" / f"{args.task}-{name}"
        shutil.rmtree(directory, ignore_errors=True)
        print(f"{name} run -> {directory}", flush=True)
        runs[name] = improve(replace(base, curate=curate), directory)
    return {"task": args.task, "iterations": args.iterations, "problems": args.problems,
            "runs": runs, "machine": machine_info(torch=torch.__version__)}


def show(report: dict) -> None:
    curated, uniform = report["runs"]["curated"], report["runs"]["uniform"]
    rows = []
    for c, u in zip(curated, uniform):
        rows.append(["start" if c["iteration"] < 0 else str(c["iteration"]),
                     f"{c['heldout_greedy_pass1']:.1%}", f"{u['heldout_greedy_pass1']:.1%}",
                     _ratio(c["heldout_greedy_pass1"], u["heldout_greedy_pass1"]),
                     f"{c['heldout_mcts_solved']:.1%}", f"{u['heldout_mcts_solved']:.1%}",
                     _ratio(c["heldout_mcts_solved"], u["heldout_mcts_solved"])])
    print_table(f"{report['task']}: curated vs uniform, held-out",
                ["iteration", "greedy curated", "greedy uniform", "ratio", "MCTS curated",
                 "MCTS uniform", "ratio"], rows)
    last_c, last_u = curated[-1], uniform[-1]
    buckets = sorted({k[len("solve_rate["):-1] for k in last_c if k.startswith("solve_rate[")})
    print_table("training solve rate per bucket (cumulative, last iteration)",
                ["bucket", "curated", "uniform", "curated example share", "uniform share"],
                [[b, _pct(last_c.get(f"solve_rate[{b}]")), _pct(last_u.get(f"solve_rate[{b}]")),
                  _pct(last_c.get(f"example_share[{b}]")), _pct(last_u.get(f"example_share[{b}]"))]
                 for b in buckets])


def _pct(x) -> str:
    return "-" if x is None else f"{x:.1%}"


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b else "-"


def plot(report: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, style in (("curated", "-"), ("uniform", "--")):
        rows = report["runs"][name]
        its = [r["iteration"] for r in rows]
        ax.plot(its, [r["heldout_greedy_pass1"] for r in rows], style, marker="o",
                label=f"{name}: greedy pass@1")
        ax.plot(its, [r["heldout_mcts_solved"] for r in rows], style, marker="s",
                label=f"{name}: MCTS")
    ax.set_xlabel("iteration (-1 = start)")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(f"{report['task']}: curation vs uniform at equal compute")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--task", choices=["game24", "countdown"], default="game24")
    parser.add_argument("--iterations", type=int, default=3)
    parser.add_argument("--problems", type=int, default=96)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT_DIR / "bench" / "out")
    args = parser.parse_args()
    report = run(args)
    show(report)
    write_report(args.out, "curation", report, plot)


if __name__ == "__main__":
    main()
