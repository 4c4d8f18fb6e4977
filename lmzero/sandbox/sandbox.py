"""Sandbox: run many candidate programs, batched, through a pool of warm bwrap sandboxes.

Why a pool of warm fork servers: starting bwrap + an interpreter costs tens of ms (hundreds on a
loaded machine), more than a small candidate's whole run, so each sandbox starts once and then
forks one fresh process per call (harness.py): ~2 ms here, and no state, fd or leftover process
passes from one call to the next. One job at a time per sandbox keeps the failure story short: a
sandbox that dies or passes the parent's wall clock loses only its one job, which is retried once
in a fresh sandbox (after a death) or marked "timeout" (after the wall clock). One sandbox per
core gives the parallelism; `run` hands the jobs out in order and puts the results back in order.
"""

from __future__ import annotations

import os
import sys
import threading
import warnings
import weakref
from concurrent.futures import ThreadPoolExecutor
from typing import Sequence

from .bwrap import base_python, bwrap_argv, bwrap_binary, sandbox_problem, server_argv
from .jobs import CallResult, Job, Limits
from .verdict import call_results
from .worker import SandboxLost, Worker


class SandboxUnavailable(RuntimeError):
    """No sandbox can be made here; the message says why, in one line."""


def default_workers() -> int:
    """One sandbox per usable core, at most 8."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return max(1, min(cores, 8))


class Sandbox:
    """Runs Jobs in bubblewrap sandboxes; `run` returns one CallResult list per job.

    `unsafe=True` runs the same harness without bwrap (rlimits and a pid namespace where the
    kernel allows one, but the host's files, network and environment in reach): only for
    trusted programs or machines without user namespaces, never for model-written code you
    have not read.
    """

    def __init__(self, limits: Limits | None = None, *, unsafe: bool = False,
                 workers: int | None = None, cgroups: bool = True):
        if workers is not None and workers < 1:
            raise ValueError(f"Sandbox(workers=...) must be >= 1 (or None: one per core), "
                             f"got {workers}")
        self.limits = limits or Limits()
        self.unsafe = unsafe
        if unsafe:
            warnings.warn("Sandbox(unsafe=True): candidate programs run WITHOUT bwrap isolation "
                          "(rlimits only)", RuntimeWarning, stacklevel=2)
            argv = server_argv(base_python(), sandboxed=False)
        else:
            problem = sandbox_problem()
            if problem is not None:
                raise SandboxUnavailable(f"{problem} (Sandbox(unsafe=True) runs without one)")
            argv = bwrap_argv(bwrap_binary(), tmp_mb=max(16, 4 * self.limits.file_mb))
        n = workers or default_workers()
        self._workers = [Worker(argv, self.limits, cgroups and not unsafe, unsafe)
                         for _ in range(n)]
        self._pool = ThreadPoolExecutor(n, thread_name_prefix="sandbox")
        self._lock = threading.Lock()
        self._closed = False
        self._finalizer = weakref.finalize(self, _shutdown, self._workers, self._pool)
        try:
            list(self._pool.map(Worker.start, self._workers))
        except (SandboxLost, OSError) as e:
            self.close()
            raise SandboxUnavailable(f"the sandbox did not start: {e}") from None

    def run(self, jobs: Sequence[Job]) -> list[list[CallResult]]:
        """One list of CallResults per job (one per call, in order); thread-safe."""
        for job in jobs:
            _check_job(job)
        with self._lock:
            if self._closed:
                raise RuntimeError("Sandbox.run after close()")
            results: list = [None] * len(jobs)
            order = iter(range(len(jobs)))
            take = threading.Lock()

            def drain(worker: Worker) -> None:
                while True:
                    with take:
                        i = next(order, None)
                    if i is None:
                        return
                    results[i] = self._run_one(worker, jobs[i])

            for future in [self._pool.submit(drain, w) for w in self._workers]:
                future.result()
            return results

    def _run_one(self, worker: Worker, job: Job) -> list[CallResult]:
        n = len(job.calls)
        if n == 0:
            return []
        message = {"program": job.program, "entry_point": job.entry_point,
                   "calls": list(job.calls), "setup": job.setup,
                   "limits": self.limits.as_message()}
        cap = 16 * self.limits.output_bytes + 1024 * n + (1 << 16)
        for attempt in range(2):
            try:
                return call_results(worker.run(message, cap), n, self.limits)
            except (SandboxLost, OSError) as e:
                if getattr(e, "timed_out", False):
                    return [CallResult("timeout", detail=f"wall clock limit "
                                       f"{self.limits.wall_seconds} s (sandbox killed)")] * n
                if attempt == 1:
                    return [CallResult("crash", detail=f"sandbox lost twice: {e}")] * n
        raise AssertionError("unreachable")

    def report(self) -> str:
        """What isolation this sandbox has, and what it lacks, in a few lines."""
        w = self._workers[0]
        if self.unsafe:
            lines = ["UNSAFE: no bwrap; rlimits only (the host's files, network and environment "
                     "are in reach of the candidate)"]
        else:
            lines = [f"bwrap {bwrap_binary()}: new user (uid 65534), pid, network, ipc, uts, "
                     f"cgroup namespaces; read-only interpreter and stdlib; private /tmp"]
        lines.append(f"interpreter {base_python()} (python {sys.version.split()[0]}), "
                     f"{len(self._workers)} warm sandboxes")
        lines.append("server: " + ("pid 1 of the sandbox (unkillable from inside, non-dumpable); "
                                   "every other process is killed after each call"
                                   if not self.unsafe else "an ordinary child process; after each "
                                   "call only the runner's process group is killed"))
        lines.append("cgroup pids + memory limits: " + (
            f"yes ({', '.join(str(d) for d in w.cgroup.dirs)})" if w.cgroup is not None else
            f"no: {w.cgroup_problem or 'not made'}"))
        if w.seccomp:
            lines.append("seccomp: yes (ptrace, mount, unshare, keyctl, bpf, io_uring, ... "
                         "refused)" + ("; fork refused too: nothing else bounds processes here "
                                       "(no pids cgroup, host uid 0)" if w.fork_unbounded else ""))
        else:
            lines.append("seccomp: no (not supported here); " + (
                "RLIMIT_NPROC is not enforced for a host uid of 0 and there is no pids cgroup, "
                "so a fork bomb is bounded only by the wall clock" if w.fork_unbounded else
                "processes are bounded by RLIMIT_NPROC / the pids cgroup"))
        return "\n".join(lines)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._finalizer()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _shutdown(workers: list[Worker], pool: ThreadPoolExecutor) -> None:
    for w in workers:
        if w.proc is not None and w.proc.stdin is not None:
            try:
                w.proc.stdin.close()  # every server sees EOF at once, then each is waited for
            except OSError:
                pass
    for w in workers:
        w.stop()
    pool.shutdown(wait=False)


def _check_job(job: Job) -> None:
    if not (isinstance(job.program, str) and isinstance(job.entry_point, str)
            and isinstance(job.setup, str)
            and isinstance(job.calls, (list, tuple))
            and all(isinstance(c, str) for c in job.calls)):
        raise TypeError("Job(program: str, entry_point: str, calls: list[str], setup: str), "
                        f"got {job!r:.200}")
