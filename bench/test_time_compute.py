"""Test-time compute on held-out Game of 24: accuracy against model calls and generated tokens,
for every method at every budget, with one checkpoint, in one run.

Methods (lmzero.eval.reasoning): greedy, sampling, best-of-N, beam (value head), BFS (Tree of
Thoughts), MCTS (PUCT + progressive widening) and Gumbel MCTS. Budget-using methods run both
ways: "verifier" (the checker judges terminal states during the method; best-of-N = oracle) and
"no verifier" (the method picks one answer alone, the checker scores it afterwards). The last
table gives each method's accuracy over best-of-N's at the same call budget and verifier setting
(best-of-N is what most people would do with the same compute).

    .venv/bin/python bench/test_time_compute.py --checkpoint runs/game24-pretrain --quick
    .venv/bin/python bench/test_time_compute.py --checkpoint DIR --limit 200 \\
        --budgets 1 2 4 8 16 32 64 128 256

Writes bench/out/test_time_compute.json and .png.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT_DIR))

from bench.common import machine_info, print_table, write_report  # noqa: E402

BUDGETED = ("best-of-n", "beam", "bfs", "mcts", "gumbel")


def run(args) -> dict:
    import torch

    from lmzero.eval.reasoning import MethodConfig, evaluate
    from lmzero.models.tinylm_steps import load_step_model
    from lmzero.tasks import game24

    torch.set_num_threads(args.threads)
    heldout = game24.problems("heldout")
    problems = heldout[:: max(1, len(heldout) // args.limit)][:args.limit]
    model = load_step_model(args.checkpoint, seed=args.seed, task="game24")
    rows = []

    def measure(method, budget, verifier):
        started = time.perf_counter()
        config = MethodConfig(method=method, budget=budget, verifier=verifier, k=args.k,
                              width=args.width, seed=args.seed)
        result = evaluate(game24.TASK, model, problems, config)
        row = {"method": method, "budget": budget, "verifier": verifier,
               **{k: result[k] for k in ("accuracy", "solved", "total", "model_calls",
                                         "prompt_tokens", "generated_tokens")},
               "seconds": round(time.perf_counter() - started, 2)}
        rows.append(row)
        print(f"{method:10s} budget={budget!s:>4} verifier={verifier!s:5}  "
              f"acc={row['accuracy']:.3f} calls={row['model_calls']:.1f} "
              f"tokens={row['generated_tokens']:.0f}  {row['seconds']:.1f}s", flush=True)

    for method in ("greedy", "sample"):
        measure(method, None, True)
    for budget in args.budgets:
        for verifier in (True, False):
            for method in args.methods:
                measure(method, budget, verifier)
    return {"checkpoint": str(args.checkpoint), "problems": len(problems),
            "machine": machine_info(torch=torch.__version__), "rows": rows}


def show(report: dict) -> None:
    rows = report["rows"]
    print_table(f"held-out Game of 24 ({report['problems']} puzzles), {report['checkpoint']}",
                ["method", "verifier", "budget", "accuracy", "mean calls", "gen tokens",
                 "seconds"],
                [[r["method"], "yes" if r["verifier"] else "no", str(r["budget"] or "-"),
                  f"{r['accuracy']:.1%}", f"{r['model_calls']:.1f}",
                  f"{r['generated_tokens']:.0f}", f"{r['seconds']:.1f}"] for r in rows])
    base = {(r["budget"], r["verifier"]): r["accuracy"] for r in rows
            if r["method"] == "best-of-n"}
    methods = sorted({r["method"] for r in rows if r["method"] in BUDGETED}, key=BUDGETED.index)
    ratio_rows = []
    for verifier in (True, False):
        for budget in sorted({r["budget"] for r in rows if r["budget"]}):
            cells = {r["method"]: r["accuracy"] for r in rows
                     if r["budget"] == budget and r["verifier"] == verifier}
            b = base.get((budget, verifier))
            ratio_rows.append(["yes" if verifier else "no", str(budget)] + [
                "-" if m not in cells or not b else f"{cells[m] / b:.2f}" for m in methods])
    print_table("accuracy / best-of-N accuracy at the same budget", ["verifier", "budget"]
                + methods, ratio_rows)


def plot(report: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for verifier, style in ((True, "-"), (False, "--")):
        for method in BUDGETED:
            pts = sorted((r["model_calls"], r["generated_tokens"], r["accuracy"])
                         for r in report["rows"]
                         if r["method"] == method and r["verifier"] == verifier)
            if not pts:
                continue
            label = f"{method} ({'verifier' if verifier else 'no verifier'})"
            axes[0].plot([p[0] for p in pts], [p[2] for p in pts], style, marker="o", label=label)
            axes[1].plot([p[1] for p in pts], [p[2] for p in pts], style, marker="o", label=label)
    for r in report["rows"]:
        if r["method"] in ("greedy", "sample"):
            for ax, x in ((axes[0], r["model_calls"]), (axes[1], r["generated_tokens"])):
                ax.scatter([x], [r["accuracy"]], marker="x", s=60)
                ax.annotate(r["method"], (x, r["accuracy"]))
    for ax, xlabel in zip(axes, ("model calls per puzzle", "generated tokens per puzzle")):
        ax.set_xscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("held-out accuracy")
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=7)
    fig.suptitle(f"Test-time compute, Game of 24 held-out: {report['checkpoint']}")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--limit", type=int, default=100, help="held-out puzzles (of 358)")
    parser.add_argument("--budgets", type=int, nargs="+", default=[1, 4, 16, 64, 256])
    parser.add_argument("--methods", nargs="+", default=list(BUDGETED))
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--width", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="40 puzzles, budgets 4 16 64")
    parser.add_argument("--out", type=Path, default=ROOT_DIR / "bench" / "out")
    args = parser.parse_args()
    if args.quick:
        args.limit, args.budgets = 40, [4, 16, 64]
    report = run(args)
    show(report)
    write_report(args.out, "test_time_compute", report, plot)


if __name__ == "__main__":
    main()
