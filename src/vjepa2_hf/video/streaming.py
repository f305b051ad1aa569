"""Streaming video corpora from WebDataset-style tar shards, split across processes and DataLoader workers.

A shard is a plain tar file; the files of one sample are adjacent and share a key (the member name up to the first
dot of its base name): `000042.mp4` (or any video / image extension), `000042.cls` (integer label, optional),
`000042.json` (metadata, optional). `write_video_shards` writes such shards; any WebDataset video shard works.

`VideoShardStream` is a torch `IterableDataset`. Every consumer (process `rank` of `world_size`, DataLoader worker
`w` of `W`) has the global id `rank * W + w` out of `world_size * W`:

* `split="shard"` (default): consumer `g` reads shards `order[g::world_size * W]`, where `order` is the shard list,
  shuffled the same way on every consumer with `seed + epoch`. Every sample is read exactly once per epoch. With fewer
  shards than consumers some consumers get nothing (warned), and ranks can get different sample counts when shards
  differ in size: keep shards many and of equal size, or use
* `split="sample"`: every consumer reads every shard and keeps the samples whose running position `k` satisfies
  `k % (world_size * W) == g` (exactly-once, balanced within one sample, costs reading all shards everywhere).

The rank and world size come from the arguments, else from Accelerate's `PartialState` when initialised, else from
`torch.distributed`, else from the `RANK` / `WORLD_SIZE` environment variables, else `(0, 1)`. Because this dataset
splits across processes itself, do not let `accelerator.prepare` split its DataLoader again: build the DataLoader
yourself (or pass `rank=0, world_size=1` and let Accelerate dispatch batches).

Bad samples are reported and skipped with a running count (`on_error="raise"` to stop instead). With the Hugging Face
Hub, `datasets.load_dataset(..., streaming=True)` + `datasets.distributed.split_dataset_by_node` is the equivalent
route; decode its undecoded video values with `load_video_sample`.
"""

from __future__ import annotations

import glob
import io
import json
import os
import tarfile
import zlib
from typing import Any, Iterable, Iterator, Sequence

import numpy as np
import torch
from transformers.utils import logging

from .bad_files import BAD_FILE_ERRORS, BadFileHandler
from .decoding import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS
from .sampling import ClipSampler
from .video_datasets import PIXEL_KEY, _sample_rngs, load_video_sample

logger = logging.get_logger(__name__)

__all__ = ["VideoShardStream", "distributed_rank_and_world_size", "iter_tar_samples", "write_video_shards"]

_MEDIA_EXTS = tuple(e.lstrip(".") for e in VIDEO_EXTENSIONS + IMAGE_EXTENSIONS)


def write_video_shards(
    samples: Iterable[tuple[str, int | None] | tuple[str, int | None, dict]],
    out_dir: str | os.PathLike,
    *,
    samples_per_shard: int = 100,
    prefix: str = "shard",
) -> list[str]:
    """Pack `(video_path, label[, metadata])` samples into tar shards `out_dir/{prefix}-{k:06d}.tar`.

    Keys are the running sample number (`000000`, `000001`, ...); each sample gets `<key>.<ext>` (the file's bytes),
    `<key>.cls` when the label is not None, and `<key>.json` with the metadata and the original path. Returns the
    shard paths.
    """
    if samples_per_shard < 1:
        raise ValueError(f"`samples_per_shard` must be >= 1, got {samples_per_shard}")
    out_dir = os.fspath(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    shards: list[str] = []
    tar = None

    def add(name: str, data: bytes) -> None:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        info.mtime = 0
        tar.addfile(info, io.BytesIO(data))

    n = 0
    for n, sample in enumerate(samples):
        path, label = sample[0], sample[1]
        meta = dict(sample[2]) if len(sample) > 2 else {}
        if n % samples_per_shard == 0:
            if tar is not None:
                tar.close()
            shards.append(os.path.join(out_dir, f"{prefix}-{len(shards):06d}.tar"))
            tar = tarfile.open(shards[-1], "w")
        key = f"{n:08d}"
        ext = os.path.splitext(os.fspath(path))[1].lstrip(".").lower() or "mp4"
        with open(path, "rb") as f:
            add(f"{key}.{ext}", f.read())
        if label is not None:
            add(f"{key}.cls", str(int(label)).encode())
        meta.setdefault("source_path", os.fspath(path))
        add(f"{key}.json", json.dumps(meta).encode())
    if tar is not None:
        tar.close()
    return shards


def _split_key(name: str) -> tuple[str, str]:
    d, base = os.path.split(name)
    if "." not in base:
        return name, ""
    stem, ext = base.split(".", 1)
    return (os.path.join(d, stem) if d else stem), ext.lower()


def iter_tar_samples(shard: str) -> Iterator[dict[str, Any]]:
    """Samples of a tar shard as dicts `{"__key__", "__shard__", <ext>: bytes, ...}` (streaming read)."""
    current: dict[str, Any] | None = None
    with tarfile.open(shard, "r|*") as tar:
        for member in tar:
            if not member.isfile():
                continue
            key, ext = _split_key(member.name)
            f = tar.extractfile(member)
            data = f.read() if f is not None else b""
            if current is not None and current["__key__"] != key:
                yield current
                current = None
            if current is None:
                current = {"__key__": key, "__shard__": shard}
            current[ext] = data
    if current is not None:
        yield current


def distributed_rank_and_world_size() -> tuple[int, int]:
    """(rank, world size) from Accelerate, torch.distributed or the environment; (0, 1) when not distributed."""
    try:
        from accelerate.state import PartialState

        if PartialState._shared_state:  # initialised by an Accelerator / PartialState in this process
            state = PartialState()
            return int(state.process_index), int(state.num_processes)
    except Exception:  # pragma: no cover - accelerate missing or not initialised
        pass
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


class VideoShardStream(torch.utils.data.IterableDataset):
    """Iterate decoded, transformed clips from tar shards (see the module docstring for the splitting rules).

    Args:
        shards: a glob pattern, a folder (all `*.tar` in it) or a list of shard paths.
        transform: see `apply_video_transform`.
        sampler: clip sampling (default `ClipSampler.pretraining()`).
        rank, world_size: override the detected distributed setting.
        split: `"shard"` or `"sample"`.
        shuffle_shards: shuffle the shard order each epoch (`seed + epoch`, same on every consumer).
        seed: base seed of the shard order and of each sample's random clip/augmentation (by sample key).
        on_error: `"skip"` or `"raise"` for bad samples.
        decode: False yields the raw sample dicts (no decoding), for inspection and tests.

    Yields `{"pixel_values_videos": tensor, "labels": int (when a .cls or a "label" in .json exists), "__key__",
    "__shard__"}`.
    """

    def __init__(
        self,
        shards: str | os.PathLike | Sequence[str],
        transform: Any = None,
        sampler: ClipSampler | None = None,
        *,
        rank: int | None = None,
        world_size: int | None = None,
        split: str = "shard",
        shuffle_shards: bool = True,
        seed: int = 0,
        on_error: str = "skip",
        max_consecutive_errors: int = 50,
        decode: bool = True,
    ):
        super().__init__()
        if isinstance(shards, (str, os.PathLike)):
            pattern = os.fspath(shards)
            if os.path.isdir(pattern):
                pattern = os.path.join(pattern, "*.tar")
            shard_list = sorted(glob.glob(pattern))
        else:
            shard_list = [os.fspath(s) for s in shards]
        if not shard_list:
            raise FileNotFoundError(f"no tar shards found for {shards!r}")
        if split not in ("shard", "sample"):
            raise ValueError(f"`split` must be 'shard' or 'sample', got {split!r}")
        if (rank is None) != (world_size is None):
            raise ValueError("give both `rank` and `world_size` or neither")
        if world_size is not None and not 0 <= rank < world_size:
            raise ValueError(f"need 0 <= rank < world_size, got rank={rank}, world_size={world_size}")
        self.shards = shard_list
        self.transform = transform
        self.sampler = sampler or ClipSampler.pretraining()
        self.rank, self.world_size = rank, world_size
        self.split = split
        self.shuffle_shards = shuffle_shards
        self.seed = int(seed)
        self.epoch = 0
        self.decode = decode
        self.bad_files = BadFileHandler(on_error, max_consecutive=max_consecutive_errors)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def consumer(self) -> tuple[int, int]:
        """(global consumer id, number of consumers) of the calling process / worker."""
        if self.world_size is not None:
            rank, world = self.rank, self.world_size
        else:
            rank, world = distributed_rank_and_world_size()
        info = torch.utils.data.get_worker_info()
        wid, nw = (info.id, info.num_workers) if info is not None else (0, 1)
        return rank * nw + wid, world * nw

    def shard_order(self) -> list[str]:
        order = list(self.shards)
        if self.shuffle_shards:
            perm = np.random.default_rng(self.seed + self.epoch).permutation(len(order))
            order = [order[i] for i in perm]
        return order

    def _decode_sample(self, sample: dict[str, Any]) -> dict[str, Any]:
        media_ext = next((e for e in sample if e.rsplit(".", 1)[-1] in _MEDIA_EXTS), None)
        name = f"{sample['__shard__']}:{sample['__key__']}"
        if media_ext is None:
            raise FileNotFoundError(f"{name}: no video or image file in the sample (members: {sorted(sample)})")
        key_seed = zlib.crc32(f"{os.path.basename(sample['__shard__'])}:{sample['__key__']}".encode("utf-8"))
        rng, g = _sample_rngs(self.seed, self.epoch, key_seed, 0)
        pixels, _ = load_video_sample(
            sample[media_ext], self.transform, self.sampler, rng=rng, generator=g, name=f"{name}.{media_ext}"
        )
        out: dict[str, Any] = {PIXEL_KEY: pixels, "__key__": sample["__key__"], "__shard__": sample["__shard__"]}
        meta = json.loads(sample["json"]) if "json" in sample else {}
        if "cls" in sample:
            out["labels"] = int(sample["cls"].decode().strip())
        elif "label" in meta:
            out["labels"] = int(meta["label"])
        return out

    def __iter__(self) -> Iterator[dict[str, Any]]:
        gid, total = self.consumer()
        order = self.shard_order()
        if self.split == "shard":
            mine = order[gid::total]
            if len(order) < total and gid == 0:
                logger.warning(
                    f"{len(order)} shards for {total} consumers (processes x workers): {total - len(order)} consumers "
                    "get no data; use more shards or split='sample'"
                )
        else:
            mine = order
        position = 0
        for shard in mine:
            try:
                samples = iter_tar_samples(shard)
                for sample in samples:
                    if self.split == "sample":
                        keep = position % total == gid
                        position += 1
                        if not keep:
                            continue
                    if not self.decode:
                        yield sample
                        continue
                    try:
                        out = self._decode_sample(sample)
                        self.bad_files.success()
                    except BAD_FILE_ERRORS as e:
                        self.bad_files.report(f"{shard}:{sample['__key__']}", e)
                        continue
                    yield out
            except (tarfile.TarError, OSError, EOFError) as e:
                self.bad_files.report(shard, e)
