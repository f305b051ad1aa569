"""The Accelerator of the package's hand-written training loops (pretraining, train-ac): what the launcher asks for,
read from the environment, checked against what these loops can run, then one `Accelerator` built the same way for
both jobs.

Rules (README, "Scale-out"):

- Processes started by `torchrun` / `accelerate launch` are one job: on a machine without GPUs they join one gloo
  process group (`Accelerator(cpu=True)`), without any extra flag.
- FSDP (`ACCELERATE_USE_FSDP=true`: `accelerate launch --use_fsdp`, or an accelerate config with
  `distributed_type: FSDP`) runs Accelerate's FSDP2 path (`FullyShardedDataParallelPlugin(fsdp_version=2)`,
  `accelerator.prepare`): every module class named in the model's `_no_split_modules` is one FSDP unit, then the
  root. Parameters stay float32 (sharded master weights, gathered in float32), the forward runs under the recipe's
  autocast exactly as on one process, and gradients are reduced in float32 whatever the compute dtype. A launcher's
  `FSDP_VERSION=1` (`accelerate launch`'s default) and `fsdp_transformer_layer_cls_to_wrap` are overridden, with a
  log line saying so.
- Refused, with one line, before any work: DeepSpeed (use FSDP2), FSDP in a process no distributed launcher started,
  FSDP parameter offload on a machine without GPUs, and a launcher mixed precision other than the recipe's.
- Mixed precision: the recipe's (`optimization.mixed_precision`) is the run's. `accelerate launch` always exports one
  (`no` when none was asked for), so `no` from the launcher counts as "not asked" and the recipe's is used (logged);
  any other launcher value that differs from the recipe's stops the job.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Mapping

import torch
from accelerate import Accelerator
from accelerate.logging import get_logger
from accelerate.utils import DistributedType, FullyShardedDataParallelPlugin

from .launch_environment import UnsupportedLaunchError, env_flag
from .loop import has_accelerator, release_accelerator_state

logger = get_logger(__name__)

__all__ = ["LaunchMismatchError", "LaunchRequest", "build_accelerator", "check_launch", "is_fsdp", "read_launch"]


# the Trainer jobs' error (`launch_environment`): one line, exit status 2
LaunchMismatchError = UnsupportedLaunchError


@dataclass(frozen=True)
class LaunchRequest:
    """What the launcher (`accelerate launch`, `torchrun`, a cluster script) asks for, from the environment.

    Attributes:
        fsdp: `ACCELERATE_USE_FSDP` is true.
        fsdp_version: `FSDP_VERSION` (None when unset).
        deepspeed: `ACCELERATE_USE_DEEPSPEED` is true.
        mixed_precision: `ACCELERATE_MIXED_PRECISION` (None when unset).
        launched: a distributed launcher started this process (`LOCAL_RANK` or `WORLD_SIZE` set).
        offload_params: `FSDP_OFFLOAD_PARAMS` is true.
    """

    fsdp: bool
    fsdp_version: str | None
    deepspeed: bool
    mixed_precision: str | None
    launched: bool
    offload_params: bool


def read_launch(environ: Mapping[str, str] | None = None) -> LaunchRequest:
    environ = os.environ if environ is None else environ
    precision = environ.get("ACCELERATE_MIXED_PRECISION")
    return LaunchRequest(
        fsdp=env_flag("ACCELERATE_USE_FSDP", environ),
        fsdp_version=environ.get("FSDP_VERSION"),
        deepspeed=env_flag("ACCELERATE_USE_DEEPSPEED", environ),
        mixed_precision=precision.strip().lower() if precision else None,
        launched="LOCAL_RANK" in environ or "WORLD_SIZE" in environ,
        offload_params=env_flag("FSDP_OFFLOAD_PARAMS", environ),
    )


def check_launch(request: LaunchRequest, job: str, mixed_precision: str, gpus: bool) -> str:
    """Raise `LaunchMismatchError` for what `job` cannot run; returns the log line saying which precision runs.

    Args:
        request: from `read_launch`.
        job: the command's name, for the messages (`pretrain`, `train-ac`).
        mixed_precision: the recipe's `optimization.mixed_precision`.
        gpus: whether torch sees an accelerator.
    """
    if request.deepspeed:
        raise LaunchMismatchError(
            f"{job} does not run DeepSpeed (ACCELERATE_USE_DEEPSPEED=true from the launcher): shard with FSDP2 instead, "
            "e.g. accelerate launch --config_file examples/accelerate/fsdp_vitg.yaml"
        )
    if request.fsdp and not request.launched:
        raise LaunchMismatchError(
            f"{job}: FSDP asked (ACCELERATE_USE_FSDP=true) in a process no distributed launcher started (no LOCAL_RANK "
            "/ WORLD_SIZE): launch it with `accelerate launch --use_fsdp --fsdp_version 2` or torchrun"
        )
    if request.fsdp and request.offload_params and not gpus:
        raise LaunchMismatchError(
            f"{job}: FSDP parameter offload asked (FSDP_OFFLOAD_PARAMS=true) on a machine without GPUs, where the "
            "parameters already live on the CPU: set fsdp_offload_params: false"
        )
    asked = request.mixed_precision
    if asked not in (None, "no", mixed_precision):
        raise LaunchMismatchError(
            f"{job}: the launcher asks for mixed precision {asked!r} (ACCELERATE_MIXED_PRECISION, from accelerate launch "
            f"--mixed_precision or its config) but the recipe's optimization.mixed_precision is {mixed_precision!r}: "
            f"make them agree (--set optimization.mixed_precision={asked}, or launch with --mixed_precision "
            f"{mixed_precision})"
        )
    source = "as the launcher asks" if asked == mixed_precision else (
        "the launcher asked for none" if asked is None else "the launcher's 'no' is accelerate launch's default")
    return f"mixed precision {mixed_precision!r}: the recipe's optimization.mixed_precision ({source})"


def fsdp2_plugin(request: LaunchRequest) -> tuple[FullyShardedDataParallelPlugin, list[str]]:
    """Accelerate's FSDP2 plugin for these loops: wrap units from `_no_split_modules`, float32 parameters and
    gradient reduction (the forward's low precision comes from the recipe's autocast), sharded checkpoints unless
    the launcher asks for `FSDP_STATE_DICT_TYPE=FULL_STATE_DICT`. Also returns what of the launcher's FSDP settings
    it overrides, for the log."""
    from torch.distributed.fsdp import MixedPrecisionPolicy

    notes = []
    if request.fsdp_version not in (None, "2"):
        notes.append(f"FSDP_VERSION={request.fsdp_version} (accelerate launch's default is 1) runs as FSDP2")
    asked_classes = os.environ.get("FSDP_TRANSFORMER_CLS_TO_WRAP")
    plugin = FullyShardedDataParallelPlugin(
        fsdp_version=2,
        auto_wrap_policy="TRANSFORMER_BASED_WRAP",
        mixed_precision_policy=MixedPrecisionPolicy(param_dtype=None, reduce_dtype=torch.float32),
    )
    # None: Accelerate takes the classes of the model's `_no_split_modules` at `prepare` (the env value, if any, would
    # name one model's blocks for every job)
    plugin.transformer_cls_names_to_wrap = None
    if asked_classes:
        notes.append(f"the FSDP units are the model's `_no_split_modules` (the launcher's {asked_classes} is not used)")
    return plugin, notes


def _enable_fsdp_on_cpu(accelerator: Accelerator, plugin: FullyShardedDataParallelPlugin) -> None:
    """Accelerate 1.16 turns `ACCELERATE_USE_FSDP` into FSDP only for GPU-like processes; CPU (gloo) processes would
    silently run DDP. Its FSDP2 code (`fsdp2_prepare_model`, sharded `save_state` / `load_state`) runs on gloo, so
    make the switch its `AcceleratorState` makes for GPUs."""
    from accelerate.state import PartialState

    accelerator.state.distributed_type = DistributedType.FSDP
    accelerator.state.fsdp_plugin = plugin
    PartialState._shared_state["distributed_type"] = DistributedType.FSDP


def is_fsdp(accelerator: Accelerator) -> bool:
    """Whether `accelerator` shards the model with FSDP."""
    return accelerator.distributed_type == DistributedType.FSDP


def build_accelerator(job: str, mixed_precision: str, **kwargs: Any) -> Accelerator:
    """The checked Accelerator of a training loop.

    Args:
        job: the command's name, for the messages.
        mixed_precision: the recipe's precision (`no`, `bf16`, `fp16`).
        kwargs: more `Accelerator` arguments (`log_with`, `project_config`, `kwargs_handlers`).

    Raises:
        LaunchMismatchError: see `check_launch`; raised before any process group or output exists.
    """
    request = read_launch()
    gpus = has_accelerator()
    precision_note = check_launch(request, job, mixed_precision, gpus)
    release_accelerator_state(mixed_precision)
    plugin, notes = fsdp2_plugin(request) if request.fsdp else (None, [])
    accelerator = Accelerator(cpu=not gpus, mixed_precision=mixed_precision, fsdp_plugin=plugin, **kwargs)
    if plugin is not None and accelerator.distributed_type == DistributedType.MULTI_CPU:
        _enable_fsdp_on_cpu(accelerator, plugin)
    if plugin is not None and not is_fsdp(accelerator):
        raise LaunchMismatchError(f"{job}: FSDP asked but Accelerate set up {accelerator.distributed_type}")
    sharding = "FSDP2, float32 gradient reduction" if is_fsdp(accelerator) else "no sharding"
    logger.info(f"{job}: {accelerator.num_processes} process(es), {accelerator.distributed_type.value} ({sharding}); "
                + "; ".join([precision_note, *notes]), main_process_only=True)
    return accelerator
