"""Checkpoints: safetensors weights plus a JSON manifest with the sha256 of every file.

Never pickle: loading refuses a directory holding anything but the manifest and the files it
lists, any file whose checksum differs, and weights that do not match the model's tensors.
Writes are atomic: everything goes to a temporary sibling directory that is renamed into place,
so a run killed mid-write leaves either the old checkpoint or the new one, never half of one.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

FORMAT = "lmzero-checkpoint/1"
MANIFEST = "manifest.json"


class CheckpointError(ValueError):
    """A checkpoint that cannot be trusted or used; the message names the file and the fault."""


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_atomic(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a temporary file and a rename (never a torn file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save(directory: Path, tensors: dict, meta: dict, extra: dict | None = None) -> Path:
    """Save `tensors` (name -> torch.Tensor) and `meta` (JSON-able) as a checkpoint directory.

    `extra` maps a name (e.g. "optimizer") to more tensors, saved as NAME.safetensors.
    """
    from safetensors.torch import save_file

    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=directory.parent, prefix=f".{directory.name}."))
    try:
        files = {}
        for name, group in {"model": tensors, **(extra or {})}.items():
            path = tmp / f"{name}.safetensors"
            save_file({k: v.detach().contiguous().cpu() for k, v in group.items()}, str(path))
            files[path.name] = sha256(path)
        manifest = dict(format=FORMAT, meta=meta, files=files)
        write_atomic(tmp / MANIFEST, json.dumps(manifest, indent=2, sort_keys=True).encode())
        if directory.exists():  # replace an older checkpoint of the same name
            old = directory.with_name(f".{directory.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(directory, old)
            os.replace(tmp, directory)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, directory)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return directory


def load(directory: Path, expected: dict | None = None) -> tuple[dict, dict]:
    """(tensors, meta) of a verified checkpoint; CheckpointError says what is wrong.

    `expected` (name -> shape) makes a missing, extra or mis-shaped tensor an error too.
    """
    directory = Path(directory)
    meta = verify(directory)
    tensors = _read(directory, "model")
    if expected is not None:
        _check_tensors(directory, tensors, expected)
    return tensors, meta


def load_extra(directory: Path, name: str) -> dict | None:
    """The tensors saved under `extra[name]`, or None if the checkpoint has none."""
    directory = Path(directory)
    verify(directory)
    return _read(directory, name) if (directory / f"{name}.safetensors").is_file() else None


def _read(directory: Path, name: str) -> dict:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = directory / f"{name}.safetensors"
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, KeyError) as exc:
        raise CheckpointError(f"{path}: unreadable ({exc})") from None


def _manifest(directory: Path) -> tuple[dict, dict]:
    """(files, meta) as the manifest states them, nothing checked against the files yet."""
    manifest_path = directory / MANIFEST
    if not directory.is_dir():
        raise CheckpointError(f"{directory}: not a checkpoint directory")
    if not manifest_path.is_file():
        raise CheckpointError(f"{directory}: no {MANIFEST} (not an lmzero checkpoint)")
    try:
        manifest = json.loads(manifest_path.read_text())
        files = dict(manifest["files"])
        meta = manifest["meta"]
    except (ValueError, KeyError, TypeError):
        raise CheckpointError(f"{manifest_path}: unreadable manifest") from None
    if manifest.get("format") != FORMAT:
        raise CheckpointError(f"{manifest_path}: unknown format {manifest.get('format')!r}")
    return files, meta


def read_meta(directory: Path) -> dict:
    """The manifest's meta, unverified: enough to tell what kind of checkpoint a directory holds
    before a verified load (`verify`, `load`) reads it."""
    return _manifest(Path(directory))[1]


def verify(directory: Path) -> dict:
    """The manifest's meta, after checking every file against its checksum."""
    files, meta = _manifest(directory)
    present = {p.name for p in directory.iterdir() if not p.name.startswith(".")}
    stray = sorted(present - set(files) - {MANIFEST})
    if stray:
        raise CheckpointError(f"{directory}: unexpected file {stray[0]} (only safetensors files "
                              "listed in the manifest are allowed; pickles are refused)")
    for name, digest in files.items():
        if not name.endswith(".safetensors"):
            raise CheckpointError(f"{directory}: {name} is not a safetensors file")
        if not (directory / name).is_file():
            raise CheckpointError(f"{directory}: {name} listed in the manifest is missing")
        if sha256(directory / name) != digest:
            raise CheckpointError(f"{directory / name}: checksum mismatch (corrupt or tampered)")
    if "model.safetensors" not in files:
        raise CheckpointError(f"{directory}: the manifest lists no model.safetensors")
    return meta


def _check_tensors(directory: Path, tensors: dict, expected: dict) -> None:
    missing = sorted(set(expected) - set(tensors))
    if missing:
        raise CheckpointError(f"{directory}: tensor {missing[0]} is missing")
    extra = sorted(set(tensors) - set(expected))
    if extra:
        raise CheckpointError(f"{directory}: unexpected tensor {extra[0]}")
    for name, shape in expected.items():
        if tuple(tensors[name].shape) != tuple(shape):
            raise CheckpointError(f"{directory}: tensor {name} has shape "
                                  f"{tuple(tensors[name].shape)}, expected {tuple(shape)}")
