"""The fork server that runs inside the sandbox: stdlib only, and never runs a candidate itself.

Its source follows plain.py's in one `python -I -S -c` program (see bwrap.py), so it imports
nothing of lmzero. Two kinds of process:

    server   pid 1 of the sandbox's pid namespace (`bwrap --as-pid-1`): reads jobs on fd 0,
             writes one reply per job on fd 1 (length-prefixed JSON). As a namespace's init it
             cannot be killed from inside (the kernel drops signals a process of the namespace
             sends it, SIGKILL included); it is non-dumpable, so no candidate can ptrace it or
             read its memory; it never touches untrusted input (not even to compile it).
    runner   one per call, forked by the server: closes every fd but its own fresh result pipe,
             sends stdout/stderr to /dev/null, drops capabilities, sets the rlimits, runs the
             trusted setup, compiles and runs the program, calls the entry point on the call's
             arguments, and writes `status\npayload` (the return value encoded by plain.py).

After each call the server kills every process in the sandbox but itself (`kill(-1)` from pid 1:
a candidate's double-forked daemon never sees the next call) and, after each job, empties /tmp
and /dev/shm.
It writes one frame per call, in order: the call's index, the runner's wait status and CPU time,
and the runner's bytes verbatim. Those bytes are untrusted: the parent decodes them strictly and
decides the verdict. A candidate shapes only the bytes of its own call (its pipe is fresh per call,
the frame around it is the server's), so anything it forges there is no more than a return value.
The server enforces each job's wall clock, CPU budget and output cap; the parent enforces a wall
clock of its own over the whole sandbox.
"""

import builtins
import ctypes
import gc
import json
import math
import os
import resource
import select
import shutil
import signal
import struct
import sys
import time

if __package__:  # imported by the parent (docs, tests); in the sandbox plain.py's and
    from .plain import PlainError, encode  # seccomp.py's sources precede this one
    from .seccomp import install_seccomp, seccomp_program, seccomp_supported

PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_NO_NEW_PRIVS = 38
CAP_VERSION_3 = 0x20080522  # _LINUX_CAPABILITY_VERSION_3: two 32-bit words per set
RESULT_FD = 3  # each runner's output pipe is moved here
# imported once by the server, so a candidate's `from typing import List` is a dict lookup in
# each runner rather than ~5 ms of import per call (random reseeds itself in each fork)
PRELOAD = ("typing", "collections", "itertools", "functools", "math", "cmath", "re", "heapq",
           "bisect", "string", "operator", "copy", "fractions", "decimal", "statistics",
           "datetime", "random", "dataclasses", "enum", "hashlib", "array", "abc", "numbers",
           "textwrap", "unicodedata")
_LIBC = ctypes.CDLL(None, use_errno=True)
_MACHINE = os.uname().machine
_SECCOMP = {"works": False}  # set by serve() from a trial in a child


# ---------------------------------------------------------------- process hygiene


def _prctl(option: int, arg: int) -> None:
    _LIBC.prctl(ctypes.c_int(option), ctypes.c_ulong(arg), ctypes.c_ulong(0),
                ctypes.c_ulong(0), ctypes.c_ulong(0))


def _drop_capabilities() -> None:
    """No capabilities and no_new_privs (which the seccomp filter needs). bwrap already leaves a
    uid-65534 process none; this holds wherever the harness runs (unsafe mode included)."""
    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                    ("inheritable", ctypes.c_uint32)]
    _LIBC.capset(ctypes.byref(Header(CAP_VERSION_3, 0)), ctypes.byref((Data * 2)()))
    _prctl(PR_SET_NO_NEW_PRIVS, 1)


def _only_fds(keep: int) -> None:
    """fds 0-2 on /dev/null, `keep` moved to RESULT_FD, every other fd closed."""
    null = os.open("/dev/null", os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    if keep != RESULT_FD:
        os.dup2(keep, RESULT_FD)
    os.closerange(RESULT_FD + 1, 1 << 20)  # close_range(2): cheap however high the bound


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _kill_leftovers(runner: int, sandboxed: bool) -> None:
    """After a call: kill what the runner left running. As the sandbox's init, that is every
    other process of the sandbox; unsandboxed (where kill(-1) would reach far more than the job)
    only the runner's process group."""
    try:
        os.killpg(runner, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    if not sandboxed or os.getpid() != 1:
        return
    try:
        os.kill(-1, signal.SIGKILL)
    except ProcessLookupError:
        return
    while True:
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            return


# ---------------------------------------------------------------- runner: one call


def _runner(job: dict, i: int, cpu_s: int, out_cap: int, pipe_w: int):
    """Run call i of the job in this fresh process and write its one result."""
    try:
        _only_fds(pipe_w)
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # dies with the server (matters unsandboxed)
        _drop_capabilities()
        _prctl(PR_SET_DUMPABLE, 0)
        os.setpgid(0, 0)
        limits, mb = job["limits"], 1 << 20
        for res, value in ((resource.RLIMIT_CPU, (cpu_s, cpu_s + 1)),
                           (resource.RLIMIT_AS, (limits["memory_mb"] * mb,) * 2),
                           (resource.RLIMIT_NPROC, (limits["processes"],) * 2),
                           (resource.RLIMIT_FSIZE, (limits["file_mb"] * mb,) * 2),
                           (resource.RLIMIT_NOFILE, (limits["open_files"],) * 2),
                           (resource.RLIMIT_CORE, (0, 0))):
            resource.setrlimit(res, value)
        if _SECCOMP["works"] and not install_seccomp(_MACHINE, job["deny_fork"], _LIBC):
            raise OSError("the seccomp filter could not be installed")
        message = _call(job, i, out_cap)
    except BaseException as e:  # SystemExit and KeyboardInterrupt too: the call did not return
        message = b"error\n" + _one_line(e).encode("utf-8", "replace")
    try:
        _write_all(RESULT_FD, message[:out_cap + 16])
    finally:
        os._exit(0)


def _call(job: dict, i: int, out_cap: int) -> bytes:
    setup_ns = {"__name__": "__main__", "__builtins__": builtins}
    try:
        exec(compile(job["setup"], "<setup>", "exec"), setup_ns)
    except BaseException as e:
        return b"error\nsetup failed: " + _one_line(e).encode("utf-8", "replace")
    try:
        code = compile(job["program"], "<candidate>", "exec")
    except BaseException as e:  # SyntaxError, ValueError (NUL bytes), RecursionError, ...
        return b"syntax error\n" + _one_line(e).encode("utf-8", "replace")
    args = eval(job["calls"][i], dict(setup_ns))  # trusted test data, before the candidate runs
    if type(args) is not tuple:
        raise TypeError(f"test arguments must be a tuple, got {type(args).__name__}")
    program_ns = dict(setup_ns)
    exec(code, program_ns)
    fn = program_ns.get(job["entry_point"])
    if not callable(fn):
        raise NameError(f"the program defines no function {job['entry_point']!r}")
    value = fn(*args)
    try:
        return b"ok\n" + encode(value, out_cap).encode()
    except PlainError as e:
        return b"bad value\n" + _one_line(e).encode()


def _one_line(e: BaseException) -> str:
    try:
        text = f"{type(e).__name__}: {e}"
    except BaseException:
        text = "an exception that cannot be printed"
    return " ".join(text[:300].split())


# ---------------------------------------------------------------- server: one job


def _run_job(job: dict, sandboxed: bool) -> dict:
    """Run every call of one job, one runner each, within the job's budgets: one frame per call."""
    limits, frames = job["limits"], []
    deadline = time.monotonic() + limits["wall_seconds"]
    cpu_used, out_left, syntax_error = 0.0, limits["output_bytes"], False
    for i in range(len(job["calls"])):
        cpu_left = limits["cpu_seconds"] - cpu_used
        skip = ("syntax" if syntax_error else "wall" if time.monotonic() >= deadline
                else "cpu" if cpu_left <= 0.01 else "output" if out_left <= 0 else None)
        if skip:
            frames.append({"i": i, "skipped": skip})
            continue
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            _runner(job, i, math.ceil(cpu_left), out_left, w)
        os.close(w)
        out, status, cpu, late = _collect_runner(r, pid, out_left, deadline)
        _kill_leftovers(pid, sandboxed)
        cpu_used += cpu
        if os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGXCPU:
            cpu_used = max(cpu_used, limits["cpu_seconds"])  # rusage may read a hair under
        if late:
            frames.append({"i": i, "skipped": "wall"})
            continue
        syntax_error = out.startswith(b"syntax error\n")
        frames.append({"i": i, "status": status, "cpu": cpu, "capped": len(out) > out_left + 16,
                       "out": out.decode("latin-1")})
        out_left -= len(out)
    if sandboxed:
        _empty_tmp()
    return {"frames": frames}


def _collect_runner(r: int, pid: int, cap: int, deadline: float):
    """(the runner's bytes, at most cap + 17; its wait status; its CPU seconds; whether it was
    killed at the wall clock). Reads until EOF or the runner's exit, whichever comes first (a
    daemon it forked may hold the pipe open)."""
    chunks, size, status, usage, late = [], 0, None, None, False
    while status is None:
        left = deadline - time.monotonic()
        if left <= 0 and not late:
            os.kill(pid, signal.SIGKILL)
            late = True
        ready, _, _ = select.select([r], [], [], min(0.05, max(left, 0.0)))
        if ready:
            data = os.read(r, 1 << 16)
            if data:
                chunks.append(data)
                size += len(data)
                if size > cap + 16:
                    os.kill(pid, signal.SIGKILL)
                continue
        done, st, ru = os.wait4(pid, 0 if ready or late else os.WNOHANG)  # EOF: ending
        if done:
            status, usage = st, ru
    os.set_blocking(r, False)
    try:  # what the runner wrote just before it exited
        while size <= cap + 16 and (data := os.read(r, 1 << 16)):
            chunks.append(data)
            size += len(data)
    except BlockingIOError:
        pass
    os.close(r)
    return b"".join(chunks)[:cap + 17], status, usage.ru_utime + usage.ru_stime, late


def _empty_tmp() -> None:
    """Empty the sandbox's writable places, so nothing passes from one job to the next."""
    for entry in [*os.scandir("/tmp"), *os.scandir("/dev/shm")]:
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path, ignore_errors=True)
        else:
            try:
                os.unlink(entry.path)
            except OSError:
                pass


def _seccomp_works() -> bool:
    """Whether a child can install the filter here (kernel support, architecture)."""
    if not seccomp_supported(_MACHINE):
        return False
    pid = os.fork()
    if pid == 0:
        _prctl(PR_SET_NO_NEW_PRIVS, 1)
        os._exit(0 if install_seccomp(_MACHINE, True, _LIBC) else 1)
    for deny_fork in (False, True):  # built once here, so each runner only installs one
        seccomp_program(_MACHINE, deny_fork)
    return os.waitpid(pid, 0)[1] == 0


def _read_exact(n: int) -> bytes:
    chunks = []
    while n:
        data = os.read(0, min(n, 1 << 20))
        if not data:
            raise EOFError
        chunks.append(data)
        n -= len(data)
    return b"".join(chunks)


def _send(message: dict) -> None:
    data = json.dumps(message).encode()
    _write_all(1, struct.pack("!I", len(data)) + data)


def serve(sandboxed: bool) -> None:
    """Answer jobs until the parent closes fd 0."""
    if sandboxed and (os.getuid() != 65534 or os.getpid() != 1):
        # kill(-1) and emptying /tmp are only for bwrap's own namespaces: never on a host
        raise SystemExit("serve(sandboxed=True) outside bwrap's namespaces")
    _prctl(PR_SET_DUMPABLE, 0)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    _SECCOMP["works"] = _seccomp_works()
    for name in PRELOAD:
        try:
            __import__(name)
        except ImportError:
            pass
    gc.freeze()  # runners' collections skip the server's objects: fewer copy-on-write faults
    _send({"ready": True, "python": sys.version.split()[0], "seccomp": _SECCOMP["works"]})
    while True:
        try:
            job = json.loads(_read_exact(struct.unpack("!I", _read_exact(4))[0]))
        except EOFError:
            return
        _send(_run_job(job, sandboxed))
