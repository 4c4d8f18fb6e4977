"""Copy a trained checkpoint into the package (lmzero/checkpoints/NAME/) without its optimizer
state, recording where it came from and the command that made it.

    .venv/bin/python bench/ship_checkpoint.py runs/game24-full game24 \\
        --command "lmzero train game24 --preset full --run runs/game24-full"
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

ROOT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT_DIR))


def main() -> None:
    from lmzero import checkpoint
    from lmzero.models.load import SHIPPED, resolve
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("source", type=Path, help="checkpoint or run directory")
    parser.add_argument("name", help="directory name under lmzero/checkpoints/")
    parser.add_argument("--command", required=True, help="the command that produced it")
    parser.add_argument("--half", action="store_true", help="store float32 tensors as float16 "
                        "(half the size; loading casts them back to the model's float32)")
    args = parser.parse_args()
    source = resolve(args.source)
    tensors, meta = checkpoint.load(source)
    meta = {k: v for k, v in meta.items() if k not in ("curator",)}  # run-internal state
    meta.update(shipped_from=str(source), command=args.command)
    if args.half:
        import torch
        tensors = {k: v.half() if v.dtype == torch.float32 else v for k, v in tensors.items()}
        meta.update(stored_dtype="float16")
    target = SHIPPED / args.name
    if target.exists():
        shutil.rmtree(target)
    checkpoint.save(target, tensors, meta)
    size = sum(p.stat().st_size for p in target.iterdir())
    print(f"shipped {source} -> {target} ({size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
