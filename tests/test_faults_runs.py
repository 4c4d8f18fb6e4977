"""Kill -9 at any point of every training loop, then `--resume`: nothing written is lost, nothing
is logged twice, and the resumed run's figures are the uninterrupted run's.

Each loop (`tests/fault_runs.py`: tic-tac-toe self-play, Game of 24 pretraining, Game of 24
self-improvement with its world-model stage) runs once uninterrupted as the reference. Then it is
killed (SIGKILL) at chosen durable writes (`lmzero.faults`: after the data is on disk, before the
rename that publishes it, the worst moment) and at a random moment from outside, and resumed;
the checks: every iteration (or pretraining row) exactly once, with the reference's figures
(held-out ones included), each replay shard and checkpoint present, no temporaries left.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lmzero.run import Run

pytestmark = pytest.mark.slow  # a few dozen small training subprocesses: minutes

TIMING = {"wall_seconds", "selfplay_seconds", "positions_per_second", "seconds"}
ROOT = Path(__file__).resolve().parents[1]
KEY = {"games": "iteration", "pretrain": "step", "improve": "iteration"}


def run_loop(kind: str, run_dir: Path, resume: bool = False, **env) -> subprocess.CompletedProcess:
    argv = [sys.executable, "-m", "tests.fault_runs", kind, str(run_dir)] + (["resume"] if resume
                                                                            else [])
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "OMP_NUM_THREADS": "1", **env})


def figures(run_dir: Path) -> list[dict]:
    """The metrics rows without timings, the run's own path written RUN."""
    def plain(value):
        return value.replace(str(run_dir), "RUN") if isinstance(value, str) else value
    return [{k: plain(v) for k, v in row.items() if k not in TIMING}
            for row in Run(run_dir).metrics()]


def files(run_dir: Path) -> list[str]:
    """Every file of a run but its TensorBoard events and plots (rewritten on each resume)."""
    return sorted(str(p.relative_to(run_dir)) for p in run_dir.rglob("*")
                  if p.is_file() and p.parts[len(run_dir.parts)] not in ("tb", "plots"))


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """Each loop run once without a fault: its figures, its files, and its list of writes."""
    made = {}
    for kind in KEY:
        run_dir = tmp_path_factory.mktemp(kind) / "run"
        log = run_dir.with_name("writes.log")
        result = run_loop(kind, run_dir, LMZERO_WRITE_LOG=str(log))
        assert result.returncode == 0, result.stderr
        writes = [line.split("\t")[1] for line in log.read_text().splitlines()]
        made[kind] = (figures(run_dir), files(run_dir), writes)
    return made


def kill_points(kind: str, writes: list[str]) -> list[int]:
    """Which writes to die at (1-based): each metrics write that follows a checkpoint (the run
    was killed during that iteration's evaluation, the report's worst case), and a seeded
    sample of the rest."""
    after_checkpoint = [n for n in range(2, len(writes) + 1)
                        if writes[n - 1].endswith("metrics.jsonl")
                        and "/checkpoints/" in writes[n - 2] and "/pretrain/" not in writes[n - 2]]
    rest = sorted(set(range(1, len(writes) + 1)) - set(after_checkpoint))
    return sorted(after_checkpoint[:2] + random.Random(kind).sample(rest, 4))


def check_like_reference(run_dir: Path, kind: str, reference) -> None:
    expected, expected_files, _ = reference[kind]
    assert figures(run_dir) == expected
    assert files(run_dir) == expected_files  # shards, checkpoints, attempts; no temporaries


@pytest.mark.parametrize("kind", list(KEY))
def test_kill_at_a_write_then_resume_loses_and_repeats_nothing(kind, reference, tmp_path):
    points = kill_points(kind, reference[kind][2])
    for n in points:
        run_dir = tmp_path / f"killed-at-{n}" / "run"
        killed = run_loop(kind, run_dir, LMZERO_KILL_AT=str(n))
        assert killed.returncode == -signal.SIGKILL, (n, killed.stderr)
        resumed = run_loop(kind, run_dir, resume=True)
        assert resumed.returncode == 0, (n, resumed.stderr)
        check_like_reference(run_dir, kind, reference)


@pytest.mark.parametrize("kind", list(KEY))
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_a_signal_at_a_random_moment_then_resume(kind, sig, reference, tmp_path):
    """From outside, at a seeded random moment of the run (Ctrl-C included)."""
    run_dir = tmp_path / "run"
    argv = [sys.executable, "-m", "tests.fault_runs", kind, str(run_dir)]
    proc = subprocess.Popen(argv, cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": "1"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not (run_dir / "config.json").exists() and time.time() < deadline:
        time.sleep(0.02)
    time.sleep(random.Random(f"{kind}{sig}").uniform(0.2, 3.0))
    proc.send_signal(sig)
    proc.wait(timeout=60)
    resumed = run_loop(kind, run_dir, resume=True)
    assert resumed.returncode == 0, resumed.stderr
    check_like_reference(run_dir, kind, reference)


def lmzero(*args, limit_bytes: int | None = None) -> subprocess.CompletedProcess:
    """The CLI in a subprocess; `limit_bytes` caps every file it writes (RLIMIT_FSIZE, with
    SIGXFSZ ignored: a write past it fails with EFBIG, as on a full disk)."""
    def cap():
        import resource
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))
    return subprocess.run([sys.executable, "-m", "lmzero.cli", *args], cwd=ROOT, text=True,
                          capture_output=True, timeout=600, env={**os.environ,
                                                                 "OMP_NUM_THREADS": "1"},
                          preexec_fn=cap if limit_bytes else None)


def test_a_full_disk_is_one_line_and_the_run_resumes(tmp_path):
    """The checkpoint cannot be written (a 64 KB cap on file size, like a full disk): exit 1
    and one line naming the file; then `--resume` with room finishes the run."""
    args = ["train", "game24", "--stage", "pretrain", "--steps", "2", "--run",
            str(tmp_path / "run")]
    full = lmzero(*args, limit_bytes=64_000)
    assert full.returncode == 1, full.stderr
    lines = full.stderr.strip().splitlines()
    assert len(lines) == 1 and "File too large" in lines[0] and str(tmp_path) in lines[0], lines
    assert Run(tmp_path / "run").completed() == []
    resumed = lmzero(*args, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    run = Run(tmp_path / "run", digits=7)
    assert run.completed() == [1] and [r["step"] for r in run.metrics()] == [1]
    assert "heldout_greedy_pass1" in run.metrics()[0]
    assert not [p for p in (tmp_path / "run").rglob(".*") if p.name != ".lock"]
