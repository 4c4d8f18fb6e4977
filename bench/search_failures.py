"""Why does MCTS fail a held-out Game of 24 or Countdown problem: breadth, or the value head?

For each checkpoint, in one run:
- MCTS at 64 calls over the first held-out problems, and of its failures the share whose tree
  never held a root child that can still reach the target (the model never proposed a good
  first step: a breadth failure), and the share that held one but never a solvable state two
  steps down;
- the value head's ranking of states one and two random legal steps from the start of every
  held-out problem: the AUC of its value against whether the state can still reach the target
  (0.5 = chance, 1 = perfect);
- the value targets self-improvement would train on (`step_actor.examples_of` on searched
  training problems) against the head's own values on the same states: both as AUCs. Targets
  that rank well and a head that does not mean the head underfits what it is taught;
- the same MCTS with every legal step scored by the model (`StepSearchConfig.actions="legal"`:
  a closed action space, the prior is the model's log-probability of each canonical step, each
  child's value read in the same forward, no sampling, no widening). If breadth were the limit,
  this would close most of the gap.

Solvability comes from the exact counter (`arith_solver.count_trees`): a diagnosis only, never a
training signal.

    .venv/bin/python bench/search_failures.py --task countdown   # ~6 min here
"""

from __future__ import annotations

import argparse
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import print_table, write_report  # noqa: E402
from lmzero.models.load import SHIPPED  # noqa: E402
from lmzero.models.spec import load_model  # noqa: E402
from lmzero.search.budget import Budget  # noqa: E402
from lmzero.selfplay.step_actor import StepActorConfig, attempt_problems  # noqa: E402
from lmzero.search.step_search import StepSearchConfig, step_search  # noqa: E402
from lmzero.tasks.arith import parse_problem_text  # noqa: E402
from lmzero.tasks.arith_solver import count_trees  # noqa: E402
from lmzero.tasks.countdown import TASK as COUNTDOWN  # noqa: E402
from lmzero.tasks.game24 import TASK as GAME24  # noqa: E402

TASKS = {"game24": GAME24, "countdown": COUNTDOWN}
BUDGET = 64


def solvable(state) -> bool:
    return state.error is None and count_trees(state.numbers,
                                               Fraction(state.problem.target)) > 0


def state_of(task, prompt: str):
    """The state `task.prompt` wrote as `prompt` (its problem line, then one line per step)."""
    problem_line, *steps = prompt.rstrip("\n").split("\n")
    state = task.initial_state(parse_problem_text(problem_line, task))
    for step in steps:
        state = task.apply(state, step)
    return state


def search(task, model, problems, actions: str = "sampled"):
    config = StepSearchConfig(actions=actions)
    return step_search(task, model, problems, config, [Budget(BUDGET) for _ in problems], seed=0)


def failure_depths(results) -> dict:
    """Of the failed searches: how many never held a solvable root child, and how many held one
    but no solvable state two steps down."""
    no_child = no_grandchild = 0
    failed = [r for r in results if not r.solved]
    for r in failed:
        tree = r.tree
        depth = [0] * len(tree)
        for node in range(1, len(tree)):
            depth[node] = depth[tree.parent[node]] + 1
        good = {depth[n] for n in range(1, len(tree)) if solvable(tree.states[n])}
        no_child += 1 not in good
        no_grandchild += 1 in good and 2 not in good
    return dict(failed=len(failed), no_solvable_child=no_child,
                no_solvable_grandchild=no_grandchild)


def auc(values: np.ndarray, good: np.ndarray) -> float:
    """Probability that a solvable state outranks an unsolvable one (ties count half)."""
    pos, neg = values[good], values[~good]
    if not len(pos) or not len(neg):
        return float("nan")
    return float((pos[:, None] > neg).mean() + 0.5 * (pos[:, None] == neg).mean())


def target_auc(task, model, n: int) -> tuple[float, float]:
    """(AUC of the value targets, AUC of the head) on the states of `n` searched training
    problems that get a value target."""
    attempts = attempt_problems(task, model, task.generate(n, seed=12345, split="train"),
                                StepActorConfig(), task.bucket, task.is_heldout, seed=0)
    prompts, targets = [], []
    for attempt in attempts:
        ex = attempt.examples
        for prompt, step, value in zip(ex["prompt"], ex["step"], ex["value"]):
            if step == "" and not np.isnan(value):
                prompts.append(str(prompt))
                targets.append(float(value))
    good = np.array([solvable(state_of(task, p)) for p in prompts])
    head = np.array([e.value for e in model.value(prompts)])
    return auc(np.array(targets), good), auc(head, good)


def value_auc(task, model, problems, depth: int, rng: np.random.Generator) -> float:
    """AUC of the value head on states `depth` random legal steps from each problem's start."""
    states = []
    for problem in problems:
        state = task.initial_state(problem)
        for _ in range(depth):
            steps = task.legal_steps(state)
            state = task.apply(state, steps[int(rng.integers(len(steps)))])
        states.append(state)
    values = np.array([e.value for e in model.value([task.prompt(s) for s in states])])
    return auc(values, np.array([solvable(s) for s in states]))


def diagnose(task, checkpoint: Path, problems, states_from) -> dict:
    model = load_model(f"tinylm:{checkpoint}", task)
    sampled = search(task, model, problems)
    legal = search(task, model, problems, actions="legal")
    rng = np.random.default_rng(0)
    targets, head = target_auc(task, model, len(problems))
    return dict(mcts=float(np.mean([r.solved for r in sampled])), **failure_depths(sampled),
                auc1=value_auc(task, model, states_from, 1, rng),
                auc2=value_auc(task, model, states_from, 2, rng),
                target_auc=targets, head_auc=head,
                mcts_legal=float(np.mean([r.solved for r in legal])))


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--task", choices=sorted(TASKS), default="countdown")
    p.add_argument("--checkpoints", type=Path, nargs="+",
                   help="default: the task's world model and its shipped checkpoint")
    p.add_argument("--limit", type=int, default=100, help="first N held-out problems")
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    args = p.parse_args(argv)
    task = TASKS[args.task]
    checkpoints = args.checkpoints or [SHIPPED / f"{args.task}-pretrain", SHIPPED / args.task]
    heldout = task.heldout_problems()
    problems = heldout[:args.limit]
    rows = {}
    for checkpoint in checkpoints:
        rows[str(checkpoint)] = diagnose(task, checkpoint, problems, heldout)
        print(checkpoint, rows[str(checkpoint)], flush=True)
    print_table(f"{args.task}: why MCTS@{BUDGET} fails, first {len(problems)} held-out problems",
                ["checkpoint", f"MCTS@{BUDGET}", "failed: no solvable root child",
                 "failed: none 2 steps down", "value AUC 1 step / 2 steps",
                 "searched states: target AUC / head AUC",
                 f"MCTS@{BUDGET}, every legal step scored"],
                [[Path(k).name, f"{100 * r['mcts']:.0f}%",
                  f"{r['no_solvable_child']} of {r['failed']}",
                  f"{r['no_solvable_grandchild']} of {r['failed']}",
                  f"{r['auc1']:.2f} / {r['auc2']:.2f}",
                  f"{r['target_auc']:.2f} / {r['head_auc']:.2f}", f"{100 * r['mcts_legal']:.0f}%"]
                 for k, r in rows.items()])
    write_report(args.out, f"{args.task}_search_failures",
                 dict(task=args.task, problems=len(problems), budget=BUDGET, rows=rows), plot)


def plot(report: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    names = [Path(k).name for k in report["rows"]]
    rows = list(report["rows"].values())
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.6))
    x = np.arange(len(rows))
    for k, (key, label) in enumerate((("mcts", "sampled steps"),
                                      ("mcts_legal", "every legal step scored"))):
        left.bar(x + (k - 0.5) * 0.4, [100 * r[key] for r in rows], 0.4, label=label)
    left.set_xticks(x, names, fontsize=8)
    left.set_ylabel(f"% solved, MCTS@{report['budget']}")
    left.legend(fontsize=8)
    bars = (("auc1", "head, 1 random step in"), ("auc2", "head, 2 random steps in"),
            ("head_auc", "head, searched states"), ("target_auc", "targets, searched states"))
    for k, (key, label) in enumerate(bars):
        right.bar(x + (k - 1.5) * 0.2, [r[key] for r in rows], 0.2, label=label)
    right.axhline(0.5, color="grey", lw=0.8)
    right.set_xticks(x, names, fontsize=8)
    right.set_ylim(0.4, 1)
    right.set_ylabel("value AUC (solvable or not)")
    right.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
