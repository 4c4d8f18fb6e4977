"""The better the model, the less search it needs: for each checkpoint of a self-improvement
run, the model calls per puzzle MCTS needs to solve 90% of held-out Game of 24, and greedy
pass@1.

MCTS (PUCT, verifier on) runs once per puzzle with a generous cap; because it stops at its first
verified solution and its course does not depend on the cap, the calls it used on a puzzle are
exactly the smallest budget that solves it. "Calls for 90%" is the 90th percentile of those
(unsolved = infinite); the table also gives the ratio to the starting (world-model) checkpoint.

    .venv/bin/python bench/less_search.py --run runs/game24-full
    .venv/bin/python bench/less_search.py --checkpoints A B C --limit 100

Writes bench/out/less_search.json and .png.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

ROOT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT_DIR))

from bench.common import machine_info, print_table, write_report  # noqa: E402


def checkpoints_of(run: Path) -> list[tuple[str, Path]]:
    """(label, path): the run's starting point (shipped world model or its pretrain stage), then
    every iteration's checkpoint."""
    from lmzero.models.load import resolve
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()
            if line.strip()]
    start = next((r.get("start") for r in rows if r.get("iteration") == -1), None)
    out = []
    if start and start != "scratch":
        out.append(("start", resolve(Path(start))))
    for path in sorted((run / "checkpoints").glob("[0-9]*")):
        out.append((f"iteration {int(path.name)}", path))
    return out


def measure(path: Path, problems, cap: int, seed: int, actions: str = "sampled") -> dict:
    from lmzero.eval.reasoning import MethodConfig, solve_problems
    from lmzero.models.tinylm_steps import load_step_model
    from lmzero.tasks import game24
    model = load_step_model(path, seed=seed, task="game24")
    t0 = time.perf_counter()
    greedy = solve_problems(game24.TASK, model, problems, MethodConfig(method="greedy",
                                                                       budget=None, batch=512))
    mcts = solve_problems(game24.TASK, model, problems, MethodConfig(
        method="mcts", budget=cap, batch=128, seed=seed, actions=actions))
    calls = sorted(r.budget.model_calls if r.solved else math.inf for r in mcts)
    p90 = calls[math.ceil(0.9 * len(calls)) - 1]
    return {"greedy_pass1": sum(r.solved for r in greedy) / len(problems),
            "mcts_solved_at_cap": sum(r.solved for r in mcts) / len(problems),
            "calls_for_90": None if math.isinf(p90) else p90,
            "mean_calls_solved": (sum(c for c in calls if not math.isinf(c))
                                  / max(1, sum(not math.isinf(c) for c in calls))),
            "seconds": round(time.perf_counter() - t0, 1)}


def run(args) -> dict:
    import torch

    from lmzero.tasks import game24
    torch.set_num_threads(args.threads)
    heldout = game24.problems("heldout")
    problems = heldout[::max(1, len(heldout) // args.limit)][:args.limit]
    targets = checkpoints_of(args.run) if args.run else [(str(p), p) for p in args.checkpoints]
    targets = [t for i, t in enumerate(targets)
               if i % args.every == 0 or i == len(targets) - 1]  # always the first and last
    rows = []
    for label, path in targets:
        row = {"checkpoint": label, "path": str(path), **measure(path, problems, args.cap,
                                                                 args.seed, args.actions)}
        rows.append(row)
        print(json.dumps(row), flush=True)
    return {"run": str(args.run), "problems": len(problems), "cap": args.cap,
            "actions": args.actions, "rows": rows,
            "machine": machine_info(torch=torch.__version__)}


def show(report: dict) -> None:
    rows = report["rows"]
    first = rows[0]["calls_for_90"] if rows else None
    cap = report["cap"]
    print_table(f"held-out Game of 24 ({report['problems']} puzzles), MCTS cap {cap} calls, "
                f"{report.get('actions', 'sampled')} actions",
                ["checkpoint", "greedy pass@1", f"MCTS solved <= {cap}", "calls for 90%",
                 "start / this", "mean calls (solved)"],
                [[r["checkpoint"], f"{r['greedy_pass1']:.1%}", f"{r['mcts_solved_at_cap']:.1%}",
                  f"> {cap}" if r["calls_for_90"] is None else str(r["calls_for_90"]),
                  _ratio(first, r["calls_for_90"], cap), f"{r['mean_calls_solved']:.1f}"]
                 for r in rows])


def _ratio(first, this, cap) -> str:
    if this is None:
        return "-"
    if first is None:
        return f"> {cap / this:.1f}x"
    return f"{first / this:.1f}x"


def plot(report: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rows = report["rows"]
    x = range(len(rows))
    fig, ax = plt.subplots(1, 2, figsize=(11, 4))
    ax[0].plot(x, [r["calls_for_90"] or report["cap"] * 2 for r in rows], marker="o")
    ax[0].set_yscale("log")
    ax[0].axhline(report["cap"], ls="--", c="gray", label="cap (above: not reached)")
    ax[0].set_ylabel("model calls for 90% solved (MCTS)")
    ax[0].legend(fontsize=8)
    ax[1].plot(x, [r["greedy_pass1"] for r in rows], marker="o", label="greedy pass@1")
    ax[1].plot(x, [r["mcts_solved_at_cap"] for r in rows], marker="o",
               label=f"MCTS within {report['cap']} calls")
    ax[1].set_ylim(0, 1.02)
    ax[1].legend(fontsize=8)
    for a in ax:
        a.set_xticks(list(x), [r["checkpoint"].replace("iteration ", "it") for r in rows],
                     rotation=45, fontsize=7)
        a.grid(alpha=0.3)
    fig.suptitle("The better the model, the less search it needs (held-out Game of 24)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--run", type=Path, help="a self-improvement run directory")
    source.add_argument("--checkpoints", type=Path, nargs="+")
    parser.add_argument("--limit", type=int, default=358, help="held-out puzzles (of 358)")
    parser.add_argument("--cap", type=int, default=512, help="model calls per puzzle at most")
    parser.add_argument("--every", type=int, default=1, help="every n-th checkpoint of the run")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--actions", choices=("sampled", "legal"), default="sampled",
                        help="MCTS over sampled steps, or every legal step scored")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT_DIR / "bench" / "out")
    args = parser.parse_args()
    report = run(args)
    show(report)
    write_report(args.out, "less_search", report, plot)


if __name__ == "__main__":
    main()
