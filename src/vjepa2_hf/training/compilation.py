"""`torch.compile` for the training loops: a check that it can run here, before any work, and regional compilation.

Regional compilation compiles each repeated transformer block in place (`nn.Module.compile`) instead of the whole
model: every block of a stack shares one compiled graph (parameters are graph inputs), so the compile time is that of
a few blocks whatever the depth, the parameter names (state dicts, checkpoints, `save_pretrained`) stay those of the
eager model (no `_orig_mod.`), and DDP / FSDP2 wrap the model as usual (their hooks stay on `nn.Module.__call__`).
`dynamic=True` compiles the token axis symbolically from the first call, so multi-block masks, whose context and target
token counts change from batch to batch, do not recompile. (Accelerate's `compile_regions` returns a copy whose
parameter names gain `_orig_mod.` and also compiles every non-repeated leaf module; its in-place FSDP2 variant too.)

All modules compiled this way share one code object (`nn.Module._call_impl`), so torch's recompile limit (8 graphs
by default) counts the graphs of every compiled block together; a pretraining step builds 2 to 4.
"""

from __future__ import annotations

from typing import Any, Iterable

import torch
from torch import nn

__all__ = ["accelerator_type", "compile_blocks", "require_torch_compile"]


def accelerator_type() -> str:
    """The device type a training loop will run on: `"cpu"`, or the accelerator torch sees (`"cuda"`, `"xpu"`, ...)."""
    accelerator_api = getattr(torch, "accelerator", None)  # torch >= 2.6
    if accelerator_api is not None and accelerator_api.is_available():
        return accelerator_api.current_accelerator().type
    return "cuda" if torch.cuda.is_available() else "cpu"


def require_torch_compile(device_type: str, what: str) -> None:
    """Raise a one-line `ValueError` naming `what` (the switch, e.g. `run.compile`) when `torch.compile`'s default
    backend (inductor) cannot build code on `device_type`: no C++ compiler for CPU code, no Triton for GPU code.
    Checked up front, as inductor would otherwise fail at the first step."""
    if device_type == "cpu":
        from torch._inductor import cpp_builder

        try:
            cpp_builder.get_cpp_compiler()
        except Exception as error:  # inductor's InvalidCxxCompiler / a failed compiler probe
            reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
            raise ValueError(f"{what}: torch.compile cannot build CPU code here, no working C++ compiler ({reason}); "
                             "install g++ (or set CXX), or run without it") from None
        return
    from torch.utils._triton import has_triton

    if device_type in ("cuda", "xpu") and not has_triton():
        raise ValueError(f"{what}: torch.compile cannot build {device_type} code here: Triton is not installed "
                         "(pip install triton), or run without it")


def compile_blocks(blocks: Iterable[nn.Module], **compile_kwargs: Any) -> int:
    """Compile each module of `blocks` in place (`module.compile(dynamic=True, **compile_kwargs)`), once: a module
    already compiled is left as it is. Returns how many were compiled now."""
    count = 0
    for block in blocks:
        if getattr(block, "_compiled_call_impl", None) is None:
            block.compile(**{"dynamic": True, **compile_kwargs})
            count += 1
    return count
