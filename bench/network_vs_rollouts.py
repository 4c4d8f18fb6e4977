"""Does a trained game network beat model-free search at equal simulations, and up to how many?

The network's PUCT search against UCT with uniformly random rollouts, both given the same
simulations per move, for a sweep of budgets; 40 games each by default, seats alternated, fresh
players each game. A network's prior matters most when simulations are few; rollouts gain more
from each extra simulation, so the sweep shows where the two cross. Any game works: by default
Breakthrough's network from `lmzero train openspiel:breakthrough --preset quick` (trained first
when the run directory holds none).

    .venv/bin/python bench/network_vs_rollouts.py                       # ~45 min here
    .venv/bin/python bench/network_vs_rollouts.py --sims 8 32 --games 10  # a smoke run
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import machine_info, print_table, write_report  # noqa: E402
from lmzero.eval.arena import match  # noqa: E402
from lmzero.loop import make_game, preset_config, train  # noqa: E402
from lmzero.models.load import load_network, resolve  # noqa: E402
from lmzero.player import SearchPlayer  # noqa: E402
from lmzero.search import RolloutEvaluator, SearchConfig  # noqa: E402

OUT = ROOT / "bench" / "out"


def trained_run(game: str, run: Path, preset: str) -> Path:
    """The run directory, trained with `preset` first if it holds no checkpoint yet."""
    if not (run / "checkpoints").is_dir():
        start = time.monotonic()
        train(preset_config(game, preset), run)
        print(f"trained {game} --preset {preset} in {time.monotonic() - start:.0f} s", flush=True)
    return resolve(run)


def sweep(game, evaluator, sims: list[int], games: int, seed: int) -> list[dict]:
    """One match per budget: the network's PUCT against rollout UCT at the same simulations."""
    rng = np.random.default_rng(seed)
    rows = []
    for n in sims:
        start = time.monotonic()
        result = match(
            game, lambda: SearchPlayer(game, evaluator, SearchConfig(num_simulations=n)),
            lambda: SearchPlayer(game, RolloutEvaluator(game, seed=int(rng.integers(1 << 30))),
                                 SearchConfig(num_simulations=n, method="uct")), games)
        low, high = result.interval()
        rows.append(dict(simulations=n, wins=result.wins, wins_first=result.wins_first,
                         draws=result.draws,
                         losses=result.losses, score=result.score, low=low, high=high,
                         seconds=round(time.monotonic() - start, 1)))
        print(f"{n} simulations: {result.wins}-{result.draws}-{result.losses} "
              f"({100 * result.score:.1f}%; {result.wins_first} of the wins moving first)",
              flush=True)
    return rows


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--game", default="openspiel:breakthrough")
    p.add_argument("--run", type=Path, default=None,
                   help="run directory or checkpoint (default runs/<game>-<preset>)")
    p.add_argument("--preset", default="quick", help="preset to train with if --run has none")
    p.add_argument("--sims", type=int, nargs="+", default=[8, 16, 32, 64, 128])
    p.add_argument("--games", type=int, default=40, help="games per budget (seats alternated)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=OUT)
    args = p.parse_args(argv)
    np.random.seed(args.seed)  # the players' own draws (Dirichlet-free PUCT: only ties)
    game = make_game(args.game)
    run = args.run or ROOT / "runs" / f"{args.game.replace(':', '_')}-{args.preset}"
    checkpoint = trained_run(args.game, run, args.preset) if args.run is None else resolve(run)
    rows = sweep(game, load_network(checkpoint, game), args.sims, args.games, args.seed)
    print_table(f"{args.game}: the network ({checkpoint}) under PUCT against UCT with random "
                f"rollouts, equal simulations, {args.games} games each, seats alternated",
                ["simulations", "wins (moving first)", "draws", "losses", "score",
                 "95% interval"],
                [[str(r["simulations"]), f"{r['wins']} ({r['wins_first']})", str(r["draws"]),
                  str(r["losses"]),
                  f"{100 * r['score']:.1f}%",
                  f"[{100 * r['low']:.0f}, {100 * r['high']:.0f}]"] for r in rows])
    report = dict(benchmark="network vs rollouts at equal simulations", game=args.game,
                  checkpoint=str(checkpoint), games=args.games, seed=args.seed, rows=rows,
                  machine=machine_info())
    write_report(args.out, "network_vs_rollouts", report, plot)


def plot(report: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rows = report["rows"]
    x = [r["simulations"] for r in rows]
    score = np.array([100 * r["score"] for r in rows])
    err = [score - [100 * r["low"] for r in rows], [100 * r["high"] for r in rows] - score]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.errorbar(x, score, yerr=err, marker="o", capsize=3)
    ax.axhline(50, color="grey", lw=0.8, ls="--")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("simulations per move (both players)")
    ax.set_ylabel("network's score, % (95% interval)")
    ax.set_title(f"{report['game']}: network PUCT vs rollout UCT", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
