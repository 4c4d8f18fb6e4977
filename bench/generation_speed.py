"""How fast tinylm writes steps, against what the arithmetic alone would allow.

Every reasoning iteration is bound by how fast the text model writes steps, so this measures,
in one run, the shipped Game of 24 model (`lmzero/checkpoints/game24`) sampling steps for
held-out puzzle prompts through `TinyLMStepModel.expand` (prefill, the shared-prefix KV cache,
the per-token decode loop; k samples per prompt) at batches of 1, 64 and 512 prompts, and
beside each the FLOP-bound rate: this CPU's measured matmul rate (a 512 x 512 float32 GEMM,
timed here, same threads) divided by the model's FLOPs per generated token (2 x its matrix
parameters, plus attention over the context). The ratio says how far the decode loop is from
the hardware: at batch 1 it is Python and dispatch per token, not arithmetic.

Writes bench/out/generation_speed.json and bench/out/generation_speed.png.

    .venv/bin/python bench/generation_speed.py --quick
    .venv/bin/python bench/generation_speed.py          # ~1 minute
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

ROOT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT_DIR))

from bench.common import machine_info, print_table, write_report  # noqa: E402
from lmzero.models.tinylm_steps import load_step_model  # noqa: E402
from lmzero.tasks import load_step_task  # noqa: E402

OUT_DIR = ROOT_DIR / "bench" / "out"
K = 4  # samples per prompt, as search expands a node


def matmul_gflops(seconds: float) -> float:
    """Measured float32 GEMM rate of this CPU with torch's current threads."""
    a, b = torch.randn(512, 512), torch.randn(512, 512)
    a @ b  # warm
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        a @ b
        n += 1
    return 2 * 512 ** 3 * n / (time.perf_counter() - start) / 1e9


def flops_per_token(model, context: int) -> float:
    """2 x matrix parameters (embeddings are lookups) + attention over `context` tokens."""
    cfg = model.cfg
    matrices = sum(p.numel() for name, p in model.named_parameters()
                   if p.dim() == 2 and not name.startswith(("tok.", "pos.")))
    return 2 * matrices + 4 * cfg.n_layer * context * cfg.n_embd


def measure(step_model, prompts: list[str], batch: int, seconds: float) -> dict:
    """Generated tokens per second of `expand(batch prompts, K)`, repeated for `seconds`."""
    chosen = (prompts * (batch // len(prompts) + 1))[:batch]
    step_model.expand(chosen, K)  # warm
    tokens, calls, start = 0, 0, time.perf_counter()
    while time.perf_counter() - start < seconds or calls == 0:
        tokens += sum(e.generated_tokens for e in step_model.expand(chosen, K))
        calls += 1
    elapsed = time.perf_counter() - start
    return dict(batch=batch, calls=calls, tokens=tokens, seconds=elapsed,
                tokens_per_s=tokens / elapsed, tokens_per_call=tokens / calls)


def plot(report: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rows = report["rows"]
    fig, ax = plt.subplots(figsize=(6, 4))
    xs = [str(r["batch"]) for r in rows]
    ax.bar(xs, [r["tokens_per_s"] for r in rows], label="measured")
    ax.plot(xs, [r["bound_tokens_per_s"] for r in rows], "k--o", label="FLOP bound")
    ax.set_yscale("log")
    ax.set_xlabel(f"prompts per call (x {K} samples)")
    ax.set_ylabel("generated tokens / s")
    ax.set_title("tinylm step writing (Game of 24 model)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter timings (a smoke run)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    seconds = 2.0 if args.quick else 8.0
    task = load_step_task("game24")
    step_model = load_step_model(ROOT_DIR / "lmzero" / "checkpoints" / "game24", task=task)
    prompts = [task.prompt(task.initial_state(p)) for p in task.heldout_problems()]
    gflops = matmul_gflops(seconds / 2)
    context = len(prompts[0]) + 20  # a first step's mean context, about
    per_token = flops_per_token(step_model.model, context)
    rows = []
    for batch in (1, 64, 512):
        row = measure(step_model, prompts, batch, seconds)
        row["bound_tokens_per_s"] = gflops * 1e9 / per_token
        rows.append(row)
    base = rows[0]["tokens_per_s"]
    print_table(f"tinylm (Game of 24, {step_model.model.num_parameters():,} parameters, "
                f"{per_token / 1e6:.2f} MFLOP/token) writing steps, k={K}, {args.threads} "
                f"thread(s); GEMM {gflops:.1f} GFLOP/s",
                ["prompts/call", "tokens/call", "tokens/s", "vs batch 1", "FLOP bound tokens/s",
                 "share of bound"],
                [[str(r["batch"]), f"{r['tokens_per_call']:.0f}", f"{r['tokens_per_s']:,.0f}",
                  f"{r['tokens_per_s'] / base:.1f}x", f"{r['bound_tokens_per_s']:,.0f}",
                  f"{r['tokens_per_s'] / r['bound_tokens_per_s']:.1%}"] for r in rows])
    write_report(OUT_DIR, "generation_speed",
                 dict(machine=machine_info(torch=torch.__version__), gflops=gflops,
                      flops_per_token=per_token, k=K, threads=args.threads, rows=rows), plot)


if __name__ == "__main__":
    main()
