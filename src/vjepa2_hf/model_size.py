"""A model's size from its config, before anything is allocated: configs that cannot fit are refused.

A `config.json` saying `num_hidden_layers: 100000` would have `from_pretrained` build every block (minutes, then a
`MemoryError`) before it finds out that the weights hold two. `check_config_fits` counts the parameters on the meta
device instead: the model is built with each stack one and two blocks deep (meta tensors take no memory), the
per-block count is extrapolated to the configured depth, and the total is compared with the memory this machine has
free and with the weights the folder actually holds. `load_checked_config` reads a folder's or repo's config that
way; the commands call it wherever a model is built from a config file.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

import torch

__all__ = ["available_memory_bytes", "check_config_fits", "check_config_json", "load_checked_config", "meta_parameter_count",
           "stored_parameter_count"]

DEPTH_SUFFIX = "num_hidden_layers"  # the stacks of blocks a config repeats (encoder, predictor)


def available_memory_bytes() -> int | None:
    """Memory this process can still use (`MemAvailable` of /proc/meminfo), None where unknown."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def _count_on_meta(model_class, config) -> int:
    with torch.device("meta"):
        model = model_class(config)
    return sum(p.numel() for p in model.parameters())


def _depth_fields(config, prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], int]:
    """`{path: depth}` of every block stack deeper than 2, in the config and its sub-configs (a world model's)."""
    fields = {}
    for name, value in vars(config).items():
        if name.endswith(DEPTH_SUFFIX) and isinstance(value, int) and not isinstance(value, bool) and value > 2:
            fields[(*prefix, name)] = value
        elif hasattr(value, "to_dict") and hasattr(value, "model_type"):  # a nested PretrainedConfig
            fields.update(_depth_fields(value, (*prefix, name)))
    return fields


def _set_path(config, path: tuple[str, ...], value: int) -> None:
    for name in path[:-1]:
        config = getattr(config, name)
    setattr(config, path[-1], value)


def _deepest_stack(config) -> str:
    depths = _depth_fields(config)
    if not depths:
        return f"hidden_size={getattr(config, 'hidden_size', '?')}"
    path, depth = max(depths.items(), key=lambda item: item[1])
    return f"{'.'.join(path)}={depth}"


def meta_parameter_count(model_class, config) -> int:
    """Parameters of `model_class(config)`, counted from meta-device builds one and two blocks deep per stack."""
    depths = _depth_fields(config)
    if not depths:
        return _count_on_meta(model_class, config)
    shallow = copy.deepcopy(config)
    for path in depths:
        _set_path(shallow, path, 1)
    total = base = _count_on_meta(model_class, shallow)
    for path, depth in depths.items():
        _set_path(shallow, path, 2)
        total += (_count_on_meta(model_class, shallow) - base) * (depth - 1)
        _set_path(shallow, path, 1)
    return total


def stored_parameter_count(folder: str | os.PathLike) -> int | None:
    """Elements in a folder's safetensors files, from their headers (None without local safetensors files)."""
    files = sorted(Path(folder).glob("*.safetensors")) if Path(folder).is_dir() else []
    if not files:
        return None
    total = 0
    for path in files:
        try:
            with open(path, "rb") as f:
                header = json.loads(f.read(int.from_bytes(f.read(8), "little")))
        except (OSError, ValueError, MemoryError, OverflowError):
            return None  # a corrupt file: the loader's own check names it
        for name, entry in header.items():
            if name != "__metadata__" and isinstance(entry, dict):
                count = 1
                for size in entry.get("shape", []):
                    count *= int(size)
                total += count
    return total


def check_config_fits(model_class, config, *, dtype: torch.dtype = torch.float32, what: str = "model",
                      folder: str | os.PathLike | None = None, available: int | None = None) -> int:
    """Raise a `ValueError` when `model_class(config)` would not fit in free memory at `dtype`, or (with `folder`)
    needs more parameters than the folder's weights hold. Returns the parameter count."""
    count = meta_parameter_count(model_class, config)
    stored = stored_parameter_count(folder) if folder is not None else None
    if stored is not None and count > 2 * stored + 1_000_000:  # strict loading needs every parameter in the file
        raise ValueError(
            f"{what}: its config describes {count:,} parameters but its weights hold {stored:,}; the config does not "
            f"belong to these weights ({_deepest_stack(config)})"
        )
    needed = count * torch.empty((), dtype=dtype).element_size()
    available = available_memory_bytes() if available is None else available
    if available is not None and needed > available:
        raise ValueError(
            f"{what}: its config describes {count:,} parameters ({needed / 2**30:.1f} GiB in {str(dtype)[6:]}), more "
            f"than the {available / 2**30:.1f} GiB of memory free; check the config's sizes ("
            f"{_deepest_stack(config)})"
        )
    return count


def check_config_json(name_or_path: str | os.PathLike) -> None:
    """Raise a `ValueError` when a local config file (or a folder's `config.json`) is not a JSON object."""
    config_file = Path(name_or_path) if Path(name_or_path).is_file() else Path(name_or_path) / "config.json"
    if not config_file.is_file():
        return
    try:
        values = json.loads(config_file.read_text())
    except ValueError as error:
        raise ValueError(f"{config_file} is not valid JSON ({error})") from None
    if not isinstance(values, dict):
        raise ValueError(f"{config_file} must hold a JSON object of config fields, got {type(values).__name__}")


def load_checked_config(config_class, model_class, name_or_path: str | os.PathLike, *,
                        dtype: torch.dtype = torch.float32, what: str | None = None, **kwargs: Any):
    """`config_class.from_pretrained(name_or_path)` after checking that a local `config.json` holds a JSON object,
    then `check_config_fits` (against the folder's weights too). Pass the result as `config=` to `from_pretrained`."""
    what = what or str(name_or_path)
    check_config_json(name_or_path)
    config = config_class.from_pretrained(name_or_path, **kwargs)
    folder = name_or_path if Path(name_or_path).is_dir() else None
    check_config_fits(model_class, config, dtype=dtype, what=what, folder=folder)
    return config
