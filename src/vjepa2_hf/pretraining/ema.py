"""Exponential moving average of the context encoder into the target encoder.

Official update (``app/vjepa/train.py``), with ``torch._foreach_*`` over all parameters::

    theta_target <- m * theta_target + (1 - m) * theta_context

The update is computed in float32 (the target encoder is kept in float32; a lower-precision target is updated in
float32 and rounded once). Under FSDP2 both encoders are sharded alike (the same block classes are the FSDP units),
so each process updates its shards, which is the EMA of the full parameters; no parameter is gathered.

V-JEPA 2 keeps ``m`` constant at 0.99925 (V-JEPA 1 ramped it 0.998 -> 1.0). The EMA also matters for collapse:
the maintainers suggest a momentum between 0.99 and 0.9995 for continued pretraining on a new domain
(facebookresearch/vjepa2#93, #74); a too-low momentum with a high learning rate lets the target chase the context
encoder, which is one route to collapse (watch ``target_std`` / ``prediction_std`` in the training logs).
"""

from __future__ import annotations

from typing import Iterable

import torch
from torch import nn

__all__ = ["ema_update", "copy_parameters"]


@torch.no_grad()
def ema_update(target: nn.Module, online: nn.Module, momentum: float) -> None:
    """In place ``target <- momentum * target + (1 - momentum) * online`` over matching parameters.

    Args:
        target (`nn.Module`): the EMA (target) encoder; its parameters are updated in place.
        online (`nn.Module`): the context encoder, with the same parameter names and shapes.
        momentum (`float`): in [0, 1].

    Raises:
        ValueError: if the two modules do not have the same parameter names and shapes, or ``momentum`` is out of
            range.
    """
    if not 0.0 <= momentum <= 1.0:
        raise ValueError(f"momentum must be in [0, 1], got {momentum}")
    target_params, online_params = _matched(target.named_parameters(), online.named_parameters())
    if momentum == 1.0:
        return
    pairs = [_local_pair(t, o) for t, o in zip(target_params, online_params)]
    fp32 = [(t, o) for t, o in pairs if t.dtype == torch.float32]
    if fp32:
        # target + (1 - m) * (online - target) == m * target + (1 - m) * online, in one pass instead of two
        torch._foreach_lerp_([t for t, _ in fp32], [o.float() for _, o in fp32], 1.0 - momentum)
    for t, o in pairs:  # a low-precision target: the update in float32, rounded once when stored
        if t.dtype != torch.float32:
            t.copy_(t.float().lerp_(o.float(), 1.0 - momentum))


@torch.no_grad()
def copy_parameters(target: nn.Module, online: nn.Module) -> None:
    """Copy ``online``'s parameters into ``target`` (the EMA's initial value, ``deepcopy`` in the official code)."""
    target_params, online_params = _matched(target.named_parameters(), online.named_parameters())
    for t, o in zip(target_params, online_params):
        t.copy_(o)


def _local_pair(target: torch.Tensor, online: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The tensors the EMA updates in place: the parameters themselves, or, for FSDP2-sharded parameters (DTensors),
    this process's shards of both, laid out alike. The update is elementwise, so updating every process's shard is
    the EMA of the full (unsharded) parameter."""
    from torch.distributed.tensor import DTensor

    if not isinstance(target, DTensor) and not isinstance(online, DTensor):
        return target.detach(), online.detach()
    if not (isinstance(target, DTensor) and isinstance(online, DTensor)) or (
        online.device_mesh != target.device_mesh or online.placements != target.placements
    ):
        raise ValueError("EMA: the target and the online encoder must be sharded alike (the same FSDP units)")
    return target.to_local(), online.to_local()


def _matched(
    target: Iterable[tuple[str, torch.Tensor]], online: Iterable[tuple[str, torch.Tensor]]
) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    t = dict(target)
    o = dict(online)
    if t.keys() != o.keys():
        missing, extra = sorted(o.keys() - t.keys()), sorted(t.keys() - o.keys())
        raise ValueError(f"EMA target and online encoder differ: missing in target {missing[:5]}, extra {extra[:5]}")
    names = list(o)
    for n in names:
        if t[n].shape != o[n].shape:
            raise ValueError(f"EMA parameter {n!r}: target shape {tuple(t[n].shape)} != online {tuple(o[n].shape)}")
    return [t[n] for n in names], [o[n] for n in names]
