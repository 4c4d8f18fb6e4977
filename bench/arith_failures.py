"""Why a Game of 24 or Countdown model fails held-out problems: slips or choices? And what does
the calculator (`ArithTask.calculator`) change?

Greedy decoding of a checkpoint over the held-out problems (Game of 24: all 358; Countdown: the 200
that self-improvement checks); every failure sorted by its first
wrong thing: an arithmetic slip (`a op b = c` with the wrong c), a bookkeeping slip (a wrong
"left:" list), a malformed or impossible step (an operand not among the numbers left, garbled
text), or valid steps all the way to a number that is not 24 (a wrong choice of operations).

Then the same model with the calculator on: the model still writes whole steps, but only its
"a op b" is kept, and the task computes the result and the numbers left, so no slip can end a
branch. Greedy pass@1 and MCTS at 32 calls, both ways, in one run.

Last, choices without slips: one call per step over the task's legal steps (the model scores
them all, `TinyLMStepModel.score`), taking the step the prior ranks first (`lmzero eval
--method greedy --actions legal`), or the one whose prior times the child's value (read in the
same call) is largest: how much better the model chooses when its value head has a say, with
no search. And where the legal-step greedy first loses the target (the exact counter), on the
held-out problems and on as many training ones: memorised choices fail only held out.

    .venv/bin/python bench/arith_failures.py [--task countdown] [--checkpoint DIR]  # 1-4 min
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import print_table, write_report  # noqa: E402
from lmzero.eval.reasoning import MethodConfig, solve_problems  # noqa: E402
from lmzero.models.load import SHIPPED  # noqa: E402
from lmzero.models.spec import load_model  # noqa: E402
from lmzero.tasks.arith_solver import count_trees  # noqa: E402
from lmzero.tasks.countdown import TASK as COUNTDOWN  # noqa: E402
from lmzero.tasks.game24 import TASK as GAME24  # noqa: E402

TASKS = {"game24": GAME24, "countdown": COUNTDOWN}


def failure_kind(state) -> str:
    """What ended an unsolved greedy trajectory first."""
    if state.error is None:
        return "valid steps, wrong number at the end"
    if state.error.startswith("left should be"):
        return "bookkeeping slip (numbers left)"
    if re.fullmatch(r".* = \S+, not \S+", state.error):
        return "arithmetic slip (result)"
    return "malformed or impossible step"


def run(task, model, problems) -> dict:
    greedy = solve_problems(task, model, problems, MethodConfig(method="greedy", budget=None,
                                                                batch=512))
    mcts = solve_problems(task, model, problems, MethodConfig(method="mcts", budget=32,
                                                              batch=512, seed=0))
    kinds = Counter(failure_kind(r.final_state) for r in greedy if not r.solved)
    return dict(greedy=float(np.mean([r.solved for r in greedy])),
                mcts32=float(np.mean([r.solved for r in mcts])),
                failures={k: kinds[k] for k in sorted(kinds, key=kinds.get, reverse=True)})


def legal_greedy_results(task, model, problems) -> list:
    return solve_problems(task, model, problems, MethodConfig(
        method="greedy", budget=None, batch=512, actions="legal"))


def first_lost_step(task, state) -> int | None:
    """The step (1-based) of a trajectory after which its numbers left can no longer reach the
    target (exact counter), or None if they always could."""
    node = task.initial_state(state.problem)
    for depth, step in enumerate(state.steps, 1):
        node = task.apply(node, step)
        if not can_reach(node):
            return depth
    return None


def can_reach(node) -> bool:
    """Whether a state's numbers left can still make its target (exact counter; a diagnosis)."""
    return node.error is None and count_trees(node.numbers, Fraction(node.problem.target)) > 0


def where_choices_fail(task, model, problems) -> dict:
    """Legal greedy on held-out and on as many training problems: solved share, and how many
    trajectories first lose the target at each step. A policy that generalises loses about as
    often on both; one that memorised its training puzzles loses far more held-out ones."""
    training = task.training_pool(len(problems), seed=0)
    training = [training[i] for i in np.random.default_rng(0).permutation(len(training))]
    out = {}
    for name, chosen in (("held-out", problems), ("training", training[:len(problems)])):
        results = legal_greedy_results(task, model, chosen)
        lost = Counter(first_lost_step(task, r.final_state) for r in results if not r.solved)
        out[name] = dict(problems=len(chosen), solved=float(np.mean([r.solved for r in results])),
                         lost_at_step={k: lost[k] for k in sorted(lost, key=str)})
    return out


def value_weighted_step(scored) -> str:
    """The scored legal step with the largest prior x child value (one `score` answer)."""
    best = max(range(len(scored.steps)), key=lambda j: scored.logprobs[j]
               + np.log(max(scored.step_values[j], 1e-6)))
    return scored.steps[best]


def value_weighted_greedy(task, model, problems) -> float:
    """Solved share when every step is the legal step with the largest prior x child value
    (both read in one scoring call per state)."""
    states = [task.initial_state(p) for p in problems]
    while live := [i for i, s in enumerate(states) if not task.is_terminal(s)]:
        answers = model.score([task.prompt(states[i]) for i in live],
                              [task.legal_steps(states[i]) for i in live])
        for i, a in zip(live, answers):
            states[i] = task.apply(states[i], value_weighted_step(a))
    return float(np.mean([task.reward(s) for s in states]))


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--task", choices=sorted(TASKS), default="game24")
    p.add_argument("--checkpoint", type=Path,
                   help="default: the task's shipped checkpoint, else its world model")
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    args = p.parse_args(argv)
    task = TASKS[args.task]
    checkpoint = args.checkpoint or next(
        d for d in (SHIPPED / args.task, SHIPPED / f"{args.task}-pretrain") if d.exists())
    problems = task.heldout_problems()
    rows = {}
    for name, calculator in (("model writes the whole step", False),
                             ("calculator completes a op b", True)):
        variant = replace(task, calculator=calculator)
        rows[name] = run(variant, load_model(f"tinylm:{checkpoint}", variant), problems)
        print(name, rows[name], flush=True)
    model = load_model(f"tinylm:{checkpoint}", task)
    where = where_choices_fail(task, model, problems)  # its held-out row: the prior's first
    for name, greedy in (("legal steps, the prior's first", where["held-out"]["solved"]),
                         ("legal steps, prior x child value",
                          value_weighted_greedy(task, model, problems))):
        rows[name] = dict(greedy=greedy, failures={})
        print(name, rows[name], flush=True)
    print_table("legal greedy (the prior's first legal step): where the target is first lost",
                ["problems", "solved", "trajectories that first lose the target at step 1, 2, ..."],
                [[f"{k} ({w['problems']})", f"{100 * w['solved']:.1f}%",
                  ", ".join(f"step {d}: {n}" for d, n in w["lost_at_step"].items())]
                 for k, w in where.items()])
    print_table(f"{args.task}, {len(problems)} held-out problems, {checkpoint}",
                ["steps", "greedy pass@1", "MCTS@32", "greedy failures by first error"],
                [[k, f"{100 * r['greedy']:.1f}%",
                  f"{100 * r['mcts32']:.1f}%" if "mcts32" in r else "-",
                  "; ".join(f"{n} {kind}" for kind, n in r["failures"].items())]
                 for k, r in rows.items()])
    write_report(args.out, f"{args.task}_failures", dict(
        task=args.task, checkpoint=str(checkpoint), problems=len(problems), rows=rows,
        where_choices_fail=where), plot)


def plot(report: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rows = report["rows"]
    fig, ax = plt.subplots(figsize=(6, 4))
    x = np.arange(2)
    width = 0.8 / len(rows)
    for k, (name, r) in enumerate(rows.items()):
        ax.bar(x + (k - (len(rows) - 1) / 2) * width,
               [100 * r["greedy"], 100 * r.get("mcts32", 0.0)], width, label=name)
    ax.set_xticks(x, ["one step per call (greedy)", "MCTS, 32 calls"])
    ax.set_ylabel(f"% of {report['problems']} held-out problems solved")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
