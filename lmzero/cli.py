"""The `lmzero` command: a thin layer over the library. User errors: one line, exit code 2."""

from __future__ import annotations

import json
import sys
from enum import Enum
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="AlphaZero-style planning and self-improvement atop language models.")
out = Console(width=120)  # wide enough for the analysis table when piped


class UserError(Exception):
    """A mistake in the user's input: reported as one line, exit code 2."""


class GameName(str, Enum):
    connect4 = "connect4"
    tictactoe = "tictactoe"


def _game(name: GameName):
    from lmzero.tasks.connect4 import ConnectFour
    from lmzero.tasks.tictactoe import TicTacToe
    return ConnectFour() if name == GameName.connect4 else TicTacToe()


def _player(game, simulations: int | None, seed: int, checkpoint: Path | None = None,
            rollouts: bool = False):
    """The agent: the network of --checkpoint (else the shipped one) under PUCT; with
    --rollouts, or when no network exists, model-free UCT with random rollouts."""
    from lmzero.checkpoint import CheckpointError
    from lmzero.models.load import load_network, shipped_checkpoint
    from lmzero.player import SearchPlayer
    from lmzero.search import RolloutEvaluator, SearchConfig
    path = None if rollouts else (checkpoint or shipped_checkpoint(game))
    if path is None:
        config = SearchConfig(num_simulations=simulations or 2000, method="uct",
                              leaves_per_call=1)
        return SearchPlayer(game, RolloutEvaluator(game, seed=seed), config, seed=seed)
    try:
        evaluator = load_network(path, game)
    except CheckpointError as exc:
        raise UserError(str(exc)) from None
    config = SearchConfig(num_simulations=simulations or 200, method="puct", leaves_per_call=1)
    return SearchPlayer(game, evaluator, config, seed=seed)


CHECKPOINT = typer.Option(None, "--checkpoint", help="A checkpoint or run directory (default: "
                          "the network the project ships).")
ROLLOUTS = typer.Option(False, "--rollouts", help="Use model-free MCTS with random rollouts.")


def _read_positions(path: Path, game):
    """All positions of the file, or a UserError naming the first bad line (nothing printed)."""
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror}") from None
    positions = []
    for number, line in enumerate(lines, start=1):
        text = line.strip()
        try:
            state = game.from_moves(text)
        except ValueError as exc:
            raise UserError(f"{path}, line {number} ({text!r}): {exc}") from None
        if game.is_terminal(state):
            raise UserError(f"{path}, line {number} ({text!r}): the game is already over")
        positions.append((text, state))
    if not positions:
        raise UserError(f"{path}: no positions (one move sequence per line, e.g. 4453)")
    return positions


@app.command()
def analyse(
    game_name: GameName = typer.Argument(..., metavar="GAME", help="connect4"),
    positions: Path = typer.Option(..., "--positions", help="One move sequence per line: 1-based"
                                   " columns, e.g. 4453; an empty line is the empty board."),
    simulations: int = typer.Option(None, "--simulations", min=1, help="Simulations per "
                                    "position (default 200 with a network, 2000 with rollouts)."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per line."),
    checkpoint: Path = CHECKPOINT,
    rollouts: bool = ROLLOUTS,
    seed: int = typer.Option(0, "--seed", help="Random seed of the search."),
    solver: bool = typer.Option(False, "--solver", help="Also show the exact solver's best moves"
                                " (win/draw/loss); slow before ply ~8."),
):
    """The move the agent chooses in each position, with root visits and value."""
    if game_name != GameName.connect4:
        raise UserError("analyse supports connect4 only")
    game = _game(game_name)
    items = _read_positions(positions, game)
    from lmzero.search import search
    player = _player(game, simulations, seed, checkpoint, rollouts)
    result = search(game, player.evaluator, [s for _, s in items], player.config, rng=seed)
    rows = [dict(position=text, move=int(result.action[b]) + 1,
                 visits=result.visits[b].tolist(), value=round(float(result.root_value[b]), 4))
            for b, (text, _) in enumerate(items)]
    if solver:
        from lmzero.tasks.connect4_solver import Solver
        exact = Solver()
        for row, (_, state) in zip(rows, items):
            row["solver_best"] = [c + 1 for c in exact.best_moves(state)]
    if as_json:
        for row in rows:
            print(json.dumps(row))
        return
    extra = ["solver best", "keeps"] if solver else []
    table = Table("position", "move", *[f"c{c}" for c in range(1, 8)], "value", *extra)
    for row in rows:
        best = ([" ".join(map(str, row["solver_best"])),
                 "yes" if row["move"] in row["solver_best"] else "NO"] if solver else [])
        table.add_row(row["position"] or "(empty)", str(row["move"]),
                      *map(str, row["visits"]), f"{row['value']:+.3f}", *best)
    out.print(table)


def _ask_move(game, state) -> int | None:
    """A legal 0-based action from the person, or None at end of input / 'q'."""
    n = game.num_actions
    while True:
        try:
            text = input(f"your move (1-{n}, q to quit): ").strip()
        except EOFError:
            return None
        if text.lower() in {"q", "quit", "exit"}:
            return None
        if not text.isdigit() or not 1 <= int(text) <= n:
            print(f"'{text}' is not a move: type a number from 1 to {n}")
        elif not game.legal_mask(state)[int(text) - 1]:
            print(f"{text} is not legal here: choose another")
        else:
            return int(text) - 1


@app.command()
def play(
    game_name: GameName = typer.Argument(..., metavar="GAME", help="connect4 or tictactoe"),
    simulations: int = typer.Option(None, "--simulations", min=1, help="Agent's simulations "
                                    "(default 200 with a network, 2000 with rollouts)."),
    first: bool = typer.Option(True, "--first/--second", help="Whether you move first."),
    seed: int = typer.Option(0, "--seed", help="Random seed of the agent."),
    checkpoint: Path = CHECKPOINT,
    rollouts: bool = ROLLOUTS,
):
    """Play against the agent in the terminal."""
    game = _game(game_name)
    player = _player(game, simulations, seed, checkpoint, rollouts)
    state = game.initial_state()
    human = 0 if first else 1
    while not game.is_terminal(state):
        print(game.render(state) + "\n")
        if game.to_play(state) == human:
            action = _ask_move(game, state)
            if action is None:
                print("bye")
                return
        else:
            result = player.think(state)
            action = int(result.action[0])
            print(f"agent plays {action + 1} (value {result.root_value[0]:+.2f} for it)")
        player.observe(action)
        state = game.apply(state, action)
    print(game.render(state))
    value = game.terminal_value(state)
    loser = game.to_play(state)
    print("draw" if value == 0 else ("you win" if loser != human else "the agent wins"))


class Preset(str, Enum):
    quick = "quick"
    full = "full"


class TrainTask(str, Enum):
    connect4 = "connect4"
    tictactoe = "tictactoe"
    game24 = "game24"
    countdown = "countdown"


class Stage(str, Enum):
    selfplay = "selfplay"
    pretrain = "pretrain"


def _progress():
    """A progress bar whose tasks carry a `last` field: the latest figures."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/"
               "{task.total}"), TimeElapsedColumn(), TextColumn("{task.fields[last]}"))
    return Progress(*columns, console=out)


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
        return _pretrain(task_name.value, run, resume, steps)
    if steps:
        raise UserError("--steps applies to --stage pretrain (use --iterations)")
    if reasoning:
        return _improve(task_name.value, preset, run, resume, iterations, from_scratch, model)
    if model:
        raise UserError("--model applies to game24 and countdown (games train their own "
                        "network)")
    if from_scratch:
        raise UserError("--from-scratch applies to game24 and countdown (games always start "
                        "from scratch)")
    _train_game(task_name.value, preset, run, resume, iterations)


def _improve(task_name: str, preset: Preset, run: Path | None, resume: bool,
             iterations: int | None, from_scratch: bool, model: str | None) -> None:
    """Self-improvement: search -> replay -> learner with curation, then three held-out
    puzzles solved with their principal variation."""
    from dataclasses import replace

    from lmzero.selfimprove import PRESETS, for_model, improve

    config = PRESETS[(task_name, preset.value)]
    if iterations:
        config = replace(config, iterations=iterations)
    if from_scratch:
        config = replace(config, from_scratch=True)
    if model:
        if from_scratch:
            raise UserError("--model and --from-scratch exclude each other")
        try:
            config = for_model(config, model)
        except ValueError as exc:
            raise UserError(str(exc)) from None
    run = run or Path("runs") / f"{task_name}-{preset.value}"
    table = Table(title=f"{task_name} self-improvement (held-out)")
    for name in ("iteration", "greedy pass@1", f"MCTS solved @{config.eval_budget} calls",
                 "calls per solved", "train solved", "wall s"):
        table.add_column(name, justify="right")
    with _progress() as bar:
        task = bar.add_task(f"{task_name} iterations", total=config.iterations, last="")

        def report(i, phase, row):
            if row is None or phase == "pretrain":
                text = f"pretraining step {row['step'] + 1}" if row else phase
                bar.update(task, last=text if i < 0 else f"iteration {i}: {phase}")
                return
            bar.update(task, completed=i + 1, last=f"greedy {row['heldout_greedy_pass1']:.1%}")
            calls = row.get("mcts_calls_per_solved")
            trained = row.get("train_solve_rate")
            out.print(f"{'start' if i < 0 else f'iteration {i}'}: greedy pass@1 "
                      f"{row['heldout_greedy_pass1']:.1%}  MCTS {row['heldout_mcts_solved']:.1%}"
                      f"  calls/solved {'-' if calls is None else calls}  train solved "
                      f"{'-' if trained is None else f'{trained:.1%}'}  "
                      f"{row['wall_seconds']:.0f}s")
        try:
            rows = improve(config, run, resume=resume, progress=report,
                           iterations=iterations if resume else None)
        except ValueError as exc:
            raise UserError(str(exc)) from None
    for row in rows:
        calls = row.get("mcts_calls_per_solved")
        table.add_row("start" if row["iteration"] < 0 else str(row["iteration"]),
                      f"{row['heldout_greedy_pass1']:.1%}", f"{row['heldout_mcts_solved']:.1%}",
                      "-" if calls is None else f"{calls:.1f}",
                      f"{row['train_solve_rate']:.1%}" if "train_solve_rate" in row else "-",
                      f"{row['wall_seconds']:.0f}")
    out.print(table)
    from lmzero.learn.trainee import is_hf_checkpoint
    kind = "hf:" if is_hf_checkpoint(str(run)) else "tinylm:"
    _show_solutions(task_name, kind + str(run), config.eval_budget)
    out.print(f"run directory: {run}")


def _show_solutions(task_name: str, spec: str, budget: int, count: int = 3) -> None:
    """Solve a few held-out puzzles with the run's newest model (`spec`) and show how."""
    from lmzero.models.spec import load_model
    from lmzero.search.budget import Budget
    from lmzero.search.step_search import StepSearchConfig, step_search
    from lmzero.selfimprove import PRESETS, heldout_eval_problems
    from lmzero.tasks.arith import ArithTask
    task = ArithTask(task_name)
    problems = heldout_eval_problems(PRESETS[(task_name, "quick")])[:count * 37:37]
    model = load_model(spec, task_name)
    results = step_search(task, model, problems, StepSearchConfig(),
                          [Budget(max_calls=budget) for _ in problems])
    for problem, result in zip(problems, results):
        head = " ".join(map(str, problem.numbers)) + f" -> {problem.target}"
        verdict = (f"{result.answer} = {problem.target}" if result.solved else "not solved")
        out.print(f"[bold]{head}[/bold]: {verdict} ({result.budget.model_calls} calls)")
        for depth, node in enumerate(result.principal_variation(), start=1):
            out.print(f"  {depth}. {node['step']:<32} visits {node['visits']:>3}  "
                      f"value {node['value']:.2f}  prior {node['prior']:.2f}")


def _pretrain(task_name: str, run: Path | None, resume: bool, steps: int | None) -> None:
    from lmzero.learn.pretrain import PretrainConfig, load_config, pretrain
    config = PretrainConfig(task=task_name)
    run = run or Path("runs") / f"{task_name}-pretrain"
    try:
        total = steps or (load_config(run) if resume else config).steps
    except ValueError as exc:
        raise UserError(str(exc)) from None
    with _progress() as bar:
        task = bar.add_task(f"{task_name} pretraining steps", total=total, last="")

        def report(row):
            bar.update(task, completed=row["step"] + 1, last=f"loss {row['loss_policy']:.3f}"
                       f" + {row['loss_value']:.3f}")
            figures = " ".join(f"{k}={v}" for k, v in row.items() if k.startswith("heldout"))
            out.print(f"step {row['step'] + 1}: steps loss={row['loss_policy']:.4f} value "
                      f"loss={row['loss_value']:.4f} {row['seconds']:.0f}s {figures}")
        try:
            pretrain(config, run, resume=resume, steps=steps, progress=report)
        except ValueError as exc:
            raise UserError(str(exc)) from None
    out.print(f"run directory: {run}")


def _train_game(game_name: str, preset: Preset, run: Path | None, resume: bool,
                iterations: int | None) -> None:
    """AlphaZero self-play training: self-play with search, replay, learner, checkpoints."""
    from dataclasses import replace

    from lmzero.loop import PRESETS, train as run_training

    config = PRESETS[(game_name, preset.value)]
    if iterations:
        config = replace(config, iterations=iterations)
    run = run or Path("runs") / f"{game_name}-{preset.value}"
    with _progress() as bar:
        task = bar.add_task(f"{game_name} iterations", total=config.iterations, last="")

        def report(i, phase, row):
            if row is None:
                bar.update(task, last=f"iteration {i}: {phase}")
                return
            figures = {k: v for k, v in row.items() if k.startswith(("score", "raw", "greedy",
                                                                      "search_vs"))}
            text = " ".join(f"{k}={v:.3g}" for k, v in figures.items())
            bar.update(task, completed=i + 1, last=text)
            out.print(f"iteration {i}: games={row['games']} loss={row['loss_total']:.3f} "
                      f"{row['positions_per_second']} pos/s  {text}")
        try:
            run_training(config, run, resume=resume, progress=report)
        except ValueError as exc:
            raise UserError(str(exc)) from None
    out.print(f"run directory: {run}")

class ReasoningTask(str, Enum):
    game24 = "game24"
    countdown = "countdown"


class Split(str, Enum):
    heldout = "heldout"
    train = "train"
    all = "all"


def _step_model(task_name: str, checkpoint: Path | None, seed: int, spec: str | None = None):
    """The model of --model SPEC, else the text model of --checkpoint, else the one the project
    ships for the task."""
    from lmzero.checkpoint import CheckpointError
    from lmzero.models.load import SHIPPED
    from lmzero.models.tinylm_steps import load_step_model
    if spec is not None:
        if checkpoint is not None:
            raise UserError("give --model or --checkpoint, not both")
        from lmzero.models.spec import load_model
        try:
            return load_model(spec, task_name, seed=seed)
        except (ValueError, OSError) as exc:  # BackendError and CheckpointError included
            raise UserError(str(exc).splitlines()[0]) from None
    path = checkpoint or SHIPPED / task_name
    if checkpoint is None and not path.is_dir():
        raise UserError(f"no --checkpoint given and no {task_name} model is shipped yet: pass "
                        f"--checkpoint DIR (e.g. from `lmzero train {task_name} --stage pretrain`)")
    try:
        return load_step_model(path, seed=seed, task=task_name)
    except CheckpointError as exc:
        raise UserError(str(exc)) from None


def _problems(task_name: str, problems: Path | None, split: Split, limit: int | None,
              seed: int):
    from lmzero.tasks import countdown, game24
    from lmzero.tasks.arith import ProblemError, read_problems
    if problems is not None:
        try:
            found = read_problems(problems, task_name)
        except OSError as exc:
            raise UserError(f"cannot read {problems}: {exc.strerror}") from None
        except ProblemError as exc:
            raise UserError(str(exc)) from None
        if not found:
            raise UserError(f"{problems}: no problems (one JSON object per line, e.g. "
                            '{"numbers": [4, 9, 10, 13], "target": 24})')
    elif task_name == "game24":
        found = game24.problems(split.value)
    else:
        found = countdown.generate(limit or 100, seed=seed, split=split.value)
    return found[:limit] if limit else found


@app.command("eval")
def evaluate(
    task_name: ReasoningTask = typer.Argument(..., metavar="TASK", help="game24 or countdown"),
    checkpoint: Path = typer.Option(None, "--checkpoint", help="A text-model checkpoint or run "
                                    "directory (default: the model the project ships)."),
    model_spec: str = typer.Option(None, "--model", help="Any step model by spec: tinylm:PATH, "
                                   "hf:PATH_OR_GGUF, openai:http://HOST:PORT/v1#MODEL, "
                                   "vllm:NAME_OR_PATH (instead of --checkpoint)."),
    method: str = typer.Option("mcts", "--method", help="greedy, sample, best-of-n, beam, bfs, "
                               "mcts or gumbel."),
    budget: int = typer.Option(64, "--budget", min=1, help="Model calls per problem (one call "
                               "is one request about one state)."),
    token_budget: int = typer.Option(None, "--token-budget", min=1, help="Generated tokens per "
                                     "problem."),
    problems: Path = typer.Option(None, "--problems", help="JSONL problems, one per line: "
                                  '{"numbers": [4, 9, 10, 13], "target": 24}.'),
    split: Split = typer.Option(Split.heldout, "--split", help="Built-in problems to use when "
                                "--problems is not given."),
    limit: int = typer.Option(None, "--limit", min=1, help="Only the first N problems."),
    verifier: bool = typer.Option(True, "--verifier/--no-verifier", help="Let the checker judge "
                                  "terminal states during the method (best-of-n: oracle)."),
    k: int = typer.Option(4, "--k", min=1, help="Steps sampled per expansion."),
    width: int = typer.Option(4, "--width", min=1, help="Beam / BFS width."),
    seed: int = typer.Option(0, "--seed"),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
):
    """Accuracy of one method on held-out problems, with model calls, tokens and time."""
    from lmzero.eval.reasoning import MethodConfig, evaluate as run_eval
    from lmzero.tasks.arith import ArithTask
    try:
        config = MethodConfig(method=method, budget=budget, token_budget=token_budget,
                              verifier=verifier, k=k, width=width, seed=seed)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    found = _problems(task_name.value, problems, split, limit, seed)
    model = _step_model(task_name.value, checkpoint, seed, model_spec)
    result = run_eval(ArithTask(task_name.value), model, found, config)
    if as_json:
        print(json.dumps(result))
        return
    table = Table(title=f"{task_name.value}: {method}, {'' if verifier else 'no '}verifier, "
                        f"budget {budget} calls")
    for name in ("solved", "total", "accuracy", "mean model calls", "prompt tokens",
                 "generated tokens", "seconds"):
        table.add_column(name, justify="right")
    table.add_row(str(result["solved"]), str(result["total"]), f"{result['accuracy']:.1%}",
                  f"{result['model_calls']:.1f}", f"{result['prompt_tokens']:.0f}",
                  f"{result['generated_tokens']:.0f}", f"{result['seconds']:.1f}")
    out.print(table)


@app.command()
def solve(
    task_name: ReasoningTask = typer.Argument(..., metavar="TASK", help="game24 or countdown"),
    problem: str = typer.Argument(..., help='The numbers, e.g. "4 9 10 13" (countdown: '
                                  '"3 7 25 50 -> 147").'),
    checkpoint: Path = typer.Option(None, "--checkpoint", help="A text-model checkpoint or run "
                                    "directory (default: the model the project ships)."),
    model_spec: str = typer.Option(None, "--model", help="Any step model by spec: tinylm:PATH, "
                                   "hf:PATH_OR_GGUF, openai:http://HOST:PORT/v1#MODEL, "
                                   "vllm:NAME_OR_PATH (instead of --checkpoint)."),
    method: str = typer.Option("mcts", "--method", help="mcts or gumbel."),
    budget: int = typer.Option(64, "--budget", min=1, help="Model calls."),
    seed: int = typer.Option(0, "--seed"),
):
    """Solve one problem by search and show the principal variation with visits and values."""
    from lmzero.search.budget import Budget
    from lmzero.search.step_search import StepSearchConfig, step_search
    from lmzero.tasks.arith import ArithTask, ProblemError, parse_problem_text
    if method not in ("mcts", "gumbel"):
        raise UserError(f"solve searches with mcts or gumbel, not {method!r}")
    task = ArithTask(task_name.value)
    try:
        parsed = parse_problem_text(problem, task)
    except ProblemError as exc:
        raise UserError(str(exc)) from None
    model = _step_model(task_name.value, checkpoint, seed, model_spec)
    config = StepSearchConfig(method="gumbel" if method == "gumbel" else "puct")
    [result] = step_search(task, model, [parsed], config, [Budget(max_calls=budget)], seed=seed)
    used = result.budget
    table = Table(title="principal variation")
    for name in ("depth", "step", "visits", "value", "prior"):
        table.add_column(name, justify="left" if name == "step" else "right")
    for depth, node in enumerate(result.principal_variation(), start=1):
        table.add_row(str(depth), node["step"], str(node["visits"]), f"{node['value']:.3f}",
                      f"{node['prior']:.3f}")
    out.print(table)
    root_visits = result.tree.visits[0]
    stats = (f"{used.model_calls} model calls, {used.generated_tokens} generated tokens, "
             f"{root_visits} root visits, {used.seconds:.2f} s")
    if result.solved:
        out.print(f"solution: {result.answer} = {parsed.target}   ({stats})")
    else:
        out.print(f"no solution found within {budget} model calls ({stats})")
        raise typer.Exit(1)


def main() -> None:
    """Entry point: click's usage errors and our UserErrors become one line and exit code 2."""
    try:
        code = app(standalone_mode=False)
    except UserError as exc:
        print(f"lmzero: error: {exc}", file=sys.stderr)
        sys.exit(2)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        print("aborted", file=sys.stderr)
        sys.exit(130)
    except typer.TyperException as exc:  # click's usage errors (typer vendors click)
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        print(f"lmzero: error: {message}", file=sys.stderr)
        sys.exit(2)
    sys.exit(code or 0)


if __name__ == "__main__":
    main()
