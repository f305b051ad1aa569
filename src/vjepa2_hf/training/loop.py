"""The pieces every hand-written Accelerate loop of the package shares: the accelerator, exact resume, the step
counter and history, the metrics log, trackers, the progress bar and the stop on a non-finite loss.

A job (`vjepa2_hf.pretraining.train_vjepa2`, `vjepa2_hf.world_model.training_vjepa2_ac`) defines its batch and its
step; the run around them (`run_steps`: history, metrics log, progress, stop, checkpoints) comes from here.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import torch
from accelerate.logging import get_logger

from .checkpointing import find_last_checkpoint

logger = get_logger(__name__)

__all__ = [
    "MetricsLog",
    "NonFiniteLossError",
    "TrainingState",
    "check_finite_loss",
    "flat_hparams",
    "has_accelerator",
    "progress_bar",
    "release_accelerator_state",
    "resolve_resume",
    "run_steps",
]


class NonFiniteLossError(RuntimeError):
    """The loss became NaN or infinite; the run stopped before applying that step."""


def check_finite_loss(loss: float, step: int, last_checkpoint: str | os.PathLike | None, advice: str = "") -> None:
    """Raise `NonFiniteLossError` (naming the step and the last good checkpoint) when `loss` is NaN or infinite."""
    if math.isfinite(loss):
        return
    where = f"the last good checkpoint is {last_checkpoint}" if last_checkpoint else "no checkpoint was written"
    raise NonFiniteLossError(
        f"non-finite loss ({loss}) at step {step}: stopping before the optimizer step; {where}." + (f" {advice}" if advice else "")
    )


class TrainingState:
    """Step counter and metric history, checkpointed with the run (Accelerate custom object)."""

    def __init__(self) -> None:
        self.step = 0
        self.history: list[dict[str, float]] = []

    def state_dict(self) -> dict[str, Any]:
        return {"step": self.step, "history": json.dumps(self.history)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.step = int(state["step"])
        self.history = json.loads(state["history"])


def has_accelerator() -> bool:
    """Whether torch sees a GPU-like accelerator (CUDA, XPU, MPS, ...)."""
    accelerator_api = getattr(torch, "accelerator", None)  # torch >= 2.6
    return bool(accelerator_api is not None and accelerator_api.is_available()) or torch.cuda.is_available()


def release_accelerator_state(mixed_precision: str) -> None:
    """Accelerate keeps one process-wide state; a second run in the same Python process (a notebook running the
    primary phase then the cooldown) may ask for another precision. Reset the precision part of that state, keeping
    the distributed setup."""
    from accelerate.state import AcceleratorState

    if AcceleratorState._shared_state and AcceleratorState().mixed_precision != mixed_precision:
        AcceleratorState._reset_state(reset_partial_state=False)


def resolve_resume(resume: bool | str | os.PathLike | None, output_dir: Path) -> Path | None:
    """The checkpoint to resume from: `None` / `False` / `"none"`: none; `True` / `"auto"` / `"latest"`: the latest
    complete checkpoint of `output_dir` (none if there is none yet); a path: that checkpoint."""
    if resume in (None, False, "none", ""):
        return None
    if resume in (True, "auto", "latest", "true"):
        found = find_last_checkpoint(output_dir)
        if found is None:
            logger.warning(f"--resume: no checkpoint in {output_dir}/checkpoints, starting from step 0")
        return found
    path = Path(resume)
    if not path.exists():
        raise FileNotFoundError(f"--resume checkpoint {str(path)!r} does not exist")
    return path


class MetricsLog:
    """A JSON-lines file of per-step metrics written by the main process; on resume it is rewritten from the
    checkpointed history, which drops the steps logged after that checkpoint."""

    def __init__(self, path: str | os.PathLike, enabled: bool = True) -> None:
        self.path = Path(path)
        self.enabled = enabled

    def rewrite(self, history: Sequence[Mapping[str, Any]]) -> None:
        if self.enabled:
            self.path.write_text("".join(json.dumps(entry) + "\n" for entry in history))

    def append(self, entry: Mapping[str, Any]) -> None:
        if self.enabled:
            with open(self.path, "a") as f:
                f.write(json.dumps(entry) + "\n")

    def read(self, up_to_step: int | None = None) -> list[dict[str, Any]]:
        """The logged entries (those with ``step <= up_to_step`` when given); [] when there is no file."""
        if not self.path.is_file():
            return []
        entries = [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]
        return entries if up_to_step is None else [e for e in entries if e["step"] <= up_to_step]


def progress_bar(total: int, initial: int, desc: str, enabled: bool):
    """A tqdm bar over the optimizer steps (None when disabled, e.g. on non-main processes)."""
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc=desc, dynamic_ncols=True)


def flat_hparams(tree: Mapping[str, Any]) -> dict[str, Any]:
    """A nested config mapping flattened to ``a/b/c`` keys with scalar values, for the trackers' hyperparameters."""
    out: dict[str, Any] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(f"{prefix}/{k}" if prefix else k, v)
        elif isinstance(value, (int, float, str, bool)):
            out[prefix] = value
        else:
            out[prefix] = json.dumps(value)

    walk("", dict(tree))
    return out


def run_steps(
    steps: range,
    step: Callable[[int], dict[str, float]],
    *,
    history: list[dict[str, float]],
    metrics_log: MetricsLog,
    checkpoint: Callable[[int], Any],
    checkpoint_every: int,
    total_steps: int,
    progress=None,
    postfix: Callable[[Mapping[str, float]], dict[str, str]] | None = None,
    postfix_every: int = 1,
    after_step: Callable[[int, dict[str, float]], str | None] | None = None,
) -> str | None:
    """The optimizer-step loop shared by the Accelerate jobs.

    For each update number in `steps` (1-based): `step(i)` runs the update and returns its metrics, which are added
    to `history` and `metrics_log`; `after_step(i, metrics)` (trackers, monitors, callbacks) may return a reason to
    stop; the progress bar advances; a checkpoint is written every `checkpoint_every` updates (0: never), at
    `total_steps` and before an early stop. The progress bar is closed however the loop ends.

    Returns:
        The reason the loop stopped early, or None when it ran all of `steps`.
    """
    try:
        for i in steps:
            metrics = step(i)
            history.append(metrics)
            metrics_log.append(metrics)
            stopped = after_step(i, metrics) if after_step is not None else None
            if progress is not None:
                progress.update(1)
                if postfix is not None and i % max(1, postfix_every) == 0:
                    progress.set_postfix(postfix(metrics), refresh=False)
            if stopped or (checkpoint_every and i % checkpoint_every == 0) or i == total_steps:
                checkpoint(i)
            if stopped:
                return stopped
        return None
    finally:
        if progress is not None:
            progress.close()
