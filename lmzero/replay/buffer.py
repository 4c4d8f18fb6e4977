"""Append-only replay on disk: one shard per self-play batch, written atomically.

A shard is an `.npz` of arrays (for games: tokens [M, T], policy [M, A], value [M], target [M],
game [M]; for text tasks: prompt, step, weight, value, bucket, problem, all [M]) whose name carries its sequence number, so a run killed at any moment has every shard either complete
or absent, and a resumed run that re-plays a batch rewrites the same name instead of adding a
duplicate. Sampling reads the newest `window` positions.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np

from lmzero.checkpoint import write_atomic

_SHARD = re.compile(r"shard-(\d{6})\.npz$")
FIELDS = ("tokens", "policy", "value", "target", "game")
TEXT_FIELDS = ("prompt", "step", "weight", "value", "bucket", "problem")


class ReplayBuffer:
    def __init__(self, directory: Path, window: int = 100_000, fields=FIELDS):
        self.fields = tuple(fields)
        """Arrays every shard holds, each with one row per example ("value" among them)."""
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.window = window
        self._cache: dict[int, dict] = {}

    def shard_ids(self) -> list[int]:
        return sorted(int(m.group(1)) for p in self.directory.iterdir()
                      if (m := _SHARD.match(p.name)))

    def has(self, shard_id: int) -> bool:
        return (self.directory / f"shard-{shard_id:06d}.npz").exists()

    def write(self, shard_id: int, arrays: dict) -> None:
        missing = set(self.fields) - set(arrays)
        if missing:
            raise ValueError(f"replay shard lacks {sorted(missing)}")
        buf = io.BytesIO()
        np.savez(buf, **{k: np.asarray(arrays[k]) for k in self.fields})
        write_atomic(self.directory / f"shard-{shard_id:06d}.npz", buf.getvalue())

    def _read(self, shard_id: int) -> dict:
        if shard_id not in self._cache:
            with np.load(self.directory / f"shard-{shard_id:06d}.npz", allow_pickle=False) as z:
                self._cache[shard_id] = {k: z[k] for k in self.fields}
        return self._cache[shard_id]

    def window_arrays(self) -> dict:
        """The newest `window` positions, concatenated across shards."""
        parts, total = [], 0
        for sid in reversed(self.shard_ids()):
            parts.append(self._read(sid))
            total += len(parts[-1]["value"])
            if total >= self.window:
                break
        if not parts:
            raise ValueError(f"replay {self.directory} is empty")
        merged = {k: np.concatenate([p[k] for p in reversed(parts)]) for k in self.fields}
        return {k: v[-self.window:] for k, v in merged.items()}

    def __len__(self) -> int:
        return sum(len(self._read(s)["value"]) for s in self.shard_ids())
