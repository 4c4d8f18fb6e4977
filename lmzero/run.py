"""The run directory: what every training loop writes, and how a run resumes from it.

Game self-play (`loop`), world-model pretraining (`learn.pretrain`) and self-improvement
(`selfimprove`) share one layout:

    config.json       the run's dataclass config (`asdict`) plus `run_kind`; on resume it rules
    checkpoints/<i>/  one per finished iteration (or pretraining step): a run's progress
    metrics.jsonl     one JSON row per finished iteration (a row torn by a crash is dropped)
    tb/, plots/       TensorBoard scalars and figures, redrawn from metrics.jsonl
    (replay/, pretrain/ ... as the loop needs)

Every file is written atomically (`checkpoint.write_atomic`), so a `kill -9` leaves the old
version or the new one, and a loop resumes by redoing only what no file records. A run config
is a dataclass with a class constant `RUN_KIND` (the loop that writes it) and a `task`
attribute: resuming a run of another kind or another task is refused, never trained on.
"""

from __future__ import annotations

import json
from dataclasses import asdict, fields, replace
from pathlib import Path
from typing import Any, TypeVar

from lmzero import checkpoint
from lmzero.checkpoint import write_atomic

Config = TypeVar("Config")
KIND_KEY = "run_kind"
"""The key of config.json that names the run's kind (absent in runs from before it)."""


class Run:
    """A run directory: its files, its progress, and resuming from them."""

    def __init__(self, directory: Path, digits: int = 5):
        self.dir = Path(directory)
        self.digits = digits  # checkpoint names: iteration i -> f"{i:0{digits}d}"
        self.checkpoints = self.dir / "checkpoints"
        self.config_path = self.dir / "config.json"
        self.metrics_path = self.dir / "metrics.jsonl"

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

    def log(self, row: dict, key: str = "iteration") -> None:
        """Append `row`, replacing a row with the same `key` (a resumed iteration's)."""
        self.write_metrics([r for r in self.metrics() if r.get(key) != row.get(key)] + [row])

    def write_metrics(self, rows: list[dict]) -> None:
        write_atomic(self.metrics_path, "".join(json.dumps(r) + "\n" for r in rows).encode())

    # -- config -----------------------------------------------------------------------------

    def save_config(self, config) -> None:
        data = {KIND_KEY: type(config).RUN_KIND, **asdict(config)}
        write_atomic(self.config_path, json.dumps(data, indent=2).encode())

    def load_config(self, cls: type[Config]) -> Config:
        """The run's config as `cls` (`config_from_dict`: old runs load); ValueError if there
        is none or it is another kind of run."""
        if not self.config_path.is_file():
            raise ValueError(f"{self.dir}: no config.json to resume from")
        data = json.loads(self.config_path.read_text())
        kind = data.get(KIND_KEY, cls.RUN_KIND)  # absent: a run from before KIND_KEY
        if kind != cls.RUN_KIND:
            raise ValueError(f"{self.dir} holds a {kind} run, not a {cls.RUN_KIND} run: choose "
                             "another --run")
        try:
            return config_from_dict(cls, data)
        except ValueError as exc:
            raise ValueError(f"{self.config_path}: {exc}") from None

    # -- TensorBoard and plots --------------------------------------------------------------

    def tensorboard(self, start: int, step: str = "iteration") -> "Scalars":
        return Scalars(self.dir / "tb", start, step)

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
    """A run's TensorBoard scalars (tb/). Events from step `start` on are purged, so a resumed
    run's curves hold each step once."""

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


def open_run(directory: Path, config: Config, resume: bool = False, digits: int = 5,
             **overrides: Any) -> tuple[Run, Config]:
    """The run in `directory` and the config it runs with, saved to its config.json.

    Fresh: `config`, refused if the directory already holds a run. Resume: the run's own
    config.json rules, refused if it is another kind of run (`RUN_KIND`) or another task's
    (`config.task`: `lmzero train connect4 --resume` on a tic-tac-toe run). Either way the
    `overrides` that are not None replace fields (more iterations or steps)."""
    run = Run(directory, digits)
    if resume:
        saved = run.load_config(type(config))
        if saved.task != config.task:
            raise ValueError(f"{run.dir} holds a {saved.task} run, not a {config.task} run: "
                             f"resume it as {saved.task} or choose another --run")
        config = saved
    elif run.holds_run():
        raise ValueError(f"{run.dir} already holds a run: pass --resume or choose another --run")
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if overrides:
        config = replace(config, **overrides)
    run.dir.mkdir(parents=True, exist_ok=True)
    run.save_config(config)
    return run, config
