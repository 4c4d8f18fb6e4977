"""Why a Game of 24 model fails held-out puzzles: slips or choices? And would a calculator help?

Greedy decoding of a checkpoint over the 358 held-out puzzles; every failure sorted by its first
wrong thing: an arithmetic slip (`a op b = c` with the wrong c), a bookkeeping slip (a wrong
"left:" list), a malformed or impossible step (an operand not among the numbers left, garbled
text), or valid steps all the way to a number that is not 24 (a wrong choice of operations).

Then the same model with a calculator in the loop (`CalculatorGame24`): the model still writes
whole steps, but only its "a op b" is kept, and the task computes the result and the numbers
left, so no slip can end a branch. Greedy pass@1 and MCTS at 32 calls, both ways, in one run.

    .venv/bin/python bench/game24_failures.py [--checkpoint DIR]   # ~1 minute
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import print_table, write_report  # noqa: E402
from lmzero.eval.reasoning import MethodConfig, solve_problems  # noqa: E402
from lmzero.models.load import SHIPPED  # noqa: E402
from lmzero.models.spec import load_model  # noqa: E402
from lmzero.tasks import arith  # noqa: E402
from lmzero.tasks.game24 import Game24  # noqa: E402

OPERATION = re.compile(r"\s*(\S+) (\S+) (\S+)")


@dataclass(frozen=True)
class CalculatorGame24(Game24):
    """Game of 24 where the task, not the model, computes each step's result and the numbers
    left: a step counts by its leading `a op b` alone (a step without one stays as written)."""

    def apply(self, state, step_text: str):
        return super().apply(state, completed(state, step_text))


def completed(state, text: str) -> str:
    """The canonical step for the operation `text` starts with, if that operation is possible
    on the numbers left; else `text` unchanged (the task then says what is wrong)."""
    match = OPERATION.match(text)
    if match is None or match[2] not in arith.OPS:
        return text
    try:
        a, b = arith.parse_number(match[1]), arith.parse_number(match[3])
    except ValueError:
        return text
    rest = list(state.numbers)
    for x in (a, b):
        if x not in rest:
            return text
        rest.remove(x)
    if match[2] == "/" and b == 0:
        return text
    value = arith.OPS[match[2]](a, b)
    return arith.format_step(arith.Step(a, match[2], b, value, tuple(sorted(rest + [value]))))


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


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", type=Path, default=SHIPPED / "game24")
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    args = p.parse_args(argv)
    plain, calculator = Game24(), CalculatorGame24()
    problems = plain.heldout_problems()
    rows = {}
    for name, task in (("model writes the whole step", plain),
                       ("calculator completes a op b", calculator)):
        rows[name] = run(task, load_model(f"tinylm:{args.checkpoint}", task), problems)
        print(name, rows[name], flush=True)
    print_table(f"Game of 24, {len(problems)} held-out puzzles, {args.checkpoint}",
                ["steps", "greedy pass@1", "MCTS@32", "greedy failures by first error"],
                [[k, f"{100 * r['greedy']:.1f}%", f"{100 * r['mcts32']:.1f}%",
                  "; ".join(f"{n} {kind}" for kind, n in r["failures"].items())]
                 for k, r in rows.items()])
    write_report(args.out, "game24_failures", dict(checkpoint=str(args.checkpoint),
                                                   problems=len(problems), rows=rows), plot)


def plot(report: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rows = report["rows"]
    fig, ax = plt.subplots(figsize=(6, 4))
    x = np.arange(2)
    for k, (name, r) in enumerate(rows.items()):
        ax.bar(x + (k - 0.5) * 0.4, [100 * r["greedy"], 100 * r["mcts32"]], 0.4, label=name)
    ax.set_xticks(x, ["greedy pass@1", "MCTS, 32 calls"])
    ax.set_ylabel(f"% of {report['problems']} held-out puzzles solved")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
