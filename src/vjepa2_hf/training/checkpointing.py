"""Atomic, verifiable training checkpoints, written and read without pickles.

Layout of ``output_dir``::

    checkpoints/
        step_00000100/          # complete checkpoints only (renamed into place after everything is written)
            model.safetensors   # context encoder, predictor, EMA target encoder (full, unsharded tensors)
            optimizer.json, optimizer.safetensors            # optimizer state keyed by parameter name
            training_state.json, training_state.safetensors  # step, schedules, history, registered objects
            random_states_0.json, random_states_0.safetensors  # one pair per process (python, numpy, torch RNG)
            manifest.json       # written last: size and sha256 of every file
        .tmp-step_00000200/     # an interrupted save; ignored and removed by the next save

What is trusted: nothing in a checkpoint can run code when it is loaded. Tensors are read with safetensors and
everything else with `json` (`vjepa2_hf.training.state_files`); no file is unpickled, and files the format does not
name (a planted ``*.pkl`` or ``optimizer.bin``) are never opened. The manifest's sizes and sha256 detect truncated
or damaged files, not tampering (whoever can write the files can rewrite the manifest). Checkpoints of the older
format (Accelerate's ``save_state``, with pickles) are refused.

A checkpoint directory only receives its final name once every file and the manifest are on disk, so a run killed
mid-save leaves the previous checkpoint as the latest one. Before loading, every file is checked against the
manifest; a truncated or modified file raises `CorruptCheckpointError` and nothing is loaded. Sharded (FSDP2) and
unsharded runs write the same full-state files, so a run resumes on any number of processes
(`vjepa2_hf.training.accelerator_state`).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

from accelerate import Accelerator
from accelerate.logging import get_logger

from .accelerator_state import STATE_FORMAT, load_accelerator_state, save_accelerator_state

logger = get_logger(__name__)

__all__ = [
    "CorruptCheckpointError",
    "MANIFEST_NAME",
    "save_checkpoint",
    "verify_checkpoint",
    "list_checkpoints",
    "find_last_checkpoint",
    "load_checkpoint",
]

MANIFEST_NAME = "manifest.json"
_STEP_DIR = re.compile(r"^step_(\d{8})$")
_CHUNK = 1 << 22


class CorruptCheckpointError(ValueError):
    """A checkpoint directory is incomplete, truncated or modified after it was written."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def _write_manifest(directory: Path, step: int, with_hash: bool, metadata: dict[str, Any]) -> None:
    files = {}
    for path in sorted(p for p in directory.rglob("*") if p.is_file() and p.name != MANIFEST_NAME):
        with open(path, "rb") as f:
            os.fsync(f.fileno())
        entry: dict[str, Any] = {"size": path.stat().st_size}
        if with_hash:
            entry["sha256"] = _sha256(path)
        files[str(path.relative_to(directory))] = entry
    manifest = {"format": STATE_FORMAT, "step": step, "files": files, "metadata": metadata}
    tmp = directory / (MANIFEST_NAME + ".part")
    with open(tmp, "w") as f:
        json.dump(manifest, f, indent=2)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, directory / MANIFEST_NAME)


def checkpoint_root(output_dir: str | os.PathLike) -> Path:
    return Path(output_dir) / "checkpoints"


def save_checkpoint(
    accelerator: Accelerator,
    output_dir: str | os.PathLike,
    step: int,
    keep_last: int | None = 3,
    with_hash: bool = True,
    metadata: dict[str, Any] | None = None,
) -> Path:
    """Save the full training state (`save_accelerator_state`: safetensors and JSON) atomically as
    ``checkpoints/step_{step:08d}``.

    Must be called on every process. Returns the final directory.
    """
    root = checkpoint_root(output_dir)
    final = root / f"step_{step:08d}"
    tmp = root / f".tmp-step_{step:08d}"
    if accelerator.is_main_process:
        root.mkdir(parents=True, exist_ok=True)
        for stale in root.glob(".tmp-step_*"):  # leftovers of an interrupted save
            shutil.rmtree(stale, ignore_errors=True)
        tmp.mkdir()
    accelerator.wait_for_everyone()
    save_accelerator_state(accelerator, tmp, step)
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        _write_manifest(tmp, step, with_hash, metadata or {})
        if final.exists():  # re-saving the same step (e.g. after a resume): replace it
            trash = root / f".old-step_{step:08d}"
            os.replace(final, trash)
            shutil.rmtree(trash, ignore_errors=True)
        os.replace(tmp, final)
        _fsync_dir(root)
        if keep_last is not None and keep_last > 0:
            for old in list_checkpoints(output_dir)[:-keep_last]:
                shutil.rmtree(old, ignore_errors=True)
        logger.info(f"saved checkpoint {final}")
    accelerator.wait_for_everyone()
    return final


def verify_checkpoint(path: str | os.PathLike, check_hash: bool = True) -> dict[str, Any]:
    """Check every file of a checkpoint against its manifest; returns the manifest.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        CorruptCheckpointError: no manifest (the save never finished), a file is missing, has the wrong size
            (truncated) or the wrong sha256.
    """
    directory = Path(path)
    if not directory.is_dir():
        raise FileNotFoundError(f"checkpoint directory {str(directory)!r} does not exist")
    manifest_path = directory / MANIFEST_NAME
    if not manifest_path.is_file():
        raise CorruptCheckpointError(
            f"checkpoint {str(directory)!r} has no {MANIFEST_NAME}: it was not completely written "
            "(interrupted save?); resume from an earlier checkpoint"
        )
    try:
        manifest = json.loads(manifest_path.read_text())
        files = manifest["files"]
    except (json.JSONDecodeError, KeyError) as err:
        raise CorruptCheckpointError(f"checkpoint {str(directory)!r}: unreadable {MANIFEST_NAME} ({err})") from err
    for name, entry in files.items():
        file = directory / name
        if not file.is_file():
            raise CorruptCheckpointError(f"checkpoint {str(directory)!r} is missing {name!r}")
        size = file.stat().st_size
        if size != entry["size"]:
            raise CorruptCheckpointError(
                f"checkpoint {str(directory)!r}: {name!r} is {size} bytes, the manifest says {entry['size']} "
                "(truncated or overwritten); refusing to load it — resume from an earlier checkpoint"
            )
        if check_hash and "sha256" in entry and _sha256(file) != entry["sha256"]:
            raise CorruptCheckpointError(
                f"checkpoint {str(directory)!r}: {name!r} does not match its sha256 in the manifest (corrupted)"
            )
    return manifest


def list_checkpoints(output_dir: str | os.PathLike) -> list[Path]:
    """Completed checkpoint directories (final names only), oldest first."""
    root = checkpoint_root(output_dir)
    if not root.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in root.iterdir() if p.is_dir() and (m := _STEP_DIR.match(p.name))]
    return [p for _, p in sorted(found)]


def find_last_checkpoint(output_dir: str | os.PathLike) -> Path | None:
    """The most recent completed checkpoint of a run, or None."""
    checkpoints = list_checkpoints(output_dir)
    return checkpoints[-1] if checkpoints else None


def load_checkpoint(accelerator: Accelerator, path: str | os.PathLike, check_hash: bool = True) -> dict[str, Any]:
    """Verify, then load the state into the accelerator's prepared objects (`load_accelerator_state`). Returns the
    manifest (its ``step`` and ``metadata``).

    Raises:
        CorruptCheckpointError: see `verify_checkpoint`.
        ValueError: a checkpoint of the older (pickle) format, or one that does not fit this run (another model,
            other registered objects).
    """
    manifest = verify_checkpoint(path, check_hash=check_hash)
    if manifest.get("format") != STATE_FORMAT:
        raise ValueError(
            f"checkpoint {str(path)!r} is in the format {manifest.get('format')!r}, which stores pickles that could "
            f"run code when loaded; only {STATE_FORMAT!r} checkpoints are loaded (start the run again, or initialise "
            "from its model.safetensors with model.init_from)"
        )
    load_accelerator_state(accelerator, path)
    return manifest

