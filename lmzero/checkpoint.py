"""Checkpoints: safetensors weights plus a JSON manifest with the sha256 of every file and of
the meta.

Never pickle: loading refuses a directory holding anything but the manifest and the files it
lists, any file whose checksum differs, a meta whose checksum differs (the meta builds the
model, so it is covered like the weights), weights that do not match the model's tensors (the
shapes are compared from the safetensors header, before any data is read) and weights that are
not finite. The checksums catch corruption and hand edits, not a forger: anyone can recompute
them, so every loader still validates the meta it builds from (`models.load`).
Writes are atomic: everything goes to a temporary sibling directory that is renamed into place,
so a run killed mid-write leaves either the old checkpoint or the new one, never half of one.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

from lmzero import faults

FORMAT = "lmzero-checkpoint/2"
"""What `save` writes: format/1 plus `meta_sha256`, the checksum of the meta's canonical JSON."""
LEGACY_FORMATS = ("lmzero-checkpoint/1",)
"""Still read, so runs written before format/2 resume and load: their meta has no checksum,
but the loaders validate it all the same (`upgrade` adds the checksum)."""
MANIFEST = "manifest.json"


class CheckpointError(ValueError):
    """A checkpoint that cannot be trusted or used; the message names the file and the fault."""


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def meta_sha256(meta: dict) -> str:
    """sha256 of the meta's canonical JSON (sorted keys, compact separators), so the checksum
    does not depend on how the manifest is indented.

    >>> meta_sha256({"b": 1, "a": [2.5, None]}) == meta_sha256({"a": [2.5, None], "b": 1})
    True
    """
    canonical = json.dumps(meta, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


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
        faults.published(path)
        os.replace(tmp, path)
    except OSError as exc:  # a full disk: name the file the user can look at
        Path(tmp).unlink(missing_ok=True)
        raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _manifest_bytes(meta: dict, files: dict) -> bytes:
    meta = json.loads(json.dumps(meta))  # the meta as a reader will parse it (tuples -> lists)
    manifest = dict(format=FORMAT, meta=meta, meta_sha256=meta_sha256(meta), files=files)
    return json.dumps(manifest, indent=2, sort_keys=True).encode()


def save(directory: Path, tensors: dict, meta: dict, extra: dict | None = None) -> Path:
    """Save `tensors` (name -> torch.Tensor) and `meta` (a JSON-able dict) as a checkpoint
    directory. `extra` maps a name (e.g. "optimizer") to more tensors, saved as
    NAME.safetensors."""
    from safetensors.torch import save as save_bytes

    if not isinstance(meta, dict):
        raise TypeError(f"a checkpoint's meta must be a dict, got {type(meta).__name__}")
    for key, t in tensors.items():  # a diverged run stops here, its last good checkpoint kept
        if t.is_floating_point() and not bool(t.isfinite().all()):
            raise CheckpointError(f"{directory}: not saved, tensor {key} holds NaN or infinite "
                                  "values (training diverged: lower the learning rate)")
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=directory.parent, prefix=f".{directory.name}."))
    try:
        files = {}
        for name, group in {"model": tensors, **(extra or {})}.items():
            path = tmp / f"{name}.safetensors"
            # bytes through write_atomic, not safetensors' own writer: a full disk is then an
            # OSError naming the file (not a SafetensorError), and every write is fsynced
            write_atomic(path, save_bytes({k: v.detach().contiguous().cpu()
                                           for k, v in group.items()}))
            files[path.name] = sha256(path)
        write_atomic(tmp / MANIFEST, _manifest_bytes(meta, files))
        faults.published(directory)
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

    `expected` (name -> shape) makes a missing, extra or mis-shaped tensor an error too, found
    from the file's header before its data is read.
    """
    directory = Path(directory)
    meta = verify(directory)
    if expected is not None:
        _check_tensors(directory, header_shapes(directory), expected)
    return _read(directory, "model"), meta


def load_extra(directory: Path, name: str) -> dict | None:
    """The tensors saved under `extra[name]`, or None if the checkpoint has none."""
    directory = Path(directory)
    verify(directory)
    return _read(directory, name) if (directory / f"{name}.safetensors").is_file() else None


def header_shapes(directory: Path, name: str = "model") -> dict[str, tuple[int, ...]]:
    """Tensor name -> shape from NAME.safetensors' header, without reading any tensor data."""
    from safetensors import SafetensorError, safe_open

    path = Path(directory) / f"{name}.safetensors"
    try:
        with safe_open(str(path), framework="pt") as f:
            return {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{path}: unreadable ({_first_line(exc)})") from None


def _read(directory: Path, name: str) -> dict:
    """Every tensor of NAME.safetensors; a NaN or infinite weight is refused (it would turn
    every search result into NaN, printed as if it were an answer)."""
    import torch
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = directory / f"{name}.safetensors"
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, KeyError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{path}: unreadable ({_first_line(exc)})") from None
    for key in sorted(tensors):
        t = tensors[key]
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            raise CheckpointError(f"{path}: tensor {key} holds NaN or infinite values")
    return tensors


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _manifest(directory: Path) -> tuple[dict, dict]:
    """(files, meta) as the manifest states them, the meta checked against its checksum (the
    files not yet)."""
    directory = Path(directory)
    manifest_path = directory / MANIFEST
    if not directory.is_dir():
        raise CheckpointError(f"{directory}: not a checkpoint directory")
    if not manifest_path.is_file():
        raise CheckpointError(f"{directory}: no {MANIFEST} (not an lmzero checkpoint)")
    try:
        manifest = json.loads(manifest_path.read_text())
    except (ValueError, OSError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise CheckpointError(f"{manifest_path}: unreadable manifest") from None
    if not isinstance(manifest, dict):
        raise CheckpointError(f"{manifest_path}: unreadable manifest (not a JSON object)")
    format_, files, meta = manifest.get("format"), manifest.get("files"), manifest.get("meta")
    if format_ != FORMAT and format_ not in LEGACY_FORMATS:
        raise CheckpointError(f"{manifest_path}: unknown format {str(format_)[:40]!r}")
    if not isinstance(files, dict) or not all(isinstance(v, str) for v in files.values()):
        raise CheckpointError(f"{manifest_path}: unreadable manifest (files must map names to "
                              "sha256 digests)")
    if not isinstance(meta, dict):
        raise CheckpointError(f"{manifest_path}: the meta must be a JSON object, not "
                              f"{type(meta).__name__}")
    if format_ == FORMAT and manifest.get("meta_sha256") != meta_sha256(meta):
        raise CheckpointError(f"{manifest_path}: meta checksum mismatch (edited or corrupt)")
    return files, meta


def read_meta(directory: Path) -> dict:
    """The manifest's meta, its files unverified: enough to tell what kind of checkpoint a
    directory holds before a verified load (`verify`, `load`) reads it."""
    return _manifest(Path(directory))[1]


def verify(directory: Path) -> dict:
    """The manifest's meta, after checking it and every file against their checksums."""
    directory = Path(directory)
    files, meta = _manifest(directory)
    present = {p.name for p in directory.iterdir() if not p.name.startswith(".")}
    stray = sorted(present - set(files) - {MANIFEST})
    if stray:
        raise CheckpointError(f"{directory}: unexpected file {stray[0]} (only safetensors files "
                              "listed in the manifest are allowed; pickles are refused)")
    for name, digest in files.items():
        if not name.endswith(".safetensors") or Path(name).name != name or "\\" in name:
            raise CheckpointError(f"{directory}: {name[:80]!r} is not a safetensors file here")
        if not (directory / name).is_file():
            raise CheckpointError(f"{directory}: {name} listed in the manifest is missing")
        if sha256(directory / name) != digest:
            raise CheckpointError(f"{directory / name}: checksum mismatch (corrupt or tampered)")
    if "model.safetensors" not in files:
        raise CheckpointError(f"{directory}: the manifest lists no model.safetensors")
    return meta


def upgrade(directory: Path) -> bool:
    """Rewrite a verified format/1 manifest as format/2: the meta and the files' checksums
    unchanged, the meta's checksum added. False if it already was format/2."""
    directory = Path(directory)
    meta = verify(directory)
    manifest = json.loads((directory / MANIFEST).read_text())
    if manifest["format"] == FORMAT:
        return False
    mode = (directory / MANIFEST).stat().st_mode & 0o777  # kept: write_atomic's file is 0600
    write_atomic(directory / MANIFEST, _manifest_bytes(meta, manifest["files"]))
    os.chmod(directory / MANIFEST, mode)
    return True


def _check_tensors(directory: Path, shapes: dict, expected: dict) -> None:
    missing = sorted(set(expected) - set(shapes))
    if missing:
        raise CheckpointError(f"{directory}: tensor {missing[0]} is missing")
    extra = sorted(set(shapes) - set(expected))
    if extra:
        raise CheckpointError(f"{directory}: unexpected tensor {extra[0][:80]}")
    for name, shape in expected.items():
        if tuple(shapes[name]) != tuple(shape):
            raise CheckpointError(f"{directory}: tensor {name} has shape "
                                  f"{tuple(shapes[name])}, expected {tuple(shape)}")


if __name__ == "__main__":  # python -m lmzero.checkpoint DIR...: upgrade format/1 checkpoints
    for arg in sys.argv[1:]:
        print(f"{arg}: {'upgraded' if upgrade(Path(arg)) else 'already ' + FORMAT}")
