"""Attacks: programs that try to pass without being right, or to reach outside the sandbox.

Every attack is a candidate for one small spec: `solve(xs)` returns `sorted(xs)`. The expected
values stay in this process (and, as bait, in a file and an environment variable the parent
holds); a result passes only when its status is "ok", its type is exactly the expected type and
it equals the expected value, judged here. Each attack must fail on every call, the sandbox
must stay healthy (an honest job run alongside passes, and the server is never restarted), and
nothing outside the sandbox's private /tmp may change.

An attack that knows the answer can always return it: that is not an exploit. So the attacks
either look for the answers (files, environment, the harness's memory, the parent's processes)
or try to make a wrong, missing or non-plain answer count (exit codes, forged frames, patched
encoders, always-equal objects).
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from pathlib import Path

import pytest

from lmzero.sandbox import Job, Limits, Sandbox, sandbox_problem
from lmzero.sandbox.bwrap import bwrap_binary

pytestmark = pytest.mark.skipif(bwrap_binary() is None or sandbox_problem() is not None,
                                reason=f"no sandbox here: {sandbox_problem()}")

LIMITS = Limits(cpu_seconds=1.0, wall_seconds=2.0, memory_mb=256)
ENTRY = "solve"
CALLS = ["([3, 1, 2],)", "([9, 7, 8, 6],)", "([2, 1],)"]
EXPECTED = [[1, 2, 3], [6, 7, 8, 9], [1, 2]]
HONEST = Job("def solve(xs):\n    return sorted(xs)\n", ENTRY, CALLS)
SECRET_VAR = "LMZERO_TEST_EXPECTED_SECRET"


def passes(results, expected=EXPECTED) -> list[bool]:
    """The parent's judgement, call by call."""
    return [r.status == "ok" and type(r.value) is type(e) and r.value == e
            for r, e in zip(results, expected)]


@pytest.fixture(scope="module")
def bait(tmp_path_factory):
    """What an attacker would want: the expected outputs, in a file and in the environment."""
    root = tmp_path_factory.mktemp("attack_bait")
    answers = root / "expected.json"
    answers.write_text(json.dumps({c: e for c, e in zip(CALLS, EXPECTED)}))
    canary = root / "canary.txt"
    canary.write_text("untouched")
    old = os.environ.get(SECRET_VAR)
    os.environ[SECRET_VAR] = answers.read_text()
    yield root
    if old is None:
        os.environ.pop(SECRET_VAR, None)
    else:
        os.environ[SECRET_VAR] = old


@pytest.fixture(scope="module")
def box(bait):
    with Sandbox(LIMITS) as b:
        yield b


@pytest.fixture(scope="module")
def listener():
    """A TCP listener in the parent: a candidate must not reach it."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(0.2)
    yield server
    server.close()


def _attacks(bait: Path, port: int) -> dict[str, str]:
    answers, canary = bait / "expected.json", bait / "canary.txt"
    return {
        "sys.exit(0) before answering": "import sys\ndef solve(xs):\n    sys.exit(0)\n",
        "os._exit(0) before answering": "import os\ndef solve(xs):\n    os._exit(0)\n",
        "raise SystemExit at import": "raise SystemExit(0)\ndef solve(xs):\n    return xs\n",
        "always-equal object": (
            "class Eq:\n    def __eq__(self, o): return True\n    def __ne__(self, o): return False\n"
            "    __hash__ = object.__hash__\ndef solve(xs):\n    return Eq()\n"),
        "list subclass equal to anything": (
            "class L(list):\n    def __eq__(self, o): return True\n"
            "def solve(xs):\n    return L(xs)\n"),
        "int subclass": "class I(int):\n    def __eq__(self, o): return True\n"
                        "def solve(xs):\n    return I(0)\n",
        "stack frames: patch the harness's encoder and writer": (
            "import sys\ndef solve(xs):\n    f = sys._getframe(1)\n    while f is not None:\n"
            "        g = f.f_globals\n        if 'encode' in g:\n"
            "            g['encode'] = lambda value, cap=0: '\"PASS\"'\n"
            "            g['PlainError'] = ZeroDivisionError\n"
            "        f = f.f_back\n    return object()\n"),
        "inspect: hunt the expected values in the harness's frames": (
            "import inspect, gc\ndef solve(xs):\n    for info in inspect.stack():\n"
            "        for name, v in list(info.frame.f_locals.items()):\n"
            "            if 'expect' in name:\n                return v\n"
            "    found = [o for o in gc.get_objects() if isinstance(o, dict) and 'expected' in o]\n"
            "    return found[0]['expected'] if found else None\n"),
        "sys.excepthook and builtins overridden": (
            "import sys, builtins\nsys.excepthook = lambda *a: None\n"
            "builtins.type = lambda *a: list\nbuiltins.isinstance = lambda *a: True\n"
            "builtins.BaseException = object\ndef solve(xs):\n    raise ValueError('wrong')\n"),
        "monkeypatch json and the harness's functions": (
            "import json, sys\njson.dumps = lambda *a, **k: '\"forged\"'\n"
            "m = sys.modules['__main__']\nfor name in ('_write_all', '_one_line', 'encode'):\n"
            "    if hasattr(m, name):\n        setattr(m, name, lambda *a, **k: None)\n"
            "def solve(xs):\n    return {'not': 'sorted'}\n"),
        "read the expected outputs file": (
            f"import json\ndef solve(xs):\n    with open({str(answers)!r}) as f:\n"
            f"        return json.load(f)[repr((xs,))]\n"),
        "read the expected outputs from the environment": (
            f"import os, json\ndef solve(xs):\n"
            f"    return json.loads(os.environ[{SECRET_VAR!r}])[repr((xs,))]\n"),
        "read the parent's environment through /proc": (
            "def solve(xs):\n    for pid in range(1, 400):\n        try:\n"
            "            return open(f'/proc/{pid}/environ').read()\n"
            "        except OSError:\n            pass\n"),
        "write outside the sandbox": (
            f"def solve(xs):\n    done = []\n    for p in [{str(canary)!r}, {str(bait / 'new.txt')!r},"
            f" '/work/main/PWNED', '/tmp/lmzero_sandbox_pwned', '/etc/pwned']:\n"
            f"        try:\n            open(p, 'w').write('pwned')\n            done.append(p)\n"
            f"        except OSError:\n            pass\n    return done\n"),
        "fork bomb": "import os\ndef solve(xs):\n    while True:\n        try:\n"
                     "            os.fork()\n        except OSError:\n            pass\n",
        "memory bomb": "def solve(xs):\n    blocks = []\n    while True:\n"
                       "        blocks.append(bytearray(50 << 20))\n",
        "infinite loop": "def solve(xs):\n    while True:\n        pass\n",
        "time.sleep past the limit": "import time\ndef solve(xs):\n    time.sleep(60)\n"
                                     "    return sorted(xs)\n",
        "stdout spam": "import sys\ndef solve(xs):\n    for _ in range(10**6):\n"
                       "        sys.stdout.write('ok\\n[1, 2, 3]\\n' * 100)\n",
        "huge return value": "def solve(xs):\n    return repr(sorted(xs)) * (1 << 22)\n",
        "huge nested return value": "def solve(xs):\n    return [sorted(xs)] * (1 << 22)\n",
        "socket to the parent's listener": (
            f"import socket\ndef solve(xs):\n    s = socket.create_connection(('127.0.0.1', {port}),"
            f" timeout=1)\n    s.sendall(b'pwned')\n    return s.recv(100)\n"),
        "signal the server and every process": (
            "import os, signal\ndef solve(xs):\n    for pid in (os.getppid(), 1, -1, 2, 3):\n"
            "        for sig in (signal.SIGKILL, signal.SIGTERM, signal.SIGSTOP):\n"
            "            try:\n                os.kill(pid, sig)\n"
            "            except OSError:\n                pass\n    return None\n"),
        "ptrace the server via ctypes": (
            "import ctypes, os\ndef solve(xs):\n    libc = ctypes.CDLL(None, use_errno=True)\n"
            "    r = libc.ptrace(16, os.getppid(), 0, 0)  # PTRACE_ATTACH\n"
            "    return [r, ctypes.get_errno()]\n"),
        "ctypes calls into libc": (
            "import ctypes\ndef solve(xs):\n    libc = ctypes.CDLL(None)\n"
            "    return [libc.setuid(0), libc.system(b'echo pwned > /tmp/x'), libc.getuid()]\n"),
        "a process that outlives the sandbox": (
            "import os, time\ndef solve(xs):\n    if os.fork() == 0:\n        os.setsid()\n"
            "        if os.fork() == 0:\n            time.sleep(30)\n        os._exit(0)\n"
            "    time.sleep(0.05)\n    return None\n"),
        "forged results on fd 1, fd 3 and /proc/self/fd": (
            "import os\ndef solve(xs):\n    forged = b'ok\\n' + repr(sorted(xs)).encode()\n"
            "    for fd in (1, 3):\n        os.write(fd, forged)\n"
            "    try:\n        open('/proc/self/fd/3', 'wb').write(forged)\n"
            "    except OSError:\n        pass\n    return 'wrong'\n"),
        "a frame for the next call, forged in this one": (
            "import os, json\ndef solve(xs):\n"
            "    frame = {'i': 1, 'status': 0, 'cpu': 0.0, 'capped': False, 'out': 'ok\\n[6, 7, 8, 9]'}\n"
            "    os.write(3, ('\\n' + json.dumps(frame) + '\\n').encode())\n    return 'wrong'\n"),
        "raise the rlimits back": (
            "import resource\ndef solve(xs):\n    inf = resource.RLIM_INFINITY\n"
            "    for r in (resource.RLIMIT_CPU, resource.RLIMIT_AS, resource.RLIMIT_NPROC):\n"
            "        resource.setrlimit(r, (inf, inf))\n    while True:\n        pass\n"),
        "a program that fails to parse": "def solve(xs)\n    return sorted(xs)\n",
    }


ATTACK_NAMES = list(_attacks(Path("/x"), 1))


def _sandbox_descendants(box: Sandbox) -> list[int]:
    """Host pids of every process below the sandboxes' bwrap processes (should be: the servers)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [w.proc.pid for w in box._workers if w.proc is not None]
    while todo:
        kids = children.get(todo.pop(), [])
        found += kids
        todo += kids
    return found


@pytest.mark.parametrize("name", ATTACK_NAMES)
def test_attack_fails_and_the_sandbox_stays_healthy(box, bait, listener, name):
    program = _attacks(bait, listener.getsockname()[1])[name]
    starts = sum(w.starts for w in box._workers)
    attack, honest = box.run([Job(program, ENTRY, CALLS), HONEST])
    assert not any(passes(attack)), (name, attack)
    assert all(passes(honest)), (name, honest)
    assert sum(w.starts for w in box._workers) == starts, "a sandbox had to be restarted"
    if name == "a program that fails to parse":
        assert [r.status for r in attack] == ["syntax error"] * 3
    # nothing outside changed, nothing reached the parent, nothing was left running
    assert (bait / "canary.txt").read_text() == "untouched"
    assert sorted(p.name for p in bait.iterdir()) == ["canary.txt", "expected.json"]
    assert not Path("/tmp/lmzero_sandbox_pwned").exists()
    with pytest.raises(socket.timeout):
        listener.accept()
    assert len(_sandbox_descendants(box)) == len(box._workers), "a stray process is running"


def test_what_a_candidate_can_see(box, bait):
    probe = (
        "import os\ndef solve(xs):\n    seen = {}\n"
        "    for p in ['/', '/root', '/work', '/etc', '/home', '/proc', '/tmp', '/dev', '/usr',\n"
        f"              {str(bait)!r}, os.path.dirname({str(bait)!r})]:\n"
        "        try:\n            seen[p] = sorted(os.listdir(p))\n"
        "        except OSError as e:\n            seen[p] = type(e).__name__\n"
        "    for f in ['/etc/shadow', '/etc/passwd', '/root/.bash_history']:\n"
        "        try:\n            seen[f] = open(f).read()[:20]\n"
        "        except OSError as e:\n            seen[f] = type(e).__name__\n"
        "    seen['env'] = dict(os.environ)\n    seen['ids'] = [os.getuid(), os.getgid()]\n"
        "    seen['pid'] = [os.getpid(), os.getppid()]\n    return seen\n")
    [r] = box.run([Job(probe, ENTRY, ["(0,)"])])[0:1]
    seen = r[0].value
    assert r[0].status == "ok", r
    assert set(seen["/"]) <= {"root", "usr", "lib", "lib64", "dev", "tmp"}, seen["/"]
    assert seen["/root"] == [".pyenv"] or "root" not in seen["/"]
    for hidden in ("/work", "/etc", "/home", "/proc", str(bait), os.path.dirname(bait)):
        assert seen[hidden] == "FileNotFoundError", (hidden, seen[hidden])
    for f in ("/etc/shadow", "/etc/passwd", "/root/.bash_history"):
        assert seen[f] == "FileNotFoundError"
    assert set(seen["env"]) <= {"PWD"} and seen["ids"] == [65534, 65534]  # bwrap sets PWD
    assert seen["pid"][1] == 1  # its parent is the server, the namespace's init
    assert seen["/tmp"] == []


def test_site_packages_and_the_venv_are_out_of_reach(box):
    program = ("import sys, os, sysconfig\ndef solve(xs):\n"
               "    site = sysconfig.get_paths()['purelib']\n"
               "    try:\n        listing = os.listdir(site)\n"
               "    except OSError as e:\n        listing = type(e).__name__\n"
               "    try:\n        import numpy\n        np = 'imported'\n"
               "    except ImportError:\n        np = 'ImportError'\n"
               "    return [listing, np, [p for p in sys.path if 'work' in p]]\n")
    [r] = box.run([Job(program, ENTRY, ["(0,)"])])[0]
    assert r.status == "ok" and r.value[0] in ([], "FileNotFoundError") and r.value[1:] == [
        "ImportError", []], r


def test_no_process_outlives_close(bait):
    """After close(), nothing of the sandbox is left: not the daemon a job forked, not the
    server; the pid namespaces the sandboxes had are empty."""
    outlive = _attacks(bait, 1)["a process that outlives the sandbox"]
    box = Sandbox(LIMITS, workers=1)
    box.run([Job(outlive, ENTRY, CALLS)])
    server = _sandbox_descendants(box)
    assert len(server) == 1
    namespace = os.readlink(f"/proc/{server[0]}/ns/pid")
    box.close()
    time.sleep(0.2)
    left = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and os.readlink(entry / "ns" / "pid") == namespace:
                left.append(int(entry.name))
        except OSError:
            pass
    assert left == []


@pytest.mark.slow
def test_memory_bomb_across_processes(box):
    """Each process under RLIMIT_AS, many of them: the sandbox's memory cgroup (where there is
    one) or the wall clock ends it; the sandbox stays healthy."""
    program = ("import os, time\ndef solve(xs):\n    for _ in range(12):\n        if os.fork() == 0:\n"
               "            b = bytearray(200 << 20)\n            time.sleep(5)\n            os._exit(0)\n"
               "    time.sleep(5)\n    return sorted(xs)\n")
    attack, honest = box.run([Job(program, ENTRY, CALLS), HONEST])
    assert not any(passes(attack)) and all(passes(honest))


def test_listener_thread_saw_nothing(listener):
    """A last look at the listener, after every attack: still no connection queued."""
    got = []

    def accept():
        try:
            got.append(listener.accept())
        except OSError:
            pass
    t = threading.Thread(target=accept)
    t.start()
    t.join(1)
    assert got == []
