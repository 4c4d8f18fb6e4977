"""The run directory: what every training loop writes, and how a run resumes from it.

Game self-play (`loop`), world-model pretraining (`learn.pretrain`) and self-improvement
(`selfimprove`) share one layout:

    config.json       the run's dataclass config (`asdict`) plus `run_kind`; on resume it rules
    checkpoints/<i>/  one per finished iteration (or pretraining step): a run's progress
    metrics.jsonl     one JSON row per finished iteration; a loop repairs it on resume
    lock              held (flock) by the one process that works on the run
    tb/, plots/       TensorBoard scalars and figures, redrawn from metrics.jsonl
    (replay/, pretrain/ ... as the loop needs)

Every file is written atomically (`checkpoint.write_atomic`), so a `kill -9` leaves the old
version or the new one, and a loop resumes by redoing only what no file records. A run config
is a dataclass with a class constant `RUN_KIND` (the loop that writes it) and a `task`
attribute: resuming a run of another kind or another task is refused, never trained on.

What a resume trusts and what it repairs (docs/reliability.md):
- config.json carries the sha256 of its own content: a file changed or cut since lmzero wrote it
  is refused (a key lost would otherwise be filled with a default and train another run);
- metrics.jsonl: an unreadable line is dropped with a note, and each loop recomputes the rows
  a finished checkpoint lacks (`Run.rows_missing`), so every iteration is logged exactly once;
- a fresh run refuses a directory that holds anything (an abandoned run's replay shards would
  be reused), and temporaries left by a kill (`.NAME.XXXX`) are swept when a run opens.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import re
import shutil
import sys
from dataclasses import asdict, fields, replace
import os
from pathlib import Path
from typing import Any, TypeVar

from lmzero import checkpoint
from lmzero.checkpoint import write_atomic

Config = TypeVar("Config")
KIND_KEY = "run_kind"
"""The key of config.json that names the run's kind (absent in runs from before it)."""
DIGEST_KEY = "config_sha256"
"""The key of config.json that holds the sha256 of the rest (absent in runs from before it)."""
TEMPORARY = re.compile(r"^\..+\.[^.]+$")
"""Names of the temporaries an atomic write leaves when killed (`.metrics.jsonl.k3x9a1`,
`.00003.old`): never part of a run."""
_LOCKS: dict[Path, int] = {}
"""Run directories this process holds the lock of (flock is per open file: a second open in
the same process would lock itself out)."""


class Run:
    """A run directory: its files, its progress, and resuming from them."""

    def __init__(self, directory: Path, digits: int = 5):
        self.dir = Path(directory)
        self.digits = digits  # checkpoint names: iteration i -> f"{i:0{digits}d}"
        self.checkpoints = self.dir / "checkpoints"
        self.config_path = self.dir / "config.json"
        self.metrics_path = self.dir / "metrics.jsonl"
        self.unreadable_lines: list[int] = []
        """Line numbers of metrics.jsonl that `metrics()` last found not to be a row."""

    # -- progress ---------------------------------------------------------------------------

    def checkpoint(self, i: int) -> Path:
        """Where iteration (or step) i's checkpoint goes."""
        return self.checkpoints / f"{i:0{self.digits}d}"

    def _finished(self) -> dict[int, Path]:
        if not self.checkpoints.is_dir():
            return {}
        return {int(p.name): p for p in self.checkpoints.iterdir()
                if p.name.isdigit() and (p / checkpoint.MANIFEST).is_file()}

    def completed(self) -> list[int]:
        """Iterations whose checkpoint exists (one killed mid-write has none: atomic)."""
        return sorted(self._finished())

    def latest(self) -> Path | None:
        """The newest finished checkpoint, or None before the first."""
        finished = self._finished()
        return finished[max(finished)] if finished else None

    def holds_run(self) -> bool:
        return self.config_path.is_file() or bool(self._finished())

    # -- metrics ----------------------------------------------------------------------------

    def metrics(self) -> list[dict]:
        """Every readable metrics row (a JSON object per line); `unreadable_lines` says which
        line numbers were not."""
        rows, self.unreadable_lines = [], []
        if not self.metrics_path.is_file():
            return rows
        for number, line in enumerate(self.metrics_path.read_bytes().splitlines(), 1):
            try:
                row = json.loads(line)
            except (ValueError, RecursionError):
                row = None
            if isinstance(row, dict):
                rows.append(row)
            elif line.strip():
                self.unreadable_lines.append(number)
        return rows

    def repair_metrics(self, keep, key: str = "iteration") -> list[dict]:
        """Rewrite metrics.jsonl with one row per `key` value that `keep(value)` accepts (the
        last row of a redone step wins), in order; a line that is not a row is dropped with a
        note on stderr. The rows kept."""
        rows = self.metrics()
        for number in self.unreadable_lines:
            print(f"lmzero: note: {self.metrics_path}:{number}: not a metrics row, dropped",
                  file=sys.stderr)
        by_key = {r[key]: r for r in rows if isinstance(r.get(key), int) and keep(r[key])}
        kept = [by_key[k] for k in sorted(by_key)]
        if kept != rows:
            self.write_metrics(kept)
        return kept

    def rows_missing(self, complete, key: str = "iteration") -> list[int]:
        """Finished iterations whose metrics row is absent or lacks what `complete(row)` asks
        (held-out figures): a kill between checkpoint and row, or a row repaired away."""
        rows = {r.get(key): r for r in self.metrics()}
        return [i for i in self.completed() if i not in rows or not complete(rows[i])]

    def log(self, row: dict, key: str = "iteration") -> None:
        """Add `row` in `key` order, replacing a row with the same `key` (a resumed
        iteration's, or one recomputed on resume)."""
        rows = [r for r in self.metrics() if r.get(key) != row.get(key)] + [row]
        if all(isinstance(r.get(key), int) for r in rows):
            rows.sort(key=lambda r: r[key])
        self.write_metrics(rows)

    def write_metrics(self, rows: list[dict]) -> None:
        write_atomic(self.metrics_path, "".join(json.dumps(r) + "\n" for r in rows).encode())

    # -- config -----------------------------------------------------------------------------

    def save_config(self, config) -> None:
        data = {KIND_KEY: type(config).RUN_KIND, **asdict(config)}
        data[DIGEST_KEY] = _digest(data)
        write_atomic(self.config_path, json.dumps(data, indent=2).encode())

    def load_config(self, cls: type[Config], replacing: dict | None = None) -> Config:
        """The run's config as `cls` (`config_from_dict`: old runs load); ValueError if there
        is none, it is not as lmzero wrote it, or it is another kind of run. `replacing`'s
        fields take their new values before the config is checked: a run begun on a GPU loads
        on a machine without one when `device` is replaced."""
        if not self.config_path.is_file():
            raise ValueError(f"{self.dir}: no config.json to resume from")
        try:
            data = json.loads(self.config_path.read_bytes())
        except (ValueError, RecursionError):
            data = None
        if not isinstance(data, dict):
            raise ValueError(f"{self.config_path}: not a run config (unreadable JSON)")
        digest = data.pop(DIGEST_KEY, None)
        if digest is not None and digest != _digest(data):
            raise ValueError(f"{self.config_path}: changed since lmzero wrote it (checksum "
                             "mismatch): restore it, or start a new run")
        kind = data.get(KIND_KEY, cls.RUN_KIND)  # absent: a run from before KIND_KEY
        if kind != cls.RUN_KIND:
            raise ValueError(f"{self.dir} holds a {kind} run, not a {cls.RUN_KIND} run: choose "
                             "another --run")
        try:
            return config_from_dict(cls, {**data, **(replacing or {})})
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{self.config_path}: {exc}") from None

    # -- the directory ----------------------------------------------------------------------

    def lock(self) -> None:
        """Hold the run for this process: a second process on the same run would interleave
        its writes with ours."""
        key = self.dir.resolve()
        if key in _LOCKS:
            return
        fd = os.open(self.dir / "lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise ValueError(f"{self.dir}: another lmzero process is working on this run")
        _LOCKS[key] = fd

    def sweep_temporaries(self) -> list[Path]:
        """Remove what kills left behind: half-written files and checkpoint directories."""
        swept = [p for p in self.dir.rglob(".*") if TEMPORARY.match(p.name)]
        for path in sorted(swept, reverse=True):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        return swept

    # -- TensorBoard and plots --------------------------------------------------------------

    def tensorboard(self, step: str = "iteration") -> "Scalars":
        """The run's scalars, rewritten from metrics.jsonl: the events of earlier sessions are
        purged, so a resumed run's curves hold each step once, recomputed rows included."""
        scalars = Scalars(self.dir / "tb", 0, step)
        for row in self.metrics():
            if isinstance(row.get(step), int) and row[step] >= 0:
                scalars.write(row)
        return scalars

    def plot(self, name: str, keys, x: dict[str, str], ylabel: str = "") -> None:
        """plots/`name`: each metric in `keys` (a share in [0, 1]) against each metric of `x`
        (key -> axis label), one panel per x; nothing is drawn before there is a point."""
        rows = self.metrics()
        curves = {(k, xk): [(r[xk], r[k]) for r in rows if r.get(k) is not None and xk in r]
                  for xk in x for k in keys}
        if not any(curves.values()):
            return
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, axes = plt.subplots(1, len(x), figsize=(5.5 * len(x), 4), squeeze=False)
        for ax, (xk, label) in zip(axes[0], x.items()):
            for k in keys:
                if curves[k, xk]:
                    ax.plot(*zip(*curves[k, xk]), marker="o", label=k)
            ax.set_xlabel(label)
            ax.set_ylim(0, 1.02)
            ax.grid(alpha=0.3)
        axes[0][0].set_ylabel(ylabel)
        axes[0][-1].legend(fontsize=8)
        (self.dir / "plots").mkdir(exist_ok=True)
        fig.tight_layout()
        fig.savefig(self.dir / "plots" / name, dpi=100)
        plt.close(fig)


class Scalars:
    """A run's TensorBoard scalars (tb/). Events from step `start` on are purged."""

    def __init__(self, directory: Path, start: int, step: str = "iteration"):
        from torch.utils.tensorboard import SummaryWriter
        self.writer = SummaryWriter(str(directory), purge_step=start)
        self.step = step  # the metrics row's key that is the x axis

    def write(self, row: dict) -> None:
        """Every number of a metrics row, at the row's step."""
        for key, value in row.items():
            if key != self.step and isinstance(value, (int, float)):
                self.writer.add_scalar(key, value, row[self.step])
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


def config_from_dict(cls: type[Config], data: dict) -> Config:
    """`cls` from its `asdict` form as any run saved it. Fields renamed or dropped since are
    `cls.RENAMED`'s (old name -> new name, or None: dropped); nested configs and older
    values are `cls.__post_init__`'s to convert. A field `cls` never had is a ValueError (a
    run of another kind from before KIND_KEY)."""
    data = {k: v for k, v in data.items() if k != KIND_KEY}
    for old, new in getattr(cls, "RENAMED", {}).items():
        if old in data:
            value = data.pop(old)
            if new is not None:
                data.setdefault(new, value)
    unknown = sorted(set(data) - {f.name for f in fields(cls)})
    if unknown:
        raise ValueError(f"{cls.__name__} has no field {unknown[0]!r}: not a {cls.RUN_KIND} "
                         "run? choose another --run")
    return cls(**data)


def _digest(data: dict) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


PROGRESS_FIELDS = {"iterations": lambda done: max(done) + 1, "steps": lambda done: max(done) + 1}
"""Overrides that set a run's length, and the least value a run with these finished
checkpoints allows (a run is never shortened below what it has done)."""


def open_run(directory: Path, config: Config, resume: bool = False, digits: int = 5,
             **overrides: Any) -> tuple[Run, Config]:
    """The run in `directory` and the config it runs with, saved to its config.json.

    Fresh: `config`, refused if the directory holds anything. Resume: the run's own
    config.json rules, refused if it is another kind of run (`RUN_KIND`) or another task's
    (`config.task`: `lmzero train connect4 --resume` on a tic-tac-toe run). Either way the
    `overrides` that are not None replace fields (more iterations or steps, never fewer than
    done; another thread count or device). The process then holds the run's lock, and a
    kill's temporaries are swept."""
    run = Run(directory, digits)
    if run.dir.exists() and not run.dir.is_dir():
        raise ValueError(f"--run {run.dir} is a file, not a run directory")
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if resume:
        saved = run.load_config(type(config), overrides)
        if saved.task != config.task:
            raise ValueError(f"{run.dir} holds a {saved.task} run, not a {config.task} run: "
                             f"resume it as {saved.task} or choose another --run")
        config = saved
    elif run.holds_run():
        raise ValueError(f"{run.dir} already holds a run: pass --resume or choose another --run")
    elif run.dir.is_dir() and any(run.dir.iterdir()):
        raise ValueError(f"{run.dir} is not empty: a new run needs a new or empty directory "
                         "(or pass --resume)")
    _check_length(run, overrides)
    if overrides and not resume:  # a resumed config took them as it loaded
        config = replace(config, **overrides)
    try:
        run.dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OSError(exc.errno, f"cannot create the run directory ({exc.strerror})",
                      str(run.dir)) from None
    run.lock()
    run.sweep_temporaries()
    run.save_config(config)
    return run, config


def _check_length(run: Run, overrides: dict) -> None:
    done = run.completed()
    for name, least in PROGRESS_FIELDS.items():
        if done and name in overrides and overrides[name] < least(done):
            raise ValueError(f"--{name} {overrides[name]}: {run.dir} has already done "
                             f"{least(done)}; a run is extended, never shortened")
