"""Curation: buckets, holes, replay weights, problem choice, generation for holes, resuming."""

import collections
import json
import re

import numpy as np
import pytest

from lmzero.replay.curation import CurationConfig, Curator
from lmzero.tasks import countdown, game24
from lmzero.tasks.arith import Problem
from lmzero.tasks.countdown import CountdownConfig, config_for
from lmzero.tasks.game24 import BUCKETS as GAME24_BUCKETS

TASKS = {"game24": game24.TASK, "countdown": countdown.TASK}


def bucket_of(name, problem):
    return TASKS[name].bucket(problem)

TRAIN = game24.problems("train")


def test_game24_buckets_follow_solution_counts():
    task = game24.TASK
    assert task.count_solutions(Problem.make([1, 5, 5, 5], 24)) == 1
    assert bucket_of("game24", Problem.make([1, 5, 5, 5], 24)) == "1 solution"
    ranges = {"1 solution": (1, 1), "2-3": (2, 3), "4-7": (4, 7), "8-15": (8, 15), "16+": (16, 999)}
    for p in TRAIN[::50]:
        lo, hi = ranges[bucket_of("game24", p)]
        assert lo <= task.count_solutions(p) <= hi
    assert bucket_of("game24", Problem.make([1, 1, 1, 1], 24)) == "0 solutions"
    counts = collections.Counter(bucket_of("game24", p) for p in TRAIN)
    assert counts == {"1 solution": 164, "2-3": 165, "4-7": 276, "8-15": 224, "16+": 175}


def test_countdown_buckets_by_k_and_target():
    assert bucket_of("countdown", Problem.make([3, 7, 25, 50], 147)) == "k=4 target>=100"
    assert bucket_of("countdown", Problem.make([3, 7, 25], 49)) == "k=3 target<50"
    assert bucket_of("countdown", Problem.make([3, 7, 25, 1, 2], 50)) == "k=5 target 50-99"
    assert bucket_of("countdown", Problem.make([3, 7, 25, 1, 2], 99)) == "k=5 target 50-99"
    assert bucket_of("countdown", Problem.make([3, 7, 25, 1], 100)) == "k=4 target>=100"


def _planted_hole() -> Curator:
    """All buckets well covered and always solved, except "1 solution": few examples and solves."""
    cur = Curator(game24.TASK)
    by_bucket = collections.defaultdict(list)
    for p in TRAIN:
        by_bucket[bucket_of("game24", p)].append(p)
    for b, problems in by_bucket.items():
        for i, p in enumerate(problems[:40]):
            if b == "1 solution":
                cur.record(p, solved=i % 10 == 0, examples=2)
            else:
                cur.record(p, solved=True, examples=20)
    return cur


def test_planted_hole_gets_the_highest_weight():
    cur = _planted_hole()
    assert cur.holes() == ["1 solution"]
    stats = cur.stats()
    assert "few examples" in stats["1 solution"]["why"] and "low solve rate" in stats[
        "1 solution"]["why"]
    weights = cur.replay_weights()
    assert max(weights, key=weights.get) == "1 solution"
    assert weights["1 solution"] == pytest.approx(4 * weights["2-3"])  # hole_weight**2, capped at 4
    mean = sum(weights[b] * s["examples"] for b, s in stats.items()) / sum(
        s["examples"] for s in stats.values())
    assert mean == pytest.approx(1.0)  # normalised per example
    buckets = ["1 solution", "2-3", "4-7", "16+", "1 solution"]
    p = cur.example_weights(buckets)
    assert p.shape == (5,) and p.sum() == pytest.approx(1.0)
    assert p[0] == p[4] == pytest.approx(4 * p[1]) and p[1] == p[2] == p[3]
    assert cur.example_weights([]).shape == (0,)


def test_no_holes_before_any_example():
    cur = Curator(game24.TASK)
    assert cur.holes() == []
    assert cur.replay_weights() == {b: 1.0 for b in GAME24_BUCKETS}


def test_choose_prefers_frontier_and_still_explores():
    pool = TRAIN[:300]
    always, frontier = pool[:100], pool[100:200]  # the last 100 stay unseen
    cur = Curator(game24.TASK, CurationConfig(explore=0.2))
    for p in always:
        for _ in range(10):
            cur.record(p, solved=True, examples=10)
    for p in frontier:
        for i in range(4):
            cur.record(p, solved=i % 2 == 0, examples=10)
    chosen = collections.Counter()
    for seed in range(10):
        picks = cur.choose_problems(pool, 60, np.random.default_rng(seed))
        assert len(set(picks)) == 60
        chosen.update("always" if p in always else "frontier" if p in frontier else "unseen"
                      for p in picks)
    # expected per draw: always 12/3 + 48 * 10/210 ~ 6, frontier and unseen 12/3 + 48 * 100/210 ~ 27
    assert chosen["frontier"] > 3 * chosen["always"] and chosen["unseen"] > 3 * chosen["always"]
    assert chosen["always"] > 0  # the explore share reaches them


def test_choose_prefers_hole_buckets():
    cur = Curator(game24.TASK, CurationConfig(explore=0.0))
    for p in TRAIN[:500]:
        solved = bucket_of("game24", p) != "16+"
        cur.record(p, solved=solved, examples=20 if solved else 1)  # "16+": few examples, unsolved
    assert cur.holes() == ["16+"]
    pool = TRAIN[500:]
    share = np.mean([bucket_of("game24", p) == "16+" for p in pool])
    picks = cur.choose_problems(pool, 100, np.random.default_rng(0))
    assert np.mean([bucket_of("game24", p) == "16+" for p in picks]) > 2 * share


def test_state_dict_round_trip_gives_identical_choices():
    cur = _planted_hole()
    again = Curator.from_state_dict(json.loads(json.dumps(cur.state_dict())), game24.TASK)
    assert again.stats() == cur.stats() and again.summary() == cur.summary()
    assert (cur.choose_problems(TRAIN, 50, np.random.default_rng(7))
            == again.choose_problems(TRAIN, 50, np.random.default_rng(7)))
    assert (cur.choose_problems(TRAIN, 50, np.random.default_rng(7))
            != cur.choose_problems(TRAIN, 50, np.random.default_rng(8)))


@pytest.mark.parametrize("field, value", [
    ("min_example_share", 1.5), ("low_solve_rate", -0.1), ("hole_weight", 0.5),
    ("max_weight", 0.0), ("frontier_low", 0.95), ("off_frontier", 0.0), ("explore", 2.0),
    ("prior_attempts", 0.0)])
def test_config_errors_say_how_to_fix(field, value):
    with pytest.raises(ValueError, match=f"{field}.*set"):
        CurationConfig(**{field: value})


def test_heldout_never_chosen_nor_recorded():
    cur = Curator(game24.TASK)
    for seed in range(5):
        assert not any(map(game24.is_heldout, cur.choose_problems(TRAIN, 200,
                                                                  np.random.default_rng(seed))))
    heldout = game24.problems("heldout")[0]
    with pytest.raises(ValueError, match=re.escape(str(heldout))):
        cur.choose_problems(TRAIN[:10] + [heldout], 5, np.random.default_rng(0))
    with pytest.raises(ValueError, match="held out"):
        cur.record(heldout, solved=True, examples=3)
    with pytest.raises(ValueError, match="pool size"):
        cur.choose_problems(TRAIN[:10], 11, np.random.default_rng(0))


def test_countdown_generation_lands_in_hole_buckets():
    cur = Curator(countdown.TASK, buckets=["k=3 target 50-99"])  # expected, never attempted: a hole
    for p in countdown.generate(60, CountdownConfig(), seed=1):
        cur.record(p, solved=bucket_of("countdown", p) != "k=4 target<50", examples=10)
    wanted = cur.target_buckets()
    assert set(cur.holes()) == {"k=4 target<50", "k=3 target 50-99"} <= set(wanted)
    made = cur.generate_for_holes(12, seed=3)
    assert len(made) == 12 and len(set(made)) == 12
    assert all(bucket_of("countdown", p) in wanted for p in made)
    assert {bucket_of("countdown", p) for p in made} == set(wanted)
    assert not any(map(countdown.is_heldout, made))
    assert made == cur.generate_for_holes(12, seed=3)  # deterministic
    plain = Curator(game24.TASK).generate_for_holes(3)  # a fixed set: plain training puzzles
    assert len(plain) == 3 and not any(map(game24.is_heldout, plain))


def test_countdown_config_for_a_bucket():
    base = CountdownConfig(min_target=10, max_target=200)
    assert config_for("k=5 target<50", base) == CountdownConfig(k=5, min_target=10, max_target=49)
    assert config_for("k=3 target>=100", base) == CountdownConfig(k=3, min_target=100,
                                                                   max_target=200)
    narrow = CountdownConfig(min_target=120, max_target=150)  # no overlap: the bucket's own range
    assert config_for("k=4 target 50-99", narrow) == CountdownConfig(min_target=50, max_target=99)


def test_summary_and_plot(tmp_path):
    cur = _planted_hole()
    row = cur.summary()
    assert row["curation_holes"] == 1 and row["curation_hole_buckets"] == "1 solution"
    assert row["solve_rate[1 solution]"] == pytest.approx(0.1)
    shares = [v for k, v in row.items() if k.startswith("example_share[")]
    assert sum(shares) == pytest.approx(1, abs=1e-3)
    json.dumps(row)
    history = [Curator(game24.TASK).summary(), row, dict(row, iteration=5)]
    cur.plot(history, tmp_path / "plots" / "curation.png")
    assert (tmp_path / "plots" / "curation.png").stat().st_size > 1000


def test_curator_state_from_before_task_json_still_loads():
    old = {"task": "game24", "config": {}, "buckets": list(GAME24_BUCKETS),
           "problems": [[[1, 5, 5, 5], 24, 3, 1, 7]]}  # numbers, target, attempts, solved, examples
    cur = Curator.from_state_dict(old)  # the task is found by its registered name
    assert cur.task is game24.TASK
    assert cur.stats()["1 solution"]["attempts"] == 3 and cur.stats()["1 solution"]["examples"] == 7
    assert cur.state_dict()["problems"] == [[{"numbers": [1, 5, 5, 5], "target": 24}, 3, 1, 7]]
