"""Distance weights of the V-JEPA 2.1 context loss (official `app/vjepa_2_1/models/utils/masks_dist.py`).

Each context token is weighted by `1 / d`, where `d = sqrt(min_j ||p_context - p_target_j||_2)` over the target
tokens of the same sample (positions `(t, h, w)` on the token grid): context tokens next to the masked region count
most, far ones less (the square root makes the decrease gentle). With `offset_context_loss` the distance is first
divided by `grid // 16`, so that grids larger than the 256 px one do not weigh distances more.
"""

from __future__ import annotations

import torch

from ..encoder.rope import index_to_positions

__all__ = ["context_distances"]


def context_distances(
    context_ids: torch.Tensor,
    target_ids: torch.Tensor,
    grid: tuple[int, int, int],
    offset_context_loss: bool = False,
) -> torch.Tensor:
    """`d` of every context token (the loss weight is `1 / d`).

    Args:
        context_ids (`torch.LongTensor` of shape `(batch_size, num_context)`): flat token indices of the context.
        target_ids (`torch.LongTensor` of shape `(batch_size, num_target)`): flat token indices of the targets
            (disjoint from the context, so `d >= 1`).
        grid (`tuple[int, int, int]`): the token grid `(T', H', W')` of the indices.
        offset_context_loss (`bool`): divide the distance by `H' // 16` first (official `offset_context_loss`;
            needs a grid of at least 16 rows).

    Returns:
        `torch.FloatTensor` of shape `(batch_size, num_context)`.
    """
    if context_ids.ndim != 2 or target_ids.ndim != 2 or context_ids.shape[0] != target_ids.shape[0]:
        raise ValueError(
            f"`context_ids` and `target_ids` must be [batch, K] index tensors of one batch, got shapes "
            f"{tuple(context_ids.shape)} and {tuple(target_ids.shape)}"
        )
    if target_ids.shape[1] == 0:
        raise ValueError("`target_ids` is empty: the context loss weights need at least one target token")
    context = index_to_positions(context_ids, grid).float()  # (B, Kc, 3)
    target = index_to_positions(target_ids.to(context_ids.device), grid).float()  # (B, Kt, 3)
    squared = (context[:, :, None, :] - target[:, None, :, :]).pow(2).sum(-1)  # exact for integer positions
    distance = squared.min(dim=-1).values.sqrt()
    if offset_context_loss:
        coefficient = grid[1] // 16
        if coefficient < 1:
            raise ValueError(f"`offset_context_loss` needs a grid of at least 16 rows, got {grid[1]}")
        distance = distance * (1.0 / coefficient)
    return distance.sqrt()
