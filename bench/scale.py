"""Scale-out on Ray: search throughput in one process against 1 and 2 Ray search actors.

What is timed, in one run, on the same machine and the same work:

  games      self-play positions per second (tictactoe and connect4, the quick presets'
             self-play settings; positions = network evaluations, as metrics.jsonl's
             positions_per_second; replay rows per second beside them): `single` is what
             `loop._self_play` does (`play_games` in this process with a NetworkEvaluator,
             then the replay shard written); `ray N` is what `loop._scaled_self_play` does
             (`Workers.start_round` + `finish_round`: units on N actors, each staged by the
             replay owner, the shard committed).
  game24     problems searched per second in self-improvement's search round (the quick
             preset's search, budget 32 calls, the shipped world model): `single` is
             `selfimprove._search_round` in process (`attempt_problems`, then the shard and
             the attempts file written); `ray N` is `_scaled_round` (StepAttempts units).

Steady state only: each Ray pool first answers `where()` and plays a warm-up round (one small
unit per actor: weights pulled, numba and torch warm), and the in-process path plays a warm-up
round too. Both pools live in one local cluster (3 logical CPUs, one per actor; an actor
waiting for work uses no CPU). Start-up is its own row: seconds from `Workers(...)` to every
actor answering `where()`, cold (a fresh local cluster, as `lmzero train --workers N` pays
once per run) and in a running cluster (actors only).

A unit is one batched search, so its size sets the batch (games or problems per model call),
and batch size alone moves throughput a lot here. The default split of a round is
U = `UNITS_PER_WORKER` units per worker (lmzero/distributed/config.py; 2 at the time of
writing); the sizes, labels and headers follow it. Two parts:

  (a) at the quick preset's round size (tictactoe 1,024 games, connect4 512, game24 96
      problems), one round each of single, ray 1 and ray 2 with the default split (what
      `lmzero train --workers N` runs), against one in-process batch of the whole round: the
      issue's comparison;
  (b) 1/U of that round (U = 2: tictactoe 512 games, connect4 256, game24 48), timed
      rounds interleaved (single, ray 1 ..., ray 2 ..., then again, so the load of other
      processes on this shared machine falls on all of them alike): `single` (one batch);
      `ray 1, 1 unit` (the same batch on one actor: Ray's own cost, nothing else differs);
      `ray 1, U units` (the default split of this round: U x smaller batches, what more
      workers or a smaller round do to a unit; one row with `ray 1, 1 unit` when U is 1);
      `ray 2, 1 unit/worker` (half the batch each: the speedup of a second actor). This round
      is the unit `--workers 1` gets at the preset, so `ray 1, 1 unit` x (single here /
      single at the preset) predicts (a)'s ray 1.

Every search process runs torch with 1 thread (actors always do; the baseline is set to match;
the game24 quick preset's driver uses 2). Ratios are against `single` on the same round; the
issue's aim is ray 1 / single >= 0.9. On 2 cores, 2 actors cannot reach 2x: the driver, the
replay owner and whatever else runs on the machine share the same cores.

Also measured: weight sync (state-dict size of each model; `ray.put` of a version; an actor's
first pull of it: `ray.get` + `load_weights`, timed inside the actor, median of 5 versions;
and the same for a synthetic 270 MiB array, about a 135M-parameter model in bf16), and where an
iteration's time goes in one process (connect4: a real `train` iteration at the quick
preset, timed by its progress phases; game24: the search of (a)'s in-process round, then
learner steps (x 100 / steps timed) and the held-out evaluation at the quick preset's
settings, all with 1 torch thread: with 2 threads each, processes sharing 2 busy cores slow
each other down badly).

Writes bench/out/scale.json and bench/out/scale.png.

    .venv/bin/python bench/scale.py --quick       # ~2-3 minutes, a smoke run (rounds of 1/16
                                                  # of the preset's, "preset" rounds U x that)
    .venv/bin/python bench/scale.py               # ~13 minutes
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT_DIR))

from bench.common import machine_info, print_table, write_report  # noqa: E402
from lmzero.distributed.config import UNITS_PER_WORKER  # noqa: E402

OUT_DIR = ROOT_DIR / "bench" / "out"
SEED = 0
WORKER_COUNTS = (1, 2)


# ---------------------------------------------------------------- the configurations
# Each task gives: a recipe (what an actor runs), an in-process round, the payloads of a Ray
# round split a given way, and how a round's figures are read.


class GameTask:
    def __init__(self, game: str, games: int):
        from lmzero.loop import PRESETS, build_model, make_game
        from lmzero.models.game_net import NetworkEvaluator
        preset = PRESETS[(game, "quick")]
        self.name, self.unit_word = game, "games"
        self.config = replace(preset, selfplay=replace(preset.selfplay, games=games))
        self.count = games
        self.game = make_game(game)
        model, self.tokenizer = build_model(self.game, self.config)
        self.model = model.eval()
        self.evaluator = NetworkEvaluator(self.game, self.model, self.tokenizer)

    def recipe(self):
        from lmzero.distributed.recipes import GameSelfPlay
        return GameSelfPlay(self.config)

    def fields(self):
        from lmzero.replay.buffer import FIELDS
        return FIELDS

    def state_dict(self):
        return self.model.state_dict()

    def single_round(self, replay, round_: int, count: int) -> dict:
        """`loop._self_play`: the games in this process, the shard written."""
        from lmzero.loop import positions_arrays
        from lmzero.selfplay import play_games
        selfplay = replace(self.config.selfplay, games=count)
        self.evaluator.positions = 0
        records = play_games(self.game, self.evaluator, selfplay,
                             np.random.default_rng([SEED, round_, 0]))
        arrays = positions_arrays(records, self.tokenizer, round_ * self.count,
                                  selfplay.search_value_weight)
        replay.write(round_, arrays)
        return dict(rows=len(arrays["value"]), positions=self.evaluator.positions, count=count)

    def payloads(self, round_: int, count: int, split: list) -> list:
        return [dict(first=round_ * self.count + first, games=n) for first, n in split]

    def ray_figures(self, report: dict, payloads: list) -> dict:
        return dict(rows=report["rows"], positions=report["positions"], count=report["count"])


class Game24Task:
    def __init__(self, problems: int, budget: int):
        from lmzero import checkpoint
        from lmzero.learn.pretrain import build_model, tokenizer_for
        from lmzero.selfimprove import preset, shipped_world_model, task_of
        self.name, self.unit_word = "game24", "problems"
        base = preset("game24", "quick")
        self.preset = base
        self.config = replace(base, problems_per_iteration=problems,
                              actor=replace(base.actor, budget=budget))
        self.count = problems
        self.task = task_of(self.config)
        self.tokenizer = tokenizer_for(self.task)
        self.model = build_model(self.config.pretrain, self.tokenizer).eval()
        shapes = {k: v.shape for k, v in self.model.state_dict().items()}
        path = shipped_world_model("game24")
        if path is None:
            raise SystemExit("the shipped Game of 24 world model is missing "
                             "(lmzero/checkpoints/game24-pretrain)")
        self.model.load_state_dict(checkpoint.load(path, shapes)[0])
        # every round searches its own training problems, the same ones in every configuration
        pool = list(self.task.training_pool(4096, SEED))
        self._pool = [p for p in pool if not self.task.is_heldout(p)]

    def problems(self, round_: int, count: int) -> list:
        start = (round_ * count) % max(1, len(self._pool) - count)
        return self._pool[start:start + count]

    def recipe(self):
        from lmzero.distributed.recipes import StepAttempts
        return StepAttempts(self.config)

    def fields(self):
        from lmzero.replay.buffer import TEXT_FIELDS
        return TEXT_FIELDS

    def state_dict(self):
        return self.model.state_dict()

    def single_round(self, replay, round_: int, count: int) -> dict:
        """`selfimprove._search_round` in process: search, attempts file, shard."""
        from lmzero.checkpoint import write_atomic
        from lmzero.models.tinylm_steps import TinyLMStepModel
        from lmzero.replay.buffer import TEXT_FIELDS
        from lmzero.selfplay.step_actor import attempt_problems
        task = self.task
        seed = SEED * 1000 + round_
        step_model = TinyLMStepModel(self.model, self.tokenizer, seed=seed,
                                     max_step_chars=task.max_step_chars,
                                     meta=dict(task=task.name))
        found = attempt_problems(task, step_model, self.problems(round_, count),
                                 self.config.actor, task.bucket, task.is_heldout, seed=seed)
        attempts = [dict(problem=task.problem_to_json(a.problem), solved=a.solved,
                         examples=a.size, model_calls=a.model_calls) for a in found]
        write_atomic(replay.directory / f"attempts-{round_:06d}.json",
                     json.dumps(attempts).encode())
        arrays = {k: np.concatenate([a.examples[k] for a in found]) for k in TEXT_FIELDS}
        replay.write(round_, arrays)
        return dict(rows=len(arrays["value"]), count=len(found),
                    calls=sum(a.model_calls for a in found),
                    solved=sum(a.solved for a in found))

    def payloads(self, round_: int, count: int, split: list) -> list:
        problems = [self.task.problem_to_json(p) for p in self.problems(round_, count)]
        return [dict(first=round_ * self.count + first, problems=problems[first:first + n])
                for first, n in split]

    def ray_figures(self, report: dict, attempts_path: Path) -> dict:
        attempts = json.loads(attempts_path.read_text())
        return dict(rows=report["rows"], count=report["count"],
                    calls=sum(a["model_calls"] for a in attempts),
                    solved=sum(a["solved"] for a in attempts))


# ---------------------------------------------------------------- timing


def _split(count: int, workers: int, one_unit_per_worker: bool) -> list:
    from lmzero.distributed import ScaleConfig
    size = -(-count // workers) if one_unit_per_worker else None
    return ScaleConfig(workers=workers, unit_size=size).split(count, workers)


def _name(n: int, one_unit: bool) -> str:
    """'ray 1, 1 unit', 'ray 1, 2 units', 'ray 2, 1 unit/worker', 'ray 2, 2 units/worker'
    (the default split: `UNITS_PER_WORKER`)."""
    units = 1 if one_unit else UNITS_PER_WORKER
    return f"ray {n}, {units} unit" + ("s" if units > 1 else "") + ("/worker" if n > 1 else "")


def _fraction() -> str:
    """1/UNITS_PER_WORKER in words: 'half', 'a quarter', ..."""
    return {1: "all", 2: "half", 3: "a third", 4: "a quarter"}.get(UNITS_PER_WORKER,
                                                                  f"1/{UNITS_PER_WORKER}")


def _configs() -> list:
    """Part (b)'s configurations: (name, workers or None for in process, one unit/worker)."""
    configs = [("single", None, False), (_name(1, True), 1, True)]
    if UNITS_PER_WORKER > 1:  # else the default split of one worker is that one unit
        configs.append((_name(1, False), 1, False))
    return configs + [(_name(2, True), 2, True)]


def _ray_round(task, workers, round_: int, count: int, one_unit: bool, tmp: Path) -> dict:
    """`_scaled_self_play` / `_scaled_round`: start_round + finish_round (staging, commit)."""
    n = workers.stats.workers
    payloads = task.payloads(round_, count, _split(count, n, one_unit))
    attempts = tmp / f"attempts-{n}-{round_:06d}.json"
    t0 = time.perf_counter()
    workers.start_round(round_, payloads)
    report = workers.finish_round(round_, attempts if task.name == "game24" else None)
    seconds = time.perf_counter() - t0
    figures = task.ray_figures(report, attempts if task.name == "game24" else payloads)
    return dict(figures, seconds=seconds, units=report["units"])


def start_workers(task, n: int, replay_dir: Path):
    """A pool of n actors and a replay owner; seconds until every actor answered where()."""
    from lmzero.distributed import ScaleConfig
    from lmzero.distributed.rounds import Workers
    t0 = time.perf_counter()
    workers = Workers(task.recipe(), ScaleConfig(workers=n), SEED, replay_dir, task.fields())
    where = workers.pool.where()
    seconds = time.perf_counter() - t0
    assert len({w["pid"] for w in where}) == n, where
    return workers, seconds


def stop_workers(workers) -> None:
    """Kill the pool and its owner, leaving the cluster up (Workers.close would stop it)."""
    workers.pool.shutdown()
    workers.ray.kill(workers.owner)


def cold_start(task, n: int, tmp: Path) -> float:
    """A fresh local cluster + n actors answering where(), as `--workers n` starts."""
    workers, seconds = start_workers(task, n, tmp / f"cold-{task.name}-{n}")
    workers.close()  # the local cluster stops with it
    return seconds


def _timed(task, pools, replay, name, n, one_unit, round_, count, tmp) -> dict:
    if n is None:
        t0 = time.perf_counter()
        figures = task.single_round(replay, round_, count)
        return dict(figures, seconds=time.perf_counter() - t0, units=1)
    return _ray_round(task, pools[n], round_, count, one_unit, tmp)


def _summary(configs: list, samples: dict, key: str) -> list[dict]:
    """Each configuration's totals over its rounds, its rates, and its ratio to the first."""
    rows = []
    for name, n, one_unit in configs:
        s = samples[name]
        total = {k: sum(x.get(k, 0) for x in s) for k in ("seconds", "count", "rows",
                                                           "positions", "calls", "solved")}
        rows.append(dict(config=name, workers=n or 0, one_unit_per_worker=one_unit,
                         rounds=len(s), units=s[0]["units"], **total,
                         per_round_seconds=[round(x["seconds"], 3) for x in s],
                         count_per_s=total["count"] / total["seconds"],
                         rows_per_s=total["rows"] / total["seconds"],
                         positions_per_s=total["positions"] / total["seconds"],
                         calls_per_s=total["calls"] / total["seconds"]))
    for row in rows:
        row["ratio"] = row[key] / rows[0][key]
    return rows


def measure_task(task, rounds: int, warmup: int, preset_count: int, tmp: Path, log) -> dict:
    """(b) interleaved timed rounds of `task.count` (1/UNITS_PER_WORKER of the preset's
    round): single, ray 1 (1 unit, the default split), ray 2 (1 unit/worker); then (a) one
    round of the preset's size each: single, ray 1, ray 2, with the default split (what
    `lmzero train --workers N` does)."""
    from lmzero.replay import ReplayBuffer
    single_replay = ReplayBuffer(tmp / f"{task.name}-single", window=10**9,
                                 fields=task.fields())
    pools, startup = {}, {}
    for n in WORKER_COUNTS:
        pools[n], startup[n] = start_workers(task, n, tmp / f"{task.name}-ray{n}")
        pools[n].publish(task.state_dict(), version=0)
        log(f"  {task.name}: {n} actor(s) up in a running cluster in {startup[n]:.1f}s")
    # warm-up: one small unit per actor; a small round in process
    task.single_round(single_replay, 0, warmup)
    for n, workers in pools.items():
        _ray_round(task, workers, 0, warmup * n, one_unit=True, tmp=tmp)
    key = "positions_per_s" if task.name != "game24" else "count_per_s"
    configs = _configs()
    samples = {name: [] for name, _, _ in configs}
    for r in range(rounds):
        for k, (name, n, one_unit) in enumerate(configs):
            figures = _timed(task, pools, single_replay, name, n, one_unit,
                             1 + r * len(configs) + k, task.count, tmp)
            samples[name].append(figures)
            log(f"  {task.name} round {r + 1}/{rounds} {name:22s} {figures['seconds']:6.2f}s "
                f"{figures['count'] / figures['seconds']:8.2f} {task.unit_word}/s "
                f"({figures['units']} units)")
    preset_configs = [("single", None, False)] + [(f"ray {n}", n, False) for n in WORKER_COUNTS]
    preset_samples = {}
    for k, (name, n, one_unit) in enumerate(preset_configs):
        figures = _timed(task, pools, single_replay, name, n, one_unit, 900 + k, preset_count,
                         tmp)
        preset_samples[name] = [figures]
        log(f"  {task.name} preset round {name:8s} {figures['seconds']:6.2f}s "
            f"{figures['count'] / figures['seconds']:8.2f} {task.unit_word}/s "
            f"({figures['units']} units)")
    for workers in pools.values():
        stop_workers(workers)
    # replay bytes per row: the shard on disk (npz) of the in-process rounds
    shard_bytes = sum(single_replay.path(1 + r * len(configs)).stat().st_size
                      for r in range(rounds))
    bytes_per_row = shard_bytes / sum(x["rows"] for x in samples["single"])
    result = dict(task=task.name, unit_word=task.unit_word, metric=key,
                  count_per_round=task.count, configs=_summary(configs, samples, key),
                  preset_count=preset_count,
                  preset=_summary(preset_configs, preset_samples, key),
                  replay_bytes_per_row=bytes_per_row,
                  startup_running_cluster={str(n): s for n, s in startup.items()})
    for row in result["configs"] + result["preset"]:
        row["replay_mb_per_s"] = row["rows_per_s"] * bytes_per_row / 2**20
    return result


# ---------------------------------------------------------------- weight sync


class Probe:
    """An actor that pulls a weight version the way `SearchActor.run` does, timed inside."""

    def __init__(self, recipe):
        import torch
        torch.set_num_threads(1)
        self.recipe = recipe
        self.state = recipe.build() if recipe is not None else None

    def pull(self, weights: list) -> tuple[float, float]:
        import ray
        t0 = time.perf_counter()
        arrays = ray.get(weights[0])
        t1 = time.perf_counter()
        if self.recipe is not None:
            self.recipe.load_weights(self.state, arrays)
        else:  # what `recipes._load_arrays` does before load_state_dict: a copy of each array
            arrays = {k: np.array(v) for k, v in arrays.items()}
        return t1 - t0, time.perf_counter() - t1


def weight_sync(tasks: list, synthetic_mb: int, log) -> list:
    import ray
    results = []
    cases = [(t.name, t.recipe(), {k: v.detach().cpu().numpy() for k, v in
                                   t.state_dict().items()}) for t in tasks]
    if synthetic_mb:
        cases.append((f"synthetic {synthetic_mb} MiB array (~ a 135M model in bf16)", None,
                      {"weight": np.ones(synthetic_mb * 2**20 // 2, np.uint16)}))
    for name, recipe, arrays in cases:
        probe = ray.remote(Probe).options(num_cpus=0).remote(recipe)
        ray.get(probe.pull.remote([ray.put(arrays)]))  # the probe up, its store client warm
        puts, gets, loads = [], [], []
        for _ in range(5):
            t0 = time.perf_counter()
            ref = ray.put(arrays)  # what ActorPool.publish does once per version
            puts.append(time.perf_counter() - t0)
            get, load = ray.get(probe.pull.remote([ref]))
            gets.append(get)
            loads.append(load)
            del ref
        ray.kill(probe)
        nbytes = sum(a.nbytes for a in arrays.values())
        params = sum(a.size for a in arrays.values())
        row = dict(model=name, params=params, mb=nbytes / 2**20,
                   put_s=statistics.median(puts), get_s=statistics.median(gets),
                   load_s=statistics.median(loads))
        results.append(row)
        log(f"  weights {name}: {row['mb']:.1f} MiB, put {row['put_s'] * 1e3:.1f} ms, pull "
            f"{row['get_s'] * 1e3:.1f} ms + load {row['load_s'] * 1e3:.1f} ms")
    return results


# ---------------------------------------------------------------- where an iteration's time goes


def connect4_iteration(games: int, steps: int, eval_games: int, tmp: Path) -> dict:
    """One `loop.train` iteration in process, timed by its progress phases."""
    from lmzero.loop import PRESETS, train
    preset = PRESETS[("connect4", "quick")]
    config = replace(preset, iterations=1, selfplay=replace(preset.selfplay, games=games),
                     learner=replace(preset.learner, steps_per_iteration=steps),
                     eval_games=eval_games)
    marks = []

    def progress(i, phase, row):
        if row is None or phase == "done":
            marks.append((time.perf_counter(), phase.split(",")[0]))
    t0 = time.perf_counter()
    row = train(config, tmp / "c4-iteration", progress=progress)[-1]
    phases = {}
    prev = t0
    for t, phase in marks:  # "train" marks the end of self-play, "eval" of learning + saving
        phases[{"train": "self-play", "eval": "learner + checkpoint",
                "done": "evaluation"}[phase]] = t - prev
        prev = t
    return dict(task="connect4", games=games, learner_steps=steps, eval_games=eval_games,
                selfplay_seconds_row=row["selfplay_seconds"], phases=phases,
                extrapolated=False)


def game24_iteration(task: Game24Task, problems_per_s: float, steps: int,
                     eval_sizes: tuple[int | None, int], tmp: Path) -> dict:
    """The quick preset's iteration: search (96 problems) at the in-process rate measured on
    the preset's round, learner steps timed and scaled to the preset's 100, held-out evaluation
    timed."""
    import torch
    from lmzero.learn.trainee import TinyLMTrainee
    from lmzero.replay import ReplayBuffer
    from lmzero.selfimprove import evaluate_heldout
    preset = task.preset
    replay = ReplayBuffer(tmp / "game24-single", window=preset.replay_window,
                          fields=task.fields())
    data = replay.window_arrays()
    torch.set_num_threads(1)  # as every search process here (the preset's driver uses 2)
    trainee = TinyLMTrainee(task.model, task.tokenizer, preset.learner,
                            preset.iterations * preset.learner.steps_per_iteration, task.task)
    trainee.train(data, 1, np.random.default_rng(0), None)  # first step: allocation, warm-up
    t0 = time.perf_counter()
    trainee.train(data, steps, np.random.default_rng(1), None)
    per_step = (time.perf_counter() - t0) / steps
    greedy, mcts = eval_sizes
    config = replace(preset, greedy_problems=greedy, eval_problems=mcts)
    t0 = time.perf_counter()
    evaluate_heldout(config, trainee, {})
    evaluation = time.perf_counter() - t0
    full = greedy is None and mcts == preset.eval_problems
    return dict(task="game24", problems=preset.problems_per_iteration,
                learner_steps=preset.learner.steps_per_iteration, timed_steps=steps,
                threads=1, eval_greedy_problems=greedy or "all",
                eval_mcts_problems=mcts,
                phases={"search": preset.problems_per_iteration / problems_per_s,
                        "learner (per step x steps)": per_step
                        * preset.learner.steps_per_iteration,
                        "evaluation" + ("" if full else " (reduced sizes)"): evaluation},
                extrapolated=True)


# ---------------------------------------------------------------- report


def plot(report: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = report["throughput"]
    fig, axes = plt.subplots(1, len(tasks) + 1, figsize=(5.5 * (len(tasks) + 1), 4.8))
    colors = {"single": "tab:gray", _name(1, True): "tab:blue", _name(1, False): "lightsteelblue",
              _name(2, True): "tab:orange", "ray 1": "tab:blue", "ray 2": "tab:orange"}
    for ax, t in zip(axes, tasks):
        rows = [dict(r, label=r["config"].replace(", ", "\n").replace("/", "/\n"))
                for r in t["configs"]]
        preset = [dict(r, label=f"{r['config']}\nat preset") for r in t["preset"]]
        xs = list(range(len(rows))) + [len(rows) + 0.6 + k for k in range(len(preset))]
        every = rows + preset
        bars = ax.bar(xs, [r["ratio"] for r in every],
                      color=[colors.get(r["config"], "tab:green") for r in every])
        for bar in bars[len(rows):]:
            bar.set_hatch("//")
        unit = "pos/s" if t["metric"] == "positions_per_s" else "problems/s"
        digits = 0 if unit == "pos/s" else 2
        ax.bar_label(bars, labels=[f"{r['ratio']:.2f}x\n{r[t['metric']]:,.{digits}f}"
                                   for r in every], fontsize=7)
        ax.axhline(1.0, color="k", lw=0.6)
        ax.axhline(0.9, color="tab:red", lw=0.6, ls="--")
        ax.set_xticks(xs, [r["label"] for r in every], fontsize=7)
        ax.set_ylim(0, max(2.1, max(r["ratio"] for r in every) * 1.25))
        ax.set_ylabel(f"{unit} / single process (same round)")
        ax.set_title(f"{t['task']}: {t['count_per_round']} {t['unit_word']}/round "
                     f"(x{t['configs'][0]['rounds']}); hatched: {t['preset_count']}", fontsize=9)
    ax = axes[-1]
    its = report["iteration"]
    left = np.zeros(len(its))
    for k, (label, color) in enumerate([("search / self-play", "tab:blue"),
                                        ("learner", "tab:purple"), ("evaluation", "tab:green")]):
        seconds = [list(it["phases"].values())[k] for it in its]
        shares = [100 * v / sum(it["phases"].values()) for v, it in zip(seconds, its)]
        bars = ax.barh(range(len(its)), shares, left=left, color=color, label=label)
        ax.bar_label(bars, labels=[f"{v:.0f}s" for v in seconds], label_type="center",
                     color="white", fontsize=8)
        left += shares
    ax.set_yticks(range(len(its)), [it["task"] for it in its])
    ax.set_xlim(0, 100)
    ax.set_xlabel("% of one iteration in one process (quick preset)")
    ax.set_title("where an iteration's time goes")
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=3)
    fig.suptitle(f"lmzero scale-out on Ray, {report['machine']['cpus']} CPUs"
                 + (" (quick)" if report["config"]["quick"] else ""))
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def round_sizes(quick: bool, rounds_arg: int | None) -> tuple[dict, dict, dict]:
    """Per task: part (b)'s round, part (a)'s "preset" round, and (b)'s timed rounds."""
    presets = dict(tictactoe=1024, connect4=512, game24=96)  # the quick presets' rounds
    if quick:  # a smoke run: rounds of 1/16 of the preset's, "preset" rounds U x that
        sizes = {k: v // 16 for k, v in presets.items()}
        presets = {k: UNITS_PER_WORKER * v for k, v in sizes.items()}
    else:  # 1/U of the preset's round: the unit `--workers 1` gets from the default split
        sizes = {k: -(-v // UNITS_PER_WORKER) for k, v in presets.items()}
    rounds = dict(tictactoe=4, connect4=3, game24=2)
    if quick or rounds_arg:
        rounds = dict.fromkeys(rounds, rounds_arg or 1)
    return sizes, presets, rounds


def run(quick: bool, rounds_arg: int | None) -> dict:
    """Every measurement, in one local cluster (start-up: fresh ones); the report's dict."""
    import ray
    import torch
    from lmzero.distributed import ScaleConfig
    from lmzero.distributed.cluster import connect, disconnect
    q = quick
    sizes, presets, rounds = round_sizes(q, rounds_arg)
    budget = 32
    started = time.perf_counter()

    def log(msg):
        print(f"[{time.perf_counter() - started:6.1f}s] {msg}", flush=True)

    with tempfile.TemporaryDirectory(prefix="lmzero-scale-") as d:
        tmp = Path(d)
        log(f"building tasks (UNITS_PER_WORKER = {UNITS_PER_WORKER})")
        tasks = [GameTask("tictactoe", sizes["tictactoe"]),
                 GameTask("connect4", sizes["connect4"]),
                 Game24Task(sizes["game24"], budget)]
        cold = []
        for task in (tasks[1:] if not q else tasks[1:2]):
            for n in WORKER_COUNTS:
                seconds = cold_start(task, n, tmp)
                cold.append(dict(task=task.name, workers=n, seconds=seconds))
                log(f"cold start {task.name}: cluster + {n} actor(s) answering where() "
                    f"in {seconds:.1f}s")
        # one cluster for both pools: a CPU per actor
        connect(ScaleConfig(workers=sum(WORKER_COUNTS)))
        throughput = []
        for task in tasks:
            warmup = 2 if task.name == "game24" else 8
            throughput.append(measure_task(task, rounds[task.name], warmup,
                                           presets[task.name], tmp, log))
        log("weight sync")
        sync = weight_sync(tasks, 0 if q else 270, log)
        disconnect()
        log("where an iteration's time goes (one process)")
        g24_rate = throughput[2]["preset"][0]["count_per_s"]
        iteration = [connect4_iteration(32 if q else 512, 10 if q else 100,
                                        2 if q else 10, tmp),
                     game24_iteration(tasks[2], g24_rate, 3 if q else 20,
                                      (30, 5) if q else (None, tasks[2].preset.eval_problems),
                                      tmp)]
        for it in iteration:
            log(f"  {it['task']}: " + ", ".join(f"{k} {v:.1f}s" for k, v in it["phases"].items()))

    return {"benchmark": "scale-out on Ray",
            "config": {"quick": q, "units_per_worker": UNITS_PER_WORKER, "per_round": sizes,
                       "rounds": rounds, "preset_round": presets, "game24_budget": budget,
                       "torch_threads_per_search_process": 1},
            "cold_start": cold, "throughput": throughput, "weight_sync": sync,
            "iteration": iteration, "seconds": time.perf_counter() - started,
            "machine": machine_info(ray=ray.__version__, torch=torch.__version__)}


def _throughput_rows(throughput: list, section: str, count_key: str) -> list:
    rows = []
    for t in throughput:
        for r in t[section]:
            rate = (f"{r['positions_per_s']:,.0f} pos/s" if t["metric"] == "positions_per_s"
                    else f"{r['count_per_s']:.2f} problems/s")
            extra = (f"{r['rows_per_s']:,.0f} rows/s, {r['replay_mb_per_s']:.2f} MiB/s"
                     + ("" if t["metric"] == "positions_per_s"
                        else f"; {r['calls_per_s']:,.0f} calls/s"))
            rows.append([f"{t['task']} ({t[count_key]} {t['unit_word']}/round)"
                         if r["config"] == "single" else "", r["config"], str(r["units"]),
                         f"{r['seconds'] / r['rounds']:.2f}", rate, extra,
                         f"{r['ratio']:.2f}x"])
    return rows


def _summary_rows(throughput: list) -> list:
    """Per task: ray 1 and ray 2 at the preset; from part (b), Ray's own cost, the cost of
    the default split's smaller units, and a second actor."""
    rows = []
    for t in throughput:
        by = {r["config"]: r for r in t["configs"]}
        at = {r["config"]: r for r in t["preset"]}
        one, two = by[_name(1, True)], by[_name(2, True)]
        smaller = by[_name(1, False)]["ratio"] / one["ratio"]
        rows.append([t["task"], f"{at['ray 1']['ratio']:.2f}x", f"{at['ray 2']['ratio']:.2f}x",
                     f"{one['ratio']:.2f}x", f"{smaller:.2f}x",
                     f"{two['ratio'] / one['ratio']:.2f}x"])
    return rows


def print_report(report: dict) -> None:
    throughput, config = report["throughput"], report["config"]
    q, u = config["quick"], config["units_per_worker"]
    header = ["task", "config", "units/round", "s/round", "throughput",
              "replay written (model calls)", "vs single"]
    print_table("At the quick preset's round size" + (f" (--quick: {u}x the timed round)" if q
                                                      else "")
                + f", default split ({u} units/worker: what `train --workers N` does); "
                "one round each", header, _throughput_rows(throughput, "preset", "preset_count"))
    print_table(f"{_fraction().capitalize()} of that round (the unit `--workers 1` gets), "
                "interleaved (" + ", ".join(f"{k} x {v}" for k, v in config["rounds"].items())
                + "): Ray's own cost, and the cost of smaller units",
                header, _throughput_rows(throughput, "configs", "count_per_round"))
    print("replay bytes per row (npz shard): " + ", ".join(
        f"{t['task']} {t['replay_bytes_per_row']:.0f}" for t in throughput)
          + "; torch 1 thread in every search process")
    print_table("Ray vs single process (aim: ray 1 >= 0.90x; 2 actors on 2 busy cores cannot "
                "reach 2x)", ["task", "--workers 1 at preset", "--workers 2 at preset",
                              "Ray's own cost (1 unit, equal batch)",
                              f"{u}x smaller units (ray 1, {u} units vs 1)",
                              "2 vs 1 actor (1 unit/worker)"], _summary_rows(throughput))
    start_rows = [[c["task"], f"cold: cluster + {c['workers']} actor(s)", f"{c['seconds']:.1f}"]
                  for c in report["cold_start"]]
    start_rows += [[t["task"], f"running cluster: {n} actor(s)", f"{s:.1f}"]
                   for t in throughput for n, s in t["startup_running_cluster"].items()]
    print_table("Start-up: Workers(...) until every actor answered where() (seconds)",
                ["task", "what", "seconds"], start_rows)
    print_table("Weight sync per version (one node: shared memory; median of 5)",
                ["model", "params", "MiB", "ray.put ms", "actor ray.get ms", "actor load ms"],
                [[s["model"], f"{s['params']:,}", f"{s['mb']:.1f}", f"{s['put_s'] * 1e3:.1f}",
                  f"{s['get_s'] * 1e3:.1f}", f"{s['load_s'] * 1e3:.1f}"]
                 for s in report["weight_sync"]])
    it_rows = []
    for it in report["iteration"]:
        total = sum(it["phases"].values())
        for k, v in it["phases"].items():
            it_rows.append([it["task"], k, f"{v:.1f}", f"{v / total:.0%}"])
    print_table("One iteration in one process at the quick preset (connect4: a `train` "
                "iteration; game24: the preset round's search, learner per step x 100, "
                "evaluation)",
                ["task", "phase", "seconds", "share"], it_rows)
    print(f"total {report['seconds']:.0f}s")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="a smoke run (~2-3 minutes)")
    p.add_argument("--rounds", type=int, default=None,
                   help="timed rounds per configuration (default tictactoe 4, connect4 3, "
                   "game24 2; quick 1)")
    p.add_argument("--out", type=Path, default=OUT_DIR)
    args = p.parse_args(argv)
    import torch
    torch.set_num_threads(1)
    from lmzero.distributed.cluster import require_ray
    require_ray()
    report = run(args.quick, args.rounds)
    print_report(report)
    write_report(args.out, "scale", report, plot)


if __name__ == "__main__":
    main()
