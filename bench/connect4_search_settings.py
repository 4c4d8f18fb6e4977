"""Is the Connect Four network's move quality at 100 simulations limited by the search's settings
or by the network? The ply 6-13 share of moves keeping the solver's outcome under PUCT settings
other than `lmzero play`'s defaults, in one run.

If every setting lands within a standard error or two of the default (one standard error is
about 1.7 points on the 200 positions), the search is not what stands between the network and
the 97% bar: its value and prior are.

    .venv/bin/python bench/connect4_search_settings.py [--checkpoint DIR] [--sims 100]  # ~1 min
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import print_table  # noqa: E402
from bench.connect4_strength import GAME, load_sets  # noqa: E402
from lmzero.eval.game_eval import keeps_best  # noqa: E402
from lmzero.models.load import load_network, resolve, shipped_checkpoint  # noqa: E402
from lmzero.search import SearchConfig, search  # noqa: E402
from lmzero.tasks.connect4 import from_moves  # noqa: E402

SETTINGS = {
    "defaults (c_init 1.25, parent-value FPU)": {},
    "c_init 0.75": dict(c_init=0.75),
    "c_init 2.5": dict(c_init=2.5),
    "unvisited edges valued -1 (FPU loss)": dict(fpu=-1.0),
    "unvisited edges valued 0 (FPU draw)": dict(fpu=0.0),
    "MCTS-Solver (proven outcomes backed up)": dict(solve=True),
    "transpositions shared": dict(transpositions=True),
    "Gumbel root, no noise": dict(method="gumbel", gumbel_scale=0.0),
    "network averaged with its mirror image": dict(mirror_average=True),
    "mirror-averaged, FPU draw": dict(mirror_average=True, fpu=0.0),
}
"""Name -> `SearchConfig` fields changed from the defaults (`mirror_average`: the evaluator's)."""


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", type=Path, default=None, help="default: the shipped network")
    p.add_argument("--sims", type=int, default=100)
    args = p.parse_args(argv)
    path = args.checkpoint or shipped_checkpoint(GAME)
    if path is None:
        p.error("no --checkpoint given and no shipped Connect Four network")
    evaluators = {m: load_network(path, GAME, mirror_average=m) for m in (False, True)}
    positions = load_sets(None)["6-13"]
    states = [from_moves(q["moves"]) for q in positions]
    rows = []
    for name, fields in SETTINGS.items():
        fields = dict(fields)
        evaluator = evaluators[fields.pop("mirror_average", False)]
        config = SearchConfig(num_simulations=args.sims, leaves_per_call=1, **fields)
        moves = search(GAME, evaluator, states, config, rng=0).action
        share = np.mean([keeps_best(q["values"], a) for q, a in zip(positions, moves)])
        rows.append([name, f"{100 * share:.1f}%"])
    print_table(f"{resolve(path)}: ply 6-13 moves keeping the outcome ({len(positions)} "
                f"positions), {args.sims} simulations", ["search settings", "kept"], rows)


if __name__ == "__main__":
    main()
