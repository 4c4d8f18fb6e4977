"""Loading a trained tinylm network: from a checkpoint, a run directory, or the shipped one.

A manifest's meta builds the model, so it is checked before anything is built, in this order:
the kind and task it claims against what the caller asked for; its model config (types, bounds
and, for a game, the game's vocabulary and board length); the parameter count the config implies
(worked out on torch's meta device, which allocates nothing); the weight file's tensor shapes
(from the safetensors header, no data read). Only then are the weights read (a NaN or infinite
one is refused) and the model built, and one forward must give finite outputs. Every fault is a
one-line CheckpointError naming the directory. (`tinylm_steps.load_step_model` does the same for
text models, with these helpers.)
"""

from __future__ import annotations

from pathlib import Path

import torch

from lmzero import checkpoint
from lmzero.checkpoint import CheckpointError
from lmzero.models.game_net import GameTokenizer, NetworkEvaluator
from lmzero.models.tinylm import TinyLM, TinyLMConfig, short_repr
from lmzero.tasks.base import Game

SHIPPED = Path(__file__).resolve().parent.parent / "checkpoints"

REQUIRED_FIELDS = ("vocab_size", "block_size", "n_layer", "n_head", "n_embd", "trunk")
"""Model-config fields a manifest must state (the others have defaults that older checkpoints
relied on; a wrong default still fails the shape check)."""
MAX_PARAMETERS = 50_000_000
"""Largest model a checkpoint may claim (200 MB of float32; the shipped ones have under 1M):
refused from the config alone, before any memory is allocated."""


def shipped_checkpoint(game: Game) -> Path | None:
    """The network the project ships for `game`, if any (lmzero/checkpoints/<game>/)."""
    path = SHIPPED / game.name
    return path if (path / checkpoint.MANIFEST).is_file() else None


def resolve(path: Path) -> Path:
    """A checkpoint directory itself, or the newest checkpoint of a run directory."""
    path = Path(path)
    if (path / checkpoint.MANIFEST).is_file():
        return path
    found = sorted(p for p in (path / "checkpoints").glob("*") if (p / checkpoint.MANIFEST).is_file())
    if not found:
        raise CheckpointError(f"{path}: neither a checkpoint nor a run directory with checkpoints")
    return found[-1]


def trained_on(name, what: str) -> str:
    """How a message states what a checkpoint was trained on (old ones may name nothing)."""
    return f"a checkpoint that names no {what}" if name is None else \
        f"trained on {short_repr(name)}"


def verified_checkpoint(path: Path, kind: str, task: str | None,
                        not_kind: str) -> tuple[Path, dict]:
    """(directory, meta) of the verified checkpoint at `path` (or a run's newest) whose meta
    says `kind` and, unless `task` is None, `task`; CheckpointError otherwise (`not_kind`
    completes the message for a checkpoint of another kind)."""
    path = resolve(Path(path))
    meta = checkpoint.verify(path)
    if meta.get("kind") != kind:
        raise CheckpointError(f"{path}: {not_kind}")
    if "task" in meta and not isinstance(meta["task"], str):
        raise CheckpointError(f"{path}: the meta's task must be a name, got "
                              f"{short_repr(meta['task'])}")
    if task is not None and meta.get("task") != task:
        raise CheckpointError(f"{path}: {trained_on(meta.get('task'), 'task')}, not {task!r}")
    return path, meta


def model_config(path: Path, meta: dict) -> TinyLMConfig:
    """The TinyLMConfig a checkpoint's meta states; CheckpointError naming the bad field."""
    fields = meta.get("model")
    if not isinstance(fields, dict):
        raise CheckpointError(f"{path}: the meta has no model config (got {short_repr(fields)})")
    missing = [k for k in REQUIRED_FIELDS if k not in fields]
    if missing:
        raise CheckpointError(f"{path}: the model config in the manifest lacks {missing[0]}")
    try:
        return TinyLMConfig(**fields)
    except (TypeError, ValueError) as exc:  # TypeError: a field TinyLMConfig does not have
        raise CheckpointError(f"{path}: bad model config in the manifest ({exc})") from None


def build_model(path: Path, config: TinyLMConfig, probe: torch.Tensor) -> TinyLM:
    """The checkpoint's model in eval mode, once its size, shapes and weights passed (see the
    module doc); `probe` [1, T] tokens must give finite outputs (finite weights can still
    overflow)."""
    with torch.device("meta"):  # shapes only: nothing allocated, however large the config
        shapes = {k: v.shape for k, v in TinyLM(config).state_dict().items()}
    parameters = sum(s.numel() for s in shapes.values())
    if parameters > MAX_PARAMETERS:
        raise CheckpointError(f"{path}: the manifest's model config has {parameters:,} "
                              f"parameters, more than the {MAX_PARAMETERS:,} a checkpoint may")
    tensors, _ = checkpoint.load(path, shapes)
    model = TinyLM(config)
    model.load_state_dict(tensors)
    model.eval()
    with torch.inference_mode():
        logits, value = model(probe)
    if not (bool(torch.isfinite(logits).all()) and bool(torch.isfinite(value).all())):
        raise CheckpointError(f"{path}: the network's outputs are not finite (weights too large)")
    return model


def load_network(path: Path, game: Game, mirror_average: bool = False) -> NetworkEvaluator:
    """The evaluator of a verified checkpoint trained on `game`; CheckpointError otherwise.
    `mirror_average`: see `NetworkEvaluator`."""
    path = resolve(path)
    meta = checkpoint.verify(path)
    if "kind" in meta:  # text models and hf checkpoints say their kind; game networks do not
        raise CheckpointError(f"{path}: a {short_repr(meta['kind'])} checkpoint, not a game "
                              "network")
    if meta.get("game") != game.name:
        raise CheckpointError(f"{path}: {trained_on(meta.get('game'), 'game')}, not "
                              f"{game.name!r}")
    config = model_config(path, meta)
    tokenizer = GameTokenizer(game)
    if (config.vocab_size, config.block_size, config.observation_size) != (
            tokenizer.vocab_size, tokenizer.length, tokenizer.observation_size):
        raise CheckpointError(f"{path}: the model's vocabulary, length or observation size "
                              f"({config.vocab_size}, {config.block_size}, "
                              f"{config.observation_size}) does not fit {game.name} "
                              f"({tokenizer.vocab_size}, {tokenizer.length}, "
                              f"{tokenizer.observation_size})")
    probe = torch.as_tensor(tokenizer.tokens([game.initial_state()]))
    return NetworkEvaluator(game, build_model(path, config, probe), tokenizer, mirror_average)
