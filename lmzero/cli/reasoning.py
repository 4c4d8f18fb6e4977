"""Reasoning commands (any step task: Game of 24, Countdown, math, or a user's task by
FILE.py:NAME): `eval`, `solve`, and self-improvement and world-model pretraining behind `train`."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path

import typer
from rich.table import Table

from lmzero.cli.common import (MAX_WORKERS, SEED_MAX, LazyProgress, Preset, UserError, app, out,
                               checked_device, device_option, progress_option, progress_wanted,
                               scale_config, scaled_summary)

MAX_CALLS = 10**9
"""Largest --budget in model calls: far past any real run (a search whose tree is exhausted
stops earlier), small enough that every count and schedule stays an ordinary integer."""
MAX_TOKENS = 10**12
"""Largest --token-budget."""
MAX_K = 64
"""Largest --k: steps sampled per expansion (mcts and gumbel take at most 16)."""
MAX_LIMIT = 100_000
"""Largest --limit: problems are generated up front, and Countdown's generator tries ~1,000
trajectories per problem."""


TASK_HELP = ("game24, countdown, math, humaneval, code (with --problems FILE.jsonl), pbe, an "
             "installed plugin's name, or a task of your own as FILE.py:NAME or module:NAME")
TASK_OPTION_HELP = "The task, instead of the TASK argument (e.g. --task examples/my_task.py:TASK)."


WORKERS_HELP = ("Spread the work over N Ray search actors (pip install 'lmzero[ray]'): a local "
                "cluster, or the one --ray-address names.")
RAY_ADDRESS_HELP = ("Join this Ray cluster (HOST:PORT, as `ray start --head` prints) instead of "
                    "starting one; with no --workers, one actor per CPU of the cluster.")


def pick_task(argument: str | None, option: str | None) -> str:
    """The task reference from the TASK argument or --task (exactly one of them)."""
    if argument and option:
        raise UserError(f"give the task once: TASK argument {argument!r} or --task {option!r}")
    if not (argument or option):
        raise UserError("missing the task: give TASK (e.g. game24, math) or --task FILE.py:NAME")
    return argument or option


class Split(str, Enum):
    heldout = "heldout"
    train = "train"
    all = "all"


def load_user_task(ref: str):
    """The step task the user named; one line on a bad name or a file that is not a task."""
    from lmzero.tasks import TaskError, load_step_task
    try:
        return load_step_task(ref)
    except TaskError as exc:
        raise UserError(str(exc)) from None


def _step_model(task, checkpoint: Path | None, seed: int, spec: str | None = None,
                device: str = "cpu"):
    """The model of --model SPEC, else the text model of --checkpoint, else the one the project
    ships for the task; on `device` (--device)."""
    from lmzero.checkpoint import CheckpointError
    from lmzero.models.load import SHIPPED
    from lmzero.models.tinylm_steps import load_step_model
    placed = _device_options(device, spec)
    if spec is not None:
        if checkpoint is not None:
            raise UserError("give --model or --checkpoint, not both")
        from lmzero.models.spec import load_model
        try:
            return load_model(spec, task, seed=seed, **placed)
        except (ValueError, OSError) as exc:  # BackendError and CheckpointError included
            raise UserError(str(exc).splitlines()[0]) from None
    path = checkpoint or SHIPPED / task.name
    if checkpoint is None and not path.is_dir():
        raise UserError(f"no --checkpoint given and no {task.name} model is shipped: pass "
                        "--checkpoint DIR (from `lmzero train TASK`) or --model SPEC")
    try:
        return load_step_model(path, seed=seed, task=task, **placed)
    except CheckpointError as exc:
        raise UserError(str(exc)) from None


def _device_options(device: str, spec: str | None) -> dict:
    """The loader's options for --device: none on the CPU (every backend's default, served
    ones included); a device torch lacks, or one for a served model, is a UserError."""
    if checked_device(device) == "cpu":
        return {}
    from lmzero.models.spec import parse_spec
    try:
        kind = parse_spec(spec)[0] if spec is not None else "tinylm"
    except ValueError as exc:
        raise UserError(str(exc)) from None
    if kind in ("openai", "vllm"):
        raise UserError(f"--device moves tinylm and hf models; {kind} models run where their "
                        "server (or vLLM) puts them")
    return dict(device=device)


def _problems(task, problems: Path | None, split: Split, limit: int | None, seed: int):
    """The user's problem file, else the task's own problems of a split."""
    from lmzero.tasks import ProblemError
    try:
        if problems is not None:
            found = task.read_problems(problems)
            if not found:
                raise UserError(f"{problems}: no problems (one JSON object per line, e.g. "
                                f"{task.problem_example})")
        else:
            found = task.generate(limit or getattr(task, "default_count", 100), seed,
                                  split.value)
    except ProblemError as exc:
        raise UserError(str(exc)) from None
    return found[:limit] if limit else found


def _check_prompts(task, model, problems, source: Path | None) -> None:
    """Refuse, naming it, a problem whose prompt the model cannot read: a character outside a
    character-level model's vocabulary, or more tokens than its block holds with room for a
    step (the model would fail in the middle of the run, or could never write a step)."""
    why_not = _prompt_fit(model)
    if why_not is None:
        return
    from lmzero.tasks.base import one_line
    for number, problem in enumerate(problems, 1):
        reason = why_not(task.prompt(task.initial_state(problem)))
        if reason:
            where = f"{source}: problem {number}" if source else "the problem"
            raise UserError(f"{where} ({one_line(task.describe(problem), 50)}) does not fit "
                            f"the model: {reason}")


def _prompt_fit(model):
    """A check `prompt -> reason it does not fit, or None` for a model with a fixed block
    (tinylm); None for the others, whose contexts hold any problem a task accepts (a server
    refuses an over-long prompt itself, in one line)."""
    from lmzero.models.tinylm_steps import TinyLMStepModel
    if not isinstance(model, TinyLMStepModel):
        return None
    block = model.model.cfg.block_size

    def why_not(prompt: str) -> str | None:
        try:
            tokens = model.prompt_tokens(prompt)
        except ValueError as exc:  # a character the model never saw
            return str(exc)
        if tokens >= block:
            return (f"its prompt is {tokens} tokens, and the model reads at most {block}, steps "
                    "included (a model trained on shorter problems)")
        return None
    return why_not


@app.command("eval")
def evaluate(
    task_ref: str = typer.Argument(None, metavar="[TASK]", help=TASK_HELP),
    task_option: str = typer.Option(None, "--task", help=TASK_OPTION_HELP),
    checkpoint: Path = typer.Option(None, "--checkpoint", help="A text-model checkpoint or run "
                                    "directory (default: the model the project ships)."),
    model_spec: str = typer.Option(None, "--model", help="Any step model by spec: tinylm:PATH, "
                                   "hf:PATH_OR_GGUF, openai:http://HOST:PORT/v1#MODEL, "
                                   "vllm:NAME_OR_PATH (instead of --checkpoint)."),
    method: str = typer.Option("mcts", "--method", help="greedy, value-greedy (greedy's one "
                               "call per step over the legal steps, taking the one whose next "
                               "state the value head rates highest), sample, best-of-n, beam, "
                               "bfs, best-first (the best-valued open state next, legal steps, "
                               "verifier), mcts or gumbel."),
    budget: int = typer.Option(64, "--budget", min=1, max=MAX_CALLS, help="Model calls per "
                               "problem (one call is one request about one state)."),
    token_budget: int = typer.Option(None, "--token-budget", min=1, max=MAX_TOKENS,
                                     help="Generated tokens per problem (a call's tokens are "
                                     "counted when it returns: the last call may pass the cap)."),
    problems: Path = typer.Option(None, "--problems", help="JSONL problems, one per line, as "
                                  'the task reads them (game24: {"numbers": [4, 9, 10, 13], '
                                  '"target": 24}; math: {"question": ..., "answer": ...}, '
                                  "GSM8K's own lines included)."),
    split: Split = typer.Option(Split.heldout, "--split", help="Built-in problems to use when "
                                "--problems is not given."),
    limit: int = typer.Option(None, "--limit", min=1, max=MAX_LIMIT,
                              help="Only the first N problems."),
    verifier: bool = typer.Option(True, "--verifier/--no-verifier", help="Let the checker judge "
                                  "terminal states during the method (best-of-n: oracle)."),
    k: int = typer.Option(4, "--k", min=1, max=MAX_K, help="Steps sampled per expansion "
                          "(mcts and gumbel: at most 16)."),
    width: int = typer.Option(4, "--width", min=1, help="Beam / BFS width."),
    values: str = typer.Option("model", "--values", help="mcts/gumbel: node values from the "
                               "model, or 'rollout' (greedy rollouts to the verifier, charged "
                               "to the budget)."),
    actions: str = typer.Option("sampled", "--actions", help="mcts/gumbel/greedy: steps the "
                                "model samples, or 'legal' (every legal step the task lists, "
                                "scored by the model; greedy takes the most probable; tinylm "
                                "and hf models)."),
    seed: int = typer.Option(0, "--seed", min=0, max=SEED_MAX),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    workers: int = typer.Option(None, "--workers", min=1, max=MAX_WORKERS, help=WORKERS_HELP),
    ray_address: str = typer.Option(None, "--ray-address", help=RAY_ADDRESS_HELP),
    progress: bool = progress_option(),
    device: str = device_option(),
    trees: Path = typer.Option(None, "--trees", help="mcts/gumbel: write each problem's search "
                               "tree to DIR as problem-NNNN.html and .json (docs/trees.md)."),
):
    """Accuracy of one method on held-out problems, with model calls, tokens and time."""
    from lmzero.eval.reasoning import MethodConfig, check_method
    task = load_user_task(pick_task(task_ref, task_option))
    try:
        config = MethodConfig(method=method, budget=budget, token_budget=token_budget,
                              verifier=verifier, k=k, width=width, values=values,
                              actions=actions, seed=seed)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    _check_trees(trees, method, workers, ray_address)
    scale = scale_config(workers, ray_address)
    if scale is not None and device != "cpu":
        raise UserError("--device runs the model in this process; with --workers the actors "
                        "load their own copies on their CPUs")
    found = _problems(task, problems, split, limit, seed)
    model = _step_model(task, checkpoint, seed, model_spec, device)
    _check_prompts(task, model, found, problems)
    _check_actions(check_method, task, model, config)
    if scale is None:
        result = _evaluate_here(task, model, found, config, progress_wanted(progress), trees)
    else:
        result = _evaluate_scaled(task, found, config, scale, model_spec or _checkpoint_spec(
            task, checkpoint), show_progress=progress_wanted(progress))
    if as_json:
        print(json.dumps(result))
        return
    table = Table(title=f"{task.name}: {method}, {'' if verifier else 'no '}verifier, "
                        f"budget {budget} calls")
    for name in ("solved", "total", "accuracy", "mean model calls", "prompt tokens",
                 "generated tokens", "seconds"):
        table.add_column(name, justify="right")
    table.add_row(str(result["solved"]), str(result["total"]), f"{result['accuracy']:.1%}",
                  f"{result['model_calls']:.1f}", f"{result['prompt_tokens']:.0f}",
                  f"{result['generated_tokens']:.0f}", f"{result['seconds']:.1f}")
    out.print(table)
    if result["over_token_budget"]:
        out.print(f"note: {result['over_token_budget']} of {result['total']} problems passed "
                  f"--token-budget {token_budget} in their last model call (a call's tokens are "
                  "counted when it returns)")


def _check_actions(check, *args) -> None:
    """`check(*args)`'s one-line ValueError as a UserError, before any problem is tried."""
    try:
        check(*args)
    except ValueError as exc:
        raise UserError(str(exc)) from None


def _checkpoint_spec(task, checkpoint: Path | None) -> str:
    """The spec of --checkpoint (or of the shipped model) that actors load: an absolute path."""
    from lmzero.models.load import SHIPPED
    return f"tinylm:{Path(checkpoint or SHIPPED / task.name).resolve()}"


def _check_trees(trees: Path | None, method: str, workers, ray_address) -> None:
    """--trees: only for the search methods, in this process, into a usable directory."""
    from lmzero.cli.view import check_output_dir
    from lmzero.eval.reasoning import SEARCH_METHODS
    if trees is None:
        return
    if method not in SEARCH_METHODS:
        raise UserError(f"--trees writes search trees: use --method mcts or gumbel, not {method}")
    if workers is not None or ray_address is not None:
        raise UserError("--trees needs the search in this process: drop --workers/--ray-address")
    check_output_dir(trees, "--trees")


def _evaluate_here(task, model, problems, config, show_progress: bool,
                   trees: Path | None = None) -> dict:
    """`eval.reasoning.evaluate` with a bar: problems done, solved so far, model calls per
    problem so far (the mean the table ends with), generated tokens per second; each search
    tree written to `trees` (a directory) when given."""
    import time
    from lmzero.cli.view import tree_writer
    from lmzero.eval.reasoning import evaluate
    started = time.perf_counter()
    with LazyProgress(f"{task.name} {config.method}", len(problems), show_progress) as bar:
        def report(done: int, solved: int, calls: int, tokens: int) -> None:
            rate = tokens / max(time.perf_counter() - started, 1e-9)
            bar.update(completed=done, last=f"solved {solved}  {calls / len(problems):.1f} "
                       f"calls/problem  {rate:,.0f} tok/s")
        return evaluate(task, model, problems, config, report if show_progress else None,
                        tree_writer(task, trees) if trees is not None else None)


def _evaluate_scaled(task, problems, config, scale, spec: str, show_progress: bool) -> dict:
    from lmzero.eval.reasoning import evaluate_scaled
    with LazyProgress(f"{task.name} units", None, show_progress) as bar:
        def report(stats):
            bar.update(completed=stats.done, total=stats.submitted, last=stats.line())
        return evaluate_scaled(task, spec, problems, config, scale, progress=report)


@app.command()
def solve(
    task_ref: str = typer.Argument(None, metavar="[TASK]", help=TASK_HELP),
    problem: str = typer.Argument(None, metavar="PROBLEM", help='The problem: game24 '
                                  '"4 9 10 13", countdown "3 7 25 50 -> 147", math the question, '
                                  "or a JSON line as in a problem file."),
    task_option: str = typer.Option(None, "--task", help=TASK_OPTION_HELP),
    checkpoint: Path = typer.Option(None, "--checkpoint", help="A text-model checkpoint or run "
                                    "directory (default: the model the project ships)."),
    model_spec: str = typer.Option(None, "--model", help="Any step model by spec: tinylm:PATH, "
                                   "hf:PATH_OR_GGUF, openai:http://HOST:PORT/v1#MODEL, "
                                   "vllm:NAME_OR_PATH (instead of --checkpoint)."),
    method: str = typer.Option("mcts", "--method", help="mcts or gumbel."),
    budget: int = typer.Option(64, "--budget", min=1, max=MAX_CALLS, help="Model calls (the "
                               "search stops earlier when its tree is exhausted)."),
    actions: str = typer.Option("sampled", "--actions", help="Steps the model samples, or "
                                "'legal' (every legal step the task lists, scored by the "
                                "model; tinylm and hf models)."),
    seed: int = typer.Option(0, "--seed", min=0, max=SEED_MAX),
    progress: bool = progress_option(),
    device: str = device_option(),
    html: Path = typer.Option(None, "--html", help="Also write the search tree as one offline "
                              "HTML page (docs/trees.md)."),
    tree_json: Path = typer.Option(None, "--tree-json", help="Also write the search tree as "
                                   "JSON (schema lmzero-tree/1, docs/trees.md)."),
):
    """Solve one problem by search and show the principal variation with visits and values."""
    from lmzero.cli.view import check_output
    from lmzero.eval.reasoning import SEARCH_METHODS
    from lmzero.search.step_search import StepSearchConfig, check_actions
    from lmzero.tasks import ProblemError
    if method not in SEARCH_METHODS:
        raise UserError(f"solve searches with mcts or gumbel, not {method!r}")
    if task_option and problem is None:  # `solve --task F.py:NAME PROBLEM`
        task_ref, problem = None, task_ref
    task = load_user_task(pick_task(task_ref, task_option))
    if problem is None:
        raise UserError("missing the PROBLEM to solve")
    try:
        parsed = task.parse_problem(problem)
    except ProblemError as exc:
        raise UserError(str(exc)) from None
    check_output(html, "--html")
    check_output(tree_json, "--tree-json")
    model = _step_model(task, checkpoint, seed, model_spec, device)
    _check_prompts(task, model, [parsed], None)
    checkable = task.checkable(parsed) if hasattr(task, "checkable") else True
    try:
        config = StepSearchConfig(method="gumbel" if method == "gumbel" else "puct",
                                  verifier=checkable, actions=actions)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    _check_actions(check_actions, task, model, actions)
    result = _search_with_bar(task, model, parsed, config, budget, seed,
                              progress_wanted(progress))
    table = Table(title="principal variation")
    for name in ("depth", "step", "visits", "value", "prior"):
        table.add_column(name, justify="left" if name == "step" else "right")
    for depth, node in enumerate(result.principal_variation(), start=1):
        table.add_row(str(depth), node["step"], str(node["visits"]), f"{node['value']:.3f}",
                      f"{node['prior']:.3f}")
    out.print(table)
    if html or tree_json:
        from lmzero.cli.view import write_tree_files
        from lmzero.explain import step_tree_json
        tree = step_tree_json(task, result, config, problem=parsed)
        for path in write_tree_files(tree, html, tree_json):
            out.print(f"tree: {path} ({len(tree['nodes']):,} nodes)")
    if not _print_outcome(task, result, checkable, budget):
        raise typer.Exit(1)


def _search_with_bar(task, model, problem, config, budget: int, seed: int, show: bool):
    """`step_search` of one problem, with a bar of model calls against the budget (erased when
    the search ends: the table says the rest)."""
    import time
    from lmzero.search.budget import Budget
    from lmzero.search.step_search import step_search
    started = time.perf_counter()
    with LazyProgress("search", budget, show, transient=True) as bar:
        def report(done: int, solved: int, calls: int, tokens: int) -> None:
            rate = tokens / max(time.perf_counter() - started, 1e-9)
            bar.update(completed=calls, last=f"{tokens:,} tokens  {rate:,.0f} tok/s")
        [result] = step_search(task, model, [problem], config, [Budget(max_calls=budget)],
                               seed=seed, progress=report if show else None)
    return result


def _print_outcome(task, result, checkable: bool, budget: int) -> bool:
    """The last line of `solve`: the solution, the answer stated (a problem without one to check
    against), or why there is none; whether there is an answer."""
    used = result.budget
    stats = (f"{used.model_calls} model calls, {used.generated_tokens} generated tokens, "
             f"{result.tree.visits[0]} root visits, {used.seconds:.2f} s")
    if result.solved:
        out.print(f"solution: {result.answer}   ({stats})")
        return True
    if not checkable:  # no answer to check against: the most visited path's answer
        stated = getattr(task, "stated_answer", task.answer)(result.final_state)
        if stated is not None:
            out.print(f"answer (unverified: the problem gives none): {stated}   ({stats})")
            return True
        out.print(f"no answer: the most visited path states none   ({stats})")
        return False
    if result.exhausted:
        out.print(f"search exhausted after {used.model_calls} model calls: no solution (every "
                  f"path the model writes ends in a dead end)   ({stats})")
    else:
        out.print(f"no solution found within {budget} model calls ({stats})")
    return False


def train_improve(task_ref: str, preset: Preset, run: Path | None, resume: bool,
                  iterations: int | None, from_scratch: bool, model: str | None,
                  scale=None, algo: str | None = None, show_progress: bool = True,
                  threads: int | None = None, actions: str | None = None,
                  overrides: list[str] = (), device: str | None = None) -> None:
    """Self-improvement: search -> replay -> learner with curation (or another `algo`), then
    three held-out puzzles solved with their principal variation; `overrides` are `--set`
    assignments, `device` (--device) is applied after them and on resume."""
    from dataclasses import replace

    from lmzero.cli.overrides import apply_overrides
    from lmzero.selfimprove import for_model, improve, preset as make_preset, with_algo

    task_name = load_user_task(task_ref).name
    try:
        config = with_algo(make_preset(task_ref, preset.value), algo or "expert-iteration")
    except ValueError as exc:
        raise UserError(str(exc)) from None
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
    config = apply_overrides(_with_actions(config, actions, resume), list(overrides))
    run = run or Path("runs") / f"{task_name}-{preset.value}"
    if resume and algo:
        _check_resumed_algo(run, algo)
    table = Table(title=f"{task_name} self-improvement, {config.algo} (held-out)")
    for name in ("iteration", "greedy pass@1", f"MCTS solved @{config.eval_budget} calls",
                 "calls per solved", "train solved", "wall s"):
        table.add_column(name, justify="right")
    with LazyProgress(f"{task_name} iterations", config.iterations, show_progress) as bar:

        def report(i, phase, row):
            if row is None or phase == "pretrain":
                text = f"pretraining step {row['step'] + 1}" if row else phase
                bar.update(last=text if i < 0 else f"iteration {i}: {phase}")
                return
            bar.update(completed=i + 1, last=f"greedy {row['heldout_greedy_pass1']:.1%}")
            calls = row.get("mcts_calls_per_solved")
            trained = row.get("train_solve_rate")
            out.print(f"{'start' if i < 0 else f'iteration {i}'}: greedy pass@1 "
                      f"{row['heldout_greedy_pass1']:.1%}  MCTS {row['heldout_mcts_solved']:.1%}"
                      f"  calls/solved {'-' if calls is None else calls}  train solved "
                      f"{'-' if trained is None else f'{trained:.1%}'}  "
                      f"{row['wall_seconds']:.0f}s{scaled_summary(row)}")
        try:
            rows = improve(config, run, resume=resume, progress=report, threads=threads,
                           iterations=iterations if resume else None, scale=scale,
                           device=device)
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
    _show_solutions(config, run_model_spec(run))
    out.print(f"run directory: {run}")


def _with_actions(config, actions: str | None, resume: bool):
    """`config` whose searches (training and the held-out check) use `actions`."""
    from dataclasses import replace
    if actions is None:
        return config
    if resume:
        raise UserError("--actions applies to a new run (a resumed run keeps its search)")
    if config.algo != "expert-iteration":
        raise UserError(f"--actions applies to expert-iteration ({config.algo} does not search)")
    try:
        search = replace(config.actor.search, actions=actions)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    return replace(config, actor=replace(config.actor, search=search))


def run_model_spec(run: Path) -> str:
    """The spec of a self-improvement run's newest model (hf: for LoRA runs, else tinylm:)."""
    from lmzero.models.hf_checkpoint import is_hf_checkpoint
    return ("hf:" if is_hf_checkpoint(str(run)) else "tinylm:") + str(run)


def _check_resumed_algo(run: Path, algo: str) -> None:
    """--resume with --algo: the run must have been started with that algorithm."""
    import json
    try:
        saved = json.loads((run / "config.json").read_text()).get("algo", "expert-iteration")
    except (OSError, ValueError, AttributeError):
        return  # no readable config: open_run says what is wrong
    if saved != algo:
        raise UserError(f"{run} was trained with --algo {saved}; resume it with that algo or "
                        "start a new --run")


def example_solutions(config, spec: str, count: int = 3):
    """A few held-out problems (spread over the split) searched with the model `spec` names
    (a run's newest): (task, problems, results, the search's StepSearchConfig)."""
    from lmzero.models.spec import load_model
    from lmzero.search.budget import Budget
    from lmzero.search.step_search import StepSearchConfig, step_search
    from lmzero.selfimprove import heldout_eval_problems, task_of
    task = task_of(config)
    problems = heldout_eval_problems(config)[:count * 37:37]
    model = load_model(spec, task)
    search = StepSearchConfig()
    results = step_search(task, model, problems, search,
                          [Budget(max_calls=config.eval_budget) for _ in problems])
    return task, problems, results, search


def _show_solutions(config, spec: str, count: int = 3) -> None:
    """Solve a few held-out problems with the run's newest model (`spec`) and show how."""
    task, problems, results, _ = example_solutions(config, spec, count)
    for problem, result in zip(problems, results):
        verdict = result.answer if result.solved else "not solved"
        out.print(f"{task.describe(problem)}: {verdict} "
                  f"({result.budget.model_calls} calls)")
        for depth, node in enumerate(result.principal_variation(), start=1):
            out.print(f"  {depth}. {node['step']:<32} visits {node['visits']:>3}  "
                      f"value {node['value']:.2f}  prior {node['prior']:.2f}")


def train_pretrain(task_ref: str, run: Path | None, resume: bool,
                   steps: int | None, show_progress: bool = True,
                   device: str | None = None) -> None:
    from lmzero.learn.pretrain import PretrainConfig, load_config, pretrain
    task = load_user_task(task_ref)
    task_name = task.name
    try:
        config = PretrainConfig(task=task_ref, **task.pretrain_defaults())
    except ValueError as exc:
        raise UserError(str(exc)) from None
    run = run or Path("runs") / f"{task_name}-pretrain"
    try:
        total = steps or (load_config(run, device) if resume else config).steps
    except ValueError as exc:
        raise UserError(str(exc)) from None
    with LazyProgress(f"{task_name} pretraining steps", total, show_progress) as bar:

        def report(row):
            bar.update(completed=row["step"] + 1, last=f"loss {row['loss_policy']:.3f} + "
                       f"{row['loss_value']:.3f}")
            figures = " ".join(f"{k}={v}" for k, v in row.items() if k.startswith("heldout"))
            out.print(f"step {row['step'] + 1}: steps loss={row['loss_policy']:.4f} value "
                      f"loss={row['loss_value']:.4f} {row['seconds']:.0f}s {figures}")
        try:
            pretrain(config, run, resume=resume, steps=steps, progress=report, device=device)
        except ValueError as exc:
            raise UserError(str(exc)) from None
    out.print(f"run directory: {run}")
