"""`lmzero train`: one command for every task; games go to self-play, reasoning tasks to
self-improvement (or its world-model stage)."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer

from lmzero.cli.common import Preset, UserError, app
from lmzero.cli.games import train_game
from lmzero.cli.reasoning import train_improve, train_pretrain


class TrainTask(str, Enum):
    connect4 = "connect4"
    tictactoe = "tictactoe"
    game24 = "game24"
    countdown = "countdown"


class Stage(str, Enum):
    selfplay = "selfplay"
    pretrain = "pretrain"


@app.command()
def train(
    task_name: TrainTask = typer.Argument(..., metavar="TASK", help="connect4 or tictactoe "
                                          "(self-play), game24 or countdown (self-improvement)."),
    stage: Stage = typer.Option(Stage.selfplay, "--stage", help="selfplay: AlphaZero self-play "
                                "(games) or self-improvement by search (game24, countdown); "
                                "pretrain: only the world-model pretraining of a text model on "
                                "random legal trajectories (game24, countdown)."),
    preset: Preset = typer.Option(Preset.quick, "--preset", help="quick (minutes) or full "
                                  "(up to an hour)."),
    run: Path = typer.Option(None, "--run", help="Run directory (default runs/TASK-PRESET, "
                             "runs/TASK-pretrain)."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --run after a "
                                "crash or stop; nothing already written is redone or lost."),
    iterations: int = typer.Option(None, "--iterations", min=1, help="Override the preset "
                                   "(self-play)."),
    steps: int = typer.Option(None, "--steps", min=1, help="Gradient steps (pretrain; default "
                              "from PretrainConfig)."),
    from_scratch: bool = typer.Option(False, "--from-scratch", help="game24/countdown: start "
                                      "self-improvement from an untrained model instead of the "
                                      "world-model checkpoint."),
    model: str = typer.Option(None, "--model", help="game24/countdown: the model to improve, "
                              "tinylm:PATH or hf:PATH_OR_GGUF (LoRA through the hf backend); "
                              "default: tinylm from the shipped world model."),
):
    """Train: AlphaZero self-play for games; for game24 and countdown, self-improvement by
    search (after world-model pretraining, or only the pretraining with --stage pretrain)."""
    reasoning = task_name in (TrainTask.game24, TrainTask.countdown)
    if stage == Stage.pretrain:
        if not reasoning:
            raise UserError(f"--stage pretrain is for game24 and countdown; train "
                            f"{task_name.value} with --stage selfplay")
        if iterations:
            raise UserError("--iterations applies to --stage selfplay (use --steps)")
        return train_pretrain(task_name.value, run, resume, steps)
    if steps:
        raise UserError("--steps applies to --stage pretrain (use --iterations)")
    if reasoning:
        return train_improve(task_name.value, preset, run, resume, iterations, from_scratch,
                             model)
    if model:
        raise UserError("--model applies to game24 and countdown (games train their own "
                        "network)")
    if from_scratch:
        raise UserError("--from-scratch applies to game24 and countdown (games always start "
                        "from scratch)")
    train_game(task_name.value, preset, run, resume, iterations)
