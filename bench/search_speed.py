"""Search speed: simulations per second, ours against OpenSpiel's MCTS, in one run.

Every engine runs UCT (c = 2) with one uniformly random rollout per new leaf, from the same fixed
positions, with the same budget per search (`--sims` simulations per root), repeated until at
least `--seconds` have passed; numba code is compiled (or loaded) before any timing starts.

Connect Four (our own game: its rules are numba kernels, so the whole search runs compiled):
  ours B=1            `search` on one root, default leaves_per_call=8 (virtual loss)
  ours B=1 lpc=1      one root, one leaf per wave: plain sequential UCT, as OpenSpiel does it
  ours B=<batch>      one `search` call over `--batch` copies of the position (per-root sims
                      counted, i.e. batch x sims per call)
  openspiel python    open_spiel.python.algorithms.mcts.MCTSBot, solve=False
  openspiel c++       pyspiel.MCTSBot, solve=False

Breakthrough through the OpenSpiel adapter (`openspiel:breakthrough`: states are pyspiel states,
so our search calls OpenSpiel's C++ rules from Python per leaf), `--breakthrough-sims` per
search, against the same two OpenSpiel bots.

Writes bench/out/search_speed.json and bench/out/search_speed.png.

    .venv/bin/python bench/search_speed.py --quick
    .venv/bin/python bench/search_speed.py             # ~2 minutes
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT_DIR))

from bench.common import machine_info, print_table, pyspiel_state, write_report  # noqa: E402
from lmzero.search import RolloutEvaluator, SearchConfig, search  # noqa: E402
from lmzero.tasks.connect4 import ConnectFour, from_moves  # noqa: E402

OUT_DIR = ROOT_DIR / "bench" / "out"
UCT_C = 2.0
# (name, 1-based move digits): the empty board and three positions from random play, ply 6, 8 and
# 10, chosen with no threat for either side: a position with a win in one lets most simulations
# end at once, and so measures little but the time to walk to a terminal node
POSITIONS = [("empty", ""), ("ply 6", "627444"), ("ply 8", "67654424"), ("ply 10", "6524277247")]
# Breakthrough: the start and a position ten random plies in
BREAKTHROUGH_POSITIONS = [("start", ""),
                          ("ply 10", "b7c6 g2g3 c8b7 c2b3 b7b6 f2e3 g7h6 e2f3 c6c5 a2a3")]



# ---------------------------------------------------------------- engines
# Each runner takes (moves, sims, seed) and returns (simulations done, chosen actions).


class Ours:
    def __init__(self, batch: int, leaves_per_call: int):
        self.game = ConnectFour()
        self.batch = batch
        self.leaves_per_call = leaves_per_call
        self.evaluator = RolloutEvaluator(self.game, num_rollouts=1, seed=0)

    def __call__(self, moves: str, sims: int, seed: int):
        config = SearchConfig(num_simulations=sims, method="uct", uct_c=UCT_C,
                              leaves_per_call=self.leaves_per_call)
        roots = [from_moves(moves)] * self.batch
        result = search(self.game, self.evaluator, roots, config, rng=seed)
        return sims * self.batch, result.action.tolist()


class OursAdapter:
    """Our search over an OpenSpiel game through `tasks.openspiel` (Python per leaf)."""

    def __init__(self, name: str, leaves_per_call: int = 8):
        from lmzero.tasks.openspiel import load_game
        self.game = load_game(name)
        self.leaves_per_call = leaves_per_call
        self.evaluator = RolloutEvaluator(self.game, num_rollouts=1, seed=0)

    def __call__(self, moves: str, sims: int, seed: int):
        config = SearchConfig(num_simulations=sims, method="uct", uct_c=UCT_C,
                              leaves_per_call=self.leaves_per_call)
        root = self.game.from_moves(moves) if moves else self.game.initial_state()
        result = search(self.game, self.evaluator, [root], config, rng=seed)
        return sims, result.action.tolist()


def _openspiel_state(game, moves: str):
    """Connect Four: 1-based column digits; other games: OpenSpiel action strings, spaced."""
    if game.get_type().short_name == "connect_four":
        return pyspiel_state(game, moves)
    state = game.new_initial_state()
    for text in moves.split():
        state.apply_action(state.string_to_action(text))
    return state


class OpenSpielCpp:
    def __init__(self, name: str = "connect_four"):
        import pyspiel
        self.pyspiel = pyspiel
        self.game = pyspiel.load_game(name)

    def __call__(self, moves: str, sims: int, seed: int):
        ps = self.pyspiel
        # max_memory_mb: the bot stops searching when its tree outgrows it; keep it out of reach
        bot = ps.MCTSBot(self.game, ps.RandomRolloutEvaluator(1, seed), UCT_C, sims, 4096,
                         False, seed, False)
        return sims, [bot.step(_openspiel_state(self.game, moves))]


class OpenSpielPython:
    def __init__(self, name: str = "connect_four"):
        import pyspiel
        from open_spiel.python.algorithms import mcts
        self.mcts = mcts
        self.game = pyspiel.load_game(name)

    def __call__(self, moves: str, sims: int, seed: int):
        mcts = self.mcts
        evaluator = mcts.RandomRolloutEvaluator(n_rollouts=1,
                                                random_state=np.random.RandomState(seed))
        bot = mcts.MCTSBot(self.game, UCT_C, sims, evaluator, solve=False,
                           random_state=np.random.RandomState(seed))
        return sims, [bot.step(_openspiel_state(self.game, moves))]


def time_engine(run, moves: str, sims: int, seconds: float, seed: int) -> dict:
    """Repeat searches of `sims` simulations until `seconds` have passed (at least one)."""
    done, calls, actions = 0, 0, []
    start = time.perf_counter()
    while True:
        n, chosen = run(moves, sims, seed + calls)
        done += n
        calls += 1
        actions.extend(chosen)
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            break
    values, counts = np.unique(actions, return_counts=True)
    return {"simulations": done, "seconds": elapsed, "calls": calls,
            "sims_per_s": done / elapsed,
            "actions": {int(v): int(c) for v, c in zip(values, counts)}}


def time_section(engines, positions, sims: int, seconds: float, seed: int) -> list[dict]:
    """Every engine on every position; ours against the OpenSpiel engines as ratios (overall =
    geometric mean over positions, so no position weighs more for being slower)."""
    results = []
    for name, run in engines:
        per_position = {}
        for pos_name, moves in positions:
            r = time_engine(run, moves, sims, seconds, seed)
            per_position[pos_name] = r
            print(f"  {name:22s} {pos_name:7s} {r['sims_per_s']:>10,.0f} sims/s "
                  f"({r['simulations']:,} sims, {r['calls']} searches, {r['seconds']:.2f}s) "
                  f"moves {r['actions']}", flush=True)
        overall = float(np.exp(np.mean([np.log(r["sims_per_s"]) for r in per_position.values()])))
        results.append({"name": name, "per_position": per_position,
                        "total_simulations": sum(r["simulations"] for r in per_position.values()),
                        "total_seconds": sum(r["seconds"] for r in per_position.values()),
                        "overall_sims_per_s": overall})
    by_name = {r["name"]: r for r in results}
    py, cpp = by_name["openspiel python"], by_name["openspiel c++"]
    for r in results:
        if r["name"].startswith("ours"):
            r["ratio_vs_python"] = r["overall_sims_per_s"] / py["overall_sims_per_s"]
            r["ratio_vs_cpp"] = r["overall_sims_per_s"] / cpp["overall_sims_per_s"]
            for pos_name, _ in positions:
                cell = r["per_position"][pos_name]
                cell["ratio_vs_python"] = cell["sims_per_s"] / py["per_position"][pos_name][
                    "sims_per_s"]
                cell["ratio_vs_cpp"] = cell["sims_per_s"] / cpp["per_position"][pos_name][
                    "sims_per_s"]
    return results


# ---------------------------------------------------------------- output


def print_speed_table(section: dict) -> None:
    positions = [p["name"] for p in section["positions"]]
    header = ["engine", *positions, "overall (geo-mean)", "ours/python", "ours/c++"]
    rows = []
    for e in section["engines"]:
        cells = [f"{e['per_position'][p]['sims_per_s']:,.0f}" for p in positions]
        cells.append(f"{e['overall_sims_per_s']:,.0f}")
        cells.append(f"{e['ratio_vs_python']:.2f}x" if "ratio_vs_python" in e else "")
        cells.append(f"{e['ratio_vs_cpp']:.2f}x" if "ratio_vs_cpp" in e else "")
        rows.append([e["name"], *cells])
    title = (f"{section['game']}, UCT c={UCT_C}, 1 random rollout per leaf: simulations/s "
             f"({section['sims']} sims per root per search, >= {section['seconds']} s per cell)")
    print_table(title, header, rows)


def plot(report: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sections = report["sections"]
    fig, axes = plt.subplots(1, len(sections), figsize=(7 * len(sections), 5))
    for ax, section in zip(np.atleast_1d(axes), sections):
        positions = [p["name"] for p in section["positions"]] + ["overall"]
        engines = section["engines"]
        x = np.arange(len(positions))
        width = 0.8 / len(engines)
        for i, e in enumerate(engines):
            ys = [e["per_position"][p]["sims_per_s"] for p in positions[:-1]]
            ys.append(e["overall_sims_per_s"])
            bars = ax.bar(x + (i - (len(engines) - 1) / 2) * width, ys, width, label=e["name"])
            ax.bar_label(bars, labels=[f"{y / 1000:.0f}k" if y >= 1000 else f"{y:.0f}"
                                       for y in ys], fontsize=6, padding=1)
        ax.set_xticks(x, positions)
        ax.set_yscale("log")
        ax.set_ylabel("simulations per second (log)")
        ax.set_title(f"{section['game']}: UCT c={UCT_C}, one random rollout per leaf, "
                     f"{section['sims']} sims/root/search", fontsize=9)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def warm(engines) -> None:
    """Compile (or load) numba code, import everything, touch every path before timing."""
    for _, run in engines:
        run("", 64, 0)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=2.0,
                   help="minimum timed seconds per engine and position (default 2)")
    p.add_argument("--sims", type=int, default=5000,
                   help="Connect Four simulations per root in one search (default 5000)")
    p.add_argument("--breakthrough-sims", type=int, default=500,
                   help="Breakthrough simulations per search (default 500)")
    p.add_argument("--batch", type=int, default=64, help="roots of the batched search (default 64)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true",
                   help="a smoke run: 0.3 s per cell, 1000 sims (Breakthrough 100), batch 64")
    p.add_argument("--out", type=Path, default=OUT_DIR)
    args = p.parse_args(argv)
    if args.quick:
        args.seconds, args.sims, args.breakthrough_sims = 0.3, 1000, 100

    game = ConnectFour()
    for _, moves in POSITIONS:
        assert not game.is_terminal(from_moves(moves)), moves
    connect4 = [("ours B=1", Ours(1, 8)), ("ours B=1 lpc=1", Ours(1, 1)),
                (f"ours B={args.batch}", Ours(args.batch, 8)),
                ("openspiel python", OpenSpielPython()), ("openspiel c++", OpenSpielCpp())]
    breakthrough = [("ours (openspiel adapter)", OursAdapter("breakthrough")),
                    ("ours adapter lpc=1", OursAdapter("breakthrough", 1)),
                    ("openspiel python", OpenSpielPython("breakthrough")),
                    ("openspiel c++", OpenSpielCpp("breakthrough"))]
    t_warm = time.perf_counter()
    warm(connect4)
    warm(breakthrough)
    warm_s = time.perf_counter() - t_warm
    print(f"warm-up {warm_s:.2f}s", flush=True)

    t0 = time.perf_counter()
    sections = [
        {"game": "Connect Four", "sims": args.sims, "seconds": args.seconds,
         "positions": [{"name": n, "moves": m} for n, m in POSITIONS],
         "engines": time_section(connect4, POSITIONS, args.sims, args.seconds, args.seed)},
        {"game": "Breakthrough (OpenSpiel adapter)", "sims": args.breakthrough_sims,
         "seconds": args.seconds,
         "positions": [{"name": n, "moves": m} for n, m in BREAKTHROUGH_POSITIONS],
         "engines": time_section(breakthrough, BREAKTHROUGH_POSITIONS, args.breakthrough_sims,
                                 args.seconds, args.seed)}]

    import pyspiel
    report = {
        "benchmark": "search speed",
        "config": {"uct_c": UCT_C, "rollouts_per_leaf": 1, "sims": args.sims,
                   "breakthrough_sims": args.breakthrough_sims, "batch": args.batch,
                   "seconds": args.seconds, "seed": args.seed, "quick": args.quick,
                   "overall": "geometric mean over positions"},
        "sections": sections,
        "warmup_seconds": warm_s,
        "timed_seconds": time.perf_counter() - t0,
        "machine": machine_info(pyspiel=getattr(pyspiel, "__version__", "?")),
    }
    for section in sections:
        print_speed_table(section)
    write_report(args.out, "search_speed", report, plot)
    print(f"{report['timed_seconds']:.0f}s timed")


if __name__ == "__main__":
    main()
