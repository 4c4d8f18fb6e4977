"""What goes into the sandbox and what comes out: limits, jobs, and one result per call."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

STATUSES = ("ok", "error", "timeout", "crash", "no result", "syntax error", "bad value")


@dataclass
class Limits:
    """Resource limits for one candidate program (one Job), enforced per job by the sandbox."""

    cpu_seconds: float = 2.0
    """CPU time of the whole job, all calls together (RLIMIT_CPU per call process, set to what is
    left of the budget, rounded up to whole seconds; the use is summed after each call)."""
    wall_seconds: float = 4.0
    """Wall-clock time of the whole job (sleeping counts): past it, every process of the job is
    killed and the calls not yet answered are "timeout"."""
    memory_mb: int = 512
    """Address space of each process the candidate runs (RLIMIT_AS); also the sandbox's memory
    cgroup, plus room for the server, where the machine allows cgroups."""
    processes: int = 16
    """Processes and threads of a job (RLIMIT_NPROC; the sandbox's pids cgroup where allowed;
    where neither holds, i.e. no cgroup and a host uid of 0, the seccomp filter refuses fork)."""
    file_mb: int = 8
    """Largest file a candidate may write (RLIMIT_FSIZE) in its private /tmp."""
    open_files: int = 64
    """Open file descriptors per process (RLIMIT_NOFILE)."""
    output_bytes: int = 1 << 20
    """Encoded result data of one job, all calls together; a call past it is "bad value" and the
    rest are "no result". The candidate's own stdout/stderr are discarded, never read."""

    def __post_init__(self):
        for name in ("cpu_seconds", "wall_seconds", "memory_mb", "processes", "file_mb",
                     "open_files", "output_bytes"):
            if not getattr(self, name) > 0:
                raise ValueError(f"Limits.{name} must be > 0, got {getattr(self, name)!r}")
        if self.open_files < 8:
            raise ValueError(f"Limits.open_files must be >= 8 (Python needs a few), "
                             f"got {self.open_files}")
        if self.memory_mb < 64:
            raise ValueError(f"Limits.memory_mb must be >= 64 (the interpreter alone maps "
                             f"~30 MB), got {self.memory_mb}")

    def as_message(self) -> dict:
        return asdict(self)


@dataclass
class Job:
    """One candidate program and the calls to make of its entry point."""

    program: str
    """Untrusted, model-written source."""
    entry_point: str
    """Name of the function the program must define."""
    calls: list[str] = field(default_factory=list)
    """Each: source of a Python expression giving the TUPLE of positional arguments, e.g.
    "([1, 2, 3], 2)" or "('abc',)"; trusted test data, evaluated inside the sandbox before the
    program runs (it may use names defined by `setup`)."""
    setup: str = ""
    """Trusted prelude run before the program, in the namespace the program then runs in
    (imports, helper definitions)."""


@dataclass
class CallResult:
    """The outcome of one call; `value` is plain data decoded in the parent, only when "ok"."""

    status: str
    """One of STATUSES: "ok" | "error" (the call raised) | "timeout" | "crash" | "no result" |
    "syntax error" | "bad value" (the return value is not plain data, or too large)."""
    value: Any = None
    detail: str = ""
    """One line: exception type and message, signal, limit reached, ..."""

    @property
    def ok(self) -> bool:
        return self.status == "ok"
