"""Scale-out on real Ray clusters (issue 15), all slow: a search actor killed mid-iteration
(SIGKILL of its process, `ray.kill`, from inside the run and from outside the CLI), the driver
killed and resumed, a second node that works and then leaves, and an evaluation spread over
actors that reports what one process reports. After every fault each game and each attempt is
in replay exactly once: units are committed in order, so a shard's ids are the scheduled range,
non-decreasing (a unit entered twice would repeat a block of ids).

The runs are tiny (tic-tac-toe at 16 simulations, Game of 24 at 8 calls per problem); each
test starts its own cluster and leaves none behind (`Workers.close` stops the clusters it
starts, the fixtures the rest). Processes are found by walking /proc down from the run's own
driver, never by name alone: another Ray cluster on the machine is left alone."""

import glob
import json
import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

ray = pytest.importorskip("ray")

from lmzero.distributed import ScaleConfig, rounds  # noqa: E402
from lmzero.distributed.config import UNITS_PER_WORKER  # noqa: E402
from lmzero.loop import PRESETS, train  # noqa: E402
from lmzero.replay.buffer import FIELDS, TEXT_FIELDS, ReplayBuffer  # noqa: E402

pytestmark = pytest.mark.slow

GAMES = 256
"""Games per iteration of the tiny tic-tac-toe runs (UNITS units on 2 workers)."""
UNITS = 2 * UNITS_PER_WORKER
"""Units of every round here: 2 workers, the default split."""


# -- helpers -----------------------------------------------------------------------------------

def game_config(iterations: int = 2):
    base = PRESETS[("tictactoe", "quick")]
    return replace(base, iterations=iterations, eval_games=2, threads=1,
                   selfplay=replace(base.selfplay, games=GAMES, simulations=16),
                   learner=replace(base.learner, steps_per_iteration=20))


def improve_config(iterations: int = 2):
    from lmzero.selfimprove import preset
    base = preset("game24", "quick")
    return replace(base, iterations=iterations, threads=1, problems_per_iteration=16,
                   eval_problems=2, greedy_problems=2, eval_budget=4,
                   actor=replace(base.actor, budget=8),
                   learner=replace(base.learner, steps_per_iteration=5))


def assert_games_once(run: Path, iterations: int, games: int = GAMES) -> None:
    """Each iteration's shard holds every game it scheduled, each once, in unit order; rows
    carry their game as attempt id, played by the weights of the iteration (synchronous)."""
    replay = ReplayBuffer(run / "replay", fields=FIELDS)
    assert replay.shard_ids() == list(range(iterations))
    for i in range(iterations):
        game = replay.column(i, "game")
        assert set(game.tolist()) == set(range(i * games, (i + 1) * games)), i
        assert np.all(np.diff(game) >= 0), f"shard {i}: a block of games repeats"
        assert np.array_equal(replay.column(i, "attempt"), game)
        assert np.all(replay.column(i, "weight_version") == i)
        assert np.all(replay.column(i, "staleness") == 0)
    assert not list((run / "replay").glob("staging-*"))


def metrics(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def shard_bytes(run: Path, i: int) -> dict:
    with np.load(run / "replay" / f"shard-{i:06d}.npz") as z:
        return {k: z[k] for k in z.files}


@pytest.fixture
def workers_made(monkeypatch):
    """Every `Workers` the loops make in this test, each with `placed`: where its actors
    started (pid, node), asked before any unit (an actor answers in order, after its units).
    Ray is shut down afterwards whatever happened."""
    made = []

    class Recorded(rounds.Workers):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.placed = self.pool.where()
            made.append(self)
    monkeypatch.setattr(rounds, "Workers", Recorded)
    yield made
    if ray.is_initialized():
        ray.shutdown()


def kill_after_first_unit(made: list, iteration: int, how: str, log: list):
    """A `progress` callback that kills actor 1 once the first unit of `iteration` is staged:
    `sigkill` its process (as the OOM killer would), or `ray.kill` it (Ray restarts it)."""
    def progress(i, phase, row):
        if row is None and i == iteration and ", units" in phase and not log:
            workers = made[-1]
            if how == "sigkill":
                os.kill(workers.placed[1]["pid"], signal.SIGKILL)
            else:
                ray.kill(workers.pool.actors[1], no_restart=False)
            log.append(phase)
    return progress


def processes() -> dict[int, tuple[int, str, str]]:
    """pid -> (parent pid, state, command line) of every process now."""
    table = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:  # gone meanwhile
                continue
            state, parent = stat.rsplit(")", 1)[1].split()[:2]
            table[int(entry.name)] = (int(parent), state,
                                      cmdline.replace(b"\0", b" ").decode(errors="replace"))
    return table


def descendants(root: int) -> dict[int, str]:
    """pid -> command line of the live processes below `root` (Ray's workers are children of
    the raylet the driver started)."""
    table, children = processes(), defaultdict(list)
    for pid, (parent, _, _) in table.items():
        children[parent].append(pid)
    found, todo = {}, [root]
    while todo:
        for child in children[todo.pop()]:
            if table[child][1] != "Z":
                found[child] = table[child][2]
            todo.append(child)
    return found


def alive(tree: dict[int, str]) -> list[int]:
    """The processes of `tree` (pid -> command line) still running (the same command: a pid
    reused meanwhile is another process)."""
    table = processes()
    return [p for p, cmd in tree.items()
            if p in table and table[p][1] != "Z" and table[p][2] == cmd]


def lmzero(*args, run_log: Path) -> subprocess.Popen:
    """`lmzero ARGS` in a new process, its errors to `run_log`."""
    return subprocess.Popen([sys.executable, "-m", "lmzero.cli", *map(str, args)],
                            stdout=subprocess.DEVNULL, stderr=run_log.open("w"),
                            cwd=Path(__file__).resolve().parent.parent)


def wait_for(pattern: str, proc: subprocess.Popen, timeout: float = 240) -> None:
    """Poll until a file matches `pattern`; fail if `proc` ended first."""
    deadline = time.monotonic() + timeout
    while not glob.glob(pattern):
        assert proc.poll() is None, f"the run ended (exit {proc.returncode}) before {pattern}"
        assert time.monotonic() < deadline, f"no {pattern}"
        time.sleep(0.02)


def finish(proc: subprocess.Popen, run_log: Path, timeout: float = 300) -> str:
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    return run_log.read_text()


# -- a. b. an actor killed inside a run ----------------------------------------------------

_REPLAY_BY_KILL: dict[str, list] = {}
"""Each kill's replay: the same run whatever died must give the same games."""


@pytest.mark.parametrize("how", ["sigkill", "ray_kill"])
def test_game_selfplay_survives_a_killed_actor(tmp_path, workers_made, how):
    log = []
    rows = train(game_config(), tmp_path / "run", scale=ScaleConfig(workers=2),
                 progress=kill_after_first_unit(workers_made, 0, how, log))
    assert log, "no actor was killed"
    assert [r["iteration"] for r in rows] == [0, 1]
    assert rows[0]["units"] == UNITS and rows[0]["workers"] == 2
    assert rows[0]["units_requeued"] >= 1 and rows[0]["actor_failures"] >= 1, rows[0]
    assert rows[1]["units_requeued"] == 0
    assert_games_once(tmp_path / "run", 2)
    assert not ray.is_initialized()  # Workers.close stopped the cluster it started
    replay = [shard_bytes(tmp_path / "run", i) for i in (0, 1)]
    _REPLAY_BY_KILL[how] = replay
    for other in _REPLAY_BY_KILL.values():  # units are seeded by id, not by who ran them
        for mine, theirs in zip(replay, other):
            assert mine.keys() == theirs.keys()
            assert all(np.array_equal(mine[k], theirs[k]) for k in mine)


def test_stale_selfplay_records_each_rows_weight_version(tmp_path, workers_made):
    """max_staleness 1: iteration i + 1's units start while the learner trains on i, so
    iteration i's rows are played by weight version i - 1 or i; replay says which and the lag
    (the learner's version at the commit, i, less the row's), and has each game once."""
    rows = train(game_config(3), tmp_path / "run",
                 scale=ScaleConfig(workers=2, max_staleness=1))
    assert [r["staleness_max"] <= 1 for r in rows] == [True] * 3
    assert rows[0]["staleness_max"] == 0
    replay = ReplayBuffer(tmp_path / "run" / "replay", fields=FIELDS)
    for i in range(3):
        game, version = replay.column(i, "game"), replay.column(i, "weight_version")
        assert set(game.tolist()) == set(range(i * GAMES, (i + 1) * GAMES))
        assert np.all(np.diff(game) >= 0)
        assert set(version.tolist()) <= {max(i - 1, 0), i}
        assert np.array_equal(replay.column(i, "staleness"), i - version)
        assert rows[i]["staleness_mean"] == round(float(np.mean(i - version)), 3)


# -- c. self-improvement with an actor killed --------------------------------------------------

def test_self_improvement_survives_a_killed_actor(tmp_path, workers_made):
    from lmzero.selfimprove import improve
    config = improve_config()
    per_round = config.problems_per_iteration
    log = []
    rows = improve(config, tmp_path / "run", scale=ScaleConfig(workers=2),
                   progress=kill_after_first_unit(workers_made, 1, "sigkill", log))
    assert log, "no actor was killed"
    rows = [r for r in rows if r["iteration"] >= 0]  # -1: the starting checkpoint's evaluation
    assert [r["iteration"] for r in rows] == [0, 1]
    assert rows[1]["units_requeued"] >= 1 and rows[1]["actor_failures"] >= 1, rows[1]
    assert rows[0]["units_requeued"] == 0
    replay = ReplayBuffer(tmp_path / "run" / "replay", fields=TEXT_FIELDS)
    for i in (0, 1):
        ids = range(i * per_round, (i + 1) * per_round)
        attempts = json.loads((replay.directory / f"attempts-{i:06d}.json").read_text())
        assert [a["attempt"] for a in attempts] == list(ids)
        attempt = replay.column(i, "attempt")
        assert set(attempt.tolist()) <= set(ids)
        assert np.all(np.diff(attempt) >= 0), f"shard {i}: a block of attempts repeats"
        assert len(attempt) == sum(a["examples"] for a in attempts)
        assert np.all(replay.column(i, "weight_version") == i)
    assert not list(replay.directory.glob("staging-*"))


# -- d. the CLI, an actor killed from outside --------------------------------------------------

def test_cli_train_survives_an_actor_killed_from_outside(tmp_path):
    run, run_log = tmp_path / "run", tmp_path / "stderr"
    proc = lmzero("train", "tictactoe", "--workers", "2", "--iterations", "2", "--run", run,
                  run_log=run_log)
    try:
        wait_for(f"{run}/replay/staging-000000/unit-*.npz", proc)
        actors = sorted(pid for pid, cmd in descendants(proc.pid).items()
                        if cmd.startswith("ray::SearchActor"))
        assert len(actors) == 2, descendants(proc.pid)
        os.kill(actors[0], signal.SIGKILL)
    finally:
        stderr = finish(proc, run_log)
    assert proc.returncode == 0, stderr
    rows = metrics(run)
    assert [r["iteration"] for r in rows] == [0, 1]
    assert rows[0]["units_requeued"] >= 1, rows[0]
    assert_games_once(run, 2, games=PRESETS[("tictactoe", "quick")].selfplay.games)


# -- e. the driver killed, then resumed --------------------------------------------------------

KILLED_DRIVER = """
import json, os, signal, sys
from pathlib import Path
from lmzero.distributed import ScaleConfig
from lmzero.loop import train
from tests.test_distributed_ray import descendants, game_config
run = Path(sys.argv[1])

def progress(i, phase, row):  # kill -9 itself once 2 units of iteration 1 are staged
    if i == 1 and len(list((run / "replay" / "staging-000001").glob("unit-*.npz"))) == 2:
        (run.parent / "ray-tree.json").write_text(json.dumps(descendants(os.getpid())))
        os.kill(os.getpid(), signal.SIGKILL)
train(game_config(2), run, scale=ScaleConfig(workers=2), progress=progress)
"""


def test_a_killed_driver_resumes_with_each_game_once(tmp_path):
    """The driver dies (kill -9) with 2 of iteration 1's units staged; `lmzero train
    --resume` keeps them and the plan, and finishes with each game and each row once."""
    run, run_log = tmp_path / "run", tmp_path / "stderr"
    proc = subprocess.Popen([sys.executable, "-c", KILLED_DRIVER, str(run)],
                            stdout=subprocess.DEVNULL, stderr=run_log.open("w"),
                            cwd=Path(__file__).resolve().parent.parent)
    stderr = finish(proc, run_log)
    assert proc.returncode == -signal.SIGKILL, stderr
    assert [r["iteration"] for r in metrics(run)] == [0]
    staging = run / "replay" / "staging-000001"
    assert (staging / "plan.json").is_file() and len(list(staging.glob("unit-*.npz"))) == 2
    # The killed driver's cluster goes with it (gcs, raylet and actors watch their parents,
    # ~2 s), but Ray 2.60's dashboard and runtime-env agents hang on their way out for about
    # a minute, orphaned (holding nothing of the run): ended here, not left to the machine.
    ray_tree = {int(p): cmd for p, cmd in json.loads((tmp_path / "ray-tree.json").read_text())
                .items()}
    assert any(cmd.startswith("ray::SearchActor") for cmd in ray_tree.values()), ray_tree
    agents = {p for p, cmd in ray_tree.items() if cmd.startswith(("ray::DashboardAgent",
                                                                  "ray::RuntimeEnvAgent"))}
    deadline = time.monotonic() + 20
    while not set(alive(ray_tree)) <= agents and time.monotonic() < deadline:
        time.sleep(0.5)
    left = {p: ray_tree[p] for p in alive(ray_tree)}
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert set(left) <= agents, left

    proc = lmzero("train", "tictactoe", "--workers", "2", "--resume", "--run", run,
                  run_log=run_log)
    stderr = finish(proc, run_log)
    assert proc.returncode == 0, stderr
    rows = metrics(run)
    assert [r["iteration"] for r in rows] == [0, 1]
    assert rows[1]["units"] == UNITS and rows[1]["units_requeued"] == 0
    assert_games_once(run, 2)


# -- f. two nodes, then one --------------------------------------------------------------------

def test_units_run_on_two_nodes_and_finish_when_one_leaves(workers_made):
    """Two one-CPU nodes, an actor on each; the second node leaves once its actor has done a
    unit, and the round ends on the head node with the results one process gives."""
    from ray.cluster_utils import Cluster

    from lmzero.eval.reasoning import MethodConfig, evaluate, evaluate_scaled
    from lmzero.models.load import SHIPPED
    from lmzero.models.spec import load_model
    from lmzero.tasks.game24 import TASK
    problems = list(TASK.heldout_problems())[:32]
    config = MethodConfig(method="greedy", budget=None)
    spec = f"tinylm:{SHIPPED / 'game24'}"
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    try:
        second = cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        left = []

        def progress(stats):  # the second node leaves once its actor has done a unit
            workers = workers_made[-1]
            remote = [k for k, w in enumerate(workers.placed) if w["node"] == second.node_id]
            if not left and remote and stats.per_actor[remote[0]] >= 1:
                cluster.remove_node(second)
                left.append(stats.done)
        ray.init(address=cluster.address, log_to_driver=False)  # joined before: reused
        found = evaluate_scaled(TASK, spec, problems, config,
                                ScaleConfig(workers=2, address=cluster.address), progress)
        assert ray.is_initialized()  # and left as the caller joined it
    finally:
        if ray.is_initialized():
            ray.shutdown()
        cluster.shutdown()
    workers = workers_made[-1]
    nodes = [w["node"] for w in workers.placed]
    assert len(set(nodes)) == 2 and second.node_id in nodes  # one actor per node
    assert left and left[0] < UNITS, "the node left after the round ended"
    assert all(n >= 1 for n in workers.stats.per_actor), workers.stats  # both did units
    assert sum(workers.stats.per_actor) == UNITS  # each unit once, the rest on the head node
    alone = evaluate(TASK, load_model(spec, TASK, seed=0), problems, config)
    found.pop("seconds"), alone.pop("seconds")
    assert found == alone  # losing a node mid-round changes no result


# -- g. the evaluation CLI, with and without workers -------------------------------------------

def test_eval_with_workers_reports_what_one_process_reports(tmp_path):
    args = ["eval", "game24", "--method", "greedy", "--limit", "30", "--json"]
    runs = {}
    # RAY_ADDRESS names a dead cluster: --workers without --ray-address starts its own anyway
    for name, extra, env in [("alone", [], None),
                             ("workers", ["--workers", "2"],
                              dict(os.environ, RAY_ADDRESS="127.0.0.1:1"))]:
        out = subprocess.run([sys.executable, "-m", "lmzero.cli", *args, *extra],
                             capture_output=True, text=True, timeout=300, env=env)
        assert out.returncode == 0, out.stderr
        runs[name] = json.loads(out.stdout)
        runs[name].pop("seconds")
    assert runs["alone"]["total"] == 30
    assert runs["workers"] == runs["alone"]
