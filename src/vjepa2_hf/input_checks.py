"""Cheap input-hygiene checks shared by the processors and the models.

A single NaN or Inf pixel spreads through attention to every token of the clip, so a model fed one returns all-NaN
features without complaint. `check_finite` turns that into a `ValueError` that says how many values are affected.
Cost: one sum over the input (measured by `scripts/bench_embed.py --nan-check-cost`); on CUDA it
also synchronises the stream once per forward, which is why the models let `config.check_finite_inputs=False`
turn it off. It is skipped while tracing or compiling (a data-dependent branch cannot be traced).
"""

from __future__ import annotations

import torch

__all__ = ["check_finite", "check_finite_inputs"]


def _tracing() -> bool:
    compiler = getattr(torch, "compiler", None)
    if compiler is not None and getattr(compiler, "is_compiling", None) and compiler.is_compiling():
        return True
    return bool(torch.jit.is_tracing())


def check_finite(tensor: torch.Tensor, name: str = "pixel_values_videos") -> None:
    """Raise `ValueError` when the floating-point `tensor` holds NaN or Inf, saying how many values do."""
    if not tensor.is_floating_point() or _tracing():
        return
    # Fast path: a finite sum means every value is finite (NaN and Inf propagate through a sum); one reduction is
    # several times cheaper than an elementwise `isfinite` on CPU. A sum that overflows falls to the exact count.
    if bool(torch.isfinite(tensor.sum())):
        return
    finite = torch.isfinite(tensor)
    if bool(finite.all()):
        return
    bad = tensor[~finite]
    num_nan = int(torch.isnan(bad).sum())
    num_inf = bad.numel() - num_nan
    raise ValueError(
        f"`{name}` holds {bad.numel()} non-finite values ({num_nan} NaN, {num_inf} Inf) out of {tensor.numel()} "
        f"(shape {tuple(tensor.shape)}); every output would be NaN. Check the decoder / transform that produced it"
    )


def check_finite_inputs(pixel_values: torch.Tensor, config) -> None:
    """`check_finite(pixel_values)` unless `config.check_finite_inputs` is False (models call this in forward)."""
    if getattr(config, "check_finite_inputs", True):
        check_finite(pixel_values, "pixel_values_videos")
