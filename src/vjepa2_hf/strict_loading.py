"""Strict `from_pretrained`: a checkpoint that does not fill the model exactly is an error, not a warning.

transformers' `from_pretrained` initialises missing weights randomly and drops unexpected ones with a log line.
For released weights that hides real mistakes (a wrong layout, a truncated file), so our models raise instead.
Keys a class deliberately leaves out or drops are named by explicit rules: `_keys_to_ignore_on_load_missing`
(e.g. a fresh classification head on a backbone checkpoint) and `_keys_to_ignore_on_load_unexpected` (e.g. the
predictor of a full checkpoint loaded into the encoder alone).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

import torch

from .checkpoint_files import check_model_folder
from .hub_access import prepare_hub_load


def _filtered(keys, patterns) -> list[str]:
    patterns = [re.compile(p) for p in (patterns or [])]
    return sorted(k for k in keys if not any(p.search(k) for p in patterns))


class StrictLoadingMixin:
    """Mixin for `PreTrainedModel` subclasses; pass `strict=False` to get transformers' lenient behaviour."""

    @classmethod
    def from_pretrained(cls, *args: Any, strict: bool = True, **kwargs: Any):
        want_info = kwargs.pop("output_loading_info", False)
        if strict:  # collect shape mismatches in the report below instead of transformers' RuntimeError
            kwargs.setdefault("ignore_mismatched_sizes", True)
        source = args[0] if args else kwargs.get("pretrained_model_name_or_path")
        if source is not None and os.path.isdir(source):
            check_model_folder(source)  # a truncated file: say so, naming it
        if source is not None and prepare_hub_load(source, cache_dir=kwargs.get("cache_dir")):
            kwargs["local_files_only"] = True  # the Hub cannot be reached: the cached files, without retrying
        try:
            model, info = super().from_pretrained(*args, output_loading_info=True, **kwargs)
        except Exception as error:
            if type(error).__name__ != "SafetensorError":
                raise
            raise ValueError(f"cannot read the weights of {source}: the file is truncated or corrupt ({error})") from error
        if strict:
            missing = _filtered(info.get("missing_keys", ()), cls._keys_to_ignore_on_load_missing)
            unexpected = _filtered(info.get("unexpected_keys", ()), cls._keys_to_ignore_on_load_unexpected)
            mismatched = sorted(info.get("mismatched_keys", ()))
            errors = list(info.get("error_msgs", ())) + [f"{k}: {v}" for k, v in info.get("conversion_errors", {}).items()]
            if missing or unexpected or mismatched or errors:
                lines = [f"checkpoint {source} does not match {cls.__name__}:"]
                for label, values in (("missing keys", missing), ("unexpected keys", unexpected),
                                      ("wrong shapes (key, checkpoint, model)", mismatched), ("errors", errors)):
                    if values:
                        lines.append(f"  {label} ({len(values)}): {values[:20]}{' ...' if len(values) > 20 else ''}")
                lines.append("Pass strict=False to load anyway (missing weights are then randomly initialised).")
                raise ValueError("\n".join(lines))
        align_cpu_storage(model)
        return (model, info) if want_info else model


def align_cpu_storage(model: torch.nn.Module, alignment: int = 64) -> None:
    """Copy weights that lie at unaligned addresses (safetensors memory-maps them at the file's offsets) into fresh,
    aligned memory, one tensor at a time. The CPU matmul kernels take other code paths on unaligned data, which
    changes outputs in the last bit: aligned, a loaded model reproduces the saved one exactly."""
    with torch.no_grad():
        for tensor in (*model.parameters(), *model.buffers()):
            if tensor.device.type == "cpu" and tensor.numel() and tensor.data_ptr() % alignment:
                tensor.data = tensor.data.clone()


def check_state_dict(
    model: torch.nn.Module | Mapping[str, torch.Tensor], state_dict: Mapping[str, torch.Tensor], source: str
) -> None:
    """Raise a `ValueError` listing missing keys, unexpected keys and shape mismatches against `model` (a module, or
    the expected state dict itself, e.g. the part of a model that is loaded)."""
    expected = model.state_dict() if isinstance(model, torch.nn.Module) else model
    missing = sorted(set(expected) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(expected))
    wrong = [
        f"{key}: expected {tuple(expected[key].shape)}, got {tuple(state_dict[key].shape)}"
        for key in sorted(set(expected) & set(state_dict))
        if tuple(expected[key].shape) != tuple(state_dict[key].shape)
    ]
    if missing or unexpected or wrong:
        lines = [f"checkpoint {source} does not match the model:"]
        if missing:
            lines.append(f"  missing keys ({len(missing)}): {missing[:20]}{' ...' if len(missing) > 20 else ''}")
        if unexpected:
            lines.append(
                f"  unexpected keys ({len(unexpected)}): {unexpected[:20]}{' ...' if len(unexpected) > 20 else ''}"
            )
        if wrong:
            lines.append(f"  wrong shapes ({len(wrong)}): {wrong[:20]}")
        raise ValueError("\n".join(lines))
