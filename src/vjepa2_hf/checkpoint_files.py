"""Recognising truncated or corrupt weight files before a loader fails on them with a message that names neither.

A `.safetensors` file is an 8-byte little-endian header length, a JSON header giving every tensor's byte range, then
the data; a download or copy cut short leaves a file shorter than the header says, which `check_safetensors_file`
detects by reading the header only (cheap for any file size). `describe_torch_file` tells a PyTorch checkpoint (a
zip archive written by `torch.save`, or a legacy pickle) from a file that is neither.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

__all__ = ["check_model_folder", "check_safetensors_file", "describe_torch_file"]

_MAX_HEADER = 100 * 1024 * 1024  # safetensors' own limit on the header size


def check_safetensors_file(path: str | os.PathLike) -> None:
    """Raise `ValueError` naming `path` when it is truncated or corrupt (reads the header only)."""
    path = Path(path)
    size = path.stat().st_size
    if size < 8:
        raise ValueError(f"{path} is truncated or corrupt: {size} bytes, shorter than a safetensors header")
    with open(path, "rb") as f:
        header_len = int.from_bytes(f.read(8), "little")
        if header_len > min(size - 8, _MAX_HEADER):
            raise ValueError(
                f"{path} is truncated or corrupt: its header claims {header_len} bytes but the file has {size}"
            )
        try:
            header = json.loads(f.read(header_len))
            ends = [int(v["data_offsets"][1]) for k, v in header.items() if k != "__metadata__"]
        except (ValueError, KeyError, TypeError, IndexError, AttributeError) as error:
            raise ValueError(f"{path} is corrupt: its safetensors header is not valid ({error})") from error
    expected = 8 + header_len + max(ends, default=0)
    if size < expected:
        raise ValueError(
            f"{path} is truncated: {size} bytes, its header describes {expected} (missing {expected - size} bytes); "
            "download or copy it again"
        )
    if size > expected:
        raise ValueError(f"{path} is corrupt: {size} bytes, its header describes {expected}")


def check_model_folder(folder: str | os.PathLike) -> None:
    """`check_safetensors_file` on `model.safetensors` or on every shard a `model.safetensors.index.json` lists."""
    folder = Path(folder)
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        try:
            shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        except (ValueError, KeyError, TypeError) as error:
            raise ValueError(f"{index} is corrupt ({error})") from error
        for shard in shards:
            if (folder / shard).is_file():
                check_safetensors_file(folder / shard)
    elif (folder / "model.safetensors").is_file():
        check_safetensors_file(folder / "model.safetensors")


def describe_torch_file(path: str | os.PathLike) -> str:
    """`"zip"` (a `torch.save` archive), `"legacy"` (an old pickle checkpoint) or `"other"`, from the first bytes."""
    with open(path, "rb") as f:
        head = f.read(4)
    if head.startswith(b"PK\x03\x04"):
        return "zip"
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return "legacy"
    return "other"
