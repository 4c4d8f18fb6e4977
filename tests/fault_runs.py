"""Small runs of every training loop, for the kill-and-resume suite (tests/test_faults_runs.py).

    python -m tests.fault_runs KIND RUN_DIR [resume]

KIND is `games` (tic-tac-toe self-play), `pretrain` (Game of 24 world-model pretraining) or
`improve` (Game of 24 self-improvement, its world-model stage included). Each is a few seconds
to a minute of work on two cores; every figure a resumed run logs is compared with an
uninterrupted one.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path


def games(run_dir: Path, resume: bool) -> None:
    from lmzero.loop import train
    from tests.test_training import TINY
    train(replace(TINY, iterations=3), run_dir, resume=resume)


PRETRAIN = dict(task="game24", steps=24, batch_size=8, checkpoint_every=8, log_every=4,
                eval_problems=4, model=dict(n_layer=1, n_head=2, n_embd=32, block_size=160))


def pretrain(run_dir: Path, resume: bool) -> None:
    from lmzero.learn.pretrain import PretrainConfig, pretrain as run_pretrain
    run_pretrain(PretrainConfig(**PRETRAIN), run_dir, resume=resume)


def improve(run_dir: Path, resume: bool) -> None:
    from lmzero.learn.pretrain import PretrainConfig
    from lmzero.selfimprove import improve as run_improve
    from tests.test_selfimprove import TINY
    config = replace(TINY, iterations=3, problems_per_iteration=6, eval_problems=4,
                     greedy_problems=8, pretrain=PretrainConfig(**{**PRETRAIN, "eval_problems": 0}))
    run_improve(config, run_dir, resume=resume)


LOOPS = {"games": games, "pretrain": pretrain, "improve": improve}

if __name__ == "__main__":
    LOOPS[sys.argv[1]](Path(sys.argv[2]), resume=len(sys.argv) > 3)
