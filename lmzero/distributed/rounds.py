"""The driver's side of a scaled-out loop: rounds of units on the actor pool, staged by the
replay owner, committed as one shard each.

`Workers.start_round(i, payloads)` stores the round's plan (or takes the plan a killed run
stored) and queues the units not yet staged; `finish_round(i)` waits for them, stages each
result once, and commits shard i. With `max_staleness` 1 a loop starts round i + 1 before its
learner trains on round i, so the actors play while it learns. `map` runs units whose results
come back to the driver instead (evaluation).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from lmzero.distributed.actor import Recipe, Unit
from lmzero.distributed.cluster import connect, disconnect, require_ray
from lmzero.distributed.config import ScaleConfig
from lmzero.distributed.owner import ReplayOwner
from lmzero.distributed.pool import ActorPool, PoolStats


ROW_FIGURES = ("units", "units_requeued", "actor_failures", "staleness_mean", "staleness_max")
"""The figures of `finish_round`'s report that a scaled iteration's metrics row keeps."""


class Workers:
    def __init__(self, recipe: Recipe, config: ScaleConfig, seed: int,
                 replay_dir: Path | None = None, fields: tuple[str, ...] = ()):
        self.ray = require_ray()
        self.config = config
        self._own_cluster = not self.ray.is_initialized()
        """This process had joined no cluster: `close` then leaves the one `connect` started or
        joined (a cluster the caller joined with its own `ray.init` stays up)."""
        self.pool = ActorPool(recipe, connect(config), config, seed)
        self.owner = None
        if replay_dir is not None:
            self.owner = self.ray.remote(ReplayOwner).options(
                num_cpus=0, max_restarts=-1, max_task_retries=-1,
                scheduling_strategy=self._here()).remote(str(replay_dir), fields)
        self.progress: Callable[[PoolStats], None] | None = None
        self._plans: dict[int, list] = {}
        self._totals: dict[int, dict] = {}
        self.round = 0
        """The round being drained (progress reports name it)."""
        self._faults_before = (0, 0)  # stats.requeued, stats.actor_failures at the last report

    def _here(self):
        """Placement on the driver's node: the replay owner writes the run directory, which
        lives on this machine's disk."""
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy
        node = self.ray.get_runtime_context().get_node_id()
        return NodeAffinitySchedulingStrategy(node_id=node, soft=False)

    @property
    def stats(self) -> PoolStats:
        return self.pool.stats

    def publish(self, state_dict: dict, version: int) -> None:
        self.pool.publish(state_dict, version)

    def split(self, count: int, most: int | None = None) -> list[tuple[int, int]]:
        """(first, size) of the units of `count` games or problems over these workers."""
        return self.config.split(count, self.stats.workers, most)

    def report_to(self, progress, phase: str) -> None:
        """Report each unit done as a loop's `progress(round, "PHASE, units ...", None)`."""
        if progress:
            self.progress = lambda stats: progress(self.round, f"{phase}, {stats.line()}", None)

    def row_figures(self, report: dict) -> dict:
        """What a finished round adds to its iteration's metrics row."""
        return dict(workers=self.stats.workers, **{k: report[k] for k in ROW_FIGURES})

    def planned(self, round_: int) -> bool:
        """Round `round_` was started (and not finished) in this session."""
        return round_ in self._plans

    def start_round(self, round_: int, payloads: list) -> None:
        """Queue round `round_`'s units (once; units a killed run staged are not redone)."""
        if round_ in self._plans:
            return
        plan = self.ray.get(self.owner.begin.remote(round_, payloads))
        staged = set(self.ray.get(self.owner.staged.remote(round_)))
        self._plans[round_] = plan
        self._totals[round_] = dict(count=0, positions=0)
        self.pool.submit(Unit(round_, k, p) for k, p in enumerate(plan) if k not in staged)

    def finish_round(self, round_: int, attempts_path: Path | None = None) -> dict:
        """Wait for round `round_`, commit its shard; what the round did: units, rows,
        staleness, the units re-queued and actor failures since the last round finished, and
        the results' `count` and `positions` summed over the units run in this session."""
        self.round = round_
        self.pool.drain(round_, self._stage)
        report = self.ray.get(self.owner.commit.remote(
            round_, len(self._plans[round_]), self.pool.version,
            None if attempts_path is None else str(attempts_path)))
        requeued, failures = self._faults_before
        self._faults_before = (self.stats.requeued, self.stats.actor_failures)
        return dict(report, units=len(self._plans.pop(round_)), **self._totals.pop(round_),
                    units_requeued=self.stats.requeued - requeued,
                    actor_failures=self.stats.actor_failures - failures)

    def prune(self, committed: int) -> None:
        """Drop what a kill between a commit and its cleanup left."""
        self.ray.get(self.owner.prune.remote(committed))

    def map(self, payloads: list) -> list[dict]:
        """Run one unit per payload; the results in payload order (nothing staged)."""
        results: dict[int, dict] = {}

        def keep(unit: Unit, result: dict, actor: int) -> None:
            results[unit.index] = result
            if self.progress:
                self.progress(self.stats)
        self.pool.submit(Unit(0, k, p) for k, p in enumerate(payloads))
        self.pool.drain(0, keep)
        return [results[k] for k in range(len(payloads))]

    def close(self) -> None:
        """Kill the actors and the replay owner; leave the cluster if this made us join it."""
        self.pool.shutdown()
        if self.owner is not None:
            self.ray.kill(self.owner)
        if self._own_cluster:
            disconnect()

    def _stage(self, unit: Unit, result: dict, actor: int) -> None:
        self.ray.get(self.owner.stage.remote(unit.round, unit.index, result))
        for key, total in self._totals.get(unit.round, {}).items():
            self._totals[unit.round][key] = total + result.get(key, 0)
        if self.progress:
            self.progress(self.stats)
