"""`dtype="auto"`: bfloat16 where the hardware runs it natively, float32 elsewhere.

bf16 matrix products are 2-10x faster than fp32 on GPUs and on CPUs with native bf16 instructions (Intel AMX,
AVX512-BF16 on Intel Cooper Lake+ / AMD Zen 4+), but on AVX2-only CPUs they are emulated and slower than fp32.
`resolve_dtype("auto", device)` picks accordingly and logs the choice once per (device kind, dtype).

    >>> from vjepa2_hf.auto_dtype import resolve_dtype
    >>> resolve_dtype("auto", "cpu")  # torch.bfloat16 on an AMX / AVX512-BF16 CPU, torch.float32 on AVX2
"""

from __future__ import annotations

import functools

import torch
from transformers.utils import logging

logger = logging.get_logger(__name__)

NATIVE_BF16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")
DTYPE_NAMES = {
    "float32": torch.float32, "fp32": torch.float32,
    "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
    "float16": torch.float16, "fp16": torch.float16,
}
_logged: set[tuple[str, str]] = set()


def _cpuinfo_flags(path: str = "/proc/cpuinfo") -> set[str]:
    try:
        with open(path) as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


@functools.lru_cache(maxsize=1)
def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bf16 matrix products natively (AMX or AVX512-BF16).

    Read from the CPU flags in /proc/cpuinfo (Linux), falling back to PyTorch's own dispatch level
    (`torch.backends.cpu.get_cpu_capability()` reports ``"AVX512_BF16"`` or ``"AMX"`` style levels on builds that
    know them)."""
    flags = _cpuinfo_flags()
    if flags:
        return any(flag in flags for flag in NATIVE_BF16_CPU_FLAGS)
    capability = str(torch.backends.cpu.get_cpu_capability()).upper()
    return "AMX" in capability or "BF16" in capability


def auto_dtype(device: str | torch.device | None = None) -> torch.dtype:
    """bf16 on CUDA (when the GPU supports it) and on CPUs with native bf16, float32 otherwise."""
    kind = torch.device(device).type if device is not None else ("cuda" if torch.cuda.is_available() else "cpu")
    if kind == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float32
    if kind == "cpu":
        return torch.bfloat16 if cpu_has_native_bf16() else torch.float32
    return torch.float32


def resolve_dtype(dtype: str | torch.dtype | None, device: str | torch.device | None = None) -> torch.dtype | None:
    """`"auto"` -> `auto_dtype(device)` (logged once); a name (``"bf16"``, ``"float32"``, ...) or a `torch.dtype`
    -> that dtype; None -> None (keep the stored dtype).

    Raises:
        ValueError: for an unknown name or a non-floating dtype.
    """
    if dtype is None or isinstance(dtype, torch.dtype):
        if isinstance(dtype, torch.dtype) and not dtype.is_floating_point:
            raise ValueError(f"`dtype` must be a floating dtype or 'auto', got {dtype}")
        return dtype
    name = str(dtype).lower().removeprefix("torch.")
    if name == "auto":
        chosen = auto_dtype(device)
        kind = torch.device(device).type if device is not None else "default"
        if (kind, str(chosen)) not in _logged:
            _logged.add((kind, str(chosen)))
            reason = "native bf16" if chosen == torch.bfloat16 else "no native bf16"
            logger.warning(f"dtype='auto': using {chosen} on {kind} ({reason})")
        return chosen
    if name not in DTYPE_NAMES:
        raise ValueError(f"`dtype` must be 'auto' or one of {sorted(DTYPE_NAMES)}, got {dtype!r}")
    return DTYPE_NAMES[name]


__all__ = ["auto_dtype", "cpu_has_native_bf16", "resolve_dtype"]
