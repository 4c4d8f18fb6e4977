"""Units of work on N search actors, surviving the death of any of them.

The driver queues units; each idle, ready actor gets one. A unit whose actor died (killed,
out of memory, its node gone) or that raised is queued again, up to `unit_retries` times; Ray
restarts the actor (`max_restarts`), which gets work again only after it answers a probe, so
a re-queued unit moves to a live actor instead of waiting for one that cannot be placed. An
actor whose restarts are spent is replaced by a fresh one.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Callable, Iterable

import numpy as np

from lmzero.distributed.actor import Recipe, SearchActor, Unit
from lmzero.distributed.cluster import require_ray
from lmzero.distributed.config import ScaleConfig, ScaleError


IN_FLIGHT = 2
"""Units an actor holds at once (one running, one queued behind it)."""


@dataclass
class PoolStats:
    """What the pool did: the figures of a run's metrics row and its progress line."""
    workers: int
    submitted: int = 0
    """Units handed to the pool so far (a progress bar's total)."""
    done: int = 0
    requeued: int = 0
    """Units queued again after their actor died or they raised."""
    actor_failures: int = 0
    replaced: int = 0
    """Actors whose restarts were spent, replaced by fresh ones."""
    per_actor: list = field(default_factory=list)
    """Units each actor finished."""
    versions: list = field(default_factory=list)
    """The weight version each actor last used (None before its first unit)."""

    def line(self) -> str:
        """'units 5 · a0 3 (v2) · a1 2 (v2)' (plus faults when there were any)."""
        actors = " · ".join(f"a{i} {n}" + ("" if v is None else f" (v{v})")
                            for i, (n, v) in enumerate(zip(self.per_actor, self.versions)))
        faults = f" · requeued {self.requeued}" if self.requeued else ""
        return f"units {self.done} · {actors}{faults}"


class ActorPool:
    def __init__(self, recipe: Recipe, workers: int, config: ScaleConfig, seed: int):
        self.ray = require_ray()
        self.config = config
        remote = self.ray.remote(SearchActor)
        self._make = lambda: remote.options(
            num_cpus=1, max_restarts=config.max_restarts, max_task_retries=0,
            scheduling_strategy="SPREAD").remote(recipe, seed)
        self.actors = [self._make() for _ in range(workers)]
        self.stats = PoolStats(workers, per_actor=[0] * workers, versions=[None] * workers)
        self.version, self._weights = 0, []
        self._queue: deque[Unit] = deque()
        self._tries: dict[tuple, int] = {}
        self._running: dict = {}  # object ref -> (actor index, actor handle, unit, version)
        self._probes: dict = {}  # object ref -> actor index: not given work until it answers

    # -- weights --------------------------------------------------------------------------

    def publish(self, state_dict: dict, version: int) -> None:
        """Put weight `version` in the object store, once; actors pull it with their next unit.
        Versions count the learner's iterations (the run's starting weights are 0, those after
        iteration i are i + 1), so they stay comparable across a resume."""
        arrays = {k: _array(v) for k, v in state_dict.items()}
        self.version = version
        self._weights = [self.ray.put(arrays)]

    # -- units ----------------------------------------------------------------------------

    def submit(self, units: Iterable[Unit]) -> None:
        before = len(self._queue)
        self._queue.extend(units)
        self.stats.submitted += len(self._queue) - before
        self._dispatch()

    def outstanding(self, round_: int) -> bool:
        return any(u.round == round_ for u in self._queue) or any(
            unit.round == round_ for _, _, unit, _ in self._running.values())

    def drain(self, round_: int, on_result: Callable[[Unit, dict, int], None]) -> None:
        """Wait until every unit of `round_` has a result, handing each to
        `on_result(unit, result, actor index)` as it comes (units of other rounds that finish
        meanwhile too)."""
        while self.outstanding(round_):
            ready, _ = self.ray.wait(list(self._running) + list(self._probes), num_returns=1)
            ref = ready[0]
            if ref in self._probes:
                self._probe_answered(ref)
            else:
                self._finished(ref, on_result)
            self._dispatch()

    def where(self) -> list[dict]:
        """Each actor's process and node."""
        return self.ray.get([a.where.remote() for a in self.actors])

    def shutdown(self) -> None:
        for actor in self.actors:
            self.ray.kill(actor)

    # -- internals ------------------------------------------------------------------------

    def _dispatch(self) -> None:
        """Give each ready actor up to `IN_FLIGHT` units: the next one waits in the actor's
        own queue, so it starts the moment the last ends (and while the driver is busy)."""
        probing = set(self._probes.values())
        held = [0] * len(self.actors)
        for i, handle, _, _ in self._running.values():
            held[i] += handle is self.actors[i]
        for _ in range(IN_FLIGHT):
            for i, actor in enumerate(self.actors):
                if not self._queue:
                    return
                if held[i] >= IN_FLIGHT or i in probing:
                    continue
                unit = self._queue.popleft()
                ref = actor.run.remote(unit, self.version, self._weights)
                self._running[ref] = (i, actor, unit, self.version)
                held[i] += 1

    def _finished(self, ref, on_result) -> None:
        i, actor, unit, version = self._running.pop(ref)
        try:
            result = self.ray.get(ref)
        except self.ray.exceptions.RayError as exc:
            self._failed(i, actor, unit, exc)
            return
        self.stats.done += 1
        self.stats.per_actor[i] += 1
        self.stats.versions[i] = version
        on_result(unit, result, i)

    def _failed(self, i: int, actor, unit: Unit, exc: Exception) -> None:
        """Queue the unit again (first in line); probe its actor before it gets more work,
        unless that actor was already replaced or is being probed (both of its units fail
        when it dies)."""
        tries = self._tries.get(unit.id, 0) + 1
        self._tries[unit.id] = tries
        if tries > self.config.unit_retries:
            raise ScaleError(f"unit {unit.index} of round {unit.round} failed {tries} times; "
                             f"last: {_last_line(exc)}")
        self.stats.requeued += 1
        self.stats.actor_failures += isinstance(exc, self.ray.exceptions.RayActorError)
        self._queue.appendleft(unit)
        if actor is not self.actors[i] or i in self._probes.values():
            return
        self._check_dead(i, exc)
        self._probes[self.actors[i].where.remote()] = i

    def _probe_answered(self, ref) -> None:
        i = self._probes.pop(ref)
        try:
            self.ray.get(ref)
        except self.ray.exceptions.RayError as exc:  # died again before answering: ask again
            self._check_dead(i, exc)
            self._probes[self.actors[i].where.remote()] = i

    def _check_dead(self, i: int, exc: Exception) -> None:
        """Replace actor i if Ray will not restart it; ScaleError if actors cannot be made at
        all (their construction raised) or keep dying."""
        if not isinstance(exc, self.ray.exceptions.ActorDiedError):
            return
        if "creation task" in str(exc):
            raise ScaleError(f"a search actor could not start: {_last_line(exc)}")
        self.stats.replaced += 1
        if self.stats.replaced > 2 * len(self.actors) + self.config.max_restarts:
            raise ScaleError(f"search actors keep dying ({self.stats.replaced} replaced); "
                             f"last: {_last_line(exc)}")
        self.ray.kill(self.actors[i], no_restart=True)
        self.actors[i] = self._make()


def _array(tensor) -> np.ndarray:
    """A CPU array of a weight; bf16 (which numpy lacks) travels as float32 and is cast back
    when the actor loads it into its model."""
    import torch
    tensor = tensor.detach().cpu()
    return (tensor.float() if tensor.dtype == torch.bfloat16 else tensor).numpy()


def _last_line(exc: Exception) -> str:
    lines = [line for line in str(exc).splitlines() if line.strip()]
    return lines[-1].strip() if lines else type(exc).__name__

