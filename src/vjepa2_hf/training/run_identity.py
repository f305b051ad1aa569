"""What a run folder's run is: ``run.json`` records what defines the run, and a job checks it before it writes.

``run.json`` holds the job name, the recipe (every setting that changes the result; bookkeeping such as the output
folder, logging and checkpoint frequency is left out) and its sha256, the seed, the data settings and the package
version. Before a job writes anything in its folder (`check_run_folder`, on every process):

- a new run in a folder whose ``run.json`` has another identity stops with one line naming the differing fields
  (the folder's state would otherwise be adopted or pruned by the new run);
- so does ``--resume`` of a run with another identity (it would silently continue with other settings);
- a folder with checkpoints or a final model but no ``run.json`` (written by an older version) is only resumed;
- ``--overwrite`` deletes the folder's run state (`claim_run_folder`: checkpoints, final model, logs, ``run.json``;
  other files are kept) and starts the new run there.

A rerun with the same identity is the same run: it may resume (``--resume``) or start again in place.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any, Iterable, Mapping

from accelerate.logging import get_logger

from .._version import __version__
from .checkpointing import list_checkpoints

logger = get_logger(__name__)

__all__ = [
    "RUN_FILE",
    "RunIdentityError",
    "check_run_folder",
    "claim_run_folder",
    "identity_differences",
    "read_run_identity",
    "run_identity",
]

RUN_FILE = "run.json"
_SHOWN = 6  # differing fields named in the message


class RunIdentityError(ValueError):
    """A run folder holds another run (another recipe, seed, data or package version)."""


def run_identity(job: str, recipe: Mapping[str, Any], seed: int, data: Mapping[str, Any]) -> dict[str, Any]:
    """The identity of a run: `job` name, `recipe` (and its sha256), `seed`, `data`, package version."""
    recipe = json.loads(json.dumps(recipe, default=str))  # plain JSON values, as read back from run.json
    data = json.loads(json.dumps(data, default=str))
    digest = hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()
    return {"job": job, "recipe_sha256": digest, "seed": seed, "data": data, "package_version": __version__,
            "recipe": recipe}


def read_run_identity(output_dir: str | os.PathLike) -> dict[str, Any] | None:
    """The identity recorded in ``output_dir/run.json`` (None when there is none)."""
    path = Path(output_dir) / RUN_FILE
    if not path.is_file():
        return None
    try:
        identity = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise RunIdentityError(f"{path} is unreadable ({error}); pass --overwrite to start a new run there") from error
    if not isinstance(identity, dict):
        raise RunIdentityError(f"{path} is not a JSON object; pass --overwrite to start a new run there")
    return identity


def _flat(tree: Any, prefix: str) -> dict[str, Any]:
    if isinstance(tree, dict):
        out: dict[str, Any] = {}
        for key, value in tree.items():
            out.update(_flat(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: tree}


def identity_differences(saved: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """``field (folder's value -> this run's value)`` for every field of `current` that `saved` has otherwise."""
    out = [f"{key} ({saved.get(key)!r} -> {current[key]!r})" for key in ("job", "seed", "package_version")
           if saved.get(key) != current[key]]
    for section in ("data", "recipe"):
        old, new = _flat(saved.get(section), section), _flat(current[section], section)
        out += [f"{key} ({old.get(key, '<absent>')!r} -> {new.get(key, '<absent>')!r})"
                for key in sorted(set(old) | set(new)) if old.get(key, "<absent>") != new.get(key, "<absent>")]
    if not any(d.startswith("recipe") for d in out) and saved.get("recipe_sha256") != current["recipe_sha256"]:
        out.append("recipe_sha256")
    return out


def _holds_state(output_dir: Path) -> bool:
    return bool(list_checkpoints(output_dir)) or (output_dir / "final").exists()


def check_run_folder(
    output_dir: str | os.PathLike,
    identity: Mapping[str, Any],
    resuming: bool,
    overwrite: bool = False,
    resume_from: str | os.PathLike | None = None,
) -> None:
    """Refuse to start when the folder (or the run of the checkpoint resumed from) holds another run.

    Raises:
        RunIdentityError: one line naming the differing fields and what to pass instead.
    """
    if overwrite:
        if resuming:
            raise RunIdentityError("--overwrite deletes the run that --resume would continue: pass one of them")
        return
    output_dir = Path(output_dir)
    folders = [output_dir]
    if resume_from is not None and Path(resume_from).resolve().parent.parent != output_dir.resolve():
        folders.append(Path(resume_from).resolve().parent.parent)  # a checkpoint of another run folder
    for folder in folders:
        saved = read_run_identity(folder)
        if saved is None:
            if not resuming and _holds_state(folder):
                raise RunIdentityError(
                    f"{folder} holds the checkpoints of another run (no {RUN_FILE}): pass --resume to continue it, "
                    "--overwrite to delete its state and start this run there, or choose another output folder"
                )
            if resuming and _holds_state(folder):
                logger.warning(f"{folder} has no {RUN_FILE} (written by an older version): its identity is not "
                               "checked before resuming", main_process_only=True)
            continue
        differences = identity_differences(saved, identity)
        if not differences:
            continue
        shown = ", ".join(differences[:_SHOWN]) + (f" and {len(differences) - _SHOWN} more"
                                                   if len(differences) > _SHOWN else "")
        if resuming:
            raise RunIdentityError(f"cannot resume the run in {folder}: it differs from this one in {shown}; resume "
                                   "it with its own settings, or pass --overwrite to start this run there instead")
        raise RunIdentityError(f"{folder} holds another run, which differs from this one in {shown}: pass "
                               "--overwrite to delete its state and start this run there, or choose another output "
                               "folder")


def claim_run_folder(
    output_dir: str | os.PathLike, identity: Mapping[str, Any], overwrite: bool, state_names: Iterable[str]
) -> None:
    """Main process only: with `overwrite`, delete the run state (`state_names`, checkpoints, final model,
    ``run.json``); then write this run's ``run.json`` (atomically)."""
    output_dir = Path(output_dir)
    if overwrite:
        for name in ("checkpoints", "final", RUN_FILE, *state_names):
            path = output_dir / name
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            elif path.exists() or path.is_symlink():
                path.unlink()
        logger.info(f"--overwrite: deleted the earlier run state in {output_dir}")
    output_dir.mkdir(parents=True, exist_ok=True)
    tmp = output_dir / (RUN_FILE + ".part")
    tmp.write_text(json.dumps(dict(identity), indent=2), encoding="utf-8")
    os.replace(tmp, output_dir / RUN_FILE)
