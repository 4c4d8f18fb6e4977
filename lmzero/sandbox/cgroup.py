"""A pids + memory cgroup around one sandbox, where the machine lets us make one.

Why it matters: rlimits are per process, so a job that forks can use `processes x memory_mb`, and
RLIMIT_NPROC is not enforced at all when the sandbox's host user is root (a container running as
root: the kernel exempts uid 0 from it, whatever the namespace's uid). A cgroup caps the whole
sandbox: `pids.max` (processes and threads) and the memory limit (which also counts the tmpfs).

Made with cgroup v1 (`pids` and `memory` hierarchies) or v2 (a delegated unified hierarchy) below
this process's own cgroup. Where neither can be written (most unprivileged or Docker setups), the
sandbox runs without and `Sandbox.report()` says so: jobs are then bounded by rlimits, the wall
clock and the tmpfs size only.
"""

from __future__ import annotations

import itertools
import os
import signal
import time
from pathlib import Path

PREFIX = "lmzero-sandbox"
_COUNTER = itertools.count()


class Cgroup:
    """The cgroup directories (one per v1 hierarchy, or one v2) that hold one sandbox."""

    def __init__(self, dirs: list[Path]):
        self.dirs = dirs

    @property
    def procs_files(self) -> list[str]:
        return [str(d / "cgroup.procs") for d in self.dirs]

    @classmethod
    def create(cls, pids_max: int, memory_bytes: int) -> tuple[Cgroup | None, str]:
        """(the cgroup, "") or (None, the one-line reason none could be made)."""
        name = f"{PREFIX}-{os.getpid()}-{next(_COUNTER)}"
        bases = _bases()
        if not bases:
            return None, "no writable pids and memory cgroup controllers here"
        made = []
        try:
            for base in bases.values():
                _sweep_stale(base)
                (base / name).mkdir()
                made.append(base / name)
            cg = cls(made)
            cg._limit(pids_max, memory_bytes)
            return cg, ""
        except OSError as e:
            cls(made).remove()
            return None, f"cannot make a cgroup: {e.strerror or e} ({e.filename or ''})"

    def _limit(self, pids_max: int, memory_bytes: int) -> None:
        for d in self.dirs:
            if (d / "pids.max").exists():
                (d / "pids.max").write_text(str(pids_max))
            for limit in ("memory.limit_in_bytes", "memory.memsw.limit_in_bytes", "memory.max",
                          "memory.swap.max"):
                if (d / limit).exists():
                    (d / limit).write_text("0" if limit == "memory.swap.max"
                                           else str(memory_bytes))

    def kill(self) -> None:
        """SIGKILL every process left in the cgroup."""
        for f in self.procs_files:
            try:
                pids = [int(p) for p in Path(f).read_text().split()]
            except OSError:
                continue
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass

    def remove(self) -> None:
        """Remove the (emptied) directories; a process still dying gets a moment."""
        for d in self.dirs:
            for _ in range(50):
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.01)


def _bases() -> dict[str, Path]:
    """Where this process's cgroups are, per controller: {"pids": dir, "memory": dir}, both
    under one v2 directory or one v1 hierarchy each; {} when not both are writable."""
    try:
        own = Path("/proc/self/cgroup").read_text().splitlines()
        mounts = Path("/proc/self/mounts").read_text().splitlines()
    except OSError:
        return {}
    where = {}
    for line in mounts:
        dev, mountpoint, fstype, options = (line.split() + ["", "", "", ""])[:4]
        for controller in ("pids", "memory"):
            if fstype == "cgroup" and controller in options.split(","):
                where.setdefault(controller, (mountpoint, controller))
        if fstype == "cgroup2":
            where.setdefault("unified", (mountpoint, ""))
    bases = {}
    for line in own:
        hid, controllers, path = (line.split(":", 2) + ["", ""])[:3]
        for controller in controllers.split(","):
            if controller in ("pids", "memory") and controller in where:
                bases[controller] = _existing(where[controller][0], path)
    if len(bases) < 2 and "unified" in where:  # v2: one directory with both controllers
        path = next((ln.split(":", 2)[2] for ln in own if ln.startswith("0::")), "/")
        base = _existing(where["unified"][0], path)
        enabled = (base / "cgroup.subtree_control")
        if enabled.exists() and {"pids", "memory"} <= set(enabled.read_text().split()):
            bases = {"unified": base}
    if len(bases) < 2 and "unified" not in bases:
        return {}
    return bases if all(os.access(b, os.W_OK) for b in bases.values()) else {}


def _existing(mountpoint: str, path: str) -> Path:
    """The cgroup directory of `path` under `mountpoint` (a container may see only its root)."""
    base = Path(mountpoint) / path.lstrip("/")
    return base if base.is_dir() else Path(mountpoint)


def _sweep_stale(base: Path) -> None:
    """Remove the empty cgroups of sandboxes whose process has died (killed, never closed)."""
    for d in base.glob(f"{PREFIX}-*"):
        try:
            pid = int(d.name.split("-")[2])
        except (IndexError, ValueError):
            continue
        if pid != os.getpid() and not Path(f"/proc/{pid}").exists():
            try:
                d.rmdir()
            except OSError:
                pass
