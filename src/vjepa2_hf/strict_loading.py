"""`from_pretrained` as transformers does it, plus an opt-in `strict=True`.

By default our models load like every transformers model: weights missing from the checkpoint are initialised and
reported, unexpected ones are dropped and reported (transformers' "LOAD REPORT" warning, left as it is), a weight of
the wrong shape raises unless `ignore_mismatched_sizes=True`, and `output_loading_info=True` returns transformers'
dict of sets. Keys a class deliberately leaves out or drops are named by transformers' own rules,
`_keys_to_ignore_on_load_missing` / `_keys_to_ignore_on_load_unexpected` (e.g. the predictor of a full checkpoint
loaded into the encoder alone), and are not reported.

`strict=True` (the README's deviation list) turns any reported key into a `ValueError` listing missing keys,
unexpected keys and wrong shapes together: a partly loaded model (official issue 149: a 24-block predictor config
filled from a 12-block checkpoint) then cannot go unnoticed. The converters of released checkpoints always check
strictly (`check_state_dict`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

import torch

from .checkpoint_files import check_model_folder
from .hub_access import prepare_hub_load


def strict_load_error(
    source: Any, cls_name: str, missing: Iterable[str], unexpected: Iterable[str], mismatched: Iterable = (),
    errors: Iterable[str] = (),
) -> ValueError | None:
    """The `strict=True` error for a load report (None when nothing is reported)."""
    sections = (("missing keys", sorted(missing)), ("unexpected keys", sorted(unexpected)),
                ("wrong shapes (key, checkpoint, model)", sorted(mismatched)), ("errors", list(errors)))
    if not any(values for _, values in sections):
        return None
    lines = [f"checkpoint {source} does not match {cls_name} (strict=True):"]
    for label, values in sections:
        if values:
            lines.append(f"  {label} ({len(values)}): {values[:20]}{' ...' if len(values) > 20 else ''}")
    lines.append("Without strict=True, missing weights are initialised and reported, unexpected ones dropped.")
    return ValueError("\n".join(lines))


class StrictLoadingMixin:
    """Mixin for `PreTrainedModel` subclasses: transformers' `from_pretrained`, plus `strict=True` (module docstring),
    a named error for a truncated weight file, and CPU weights copied to aligned memory."""

    @classmethod
    def from_pretrained(cls, *args: Any, strict: bool = False, **kwargs: Any):
        want_info = kwargs.pop("output_loading_info", False)
        reinit_mismatched = kwargs.get("ignore_mismatched_sizes", False)  # the caller's choice: not an error
        if strict:  # collect shape mismatches in the one error below instead of transformers' RuntimeError
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
            mismatched = () if reinit_mismatched else info.get("mismatched_keys", ())
            error = strict_load_error(source, cls.__name__, info["missing_keys"], info["unexpected_keys"], mismatched,
                                      info.get("error_msgs", ()))
            if error is not None:
                raise error
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
