"""Move quality on solver-labelled Connect Four positions: how often does search keep the best
outcome?

Reads bench/data/connect4_positions.jsonl (from make_positions.py).  A move counts as best when
its solver value (win/draw/loss for the mover) equals the best value over the legal columns.
For each set and budget (simulations per position), every method searches every position once:

  ours uct          SearchConfig(method="uct", uct_c=2), random-rollout evaluator, one batched
                    `search` call over all positions of a set (leaves_per_call=8)
  ours uct lpc=1    the same with one leaf per tree per wave (sequential UCT within each tree)
  ours uct lpc=1 solve   the same with our MCTS-Solver on (SearchConfig.solve)
  ours puct         SearchConfig(method="puct") with its defaults, same evaluator (uniform prior)
  openspiel c++     pyspiel.MCTSBot, UCT c=2, 1 random rollout per leaf, solve=False
  openspiel c++ solve   the same with solve=True (MCTS-Solver: proven wins/losses back up)
  random move       the expected share of a uniformly random legal move (no search; exact)

Also available through --methods: "ours gumbel" (method="gumbel" defaults).
Every cell pools --seeds runs (default 3) with different seeds; shares come with 95% Wilson
intervals over the pooled moves, and the last table gives ours / OpenSpiel at equal budget.  Writes bench/out/move_quality.json and .png.

    .venv/bin/python bench/move_quality.py --quick
    .venv/bin/python bench/move_quality.py                  # all positions, budgets 100..10000
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT_DIR))

from bench.common import machine_info, print_table, pyspiel_state, write_report  # noqa: E402
from lmzero.eval.game_eval import ILLEGAL, keeps_best  # noqa: E402
from lmzero.search import RolloutEvaluator, SearchConfig, search  # noqa: E402
from lmzero.tasks.connect4 import ConnectFour, from_moves  # noqa: E402

DATA = ROOT_DIR / "bench" / "data" / "connect4_positions.jsonl"
OUT_DIR = ROOT_DIR / "bench" / "out"
UCT_C = 2.0
SETS = ["6-13", "14-34"]
DEFAULT_METHODS = ["ours uct", "ours uct lpc=1", "ours uct lpc=1 solve", "ours puct",
                   "openspiel c++", "openspiel c++ solve"]
ALL_METHODS = DEFAULT_METHODS + ["ours gumbel"]


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a binomial share k / n."""
    if n == 0:
        return (float("nan"), float("nan"))
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def load_positions(path: Path, limit: int | None) -> dict[str, list[dict]]:
    by_set: dict[str, list[dict]] = defaultdict(list)
    for line in path.read_text().splitlines():
        if line.strip():
            row = json.loads(line)
            by_set[row["set"]].append(row)
    return {s: (by_set[s][:limit] if limit else by_set[s]) for s in SETS}


# ---------------------------------------------------------------- methods
# Each takes (positions, budget, seed) and returns the chosen 0-based column per position.


def ours(method: str, leaves_per_call: int = 8, solve: bool = False):
    game = ConnectFour()

    def run(positions, budget, seed):
        config = SearchConfig(num_simulations=budget, method=method, uct_c=UCT_C,
                              leaves_per_call=leaves_per_call, solve=solve)
        evaluator = RolloutEvaluator(game, num_rollouts=1, seed=seed)  # fresh: reproducible
        roots = [from_moves(p["moves"]) for p in positions]
        return search(game, evaluator, roots, config, rng=seed).action.tolist()
    return run


def openspiel_cpp(solve: bool):
    import pyspiel
    game = pyspiel.load_game("connect_four")

    def run(positions, budget, seed):
        actions = []
        for i, p in enumerate(positions):
            bot = pyspiel.MCTSBot(game, pyspiel.RandomRolloutEvaluator(1, seed + i), UCT_C,
                                  budget, 4096, solve, seed + i, False)
            actions.append(int(bot.step(pyspiel_state(game, p["moves"]))))
        return actions
    return run



def make_method(name: str):
    return {
        "ours uct": lambda: ours("uct"),
        "ours uct lpc=1": lambda: ours("uct", leaves_per_call=1),
        "ours uct lpc=1 solve": lambda: ours("uct", leaves_per_call=1, solve=True),
        "ours puct": lambda: ours("puct"),
        "ours gumbel": lambda: ours("gumbel"),
        "openspiel c++": lambda: openspiel_cpp(False),
        "openspiel c++ solve": lambda: openspiel_cpp(True),
    }[name]()


def check_positions(sets: dict[str, list[dict]]) -> None:
    """Our board and OpenSpiel's agree on every position (legal columns, not over)."""
    import pyspiel
    game, ps_game = ConnectFour(), pyspiel.load_game("connect_four")
    for rows in sets.values():
        for p in rows:
            state = from_moves(p["moves"])
            ps = pyspiel_state(ps_game, p["moves"])
            legal = np.flatnonzero(game.legal_mask(state)).tolist()
            assert not game.is_terminal(state) and not ps.is_terminal(), p["moves"]
            assert legal == ps.legal_actions(), (p["moves"], legal, ps.legal_actions())
            assert legal == [c for c in range(7) if p["values"][c] != ILLEGAL], p["moves"]


# ---------------------------------------------------------------- output


def fmt_cell(cell: dict) -> str:
    lo, hi = cell["wilson95"]
    return f"{100 * cell['share']:5.1f}% [{100 * lo:4.1f}, {100 * hi:4.1f}]"


def print_quality_table(report: dict) -> None:
    header = ["method", "budget", *[f"set {s} (n={report['n'][s]})" for s in SETS], "seconds"]
    rows = [["random move", "-",
             *[f"{100 * report['random'][s]['share']:5.1f}% (exact)" for s in SETS], "-"]]
    for r in report["rows"]:
        rows.append([r["method"], f"{r['budget']:,}", *[fmt_cell(r["sets"][s]) for s in SETS],
                     f"{r['seconds']:.1f}"])
    title = ("Connect Four: share of positions where the chosen move keeps the solver's best "
             "outcome (95% Wilson interval)")
    print_table(title, header, rows)


def print_ratios(report: dict, ours_name: str = "ours uct lpc=1",
                 theirs_name: str = "openspiel c++") -> None:
    """Ours / OpenSpiel at equal simulations: the comparison the machine's noise cannot bias."""
    cells = {(r["method"], r["budget"]): r for r in report["rows"]}
    for (name, budget), mine in cells.items():
        if name != ours_name or (theirs_name, budget) not in cells:
            continue
        theirs = cells[(theirs_name, budget)]
        print(f"{ours_name} / {theirs_name} at {budget:,} simulations: " + ", ".join(
            f"set {s} {mine['sets'][s]['share'] / max(theirs['sets'][s]['share'], 1e-9):.3f}"
            for s in SETS))


def plot(report: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(SETS), figsize=(12, 4.8), sharey=True)
    methods = list(dict.fromkeys(r["method"] for r in report["rows"]))
    for ax, s in zip(axes, SETS):
        for j, m in enumerate(methods):
            rows = [r for r in report["rows"] if r["method"] == m]
            x = np.array([r["budget"] for r in rows], float) * (1 + 0.03 * (j - len(methods) / 2))
            y = np.array([r["sets"][s]["share"] for r in rows])
            lo = np.array([r["sets"][s]["wilson95"][0] for r in rows])
            hi = np.array([r["sets"][s]["wilson95"][1] for r in rows])
            err = np.clip(np.vstack([y - lo, hi - y]), 0, None)  # no rounding below 0
            ax.errorbar(x, 100 * y, yerr=100 * err, marker="o", capsize=3, label=m)
        ax.axhline(100 * report["random"][s]["share"], color="grey", ls="--", lw=1,
                   label="random move")
        ax.set_xscale("log")
        ax.set_xlabel("simulations per position")
        ax.set_title(f"set {s} (n={report['n'][s]})")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("% positions: chosen move keeps the best outcome")
    axes[-1].legend(fontsize=8, loc="lower right")
    fig.suptitle("Connect Four move quality vs. budget (95% Wilson intervals)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--budgets", type=lambda s: [int(x) for x in s.split(",")],
                   default=[100, 1000, 10000], help="comma-separated (default 100,1000,10000)")
    p.add_argument("--limit", type=int, default=None, help="positions per set (default: all)")
    p.add_argument("--methods", type=lambda s: [m.strip() for m in s.split(",")],
                   default=DEFAULT_METHODS, help=f"comma-separated, from: {', '.join(ALL_METHODS)}")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--seeds", type=int, default=3, help="runs per cell, pooled (default 3)")
    p.add_argument("--data", type=Path, default=DATA)
    p.add_argument("--quick", action="store_true", help="budgets 100,1000 on 20 positions per set")
    p.add_argument("--out", type=Path, default=OUT_DIR)
    args = p.parse_args(argv)
    if args.quick:
        args.budgets, args.limit = [100, 1000], args.limit or 20
    unknown = [m for m in args.methods if m not in ALL_METHODS]
    if unknown:
        p.error(f"unknown method(s) {unknown}; choose from {ALL_METHODS}")

    sets = load_positions(args.data, args.limit)
    check_positions(sets)
    random_ref = {}
    for s in SETS:  # exact expectation of a uniformly random legal move
        shares = [np.mean([keeps_best(r["values"], a) for a in range(7)
                           if r["values"][a] != ILLEGAL])
                  for r in sets[s]]
        share = float(np.mean(shares))
        random_ref[s] = {"share": share, "wilson95": [share, share],  # exact: no sampling error
                         "n": len(shares)}
    print("positions: " + ", ".join(f"{s}: {len(sets[s])}" for s in SETS), flush=True)

    t0 = time.perf_counter()
    rows = []
    for name in args.methods:
        run = make_method(name)
        run([sets[SETS[0]][0]], 16, 0)  # warm-up: numba compile/load, imports
        for budget in args.budgets:
            row = {"method": name, "budget": budget, "sets": {}, "seconds": 0.0}
            for s in SETS:
                t = time.perf_counter()
                best, actions = [], []
                for seed in range(args.seed, args.seed + args.seeds):
                    chosen = run(sets[s], budget, seed)
                    actions += chosen
                    best += [keeps_best(r["values"], a) for r, a in zip(sets[s], chosen)]
                secs = (time.perf_counter() - t) / args.seeds
                k, n = int(sum(best)), len(best)
                row["sets"][s] = {"share": k / n, "k": k, "n": n, "wilson95": list(wilson(k, n)),
                                  "seconds": secs, "actions": [int(a) for a in actions]}
                row["seconds"] += secs
            rows.append(row)
            print(f"  {name:20s} {budget:>6,}: " + ", ".join(
                f"{s} {fmt_cell(row['sets'][s])} ({row['sets'][s]['seconds']:.1f}s)"
                for s in SETS), flush=True)

    report = {
        "benchmark": "connect4 move quality",
        "data": str(args.data.relative_to(ROOT_DIR) if args.data.is_relative_to(ROOT_DIR)
                    else args.data),
        "n": {s: len(sets[s]) for s in SETS},
        "config": {"budgets": args.budgets, "limit": args.limit, "seed": args.seed,
                   "uct_c": UCT_C, "rollouts_per_leaf": 1, "quick": args.quick,
                   "methods": args.methods},
        "random": random_ref,
        "rows": rows,
        "total_seconds": time.perf_counter() - t0,
        "machine": machine_info(),
    }
    print_quality_table(report)
    print_ratios(report)
    write_report(args.out, "move_quality", report, plot)
    print(f"total {report['total_seconds']:.0f}s")


if __name__ == "__main__":
    main()
