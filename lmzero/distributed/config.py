"""How a loop scales out: workers, where the cluster is, and how faults are absorbed."""

from __future__ import annotations

from dataclasses import dataclass


UNITS_PER_WORKER = 2
"""The default split of a round: this many units per worker. A unit is one batched search, so
smaller units mean smaller model batches (connect4 self-play ran 0.72x as fast at 4 units per
worker as in one batch: `bench/scale.py`); two keep each actor's next unit queued behind the
one it runs, and a killed actor costs half its share."""


class ScaleError(Exception):
    """Ray missing, a cluster that cannot be reached, a unit that failed on every retry:
    one line naming what was wrong (the CLI exits 1; a bad setting is a ValueError)."""


@dataclass
class ScaleConfig:
    workers: int | None = None
    """Search actors. None with an `address`: one per CPU of the cluster."""
    address: str | None = None
    """An existing Ray cluster (`ray start --head` prints it: HOST:PORT); None starts a local
    one sized to `workers`."""
    max_restarts: int = 8
    """Times Ray restarts a search actor that died (killed, out of memory, its node gone)."""
    unit_retries: int = 3
    """Times one unit is tried again after its actor died or it raised; then the run stops,
    naming the unit and the error (a unit that always fails is a bug, not bad luck)."""
    unit_size: int | None = None
    """Games or problems per unit; None: the round split into `UNITS_PER_WORKER` units per
    worker (balance against batch size: a unit is one batched search)."""
    max_staleness: int = 0
    """Weight versions a unit's data may lag the learner. 0: actors wait while the learner
    trains (synchronous); 1: they play the next iteration meanwhile, with the weights from
    before this training step, and replay records each row's staleness."""
    object_store_mb: int = 512
    """Object store of a local cluster (weights and unit results pass through it)."""

    def __post_init__(self):
        if self.workers is not None and not 1 <= self.workers <= 1024:
            raise ValueError(f"workers must be from 1 to 1024, got {self.workers}")
        if self.workers is None and self.address is None:
            raise ValueError("give workers, an address, or both")
        if self.max_restarts < 0 or self.unit_retries < 0:
            raise ValueError("max_restarts and unit_retries must be >= 0")
        if self.unit_size is not None and self.unit_size < 1:
            raise ValueError(f"unit_size must be >= 1, got {self.unit_size}")
        if self.address is not None:
            host, _, port = self.address.rpartition(":")
            if not (self.address == "auto" or "://" in self.address
                    or (host and port.isdigit() and 0 < int(port) < 65536)):
                raise ValueError(f"Ray address {self.address!r}: expected HOST:PORT (what "
                                 "`ray start --head` prints), 'auto', or ray://HOST:PORT")
        if self.max_staleness not in (0, 1):
            raise ValueError(f"max_staleness must be 0 or 1, got {self.max_staleness}")

    def split(self, count: int, workers: int,
              most: int | None = None) -> list[tuple[int, int]]:
        """(first, size) of each unit of a round of `count` games or problems; no unit holds
        more than `most` (an evaluation's batch).

        >>> ScaleConfig(workers=2).split(10, 2)
        [(0, 3), (3, 3), (6, 3), (9, 1)]
        >>> ScaleConfig(workers=2, unit_size=4).split(10, 2)
        [(0, 4), (4, 4), (8, 2)]
        >>> ScaleConfig(workers=2).split(10, 2, most=2)
        [(0, 2), (2, 2), (4, 2), (6, 2), (8, 2)]
        """
        size = self.unit_size or max(1, -(-count // (UNITS_PER_WORKER * workers)))
        size = min(size, most or size)
        return [(first, min(size, count - first)) for first in range(0, count, size)]
