"""Resuming a `Trainer` job (`vjepa2-hf probe --resume_from_checkpoint`) without running code from the checkpoint.

On resume the `Trainer` (transformers 5.24) reads ``trainer_state.json`` (JSON), the weights (safetensors, or
``*.bin`` with ``torch.load(weights_only=True)``), ``optimizer.pt``, ``scheduler.pt``, ``scaler.pt`` and
``rng_state*.pth`` with ``torch.load(weights_only=True)`` (numpy arrays allowed); ``training_args.bin`` (a pickle)
is written but never read. `check_trainer_checkpoint` loads every such file the same restricted way *before*
training starts, so a checkpoint holding anything else (a planted pickle) is refused with one line naming the
file, instead of failing mid-start with PyTorch's advice to retry with ``weights_only=False``.

Sharded FSDP checkpoints (``torch.distributed.checkpoint`` folders, e.g. ``pytorch_model_fsdp_0/``) are refused:
their ``.metadata`` is read with plain ``pickle.load`` and their non-tensor entries with ``weights_only=False``, so
they can run code. Save FSDP runs with ``fsdp_config: {state_dict_type: FULL_STATE_DICT}`` to be able to resume.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import torch

__all__ = ["UnsafeCheckpointError", "check_trainer_checkpoint", "resolve_trainer_resume"]

NEVER_LOADED = ("training_args.bin",)
_PICKLED_SUFFIXES = (".pt", ".pth", ".bin", ".pkl")
_CHECKPOINT_DIR = re.compile(r"^checkpoint-(\d+)$")
_GLOBAL = re.compile(r"(Unsupported global: GLOBAL [\w.]+|Unsupported operand \d+)")


class UnsafeCheckpointError(ValueError):
    """A checkpoint file holds Python objects whose loading could run code; nothing was loaded from it."""


def _restricted_load(file: Path) -> None:
    from transformers.trainer_pt_utils import safe_globals  # the Trainer's own allow-list (numpy arrays)

    with safe_globals():
        torch.load(file, map_location="cpu", weights_only=True)


def check_trainer_checkpoint(path: str | os.PathLike) -> Path:
    """Check that everything the `Trainer` would read from checkpoint folder `path` loads without running code.

    Raises:
        FileNotFoundError: `path` is not a Trainer checkpoint folder (no ``trainer_state.json``).
        UnsafeCheckpointError: ``trainer_state.json`` is not JSON, or a pickled file holds objects other than
            tensors, numpy arrays and plain values.
    """
    folder = Path(path)
    state_file = folder / "trainer_state.json"
    if not state_file.is_file():
        raise FileNotFoundError(f"--resume_from_checkpoint {str(folder)!r} is not a Trainer checkpoint folder "
                                "(no trainer_state.json)")
    try:
        json.loads(state_file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise UnsafeCheckpointError(f"{state_file} is not JSON ({error}); refusing to resume from it") from error
    for file in sorted(folder.rglob("*")):
        if file.name == ".metadata":
            raise UnsafeCheckpointError(
                f"{file.parent} is a sharded torch.distributed.checkpoint folder, whose files are unpickled without "
                f"restriction (they could run code): the run does not resume from {folder}; save FSDP runs with "
                "state_dict_type FULL_STATE_DICT to resume them"
            )
        if file.suffix not in _PICKLED_SUFFIXES or file.name in NEVER_LOADED or not file.is_file():
            continue
        try:
            _restricted_load(file)
        except Exception as error:  # UnpicklingError, RuntimeError (not a torch file), ...: refuse, load nothing
            found = _GLOBAL.search(str(error))
            what = f" ({found.group(1)})" if found else ""
            raise UnsafeCheckpointError(
                f"{file} holds more than tensors and plain values{what}: loading it could run code, so the run does "
                f"not resume from {folder}; delete that checkpoint or start without --resume_from_checkpoint"
            ) from None
    return folder


def resolve_trainer_resume(value: str | bool | None, output_dir: str | os.PathLike) -> str | None:
    """The checkpoint a Trainer job resumes from, checked (`check_trainer_checkpoint`): None / ``"none"``: none;
    ``True`` / ``"true"`` / ``"latest"``: the latest ``checkpoint-N`` of `output_dir`; else that folder."""
    if value in (None, False, "", "none", "false", "False"):
        return None
    if value in (True, "true", "True", "latest", "auto"):
        root = Path(output_dir)
        found = sorted((int(m.group(1)), p) for p in root.iterdir() if (m := _CHECKPOINT_DIR.match(p.name))) \
            if root.is_dir() else []
        if not found:
            raise FileNotFoundError(f"--resume_from_checkpoint {value}: no checkpoint-N folder in {str(root)!r}")
        value = found[-1][1]
    return str(check_trainer_checkpoint(value))
