"""Run model-written programs where they can do no harm, and judge them from outside.

    Job(program, entry_point, calls) ──► Sandbox.run ──► warm bwrap sandbox (one per core)
                                                          server (pid 1) ─► one runner per call
    list[CallResult(status, value)] ◄── verdict.py ◄── frames: index, exit status, CPU, bytes

A candidate runs only inside bubblewrap (bwrap.py: new user/pid/net/ipc/uts namespaces, a
read-only view of the base interpreter, private /tmp, uid 65534), one process per call with
rlimits and a seccomp filter (harness.py, seccomp.py), under a pids + memory cgroup where the
machine allows one (cgroup.py). What comes back is plain data only (plain.py), decoded in the
parent (verdict.py); callers compare `value` with what they expect: expected values never enter
the sandbox.

    >>> from lmzero.sandbox import Sandbox, Job
    >>> with Sandbox() as box:                                   # doctest: +SKIP
    ...     [r] = box.run([Job("def f(a, b): return a + b", "f", ["(1, 2)"])])
    >>> r[0].status, r[0].value                                  # doctest: +SKIP
    ('ok', 3)
"""

from .bwrap import sandbox_problem
from .jobs import STATUSES, CallResult, Job, Limits
from .plain import PlainError
from .sandbox import Sandbox, SandboxUnavailable

__all__ = ["Sandbox", "Limits", "Job", "CallResult", "SandboxUnavailable", "sandbox_problem",
           "STATUSES", "PlainError"]
