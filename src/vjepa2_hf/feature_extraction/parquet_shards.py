"""The on-disk layout of a corpus job: Parquet shards written atomically, the job file, the manifest, the errors.

```
output_dir/
  .lock             held by the running job (`job_lock.JobLock`): a second job on the folder is refused
  job.json          settings and input fingerprint (a rerun must match it to resume, once a shard exists)
  data/shard-00000.parquet, shard-00001.parquet, ...   one row per input, in input order
  errors.jsonl      one line per bad input: {"path", "error"} (+ "path_bytes_hex" for a name that is not UTF-8)
  manifest.json     shards, row counts, settings, timing (written when every shard exists)
```

Shard `k` holds inputs `[k * shard_size, (k + 1) * shard_size)` whichever process writes it, so the folder is the
same for any number of processes. A shard is written to `data/.shard-k.parquet.tmp.<pid>` (hidden: `datasets`
ignores it; the pid keeps two writers apart), flushed to disk, then renamed: a killed job leaves whole shards and at
most one stale temporary file per process, which the rerun deletes.
`datasets.load_dataset("parquet", data_dir="output_dir/data")` loads the rows.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "ShardLayout",
    "nested_list_array",
    "read_job_file",
    "write_json_atomic",
    "write_table_atomic",
]


class ShardLayout:
    """Paths of a job's output folder and the input range of each shard."""

    def __init__(self, output_dir: str | os.PathLike, num_inputs: int, shard_size: int):
        if shard_size < 1:
            raise ValueError(f"`shard_size` must be >= 1, got {shard_size}")
        self.root = Path(output_dir)
        self.data = self.root / "data"
        self.num_inputs = int(num_inputs)
        self.shard_size = int(shard_size)
        self.num_shards = max(1, -(-self.num_inputs // self.shard_size))

    def shard_path(self, k: int) -> Path:
        return self.data / f"shard-{k:05d}.parquet"

    def temp_path(self, k: int) -> Path:
        return self.data / f".shard-{k:05d}.parquet.tmp.{os.getpid()}"

    def stale_temp_paths(self, k: int) -> list[Path]:
        """Temporary files of shard `k` left by killed runs (any pid)."""
        return sorted(self.data.glob(f".shard-{k:05d}.parquet.tmp*"))

    def any_done(self) -> bool:
        return any(self.done(k) for k in range(self.num_shards))

    def positions(self, k: int) -> list[int]:
        return list(range(k * self.shard_size, min((k + 1) * self.shard_size, self.num_inputs)))

    def done(self, k: int) -> bool:
        return self.shard_path(k).is_file()

    def shards_of_rank(self, rank: int, world_size: int) -> list[int]:
        """Round-robin split: shard `k` belongs to process `k % world_size`."""
        return [k for k in range(self.num_shards) if k % world_size == rank]

    def all_done(self) -> bool:
        return all(self.done(k) for k in range(self.num_shards))


def _fsync_replace(tmp: Path, final: Path) -> None:
    os.replace(tmp, final)
    try:  # make the rename itself durable
        fd = os.open(final.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:  # pragma: no cover - some file systems refuse fsync on folders
        pass


def write_table_atomic(table, final: Path, tmp: Path) -> None:
    """Write a pyarrow table to `tmp`, flush it to disk, then rename it to `final`."""
    import pyarrow.parquet as pq

    tmp.parent.mkdir(parents=True, exist_ok=True)
    with open(tmp, "wb") as f:
        pq.write_table(table, f)
        f.flush()
        os.fsync(f.fileno())
    _fsync_replace(tmp, final)


def write_json_atomic(data: Any, final: Path) -> None:
    tmp = final.parent / f".{final.name}.tmp.{os.getpid()}"
    final.parent.mkdir(parents=True, exist_ok=True)
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")
        f.flush()
        os.fsync(f.fileno())
    _fsync_replace(tmp, final)


def read_job_file(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"{path} is not a readable job file ({error}); remove it or pass overwrite") from error


def nested_list_array(values: list[np.ndarray | None], ndim: int):
    """A pyarrow list array (`ndim` levels of lists of float32) from arrays of `ndim` dims or None (null)."""
    import pyarrow as pa

    offsets, mask, present = [0], [], []
    for v in values:
        if v is None:
            offsets.append(offsets[-1])
            mask.append(True)
        else:
            offsets.append(offsets[-1] + len(v))
            mask.append(False)
            present.append(v)
    if ndim == 1:
        flat = np.concatenate([np.asarray(v, np.float32).reshape(-1) for v in present]) if present else []
        child = pa.array(np.asarray(flat, dtype=np.float32), type=pa.float32())
    else:
        child = nested_list_array([row for v in present for row in v], ndim - 1)
    return pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), child, mask=pa.array(mask, pa.bool_()))


def list_type(ndim: int):
    import pyarrow as pa

    t = pa.float32()
    for _ in range(ndim):
        t = pa.list_(t)
    return t
