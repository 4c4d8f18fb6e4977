"""Append-only replay on disk: one shard per self-play batch, written atomically.

A shard is an `.npz` of arrays (for games: tokens [M, T], policy [M, A], value [M], target [M],
game [M]; for text tasks: prompt, step, weight, value, bucket, problem, all [M]) whose name carries its sequence number, so a run killed at any moment has every shard either complete
or absent, and a resumed run that re-plays a batch rewrites the same name instead of adding a
duplicate. Sampling reads the newest `window` positions. A shard that cannot be read (cut
or overwritten from outside: our writes are atomic) is a `ReplayError` naming it; a resumed loop
first drops the unreadable shards of iterations no checkpoint covers (`discard_unreadable`),
since those are redone anyway.
"""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import numpy as np

from lmzero.checkpoint import write_atomic

_SHARD = re.compile(r"shard-(\d{6})\.npz$")
FIELDS = ("tokens", "policy", "value", "target", "game")
TEXT_FIELDS = ("prompt", "step", "weight", "value", "bucket", "problem")
OPTIONAL_FIELDS = ("attempt", "weight_version", "staleness")
"""Written when given (runs scaled out on Ray, `lmzero.distributed`): per row, the id of the
game or problem attempt it came from, the weight version that played it, and how many versions
that lagged the learner's when the shard was committed. Sampling ignores them."""


class ReplayError(ValueError):
    """A replay shard that cannot be read; the message names the file."""


class ReplayBuffer:
    def __init__(self, directory: Path, window: int = 100_000, fields=FIELDS):
        self.fields = tuple(fields)
        """Arrays every shard holds, each with one row per example ("value" among them)."""
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.window = window
        self.first_shard = 0
        self._cache: dict[int, dict] = {}

    def shard_ids(self) -> list[int]:
        return sorted(int(m.group(1)) for p in self.directory.iterdir()
                      if (m := _SHARD.match(p.name)))

    def has(self, shard_id: int) -> bool:
        return self.path(shard_id).exists()

    def write(self, shard_id: int, arrays: dict) -> None:
        missing = set(self.fields) - set(arrays)
        if missing:
            raise ValueError(f"replay shard lacks {sorted(missing)}")
        buf = io.BytesIO()
        kept = self.fields + tuple(k for k in OPTIONAL_FIELDS if k in arrays)
        np.savez(buf, **{k: np.asarray(arrays[k]) for k in kept})
        write_atomic(self.path(shard_id), buf.getvalue())
        self._cache.pop(shard_id, None)

    def path(self, shard_id: int) -> Path:
        return self.directory / f"shard-{shard_id:06d}.npz"

    def _read(self, shard_id: int) -> dict:
        if shard_id not in self._cache:
            self._cache[shard_id] = self._load(shard_id)
        return self._cache[shard_id]

    def _load(self, shard_id: int) -> dict:
        path = self.path(shard_id)
        try:
            with np.load(path, allow_pickle=False) as z:
                arrays = {k: z[k] for k in self.fields}
        except (zipfile.BadZipFile, OSError, EOFError, KeyError, ValueError) as exc:
            raise ReplayError(f"{path}: unreadable replay shard ({exc})") from None
        lengths = {len(a) for a in arrays.values()}
        if len(lengths) != 1:
            raise ReplayError(f"{path}: arrays of different lengths {sorted(lengths)}")
        return arrays

    def shard_arrays(self, shard_id: int) -> dict:
        """One shard's rows (an on-policy learner trains on its newest round only)."""
        return self._read(shard_id)

    def column(self, shard_id: int, name: str) -> np.ndarray | None:
        """One of a shard's `OPTIONAL_FIELDS` (None if the shard lacks it)."""
        with np.load(self.path(shard_id), allow_pickle=False) as z:
            return z[name] if name in z.files else None

    def check(self) -> None:
        """Read the window now (it is cached for the learner): a damaged shard of a finished
        iteration stops a resumed run before any work, not in the middle of it."""
        if self.shard_ids():
            self.window_arrays()

    def discard_unreadable(self, after: int) -> list[int]:
        """Delete the unreadable shards numbered above `after` (iterations to be redone);
        the ids deleted."""
        dropped = []
        for shard_id in self.shard_ids():
            if shard_id > after:
                try:
                    self._load(shard_id)
                except ReplayError:
                    self.path(shard_id).unlink()
                    dropped.append(shard_id)
        return dropped

    def begin_window(self, first_shard: int) -> None:
        """Shards before `first_shard` leave the window (a run's later phase: `lmzero.phases`)."""
        self.first_shard = first_shard

    def window_arrays(self) -> dict:
        """The newest `window` positions, concatenated across shards from `first_shard` on."""
        parts, total = [], 0
        for sid in reversed([s for s in self.shard_ids() if s >= self.first_shard]):
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
