"""Loading a trained game network: from a checkpoint, a run directory, or the shipped one."""

from __future__ import annotations

from pathlib import Path

from lmzero import checkpoint
from lmzero.checkpoint import CheckpointError
from lmzero.models.game_net import GameTokenizer, NetworkEvaluator
from lmzero.models.tinylm import TinyLM, TinyLMConfig
from lmzero.tasks.base import Game

SHIPPED = Path(__file__).resolve().parent.parent / "checkpoints"


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


def verified_checkpoint(path: Path, kind: str, task: str | None,
                        not_kind: str) -> tuple[Path, dict]:
    """(directory, meta) of the verified checkpoint at `path` (or a run's newest) whose meta
    says `kind` and, unless `task` is None, `task`; CheckpointError otherwise (`not_kind`
    completes the message for a checkpoint of another kind)."""
    path = resolve(Path(path))
    meta = checkpoint.verify(path)
    if meta.get("kind") != kind:
        raise CheckpointError(f"{path}: {not_kind}")
    if task is not None and meta.get("task") != task:
        raise CheckpointError(f"{path}: trained on {meta.get('task')!r}, not {task!r}")
    return path, meta


def load_network(path: Path, game: Game) -> NetworkEvaluator:
    """The evaluator of a verified checkpoint trained on `game`; CheckpointError otherwise."""
    path = resolve(path)
    meta = checkpoint.verify(path)
    if meta.get("game") != game.name:
        raise CheckpointError(f"{path}: trained on {meta.get('game')!r}, not {game.name!r}")
    try:
        config = TinyLMConfig(**meta["model"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: bad model config in the manifest ({exc})") from None
    model = TinyLM(config)
    tensors, _ = checkpoint.load(path, {k: v.shape for k, v in model.state_dict().items()})
    model.load_state_dict(tensors)
    tokenizer = GameTokenizer(game)
    if tokenizer.vocab_size != config.vocab_size or tokenizer.length != config.block_size:
        raise CheckpointError(f"{path}: the model's vocabulary or length does not fit {game.name}")
    return NetworkEvaluator(game, model.eval(), tokenizer)
