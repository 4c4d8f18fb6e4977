"""What every command shares: the typer app, the console, user errors, presets, progress bars,
and the entry point that turns user errors into one line and exit code 2."""

from __future__ import annotations

import errno
import os
import sys
from enum import Enum

import typer
from rich.console import Console

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="AlphaZero-style planning and self-improvement atop language models.")
out = Console(width=120, markup=False)  # wide enough for the analysis table when piped;
# no markup: steps, programs and answers are model text (`x = [x]` would lose its "[x]")
err = Console(stderr=True, markup=False)  # progress bars: stdout holds only what a command
# prints (a --json line stays pure JSON)


SEED_MAX = 2**32 - 1
"""Largest --seed: numpy and torch take seeds up to 2**32 - 1 everywhere (beyond, some raise)."""


class UserError(Exception):
    """A mistake in the user's input: reported as one line, exit code 2."""


class Preset(str, Enum):
    quick = "quick"
    full = "full"


PROGRESS_HELP = "Show a progress bar on stderr (default: only when stderr is a terminal)."


def progress_option():
    """--progress/--no-progress: None (the default) leaves it to `progress_wanted`."""
    return typer.Option(None, "--progress/--no-progress", help=PROGRESS_HELP,
                        show_default=False)


def device_option():
    """--device: where a tinylm or hf model runs (a served model runs where its server does)."""
    return typer.Option("cpu", "--device", help="torch device of a tinylm or hf model: cpu, "
                        "cuda or cuda:N (search, verifier and problems stay on the CPU).")


def checked_device(device: str) -> str:
    """`device` if torch can run there; a UserError naming --device otherwise (a device torch
    does not know, or a GPU this machine lacks)."""
    from lmzero.models.tinylm import check_device
    try:
        check_device(device)
    except ValueError as exc:
        raise UserError(f"--device: {exc}") from None
    return device


def progress_wanted(flag: bool | None) -> bool:
    """The bar of --progress/--no-progress, else only on a terminal: a pipe or a log file gets
    nothing (a bar redrawn ten times a second is noise there)."""
    return sys.stderr.isatty() if flag is None else flag


def progress_bar(transient: bool = False):
    """A progress bar on stderr whose tasks carry a `last` field: the latest figures. Asked for
    where stderr is no terminal (--progress), it draws as on one. Lines printed on stdout while
    it runs go above it only when stdout is a terminal too: on a pipe they stay on the pipe."""
    from rich.progress import BarColumn, Progress, TextColumn
    console = err if sys.stderr.isatty() else Console(stderr=True, markup=False, width=120,
                                                      force_terminal=True)
    columns = (TextColumn("{task.description}"), BarColumn(16),
               TextColumn("{task.completed}/{task.total}"), _time_column(),
               TextColumn("{task.fields[last]}"))
    return Progress(*columns, console=console, transient=transient,
                    redirect_stdout=sys.stdout.isatty())


USER_OS_ERRORS = {errno.ENOENT, errno.ENOTDIR, errno.EISDIR, errno.EEXIST, errno.EACCES,
                  errno.EPERM, errno.EROFS, errno.ENAMETOOLONG, errno.ELOOP}
"""File-system errors that come from what the user named (a --run that is a file, a read-only
directory): exit code 2. Others (a full disk, an I/O error) are the machine's: exit code 1."""


def fail(message: str, code: int) -> None:
    """One line on stderr and exit `code`; never more than one line."""
    line = " ".join(str(message).split()) or "unknown error"
    print(f"lmzero: error: {line}", file=sys.stderr)
    sys.exit(code)


def _time_column():
    """A bar's time: `left 1:05` while it runs (rich's estimate from its recent speed), `took
    2:10` once it is complete."""
    from rich.progress import ProgressColumn
    from rich.text import Text

    def clock(seconds: float) -> str:
        minutes, secs = divmod(int(seconds), 60)
        return f"{minutes // 60}:{minutes % 60:02d}:{secs:02d}" if minutes >= 60 else \
            f"{minutes}:{secs:02d}"

    class TimeColumn(ProgressColumn):
        def render(self, task) -> Text:
            if task.finished:
                return Text(f"took {clock(task.finished_time or task.elapsed or 0)}")
            left = task.time_remaining
            return Text(f"left {'-:--' if left is None else clock(left)}")
    return TimeColumn()


class LazyProgress:
    """A progress bar that appears with the first report: a run refused before its first step
    (a --run that is a file, --resume without a run) prints its one error line and nothing
    else. `update(**fields)` as `Progress.update` of the bar's one task; nothing at all when
    not `enabled` (`progress_wanted`). `transient`: the bar is erased when it stops."""

    def __init__(self, description: str, total: int | None, enabled: bool = True,
                 transient: bool = False):
        self.description, self.total = description, total
        self.enabled, self.transient = enabled, transient
        self.bar = self.task = None

    def update(self, **fields) -> None:
        if not self.enabled:
            return
        if self.bar is None:
            self.bar = progress_bar(self.transient)
            self.bar.start()
            self.task = self.bar.add_task(self.description, total=self.total, last="")
        self.bar.update(self.task, **fields)

    def __enter__(self) -> "LazyProgress":
        return self

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.stop()


MAX_WORKERS = 1024
"""Largest --workers."""


def scale_config(workers: int | None, address: str | None):
    """The `distributed.ScaleConfig` of --workers / --ray-address, or None (in-process); a
    UserError when an option is wrong or Ray is missing. A --ray-address where nothing listens
    is a ScaleError now, before a run directory is made (a retry of the same command would
    otherwise meet a run that never ran, and need --resume). Ray is imported last: the
    mistakes are named without paying for it."""
    if workers is None and address is None:
        return None
    from lmzero.distributed import ScaleConfig
    from lmzero.distributed.cluster import probe, require_ray
    from lmzero.distributed.config import ScaleError
    try:
        config = ScaleConfig(workers=workers, address=address)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    if address is not None:
        probe(address)
    try:
        require_ray()
    except ScaleError as exc:
        raise UserError(str(exc)) from None
    return config


def scaled_summary(row: dict) -> str:
    """What a scaled-out iteration adds to its printed line: units, re-queued, staleness."""
    if "units" not in row:
        return ""
    return (f"  [{row['workers']} workers: {row['units']} units, {row['units_requeued']} "
            f"re-queued, staleness max {row['staleness_max']}]")


def main() -> None:
    """Entry point: every failure a user can cause or meet becomes one line on stderr.

    Exit codes: 2 a user error (UserError, click's usage errors, an untrustworthy checkpoint, a
    path that cannot be used, no sandbox for a code task's programs); 1 a fault outside the
    user's input (a failing server, a full disk); 130 Ctrl-C. Anything else is a bug and keeps
    its traceback."""
    from lmzero.checkpoint import CheckpointError
    from lmzero.distributed import ScaleError
    from lmzero.models.lm_steps import BackendError
    from lmzero.sandbox import SandboxUnavailable
    try:
        code = app(standalone_mode=False)
        if code == 130:  # typer turns Ctrl-C inside a command into Exit(130)
            aborted()
    except UserError as exc:
        fail(exc, 2)
    except CheckpointError as exc:
        fail(exc, 2)
    except SandboxUnavailable as exc:  # a code task's reward needs one (`lmzero.sandbox`)
        fail(f"no sandbox to run programs in: {exc}", 2)
    except (BackendError, ScaleError) as exc:
        fail(exc, 1)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        aborted()
    except typer.TyperException as exc:  # click's usage errors (typer vendors click)
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        if not message:  # bare `lmzero`: click printed the help and raised without a message
            sys.exit(exc.exit_code)
        fail(message, 2)
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        fail(f"{where}{exc.strerror or exc}", 2 if exc.errno in USER_OS_ERRORS else 1)
    sys.exit(code or 0)


def aborted() -> None:
    """Ctrl-C: say so and leave at once. `os._exit`, not `sys.exit`: a worker thread blocked on
    a server that never answers would otherwise hold the interpreter's exit (every file a run
    writes is atomic, so nothing written is lost)."""
    err.show_cursor(True)  # a progress bar hid it, and os._exit runs no cleanup
    print("aborted", file=sys.stderr)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(130)
