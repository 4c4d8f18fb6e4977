"""The AlphaZero loop: self-play with search -> replay -> learner -> checkpoint -> evaluation.

Everything a run writes lives in its run directory (config.json, replay/, checkpoints/<iter>/,
metrics.jsonl, tb/, plots/). Iteration i is done when checkpoints/<i> exists; its replay shard is
named after i, so a run killed at any point (even `kill -9` mid-write) resumes by redoing only
the unfinished iteration, with no shard written twice and no metrics line repeated.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from lmzero import checkpoint
from lmzero.checkpoint import write_atomic
from lmzero.learn import Learner, LearnerConfig
from lmzero.models.game_net import GameTokenizer, NetworkEvaluator
from lmzero.models.tinylm import TinyLM
from lmzero.replay import ReplayBuffer
from lmzero.selfplay import SelfPlayConfig, play_games
from lmzero.tasks.base import Game


@dataclass
class TrainConfig:
    game: str = "tictactoe"
    """Game to learn: tictactoe or connect4."""
    iterations: int = 10
    """Self-play / train iterations."""
    seed: int = 0
    """Seed of every random choice of the run."""
    model: dict = field(default_factory=lambda: dict(trunk="mlp", n_layer=2, n_embd=64))
    """TinyLMConfig fields (vocabulary and length come from the game)."""
    selfplay: SelfPlayConfig = field(default_factory=SelfPlayConfig)
    learner: LearnerConfig = field(default_factory=LearnerConfig)
    replay_window: int = 50_000
    """Positions the learner samples from (the newest ones)."""
    eval_games: int = 20
    """Games per evaluation match (seats alternated)."""
    eval_simulations: int = 32
    """Simulations of the network's search in evaluation matches."""
    eval_every: int = 1
    """Evaluate every this many iterations (and always after the last one)."""
    gate_games: int = 0
    """Arena gating (AlphaGo Zero): if > 0, self-play uses the best network so far, and the
    trained candidate replaces it only after scoring `gate_threshold` in this many games
    against it. 0 = off, as in AlphaZero (self-play always uses the latest network)."""
    gate_threshold: float = 0.55
    """Score (win 1, draw 1/2) the candidate needs against the best network."""
    threads: int = 1
    """torch CPU threads. Small networks gain little from more, and two processes that each
    spin several OpenMP threads on two cores ran 10x slower here."""

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        d = dict(d)
        d["selfplay"] = SelfPlayConfig(**d.get("selfplay", {}))
        d["learner"] = LearnerConfig(**d.get("learner", {}))
        return cls(**d)


_C4_SELFPLAY = SelfPlayConfig(games=512, simulations=64, method="puct", dirichlet_alpha=1.0,
                              playout_cap=0.25, cheap_simulations=16, temperature_moves=10,
                              random_opening=12, search_value_weight=0.5)

PRESETS = {
    # Many cheap games per iteration: with 128 the greedy move kept the value in only ~98.5%
    # of positions (odd ones, reached by random openings, were too rare); 1,024 reach 100%.
    ("tictactoe", "quick"): TrainConfig(
        game="tictactoe", iterations=18, replay_window=20_000, eval_games=10,
        selfplay=SelfPlayConfig(games=1024, simulations=64, method="gumbel",
                                temperature_moves=4, random_opening=8),
        learner=LearnerConfig(batch_size=256, steps_per_iteration=250, lr=4e-3)),
    ("tictactoe", "full"): TrainConfig(
        game="tictactoe", iterations=40, replay_window=40_000, eval_games=20,
        selfplay=SelfPlayConfig(games=128, simulations=64, method="gumbel",
                                temperature_moves=4, random_opening=8),
        learner=LearnerConfig(batch_size=256, steps_per_iteration=300, lr=4e-3)),
    # PUCT with Dirichlet noise and playout cap randomization beat Gumbel root search here at
    # equal time (ply 6-13 move quality at 100 simulations, 20 iterations: 75% against 69%);
    # half the value target is the root's search value, and up to 12 random opening moves
    # spread the data over the positions that random play (and weak opponents) reach.
    ("connect4", "quick"): TrainConfig(
        game="connect4", iterations=4, replay_window=30_000, eval_games=10, eval_every=2,
        model=dict(trunk="mlp", n_layer=3, n_embd=64, mlp_width=512),
        selfplay=_C4_SELFPLAY,
        learner=LearnerConfig(batch_size=256, steps_per_iteration=100)),
    # 512 games per iteration: with 128, the learner's 200 steps took 80% of the time and saw
    # each position ~40 times (value loss fell to 0.06: memorised); now self-play and learning
    # take about equal time and each position is seen ~12 times.
    ("connect4", "full"): TrainConfig(
        game="connect4", iterations=70, replay_window=150_000, eval_games=10, eval_every=10,
        model=dict(trunk="mlp", n_layer=3, n_embd=64, mlp_width=512),
        selfplay=_C4_SELFPLAY,
        learner=LearnerConfig(batch_size=512, steps_per_iteration=200)),
}


def make_game(name: str) -> Game:
    from lmzero.tasks.connect4 import ConnectFour
    from lmzero.tasks.tictactoe import TicTacToe
    games = {"tictactoe": TicTacToe, "connect4": ConnectFour}
    if name not in games:
        raise ValueError(f"unknown game {name!r}; choose one of {sorted(games)}")
    return games[name]()


def build_model(game: Game, config: TrainConfig) -> tuple[TinyLM, GameTokenizer]:
    tokenizer = GameTokenizer(game)
    return TinyLM(tokenizer.model_config(**config.model)), tokenizer


class Run:
    """A run directory: its files, and resuming from them."""

    def __init__(self, directory: Path):
        self.dir = Path(directory)
        self.checkpoints = self.dir / "checkpoints"
        self.metrics_path = self.dir / "metrics.jsonl"

    def completed(self) -> list[int]:
        if not self.checkpoints.is_dir():
            return []
        return sorted(int(p.name) for p in self.checkpoints.iterdir()
                      if p.name.isdigit() and (p / checkpoint.MANIFEST).is_file())

    def metrics(self) -> list[dict]:
        """Every complete metrics line (a line torn by a crash is dropped)."""
        if not self.metrics_path.is_file():
            return []
        rows = []
        for line in self.metrics_path.read_text().splitlines():
            try:
                rows.append(json.loads(line))
            except ValueError:
                break
        return rows

    def log(self, row: dict) -> None:
        rows = [r for r in self.metrics() if r.get("iteration") != row.get("iteration")]
        text = "".join(json.dumps(r) + "\n" for r in rows + [row])
        write_atomic(self.metrics_path, text.encode())


def positions_arrays(records, tokenizer: GameTokenizer, game_offset: int,
                     search_value_weight: float = 0.0) -> dict:
    states = [s for r in records for s in r.states]
    return dict(tokens=tokenizer.tokens(states),
                policy=np.concatenate([r.policies for r in records]),
                value=np.concatenate([r.value_targets(search_value_weight) for r in records]),
                target=np.concatenate([r.targets for r in records]),
                game=np.concatenate([np.full(len(r.states), game_offset + i)
                                     for i, r in enumerate(records)]))


def save_config(run: Run, config: TrainConfig) -> None:
    write_atomic(run.dir / "config.json", json.dumps(asdict(config), indent=2).encode())


def load_config(run: Run) -> TrainConfig:
    path = run.dir / "config.json"
    if not path.is_file():
        raise ValueError(f"{run.dir}: no config.json to resume from")
    return TrainConfig.from_dict(json.loads(path.read_text()))


def _load_latest(run: Run, model: TinyLM, learner: Learner,
                 best: TinyLM | None) -> tuple[int, dict | None]:
    """Restore model, optimizer (and gating's best network) from the newest checkpoint:
    (next iteration, that checkpoint's metrics row if a crash kept it from being logged)."""
    done = run.completed()
    if not done:
        return 0, None
    path = run.checkpoints / f"{done[-1]:05d}"
    tensors, meta = checkpoint.load(path, {k: v.shape for k, v in model.state_dict().items()})
    model.load_state_dict(tensors)
    optimizer = checkpoint.load_extra(path, "optimizer")
    if optimizer:
        learner.load_optimizer_tensors(optimizer, meta["learner_steps"])
    best_tensors = checkpoint.load_extra(path, "best")
    if best is not None and best_tensors:
        best.load_state_dict(best_tensors)
    logged = {r["iteration"] for r in run.metrics()}
    return done[-1] + 1, (None if done[-1] in logged else meta["row"])


def train(config: TrainConfig, run_dir: Path, resume: bool = False, progress=None,
          iterations: int | None = None) -> list[dict]:
    """Run (or resume) the loop; returns every metrics row. `progress(i, phase, row)` reports.
    On resume the run's config.json rules; `iterations` extends it (the learning-rate cosine
    is then stretched over the new total)."""
    run = Run(run_dir)
    if resume:
        config = load_config(run)
        if iterations:
            config = replace(config, iterations=iterations)
            save_config(run, config)
    elif run.completed():
        raise ValueError(f"{run.dir} already holds a run: pass --resume or choose another --run")
    else:
        run.dir.mkdir(parents=True, exist_ok=True)
        save_config(run, config)
    torch.manual_seed(config.seed)
    torch.set_num_threads(config.threads)
    game = make_game(config.game)
    model, tokenizer = build_model(game, config)
    mirror = getattr(game, "mirror", None)
    learner = Learner(model, tokenizer.move_tokens, config.learner,
                      total_steps=config.iterations * config.learner.steps_per_iteration,
                      mirror_cells=tokenizer.mirror_cells(), mirror_moves=mirror() if mirror else None)
    best = build_model(game, config)[0] if config.gate_games else None
    if best is not None:
        best.load_state_dict(model.state_dict())
    start, unlogged = _load_latest(run, model, learner, best) if resume else (0, None)
    replay = ReplayBuffer(run.dir / "replay", config.replay_window)
    evaluator = NetworkEvaluator(game, model, tokenizer)
    actor = NetworkEvaluator(game, best, tokenizer) if best is not None else evaluator
    writer = _tensorboard(run, start - (unlogged is not None))
    if unlogged is not None:  # killed between checkpoint and metrics: evaluate that checkpoint
        _finish_row(run, writer, game, evaluator, config, unlogged, progress)
    elapsed = run.metrics()[-1]["wall_seconds"] if resume and run.metrics() else 0.0
    for i in range(start, config.iterations):
        t0 = time.time()
        if not replay.has(i):  # a crash after the shard was written does not replay it twice
            rng = np.random.default_rng([config.seed, i, 0])
            records = play_games(game, actor, config.selfplay, rng)
            replay.write(i, positions_arrays(records, tokenizer, i * config.selfplay.games,
                                             config.selfplay.search_value_weight))
        selfplay_seconds = time.time() - t0
        if progress:
            progress(i, "train", None)
        losses = learner.train(replay.window_arrays(), config.learner.steps_per_iteration,
                               np.random.default_rng([config.seed, i, 1]))
        elapsed += time.time() - t0
        row = dict(iteration=i, games=(i + 1) * config.selfplay.games, positions=len(replay),
                   wall_seconds=round(elapsed, 1), selfplay_seconds=round(selfplay_seconds, 1),
                   positions_per_second=round(actor.positions / max(selfplay_seconds, 1e-9)),
                   **{f"loss_{k}": round(v, 4) for k, v in losses.items()})
        actor.positions = evaluator.positions = 0
        extra = {"optimizer": learner.optimizer_tensors()}
        if best is not None:
            row.update(_gate(game, evaluator, actor, config, best, model, i))
            extra["best"] = best.state_dict()
        checkpoint.save(run.checkpoints / f"{i:05d}", model.state_dict(),
                        dict(iteration=i, learner_steps=learner.step_count, game=config.game,
                             model=model.cfg.to_dict(), row=row), extra=extra)
        _finish_row(run, writer, game, evaluator, config, row, progress)
    writer.close()
    _plot(run)
    return run.metrics()


def _gate(game, candidate, incumbent, config: TrainConfig, best: TinyLM, model: TinyLM,
          i: int) -> dict:
    """Candidate vs best network, seats alternated; the best is replaced on a won match."""
    from lmzero.eval.arena import match
    from lmzero.player import SearchPlayer
    from lmzero.search import SearchConfig
    search_config = SearchConfig(num_simulations=config.eval_simulations, temperature=0.5)
    seeds = iter(range(10**6 * (i + 1), 10**6 * (i + 2)))
    result = match(game, lambda: SearchPlayer(game, candidate, search_config, seed=next(seeds)),
                   lambda: SearchPlayer(game, incumbent, search_config, seed=next(seeds)),
                   config.gate_games)
    accepted = result.score >= config.gate_threshold
    if accepted:
        best.load_state_dict(model.state_dict())
    return dict(gate_score=round(result.score, 3), gate_accepted=accepted)


def _finish_row(run: Run, writer, game, evaluator, config: TrainConfig, row: dict,
                progress) -> None:
    """Evaluate the just-saved network against the fixed opponents and log the row."""
    i = row["iteration"]
    if progress:
        progress(i, "eval", None)
    if i % config.eval_every == 0 or i == config.iterations - 1:
        np.random.seed(config.seed * 1000 + i)  # arena opponents' seeds
        row = {**row, **_evaluate(game, evaluator, config)}
    evaluator.positions = 0
    run.log(row)
    _write_scalars(writer, row)
    if progress:
        progress(i, "done", row)


def _evaluate(game, evaluator, config: TrainConfig) -> dict:
    from lmzero.eval.game_eval import evaluate_network
    return evaluate_network(game, evaluator, config.eval_games, config.eval_simulations)


def _tensorboard(run: Run, start: int):
    from torch.utils.tensorboard import SummaryWriter
    return SummaryWriter(str(run.dir / "tb"), purge_step=start)


def _write_scalars(writer, row: dict) -> None:
    for key, value in row.items():
        if key != "iteration" and isinstance(value, (int, float)):
            writer.add_scalar(key, value, row["iteration"])
    writer.flush()


def _plot(run: Run) -> None:
    """plots/strength.png: every strength figure against games played and against wall time."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rows = run.metrics()
    keys = sorted({k for r in rows for k in r if k.startswith(("score_", "raw_", "greedy_"))})
    if not keys:
        return
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, x in zip(axes, ("games", "wall_seconds")):
        for k in keys:
            points = [(r[x], r[k]) for r in rows if k in r]
            ax.plot(*zip(*points), marker="o", label=k)
        ax.set_xlabel(x.replace("_", " "))
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("strength")
    axes[1].legend(fontsize=8)
    (run.dir / "plots").mkdir(exist_ok=True)
    fig.tight_layout()
    fig.savefig(run.dir / "plots" / "strength.png", dpi=100)
    plt.close(fig)
