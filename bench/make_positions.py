"""Connect Four test positions, labelled by the exact solver: bench/data/connect4_positions.jsonl.

Each candidate is made by uniformly random play from the empty board: candidate i of a set draws a
target ply uniformly in the set's range and plays random legal moves up to it, all from the seed
sequence (seed, set, i), so the candidates never depend on what was labelled before.  A candidate
is dropped when the game ended before (or at) the target ply, when its position was already taken
(transpositions included), or when every legal column has the same solver value (no decision to
make).  The first `--per-set` survivors of each set, in candidate order, go to the file, one JSON
object per line: {"moves": "4453...", "set": "6-13", "values": [7 ints]}, values being the
solver's weak move values for the mover (-1/0/+1; -1000 on a full column).

Labelling is the slow part (a few seconds for a ply-6 position), so it runs in `--workers`
processes, and every label is appended at once to a cache (bench/out/positions_cache.jsonl): an
interrupted run picks up where it stopped, and a finished one reruns in seconds.

    .venv/bin/python bench/make_positions.py            # 200 positions per set
    .venv/bin/python bench/make_positions.py --per-set 20 --out /tmp/p.jsonl   # a quick look
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

ROOT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT_DIR))

from lmzero.tasks.connect4 import ConnectFour, from_moves  # noqa: E402
from lmzero.tasks.connect4_solver import ILLEGAL, Solver  # noqa: E402

SETS = {"6-13": (6, 13), "14-34": (14, 34)}
DEFAULT_OUT = ROOT_DIR / "bench" / "data" / "connect4_positions.jsonl"
DEFAULT_CACHE = ROOT_DIR / "bench" / "out" / "positions_cache.jsonl"


def candidate(seed: int, set_index: int, i: int, lo: int, hi: int) -> str | None:
    """Move string (1-based digits) of candidate i, or None if the random game ended first."""
    game = ConnectFour()
    rng = np.random.default_rng([seed, set_index, i])
    ply = int(rng.integers(lo, hi + 1))
    state, moves = game.initial_state(), []
    for _ in range(ply):
        if game.is_terminal(state):
            return None
        col = int(rng.choice(np.flatnonzero(game.legal_mask(state))))
        state = game.apply(state, col)
        moves.append(str(col + 1))
    return None if game.is_terminal(state) else "".join(moves)


def has_decision(values) -> bool:
    legal = [v for v in values if v != ILLEGAL]
    return len(set(legal)) > 1


# ---------------------------------------------------------------- labelling workers

_solver: Solver | None = None


def _init_worker(log2_table: int) -> None:
    global _solver
    _solver = Solver(log2_table)
    _solver.move_values(from_moves("4444443"))  # load the compiled code before timing anything


def _label(moves: str) -> tuple[str, list[int], float]:
    t = time.perf_counter()
    values = _solver.move_values(from_moves(moves), weak=True)
    return moves, [int(v) for v in values], time.perf_counter() - t


# ---------------------------------------------------------------- driver


def _load_cache(path: Path) -> dict[str, dict]:
    cache = {}
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:  # a line cut short by an interrupted run
                continue
            cache[row["moves"]] = row
    return cache


def _candidates(seed: int, set_index: int, lo: int, hi: int, seen: set, stats: Counter):
    """Unique, non-terminal candidates of one set, in order (the cheap filters)."""
    game = ConnectFour()
    i = 0
    while True:
        moves = candidate(seed, set_index, i, lo, hi)
        i += 1
        if moves is None:
            stats["game over"] += 1
            continue
        key = game.key(from_moves(moves))
        if key in seen:
            stats["duplicate"] += 1
            continue
        seen.add(key)
        yield moves


def build(args) -> list[dict]:
    cache = _load_cache(args.cache)
    args.cache.parent.mkdir(parents=True, exist_ok=True)
    cache_file = args.cache.open("a")
    print(f"cache {args.cache}: {len(cache)} labels already there", flush=True)
    pool = mp.get_context("fork").Pool(args.workers, _init_worker, (args.log2_table,))
    seen: set = set()
    rows: list[dict] = []
    start = time.perf_counter()
    try:
        for set_index, (name, (lo, hi)) in enumerate(SETS.items()):
            stats: Counter = Counter()
            stream = _candidates(args.seed, set_index, lo, hi, seen, stats)
            kept: list[dict] = []
            label_seconds = []
            t_set = time.perf_counter()
            while len(kept) < args.per_set:
                # a window of candidates at a time: enough to keep every worker busy, and few
                # wasted labels at the end (those stay in the cache anyway)
                need = args.per_set - len(kept)
                window = [next(stream) for _ in range(max(args.workers, min(4 * args.workers,
                                                                              need)))]
                todo = [m for m in window if m not in cache]
                for moves, values, secs in pool.imap_unordered(_label, todo):
                    cache[moves] = {"moves": moves, "values": values, "seconds": round(secs, 4)}
                    cache_file.write(json.dumps(cache[moves]) + "\n")
                    cache_file.flush()
                    label_seconds.append(secs)
                for moves in window:
                    stats["labelled"] += 1
                    if not has_decision(cache[moves]["values"]):
                        stats["no decision"] += 1
                    elif len(kept) < args.per_set:
                        kept.append({"moves": moves, "set": name,
                                     "values": cache[moves]["values"]})
                elapsed = time.perf_counter() - start
                print(f"[{elapsed:7.1f}s] set {name}: kept {len(kept)}/{args.per_set}, labelled "
                      f"{stats['labelled']} ({len(label_seconds)} new, "
                      f"{np.mean(label_seconds) if label_seconds else 0:.2f} s each), skipped: "
                      f"no decision {stats['no decision']}, game over {stats['game over']}, "
                      f"duplicate {stats['duplicate']}", flush=True)
            plies = Counter(len(r["moves"]) for r in kept)
            print(f"set {name} done in {time.perf_counter() - t_set:.1f}s; plies: "
                  + ", ".join(f"{p}:{plies[p]}" for p in sorted(plies)), flush=True)
            if label_seconds:
                ls = np.array(label_seconds)
                print(f"  new labels: {ls.size}, mean {ls.mean():.2f}s, median "
                      f"{np.median(ls):.2f}s, max {ls.max():.2f}s, total {ls.sum():.1f}s "
                      f"(cpu, over {args.workers} workers)", flush=True)
            rows.extend(kept)
    finally:
        pool.terminate()
        cache_file.close()
    return rows


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--per-set", type=int, default=200, help="positions per set (default 200)")
    p.add_argument("--seed", type=int, default=20240611, help="seed of the random play")
    p.add_argument("--workers", type=int, default=max(1, min(mp.cpu_count(), 8)),
                   help="labelling processes (default: the CPU count)")
    p.add_argument("--log2-table", type=int, default=24,
                   help="solver transposition table size, log2 entries (8 bytes each)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    p.add_argument("--cache", type=Path, default=DEFAULT_CACHE,
                   help="labels of every candidate so far (append-only; makes runs resumable)")
    args = p.parse_args(argv)
    t = time.perf_counter()
    rows = build(args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w") as f:
        for row in rows:
            f.write(json.dumps(row, separators=(", ", ": ")) + "\n")
    print(f"wrote {len(rows)} positions to {args.out} in {time.perf_counter() - t:.1f}s")


if __name__ == "__main__":
    main()
