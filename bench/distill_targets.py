"""Which policy targets to distil from search, and how to batch them: one replay, equal steps.

A self-improvement run's replay holds, per searched state, its children's steps with weights and
value rows (value 1 marks a node on a verified solution path). This benchmark re-weights those
rows and trains each variant from the same starting checkpoint for the same learner steps, then
measures held-out greedy pass@1 and MCTS at 32 calls, in one run:

- `visits`: the weights as stored, rows of both kinds drawn together and the loss weighted
  (the recipe before: on a replay made by it, path_share 0.5 and visit shares everywhere);
- `mixed-rows`: the verified steps at weight 1 and every other node's visit shares at
  `--offpath`, still drawn together with the value rows;
- `mixed`: the same weights, half of each batch step rows drawn by weight (the current recipe:
  `StepActorConfig` path_share 1.0, offpath_weight 0.1; `StepLearnerConfig.policy_fraction`);
- `solution`: only the verified steps (expert iteration), drawn as in `mixed`.

Value rows are kept in all of them. The path step is recovered as the highest-weight step of a
state with a value-1 row (both recipes put the largest weight on it).

    .venv/bin/python bench/distill_targets.py --run runs/game24-full --steps 500

Writes bench/out/distill_targets.json and .png.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT_DIR))

from bench.common import machine_info, print_table, write_report  # noqa: E402

VARIANTS = ("visits", "mixed-rows", "mixed", "solution")


def path_steps(data: dict):
    """Boolean masks: rows of states on a verified path, and each such state's verified step."""
    import numpy as np
    policy = data["weight"] > 0
    on_path_states = set(data["prompt"][(data["value"] == 1.0) & ~policy].tolist())
    on_path = np.array([p in on_path_states for p in data["prompt"].tolist()])
    best: dict[str, int] = {}
    for i in np.flatnonzero(on_path & policy):
        p = data["prompt"][i]
        if p not in best or data["weight"][i] > data["weight"][best[p]]:
            best[p] = i
    verified = np.zeros(len(policy), bool)
    verified[list(best.values())] = True
    return on_path, verified


def reweighted(data: dict, variant: str, offpath: float) -> dict:
    import numpy as np
    if variant == "visits":
        return data
    on_path, verified = path_steps(data)
    weight = np.where(verified, 1.0, 0.0).astype(np.float32)
    if variant.startswith("mixed"):
        weight[~on_path] = offpath * data["weight"][~on_path]
    keep = (weight > 0) | (data["weight"] == 0)  # policy rows with weight, and value rows
    return {k: (weight if k == "weight" else v)[keep] for k, v in data.items()}


def train_variant(args, data: dict, variant: str) -> list[dict]:
    import numpy as np
    import torch

    from lmzero.learn.step_learner import StepLearnerConfig
    from lmzero.learn.trainee import TinyLMTrainee
    from lmzero.models.tinylm_steps import load_step_model
    from lmzero.selfimprove import evaluate_heldout, preset
    from lmzero.tasks import load_task
    torch.manual_seed(args.seed)
    start = load_step_model(args.start, task="game24")
    batches = None if variant in ("visits", "mixed-rows") else 0.5
    trainee = TinyLMTrainee(start.model, start.tokenizer,
                            StepLearnerConfig(batch_size=64, policy_fraction=batches),
                            args.steps, load_task("game24"))
    config = preset("game24", "full")
    rng = np.random.default_rng(args.seed)
    rows, t0, done = [], time.time(), 0
    while done < args.steps:
        n = min(args.eval_every, args.steps - done)
        losses = trainee.train(data, n, rng, None)
        done += n
        row = evaluate_heldout(config, trainee, dict(variant=variant, steps=done,
                                              seconds=round(time.time() - t0, 1)))
        rows.append(dict(row, loss_policy=round(losses["policy"], 4)))
        print(rows[-1], flush=True)
    return rows


def run(args) -> dict:
    import torch

    from lmzero.replay.buffer import TEXT_FIELDS, ReplayBuffer
    torch.set_num_threads(args.threads)
    data = ReplayBuffer(args.run / "replay", 10**9, fields=TEXT_FIELDS).window_arrays()
    results, sizes = {}, {}
    for variant in args.variants:
        rows = reweighted(data, variant, args.offpath)
        sizes[variant] = int((rows["weight"] > 0).sum())
        results[variant] = train_variant(args, rows, variant)
    return dict(machine=machine_info(torch=torch.__version__), run=str(args.run),
                start=str(args.start), steps=args.steps, offpath=args.offpath,
                policy_rows=sizes, results=results)


def show(report: dict) -> None:
    base = report["results"].get("visits")
    rows = []
    for variant, series in report["results"].items():
        last = series[-1]
        ratio = (f"{last['heldout_greedy_pass1'] / base[-1]['heldout_greedy_pass1']:.2f}"
                 if base and base[-1]["heldout_greedy_pass1"] else "-")
        rows.append([variant, str(report["policy_rows"][variant]), str(last["steps"]),
                     f"{100 * last['heldout_greedy_pass1']:.1f}%", ratio,
                     f"{100 * last['heldout_mcts_solved']:.1f}%"])
    print_table(f"distilling {report['run']} from {report['start']}",
                ["targets", "policy rows", "steps", "greedy pass@1", "x visits", "MCTS @32"],
                rows)


def plot(report: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 4))
    for variant, series in report["results"].items():
        ax.plot([r["steps"] for r in series], [r["heldout_greedy_pass1"] for r in series],
                marker="o", label=f"{variant}: greedy")
        ax.plot([r["steps"] for r in series], [r["heldout_mcts_solved"] for r in series],
                marker="s", linestyle="--", label=f"{variant}: MCTS @32")
    ax.set_xlabel("learner steps")
    ax.set_ylabel("held-out solved")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, required=True, help="a game24 self-improvement run")
    parser.add_argument("--start", type=Path, default=ROOT_DIR / "lmzero/checkpoints/game24-pretrain")
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--eval-every", type=int, default=250)
    parser.add_argument("--offpath", type=float, default=0.1)
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=ROOT_DIR / "bench/out")
    args = parser.parse_args()
    if not (args.run / "replay").is_dir():
        sys.exit(f"error: {args.run} has no replay/ directory")
    report = run(args)
    show(report)
    write_report(args.out, "distill_targets", report, plot)


if __name__ == "__main__":
    main()
