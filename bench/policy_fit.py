"""Does a self-improved policy under-fit or fail to generalise? More learner steps on a run's
own replay, with greedy pass@1 on the problems it trained on beside the held-out ones.

If greedy on the training problems rises while held-out greedy stays or falls, more gradient
steps per iteration would only widen the gap: the policy needs states it has not memorised
(more problems, off-path states, a prior that reads arithmetic), not more passes over the same
solutions.

From a run's checkpoint (default: its newest) and the newest replay window the run would learn
from, `--steps` learner steps at `--lr` (warmup and cosine as in training); every `--every`
steps, greedy pass@1 on all held-out problems and on `--train-problems` problems drawn from
the run's attempts files (the problems it searched and learned from).

`--distil-deck N` (Game of 24) adds one policy row per first state of every training puzzle of
the 1-N deck (`game24.training_problems`): the legal step with the largest prior x child value,
read in one scoring call, the choice that solves 73.7% of held-out puzzles with no search. Does
the policy learn to make it at first states it never trained on?

    .venv/bin/python bench/policy_fit.py --run runs/g24-retry [--steps 1000] [--distil-deck 20]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.arith_failures import value_weighted_step  # noqa: E402
from bench.common import print_table, write_report  # noqa: E402
from lmzero.eval.reasoning import MethodConfig, solve_problems  # noqa: E402
from lmzero.learn.step_learner import StepLearner, StepLearnerConfig  # noqa: E402
from lmzero.models.tinylm_steps import load_step_model  # noqa: E402
from lmzero.replay.buffer import TEXT_FIELDS, ReplayBuffer  # noqa: E402
from lmzero.run import Run  # noqa: E402
from lmzero.selfimprove import ImproveConfig, heldout_eval_problems, task_of  # noqa: E402


def trained_problems(run_dir: Path, task, n: int, rng: np.random.Generator) -> list:
    """Up to n distinct problems the run searched (its attempts files), drawn at random."""
    rows = []
    for path in sorted((run_dir / "replay").glob("attempts-*.json")):
        rows += [a["problem"] for a in json.loads(path.read_text())]
    problems = list(dict.fromkeys(task.problem_from_json(r) for r in rows))
    picked = rng.choice(len(problems), size=min(n, len(problems)), replace=False)
    return [problems[i] for i in sorted(picked)]


def first_step_rows(model, cards: int) -> dict:
    """Replay-shaped rows: each training first state of the 1-`cards` deck and its legal step
    with the largest prior x child value (weight 1, no value target)."""
    from lmzero.tasks.game24 import TASK, training_problems
    prompts, steps = [], []
    for i in range(0, len(pool := training_problems(cards)), 256):
        states = [TASK.initial_state(p) for p in pool[i:i + 256]]
        scored = model.score([TASK.prompt(s) for s in states],
                             [TASK.legal_steps(s) for s in states])
        for state, answer in zip(states, scored):
            prompts.append(TASK.prompt(state))
            steps.append(value_weighted_step(answer))
    n = len(prompts)
    return dict(prompt=np.array(prompts), step=np.array(steps), weight=np.ones(n, np.float32),
                value=np.full(n, np.nan, np.float32), bucket=np.array(["first step"] * n),
                problem=np.array([""] * n))


def greedy_pass1(task, model, problems) -> float:
    results = solve_problems(task, model, problems,
                             MethodConfig(method="greedy", budget=None, batch=512))
    return float(np.mean([r.solved for r in results]))


def fit(args) -> dict:
    config = Run(args.run).load_config(ImproveConfig, dict(device="cpu"))  # fits on the CPU
    task = task_of(config)
    checkpoint = args.checkpoint or max((args.run / "checkpoints").iterdir())
    model = load_step_model(checkpoint, task=task)
    data = ReplayBuffer(args.run / "replay", config.replay_window,
                        fields=TEXT_FIELDS).window_arrays()
    if args.distil_deck:
        rows = first_step_rows(model, args.distil_deck)
        data = {k: np.concatenate([v, rows[k]]) for k, v in data.items()}
    rng = np.random.default_rng(args.seed)
    sets = dict(heldout=heldout_eval_problems(config),
                trained=trained_problems(args.run, task, args.train_problems, rng))
    learner = StepLearner(model.model, model.tokenizer,
                          StepLearnerConfig(lr=args.lr, batch_size=config.learner.batch_size),
                          args.steps)
    rows = []
    for done in range(0, args.steps + 1, args.every):
        if done:
            learner.train(data, args.every, rng)
        rows.append(dict(steps=done, **{k: greedy_pass1(task, model, p) for k, p in sets.items()}))
        print(f"{done} steps: " + ", ".join(f"{k} {rows[-1][k]:.1%}" for k in sets), flush=True)
    return dict(run=str(args.run), checkpoint=str(checkpoint), lr=args.lr,
                distil_deck=args.distil_deck,
                examples=len(data["prompt"]), sizes={k: len(p) for k, p in sets.items()},
                rows=rows)


def plot(report: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(5, 3.5))
    steps = [r["steps"] for r in report["rows"]]
    for key in ("trained", "heldout"):
        ax.plot(steps, [100 * r[key] for r in report["rows"]], marker="o", label=key)
    ax.set(xlabel="extra learner steps", ylabel="greedy pass@1 (%)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, required=True)
    parser.add_argument("--checkpoint", type=Path)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--every", type=int, default=500)
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--train-problems", type=int, default=300)
    parser.add_argument("--distil-deck", type=int, default=0,
                        help="Game of 24: add prior x value first-step rows of the 1-N deck")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    import torch
    torch.set_num_threads(args.threads)
    report = fit(args)
    sizes = report["sizes"]
    print_table(f"Greedy pass@1 after extra learner steps ({report['checkpoint']}, "
                f"{report['examples']} replay examples)",
                ["learner steps", f"trained problems ({sizes['trained']})",
                 f"held-out ({sizes['heldout']})"],
                [[str(r["steps"]), f"{r['trained']:.1%}", f"{r['heldout']:.1%}"]
                 for r in report["rows"]])
    write_report(ROOT / "bench" / "out", "policy_fit", report, plot)


if __name__ == "__main__":
    main()
