"""`lmzero train`: one command for every task; games go to self-play, reasoning tasks to
self-improvement (or its world-model stage)."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer

from lmzero.cli.common import (MAX_WORKERS, Preset, UserError, app, checked_device,
                               progress_option, progress_wanted, scale_config)
from lmzero.cli.games import train_game
from lmzero.cli.reasoning import (RAY_ADDRESS_HELP, TASK_HELP, TASK_OPTION_HELP, WORKERS_HELP,
                                  pick_task, train_improve, train_pretrain)


class Stage(str, Enum):
    selfplay = "selfplay"
    pretrain = "pretrain"


class Trunk(str, Enum):
    """`loop.TRUNKS`, as the CLI offers them."""
    mlp = "mlp"
    resnet = "resnet"
    transformer = "transformer"


class Algo(str, Enum):
    """`learn.algorithms.ALGORITHMS`, as the CLI offers them."""
    expert_iteration = "expert-iteration"
    rft = "rft"
    grpo = "grpo"


@app.command()
def train(
    task_ref: str = typer.Argument(None, metavar="[TASK]", help="connect4, tictactoe, "
                                   "openspiel:NAME(params) or pettingzoo:MODULE (self-play); a "
                                   "step task for self-improvement: " + TASK_HELP + "."),
    task_option: str = typer.Option(None, "--task", help=TASK_OPTION_HELP),
    stage: Stage = typer.Option(Stage.selfplay, "--stage", help="selfplay: AlphaZero self-play "
                                "(games) or self-improvement by search (step tasks); pretrain: "
                                "only the world-model pretraining of a text model on the task's "
                                "world trajectories (step tasks)."),
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
    from_scratch: bool = typer.Option(False, "--from-scratch", help="Step tasks: start "
                                      "self-improvement from an untrained model instead of the "
                                      "world-model checkpoint."),
    model: str = typer.Option(None, "--model", help="Step tasks: the model to improve, "
                              "tinylm:PATH or hf:PATH_OR_GGUF (LoRA through the hf backend); "
                              "default: tinylm from the shipped world model."),
    workers: int = typer.Option(None, "--workers", min=1, max=MAX_WORKERS, help=WORKERS_HELP
                                + " Self-play games or training problems run on the actors; "
                                "the learner and the run directory stay here."),
    ray_address: str = typer.Option(None, "--ray-address", help=RAY_ADDRESS_HELP),
    algo: Algo = typer.Option(None, "--algo", help="Step tasks: expert-iteration (default: "
                              "search every training problem, distil the trees), rft (best-of-N "
                              "with the verifier, fine-tune on the passing trajectories) or grpo "
                              "(group-relative policy gradient: no search, no critic)."),
    threads: int = typer.Option(None, "--threads", min=1, max=256, help="torch CPU threads "
                                "of this process (default: the preset's; on --resume, replaces "
                                "the run's). Use 1 when another job shares the cores: two "
                                "processes spinning several threads each on two cores ran 10x "
                                "slower here."),
    trunk: Trunk = typer.Option(None, "--trunk", help="Games: the network's trunk for a new "
                                "run: mlp (the preset's), resnet (4 residual blocks x 32 "
                                "channels over the board planes) or transformer (2 x 64)."),
    actions: str = typer.Option(None, "--actions", help="Step tasks, expert iteration: the "
                                "search's steps, sampled (default) or legal (every legal step "
                                "the task lists, scored by the model)."),
    overrides: list[str] = typer.Option(None, "--set", help="FIELD=VALUE: any field of the "
                                        "run's config (repeatable; dotted for nested fields, "
                                        "e.g. actor.retry_budget=192, learner.lr=0.002), "
                                        "after the preset and the other options; a new run "
                                        "only."),
    device: str = typer.Option(None, "--device", help="torch device of the network and its "
                               "learner (games) or of tinylm (step tasks): cpu, cuda or cuda:N; "
                               "default: the preset's, or on --resume the run's, which it "
                               "replaces (a run begun on a GPU goes on here on the CPU)."),
    progress: bool = progress_option(),
):
    """Train: AlphaZero self-play for games; for step tasks (game24, countdown, math, yours),
    self-improvement by search (after world-model pretraining, or only the pretraining with
    --stage pretrain)."""
    from lmzero.tasks import TaskError, is_game, load_task
    task_ref = pick_task(task_ref, task_option)
    try:
        game = is_game(load_task(task_ref))
    except TaskError as exc:
        raise UserError(str(exc)) from None
    device = device if device is None else checked_device(device)
    given = dict(iterations=iterations, workers=workers or ray_address, algo=algo,
                 threads=threads, steps=steps, overrides=overrides, trunk=trunk,
                 actions=actions, model=model, from_scratch=from_scratch)
    if stage == Stage.pretrain:
        if game:
            raise UserError(f"--stage pretrain is for step tasks; train {task_ref} with "
                            "--stage selfplay")
        _refuse(given, PRETRAIN_REFUSES)
        return train_pretrain(task_ref, run, resume, steps, progress_wanted(progress), device)
    _refuse(given, SELFPLAY_REFUSES)
    _refuse(given, RESUME_REFUSES if resume else {})
    scale = scale_config(workers, ray_address)
    if not game:
        _refuse(given, STEP_TASK_REFUSES)
        return train_improve(task_ref, preset, run, resume, iterations, from_scratch, model,
                             scale, algo.value if algo else None, progress_wanted(progress),
                             threads, actions, overrides or [], device)
    _refuse(given, GAME_REFUSES)
    train_game(task_ref, preset, run, resume, iterations, scale, progress_wanted(progress),
               threads, trunk.value if trunk else "mlp", overrides or [], device)


PRETRAIN_REFUSES = {
    "iterations": "--iterations applies to --stage selfplay (use --steps)",
    "workers": "--workers applies to --stage selfplay (pretraining is one learner)",
    "algo": "--algo applies to --stage selfplay (pretraining has one objective)",
    "threads": "--threads applies to --stage selfplay (pretraining runs with "
               "PretrainConfig.threads)",
    "overrides": "--set applies to --stage selfplay (pretraining takes --steps)",
    "model": "--model applies to --stage selfplay (pretraining trains the task's own tinylm)",
    "from_scratch": "--from-scratch applies to --stage selfplay (pretraining always starts "
                    "from scratch)",
    "actions": "--actions applies to --stage selfplay (pretraining reads the world's "
               "trajectories)",
    "trunk": "--trunk applies to games (step tasks train a text model: --model)",
}
"""Options of self-play or self-improvement that world-model pretraining refuses: name in
`train`'s `given` -> the one-line error."""
SELFPLAY_REFUSES = {"steps": "--steps applies to --stage pretrain (use --iterations)"}
RESUME_REFUSES = {
    "overrides": "--set applies to a new run (a resumed run keeps its config.json)",
    "trunk": "--trunk applies to a new run (a resumed run keeps its network)",
}
STEP_TASK_REFUSES = {"trunk": "--trunk applies to games (step tasks train a text model: "
                              "--model)"}
GAME_REFUSES = {
    "actions": "--actions applies to step tasks (a game's moves are always legal moves)",
    "algo": "--algo applies to step tasks (games train by AlphaZero self-play)",
    "model": "--model applies to step tasks (games train their own network)",
    "from_scratch": "--from-scratch applies to step tasks (games always start from scratch)",
}


def _refuse(given: dict, refused: dict[str, str]) -> None:
    """A UserError for the first option in `refused` that was given."""
    for name, message in refused.items():
        if given.get(name):
            raise UserError(message)
