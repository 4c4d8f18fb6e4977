"""Search or pure RL, at equal compute: expert iteration with MCTS (lmzero's default), rejection-
sampling fine-tuning (best-of-N with the verifier) and GRPO (no search, no critic), each from
the same shipped world model, the same curator, learner settings and seeds, until each has spent
the same number of inference tokens (every prompt and generated token of every model call its
rounds made; learner steps reported beside them).

Every round ends with the run's held-out check (greedy pass@1 on all held-out problems, MCTS at
32 calls on `--eval-problems` of them), so the table and the plot give both figures against the
tokens spent. A round is the unit: a run stops at the first round that reaches `--tokens`, and
the table gives what each actually spent.

    .venv/bin/python bench/search_vs_rl.py                      # game24 and countdown
    .venv/bin/python bench/search_vs_rl.py --task game24 --tokens 600000

Writes bench/out/search_vs_rl.json and .png; the runs stay in --runs (resumable: a killed
benchmark continues where it stopped).
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT_DIR))

from bench.common import machine_info, print_table, write_report  # noqa: E402

ALGOS = ("expert-iteration", "rft", "grpo")


def config_for(task: str, algo: str, args):
    """The quick preset, with rounds sized to spend comparable tokens: search spends ~4x a
    sampled group's tokens per problem, so the sampling algorithms see 3x the problems."""
    from lmzero.selfimprove import preset, with_algo
    config = with_algo(preset(task, "quick"), algo)
    problems = args.problems if algo == "expert-iteration" else 3 * args.problems
    return replace(config, iterations=1, problems_per_iteration=problems,
                   eval_problems=args.eval_problems, seed=args.seed,
                   learner=replace(config.learner, steps_per_iteration=args.steps),
                   sampling=replace(config.sampling, group_size=args.group))


def run_algo(task: str, algo: str, args) -> list[dict]:
    """Rounds of `algo` until its tokens reach the cap (resuming what a killed run left)."""
    from lmzero.run import Run
    from lmzero.selfimprove import improve
    directory = args.runs / f"{task}-{algo}"
    config = config_for(task, algo, args)
    done = len(Run(directory).completed()) if directory.exists() else 0
    rows = Run(directory).metrics() if done else []
    while not rows or (rows[-1].get("tokens_spent", 0) < args.tokens
                       and done < args.max_rounds):
        started = (directory / "config.json").is_file()  # killed before its first round ended
        rows = improve(config, directory, resume=started, iterations=done + 1)
        done += 1
        last = rows[-1]
        print(f"{task} {algo} round {done}: {last['tokens_spent']:,} tokens, greedy "
              f"{last['heldout_greedy_pass1']:.1%}, MCTS@32 {last['heldout_mcts_solved']:.1%}",
              flush=True)
    return rows


def summary(task: str, algo: str, rows: list[dict]) -> dict:
    start, last = rows[0], rows[-1]
    trained = [r for r in rows if r["iteration"] >= 0]
    return dict(task=task, algo=algo, rounds=len(trained), tokens=last["tokens_spent"],
                model_calls=sum(r["round_model_calls"] for r in trained),
                learner_steps=last["learner_steps"], wall_seconds=last["wall_seconds"],
                greedy_start=start["heldout_greedy_pass1"], greedy=last["heldout_greedy_pass1"],
                mcts_start=start["heldout_mcts_solved"], mcts=last["heldout_mcts_solved"],
                train_solved=[r["train_solve_rate"] for r in trained],
                curve=[dict(tokens=r.get("tokens_spent", 0), greedy=r["heldout_greedy_pass1"],
                            mcts=r["heldout_mcts_solved"]) for r in rows])


def plot(report: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    tasks = list(dict.fromkeys(r["task"] for r in report["results"]))
    fig, axes = plt.subplots(len(tasks), 2, figsize=(10, 3.6 * len(tasks)), squeeze=False)
    for row, task in zip(axes, tasks):
        for r in (r for r in report["results"] if r["task"] == task):
            tokens = [c["tokens"] / 1e6 for c in r["curve"]]
            row[0].plot(tokens, [c["greedy"] for c in r["curve"]], marker="o", label=r["algo"])
            row[1].plot(tokens, [c["mcts"] for c in r["curve"]], marker="o", label=r["algo"])
        for ax, what in zip(row, ("greedy pass@1", "MCTS @32 calls solved")):
            ax.set(title=f"{task}: held-out {what}", xlabel="inference tokens spent (millions)",
                   ylim=(0, 1))
            ax.grid(alpha=0.3)
            ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", nargs="+", default=["game24", "countdown"])
    parser.add_argument("--tokens", type=int, default=1_200_000,
                        help="inference tokens each algorithm may spend (per task)")
    parser.add_argument("--problems", type=int, default=64,
                        help="training problems per expert-iteration round (x3 for rft, grpo)")
    parser.add_argument("--group", type=int, default=8, help="rft's N and grpo's group size")
    parser.add_argument("--steps", type=int, default=100, help="learner steps per round")
    parser.add_argument("--eval-problems", type=int, default=120,
                        help="held-out problems of the MCTS@32 check")
    parser.add_argument("--max-rounds", type=int, default=12)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--runs", type=Path, default=Path("runs/search_vs_rl"))
    parser.add_argument("--out", type=Path, default=Path("bench/out"))
    args = parser.parse_args()
    import torch
    started = time.perf_counter()
    results = [summary(task, algo, run_algo(task, algo, args))
               for task in args.task for algo in ALGOS]
    rows = [[f"{r['task']} {r['algo']}", str(r["rounds"]), f"{r['tokens'] / 1e6:.2f}M",
             f"{r['model_calls']:,}", str(r["learner_steps"]), f"{r['wall_seconds']:.0f}",
             f"{r['greedy_start']:.1%} -> {r['greedy']:.1%}",
             f"{r['mcts_start']:.1%} -> {r['mcts']:.1%}"] for r in results]
    print_table("search or pure RL at equal inference tokens (held-out)",
                ["task, algorithm", "rounds", "tokens", "model calls", "learner steps",
                 "wall s", "greedy pass@1", "MCTS @32"], rows)
    report = dict(machine=machine_info(torch=torch.__version__), args={
        k: str(v) for k, v in vars(args).items()}, results=results,
        seconds=round(time.perf_counter() - started, 1))
    write_report(args.out, "search_vs_rl", report, plot)


if __name__ == "__main__":
    main()
