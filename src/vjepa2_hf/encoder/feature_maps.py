"""Dense features as pictures: the first three principal components of the patch features, as RGB, per frame.

The usual way to show that a model's patch features are dense (V-JEPA 2.1's point): tokens of the same object or
part get similar colours, across frames and across resolutions. The components are computed over all tokens of
the clip together, so colours are comparable between frames.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

__all__ = ["pca_feature_maps", "feature_map_images", "save_feature_maps"]


def pca_feature_maps(
    features: torch.Tensor, grid: Sequence[int], num_components: int = 3, quantile: float = 0.01
) -> torch.Tensor:
    """Project patch features on their first principal components and scale each to [0, 1].

    Args:
        features (`torch.Tensor` of shape `(num_tokens, channels)`): one clip's features (e.g.
            `last_hidden_state[0]` or `hierarchical_hidden_state[0]`), tokens in (time, row, column) order.
        grid (`tuple[int, int, int]`): the token grid `(T', H', W')`, `T' * H' * W' == num_tokens`.
        num_components (`int`): components kept (3 for RGB).
        quantile (`float`): each component is scaled between its `quantile` and `1 - quantile` quantiles (robust
            to a few extreme tokens), then clipped.

    Returns:
        `torch.FloatTensor` of shape `(T', H', W', num_components)` in [0, 1]. Component signs are fixed (largest
        loading positive), so the colours are deterministic.
    """
    if features.ndim != 2:
        raise ValueError(f"`features` must be [num_tokens, channels], got shape {tuple(features.shape)}")
    temporal, height, width = (int(g) for g in grid)
    if temporal * height * width != features.shape[0]:
        raise ValueError(f"`grid` {tuple(grid)} has {temporal * height * width} tokens, `features` has "
                         f"{features.shape[0]}")
    if not 1 <= num_components <= min(features.shape):
        raise ValueError(f"`num_components` must be in [1, {min(features.shape)}], got {num_components}")
    x = features.detach().float().cpu()
    x = x - x.mean(dim=0, keepdim=True)
    _, _, vh = torch.linalg.svd(x, full_matrices=False)
    basis = vh[:num_components]  # (k, D)
    signs = torch.sign(basis.gather(1, basis.abs().argmax(dim=1, keepdim=True)))
    projected = x @ (basis * signs).T  # (N, k)
    low = torch.quantile(projected, quantile, dim=0)
    high = torch.quantile(projected, 1 - quantile, dim=0)
    scaled = ((projected - low) / (high - low).clamp_min(1e-8)).clamp(0, 1)
    return scaled.reshape(temporal, height, width, num_components)


def feature_map_images(
    maps: torch.Tensor, patch_size: int, frames: torch.Tensor | None = None
) -> list[np.ndarray]:
    """`uint8` RGB pictures, one per token frame: each token as a `patch_size` square, beside the input frame
    (the first frame of each tubelet) when `frames` `(T, H, W, 3)` in [0, 1] is given."""
    temporal = maps.shape[0]
    tubelet = 1 if frames is None or frames.shape[0] == temporal else frames.shape[0] // temporal
    images = []
    for t in range(temporal):
        rgb = maps[t].repeat_interleave(patch_size, 0).repeat_interleave(patch_size, 1)
        if rgb.shape[-1] == 1:
            rgb = rgb.expand(-1, -1, 3)
        if frames is not None:
            frame = frames[t * tubelet].float().clamp(0, 1)
            rgb = torch.cat([frame[: rgb.shape[0], : rgb.shape[1]], rgb], dim=1)
        images.append((rgb.numpy() * 255).round().astype(np.uint8))
    return images


def save_feature_maps(images: Sequence[np.ndarray], out_dir: str | os.PathLike, prefix: str = "frame") -> list[Path]:
    """Write the pictures of `feature_map_images` as `{prefix}_{t:03d}.png`; returns the paths."""
    from PIL import Image

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for t, image in enumerate(images):
        path = out_dir / f"{prefix}_{t:03d}.png"
        tmp = path.with_suffix(".tmp.png")
        Image.fromarray(image).save(tmp)
        os.replace(tmp, path)
        paths.append(path)
    return paths
