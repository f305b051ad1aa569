"""Tiny-but-faithful V-JEPA 2.1 reference setups, shared by `scripts/make_vjepa2_1_reference.py` (which runs the
official modules on them) and the parity tests (which run ours on them and compare with the stored outputs).

Weights and inputs are not stored: they are drawn from a seeded generator per tensor name, so the stored file holds
only the official key names and shapes, the masks, input checksums and the official outputs.
"""

from __future__ import annotations

import zlib
from pathlib import Path

import torch

DATA = Path(__file__).parent / "data" / "vjepa2_1_reference.safetensors"
TRAIN_DATA = Path(__file__).parent / "data" / "vjepa2_1_train_step_reference.safetensors"

#: Encoder / predictor sizes (official factories need depth 12 for `norms_block`, patch 16 for interpolated RoPE).
ENCODER = dict(embed_dim=64, depth=12, num_heads=4, mlp_ratio=4.0, patch_size=16, tubelet_size=2)
PREDICTOR = dict(predictor_embed_dim=48, depth=4, num_heads=4, num_mask_tokens=2)
#: `levels4`: a ViT-g/G-like model (4 hierarchical levels); `distilled`: a ViT-B/L-like one (1 level, teacher width).
SETUPS = {"levels4": dict(levels=4, teacher_embed_dim=None), "distilled": dict(levels=1, teacher_embed_dim=96)}
TRAIN_ENCODER = dict(embed_dim=32, depth=12, num_heads=2, mlp_ratio=4.0, patch_size=16, tubelet_size=2)
TRAIN_PREDICTOR = dict(predictor_embed_dim=32, depth=4, num_heads=2, num_mask_tokens=2)
NATIVE, OTHER = 64, 96  # crop sizes: native grid 4x4, another resolution 6x6 (interpolated RoPE)
MASK_INDEX = 1
BATCH = 2


def seeded(name: str, shape, seed: int, kind: str = "weight") -> torch.Tensor:
    """A deterministic tensor for `name` (LayerNorm weights around 1, everything else small)."""
    generator = torch.Generator().manual_seed(seed * 1_000_003 + zlib.crc32(name.encode()))
    values = torch.randn(tuple(shape), generator=generator)
    if kind == "input":
        return values
    last = name.rsplit(".", 1)[-1]
    is_norm = "norm" in name and len(shape) == 1
    if is_norm and last == "weight":
        return 1.0 + 0.1 * values
    return 0.05 * values


def seeded_state_dict(shapes: dict[str, tuple[int, ...]], seed: int) -> dict[str, torch.Tensor]:
    return {name: seeded(name, shape, seed) for name, shape in shapes.items()}


def video(frames: int, size: int, seed: int = 0) -> torch.Tensor:
    """`(B, C, T, H, W)` input of the official layout (ours is its `permute(0, 2, 1, 3, 4)`)."""
    return seeded(f"video_{frames}_{size}", (BATCH, 3, frames, size, size), seed, kind="input")


def random_masks(num_tokens: int, num_context: int, num_target: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Disjoint sorted context / target index tensors `(BATCH, K)`."""
    generator = torch.Generator().manual_seed(seed)
    context, target = [], []
    for _ in range(BATCH):
        order = torch.randperm(num_tokens, generator=generator)
        context.append(order[:num_context].sort().values)
        target.append(order[num_context:num_context + num_target].sort().values)
    return torch.stack(context), torch.stack(target)

#: case -> (frames, crop size, context tokens, target tokens)
CASES = {"video": (4, NATIVE, 20, 12), "image": (1, NATIVE, 10, 6), "video96": (2, OTHER, 24, 12)}


def num_tokens(frames: int, size: int) -> int:
    temporal = 1 if frames == 1 else frames // ENCODER["tubelet_size"]
    return temporal * (size // ENCODER["patch_size"]) ** 2
