"""Where the weights of a pretraining run start: scratch, a saved model, a trainer checkpoint or an official ``.pt``.

=====================================  =========================================================================
``init_from``                          what is loaded
=====================================  =========================================================================
``None`` / ``"scratch"``               official random init (`VJEPA2ForPretraining`), target encoder = encoder
folder / hub id of a `VJEPA2Model`     encoder + predictor; the target encoder starts as a copy of the encoder
folder of a `VJEPA2ForPretraining`     encoder, predictor, target encoder
trainer checkpoint ``step_XXXXXXXX``   encoder, predictor, target encoder (+ optimizer with ``init_optimizer``)
official ``.pt`` (``vitl.pt``, ...)    ``encoder``, ``target_encoder``, ``predictor`` (+ ``opt``)
=====================================  =========================================================================

All loads are strict (every key present, no extra key, same shapes). Used for continued pretraining on a new domain
and for the progressive-resolution phase (the official cooldown restarts from the primary phase's checkpoint with
its optimizer state, at 64 frames and possibly 384 px: RoPE positions follow each input's grid, so the same weights
run at any clip length / resolution).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any, Callable

import torch
from transformers.utils import logging

from ..encoder.configuration_vjepa2 import VJEPA2Config
from .configuration_pretraining import ModelArguments
from .modeling_pretraining import VJEPA2ForPretraining

logger = logging.get_logger(__name__)

__all__ = ["build_pretraining_model", "OptimizerStateLoader", "OFFICIAL_SUFFIXES"]

OFFICIAL_SUFFIXES = (".pt", ".pth", ".tar", ".ckpt")
# A callable that, given the optimizer's param groups (from `build_param_groups`), returns an optimizer state dict.
OptimizerStateLoader = Callable[[list[dict[str, Any]]], dict[str, Any]]


def _config_with_overrides(config: VJEPA2Config, overrides: dict[str, Any]) -> VJEPA2Config:
    config = copy.deepcopy(config)
    for key, value in overrides.items():
        if not hasattr(config, key):
            raise ValueError(f"`model.config_overrides` has {key!r}, which is not a VJEPA2Config field")
        setattr(config, key, value)
    return config


def _from_official(path: Path, args: ModelArguments) -> tuple[VJEPA2ForPretraining, OptimizerStateLoader | None]:
    from ..encoder.convert_vjepa2_checkpoint import (
        check_state_dict,
        load_official_file,
        official_encoder_to_internal,
        official_predictor_to_internal,
        strip_official_prefixes,
    )
    from .optimization import official_optimizer_state_to_internal

    checkpoint = load_official_file(path)
    missing = [k for k in ("encoder", "predictor") if k not in checkpoint]
    if missing:
        raise ValueError(f"official checkpoint {path} has no {missing} entries; found {sorted(checkpoint)}")
    config = VJEPA2Config.from_preset(args.preset, **args.config_overrides)
    state = official_encoder_to_internal(strip_official_prefixes(checkpoint["encoder"]), prefix="encoder")
    state.update(official_predictor_to_internal(strip_official_prefixes(checkpoint["predictor"]), prefix="predictor"))
    if "target_encoder" in checkpoint:
        state.update(
            official_encoder_to_internal(strip_official_prefixes(checkpoint["target_encoder"]), prefix="target_encoder")
        )
    else:
        logger.warning(f"{path} has no 'target_encoder': the EMA target starts as a copy of 'encoder'")
        state.update({"target_encoder." + k[len("encoder."):]: v for k, v in state.items() if k.startswith("encoder.")})
    with torch.device("meta"):
        model = VJEPA2ForPretraining(config)
    check_state_dict(model, state, str(path))
    model.load_state_dict({k: v.float() for k, v in state.items()}, strict=True, assign=True)
    model.target_encoder.requires_grad_(False)
    logger.info(f"initialised encoder, target encoder and predictor from the official checkpoint {path}")
    loader = None
    if args.init_optimizer:
        if "opt" not in checkpoint:
            raise ValueError(f"`model.init_optimizer: true` but the official checkpoint {path} has no 'opt' entry")
        loader = lambda groups: official_optimizer_state_to_internal(checkpoint, groups)  # noqa: E731
    return model, loader


def _from_trainer_checkpoint(
    directory: Path, args: ModelArguments
) -> tuple[VJEPA2ForPretraining, OptimizerStateLoader | None]:
    from safetensors.torch import load_file

    from ..strict_loading import check_state_dict
    from ..training.checkpointing import verify_checkpoint

    manifest = verify_checkpoint(directory)
    model_config = manifest.get("metadata", {}).get("model_config")
    if model_config is None:
        raise ValueError(f"checkpoint {directory} has no model config in its manifest metadata")
    config = _config_with_overrides(VJEPA2Config.from_dict(model_config), args.config_overrides)
    state = load_file(str(directory / "model.safetensors"))
    with torch.device("meta"):
        model = VJEPA2ForPretraining(config)
    check_state_dict(model, state, str(directory))
    model.load_state_dict(state, strict=True, assign=True)
    model.target_encoder.requires_grad_(False)
    logger.info(f"initialised from the trainer checkpoint {directory} (step {manifest.get('step')})")
    loader = None
    if args.init_optimizer:
        loader = _trainer_optimizer_loader(directory, model)
    return model, loader


def _trainer_optimizer_loader(directory: Path, model: VJEPA2ForPretraining) -> OptimizerStateLoader:
    """The optimizer state of a trainer checkpoint (``optimizer.json`` / ``.safetensors``, keyed by parameter name;
    an ``optimizer.bin`` of the older format is read with ``weights_only=True``)."""
    from ..training.accelerator_state import optimizer_state_for_groups
    from ..training.state_files import read_tree

    if (directory / "optimizer.json").is_file():
        saved = read_tree(directory, "optimizer")
        return lambda groups: optimizer_state_for_groups(saved, model, groups)  # noqa: E731
    optimizer_file = directory / "optimizer.bin"
    if not optimizer_file.is_file():
        raise FileNotFoundError(f"`model.init_optimizer: true` but {directory} has no optimizer state")
    optimizer_state = torch.load(optimizer_file, map_location="cpu", weights_only=True)
    return lambda groups: optimizer_state  # noqa: E731


def build_pretraining_model(args: ModelArguments) -> tuple[VJEPA2ForPretraining, OptimizerStateLoader | None]:
    """The model a run starts from (see the module docstring), and optionally a loader of its optimizer state.

    Raises:
        FileNotFoundError: a local ``init_from`` path does not exist.
        ValueError: the source does not match the model (keys, shapes) or has no optimizer state when asked for.
    """
    if args.init_from is None:
        from ..model_size import check_config_fits

        config = VJEPA2Config.from_preset(args.preset, **args.config_overrides)
        check_config_fits(VJEPA2ForPretraining, config, what=f"`model` (preset {args.preset!r} with config_overrides)")
        return VJEPA2ForPretraining(config), None
    source = Path(args.init_from).expanduser()
    if source.suffix in OFFICIAL_SUFFIXES:
        if not source.is_file():
            raise FileNotFoundError(f"`model.init_from` {str(source)!r} does not exist")
        return _from_official(source, args)
    if source.is_dir() and (source / "manifest.json").is_file():
        return _from_trainer_checkpoint(source, args)
    if args.init_optimizer:
        raise ValueError(
            f"`model.init_optimizer: true` needs a trainer checkpoint or an official .pt; {args.init_from!r} is a model "
            "folder / hub id without optimizer state"
        )
    if source.is_dir():
        config_file = source / "config.json"
        if not config_file.is_file():
            raise FileNotFoundError(f"`model.init_from` {str(source)!r} is a folder without config.json")
        architectures = json.loads(config_file.read_text()).get("architectures") or []
        if "VJEPA2ForPretraining" in architectures:
            return VJEPA2ForPretraining.from_pretrained(str(source), **args.config_overrides), None
    elif str(args.init_from).startswith((".", "/", "~")):
        raise FileNotFoundError(f"`model.init_from` {args.init_from!r} does not exist")
    # a VJEPA2Model folder or a hub id
    return VJEPA2ForPretraining.from_vjepa2_model(str(args.init_from), **args.config_overrides), None
