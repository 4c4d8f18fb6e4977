"""The AlphaZero loop: self-play with search -> replay -> learner -> checkpoint -> evaluation.

`train` runs named steps per iteration i: `_self_play` (a replay shard named after i),
learning on the replay window, `_gate` (optional arena gating), `_save` (checkpoints/<i>), and
`_finish_row` (evaluation -> metrics.jsonl, TensorBoard). The run directory is `lmzero.run`'s:
iteration i is done when checkpoints/<i> exists, so a run killed at any point (even `kill -9`
mid-write) resumes by redoing only the unfinished iteration, with no shard written twice and no
metrics line repeated; a finished iteration whose row is missing is evaluated again (`_resume`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch

from lmzero import checkpoint
from lmzero.learn import Learner, LearnerConfig
from lmzero.models.game_net import GameTokenizer, NetworkEvaluator
from lmzero.models.tinylm import TinyLM, check_device
from lmzero.replay import ReplayBuffer
from lmzero.run import Run, open_run
from lmzero.selfplay import SelfPlayConfig, play_games
from lmzero.tasks.base import Game


@dataclass
class TrainConfig:
    game: str = "tictactoe"
    """Game to learn: tictactoe, connect4, openspiel:NAME(params), pettingzoo:MODULE or any game
    task."""
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
    device: str = "cpu"
    """torch device of the network and its learner: cpu, cuda or cuda:N. On a GPU the forward
    passes and gradient steps go there; the tree search, the games and the replay stay on the
    CPU, in this process (or on the Ray actors, which play on their own CPUs)."""

    RUN_KIND: ClassVar[str] = "self-play"
    """What config.json records: `lmzero.run` refuses to resume another kind of run."""

    def __post_init__(self):
        if isinstance(self.selfplay, dict):  # from config.json
            self.selfplay = SelfPlayConfig(**self.selfplay)
        if isinstance(self.learner, dict):
            self.learner = LearnerConfig(**self.learner)
        check_device(self.device)

    @property
    def task(self) -> str:
        """The game, under the name every run config gives its task."""
        return self.game


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


GENERIC_PRESETS = {
    # Any game without presets of its own (OpenSpiel games, plugins): a small MLP, Gumbel root
    # search (policy improvement even at few simulations, Danihelka et al. 2022), evaluation
    # at the first and last iterations. quick: Breakthrough in 7 minutes here (2 busy cores);
    # Connect Four's PUCT recipe (playout cap, search-value targets) did worse on it, 6-14
    # against rollout UCT, though that opponent still broke ties by action id (README).
    "quick": TrainConfig(
        iterations=12, replay_window=50_000, eval_games=10, eval_every=12,
        eval_simulations=32, model=dict(trunk="mlp", n_layer=2, n_embd=64, mlp_width=256),
        selfplay=SelfPlayConfig(games=128, simulations=64, method="gumbel",
                                temperature_moves=8, random_opening=4),
        learner=LearnerConfig(batch_size=256, steps_per_iteration=200)),
    "full": TrainConfig(
        iterations=40, replay_window=100_000, eval_games=20, eval_every=10,
        eval_simulations=64, model=dict(trunk="mlp", n_layer=3, n_embd=64, mlp_width=512),
        selfplay=SelfPlayConfig(games=128, simulations=64, method="gumbel",
                                temperature_moves=12, random_opening=6),
        learner=LearnerConfig(batch_size=512, steps_per_iteration=200)),
}
"""Presets of the games `PRESETS` does not name, by preset name (`preset_config`)."""


TRUNKS = {
    "mlp": None,
    "resnet": dict(trunk="resnet", n_layer=4, n_embd=32),
    "transformer": dict(trunk="transformer", n_layer=2, n_embd=64, n_head=4),
}
"""Game networks by trunk name (`lmzero train GAME --trunk`): None keeps the preset's MLP. The
sizes are the ones measured at equal time on Connect Four (README): 4 residual blocks of 32
channels did best of the resnets in `bench/connect4_trunks.py`; 2 x 64 is the transformer
measured against the MLP."""


def with_trunk(config: TrainConfig, trunk: str) -> TrainConfig:
    """`config` with the `TRUNKS[trunk]` network; KeyError for an unknown name."""
    model = TRUNKS[trunk]
    return config if model is None else replace(config, model=dict(model))


def preset_config(game: str, preset: str) -> TrainConfig:
    """The `preset` config of `game`: its own (`PRESETS`), else the generic one for any game;
    KeyError for an unknown preset name."""
    if (game, preset) in PRESETS:
        return PRESETS[(game, preset)]
    return replace(GENERIC_PRESETS[preset], game=game)


def make_game(name: str) -> Game:
    """The game the registry names (`tasks.load_task`); ValueError for anything else."""
    from lmzero.tasks import is_game, load_task
    game = load_task(name)
    if not is_game(game):
        raise ValueError(f"{name!r} is a step task, not a game: self-play trains games")
    return game


def build_model(game: Game, config: TrainConfig) -> tuple[TinyLM, GameTokenizer]:
    tokenizer = GameTokenizer(game)
    return TinyLM(tokenizer.model_config(**config.model)), tokenizer


def positions_arrays(records, tokenizer: GameTokenizer, game_offset: int,
                     search_value_weight: float = 0.0) -> dict:
    states = [s for r in records for s in r.states]
    return dict(tokens=tokenizer.tokens(states),
                policy=np.concatenate([r.policies for r in records]),
                value=np.concatenate([r.value_targets(search_value_weight) for r in records]),
                target=np.concatenate([r.targets for r in records]),
                game=np.concatenate([np.full(len(r.states), game_offset + i)
                                     for i, r in enumerate(records)]))




@dataclass
class _Parts:
    """What a run plays and trains with, built from its config."""
    game: Game
    tokenizer: GameTokenizer
    model: TinyLM
    """The network being trained."""
    learner: Learner
    evaluator: NetworkEvaluator
    """`model`'s evaluator: what evaluation and gating play."""
    actor: NetworkEvaluator
    """The self-play network's evaluator: `evaluator`, or gating's best network's."""
    best: TinyLM | None
    """Gating's best network (None without gating)."""
    replay: ReplayBuffer


def train(config: TrainConfig, run_dir: Path, resume: bool = False, progress=None,
          iterations: int | None = None, scale=None, threads: int | None = None,
          device: str | None = None) -> list[dict]:
    """Run (or resume) the loop; returns every metrics row. `progress(i, phase, row)` reports.
    On resume the run's config.json rules; `iterations` extends it (the learning-rate cosine
    is then stretched over the new total), `threads` replaces its torch thread count and
    `device` its device (a GPU run goes on on a CPU, or the reverse).
    `scale` (a `distributed.ScaleConfig`) plays the games on Ray actors instead of in this
    process."""
    if not resume:  # a network the game cannot feed is refused before the run directory exists
        GameTokenizer(make_game(config.game)).model_config(**config.model)
    run, config = open_run(run_dir, config, resume, iterations=iterations, threads=threads,
                           device=device)
    torch.manual_seed(config.seed)
    torch.set_num_threads(config.threads)
    parts = _prepare(config, run)
    start = _resume(run, parts, config, progress)
    workers = None
    try:
        if scale is not None:
            workers = _start_workers(config, run, parts, scale, start, progress)
        _iterations(config, run, parts, start, workers, progress)
    finally:
        if workers is not None:
            workers.close()
    _plot(run)
    return run.metrics()


def _iterations(config: TrainConfig, run: Run, parts: _Parts, start: int, workers,
                progress) -> None:
    scalars = run.tensorboard()
    elapsed = run.metrics()[-1]["wall_seconds"] if run.metrics() else 0.0
    for i in range(start, config.iterations):
        t0 = time.time()
        if workers is not None:
            selfplay_seconds, positions, scaled = _scaled_self_play(config, parts, i, workers)
        else:
            (selfplay_seconds, positions), scaled = _self_play(config, parts, i), {}
        if progress:
            progress(i, "train", None)
        losses = parts.learner.train(parts.replay.window_arrays(),
                                     config.learner.steps_per_iteration,
                                     np.random.default_rng([config.seed, i, 1]))
        elapsed += time.time() - t0
        row = dict(iteration=i, games=(i + 1) * config.selfplay.games,
                   positions=len(parts.replay), wall_seconds=round(elapsed, 1),
                   selfplay_seconds=round(selfplay_seconds, 1),
                   positions_per_second=round(positions / max(selfplay_seconds, 1e-9)),
                   **{f"loss_{k}": round(v, 4) for k, v in losses.items()}, **scaled)
        row.update(_gate(config, parts, i))
        _save(run, config, parts, row)
        if workers is not None:
            workers.publish(parts.actor.model.state_dict(), version=i + 1)
        _finish_row(run, scalars, parts, config, row, progress)
    scalars.close()


def _prepare(config: TrainConfig, run: Run) -> _Parts:
    """The game, a fresh network and its learner, gating's best network, the replay buffer."""
    game = make_game(config.game)
    model, tokenizer = build_model(game, config)
    model.to(config.device)
    mirror = getattr(game, "mirror", None)
    learner = Learner(model, tokenizer.move_tokens, config.learner,
                      total_steps=config.iterations * config.learner.steps_per_iteration,
                      mirror_cells=tokenizer.mirror_cells(),
                      mirror_moves=mirror() if mirror else None)
    best = build_model(game, config)[0].to(config.device) if config.gate_games else None
    if best is not None:
        best.load_state_dict(model.state_dict())
    evaluator = NetworkEvaluator(game, model, tokenizer)
    actor = NetworkEvaluator(game, best, tokenizer) if best is not None else evaluator
    return _Parts(game, tokenizer, model, learner, evaluator, actor, best,
                  ReplayBuffer(run.dir / "replay", config.replay_window))


def _resume(run: Run, parts: _Parts, config: TrainConfig, progress) -> int:
    """Bring a resumed run to its newest checkpoint: metrics.jsonl repaired to the finished
    iterations, each with its row (a kill between checkpoint and row, or a garbage line, lost
    one: that checkpoint is evaluated again), unreadable shards of unfinished iterations
    dropped. The next iteration."""
    done = run.completed()
    parts.replay.discard_unreadable(after=done[-1] if done else -1)
    parts.replay.check()
    run.repair_metrics(keep=set(done).__contains__)
    for i in run.rows_missing(lambda row: True):
        meta = _restore(run.checkpoint(i), parts)
        _finish_row(run, None, parts, config, meta["row"], progress)
    if done:
        _restore(run.checkpoint(done[-1]), parts)
    return done[-1] + 1 if done else 0


def _restore(path: Path, parts: _Parts) -> dict:
    """Load a checkpoint's network, optimizer (and gating's best network); its meta."""
    model = parts.model
    tensors, meta = checkpoint.load(path, {k: v.shape for k, v in model.state_dict().items()})
    model.load_state_dict(tensors)
    optimizer = checkpoint.load_extra(path, "optimizer")
    if optimizer:
        parts.learner.load_optimizer_tensors(optimizer, meta["learner_steps"])
    best_tensors = checkpoint.load_extra(path, "best")
    if parts.best is not None and best_tensors:
        parts.best.load_state_dict(best_tensors)
    return meta


def _self_play(config: TrainConfig, parts: _Parts, i: int) -> tuple[float, int]:
    """Iteration i's games into replay shard i, unless a crash came after the shard was
    written (it is not played twice); (seconds, positions the actor evaluated)."""
    t0 = time.time()
    parts.actor.positions = 0
    if not parts.replay.has(i):
        rng = np.random.default_rng([config.seed, i, 0])
        records = play_games(parts.game, parts.actor, config.selfplay, rng)
        parts.replay.write(i, positions_arrays(records, parts.tokenizer,
                                               i * config.selfplay.games,
                                               config.selfplay.search_value_weight))
    positions = parts.actor.positions
    parts.actor.positions = parts.evaluator.positions = 0
    return time.time() - t0, positions


def _start_workers(config: TrainConfig, run: Run, parts: _Parts, scale, start: int, progress):
    """Search actors for the games (`distributed`), holding the weights self-play uses now
    (version = iterations learned), and a replay owner for the run's replay directory."""
    from lmzero.distributed.recipes import GameSelfPlay
    from lmzero.distributed.rounds import Workers
    from lmzero.replay.buffer import FIELDS
    workers = Workers(GameSelfPlay(config), scale, config.seed, run.dir / "replay", FIELDS)
    workers.prune(start - 1)
    workers.publish(parts.actor.model.state_dict(), version=start)
    workers.report_to(progress, "self-play")
    return workers


def _scaled_self_play(config: TrainConfig, parts: _Parts, i: int,
                      workers) -> tuple[float, int, dict]:
    """`_self_play` on the actors: iteration i's games in units (each game once in replay,
    whatever dies); with `max_staleness` 1 the next iteration's units start before learning.
    (seconds, positions evaluated, the figures of the metrics row)."""
    t0 = time.time()
    if parts.replay.has(i):
        return 0.0, 0, {}
    workers.start_round(i, _game_units(config, i, workers))
    report = workers.finish_round(i)
    if workers.config.max_staleness and i + 1 < config.iterations:
        workers.start_round(i + 1, _game_units(config, i + 1, workers))
    return time.time() - t0, int(report["positions"]), workers.row_figures(report)


def _game_units(config: TrainConfig, i: int, workers) -> list[dict]:
    games = config.selfplay.games
    return [dict(first=i * games + first, games=n)
            for first, n in workers.split(games)]


def _save(run: Run, config: TrainConfig, parts: _Parts, row: dict) -> None:
    """checkpoints/<i>: the network, the optimizer state (and gating's best network), with the
    metrics row in the manifest for a crash before it is logged. Iteration i is now done."""
    extra = {"optimizer": parts.learner.optimizer_tensors()}
    if parts.best is not None:
        extra["best"] = parts.best.state_dict()
    i = row["iteration"]
    checkpoint.save(run.checkpoint(i), parts.model.state_dict(),
                    dict(iteration=i, learner_steps=parts.learner.step_count, game=config.game,
                         model=parts.model.cfg.to_dict(), row=row), extra=extra)


def _gate(config: TrainConfig, parts: _Parts, i: int) -> dict:
    """Arena gating: candidate vs best network, seats alternated; the best is replaced on a
    won match. Nothing without gating."""
    if parts.best is None:
        return {}
    from lmzero.eval.arena import match
    from lmzero.player import SearchPlayer
    from lmzero.search import SearchConfig
    search_config = SearchConfig(num_simulations=config.eval_simulations, temperature=0.5)
    seeds = iter(range(10**6 * (i + 1), 10**6 * (i + 2)))
    game = parts.game
    result = match(game, lambda: SearchPlayer(game, parts.evaluator, search_config,
                                              seed=next(seeds)),
                   lambda: SearchPlayer(game, parts.actor, search_config, seed=next(seeds)),
                   config.gate_games)
    accepted = result.score >= config.gate_threshold
    if accepted:
        parts.best.load_state_dict(parts.model.state_dict())
    return dict(gate_score=round(result.score, 3), gate_accepted=accepted)


def _finish_row(run: Run, scalars, parts: _Parts, config: TrainConfig, row: dict,
                progress) -> None:
    """Evaluate the just-saved network against the fixed opponents and log the row."""
    from lmzero.eval.game_eval import evaluate_network
    i = row["iteration"]
    if progress:
        progress(i, "eval", None)
    if i % config.eval_every == 0 or i == config.iterations - 1:
        np.random.seed(config.seed * 1000 + i)  # arena opponents' seeds
        row = {**row, **evaluate_network(parts.game, parts.evaluator, config.eval_games,
                                         config.eval_simulations)}
    parts.evaluator.positions = 0
    run.log(row)
    if scalars is not None:  # None: a resume's recomputed row (`run.tensorboard` writes it)
        scalars.write(row)
    if progress:
        progress(i, "done", row)


def _plot(run: Run) -> None:
    """plots/strength.png: every strength figure against games played and against wall time."""
    keys = sorted({k for r in run.metrics() for k in r
                   if k.startswith(("score_", "raw_", "greedy_"))})
    run.plot("strength.png", keys, {"games": "games", "wall_seconds": "wall seconds"},
             ylabel="strength")
