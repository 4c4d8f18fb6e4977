"""World-model pretraining: teach a TinyLM the rules of a reasoning task, not how to plan.

The data are the task's world-model trajectories (`task.world_trajectory`: uniformly random
*legal* steps for Game of 24 and Countdown, generated worked solutions for math word problems) of
training-split problems only, fresh ones every batch. The model learns (1) to write legal steps: next-token
cross-entropy on the step lines (never on the problem line, which the model is given), and
(2) the Monte-Carlo value of that trajectory policy: at the end of each prefix (the problem line and
each step line) the value head regresses 2r - 1, r the reward that trajectory reached. Planning
is left to search and self-play.

The run directory is `lmzero.run`'s: config.json, checkpoints/<step>/ (model +
optimizer, meta with the TinyLMConfig and the vocabulary: `load_step_model` reads it),
metrics.jsonl; `resume=True` continues from the newest checkpoint.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from lmzero import checkpoint
from lmzero.learn.learner import load_optimizer_tensors, optimizer_tensors, warmup_cosine
from lmzero.models.text_tokenizer import CHARACTERS, CharTokenizer
from lmzero.models.tinylm import TinyLM, TinyLMConfig, check_device
from lmzero.models.tinylm_steps import TinyLMStepModel
from lmzero.run import Run, open_run


@dataclass
class PretrainConfig:
    task: str = "game24"
    """Reasoning task: a registered name (game24, countdown, math) or FILE.py:NAME."""
    steps: int = 3000
    """Gradient steps (one fresh batch of random trajectories each). Game of 24 with the default
    model, one thread: ~0.35 s a step (~18 min); sampled-step validity on held-out random
    states rises with steps (12% at 1000, 47% at 2000, ~70% at 3200 with the decay), all of it
    limited by the arithmetic (a result or a fraction written wrong), not by the format."""
    batch_size: int = 32
    """Trajectories per gradient step."""
    lr: float = 3e-3
    """Peak learning rate."""
    min_lr_ratio: float = 0.1
    """Final learning rate as a share of the peak (cosine decay)."""
    warmup_steps: int = 100
    """Linear warmup from 0 to the peak."""
    weight_decay: float = 0.01
    """AdamW decoupled weight decay."""
    value_weight: float = 1.0
    """Weight of the value MSE against the step cross-entropy."""
    model: dict = field(default_factory=lambda: dict(n_layer=4, n_head=4, n_embd=128,
                                                     block_size=320, rope=True))
    """TinyLMConfig fields (the vocabulary comes from the tokenizer; the trunk is a
    transformer). block_size bounds a whole trajectory: Game of 24's longest is ~130
    characters, Countdown-6's ~280 (rotary positions: a longer block costs nothing)."""
    task_options: dict = field(default_factory=dict)
    """The task's generator options (`task.with_options`; Countdown: CountdownConfig fields)."""
    checkpoint_every: int = 500
    """Save a checkpoint every this many steps (and after the last)."""
    log_every: int = 50
    """Write a metrics row (mean losses since the last one) every this many steps."""
    eval_problems: int = 200
    """Held-out problems for the final check (step validity on random states, greedy solve
    rate); 0 = skip it."""
    seed: int = 0
    """Seed of the model's initialisation and of every batch."""
    threads: int = 1
    """torch CPU threads (see TrainConfig.threads)."""
    device: str = "cpu"
    """torch device of the model and its gradient steps: cpu, cuda or cuda:N (the trajectories
    are generated on the CPU). A self-improvement run's world-model stage takes the run's
    `ImproveConfig.device`, whatever this says."""

    RUN_KIND: ClassVar[str] = "pretraining"
    """What config.json records: `lmzero.run` refuses to resume another kind of run."""
    RENAMED: ClassVar[dict] = {"countdown": "task_options"}
    """Fields of old runs' config.json under their new names (`run.config_from_dict`)."""

    def __post_init__(self):
        make_task(self)  # an unknown task or a bad option fails here, in one line
        if self.steps < 1 or self.batch_size < 1:
            raise ValueError("steps and batch_size must be >= 1")
        if self.lr <= 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if self.model.get("trunk", "transformer") != "transformer":
            raise ValueError("text models need the transformer trunk: drop model.trunk")
        check_device(self.device)


def make_task(config: PretrainConfig):
    """The task a config names, with its generator options."""
    from lmzero.tasks import load_step_task
    return load_step_task(config.task).with_options(config.task_options)


# -- data -------------------------------------------------------------------------------------

class TrajectorySource:
    """World-model trajectories of the task's training problems, as finished texts."""

    def __init__(self, config: PretrainConfig):
        self.config = config
        self.task = make_task(config)
        self.max_length = config.model.get("block_size", TinyLMConfig.block_size)
        self.pool = self.task.pretrain_pool() if hasattr(self.task, "pretrain_pool") else None
        """A fixed pool to draw from (Game of 24: every training multiset, solvable or not);
        None: the task generates fresh problems."""

    def problems(self, n: int, rng: np.random.Generator) -> list:
        if self.pool is not None:
            return [self.pool[i] for i in rng.integers(0, len(self.pool), size=n)]
        return list(self.task.generate(n, int(rng.integers(2**31)), "train"))

    def batch(self, n: int, rng: np.random.Generator) -> tuple[list[str], list[float]]:
        """n (text of a whole trajectory, its reward); a trajectory longer than the model's
        block (rare giant products in Countdown) is replaced by another."""
        texts, rewards = [], []
        while len(texts) < n:
            for problem in self.problems(n - len(texts), rng):
                state = self.task.initial_state(problem)
                for step in self.task.world_trajectory(problem, rng):
                    state = self.task.apply(state, step)
                text = self.task.prompt(state)
                if len(text) < self.max_length:  # + BOS
                    texts.append(text)
                    rewards.append(self.task.reward(state))
        return texts, rewards


def encode_batch(texts: list[str], rewards: list[float], tokenizer: CharTokenizer):
    """Right-padded [B, T] tokens (BOS + text), next-token targets [B, T] (-100 on the problem
    line and padding), and the (row, position) of each prefix end with its value target 2r-1."""
    encoded = [[tokenizer.bos_id, *tokenizer.encode(t)] for t in texts]
    T = max(map(len, encoded))
    tokens = torch.full((len(texts), T), tokenizer.pad_id, dtype=torch.long)
    targets = torch.full((len(texts), T), -100, dtype=torch.long)
    rows, cols, values = [], [], []
    for b, (ids, r) in enumerate(zip(encoded, rewards)):
        ids = torch.tensor(ids)
        tokens[b, :len(ids)] = ids
        ends = (ids == tokenizer.newline_id).nonzero().squeeze(1)  # last token of each prefix
        first = int(ends[0])  # the problem line's newline: steps are predicted from here on
        targets[b, first:len(ids) - 1] = ids[first + 1:]
        rows += [b] * len(ends)
        cols += ends.tolist()
        values += [2 * r - 1] * len(ends)  # Monte-Carlo value of the random policy, in [-1, 1]
    return tokens, targets, (torch.tensor(rows), torch.tensor(cols)), torch.tensor(values)


def on_device(batch: tuple, device: torch.device) -> tuple:
    """`encode_batch`'s tensors (the prefix ends a pair of them) on `device`."""
    return tuple(tuple(t.to(device) for t in x) if isinstance(x, tuple) else x.to(device)
                 for x in batch)


def losses(model: TinyLM, tokens, targets, ends, values) -> dict:
    h = model.hidden(tokens)  # [B, T, C]
    logits = model.policy_head(h)  # [B, T, V]
    policy = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=-100)
    v = torch.tanh(model.value_head(h[ends])).squeeze(-1)  # [prefixes]
    return dict(policy=policy, value=F.mse_loss(v, values.float()))


def lr_at(step: int, config: PretrainConfig) -> float:
    """Linear warmup, then cosine decay to min_lr_ratio * lr at the last step."""
    return warmup_cosine(step, config.steps, config)


# -- the run ----------------------------------------------------------------------------------

def tokenizer_for(task) -> CharTokenizer:
    """The character tokenizer of a task's language (`task.characters`)."""
    return CharTokenizer(getattr(task, "characters", None) or CHARACTERS)


def build_model(config: PretrainConfig, tokenizer: CharTokenizer) -> TinyLM:
    return TinyLM(TinyLMConfig(**{**config.model, "vocab_size": tokenizer.vocab_size,
                                  "trunk": "transformer"}))


def _save(run: Run, step: int, model: TinyLM, tokenizer, optimizer, config, row: dict) -> None:
    opt = optimizer_tensors(model, optimizer)
    step_model = TinyLMStepModel(model, tokenizer, meta=dict(task=make_task(config).name))
    checkpoint.save(run.checkpoint(step), model.state_dict(),
                    step_model.checkpoint_meta(step=step, row=row), extra={"optimizer": opt})
    model.train()


def _restore(run: Run, model: TinyLM, optimizer) -> int:
    """Load the newest checkpoint into model and optimizer; the next step to train."""
    path = run.latest()
    if path is None:
        return 0
    tensors, meta = checkpoint.load(path, {k: v.shape for k, v in model.state_dict().items()})
    model.load_state_dict(tensors)
    load_optimizer_tensors(model, optimizer, checkpoint.load_extra(path, "optimizer") or {})
    return meta["step"] + 1


def load_config(run_dir: Path, device: str | None = None) -> PretrainConfig:
    """The configuration a run directory was started with (on `device`, if given)."""
    return Run(run_dir).load_config(PretrainConfig, None if device is None else
                                    dict(device=device))


def pretrain(config: PretrainConfig, run_dir: Path, resume: bool = False,
             steps: int | None = None, progress=None, device: str | None = None) -> list[dict]:
    """Run (or resume) pretraining into `run_dir`; every metrics row. `steps` overrides the
    configured (or, on resume, the saved) step count and `device` its device; `progress(row)`
    sees each row."""
    run, config = open_run(run_dir, config, resume, digits=7, steps=steps, device=device)
    torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    tokenizer = tokenizer_for(make_task(config))
    model = build_model(config, tokenizer).to(config.device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr,
                                  weight_decay=config.weight_decay)
    start = _restore(run, model, optimizer)
    rows = run.repair_metrics(keep=lambda step: step < start, key="step")  # later: redone
    source = TrajectorySource(config)
    seconds = rows[-1]["seconds"] if rows else 0.0
    sums, count, t0 = dict(policy=0.0, value=0.0), 0, time.time()
    model.train()
    for step in range(start, config.steps):
        rng = np.random.default_rng([config.seed, step])  # a step's batch is fixed: resumable
        batch = encode_batch(*source.batch(config.batch_size, rng), tokenizer)
        loss = losses(model, *on_device(batch, model.device))
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, config)
        optimizer.zero_grad(set_to_none=True)
        (loss["policy"] + config.value_weight * loss["value"]).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        for k in sums:
            sums[k] += loss[k].item()
        count += 1
        last = step == config.steps - 1
        if (step + 1) % config.log_every == 0 or last:
            seconds += time.time() - t0
            t0 = time.time()
            row = dict(step=step, seconds=round(seconds, 1), lr=round(lr_at(step, config), 6),
                       **{f"loss_{k}": round(v / count, 4) for k, v in sums.items()})
            sums, count = dict(policy=0.0, value=0.0), 0
            if last and config.eval_problems:
                row.update(evaluate(TinyLMStepModel(model, tokenizer, seed=config.seed,
                                                    max_step_chars=source.task.max_step_chars),
                                    source.task, heldout_problems(config, config.eval_problems)))
                model.train()
                t0 = time.time()
            rows.append(row)
            run.write_metrics(rows)
            if progress:
                progress(row)
        if (step + 1) % config.checkpoint_every == 0 or last:
            _save(run, step, model, tokenizer, optimizer, config, rows[-1] if rows else {})
    return rows


# -- checks -----------------------------------------------------------------------------------

def heldout_problems(config: PretrainConfig, n: int, seed: int = 12345) -> list:
    """n held-out problems of the task (Game of 24: the first n in a seeded order)."""
    return list(make_task(config).generate(n, seed, "heldout"))


def random_states(task, problems: list, rng: np.random.Generator) -> list:
    """A non-terminal state of each problem: a world-model trajectory cut at a random depth."""
    states = []
    for problem in problems:
        steps = task.world_trajectory(problem, rng)
        state = task.initial_state(problem)
        for step in steps[:int(rng.integers(0, max(len(steps), 1)))]:
            state = task.apply(state, step)
        states.append(state)
    return states


def step_validity(model: TinyLMStepModel, task, states: list) -> float:
    """Share of sampled steps (one per state, temperature 1) that the task accepts; a sample
    dropped for having no newline counts as invalid."""
    expansions = model.expand([task.prompt(s) for s in states], 1)
    valid = [bool(e.steps) and not task.apply(s, e.steps[0]).error
             for s, e in zip(states, expansions)]
    return sum(valid) / max(len(valid), 1)


def greedy_solve_rate(model: TinyLMStepModel, task, problems: list) -> float:
    """pass@1 of greedy decoding: the share of problems whose greedy steps reach reward 1."""
    from lmzero.search.baselines import decode
    from lmzero.search.budget import Budget
    results = decode(task, model, problems, [Budget() for _ in problems], greedy=True)
    return sum(r.solved for r in results) / max(len(results), 1)


def evaluate(model: TinyLMStepModel, task, problems: list, seed: int = 0) -> dict:
    states = random_states(task, problems, np.random.default_rng(seed))
    return dict(heldout_step_validity=round(step_validity(model, task, states), 4),
                heldout_greedy_pass1=round(greedy_solve_rate(model, task, problems), 4))
