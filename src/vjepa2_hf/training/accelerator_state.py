"""Everything an `Accelerator` run holds, saved and loaded without pickles (what `Accelerator.save_state` /
`load_state` do with pickles).

Files of one state directory::

    model.safetensors              # the full state dict of each prepared model (model_1.safetensors, ...): weights,
                                   # buffers and the EMA target encoder
    optimizer.json / .safetensors  # each optimizer's state keyed by parameter name (optimizer_1.*, ...)
    training_state.json / .safetensors  # step, registered objects' state_dict(), schedulers, samplers, grad scaler
    random_states_{rank}.json / .safetensors  # Python, numpy, torch and device RNG states of each process

Sharded models (FSDP2 `DTensor` parameters) and unsharded ones (one process, DDP) are saved the same way: the
`torch.distributed.checkpoint.state_dict` functions gather the full state on the main process, which writes one set
of files; loading gives every process the full tensors and keeps its own shard. A state saved by N processes
therefore loads on any number of processes (each process restores its own RNG state when there is one for its rank).
Memory: a save holds the full model and optimizer state on the main process's CPU, a load on every process's CPU.
Registered objects must return JSON-able values or tensors from ``state_dict()``.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from accelerate import Accelerator
from accelerate.logging import get_logger
from accelerate.utils import DistributedType
from safetensors.torch import load_file
from torch.distributed.checkpoint.state_dict import (
    StateDictOptions,
    get_model_state_dict,
    get_optimizer_state_dict,
    set_model_state_dict,
    set_optimizer_state_dict,
)

from .state_files import read_tree, save_tensors, write_tree

logger = get_logger(__name__)

__all__ = ["STATE_FORMAT", "load_accelerator_state", "optimizer_state_for_groups", "save_accelerator_state"]

STATE_FORMAT = "vjepa2_hf.training/2"
_GATHER = StateDictOptions(full_state_dict=True, cpu_offload=True)
_SCATTER = StateDictOptions(full_state_dict=True, strict=True)
_UNSUPPORTED = {DistributedType.DEEPSPEED, DistributedType.MEGATRON_LM}


def _numbered(stem: str, i: int) -> str:
    return stem if i == 0 else f"{stem}_{i}"


def _owner(accelerator: Accelerator, optimizer: torch.optim.Optimizer) -> torch.nn.Module:
    """The prepared model whose parameters the optimizer updates (unwrapped from DDP)."""
    params = {id(p) for group in optimizer.param_groups for p in group["params"]}
    for model in accelerator._models:
        unwrapped = accelerator.unwrap_model(model)
        if any(id(p) in params for p in unwrapped.parameters()):
            return unwrapped
    raise ValueError("an optimizer prepared by the accelerator updates none of its prepared models' parameters")


def _base_optimizer(optimizer) -> torch.optim.Optimizer:
    return getattr(optimizer, "optimizer", optimizer)  # AcceleratedOptimizer -> torch optimizer


def _samplers(accelerator: Accelerator) -> list:
    out = []
    for loader in accelerator._dataloaders:
        get = getattr(loader, "get_sampler", None)
        out.append(get() if get is not None else None)
    return out


def _rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"python": random.getstate(), "numpy": np.random.get_state(),
                             "torch": torch.get_rng_state()}
    for name in ("cuda", "xpu", "npu", "mlu", "musa"):
        module = getattr(torch, name, None)
        if module is not None and getattr(module, "is_available", lambda: False)():
            state[name] = list(module.get_rng_state_all())
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    for name in ("cuda", "xpu", "npu", "mlu", "musa"):
        module = getattr(torch, name, None)
        if name in state and module is not None and getattr(module, "is_available", lambda: False)():
            module.set_rng_state_all(state[name])


def _check_supported(accelerator: Accelerator) -> None:
    if accelerator.distributed_type in _UNSUPPORTED:
        raise NotImplementedError(
            f"checkpoints of {accelerator.distributed_type} runs are not supported; use FSDP2 (see the README)"
        )


def save_accelerator_state(accelerator: Accelerator, directory: str | Path, step: int) -> None:
    """Write the state of every prepared model / optimizer / scheduler / dataloader, the registered objects and the
    RNG states into `directory` (which must exist). Call on every process (sharded states are gathered)."""
    _check_supported(accelerator)
    directory = Path(directory)
    main = accelerator.is_main_process
    for i, model in enumerate(accelerator._models):
        state = get_model_state_dict(accelerator.unwrap_model(model), options=_GATHER)
        if main:
            save_tensors(state, directory / f"{_numbered('model', i)}.safetensors")
    for i, optimizer in enumerate(accelerator._optimizers):
        base = _base_optimizer(optimizer)
        state = get_optimizer_state_dict(_owner(accelerator, base), base, options=_GATHER)
        if main:
            write_tree(state, directory, _numbered("optimizer", i))
    if main:
        scaler = getattr(accelerator, "scaler", None)
        training_state = {
            "format": STATE_FORMAT,
            "step": int(step),
            "accelerator_step": int(accelerator.step),
            "custom": [obj.state_dict() for obj in accelerator._custom_objects],
            "schedulers": [scheduler.state_dict() for scheduler in accelerator._schedulers],
            "samplers": [{"epoch": s.epoch, "initial_seed": s.initial_seed} if hasattr(s, "initial_seed") else None
                         for s in _samplers(accelerator)],
            "scaler": scaler.state_dict() if scaler is not None else None,
        }
        write_tree(training_state, directory, "training_state")
    write_tree(_rng_state(), directory, f"random_states_{accelerator.process_index}")


def _read_training_state(directory: Path) -> dict[str, Any]:
    """``training_state.json`` / ``.safetensors``, checked to have the shape `save_accelerator_state` writes."""
    try:
        state = read_tree(directory, "training_state")
    except (KeyError, TypeError, AttributeError, RecursionError) as error:
        raise ValueError(f"checkpoint {str(directory)!r}: training_state.json is malformed ({error!r})") from None
    lists = ("custom", "schedulers", "samplers")
    if not isinstance(state, dict) or not isinstance(state.get("step"), int) or not all(
        isinstance(state.get(key), list) for key in lists
    ):
        raise ValueError(f"checkpoint {str(directory)!r}: training_state.json is not a training state (expected an "
                         f"object with an integer 'step' and the lists {list(lists)})")
    return state


def _load_training_state(accelerator: Accelerator, state: dict[str, Any]) -> None:
    custom = state["custom"]
    if len(custom) != len(accelerator._custom_objects):
        raise ValueError(
            f"the checkpoint holds {len(custom)} registered object(s) but this run registered "
            f"{len(accelerator._custom_objects)} with `register_for_checkpointing`"
        )
    for obj, obj_state in zip(accelerator._custom_objects, custom):
        obj.load_state_dict(obj_state)
    for scheduler, scheduler_state in zip(accelerator._schedulers, state["schedulers"]):
        scheduler.load_state_dict(scheduler_state)
    for sampler, sampler_state in zip(_samplers(accelerator), state["samplers"]):
        if sampler_state is not None and hasattr(sampler, "initial_seed"):
            sampler.epoch, sampler.initial_seed = sampler_state["epoch"], sampler_state["initial_seed"]
    scaler = getattr(accelerator, "scaler", None)
    if scaler is not None and state.get("scaler") is not None:
        scaler.load_state_dict(state["scaler"])
    accelerator.step = int(state.get("accelerator_step", 0))


def _check_model_state(model: torch.nn.Module, tensors: dict[str, torch.Tensor], path: Path) -> None:
    """One line naming what differs when the saved weights do not fit the model (another width, depth, ...)."""
    expected = {name: tuple(value.shape) for name, value in model.state_dict().items()}
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    shapes = [f"{k} {tuple(tensors[k].shape)} vs {expected[k]}" for k in expected
              if k in tensors and tuple(tensors[k].shape) != expected[k]]
    if missing or unexpected or shapes:
        parts = [f"{len(missing)} missing (e.g. {missing[0]})" if missing else "",
                 f"{len(unexpected)} unexpected (e.g. {unexpected[0]})" if unexpected else "",
                 f"{len(shapes)} of another shape (e.g. {shapes[0]}, checkpoint vs model)" if shapes else ""]
        raise ValueError(f"checkpoint {str(path)!r} does not fit this run's model: "
                         + "; ".join(p for p in parts if p) + " (another model config?)")


def load_accelerator_state(accelerator: Accelerator, directory: str | Path) -> dict[str, Any]:
    """Load what `save_accelerator_state` wrote into the prepared objects (on every process). Returns the
    training state (``step``, ...).

    Raises:
        ValueError: the files do not match this run (missing model / optimizer files, other parameter names).
    """
    _check_supported(accelerator)
    directory = Path(directory)
    state = _read_training_state(directory)
    for i, model in enumerate(accelerator._models):
        weights = directory / f"{_numbered('model', i)}.safetensors"
        if not weights.is_file():
            raise ValueError(f"checkpoint {str(directory)!r} has no {weights.name} for prepared model {i}")
        unwrapped = accelerator.unwrap_model(model)
        tensors = load_file(str(weights))
        _check_model_state(unwrapped, tensors, directory / weights.name)
        set_model_state_dict(unwrapped, tensors, options=_SCATTER)
    for i, optimizer in enumerate(accelerator._optimizers):
        base = _base_optimizer(optimizer)
        set_optimizer_state_dict(_owner(accelerator, base), base, read_tree(directory, _numbered("optimizer", i)),
                                 options=_SCATTER)
    _load_training_state(accelerator, state)
    rng_stem = f"random_states_{accelerator.process_index}"
    if (directory / f"{rng_stem}.json").is_file():
        _set_rng_state(read_tree(directory, rng_stem))
    else:
        logger.warning(f"{directory} has no RNG state for process {accelerator.process_index} (saved by fewer "
                       "processes): its random generators keep their current state")
    return state


def optimizer_state_for_groups(
    saved: dict[str, Any], model: torch.nn.Module, groups: list[dict[str, Any]]
) -> dict[str, Any]:
    """A saved optimizer state (keyed by parameter name) as the ``optimizer.load_state_dict`` input of a new
    optimizer over `groups` (parameters of `model`), e.g. to start a new run with an earlier run's optimizer."""
    names = {id(p): name for name, p in model.named_parameters()}
    if len(groups) != len(saved["param_groups"]):
        raise ValueError(f"the saved optimizer has {len(saved['param_groups'])} parameter groups, this one "
                         f"{len(groups)}")
    state, out_groups, index = {}, [], 0
    for group, saved_group in zip(groups, saved["param_groups"]):
        group_names = [names[id(p)] for p in group["params"]]
        if set(group_names) != set(saved_group["params"]):
            raise ValueError("the saved optimizer's parameter groups hold other parameters than this model's")
        for name in group_names:
            if name in saved["state"]:
                state[index] = saved["state"][name]
            index += 1
        out_groups.append({**saved_group, "params": list(range(index - len(group_names), index))})
    return {"state": state, "param_groups": out_groups}
