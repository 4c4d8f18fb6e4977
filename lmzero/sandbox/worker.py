"""One warm sandbox: a bwrap process running the harness server, spoken to over two pipes.

The parent trusts nothing that comes out of it: replies are length-prefixed JSON with the length
capped, read with a deadline (the job's wall clock plus a grace), and on any breach (too long,
too big, malformed, EOF) the whole sandbox is killed: first its init (the harness server, whose
host pid bwrap reports on --info-fd), which takes the whole pid namespace with it, then bwrap,
then whatever its cgroup still holds.
"""

from __future__ import annotations

import json
import os
import select
import signal
import struct
import subprocess
import time

from .cgroup import Cgroup
from .jobs import Limits

START_SECONDS = 20.0  # bwrap + interpreter start, generous for a loaded 2-core machine
GRACE_SECONDS = 2.0  # parent's wall clock = the job's + this (the server's own comes first)
SERVER_SLOTS = 2  # pids of the sandbox that are not the job's: bwrap's monitor and the server
SERVER_MB = 160  # memory for the server side of the sandbox, on top of the job's memory_mb
CGROUP_LAUNCH = ('IFS=:; for f in $LMZ_CGROUP_PROCS; do echo $$ > "$f" || exit 125; done; '
                 'unset LMZ_CGROUP_PROCS; exec "$@"')


class SandboxLost(RuntimeError):
    """The sandbox broke a rule of the protocol, died, or passed its deadline (killed)."""

    def __init__(self, reason: str, timed_out: bool = False):
        super().__init__(reason)
        self.timed_out = timed_out


class Worker:
    """One sandbox process, started on first use and restarted after it is lost."""

    def __init__(self, argv: list[str], limits: Limits, use_cgroup: bool, unsafe: bool):
        self.argv, self.limits, self.use_cgroup, self.unsafe = argv, limits, use_cgroup, unsafe
        self.proc: subprocess.Popen | None = None
        self.cgroup: Cgroup | None = None
        self.cgroup_problem = "" if use_cgroup else "not asked for"
        self.server_pid = 0
        self.seccomp = False
        self.starts = 0

    def start(self) -> None:
        argv, env = self.argv, {}
        if self.use_cgroup:
            self.cgroup, self.cgroup_problem = Cgroup.create(
                self.limits.processes + SERVER_SLOTS, (self.limits.memory_mb + SERVER_MB) << 20)
        info_r, info_w = os.pipe()  # bwrap says there the host pid of the sandbox's init
        if not self.unsafe:
            argv = [argv[0], "--info-fd", str(info_w), *argv[1:]]
        if self.cgroup is not None:
            argv = ["/bin/sh", "-c", CGROUP_LAUNCH, "sh", *argv]
            env = {"LMZ_CGROUP_PROCS": ":".join(self.cgroup.procs_files)}
        try:
            self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=subprocess.DEVNULL, env=env, cwd="/",
                                         start_new_session=True, pass_fds=(info_w,))
        finally:
            os.close(info_w)
        self.starts += 1
        os.set_blocking(self.proc.stdin.fileno(), False)
        try:
            hello = self._read_message(time.monotonic() + START_SECONDS, 4096)
            self.server_pid = self.proc.pid if self.unsafe else _child_pid(info_r)
        finally:
            os.close(info_r)
        self.seccomp = hello.get("seccomp") is True
        if not hello.get("ready") or not self.server_pid:
            self.kill()
            raise SandboxLost("the sandbox server did not start")

    def run(self, message: dict, cap: int) -> dict:
        """Send one job, return the server's reply; SandboxLost (sandbox killed) otherwise."""
        if self.proc is None or self.proc.poll() is not None:
            self.kill()
            self.start()
        deadline = time.monotonic() + self.limits.wall_seconds + GRACE_SECONDS
        data = json.dumps({**message, "deny_fork": self.fork_unbounded}).encode()
        try:
            self._write(struct.pack("!I", len(data)) + data, deadline)
            return self._read_message(deadline, cap)
        except SandboxLost:
            self.kill()
            raise

    def _write(self, data: bytes, deadline: float) -> None:
        fd, view = self.proc.stdin.fileno(), memoryview(data)
        while view:
            _, ready, _ = select.select([], [fd], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                raise SandboxLost("the sandbox stopped reading jobs", timed_out=True)
            try:
                view = view[os.write(fd, view):]
            except (BrokenPipeError, BlockingIOError) as e:
                if isinstance(e, BrokenPipeError):
                    raise SandboxLost("the sandbox closed its input") from None

    def _read_exact(self, n: int, deadline: float) -> bytes:
        fd, chunks = self.proc.stdout.fileno(), []
        while n:
            ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                raise SandboxLost("the job passed its wall clock limit", timed_out=True)
            data = os.read(fd, min(n, 1 << 20))
            if not data:
                raise SandboxLost("the sandbox died")
            chunks.append(data)
            n -= len(data)
        return b"".join(chunks)

    def _read_message(self, deadline: float, cap: int) -> dict:
        (size,) = struct.unpack("!I", self._read_exact(4, deadline))
        if size > cap:
            raise SandboxLost(f"the sandbox sent {size} bytes, over the cap of {cap}")
        try:
            message = json.loads(self._read_exact(size, deadline))
        except (ValueError, RecursionError):
            raise SandboxLost("the sandbox sent a malformed reply") from None
        if type(message) is not dict:
            raise SandboxLost("the sandbox sent a malformed reply")
        return message

    def kill(self) -> None:
        """Kill the whole sandbox (every process of it) and wait for it. The server (the pid
        namespace's init) goes first, so bwrap reaps it: no zombie is left to the host's init."""
        proc, self.proc = self.proc, None
        if proc is not None:
            if proc.poll() is None and self.server_pid:  # bwrap alive: the pid is still its child
                _kill(self.server_pid)
            try:
                proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                pass
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            for stream in (proc.stdin, proc.stdout):
                try:
                    stream.close()
                except OSError:
                    pass
            proc.wait()
        self.server_pid = 0
        if self.cgroup is not None:
            self.cgroup.kill()
            self.cgroup.remove()
            self.cgroup = None

    @property
    def fork_unbounded(self) -> bool:
        """No pids cgroup, and a host uid of 0 (the kernel does not enforce RLIMIT_NPROC for
        it): only the seccomp filter's refusal of fork can bound a fork bomb."""
        return self.cgroup is None and os.geteuid() == 0

    def stop(self) -> None:
        """End the sandbox gently (the server exits at EOF), or kill it after a moment."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.proc.stdin.close()
                self.proc.wait(timeout=1)
            except (OSError, subprocess.TimeoutExpired):
                pass
        self.kill()


def _child_pid(info_r: int) -> int:
    """The "child-pid" of bwrap's --info-fd JSON (written before the sandbox's command runs)."""
    os.set_blocking(info_r, False)
    try:
        info = json.loads(os.read(info_r, 4096) or b"{}")
        pid = info.get("child-pid") if type(info) is dict else None
    except (OSError, ValueError):
        return 0
    return pid if type(pid) is int and pid > 0 else 0


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
