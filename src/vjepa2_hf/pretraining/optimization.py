"""The AdamW groups of V-JEPA 2 pretraining (on the training engine's `build_param_groups`) and the import of an
official optimizer state.

Groups, in the official order (``app/vjepa/utils.py::init_opt``)::

    0: encoder weights      (decayed)        names without "bias" and ndim != 1
    1: predictor weights    (decayed)        (the mask tokens are 3/4-D: decayed, as in the official code)
    2: encoder biases/norms (weight_decay 0)
    3: predictor biases/norms (weight_decay 0)

Because the order matches, the moments of an official checkpoint's ``opt`` entry map one to one onto this optimizer
(`official_optimizer_state_to_internal`); the only layout difference is that the official code keeps the 10 predictor
mask tokens as 10 parameters and this package stacks them into one.
"""

from __future__ import annotations

from typing import Any, Mapping

import torch
from torch import nn

from ..training.optimization import is_decayed
from ..training.optimization import build_param_groups as _build_param_groups

__all__ = ["build_param_groups", "official_optimizer_state_to_internal"]


def build_param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """The four official AdamW groups of a `VJEPA2ForPretraining` (target encoder excluded: it has no gradient):
    encoder weights, predictor weights, encoder biases / norms, predictor biases / norms (the engine's
    `build_param_groups` over the encoder and the predictor)."""
    return _build_param_groups(model, weight_decay, parts=("encoder", "predictor"))


def official_optimizer_state_to_internal(
    checkpoint: Mapping[str, Any], param_groups: list[dict[str, Any]]
) -> dict[str, Any]:
    """Convert the ``opt`` entry of an official checkpoint into a state dict for an optimizer built on
    `build_param_groups` (same group order).

    The official parameter order inside each group is the order of the keys of the checkpoint's ``encoder`` and
    ``predictor`` state dicts (their ``named_parameters`` order), filtered by the same decay rule.

    Raises:
        ValueError: the checkpoint has no ``opt``, or its groups / parameters do not match this model.
    """
    from ..encoder.convert_vjepa2_checkpoint import strip_official_prefixes

    for key in ("opt", "encoder", "predictor"):
        if key not in checkpoint:
            raise ValueError(f"official checkpoint has no {key!r} entry (found {sorted(checkpoint)}); cannot import the "
                             "optimizer state")
    official_opt = checkpoint["opt"]
    if len(official_opt.get("param_groups", [])) != 4:
        raise ValueError(
            f"the official optimizer has {len(official_opt.get('param_groups', []))} param groups, expected the 4 of "
            "app/vjepa/utils.py::init_opt"
        )
    encoder = strip_official_prefixes(checkpoint["encoder"])
    predictor = strip_official_prefixes(checkpoint["predictor"])

    mapping = _official_to_internal_names(encoder, predictor)
    official_order = [
        ("encoder", _official_names(encoder, True)),
        ("predictor", _official_names(predictor, True)),
        ("encoder", _official_names(encoder, False)),
        ("predictor", _official_names(predictor, False)),
    ]
    # internal name -> {stack position (None when not stacked): official AdamW state}
    per_internal: dict[str, dict[int | None, dict[str, Any]]] = {}
    for (part, names), group in zip(official_order, official_opt["param_groups"]):
        if len(group["params"]) != len(names):
            raise ValueError(
                f"official optimizer group of the {part} has {len(group['params'])} parameters, the checkpoint's "
                f"{part} state dict gives {len(names)}"
            )
        for name, index in zip(names, group["params"]):
            internal, position = mapping[(part, name)]
            state = official_opt["state"].get(index)
            if state is not None:
                per_internal.setdefault(internal, {})[position] = state
    return _optimizer_state_for_groups(per_internal, param_groups)


def _official_names(state: Mapping[str, torch.Tensor], decayed: bool) -> list[str]:
    return [k for k, v in state.items() if is_decayed(k, v) == decayed]


def _official_to_internal_names(encoder, predictor) -> dict[tuple[str, str], tuple[str, int | None]]:
    """(part, official name) -> (internal name, position in a stacked parameter or None), found by converting index
    tensors with the checkpoint converters."""
    from ..encoder.convert_vjepa2_checkpoint import official_encoder_to_internal, official_predictor_to_internal

    def internal_of(state: Mapping[str, torch.Tensor], convert, prefix: str) -> dict[str, tuple[str, int | None]]:
        probe = {k: torch.full((1,), float(i)) for i, k in enumerate(state)}
        converted = convert(probe, prefix=prefix)
        names = list(state)
        out: dict[str, tuple[str, int | None]] = {}
        for new, marker in converted.items():
            flat = marker.reshape(-1).tolist()
            if len(flat) == 1:
                out[names[int(flat[0])]] = (new, None)
            else:  # stacked (mask tokens)
                for position, i in enumerate(flat):
                    out[names[int(i)]] = (new, position)
        return out

    return {
        **{("encoder", k): v for k, v in internal_of(encoder, official_encoder_to_internal, "encoder").items()},
        **{("predictor", k): v for k, v in internal_of(predictor, official_predictor_to_internal, "predictor").items()},
    }


def _optimizer_state_for_groups(
    per_internal: dict[str, dict[int | None, dict[str, Any]]], param_groups: list[dict[str, Any]]
) -> dict[str, Any]:
    """The optimizer state dict of `param_groups` from the official states of each internal parameter (stacked ones
    rebuilt from their per-token states)."""
    new_state: dict[int, dict[str, Any]] = {}
    new_groups = []
    index = 0
    for group in param_groups:
        ids = []
        for name, param in zip(group["names"], group["params"]):
            parts = per_internal.get(name)
            if parts is not None:
                if None in parts:
                    state = dict(parts[None])
                else:
                    positions = sorted(parts)
                    first = parts[positions[0]]
                    state = {"step": first["step"]}
                    for moment in ("exp_avg", "exp_avg_sq"):
                        state[moment] = torch.stack([parts[p][moment] for p in positions])
                for moment in ("exp_avg", "exp_avg_sq"):
                    if tuple(state[moment].shape) != tuple(param.shape):
                        raise ValueError(
                            f"official optimizer moment {moment} of {name} has shape {tuple(state[moment].shape)}, the "
                            f"parameter has {tuple(param.shape)}"
                        )
                new_state[index] = state
            ids.append(index)
            index += 1
        new_groups.append({k: v for k, v in group.items() if k != "params"} | {"params": ids})
    return {"state": new_state, "param_groups": new_groups}
