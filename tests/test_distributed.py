"""Scale-out's parts that need no Ray cluster (issue 15): `ScaleConfig` checks its settings and
splits a round into units; the replay owner, used in-process, stages each unit once, keeps a
round's first plan, and commits units in order with their staleness; the CLI turns a bad or
unreachable `--ray-address` and `--workers` where it does not apply into one stderr line.
The tests that start clusters are in test_distributed_ray.py (slow)."""

import json

import numpy as np
import pytest

from lmzero.distributed import ScaleConfig
from lmzero.distributed.config import UNITS_PER_WORKER
from lmzero.distributed.owner import ReplayOwner
from tests.test_cli_edge import assert_user_error, lmzero

FIELDS = ("value", "game")


# -- ScaleConfig -------------------------------------------------------------------------------

@pytest.mark.parametrize("settings", [
    dict(workers=0), dict(workers=-1), dict(workers=1025), dict(),  # no workers, no address
    dict(workers=2, max_staleness=2), dict(workers=2, max_staleness=-1),
    dict(workers=2, unit_size=0), dict(workers=2, max_restarts=-1),
    dict(workers=2, unit_retries=-1)])
def test_scale_config_refuses_bad_settings(settings):
    with pytest.raises(ValueError):
        ScaleConfig(**settings)


@pytest.mark.parametrize("address", ["nonsense", "host", ":6379", "host:", "host:port",
                                     "host:0", "host:65536", "host:-1", "10.0.0.1:6379x"])
def test_scale_config_refuses_bad_addresses(address):
    with pytest.raises(ValueError, match="HOST:PORT"):
        ScaleConfig(workers=2, address=address)


@pytest.mark.parametrize("address", ["127.0.0.1:6379", "head-node:1", "[::1]:65535", "auto",
                                     "ray://head:10001"])
def test_scale_config_takes_good_addresses(address):
    assert ScaleConfig(address=address).workers is None  # one actor per CPU of the cluster


@pytest.mark.parametrize("count,workers,unit_size", [
    (1, 1, None), (10, 2, None), (1024, 2, None), (7, 3, None), (3, 8, None), (10, 2, 4),
    (10, 2, 10), (10, 2, 11), (96, 5, None)])
def test_split_covers_every_item_once_in_order(count, workers, unit_size):
    units = ScaleConfig(workers=workers, unit_size=unit_size).split(count, workers)
    covered = [first + j for first, size in units for j in range(size)]
    assert covered == list(range(count))
    assert all(size >= 1 for _, size in units)
    if unit_size is None:  # about UNITS_PER_WORKER units per worker, no more
        assert len(units) <= UNITS_PER_WORKER * workers
        assert len({size for _, size in units[:-1]}) <= 1
    else:
        assert all(size <= unit_size for _, size in units)


# -- the replay owner, in-process --------------------------------------------------------------

def result(first: int, n: int, version: int, attempts: bool = False) -> dict:
    """What a unit of n games numbered from `first` returns, played with weight `version`."""
    out = dict(arrays=dict(value=np.linspace(0, 1, n), game=np.arange(first, first + n)),
               weight_version=version)
    if attempts:
        out["attempts"] = [dict(attempt=first + j, solved=j % 2 == 0) for j in range(n)]
    return out


@pytest.fixture
def owner(tmp_path):
    return ReplayOwner(str(tmp_path / "replay"), FIELDS)


def test_begin_keeps_the_first_plan(owner):
    first = [dict(first=0, games=2), dict(first=2, games=2)]
    assert owner.begin(3, first) == first
    assert owner.begin(3, [dict(first=0, games=4)]) == first  # a resumed round keeps its split
    assert json.loads((owner.staging(3) / "plan.json").read_text()) == first


def test_begin_starts_over_when_the_plan_was_cut(owner):
    owner.begin(0, [1, 2])
    owner.stage(0, 0, result(0, 2, 0))
    (owner.staging(0) / "plan.json").write_text('[{"first": 0, ')
    assert owner.begin(0, [7]) == [7]
    assert owner.staged(0) == []  # the units of the lost plan went with it


def test_a_unit_staged_twice_enters_once(owner):
    owner.begin(0, [0, 1])
    assert owner.stage(0, 0, result(0, 3, 0))
    assert not owner.stage(0, 0, result(0, 3, 0))  # redone after its actor died
    assert owner.stage(0, 1, result(3, 2, 0))
    assert not owner.stage(0, 1, result(100, 5, 0))  # the first result stays
    assert owner.staged(0) == [0, 1]
    report = owner.commit(0, 2, version=0)
    assert report == dict(rows=5, staleness_mean=0.0, staleness_max=0)
    assert owner.buffer.column(0, "game").tolist() == [0, 1, 2, 3, 4]


def test_commit_joins_units_in_order_with_staleness(owner, tmp_path):
    owner.begin(4, [0, 1, 2])
    for index, (first, n, version) in reversed(list(enumerate([(0, 2, 4), (2, 3, 3),
                                                               (5, 1, 4)]))):
        owner.stage(4, index, result(first, n, version, attempts=True))  # finished last first
    attempts = tmp_path / "replay" / "attempts-000004.json"
    report = owner.commit(4, 3, version=4, attempts_path=str(attempts))
    assert report == dict(rows=6, staleness_mean=0.5, staleness_max=1)
    assert owner.buffer.column(4, "game").tolist() == [0, 1, 2, 3, 4, 5]
    assert owner.buffer.column(4, "weight_version").tolist() == [4, 4, 3, 3, 3, 4]
    assert owner.buffer.column(4, "staleness").tolist() == [0, 0, 1, 1, 1, 0]
    assert [a["attempt"] for a in json.loads(attempts.read_text())] == [0, 1, 2, 3, 4, 5]
    assert not owner.staging(4).exists()
    assert owner.buffer.shard_ids() == [4]


def test_commit_refuses_a_round_with_a_unit_missing(owner):
    owner.begin(1, [0, 1, 2])
    owner.stage(1, 0, result(0, 2, 1))
    owner.stage(1, 2, result(4, 2, 1))
    with pytest.raises(ValueError, match=r"units \[1\] not staged"):
        owner.commit(1, 3, version=1)
    assert not owner.buffer.has(1)
    assert owner.staged(1) == [0, 2]  # nothing lost: the round can still finish


def test_an_unreadable_staged_unit_is_dropped_to_run_again(owner):
    owner.begin(2, [0, 1])
    owner.stage(2, 0, result(0, 2, 2))
    owner.stage(2, 1, result(2, 2, 2))
    path = owner.staging(2) / "unit-000001.npz"
    path.write_bytes(path.read_bytes()[:40])  # cut from outside
    assert owner.staged(2) == [0]
    assert not path.exists()
    assert owner.stage(2, 1, result(2, 2, 2))  # so its redone result is taken
    owner.commit(2, 2, version=2)
    assert owner.buffer.column(2, "game").tolist() == [0, 1, 2, 3]


def test_prune_drops_staging_left_after_a_commit(owner):
    for round_ in (0, 1, 2, 3):
        owner.begin(round_, [0])
        owner.stage(round_, 0, result(round_ * 10, 1, round_))
    owner.buffer.write(2, dict(value=np.zeros(1), game=np.zeros(1)))  # killed before cleanup
    owner.prune(committed=0)
    assert [owner.staging(r).exists() for r in (0, 1, 2, 3)] == [False, True, False, True]
    assert owner.staged(1) == [0] and owner.staged(3) == [0]  # unfinished rounds keep units


# -- the CLI's one-line errors -----------------------------------------------------------------

def test_cli_refuses_a_malformed_ray_address(monkeypatch, capsys, tmp_path):
    pytest.importorskip("ray")
    for args in (["train", "tictactoe", "--run", tmp_path / "run"],
                 ["eval", "game24", "--limit", "2"]):
        assert_user_error(lmzero(monkeypatch, capsys, *args, "--ray-address", "nonsense"),
                          "'nonsense'", "HOST:PORT")
    assert not (tmp_path / "run").exists()


def test_cli_names_an_unreachable_cluster(monkeypatch, capsys, tmp_path):
    pytest.importorskip("ray")
    for args in (["train", "tictactoe", "--run", tmp_path / "run"],
                 ["eval", "game24", "--limit", "2"]):
        # probed over TCP first: refused at once, not after Ray's minutes of retries
        code, stdout, stderr = lmzero(monkeypatch, capsys, *args, "--ray-address", "127.0.0.1:1")
        assert code == 1, stderr
        assert stderr.startswith("lmzero: error: ") and stderr.count("\n") == 1, stderr
        assert "127.0.0.1:1" in stderr and "Traceback" not in stderr
    assert not (tmp_path / "run").exists()  # the same command can simply be run again


def test_cli_refuses_workers_for_pretraining(monkeypatch, capsys, tmp_path):
    assert_user_error(lmzero(monkeypatch, capsys, "train", "game24", "--stage", "pretrain",
                             "--workers", "2", "--run", tmp_path / "run"), "--workers")
    assert_user_error(lmzero(monkeypatch, capsys, "train", "tictactoe", "--workers", "0",
                             "--run", tmp_path / "run"), "--workers")
