"""Is Game of 24's first-step gap a capacity limit? Models of several sizes trained on perfect
first-step labels, and what each generalises to held out.

The shipped policy's legal-step greedy loses 196 of its 207 held-out failures at the first step
(`bench/arith_failures.py`), and neither more learner steps, more puzzles nor distilled
prior x value targets lifted it (`bench/policy_fit.py`). Here the labels are perfect: every
training puzzle's first state, and each of its solvable three-number children, with every
legal step that keeps the target reachable (the exact counter; a diagnosis, never a training
target of a shipped model): `--labels all` keeps every such step, each weighted 1/k among its
state's k (a flat target); `--labels one` keeps one of them per state, drawn at random, as a
verified search path would (a sharp target). What a model cannot learn from these, no
search-made target will teach it; what it can, better targets might.

`--labels values` asks the same of the value head: value rows for every legal child of every
training first state (1 if 24 stays reachable, else 0), and accuracy is then the share of
puzzles whose child with the highest value keeps 24 reachable (a one-step lookahead by the
value head: what a decode that reads child values, or a step that writes its own verdicts,
could at best choose).

Each model: the shipped checkpoint fine-tuned, or a tinylm of L layers x C channels from
random weights. Every `--every` learner steps: first-step accuracy, the share of puzzles whose
most probable legal first step keeps 24 reachable, on the 358 held-out puzzles and on as many
training ones (the shipped model's starting point is its first row).

    .venv/bin/python bench/first_step_capacity.py [--models shipped 4x128 8x192] [--steps 3000]
        [--labels one|all|values] [--device cuda] [--tokenizer chars|numbers] [--targets N]

`--device cuda` trains and scores on a GPU (the 8 x 192 model takes over 2 s a learner step on
this CPU); the labels and the accuracy checks stay on the CPU. Two levers on the input side:
`--tokenizer numbers` reads each whole number as one token (`NumberTokenizer`); `--targets N`
adds the first state of every training multiset under N other targets from 1-100, so the
model meets the same lookahead with numbers it cannot have memorised an answer for.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.arith_failures import can_reach  # noqa: E402
from bench.common import print_table, write_report  # noqa: E402
from lmzero.learn.pretrain import tokenizer_for  # noqa: E402
from lmzero.learn.step_learner import StepLearner, StepLearnerConfig  # noqa: E402
from lmzero.models.load import SHIPPED  # noqa: E402
from lmzero.models.text_tokenizer import CharTokenizer  # noqa: E402
from lmzero.models.tinylm import TinyLM, TinyLMConfig, check_device  # noqa: E402
from lmzero.models.tinylm_steps import TinyLMStepModel, load_step_model  # noqa: E402
from lmzero.search.baselines import value_greedy_step  # noqa: E402
from lmzero.tasks.game24 import TASK, problems as standard_problems, training_problems  # noqa: E402


class NumberTokenizer(CharTokenizer):
    """The task's characters, plus one token for each whole number up to `largest` (a larger
    one, rare in Game of 24's first two steps, is written digit by digit): `13` is one token,
    not `1`, `3`, so a model sees the numbers it must combine as units. An experiment of this
    bench only: checkpoints and the step loops keep the character vocabulary."""

    NUMBER = re.compile(r"\d+|.", re.S)

    def __init__(self, characters: str, largest: int = 400):
        super().__init__(characters)
        self.numbers = {str(n): len(self.vocab) + n for n in range(largest + 1)}
        self.vocab += list(self.numbers)

    def encode(self, text: str) -> list[int]:
        ids = []
        for piece in self.NUMBER.findall(text):
            ids += [self.numbers[piece]] if piece in self.numbers else super().encode(piece)
        return ids


TOKENIZERS = {"chars": tokenizer_for, "numbers": lambda task: NumberTokenizer(task.characters)}
"""--tokenizer: the shipped character vocabulary, or whole numbers as tokens (random weights
only: the shipped checkpoint reads characters)."""


def keeps_target(state, step: str) -> bool:
    return can_reach(TASK.apply(state, step))


def labelled_rows(cards: int, labels: str, seed: int) -> dict:
    """Replay-shaped policy rows: first states of the 1-`cards` training deck and their
    solvable children, each with every step that keeps 24 reachable (weight 1/k), or with one
    of them drawn at random (weight 1)."""
    rng = np.random.default_rng(seed)
    prompts, steps, weights = [], [], []
    for problem in training_problems(cards):
        first = TASK.initial_state(problem)
        good = [s for s in TASK.legal_steps(first) if keeps_target(first, s)]
        for state in [first] + [TASK.apply(first, s) for s in good]:
            right = [s for s in TASK.legal_steps(state) if keeps_target(state, s)]
            if labels == "one":
                right = [right[rng.integers(len(right))]]
            prompts += [TASK.prompt(state)] * len(right)
            steps += right
            weights += [1.0 / len(right)] * len(right)
    n = len(prompts)
    return dict(prompt=np.array(prompts), step=np.array(steps),
                weight=np.array(weights, np.float32), value=np.full(n, np.nan, np.float32))


def value_rows(cards: int) -> dict:
    """Value rows of `--labels values`: every legal child of every training first state, with
    value 1 if 24 is still reachable from it, else 0 (no step rows). The three-number states
    are shared across puzzles, so this asks whether a value head, unlike the policy, carries the
    one-step lookahead to puzzles it has not seen."""
    prompts, values = [], []
    for problem in training_problems(cards):
        first = TASK.initial_state(problem)
        for step in TASK.legal_steps(first):
            child = TASK.apply(first, step)
            prompts.append(TASK.prompt(child))
            values.append(float(can_reach(child)))
    n = len(prompts)
    return dict(prompt=np.array(prompts), step=np.full(n, ""), weight=np.zeros(n, np.float32),
                value=np.array(values, np.float32))


def other_target_rows(targets: int, seed: int) -> dict:
    """First states of every training multiset (solvable for 24 or not) under `targets` other
    targets from 1-100, drawn among those it can make, each with one good step: the same
    one-step lookahead asked of numbers the model must compute with rather than recall.
    Held-out multisets stay out under every target (the split rule reads only the numbers)."""
    from lmzero.tasks.arith import Problem
    from lmzero.tasks.game24 import all_multisets, split
    rng = np.random.default_rng([seed, 1])
    prompts, steps = [], []
    for multiset in split(all_multisets(), "train"):
        chosen = 0
        for target in rng.permutation(np.arange(1, 101)):
            if chosen == targets:
                break
            if target == 24:
                continue
            first = TASK.initial_state(Problem.make(list(multiset.numbers), int(target)))
            good = [s for s in TASK.legal_steps(first) if keeps_target(first, s)]
            if good:
                prompts.append(TASK.prompt(first))
                steps.append(good[rng.integers(len(good))])
                chosen += 1
    n = len(prompts)
    return dict(prompt=np.array(prompts), step=np.array(steps), weight=np.ones(n, np.float32),
                value=np.full(n, np.nan, np.float32))


def first_step_accuracy(model, problems, by_value: bool = False) -> float:
    """Share of problems whose most probable legal first step (`by_value`: the one whose child
    the value head rates highest) keeps 24 reachable."""
    states = [TASK.initial_state(p) for p in problems]
    scored = model.score([TASK.prompt(s) for s in states], [TASK.legal_steps(s) for s in states],
                         with_value=by_value)
    chosen = [(value_greedy_step(TASK, s, a) if by_value else a.steps[0]) if a.steps else None
              for s, a in zip(states, scored)]
    return float(np.mean([c is not None and keeps_target(s, c)
                          for s, c in zip(states, chosen)]))


def build(name: str, seed: int, device: str,
          tokenizer: str = "chars") -> tuple[TinyLMStepModel, float]:
    """The named model ('shipped', or 'LxC' from random weights reading `tokenizer`'s tokens)
    on `device`, and its learning rate."""
    if name == "shipped":
        if tokenizer != "chars":
            raise SystemExit("--tokenizer numbers: the shipped model reads characters; name "
                             "LAYERSxCHANNELS models")
        return load_step_model(SHIPPED / "game24", task=TASK, device=device), 3e-4
    try:
        layers, width = (int(x) for x in name.split("x"))
    except ValueError:
        raise SystemExit(f"--models: {name!r} is neither 'shipped' nor LAYERSxCHANNELS") from None
    import torch
    torch.manual_seed(seed)
    tokenizer = TOKENIZERS[tokenizer](TASK)
    model = TinyLM(TinyLMConfig(vocab_size=tokenizer.vocab_size, n_layer=layers,
                                n_head=max(1, width // 32), n_embd=width, mlp_width=2 * width,
                                block_size=256)).to(device)
    return TinyLMStepModel(model, tokenizer, max_step_chars=TASK.max_step_chars), 1e-3


def train_one(name: str, data: dict, sets: dict, args) -> list[dict]:
    model, lr = build(name, args.seed, args.device, args.tokenizer)
    learner = StepLearner(model.model, model.tokenizer,
                          StepLearnerConfig(lr=lr, batch_size=64, policy_fraction=None),
                          args.steps)
    params = sum(p.numel() for p in model.model.parameters())
    rng, rows, learning = np.random.default_rng(args.seed), [], 0.0
    for done in range(0, args.steps + 1, args.every):
        if done:
            t0 = time.perf_counter()
            learner.train(data, args.every, rng)
            learning += time.perf_counter() - t0
        rows.append(dict(model=name, params=params, steps=done, seconds=round(learning, 1),
                         **{k: first_step_accuracy(model, p, args.labels == "values")
                            for k, p in sets.items()}))
        print(f"{name} ({params / 1e6:.1f}M) {done} steps: "
              + ", ".join(f"{k} {rows[-1][k]:.1%}" for k in sets), flush=True)
    return rows


def plot(report: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    for name in dict.fromkeys(r["model"] for r in report["rows"]):
        rows = [r for r in report["rows"] if r["model"] == name]
        for key, style in (("heldout", "-"), ("training", ":")):
            ax.plot([r["steps"] for r in rows], [100 * r[key] for r in rows], style,
                    marker="o", label=f"{name} {key}")
    ax.set(xlabel="learner steps on perfect labels", ylabel="first step keeps 24 (%)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["shipped", "4x128", "8x192"])
    parser.add_argument("--deck", type=int, default=13, help="training puzzles from 1-N")
    parser.add_argument("--labels", choices=["one", "all", "values"], default="one",
                        help="one good step per state (sharp), every good step (flat), or "
                        "values: the first step the value head picks, trained on every child")
    parser.add_argument("--targets", type=int, default=0,
                        help="also first states of training multisets under N other targets")
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--every", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu", help="torch device: cpu, cuda, cuda:1")
    parser.add_argument("--tokenizer", choices=list(TOKENIZERS), default="chars",
                        help="characters (shipped), or whole numbers as single tokens")
    parser.add_argument("--report", default="first_step_capacity",
                        help="bench/out/NAME.json and .png (runs side by side need two)")
    args = parser.parse_args()
    import torch
    torch.set_num_threads(args.threads)
    try:
        check_device(args.device)
    except ValueError as exc:
        parser.error(f"--{exc}")
    data = (value_rows(args.deck) if args.labels == "values"
            else labelled_rows(args.deck, args.labels, args.seed))
    if args.targets:
        more = other_target_rows(args.targets, args.seed)
        data = {k: np.concatenate([data[k], more[k]]) for k in data}
    heldout = standard_problems("heldout")
    training = training_problems(13)
    picked = np.random.default_rng(args.seed).permutation(len(training))[:len(heldout)]
    sets = dict(heldout=heldout, training=[training[i] for i in sorted(picked)])
    rows = [row for name in args.models for row in train_one(name, data, sets, args)]
    print_table(f"First step keeps 24 reachable, after learner steps on perfect labels "
                f"({args.labels} label(s) per state, {len(data['prompt'])} rows, "
                f"deck 1-{args.deck}, {args.targets} other targets, {args.tokenizer} tokenizer)",
                ["model", "parameters", "steps", "learner seconds", f"held-out ({len(heldout)})",
                 f"training ({len(sets['training'])})"],
                [[r["model"], f"{r['params'] / 1e6:.1f}M", str(r["steps"]), str(r["seconds"]),
                  f"{r['heldout']:.1%}", f"{r['training']:.1%}"] for r in rows])
    write_report(ROOT / "bench" / "out", args.report,
                 dict(deck=args.deck, labels=args.labels, rows_labelled=len(data["prompt"]),
                      device=args.device, tokenizer=args.tokenizer, targets=args.targets,
                      steps=args.steps, rows=rows), plot)


if __name__ == "__main__":
    main()
