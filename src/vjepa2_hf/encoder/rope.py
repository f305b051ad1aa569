"""3-D rotary position embedding of V-JEPA 2, as a reusable function of per-token positions.

The released checkpoints were trained with a particular RoPE (official `modules.py::rotate_queries_or_keys`):

* the head dimension is split into three slices of ``d = 2 * ((head_dim // 3) // 2)`` channels each, rotated by the
  temporal, row and column position of the token; the remaining ``head_dim - 3d`` channels are left unrotated;
* within a slice of ``d`` channels the ``k = d / 2`` angles ``theta_m = pos / 10000 ** (m / k)`` are **tiled**
  (``[theta_0 .. theta_{k-1}, theta_0 .. theta_{k-1}]``) while channels are paired **interleaved**
  (``(2i, 2i + 1)``), so the two members of a pair use different angles. This is not a true rotation, but it is
  what the weights expect (the official repo keeps it for compatibility; transformers reproduces it too).

Angles are always computed in float32, whatever the model dtype, once per forward pass. The unrotated tail is
folded into the tables (``cos = 1``, ``sin = 0``), which is an exact identity, so applying RoPE is a single
fused multiply-add over the whole head. A position of 0 on an axis is also an exact identity on that slice: the
AC predictor uses positions ``(t, 0, 0)`` to rotate its action and state tokens in time only.

V-JEPA 2.1 (official ``app/vjepa_2_1/models/utils/modules.py``) pairs channels the same way but **interleaves** the
angles (``repeat_interleave(2)``: both members of a pair use ``theta_i``, a true rotation), and with
``interpolate_rope`` scales the row and column positions by ``(pretrained_grid - 1) / (grid - 1)`` (`scale_positions`).
"""

from __future__ import annotations

import torch

ROPE_THETA = 10000.0


def rope_axis_dim(head_dim: int) -> int:
    """Channels rotated per axis (time, row, column) for a head of ``head_dim`` channels."""
    return 2 * ((head_dim // 3) // 2)


def grid_positions(
    num_frames: int, height: int, width: int, device: torch.device | str | None = None
) -> torch.Tensor:
    """(t, h, w) position of every token of a ``num_frames x height x width`` token grid.

    Returns:
        `torch.LongTensor` of shape `(num_frames * height * width, 3)`, in the flat token order of the patch
        embedding (time, then row, then column).
    """
    t = torch.arange(num_frames, device=device)
    h = torch.arange(height, device=device)
    w = torch.arange(width, device=device)
    grid = torch.stack(torch.meshgrid(t, h, w, indexing="ij"), dim=-1)
    return grid.reshape(-1, 3)


def index_to_positions(indices: torch.Tensor, grid: tuple[int, int, int]) -> torch.Tensor:
    """Decompose flat token indices into (t, h, w) positions of a token grid.

    Args:
        indices (`torch.LongTensor` of shape `(..., K)`): flat indices ``t * H * W + h * W + w``.
        grid (`tuple[int, int, int]`): the token grid ``(T', H', W')`` the indices refer to.

    Returns:
        `torch.LongTensor` of shape `(..., K, 3)`.
    """
    _, height, width = grid
    per_frame = height * width
    t = torch.div(indices, per_frame, rounding_mode="floor")
    rest = indices - t * per_frame
    h = torch.div(rest, width, rounding_mode="floor")
    w = rest - h * width
    return torch.stack((t, h, w), dim=-1)


def scale_positions(positions: torch.Tensor, grid: tuple[int, int, int], pretrained_grid: int) -> torch.Tensor:
    """V-JEPA 2.1 `interpolate_rope`: row / column positions times `(pretrained_grid - 1) / (grid - 1)`.

    Args:
        positions (`torch.Tensor` of shape `(..., N, 3)`): (t, h, w) positions on the token grid `grid`.
        grid (`tuple[int, int, int]`): `(T', H', W')` of the input.
        pretrained_grid (`int`): grid side of pretraining (16 for 256 px at patch 16).

    Returns:
        float32 `(..., N, 3)`; an axis of size 1 (position 0) is left at 0.
    """
    pos = positions.to(torch.float32)
    t, h, w = pos.unbind(-1)
    # same operation order as the official code: (pos * (P - 1)) / (grid - 1)
    if grid[1] > 1:
        h = h * (pretrained_grid - 1) / (grid[1] - 1)
    if grid[2] > 1:
        w = w * (pretrained_grid - 1) / (grid[2] - 1)
    return torch.stack((t, h, w), dim=-1)


def rope_cos_sin(
    positions: torch.Tensor, head_dim: int, theta: float = ROPE_THETA, interleave: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cosine and signed-sine tables of the V-JEPA 2 3-D RoPE for the given token positions.

    Args:
        positions (`torch.Tensor` of shape `(..., N, 3)`): (t, h, w) positions, integer or float.
        head_dim (`int`): channels per attention head.
        theta (`float`): RoPE base.
        interleave (`bool`): V-JEPA 2.1 angle layout (`theta_0, theta_0, theta_1, theta_1, ...`) instead of the
            tiled one of V-JEPA 2.

    Returns:
        `(cos, sin)`, float32 tensors of shape `(..., N, head_dim)`. ``sin`` already carries the sign of the
        interleaved partner (``-sin`` on even channels), so ``apply_rope`` is ``x * cos + swap_pairs(x) * sin``.
        Add a head axis (``cos[:, None]``) to broadcast against `(B, heads, N, head_dim)` queries.
    """
    if positions.shape[-1] != 3:
        raise ValueError(f"`positions` must end with a (t, h, w) axis of size 3, got shape {tuple(positions.shape)}")
    if head_dim % 2:
        raise ValueError(f"`head_dim` must be even for RoPE, got {head_dim}")
    axis_dim = rope_axis_dim(head_dim)
    half = axis_dim // 2
    pos = positions.to(torch.float32)
    omega = torch.arange(half, dtype=torch.float32, device=positions.device) / half
    omega = 1.0 / theta**omega  # (half,)
    angles = pos[..., :, None] * omega  # (..., N, 3, half)
    if interleave:
        angles = angles.repeat_interleave(2, dim=-1).flatten(-2)  # (..., N, 3 * axis_dim)
    else:
        angles = torch.cat((angles, angles), dim=-1).flatten(-2)  # tiled per axis -> (..., N, 3 * axis_dim)
    cos, sin = angles.cos(), angles.sin()
    # interleaved partner: y[2i] = -x[2i+1], y[2i+1] = x[2i]  -> fold the sign into the sine table
    sign = torch.tensor([-1.0, 1.0], device=positions.device).repeat(3 * half)
    sin = sin * sign
    tail = head_dim - 3 * axis_dim
    if tail:
        pad_shape = (*cos.shape[:-1], tail)
        cos = torch.cat((cos, cos.new_ones(pad_shape)), dim=-1)
        sin = torch.cat((sin, sin.new_zeros(pad_shape)), dim=-1)
    return cos, sin


def swap_pairs(x: torch.Tensor) -> torch.Tensor:
    """``[x0, x1, x2, x3, ...] -> [x1, x0, x3, x2, ...]`` on the last axis."""
    return x.unflatten(-1, (-1, 2)).flip(-1).flatten(-2)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Apply the tables of `rope_cos_sin` to queries or keys.

    Args:
        x (`torch.Tensor` of shape `(..., N, head_dim)`), e.g. `(B, heads, N, head_dim)`.
        cos, sin: tables broadcastable to `x` (cast to `x.dtype` by the caller once per forward for speed).

    Returns:
        `torch.Tensor` of the shape and dtype of `x`.
    """
    return torch.addcmul(x * cos, swap_pairs(x), sin)
