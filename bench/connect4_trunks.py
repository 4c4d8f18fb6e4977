"""What lifts the Connect Four network, at equal training time: trunks and sizes side by side.

Each variant trains from scratch with the `connect4 full` preset's self-play and learner, only
its `model` changed, for the same compute budget (`--minutes` of this process's CPU time, one
run after the other, one torch thread each: CPU time, because on a shared machine wall time
would charge one variant for another job's load); the network of the last iteration that ended within the
budget is then measured the way the issue's bar measures: the share of moves keeping the
solver's outcome on the ply 6-13 positions (bench/data/connect4_positions.jsonl) at 0 (raw
policy) and 100 simulations (PUCT, one leaf per call). The learning-rate cosine is laid over
the preset's 70 iterations, so a short budget trains every variant near its peak rate alike.

    .venv/bin/python bench/connect4_trunks.py --minutes 10           # ~35 min, 3 variants
    .venv/bin/python bench/connect4_trunks.py --quick                # a smoke run
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import print_table, write_report  # noqa: E402
from bench.connect4_strength import load_sets, ours_moves  # noqa: E402
from lmzero.eval.game_eval import keeps_best  # noqa: E402
from lmzero.loop import PRESETS, train  # noqa: E402
from lmzero.models.load import load_network  # noqa: E402
from lmzero.tasks.connect4 import ConnectFour  # noqa: E402

OUT = ROOT / "bench" / "out"
VARIANTS = {
    "mlp 3x512 (shipped)": dict(trunk="mlp", n_layer=3, n_embd=64, mlp_width=512),
    "resnet 4x32": dict(trunk="resnet", n_layer=4, n_embd=32),
    "resnet 6x48": dict(trunk="resnet", n_layer=6, n_embd=48),
}
BUDGETS = (0, 100)


class TimeUp(Exception):
    """Raised from the progress hook once an iteration ends past the budget."""


def train_for(name: str, model: dict, seconds: float, runs: Path, seed: int) -> dict:
    """Train one variant until an iteration ends past `seconds` of CPU time; its figures."""
    run = runs / name.split(" (")[0].replace(" ", "-")
    shutil.rmtree(run, ignore_errors=True)
    config = replace(PRESETS[("connect4", "full")], model=model, seed=seed, eval_every=1000)
    start = time.process_time()

    def stop_when_late(i, phase, row):
        if phase == "done":
            print(f"  {name}: iteration {i} done at {row['wall_seconds']:.0f}s "
                  f"(policy loss {row['loss_policy']:.3f}, value loss {row['loss_value']:.3f})",
                  flush=True)
            if time.process_time() - start >= seconds:
                raise TimeUp

    try:
        train(config, run, progress=stop_when_late)
    except TimeUp:
        pass
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return dict(run=str(run), cpu_seconds=round(time.process_time() - start, 1),
                iterations=len(rows), games=rows[-1]["games"],
                wall_seconds=rows[-1]["wall_seconds"], loss_value=rows[-1]["loss_value"],
                loss_policy=rows[-1]["loss_policy"])


def move_quality(run: Path, positions: list[dict]) -> dict:
    """Share of ply 6-13 moves keeping the solver's outcome, per budget, for the run's newest
    network."""
    game = ConnectFour()
    newest = max((p for p in (run / "checkpoints").iterdir() if p.name.isdigit()),
                 key=lambda p: int(p.name))
    evaluator = load_network(newest, game)
    return {str(b): float(np.mean([keeps_best(p["values"], a) for p, a in
                                   zip(positions, ours_moves(evaluator, positions, b))]))
            for b in BUDGETS}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, default=10.0, help="training budget per variant")
    p.add_argument("--variants", nargs="*", default=list(VARIANTS), choices=list(VARIANTS))
    p.add_argument("--positions", type=int, default=None, help="ply 6-13 positions (all: 200)")
    p.add_argument("--runs", type=Path, default=ROOT / "runs" / "connect4-trunks")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="1 minute each, 40 positions")
    p.add_argument("--out", type=Path, default=OUT)
    args = p.parse_args(argv)
    if args.quick:
        args.minutes, args.positions = 1.0, 40
    positions = load_sets(args.positions)["6-13"]
    rows = []
    for name in args.variants:
        trained = train_for(name, VARIANTS[name], 60 * args.minutes, args.runs, args.seed)
        quality = move_quality(Path(trained["run"]), positions)
        rows.append(dict(variant=name, model=VARIANTS[name], **trained, quality=quality))
        print(f"{name}: " + ", ".join(f"{b} sims {100 * q:.1f}%" for b, q in quality.items()),
              flush=True)
    print_table(f"Connect Four networks after {args.minutes:g} CPU minutes of training each: "
                f"moves keeping the solver's outcome on {len(positions)} ply 6-13 positions",
                ["variant", "iterations", "games", "value loss", "raw policy", "100 sims",
                 "100 sims / mlp"],
                [[r["variant"], str(r["iterations"]), f"{r['games']:,}", f"{r['loss_value']:.3f}",
                  f"{100 * r['quality']['0']:.1f}%", f"{100 * r['quality']['100']:.1f}%",
                  f"{r['quality']['100'] / rows[0]['quality']['100']:.3f}"] for r in rows])
    report = dict(benchmark="connect4 trunks at equal time", minutes=args.minutes,
                  positions=len(positions), seed=args.seed, variants=rows)
    write_report(args.out, "connect4_trunks", report, plot)


def plot(report: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rows = report["variants"]
    fig, ax = plt.subplots(figsize=(7, 4))
    x = np.arange(len(rows))
    for k, b in enumerate(BUDGETS):
        ax.bar(x + (k - 0.5) * 0.4, [100 * r["quality"][str(b)] for r in rows], 0.4,
               label=f"{b} simulations" if b else "raw policy")
    ax.set_xticks(x, [r["variant"] for r in rows], fontsize=8)
    ax.set_ylabel("% of ply 6-13 moves keeping the outcome")
    ax.set_title(f"Connect Four networks after {report['minutes']:g} min of training each")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
