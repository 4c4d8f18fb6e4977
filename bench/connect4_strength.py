"""Strength of a Connect Four network, against OpenSpiel's C++ MCTS in the same run.

(a) Share of moves keeping the solver's best outcome on bench/data/connect4_positions.jsonl
    (sets ply 6-13 and 14-34): our network at 0 (raw policy), 16, 100 and 800 simulations (PUCT,
    all positions of a set in one batched search) beside pyspiel.MCTSBot (UCT c=2, random
    rollouts) at 100, 1,000 and 10,000.
(b) Games: ours with --our-sims (default 100) against MCTSBot with --their-sims (default 1,000),
    seats alternated; win/draw/loss and the score with a 95% interval.
(d) The defaults of `lmzero play`: ours (network, PUCT, --default-sims 200) against our own
    model-free UCT with random rollouts at 2,000 simulations, the player used when no network
    is shipped; seats alternated.
(c) "The better the model, the less search": for every checkpoint of --run, the accuracy on the
    6-13 set at each budget, and the fewest simulations reaching --target.

    .venv/bin/python bench/connect4_strength.py [--checkpoint DIR] [--run DIR] [--quick]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import pyspiel_state  # noqa: E402
from lmzero.eval.arena import MatchResult  # noqa: E402
from lmzero.eval.game_eval import keeps_best  # noqa: E402
from lmzero.models.load import load_network, resolve, shipped_checkpoint  # noqa: E402
from lmzero.player import greedy_moves  # noqa: E402
from lmzero.search import SearchConfig, search  # noqa: E402
from lmzero.tasks.connect4 import ConnectFour, from_moves  # noqa: E402

DATA = ROOT / "bench" / "data" / "connect4_positions.jsonl"
OUT = ROOT / "bench" / "out"
SETS = ("6-13", "14-34")
GAME = ConnectFour()


def load_sets(limit):
    rows = [json.loads(line) for line in DATA.read_text().splitlines()]
    return {s: [r for r in rows if r["set"] == s][:limit] for s in SETS}


def ours_moves(evaluator, positions, sims, seed=0):
    states = [from_moves(p["moves"]) for p in positions]
    if sims == 0:
        return greedy_moves(GAME, evaluator, states)
    config = SearchConfig(num_simulations=sims, leaves_per_call=1)
    return search(GAME, evaluator, states, config, rng=seed).action



def mcts_moves(positions, sims, seed=0):
    import pyspiel
    game = pyspiel.load_game("connect_four")
    out = []
    for i, p in enumerate(positions):
        bot = pyspiel.MCTSBot(game, pyspiel.RandomRolloutEvaluator(1, seed + i), 2.0, sims,
                              4096, False, seed + i, False)
        out.append(bot.step(pyspiel_state(game, p["moves"])))
    return out


def accuracy_table(evaluator, sets, our_budgets, their_budgets):
    rows = []
    for label, budgets, fn in (("ours (network, PUCT)", our_budgets,
                                lambda ps, b: ours_moves(evaluator, ps, b)),
                               ("openspiel c++ mcts", their_budgets, mcts_moves)):
        for b in budgets:
            t = time.time()
            cells = {s: float(np.mean([keeps_best(p["values"], a)
                                       for p, a in zip(sets[s], fn(sets[s], b))])) for s in SETS}
            rows.append(dict(method=label, simulations=b, seconds=round(time.time() - t, 1),
                             **cells))
            print(f"  {label:22s} {b:>6,}: " + "  ".join(f"{s} {100 * cells[s]:5.1f}%"
                                                       for s in SETS), flush=True)
    return rows


def play_match(evaluator, games, our_sims, their_sims, seed=0) -> MatchResult:
    import pyspiel
    from lmzero.player import SearchPlayer
    ps_game = pyspiel.load_game("connect_four")
    result = MatchResult()
    for g in range(games):
        ours = SearchPlayer(GAME, evaluator, SearchConfig(num_simulations=our_sims,
                                                          leaves_per_call=1), seed=seed + g)
        bot = pyspiel.MCTSBot(ps_game, pyspiel.RandomRolloutEvaluator(1, seed + g), 2.0,
                              their_sims, 4096, False, seed + g, False)
        state, ps = GAME.initial_state(), ps_game.new_initial_state()
        our_seat = g % 2
        while not GAME.is_terminal(state):
            action = ours.choose(state) if GAME.to_play(state) == our_seat else bot.step(ps)
            ours.observe(action)
            state = GAME.apply(state, int(action))
            ps.apply_action(int(action))
        value = GAME.terminal_value(state)
        r = value if GAME.to_play(state) == our_seat else -value
        result.wins += r > 0
        result.draws += r == 0
        result.losses += r < 0
    return result


def versus_rollouts(evaluator, games: int, our_sims: int, their_sims: int):
    from lmzero.eval.arena import match
    from lmzero.player import SearchPlayer
    from lmzero.search import RolloutEvaluator
    seeds = iter(range(10**6))

    def ours():
        return SearchPlayer(GAME, evaluator, SearchConfig(num_simulations=our_sims,
                                                          leaves_per_call=1))

    def theirs():
        seed = next(seeds)
        return SearchPlayer(GAME, RolloutEvaluator(GAME, seed=seed), SearchConfig(
            num_simulations=their_sims, method="uct", leaves_per_call=1), seed=seed)
    return match(GAME, ours, theirs, games)


def less_search(run: Path, sets, budgets, target, every: int = 1):
    rows = []
    checkpoints = sorted(p for p in (run / "checkpoints").iterdir() if p.name.isdigit())
    for ckpt in checkpoints[::-1][::every][::-1]:  # every k-th, always the last
        evaluator = load_network(ckpt, GAME)
        acc = {b: float(np.mean([keeps_best(p["values"], a) for p, a in
                                 zip(sets["6-13"], ours_moves(evaluator, sets["6-13"], b))]))
               for b in budgets}
        needed = next((b for b in budgets if acc[b] >= target), None)
        rows.append(dict(checkpoint=ckpt.name, needed=needed, **{str(b): acc[b] for b in budgets}))
        print(f"  checkpoint {ckpt.name}: " + " ".join(f"{b}:{100 * acc[b]:.0f}%" for b in budgets)
              + f"  -> sims for {100 * target:.0f}%: {needed}", flush=True)
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", type=Path, default=None, help="default: the shipped network")
    p.add_argument("--run", type=Path, default=None, help="run directory for the (c) curve")
    p.add_argument("--games", type=int, default=40)
    p.add_argument("--our-sims", type=int, default=100)
    p.add_argument("--their-sims", type=int, default=1000)
    p.add_argument("--target", type=float, default=0.8)
    p.add_argument("--default-sims", type=int, default=200, help="(d): ours; 0 skips (d)")
    p.add_argument("--rollout-sims", type=int, default=2000, help="(d): model-free UCT")
    p.add_argument("--every", type=int, default=1, help="(c): every k-th checkpoint")
    p.add_argument("--limit", type=int, default=None, help="positions per set")
    p.add_argument("--match-seed", type=int, default=0, help="(b): game g seeds both players "
                   "with match-seed + g; another value plays another, independent set of games")
    p.add_argument("--quick", action="store_true")
    args = p.parse_args(argv)
    path = args.checkpoint or shipped_checkpoint(GAME)
    if path is None:
        p.error("no --checkpoint given and no shipped Connect Four network")
    evaluator = load_network(path, GAME)
    sets = load_sets(20 if args.quick else args.limit)
    print(f"network {resolve(path)}; positions " + ", ".join(f"{s}: {len(sets[s])}" for s in SETS))
    report = dict(checkpoint=str(resolve(path)))
    print("(a) share of moves keeping the best outcome")
    report["accuracy"] = accuracy_table(evaluator, sets, [0, 16, 100] if args.quick else
                                        [0, 16, 100, 800],
                                        [100, 1000] if args.quick else [100, 1000, 10000])
    games = 4 if args.quick else args.games
    print(f"(b) {games} games: ours {args.our_sims} sims vs MCTSBot {args.their_sims} sims")
    match = play_match(evaluator, games, args.our_sims, args.their_sims, args.match_seed)
    lo, hi = match.interval()
    print(f"  W/D/L {match.wins}/{match.draws}/{match.losses}  score {100 * match.score:.1f}% "
          f"[{100 * lo:.1f}, {100 * hi:.1f}]  ({args.their_sims // args.our_sims}x fewer sims)")
    report["match"] = dict(wins=match.wins, draws=match.draws, losses=match.losses,
                           score=match.score, interval=[lo, hi], our_sims=args.our_sims,
                           their_sims=args.their_sims, seed=args.match_seed)
    if args.default_sims:
        print(f"(d) {games} games: ours {args.default_sims} sims vs our UCT with rollouts, "
              f"{args.rollout_sims} sims")
        versus = versus_rollouts(evaluator, games, args.default_sims, args.rollout_sims)
        lo, hi = versus.interval()
        print(f"  W/D/L {versus.wins}/{versus.draws}/{versus.losses}  score "
              f"{100 * versus.score:.1f}% [{100 * lo:.1f}, {100 * hi:.1f}]")
        report["versus_rollouts"] = dict(wins=versus.wins, draws=versus.draws,
                                         losses=versus.losses, score=versus.score,
                                         interval=[lo, hi], our_sims=args.default_sims,
                                         their_sims=args.rollout_sims)
    if args.run:
        print(f"(c) simulations needed for {100 * args.target:.0f}% on set 6-13, per checkpoint")
        report["less_search"] = less_search(args.run, sets, [0, 16, 64, 256], args.target,
                                           args.every)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "connect4_strength.json").write_text(json.dumps(report, indent=2))
    print(f"wrote {OUT / 'connect4_strength.json'}")


if __name__ == "__main__":
    main()
