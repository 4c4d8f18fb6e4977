"""Self-improvement for reasoning tasks: search -> replay -> learner, with curation.

A language model that knows the rules (world-model pretraining) but cannot plan learns to plan
from its own search. Each iteration: the curator picks training problems (frontier and holes);
the actors search them with the verifier on (`selfplay.step_actor`) and turn each tree into
examples (visit-weighted steps, verified and searched values) -> a replay shard; the learner
distils the window into the model (`learn.step_learner`, curation-weighted sampling) -> a
checkpoint; held-out evaluation (greedy pass@1, MCTS at a fixed budget) -> metrics.jsonl.

The run directory is `lmzero.run`'s: config.json, pretrain/ (the world-model stage,
itself a resumable run), replay/ (shard + attempts per iteration), checkpoints/<i>/ (model,
optimizer, curator state), metrics.jsonl, tb/, plots/. `resume=True` continues after any crash.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch

from lmzero import checkpoint
from lmzero.checkpoint import write_atomic
from lmzero.learn.algorithms import ALGORITHMS, algorithm_for
from lmzero.learn.grpo import GRPOConfig, GRPOUpdate
from lmzero.learn.pretrain import (PretrainConfig, build_model, make_task,
                                   pretrain, tokenizer_for)
from lmzero.learn.step_learner import StepLearnerConfig
from lmzero.learn.trainee import HFTrainee, TinyLMTrainee
from lmzero.models.load import resolve
from lmzero.models.spec import parse_spec
from lmzero.models.tinylm import check_device
from lmzero.phases import check_phases, config_at, phase_bounds, phase_index, phase_starts
from lmzero.replay.buffer import TEXT_FIELDS, ReplayBuffer
from lmzero.replay.curation import CurationConfig, Curator
from lmzero.run import Run, config_from_dict, open_run
from lmzero.search.step_search import StepSearchConfig
from lmzero.selfplay.sampling_actor import SamplingConfig
from lmzero.selfplay.step_actor import StepActorConfig


@dataclass
class ImproveConfig:
    task: str = "game24"
    """The step task: a registered name (game24, countdown, math) or FILE.py:NAME / module:NAME."""
    iterations: int = 6
    """Rounds of search -> replay -> learner."""
    algo: str = "expert-iteration"
    """What a round spends its compute on (`learn.algorithms`): `expert-iteration` (search,
    distil the trees), `rft` (best-of-N with the verifier, fine-tune on what passed) or `grpo`
    (group-relative policy gradient, no search, no critic)."""
    problems_per_iteration: int = 128
    """Training problems searched per round."""
    actor: StepActorConfig = field(default_factory=StepActorConfig)
    """Search per training problem and how trees become examples."""
    learner: StepLearnerConfig = field(default_factory=StepLearnerConfig)
    """The learner."""
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    """rft and grpo: trajectories sampled per training problem, and their temperature."""
    grpo: GRPOConfig = field(default_factory=GRPOConfig)
    """grpo: clip range, KL to the starting model, advantage scaling."""
    pretrain: PretrainConfig = field(default_factory=PretrainConfig)
    """World-model stage, run first (into run/pretrain) unless `from_scratch`."""
    from_scratch: bool = False
    """Start from an untrained model instead of the world-model checkpoint."""
    init: str | None = None
    """Start from this text-model checkpoint (or run directory) instead; its architecture must
    be `pretrain.model`'s."""
    model: str | None = None
    """Train this model instead of tinylm: a spec `hf:PATH_OR_GGUF` (`models.spec`; LoRA or full
    fine-tuning through the hf backend, `hf_learner`) or `tinylm:PATH` (same as `init`)."""
    hf_learner: dict = field(default_factory=lambda: dict(lora_rank=8, lr=1e-4, batch_size=8))
    """`HFLearnerConfig` fields when `model` is an hf spec."""
    hf_model: dict = field(default_factory=dict)
    """`HFConfig` fields when `model` is an hf spec (value is always 'head')."""
    train_problems: str | None = None
    """A JSONL file of training problems to draw from instead of the task's training split
    (held-out problems in it are refused)."""
    replay_window: int = 60_000
    """Newest replay examples the learner samples from."""
    curate: bool = True
    """Curation on: problems chosen at the frontier and holes, holes overweighted in replay.
    Off: problems and examples drawn uniformly."""
    curation: CurationConfig = field(default_factory=CurationConfig)
    """Curation thresholds and weights."""
    eval_problems: int = 100
    """Held-out problems for the per-iteration MCTS check."""
    greedy_problems: int | None = None
    """Held-out problems for greedy pass@1; None = all of them."""
    eval_budget: int = 32
    """Model calls per held-out problem for the MCTS check."""
    eval_values: str = "model"
    """Node values of the held-out MCTS check: "model" (the value head) or "rollout" (greedy
    rollouts to the verifier, charged to the budget)."""
    seed: int = 0
    threads: int = 1
    """torch CPU threads."""
    device: str = "cpu"
    """torch device of tinylm, its learner and its world-model stage: cpu, cuda or cuda:N.
    Every scoring and decoding call of search, sampling and evaluation runs there; the trees,
    the verifier and the replay stay on the CPU (an hf model's device is `hf_model.device`)."""
    phases: list = field(default_factory=list)
    """Later stages of the run: `{"from": ITERATION, "set": {"dotted.field": value}}` applied
    from that iteration on, each restarting the learner's schedule and replay window
    (`lmzero.phases`; Countdown's full preset: sampled steps, then legal steps with retries)."""

    RUN_KIND: ClassVar[str] = "self-improvement"
    """What config.json records: `lmzero.run` refuses to resume another kind of run."""

    def __post_init__(self):
        for name, kind in (("actor", StepActorConfig), ("learner", StepLearnerConfig),
                           ("pretrain", PretrainConfig), ("curation", CurationConfig),
                           ("sampling", SamplingConfig), ("grpo", GRPOConfig)):
            value = getattr(self, name)
            if isinstance(value, dict):  # from config.json
                if name == "pretrain":
                    value = asdict(config_from_dict(  # the stage runs where the run does
                        PretrainConfig, dict(value, task=self.task, device=self.device)))
                if name == "actor":
                    value = dict(value, search=StepSearchConfig(**value.get("search", {})))
                    value.pop("unsolved_weight", None)  # runs before offpath_weight replaced it
                setattr(self, name, kind(**value))
        check_device(self.device)
        if (self.pretrain.task, self.pretrain.device) != (self.task, self.device):
            self.pretrain = replace(self.pretrain, task=self.task, device=self.device)
        if self.iterations < 1 or self.problems_per_iteration < 1:
            raise ValueError("iterations and problems_per_iteration must be >= 1")
        if self.algo not in ALGORITHMS:
            raise ValueError(f"unknown algo {self.algo!r}; choose one of {', '.join(ALGORITHMS)}")
        if self.algo == "grpo" and self.grpo.kl_coef:
            if self.from_scratch:
                raise ValueError("grpo's KL to the starting model needs a starting model: from "
                                 "scratch it would pull towards random weights (kl_coef = 0)")
            if self.model is not None:
                raise ValueError("grpo's KL to the starting model is wired for tinylm only: "
                                 "set grpo.kl_coef = 0 for an hf model")
        if self.model is not None:
            from lmzero.models.spec import parse_spec
            kind, where, _ = parse_spec(self.model)
            if kind in ("openai", "vllm"):
                raise ValueError(f"cannot train {self.model!r}: self-improvement updates weights "
                                 "here (use tinylm:PATH or hf:PATH_OR_GGUF); a served openai "
                                 "model has none, and vllm training is not wired yet")
            if kind == "tinylm":
                self.init, self.model = where, None
        if self.model is not None and self.device != "cpu":
            raise ValueError(f"device {self.device!r} moves tinylm; an hf model's device is "
                             "hf_model.device")
        check_phases(self)


def task_of(config: ImproveConfig):
    """The task object a config names, with its generator options."""
    return make_task(config.pretrain)


def heldout_eval_problems(config: ImproveConfig) -> list:
    """The held-out problems every evaluation uses (`task.heldout_problems`: all of Game of 24's
    358; 200 generated ones for Countdown and math)."""
    return list(task_of(config).heldout_problems())


def training_pool(config: ImproveConfig, iteration: int, curator: Curator) -> list:
    """The problems one iteration chooses from: the user's file, or the task's own pool, plus
    problems generated at the curator's holes."""
    task = task_of(config)
    if config.train_problems:
        return task.read_problems(config.train_problems)
    seed = config.seed * 1000 + iteration
    fresh = list(task.training_pool(config.problems_per_iteration, seed))
    if config.curate and curator.target_buckets():
        fresh += curator.generate_for_holes(config.problems_per_iteration, seed=seed + 500)
    return list(dict.fromkeys(fresh))


def shipped_world_model(task: str) -> Path | None:
    """The world-model (pretrain-stage) checkpoint the project ships for `task`, if any."""
    from lmzero.models.load import SHIPPED
    path = SHIPPED / f"{task}-pretrain"
    return path if (path / checkpoint.MANIFEST).is_file() else None


def _same_architecture(saved, cfg) -> bool:
    """Whether a manifest's model config builds `cfg`'s model: compared with the defaults filled
    in, so a field added to TinyLMConfig since the checkpoint was made does not disown it."""
    from lmzero.models.tinylm import TinyLMConfig
    try:
        return TinyLMConfig(**saved).to_dict() == cfg.to_dict()
    except (TypeError, ValueError):
        return False


def _starting_weights(config: ImproveConfig, run: Run, model, progress) -> str:
    """Load the starting point into `model`; says which it was. Pretraining runs only when
    needed: a shipped world model of the same architecture is used as is."""
    if config.from_scratch:
        return "scratch"
    shapes = {k: v.shape for k, v in model.state_dict().items()}
    if config.init:
        from lmzero.models.load import verified_checkpoint
        from lmzero.models.tinylm_steps import KIND
        path, _ = verified_checkpoint(config.init, KIND, task_of(config).name,
                                      "not a text-model checkpoint")
        model.load_state_dict(checkpoint.load(path, shapes)[0])
        return str(path)
    stage = run.dir / "pretrain"
    shipped = shipped_world_model(task_of(config).name)
    if shipped is not None and not stage.exists():
        meta = checkpoint.verify(shipped)
        if _same_architecture(meta.get("model"), model.cfg):
            model.load_state_dict(checkpoint.load(shipped, shapes)[0])
            return str(shipped)
    if progress:
        progress(-1, "pretrain", None)
    report = (lambda row: progress(-1, "pretrain", row)) if progress else None
    if (stage / "config.json").is_file():  # started before: finish it (a no-op when done)
        pretrain(config.pretrain, stage, resume=True, progress=report,
                 device=config.device)
    else:
        pretrain(config.pretrain, stage, progress=report)
    model.load_state_dict(checkpoint.load(resolve(stage), shapes)[0])
    return str(stage)


def improve(config: ImproveConfig, run_dir: Path, resume: bool = False,
            progress=None, iterations: int | None = None, scale=None,
            threads: int | None = None, device: str | None = None) -> list[dict]:
    """Run (or resume) self-improvement; every metrics row. `progress(i, phase, row)`.
    On resume the run's own config.json rules; `iterations` extends (or shortens) it,
    `threads` replaces its torch thread count and `device` its device (a GPU run goes on on a
    CPU, or the reverse: same checkpoints, numbers within float rounding). `scale` (a
    `distributed.ScaleConfig`) searches the training problems on Ray actors."""
    run, config = open_run(run_dir, config, resume, iterations=iterations, threads=threads,
                           device=device)
    torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    replay = ReplayBuffer(run.dir / "replay", config.replay_window, fields=TEXT_FIELDS)
    trainee, start = _prepare(config, run, replay, progress)
    reference = _kl_reference(config, run, trainee)
    workers = None
    try:
        if scale is not None:
            workers = _start_workers(config, run, trainee, scale, start, progress)
        _iterations(config, run, replay, trainee, reference, start, workers, progress)
    finally:
        if workers is not None:
            workers.close()
    _plots(run, trainee.curator)
    return run.metrics()


def _iterations(config: ImproveConfig, run: Run, replay: ReplayBuffer, trainee, reference,
                start: int, workers, progress) -> None:
    scalars = run.tensorboard()
    last = run.metrics()[-1] if run.metrics() else {}
    elapsed = last.get("wall_seconds", 0.0)
    spent = last.get("tokens_spent", 0)
    whole, algorithm = config, None
    for i in range(start, whole.iterations):
        if algorithm is None or i in phase_starts(whole):
            config = _begin_phase(whole, run, replay, trainee, i)
            algorithm = algorithm_for(config, reference)
        t0 = time.time()
        if progress:
            progress(i, "search", None)
        attempts, scaled = _search_round(config, replay, trainee, algorithm, i, workers)
        if progress:
            progress(i, "train", None)
        weights = ((lambda data: trainee.curator.example_weights(data["bucket"].tolist()))
                   if config.curate else None)
        losses = algorithm.train(trainee, replay, i, weights,
                                 np.random.default_rng([config.seed, i, 1]))
        elapsed += time.time() - t0
        compute = _compute(attempts)
        spent += compute["round_prompt_tokens"] + compute["round_generated_tokens"]
        row = dict(iteration=i, algo=config.algo, problems=len(attempts),
                   train_solve_rate=round(float(np.mean([a["solved"] for a in attempts])), 4),
                   examples=len(replay.window_arrays()["prompt"]), wall_seconds=round(elapsed, 1),
                   **compute, tokens_spent=spent, learner_steps=trainee.learner.step_count,
                   **{f"loss_{k}": v if v != v else round(v, 4) for k, v in losses.items()},
                   **_retry_figures(attempts), **trainee.curator.summary(), **scaled,
                   **({"phase": phase_index(whole, i)} if whole.phases else {}),
                   **trainee.learning_rate())
        trainee.save(run.checkpoint(i), iteration=i, row=row,
                     curator=trainee.curator.state_dict())
        if workers is not None:
            workers.publish(trainee.model.state_dict(), version=i + 1)
        if progress:
            progress(i, "eval", None)
        row = evaluate_heldout(config, trainee, row)
        run.log(row)
        scalars.write(row)
        if progress:
            progress(i, "done", row)
    scalars.close()


def _begin_phase(whole: ImproveConfig, run: Run, replay: ReplayBuffer, trainee,
                 i: int) -> ImproveConfig:
    """Iteration i's config (`lmzero.phases`), with the learner's schedule and the replay
    window set to begin at its phase's first iteration (where a resume finds them too)."""
    first, end = phase_bounds(whole, i)
    origin = checkpoint.verify(run.checkpoint(first - 1))["learner_steps"] if first else 0
    config = config_at(whole, i)  # the same for every iteration of the phase
    trainee.begin_phase(origin, (end - first) * config.learner.steps_per_iteration,
                        config.learner)
    replay.begin_window(first)
    return config


def _compute(attempts: list[dict]) -> dict:
    """A round's model calls and tokens (rounds recorded before tokens were: 0)."""
    return {f"round_{k}": int(sum(a.get(k, 0) for a in attempts))
            for k in ("model_calls", "prompt_tokens", "generated_tokens")}


def _retry_figures(attempts: list[dict]) -> dict:
    """How many problems the first search left unsolved, and how many of them a retry solved
    (`StepActorConfig.retry_budget`; {} for a round without retries)."""
    retried = [a for a in attempts if a.get("retried")]
    if not retried:
        return {}
    return dict(retried=len(retried), retry_solved=sum(a["solved"] for a in retried))


def _kl_reference(config: ImproveConfig, run: Run, trainee):
    """GRPO's KL reference: the run's starting weights, frozen (None when no phase runs grpo
    with a kl_coef)."""
    if not any(c.algo == "grpo" and c.grpo.kl_coef
               for c in (config_at(config, first) for first in phase_starts(config))):
        return None
    reference = build_model(config.pretrain, trainee.tokenizer).to(config.device)
    _starting_weights(config, run, reference, None)
    return GRPOUpdate.frozen_copy(reference)


def _start_workers(config: ImproveConfig, run: Run, trainee, scale, start: int, progress):
    """Search actors for the training problems (`distributed`), holding the trainee's weights
    (version = iterations learned), and a replay owner for the run's replay directory."""
    from lmzero.distributed import ScaleError
    from lmzero.distributed.recipes import StepAttempts
    from lmzero.distributed.rounds import Workers
    if config.model is not None:
        raise ScaleError("--workers scales tinylm self-improvement; an hf model trains in one "
                         "process (its actors would each load the base model: not wired yet)")
    if config.phases:
        raise ScaleError("--workers does not run a config with phases yet (its actors hold one "
                         "actor config for the whole run): run it in one process")
    workers = Workers(StepAttempts(config), scale, config.seed, run.dir / "replay", TEXT_FIELDS)
    workers.prune(start - 1)
    workers.publish(trainee.model.state_dict(), version=start)
    workers.report_to(progress, "search")
    return workers


def _prepare(config: ImproveConfig, run: Run, replay: ReplayBuffer, progress):
    """The trainee (with a `curator` attribute) at the run's newest checkpoint, or at its
    starting point (evaluated as iteration -1); and the next iteration."""
    total_steps = config.iterations * config.learner.steps_per_iteration
    task = task_of(config)
    if config.model is not None:
        trainee = HFTrainee(parse_spec(config.model)[1], task, config.hf_learner,
                            config.hf_model)
    else:
        tokenizer = tokenizer_for(task)
        model = build_model(config.pretrain, tokenizer).to(config.device)
        trainee = TinyLMTrainee(model, tokenizer, config.learner, total_steps, task)
    trainee.curator = Curator(task, config.curation)
    done = run.completed()
    _drop_unreadable_rounds(replay, done[-1] if done else -1)
    run.repair_metrics(keep=lambda i: i == -1 or i in done)
    if not done or not _evaluated_start(run):
        start = config.model or _starting_weights(config, run, trainee.model, progress)
        if not _evaluated_start(run):
            _log(run, evaluate_heldout(config, trainee, dict(iteration=-1, wall_seconds=0.0,
                                                            start=start)), progress)
    for i in run.rows_missing(_evaluated):  # killed during its evaluation, or a row lost
        meta = trainee.restore(run.checkpoint(i))
        _log(run, evaluate_heldout(config_at(config, i), trainee, meta["row"]), progress)
    if done:
        meta = trainee.restore(run.checkpoint(done[-1]))
        trainee.curator = Curator.from_state_dict(meta["curator"], task)
    return trainee, done[-1] + 1 if done else 0


def _evaluated(row: dict) -> bool:
    return "heldout_greedy_pass1" in row


def _evaluated_start(run: Run) -> bool:
    return any(r.get("iteration") == -1 and _evaluated(r) for r in run.metrics())


def _log(run: Run, row: dict, progress) -> None:
    run.log(row)
    if progress:
        progress(row["iteration"], "done", row)


def _drop_unreadable_rounds(replay: ReplayBuffer, last_done: int) -> None:
    """An unfinished iteration's search round (shard + attempts) that cannot be read is
    searched again rather than trusted; the window is read now (and kept for the learner)."""
    for i in replay.discard_unreadable(after=last_done):
        _attempts_path(replay, i).unlink(missing_ok=True)
    for path in replay.directory.glob("attempts-*.json"):
        i = int(path.stem.split("-")[1])
        if i > last_done and _read_attempts(path) is None:
            path.unlink()
    replay.check()


def _attempts_path(replay: ReplayBuffer, i: int) -> Path:
    return replay.directory / f"attempts-{i:06d}.json"


def _read_attempts(path: Path) -> list[dict] | None:
    """A round's attempts, or None if the file is not what `_search_round` writes."""
    try:
        attempts = json.loads(path.read_bytes())
    except (ValueError, RecursionError, OSError):
        return None
    ok = isinstance(attempts, list) and all(isinstance(a, dict) and "solved" in a
                                            and "examples" in a for a in attempts)
    return attempts if ok else None


def _choose_problems(config: ImproveConfig, curator: Curator, i: int) -> list:
    rng = np.random.default_rng([config.seed, i, 0])
    pool = training_pool(config, i, curator)
    n = min(config.problems_per_iteration, len(pool))
    return (curator.choose_problems(pool, n, rng) if config.curate
            else [pool[j] for j in rng.choice(len(pool), n, replace=False)])


def _search_round(config, replay, trainee, algorithm, i, workers=None) -> tuple[list, dict]:
    """Collect this iteration's data (search, or samples: `algorithm`) unless a crash already
    stored it; record attempts. The attempts, and the scaled-out round's figures for the
    metrics row ({} in-process)."""
    attempts_path = _attempts_path(replay, i)
    task, curator = task_of(config), trainee.curator
    scaled = {}
    if not (replay.has(i) and attempts_path.is_file()) and workers is not None:
        scaled = _scaled_round(config, curator, i, workers, attempts_path)
    elif not (replay.has(i) and attempts_path.is_file()):
        seed = config.seed * 1000 + i
        attempts, arrays = algorithm.collect(task, trainee.step_model(seed),
                                             _choose_problems(config, curator, i), seed)
        write_atomic(attempts_path, json.dumps(attempts).encode())
        replay.write(i, arrays)
    attempts = _read_attempts(attempts_path)
    if attempts is None:
        raise ValueError(f"{attempts_path}: unreadable (not the attempts lmzero wrote)")
    for a in attempts:  # runs before problems were task JSON stored numbers and target
        row = a.get("problem") or dict(numbers=a["numbers"], target=a["target"])
        curator.record(task.problem_from_json(row), a["solved"], a["examples"])
    if workers is not None and workers.config.max_staleness and i + 1 < config.iterations:
        workers.start_round(i + 1, _problem_units(config, curator, i + 1, workers))
    return attempts, scaled


def _scaled_round(config, curator, i, workers, attempts_path: Path) -> dict:
    """Round i on the actors: units of problems, each attempt once in replay and in the
    attempts file whatever dies; the figures of the metrics row."""
    t0 = time.time()
    if not workers.planned(i):
        workers.start_round(i, _problem_units(config, curator, i, workers))
    report = workers.finish_round(i, attempts_path)
    seconds = time.time() - t0
    return dict(workers.row_figures(report),
                problems_per_second=round(report["count"] / max(seconds, 1e-9), 2))


def _problem_units(config, curator, i, workers) -> list[dict]:
    """Round i's problems in units, each problem with its attempt id (i * per round + j)."""
    task = task_of(config)
    problems = [task.problem_to_json(p) for p in _choose_problems(config, curator, i)]
    first_id = i * config.problems_per_iteration
    return [dict(first=first_id + first, problems=problems[first:first + n])
            for first, n in workers.split(len(problems))]


def _spread(problems: list, n: int | None) -> list:
    """n problems spread over the list (all of them when n is None)."""
    if n is None:
        return problems
    return problems[::max(1, len(problems) // n)][:n]


def evaluate_heldout(config: ImproveConfig, trainee, row: dict) -> dict:
    """Held-out: greedy pass@1 on `greedy_problems` (all), MCTS at `eval_budget` calls on
    `eval_problems`."""
    from lmzero.eval.reasoning import MethodConfig, solve_problems
    task = task_of(config)
    problems = heldout_eval_problems(config)
    step_model = trainee.step_model(config.seed)
    greedy = solve_problems(task, step_model, _spread(problems, config.greedy_problems),
                            MethodConfig(method="greedy", budget=None, batch=512))
    subset = _spread(problems, config.eval_problems)
    mcts = solve_problems(task, step_model, subset,
                          MethodConfig(method="mcts", budget=config.eval_budget, batch=512,
                                       seed=config.seed, values=config.eval_values,
                                       actions=config.actor.search.actions))
    solved = [r for r in mcts if r.solved]
    return dict(row, heldout_greedy_pass1=round(float(np.mean([r.solved for r in greedy])), 4),
                heldout_mcts_solved=round(len(solved) / max(len(mcts), 1), 4),
                mcts_calls_per_solved=round(float(np.mean([r.budget.model_calls for r in solved])), 2)
                if solved else None)


def _plots(run: Run, curator: Curator) -> None:
    rows = [r for r in run.metrics() if "heldout_greedy_pass1" in r]
    if not rows:
        return
    run.plot("strength.png", ("heldout_greedy_pass1", "heldout_mcts_solved", "train_solve_rate"),
             {"iteration": "iteration (-1 = starting checkpoint)"})
    curator.plot([r for r in rows if r["iteration"] >= 0], run.dir / "plots" / "curation.png")


GENERIC_PRESETS = {"quick": dict(iterations=3, problems=64, budget=32, steps=100),
                   "full": dict(iterations=10, problems=128, budget=48, steps=150)}
"""Presets of a task that names none (`task.presets()`): iterations, problems per iteration,
search calls per problem, learner steps per iteration; optionally the model's block_size, the
node values of search ("model" or "rollout"), the learner's peak lr and value_weight, and the
run's `phases`."""


def preset(task_ref: str, name: str) -> ImproveConfig:
    """The self-improvement config of a preset ("quick": <= 10 minutes here from a shipped world
    model; "full": the shipped checkpoint's recipe, <= 2 hours), sized by the task
    (`task.presets()`)."""
    task = make_task(PretrainConfig(task=task_ref))
    sizes = {**GENERIC_PRESETS, **task.presets()}
    if name not in sizes:
        raise ValueError(f"unknown preset {name!r} for {task.name}: use {', '.join(sizes)}")
    p = sizes[name]
    pretrain_config = PretrainConfig(task=task_ref, **task.pretrain_defaults())
    if "block_size" in p:  # e.g. the shipped Game of 24 world model's block: a game fits in ~130
        pretrain_config = replace(pretrain_config, model={**pretrain_config.model,
                                                          "block_size": p["block_size"]})
    search = replace(StepActorConfig().search, **{k: p[k] for k in ("values",) if k in p})
    learner = StepLearnerConfig(batch_size=64, steps_per_iteration=p["steps"],
                                **{k: p[k] for k in ("lr", "value_weight") if k in p})
    return ImproveConfig(
        task=task_ref, iterations=p["iterations"], problems_per_iteration=p["problems"],
        actor=StepActorConfig(budget=p["budget"], search=search), learner=learner,
        pretrain=pretrain_config, eval_problems=p.get("eval_problems", 60), eval_budget=32,
        eval_values=search.values, threads=2, phases=p.get("phases", []))


ALGO_LEARNING_RATES = {"grpo": 3e-4}
"""tinylm's peak learning rate for an algorithm whose updates are not imitation (a policy
gradient takes smaller steps than distillation at expert iteration's 1e-3). An hf trainee keeps
`hf_learner["lr"]`."""


def with_algo(config: ImproveConfig, algo: str) -> ImproveConfig:
    """`config` set to run `algo` (`learn.algorithms.ALGORITHMS`), with its learning rate."""
    if algo not in ALGORITHMS:
        raise ValueError(f"unknown algo {algo!r}; choose one of {', '.join(ALGORITHMS)}")
    learner = config.learner
    if algo in ALGO_LEARNING_RATES:
        learner = replace(learner, lr=ALGO_LEARNING_RATES[algo])
    return replace(config, algo=algo, learner=learner)


def for_model(config: ImproveConfig, spec: str) -> ImproveConfig:
    """`config` set to train the model `spec` names. A pretrained LM (hf:) gets rounds sized
    for it: SmolLM2-135M writes about 60 tokens/s here where tinylm writes thousands, so 16
    problems of 16 calls per round and a 10-problem held-out check keep an iteration to minutes."""
    config = replace(config, model=spec)  # tinylm: becomes `init` in __post_init__
    if config.model is None:
        return config
    return replace(config, problems_per_iteration=16, actor=replace(config.actor, budget=16),
                   learner=replace(config.learner, steps_per_iteration=20), eval_problems=10,
                   eval_budget=16, greedy_problems=20)
