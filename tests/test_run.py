"""The run directory (`lmzero.run`): create, refuse a foreign run, resume, config round trip,
old configs, metrics, TensorBoard and plots."""

import json
import subprocess
import sys
from dataclasses import asdict, dataclass, replace
from typing import ClassVar

import pytest
import torch

from lmzero import checkpoint
from lmzero.learn import LearnerConfig
from lmzero.loop import TrainConfig
from lmzero.run import KIND_KEY, Run, config_from_dict, open_run
from lmzero.selfplay import SelfPlayConfig

TTT = TrainConfig(game="tictactoe", iterations=3, selfplay=SelfPlayConfig(games=6),
                  learner=LearnerConfig(batch_size=32))


@dataclass
class OtherConfig:
    """A config of another kind of run."""
    RUN_KIND: ClassVar[str] = "pretraining"
    task: str = "tictactoe"
    steps: int = 10


def test_a_fresh_run_saves_its_config_and_it_loads_back_equal(tmp_path):
    run, config = open_run(tmp_path / "run", TTT)
    assert config == TTT and run.dir.is_dir()
    saved = json.loads(run.config_path.read_text())
    assert saved[KIND_KEY] == "self-play" and saved["selfplay"]["games"] == 6
    loaded = Run(tmp_path / "run").load_config(TrainConfig)
    assert loaded == TTT and isinstance(loaded.selfplay, SelfPlayConfig)
    assert run.completed() == [] and run.latest() is None and run.metrics() == []


def test_a_fresh_run_refuses_a_directory_holding_a_run(tmp_path):
    open_run(tmp_path / "run", TTT)  # config.json alone (killed before its first checkpoint)
    with pytest.raises(ValueError, match="already holds a run: pass --resume"):
        open_run(tmp_path / "run", TTT)
    with pytest.raises(ValueError, match="no config.json to resume from"):
        open_run(tmp_path / "empty", TTT, resume=True)


def test_resume_keeps_the_saved_config_and_applies_overrides(tmp_path):
    open_run(tmp_path / "run", TTT)
    run, config = open_run(tmp_path / "run", replace(TTT, iterations=1, seed=7), resume=True)
    assert config == TTT  # config.json rules, not the config passed
    run, config = open_run(tmp_path / "run", TTT, resume=True, iterations=5, seed=None)
    assert config == replace(TTT, iterations=5)  # None leaves a field as saved
    assert run.load_config(TrainConfig).iterations == 5  # and the override is saved


def test_resume_refuses_another_tasks_run(tmp_path):
    open_run(tmp_path / "run", TTT)
    with pytest.raises(ValueError) as error:
        open_run(tmp_path / "run", replace(TTT, game="connect4"), resume=True)
    message = str(error.value)
    assert "\n" not in message
    assert "holds a tictactoe run, not a connect4 run" in message


def test_resume_refuses_another_kind_of_run(tmp_path):
    open_run(tmp_path / "run", OtherConfig())
    with pytest.raises(ValueError, match="holds a pretraining run, not a self-play run"):
        open_run(tmp_path / "run", TTT, resume=True)
    # a run from before config.json named its kind: told apart by its fields
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "config.json").write_text(json.dumps(asdict(OtherConfig())))
    with pytest.raises(ValueError, match="TrainConfig has no field 'steps': not a self-play"):
        open_run(tmp_path / "old", TTT, resume=True)


def test_an_old_game_config_loads_and_is_upgraded_on_resume(tmp_path):
    """config.json as written before `run_kind` (and before gating had fields)."""
    old = asdict(TTT)
    for name in ("gate_games", "gate_threshold"):
        del old[name]
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.json").write_text(json.dumps(old))
    run, config = open_run(tmp_path / "run", TTT, resume=True)
    assert config == TTT
    assert json.loads(run.config_path.read_text())[KIND_KEY] == "self-play"


def test_renamed_and_dropped_fields_of_old_runs_are_carried_over():
    @dataclass
    class Renamed:
        RUN_KIND: ClassVar[str] = "pretraining"
        RENAMED: ClassVar[dict] = {"countdown": "task_options", "legacy": None}
        task: str = "countdown"
        task_options: dict = None

    old = dict(task="countdown", countdown=dict(max_target=99), legacy=1, run_kind="pretraining")
    assert config_from_dict(Renamed, old) == Renamed(task_options=dict(max_target=99))
    with pytest.raises(ValueError, match="Renamed has no field 'steps'"):
        config_from_dict(Renamed, dict(old, steps=3))


def test_an_old_self_improvement_config_still_loads(tmp_path):
    """A run from before `offpath_weight` replaced `actor.unsolved_weight` and `task_options`
    replaced `pretrain.countdown`: ImproveConfig's __post_init__ converts them."""
    from lmzero.selfimprove import ImproveConfig

    old = asdict(ImproveConfig(task="countdown", iterations=2))
    old["actor"]["unsolved_weight"] = 0.5
    del old["actor"]["offpath_weight"]
    old["pretrain"]["countdown"] = old["pretrain"].pop("task_options", {})  # its old name
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.json").write_text(json.dumps(old))
    config = Run(tmp_path / "run").load_config(ImproveConfig)
    assert config.task == "countdown" and config.iterations == 2
    assert config.actor.offpath_weight == ImproveConfig().actor.offpath_weight


def test_metrics_replace_a_redone_iteration_and_drop_a_torn_line(tmp_path):
    run = Run(tmp_path)
    run.log(dict(iteration=0, loss=1.0))
    run.log(dict(iteration=1, loss=0.5))
    run.log(dict(iteration=1, loss=0.4))  # iteration 1 redone after a crash
    assert run.metrics() == [dict(iteration=0, loss=1.0), dict(iteration=1, loss=0.4)]
    with open(run.metrics_path, "a") as f:
        f.write('{"iteration": 2, "lo')  # killed mid-line
    assert [r["iteration"] for r in run.metrics()] == [0, 1]
    run.log(dict(step=59, loss=0.3), key="step")
    run.write_metrics(run.metrics()[:1])
    assert run.metrics() == [dict(iteration=0, loss=1.0)]


def test_progress_is_the_finished_checkpoints(tmp_path):
    run = Run(tmp_path, digits=7)
    weights = {"w": torch.zeros(2)}
    for i in (59, 119):
        checkpoint.save(run.checkpoint(i), weights, dict(step=i))
    (run.checkpoints / "0000179").mkdir()  # a torn write leaves no manifest: not finished
    assert run.checkpoint(59).name == "0000059"
    assert run.completed() == [59, 119] and run.latest() == run.checkpoint(119)


def test_tensorboard_and_plots(tmp_path):
    run = Run(tmp_path)
    run.plot("strength.png", ["score"], {"games": "games"})
    assert not (tmp_path / "plots").exists()  # nothing to draw yet
    scalars = run.tensorboard()
    for i in range(2):
        row = dict(iteration=i, games=10 * (i + 1), score=0.5 + 0.1 * i, note="text")
        run.log(row)
        scalars.write(row)
    scalars.close()
    assert any(p.name.startswith("events.out.tfevents") for p in (tmp_path / "tb").iterdir())
    run.plot("strength.png", ["score", "absent"], {"games": "games", "iteration": "iteration"})
    assert (tmp_path / "plots" / "strength.png").stat().st_size > 0


def test_cli_refuses_to_resume_another_games_run(tmp_path):
    """`lmzero train connect4 --resume --run <a tic-tac-toe run>`: one line, exit 2, nothing
    trained or written."""
    run, _ = open_run(tmp_path / "ttt", TTT)
    before = run.config_path.read_bytes()
    result = subprocess.run([sys.executable, "-m", "lmzero.cli", "train", "connect4", "--resume",
                             "--run", str(run.dir)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "holds a tictactoe run, not a connect4 run" in lines[0]
    assert run.config_path.read_bytes() == before
    assert sorted(p.name for p in run.dir.iterdir()) == ["config.json", "lock"]


def test_a_config_changed_since_it_was_written_is_refused(tmp_path):
    """A key lost from config.json would be filled with its default: another run trained under
    this one's name. The file's own checksum catches it."""
    run, _ = open_run(tmp_path / "run", TTT)
    data = json.loads(run.config_path.read_text())
    del data["selfplay"]["games"]
    run.config_path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="changed since lmzero wrote it"):
        open_run(tmp_path / "run", TTT, resume=True)
    for garbage in ("[1, 2]", "{", "null", "[" * 100_000):
        run.config_path.write_text(garbage)
        with pytest.raises(ValueError, match="config.json: not a run config"):
            open_run(tmp_path / "run", TTT, resume=True)


def test_a_new_run_refuses_a_file_and_a_directory_holding_anything(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="is a file, not a run directory"):
        open_run(tmp_path / "file", TTT)
    (tmp_path / "abandoned" / "replay").mkdir(parents=True)  # shards of a run killed early
    with pytest.raises(ValueError, match="is not empty"):
        open_run(tmp_path / "abandoned", TTT)
    (tmp_path / "empty").mkdir()
    assert open_run(tmp_path / "empty", TTT)[1] == TTT


def test_a_run_is_extended_never_shortened_below_what_it_has_done(tmp_path):
    run, _ = open_run(tmp_path / "run", replace(TTT, iterations=6))
    for i in range(4):
        checkpoint.save(run.checkpoint(i), {"w": torch.zeros(1)}, dict(iteration=i))
    with pytest.raises(ValueError, match="--iterations 3: .* has already done 4"):
        open_run(tmp_path / "run", TTT, resume=True, iterations=3)
    assert run.load_config(TrainConfig).iterations == 6  # config.json untouched
    assert open_run(tmp_path / "run", TTT, resume=True, iterations=4)[1].iterations == 4


def test_opening_a_run_sweeps_what_kills_left_and_locks_it(tmp_path):
    run, _ = open_run(tmp_path / "run", TTT)
    leftovers = [run.dir / ".metrics.jsonl.k2x9q1", run.dir / "replay" / ".shard-000001.npz.a8",
                 run.checkpoints / ".00002.tmp3j"]
    for path in leftovers:
        path.parent.mkdir(parents=True, exist_ok=True)
        (path.mkdir() if path.parent == run.checkpoints else path.write_text("half"))
    open_run(tmp_path / "run", TTT, resume=True)
    assert not any(p.exists() for p in leftovers)
    assert (run.dir / "replay").is_dir()  # only the temporaries go
    other = subprocess.run([sys.executable, "-c", "from lmzero.run import Run; import sys; "
                            f"Run({str(run.dir)!r}).lock()"], capture_output=True, text=True)
    assert other.returncode == 1 and "another lmzero process is working on this run" in \
        other.stderr


def test_repair_keeps_every_readable_row_once_and_names_the_garbage(tmp_path, capsys):
    """One garbage line in the middle used to end the reading there: rows after it were lost
    (and rewritten away on resume)."""
    run = Run(tmp_path)
    lines = [json.dumps(dict(iteration=i, loss=i / 10)) for i in range(6)]
    lines[2] = "\x00garbage"
    lines.insert(4, json.dumps(dict(iteration=3, loss=9.9)))  # redone: the later row wins
    run.metrics_path.write_text("\n".join(lines + ['[1]', '{"iteration": 7, "lo']) + "\n")
    kept = run.repair_metrics(keep=lambda i: i < 5)
    assert [(r["iteration"], r["loss"]) for r in kept] == [(0, 0), (1, .1), (3, 9.9), (4, .4)]
    assert run.metrics() == kept
    assert capsys.readouterr().err.count("not a metrics row, dropped") == 3
    for i in range(6):
        checkpoint.save(run.checkpoint(i), {"w": torch.zeros(1)}, dict(iteration=i))
    assert run.rows_missing(lambda row: "loss" in row) == [2, 5]


@pytest.mark.parametrize("where", ["a file", "under a file", "read-only"])
def test_a_run_directory_that_cannot_be_used_is_one_line_and_exit_2(tmp_path, monkeypatch,
                                                                     capsys, where):
    import errno
    from pathlib import Path

    from lmzero.cli.common import main
    (tmp_path / "file").write_text("x")
    target = {"a file": tmp_path / "file", "under a file": tmp_path / "file" / "run",
              "read-only": tmp_path / "ro" / "run"}[where]
    if where == "read-only":  # what mkdir says on a read-only mount
        def refuse(self, *args, **kwargs):
            raise OSError(errno.EROFS, "Read-only file system", str(self))
        monkeypatch.setattr(Path, "mkdir", refuse)
    monkeypatch.setattr(sys, "argv", ["lmzero", "train", "tictactoe", "--run", str(target)])
    with pytest.raises(SystemExit) as exit_:
        main()
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert exit_.value.code == 2 and len(lines) == 1 and str(target) in lines[0], lines
    assert lines[0].startswith("lmzero: error:") and captured.out == ""
