"""What the launcher asks of a job, read from the environment it sets, and the checks that refuse what a job cannot run.

`torchrun` (also under SLURM) sets `WORLD_SIZE` / `RANK` / `LOCAL_RANK`; `accelerate launch` sets those and, from its
config or flags, `ACCELERATE_USE_DEEPSPEED`, `ACCELERATE_USE_FSDP`, `ACCELERATE_USE_CPU` and
`ACCELERATE_MIXED_PRECISION`. A job that silently ran something else than what was asked (DDP instead of FSDP, fp32
instead of the launcher's bf16, one process per rank each training alone on a CPU machine) would be wrong without a
word, so the jobs read the request here and either follow it or stop with one line ([`UnsupportedLaunchError`]).

Mixed precision: `accelerate launch` always sets `ACCELERATE_MIXED_PRECISION` (`no` when its config says nothing), so
`no` is not read as a request; `fp16`, `bf16` or `fp8` is, and it must match the job's own setting.
"""

from __future__ import annotations

import os
from typing import Any, Mapping

__all__ = [
    "UnsupportedLaunchError",
    "launcher_world_size",
    "launcher_rank",
    "is_main_process",
    "needs_cpu_processes",
    "env_flag",
    "requested_distributed_type",
    "requested_mixed_precision",
    "check_trainer_launch",
    "trainer_launch_arguments",
]

_TRUE = ("1", "true", "yes", "on")
DEEPSPEED_REFUSAL = (
    "DeepSpeed is not supported by vjepa2-hf {job} ({source}); launch it with DDP (torchrun or `accelerate launch "
    "--multi_gpu`), or for encoders too large for one GPU use FSDP2 (`vjepa2-hf pretrain` / `train-ac` with "
    "`accelerate launch --use_fsdp --fsdp_version 2`)"
)
FSDP_REFUSAL = (
    "vjepa2-hf {job} does not run FSDP ({source}): it would silently run DDP; launch it with DDP (torchrun or "
    "`accelerate launch --multi_gpu`); FSDP2 is for `vjepa2-hf pretrain` / `train-ac`"
)
PRECISION_REFUSAL = (
    "the launcher asks for mixed precision {requested} (ACCELERATE_MIXED_PRECISION={requested}) but vjepa2-hf {job} "
    "is set to {job_precision}: {hint} or launch with `--mixed_precision {job_flag}`"
)


class UnsupportedLaunchError(ValueError):
    """The launcher or the environment asks for something the job cannot run (one line, exit status 2)."""


def env_flag(name: str, environ: Mapping[str, str] | None = None) -> bool:
    """Whether the variable `name` of `environ` (default: `os.environ`) is set to a true value (`1`, `true`, `yes`,
    `on`, any case), as Accelerate reads its launcher flags."""
    environ = os.environ if environ is None else environ
    return environ.get(name, "").strip().lower() in _TRUE


def launcher_world_size() -> int:
    """Processes the launcher started (`WORLD_SIZE`, 1 without a launcher)."""
    return int(os.environ.get("WORLD_SIZE", "1") or 1)


def launcher_rank() -> int:
    """This process's global rank (`RANK`, 0 without a launcher)."""
    return int(os.environ.get("RANK", "0") or 0)


def is_main_process() -> bool:
    """Rank 0: the process that prints summaries and writes reports (the initialised process group decides when there
    is one, else the launcher's `RANK`)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank() == 0
    return launcher_rank() == 0


def needs_cpu_processes() -> bool:
    """Several processes were launched on a machine without CUDA (or another accelerator): they must join a gloo group
    on the CPU (without it the Trainer leaves each rank training alone on all the data)."""
    from .loop import has_accelerator

    return launcher_world_size() > 1 and not has_accelerator()


def requested_distributed_type() -> str | None:
    """`"DEEPSPEED"`, `"FSDP"` or `"MEGATRON_LM"` when the launcher's environment asks for it, else None."""
    if env_flag("ACCELERATE_USE_DEEPSPEED"):
        return "DEEPSPEED"
    if env_flag("ACCELERATE_USE_FSDP"):
        return "FSDP"
    if env_flag("ACCELERATE_USE_MEGATRON_LM"):
        return "MEGATRON_LM"
    return None


def requested_mixed_precision() -> str | None:
    """`"fp16"`, `"bf16"` or `"fp8"` when the launcher asks for it (`ACCELERATE_MIXED_PRECISION`), else None (`no`
    and unset are accelerate's default, not a request)."""
    value = os.environ.get("ACCELERATE_MIXED_PRECISION", "").strip().lower()
    return value if value in ("fp16", "bf16", "fp8") else None


def _given(values: Mapping[str, Any], name: str) -> bool:
    value = values.get(name)
    if isinstance(value, str):
        return value.strip().lower() not in ("", "false", "no", "none")
    return bool(value)


def check_trainer_launch(job: str, values: Mapping[str, Any]) -> None:
    """Refuse, before any model is built, a launch the `Trainer` job `job` cannot run as asked.

    Args:
        job: the command's name (`probe`, `train-vlm`), for the message.
        values: the job's `TrainingArguments` fields (a mapping, or `vars()` of built arguments): `deepspeed`, `fsdp`,
            `bf16`, `fp16`.

    Raises:
        UnsupportedLaunchError: DeepSpeed or FSDP asked by the launcher or the arguments, or a launcher precision that
            differs from the job's.
    """
    distributed = requested_distributed_type()
    if distributed == "DEEPSPEED" or _given(values, "deepspeed"):
        source = "ACCELERATE_USE_DEEPSPEED=true" if distributed == "DEEPSPEED" else "--deepspeed"
        raise UnsupportedLaunchError(DEEPSPEED_REFUSAL.format(job=job, source=source))
    if distributed in ("FSDP", "MEGATRON_LM") or _given(values, "fsdp"):
        source = f"ACCELERATE_USE_{distributed}=true" if distributed else "--fsdp"
        raise UnsupportedLaunchError(FSDP_REFUSAL.format(job=job, source=source))
    requested = requested_mixed_precision()
    job_precision = "bf16" if _given(values, "bf16") else "fp16" if _given(values, "fp16") else None
    if requested is not None and requested != job_precision:
        hint = f"set the job's {requested} (`--{requested} true` / `training: {{{requested}: true}}`)"
        if requested == "fp8":
            hint = "fp8 is not supported"
        raise UnsupportedLaunchError(PRECISION_REFUSAL.format(
            requested=requested, job=job, job_precision=job_precision or "fp32", hint=hint,
            job_flag=job_precision or "no",
        ))


def trainer_launch_arguments(job: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """`values` (`TrainingArguments` fields) checked by [`check_trainer_launch`], with `use_cpu=True` added when
    several processes were launched on a machine without CUDA (gloo on the CPU, as `--use_cpu true` would)."""
    check_trainer_launch(job, values)
    values = dict(values)
    if needs_cpu_processes():
        values["use_cpu"] = True
    return values
