"""Training state on disk without pickles: tensors in safetensors, everything else in JSON.

`write_tree(tree, directory, stem)` stores a nested state (dicts, lists, tuples, numbers, strings, tensors, numpy
arrays) as ``stem.json`` (the structure, each tensor replaced by ``{"__tensor__": name}``) and
``stem.safetensors`` (the tensors, named by their path in the tree); `read_tree` rebuilds it. Reading never runs
code: `json` builds only plain values and safetensors only tensors, whatever the files hold.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

__all__ = ["read_tree", "save_tensors", "write_tree"]

_TENSOR, _ARRAY, _TUPLE, _PAIRS = "__tensor__", "__ndarray__", "__tuple__", "__pairs__"
# numpy arrays are stored as the torch dtype that holds their values exactly (safetensors has no uint32 in torch)
_ARRAY_STORAGE = {"uint16": torch.int32, "uint32": torch.int64}


def _encode(value: Any, path: str, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(value, torch.Tensor):
        tensors[path] = value
        return {_TENSOR: path}
    if isinstance(value, np.ndarray):
        dtype = _ARRAY_STORAGE.get(value.dtype.name)
        tensors[path] = torch.from_numpy(np.ascontiguousarray(value)).to(dtype) if dtype else torch.from_numpy(
            np.ascontiguousarray(value))
        return {_ARRAY: path, "dtype": value.dtype.name}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        if all(isinstance(k, str) for k in value):
            return {k: _encode(v, f"{path}/{k}", tensors) for k, v in value.items()}
        return {_PAIRS: [[_encode(k, f"{path}/key{i}", tensors), _encode(v, f"{path}/{i}", tensors)]
                         for i, (k, v) in enumerate(value.items())]}
    if isinstance(value, tuple):
        return {_TUPLE: [_encode(v, f"{path}/{i}", tensors) for i, v in enumerate(value)]}
    if isinstance(value, list):
        return [_encode(v, f"{path}/{i}", tensors) for i, v in enumerate(value)]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(
        f"cannot store {type(value).__name__} at {path!r} of a training state without pickle: state_dict() must "
        "return dicts, lists, numbers, strings and tensors"
    )


def _decode(value: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(value, list):
        return [_decode(v, tensors) for v in value]
    if not isinstance(value, dict):
        return value
    if _TENSOR in value:
        return tensors[value[_TENSOR]]
    if _ARRAY in value:
        return tensors[value[_ARRAY]].numpy().astype(value["dtype"])
    if _TUPLE in value:
        return tuple(_decode(v, tensors) for v in value[_TUPLE])
    if _PAIRS in value:
        return {_decode(k, tensors): _decode(v, tensors) for k, v in value[_PAIRS]}
    return {k: _decode(v, tensors) for k, v in value.items()}


def save_tensors(tensors: dict[str, torch.Tensor], path: str | os.PathLike) -> None:
    """`safetensors.torch.save_file` of CPU tensors; tensors sharing memory (views, tied weights) are copied."""
    seen: set[tuple[int, int]] = set()
    out = {}
    for name, tensor in tensors.items():
        tensor = tensor.detach().cpu()
        key = (tensor.untyped_storage().data_ptr(), tensor.untyped_storage().nbytes())
        shared = tensor.numel() > 0 and key in seen
        seen.add(key)
        out[name] = tensor.clone() if shared or not tensor.is_contiguous() else tensor
    save_file(out, str(path))


def write_tree(tree: Any, directory: str | os.PathLike, stem: str) -> None:
    """Write ``stem.json`` and ``stem.safetensors`` under `directory` (see the module docstring)."""
    tensors: dict[str, torch.Tensor] = {}
    structure = _encode(tree, stem, tensors)
    directory = Path(directory)
    save_tensors(tensors, directory / f"{stem}.safetensors")
    (directory / f"{stem}.json").write_text(json.dumps(structure), encoding="utf-8")


def read_tree(directory: str | os.PathLike, stem: str) -> Any:
    """The state written by `write_tree` (tensors on the CPU)."""
    directory = Path(directory)
    tensors = load_file(str(directory / f"{stem}.safetensors"))
    return _decode(json.loads((directory / f"{stem}.json").read_text(encoding="utf-8")), tensors)
