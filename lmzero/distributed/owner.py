"""The replay owner: the one process that writes replay, staging each unit under its id.

A unit's result is staged as `replay/staging-<round>/unit-<index>.npz` (atomically, and only
the first time: a unit redone after its actor died cannot enter twice), beside the round's
`plan.json` (the units it was split into, so a resumed run with another number of workers
keeps the split it started). `commit` joins the staged units, in unit order, into the round's
replay shard (and its attempts file, for reasoning rounds), then drops the staging directory.
A driver killed at any moment resumes with every staged unit kept.
"""

from __future__ import annotations

import io
import json
import shutil
import zipfile
from pathlib import Path

import numpy as np

from lmzero.checkpoint import write_atomic
from lmzero.replay.buffer import ReplayBuffer

ATTEMPTS = "attempts_json"
"""The key of a staged unit that holds its attempts (JSON text), for reasoning rounds."""


class ReplayOwner:
    """Made a Ray actor by `rounds.Rounds`; usable in-process too (tests)."""

    def __init__(self, directory: str, fields: tuple[str, ...]):
        self.buffer = ReplayBuffer(Path(directory), window=1, fields=fields)
        self.directory = Path(directory)

    def staging(self, round_: int) -> Path:
        return self.directory / f"staging-{round_:06d}"

    def begin(self, round_: int, plan: list) -> list:
        """The round's plan: the one staged before (a resumed round), else `plan`, stored."""
        path = self.staging(round_) / "plan.json"
        if path.is_file():
            try:
                return json.loads(path.read_text())
            except ValueError:
                pass  # cut from outside: start the round again
            shutil.rmtree(self.staging(round_))
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, json.dumps(plan).encode())
        return plan

    def staged(self, round_: int) -> list[int]:
        """Indexes of the units of `round_` staged and readable (an unreadable one is dropped,
        to be run again)."""
        found = []
        for path in sorted(self.staging(round_).glob("unit-*.npz")):
            if _read(path) is None:
                path.unlink()
            else:
                found.append(int(path.stem.split("-")[1]))
        return found

    def stage(self, round_: int, index: int, result: dict) -> bool:
        """Stage a unit's arrays (and attempts); False if it was staged already."""
        path = self.staging(round_) / f"unit-{index:06d}.npz"
        if path.exists():
            return False
        arrays = {k: np.asarray(v) for k, v in result["arrays"].items()}
        arrays["weight_version"] = np.full(len(arrays["value"]), result["weight_version"])
        if "attempts" in result:
            arrays[ATTEMPTS] = np.array(json.dumps(result["attempts"]))
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        write_atomic(path, buf.getvalue())
        return True

    def commit(self, round_: int, units: int, version: int,
               attempts_path: str | None = None) -> dict:
        """Join the round's `units` staged units into its shard, each row's staleness measured
        against the learner's weight `version`; rows and staleness (mean, max)."""
        parts = [_read(self.staging(round_) / f"unit-{k:06d}.npz") for k in range(units)]
        if any(p is None for p in parts):
            missing = [k for k, p in enumerate(parts) if p is None]
            raise ValueError(f"round {round_}: units {missing} not staged")
        keys = [k for k in parts[0] if k != ATTEMPTS]
        arrays = {k: np.concatenate([p[k] for p in parts]) for k in keys}
        arrays["staleness"] = version - arrays["weight_version"]
        if attempts_path is not None:
            attempts = [a for p in parts for a in json.loads(str(p[ATTEMPTS]))]
            write_atomic(Path(attempts_path), json.dumps(attempts).encode())
        self.buffer.write(round_, arrays)
        shutil.rmtree(self.staging(round_))
        lag = arrays["staleness"]
        return dict(rows=len(lag), staleness_mean=round(float(lag.mean()), 3) if len(lag) else 0,
                    staleness_max=int(lag.max()) if len(lag) else 0)

    def prune(self, committed: int) -> None:
        """Drop staging of rounds up to `committed` that a kill left after their commit."""
        for path in self.directory.glob("staging-*"):
            round_ = int(path.name.split("-")[1])
            if round_ <= committed or self.buffer.has(round_):
                shutil.rmtree(path, ignore_errors=True)


def _read(path: Path) -> dict | None:
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (zipfile.BadZipFile, OSError, EOFError, ValueError):
        return None
