"""The sandbox's behaviour: values come back exactly, failures are named, limits hold, order is kept.

The attacks (programs trying to pass without being right, or to reach outside) are in
test_sandbox_attacks.py.
"""

from __future__ import annotations

import math
import os
import signal
import threading
import time

import pytest

from lmzero.sandbox import (CallResult, Job, Limits, PlainError, Sandbox, SandboxUnavailable,
                            sandbox_problem)
from lmzero.sandbox import plain
from lmzero.sandbox import sandbox as sandbox_module
from lmzero.sandbox.bwrap import bwrap_binary
from lmzero.sandbox.verdict import call_results
from lmzero.sandbox.worker import GRACE_SECONDS

pytestmark = pytest.mark.skipif(bwrap_binary() is None or sandbox_problem() is not None,
                                reason=f"no sandbox here: {sandbox_problem()}")

LIMITS = Limits(cpu_seconds=1.0, wall_seconds=2.0, memory_mb=256)
IDENTITY = "def f(x):\n    return x\n"


@pytest.fixture(scope="module")
def box():
    with Sandbox(LIMITS) as b:
        yield b


def same(a, b) -> bool:
    """Equal, with exactly the same types all the way down (NaN equal to NaN)."""
    if type(a) is not type(b):
        return False
    if type(a) is float and math.isnan(a):
        return math.isnan(b)
    if type(a) in (list, tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if type(a) is dict:
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return a == b


def run1(box, program: str, calls: list[str], setup: str = "", entry: str = "f"):
    return box.run([Job(program, entry, calls, setup)])[0]


# ---------------------------------------------------------------- values


PLAIN_VALUES = ["None", "True", "False", "0", "-7", "2**200", "-(3**100)", "1.5", "-0.0",
                "1e308", "float('nan')", "float('inf')", "-float('inf')", "''", "'héllo ☃'",
                "'\\ud800 lone surrogate'", "'\\x00\\n\"'", "b''", "b'\\x00\\xff'", "[]", "()",
                "{}", "set()", "frozenset()", "[1, [2, [3, (4, 5)]]]", "(1,)",
                "{1: 'a', (2, 3): [None], 'k': {'n': 1.25}}", "{1, 2, 'x', (3,)}",
                "frozenset({'a', frozenset({1})})", "{True: b'x', None: set()}"]


def test_plain_values_come_back_exactly(box):
    results = run1(box, IDENTITY, [f"({v},)" for v in PLAIN_VALUES])
    for source, r in zip(PLAIN_VALUES, results):
        assert r.status == "ok", (source, r)
        assert same(r.value, eval(source)), (source, r.value)


@pytest.mark.parametrize("program", [
    "def f(): return object()",
    "class I(int): pass\ndef f(): return I(3)",
    "class E:\n    def __eq__(self, o): return True\ndef f(): return E()",
    "def f(): return (x for x in [1])",
    "def f(): return 1j",
    "def f(): return bytearray(b'x')",
    "import collections\ndef f(): return collections.OrderedDict(a=1)",
    "def f():\n    l = []\n    l.append(l)\n    return l",
    "def f():\n    v = 0\n    for _ in range(200): v = [v]\n    return v",
    "def f(): return [1, 2, {'a': f}]",
])
def test_values_that_are_not_plain_data_are_bad(box, program):
    [r] = run1(box, program, ["()"])
    assert r.status == "bad value" and r.value is None, r


def test_plain_decode_refuses_what_encode_cannot_write():
    for text in ['{"t": 1}', '{"x": []}', '{"s": [[1]]}', '{"d": [[[1], 2]]}', '{"t": [], "s": []}',
                 '{"y": "zz"}', '{"f": "1.5"}', "[" * 100 + "]" * 100, "NaN", "[1,", ""]:
        with pytest.raises(PlainError):
            plain.decode(text)
    assert plain.decode(plain.encode(-0.0)) == 0.0 and math.copysign(1, plain.decode("-0.0")) < 0


# ---------------------------------------------------------------- statuses


def test_raising_call_is_error_and_others_still_run(box):
    program = "def f(x):\n    return 10 // x\n"
    r = run1(box, program, ["(2,)", "(0,)", "(5,)"])
    assert [x.status for x in r] == ["ok", "error", "ok"]
    assert r[0].value == 5 and r[2].value == 2
    assert r[1].detail.startswith("ZeroDivisionError") and r[1].value is None


def test_syntax_error_for_every_call(box):
    r = run1(box, "def f(x) return x", ["(1,)", "(2,)", "(3,)"])
    assert [x.status for x in r] == ["syntax error"] * 3
    assert "SyntaxError" in r[0].detail
    [r] = run1(box, "def f(x):\n    return x\x00", ["(1,)"])  # NUL byte: ValueError at compile
    assert r.status == "syntax error"


def test_exception_at_import_and_missing_entry_point_are_errors(box):
    [a] = run1(box, "raise KeyError('boom')\ndef f(): return 1", ["()"])
    [b] = run1(box, "def g(): return 1", ["()"])
    [c] = run1(box, "f = 3", ["()"])
    assert a.status == "error" and "KeyError" in a.detail
    assert b.status == c.status == "error" and "no function 'f'" in b.detail


def test_setup_names_are_visible_to_program_and_calls(box):
    setup = "import math\nK = 7\ndef helper(x):\n    return x * K\n"
    program = "def f(x, y):\n    return helper(x) + math.floor(y)\n"
    r = run1(box, program, ["(1, 2.5)", "(K, K)"], setup=setup)
    assert [x.value for x in r] == [9, 56]
    [bad] = run1(box, IDENTITY, ["(1,)"], setup="raise RuntimeError('bad setup')")
    assert bad.status == "error" and "setup failed" in bad.detail


def test_arguments_are_evaluated_fresh_per_call(box):
    program = "def f(xs):\n    xs.append(1)\n    return len(xs)\n"
    r = run1(box, program, ["(SHARED,)", "(SHARED,)"], setup="SHARED = []")
    assert [x.value for x in r] == [1, 1]  # each call gets a fresh process and fresh arguments


def test_exits_are_not_results(box):
    cases = {"import sys\ndef f(): sys.exit(0)": "error",
             "def f(): raise SystemExit(0)": "error",
             "import os\ndef f(): os._exit(0)": "no result",
             "import os\ndef f(): os._exit(1)": "crash",
             "def f(): raise KeyboardInterrupt": "error"}
    results = box.run([Job(p, "f", ["()"]) for p in cases])
    assert [r[0].status for r in results] == list(cases.values())


def test_a_call_that_kills_its_own_process_is_a_crash_and_the_sandbox_survives(box):
    program = "import os, signal\ndef f(x):\n    os.kill(os.getpid(), signal.SIGKILL)\n"
    r = run1(box, program, ["(1,)", "(2,)"])
    assert [x.status for x in r] == ["crash", "crash"] and "SIGKILL" in r[0].detail
    segv = "import ctypes\ndef f():\n    ctypes.string_at(0)\n"
    [s] = run1(box, segv, ["()"])
    assert s.status == "crash" and "SIGSEGV" in s.detail
    assert run1(box, IDENTITY, ["(42,)"])[0].value == 42


# ---------------------------------------------------------------- limits


def test_cpu_loop_is_a_timeout(box):
    start = time.monotonic()
    r = run1(box, "def f(x):\n    while True:\n        pass\n", ["(1,)", "(2,)"])
    assert [x.status for x in r] == ["timeout", "timeout"], r
    assert time.monotonic() - start < LIMITS.wall_seconds + GRACE_SECONDS + 1


def test_sleeping_past_the_wall_clock_is_a_timeout(box):
    program = "import time\ndef f(x):\n    time.sleep(x)\n    return x\n"
    start = time.monotonic()
    r = run1(box, program, ["(0,)", "(30,)", "(0,)"])
    assert [x.status for x in r] == ["ok", "timeout", "timeout"], r
    assert time.monotonic() - start < LIMITS.wall_seconds + GRACE_SECONDS + 1


def test_memory_bomb_is_not_ok(box):
    program = "def f():\n    return len(bytearray(10**10))\n"
    grow = "def f():\n    xs = []\n    while True:\n        xs.append(' ' * 10**6)\n"
    results = box.run([Job(program, "f", ["()"]), Job(grow, "f", ["()"])])
    for [r] in results:
        assert r.status in ("error", "crash"), r
        assert r.status == "crash" or "MemoryError" in r.detail


def test_output_cap(box):
    big = "def f(n):\n    return 'x' * n\n"
    r = run1(box, big, [f"({LIMITS.output_bytes + 10},)", "(3,)"])
    assert r[0].status == "bad value" and "bytes" in r[0].detail
    assert r[1].status == "ok" and r[1].value == "xxx"
    with Sandbox(Limits(output_bytes=1000), workers=1) as small:
        r = small.run([Job(big, "f", ["(600,)", "(600,)", "(1,)"]),
                       Job(big, "f", ["(495,)", "(495,)", "(1,)"])])  # 500 bytes each
    assert [x.status for x in r[0]] == ["ok", "bad value", "ok"], r  # the job's total is capped
    assert [x.status for x in r[1]] == ["ok", "ok", "no result"], r
    spam = "def f():\n    for _ in range(10**5):\n        print('spam' * 100)\n    return 1\n"
    assert run1(box, spam, ["()"])[0].value == 1  # its own stdout is discarded, not counted


def test_files_are_capped_and_tmp_is_private_to_a_job(box):
    write = ("def f(n):\n    with open('/tmp/x', 'wb') as fh:\n        fh.write(b'x' * n)\n"
             "    return 1\n")
    r = run1(box, write, [f"({1 << 10},)", f"({LIMITS.file_mb << 21},)"])
    assert r[0].status == "ok" and r[1].status == "error" and "27" in r[1].detail  # EFBIG
    read = "import os\ndef f():\n    return os.path.exists('/tmp/x')\n"
    assert run1(box, read, ["()"])[0].value is False  # emptied between jobs


KERNEL_PROBE = """
import ctypes, errno, os, threading
def f():
    libc = ctypes.CDLL(None, use_errno=True)
    out = {}
    t = threading.Thread(target=lambda: out.setdefault('thread', 42))
    t.start()
    t.join()
    for name, call in [('unshare', lambda: libc.unshare(0x10000000)),
                       ('ptrace', lambda: libc.ptrace(0, 0, 0, 0)),
                       ('mount', lambda: libc.mount(b'none', b'/tmp', b'tmpfs', 0, None))]:
        out[name] = [call(), ctypes.get_errno()]
    try:
        pid = os.fork()
        if pid == 0:
            os._exit(7)
        out['fork'] = os.waitpid(pid, 0)[1] >> 8
    except OSError as e:
        out['fork'] = errno.errorcode[e.errno]
    return out
"""


def test_seccomp_refuses_kernel_surface_but_threads_and_fork_work(box):
    if "seccomp: yes" not in box.report():
        pytest.skip("no seccomp filter on this machine")
    [r] = run1(box, KERNEL_PROBE, ["()"])
    assert r.value == {"thread": 42, "unshare": [-1, 1], "ptrace": [-1, 1], "mount": [-1, 1],
                       "fork": 7}, r  # errno 1: EPERM


@pytest.mark.skipif(os.geteuid() != 0, reason="RLIMIT_NPROC holds for a non-root host uid")
def test_fork_is_refused_where_nothing_else_bounds_it():
    with Sandbox(LIMITS, workers=1, cgroups=False) as unbounded:
        if "seccomp: yes" not in unbounded.report():
            pytest.skip("no seccomp filter on this machine")
        [r] = unbounded.run([Job(KERNEL_PROBE, "f", ["()"])])[0]
        assert r.value["fork"] == "EAGAIN" and r.value["thread"] == 42, r


# ---------------------------------------------------------------- batching, order, threads


def test_many_jobs_keep_their_order(box):
    jobs = [Job(f"def f(x):\n    return ({i}, x)\n", "f", [f"({j},)" for j in range(3)])
            for i in range(40)]
    results = box.run(jobs)
    assert [[r.value for r in rs] for rs in results] == [[(i, j) for j in range(3)]
                                                         for i in range(40)]
    assert box.run([]) == [] and box.run([Job(IDENTITY, "f", [])]) == [[]]


def test_run_is_thread_safe(box):
    out = {}

    def worker(k):
        out[k] = box.run([Job(f"def f(x):\n    return x * {k}\n", "f", ["(3,)"])] * 5)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert {k: [r[0].value for r in v] for k, v in out.items()} == {k: [3 * k] * 5
                                                                    for k in range(4)}


def test_bad_jobs_are_refused_before_running(box):
    with pytest.raises(TypeError):
        box.run([Job(IDENTITY, "f", "(1,)")])  # calls must be a list of sources
    with pytest.raises(ValueError, match="cpu_seconds"):
        Limits(cpu_seconds=0)


# ---------------------------------------------------------------- the parent's verdict


def _frame(i, out: bytes, status=0, cpu=0.01, capped=False):
    return {"i": i, "status": status, "cpu": cpu, "capped": capped, "out": out.decode("latin-1")}


def test_verdict_is_decided_in_the_parent_strictly():
    limits = Limits(cpu_seconds=1.0)
    sigkill, sigxcpu = int(signal.SIGKILL), int(signal.SIGXCPU)  # wait statuses when signalled
    frames = [_frame(0, b"ok\n5"), _frame(1, b"ok\n5", status=1 << 8),
              _frame(2, b"ok\n5", status=sigkill), _frame(3, b"ok\n5", status=sigxcpu),
              _frame(4, b"ok\n5ok\n6"), _frame(5, b"PASS"), _frame(6, b""),
              _frame(7, b"ok\n5", cpu=5.0), {"i": 9, "skipped": "wall"}]
    r = call_results({"frames": frames}, 9, limits)
    assert [x.status for x in r] == ["ok", "crash", "crash", "timeout", "crash", "crash",
                                     "no result", "timeout", "crash"]
    assert r[0].value == 5 and all(x.value is None for x in r[1:])
    assert call_results({"frames": "junk"}, 2, limits) == [CallResult(
        "crash", detail="the sandbox sent no result for this call")] * 2


# ---------------------------------------------------------------- availability


def test_sandbox_problem_is_none_here():
    assert sandbox_problem() is None


def test_unsafe_is_refused_unless_asked(monkeypatch):
    monkeypatch.setattr(sandbox_module, "sandbox_problem", lambda: "no user namespaces (test)")
    with pytest.raises(SandboxUnavailable, match="no user namespaces"):
        Sandbox()
    with pytest.warns(RuntimeWarning, match="WITHOUT bwrap"):
        unsafe = Sandbox(LIMITS, unsafe=True, workers=1)
    with unsafe:
        r = unsafe.run([Job("def f(x):\n    return x + 1\n", "f", ["(1,)", "('a',)"]),
                        Job("def f(x):\n    while True: pass\n", "f", ["(1,)"])])
        assert [x.status for x in r[0]] == ["ok", "error"] and r[0][0].value == 2
        assert r[1][0].status == "timeout"
        assert "UNSAFE" in unsafe.report()


def test_report_says_what_isolation_there_is(box):
    report = box.report()
    assert "bwrap" in report and "cgroup" in report and "seccomp" in report
    assert os.path.basename(bwrap_binary()) in report
