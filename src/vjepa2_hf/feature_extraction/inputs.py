"""What a corpus job embeds: the list of inputs, their names and the metadata carried to the output.

Accepted inputs (`list_embedding_inputs`):

* video or image files, and folders (searched recursively for the extensions of `VIDEO_EXTENSIONS` and
  `IMAGE_EXTENSIONS`, sorted by path);
* a CSV (header row) or JSONL manifest: one row per video, a path column (`path_column`, default `path`; relative
  paths are relative to the manifest's folder) and any other columns, carried through to the output;
* a local `datasets.Dataset` with a video column (`video_column`: a `Video` / `Image` feature or path strings); its
  other columns are carried through.

A path named on the command line that does not exist is an error (`FileNotFoundError`); a missing or unreadable file
listed inside a manifest or found in a folder is a bad input, reported per row by the job.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

__all__ = ["EmbeddingInputs", "list_embedding_inputs"]

MANIFEST_SUFFIXES = (".csv", ".jsonl")


@dataclass
class EmbeddingInputs:
    """The inputs of a job, in output order.

    Attributes:
        sources: what the decoder reads for each input (a path, or a `datasets` value `{"bytes", "path"}`); a
            sequence supporting `len` and indexing (a lazy column for a `datasets.Dataset`).
        names: the `path` written in each output row.
        metadata: carried columns, column name -> one value per input.
    """

    sources: Any
    names: list[str]
    metadata: dict[str, list] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.names)

    def fingerprint(self) -> str:
        """A hash of the names and metadata: a resumed job must list the same inputs."""
        digest = hashlib.sha256()
        for name in self.names:
            digest.update(name.encode("utf-8", "surrogateescape") + b"\0")
        digest.update(json.dumps(self.metadata, sort_keys=True, default=str).encode())
        return digest.hexdigest()[:16]


class _DatasetVideos:
    """The video column of a `datasets.Dataset`, read row by row (rows may embed the videos' bytes)."""

    def __init__(self, dataset, column: str):
        self.dataset, self.column = dataset, column

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> Any:
        return self.dataset[int(index)][self.column]


def _media_suffixes() -> tuple[str, ...]:
    from ..video.decoding import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS

    return tuple(VIDEO_EXTENSIONS) + tuple(IMAGE_EXTENSIONS)


def _scan_folder(folder: Path) -> list[str]:
    suffixes = _media_suffixes()
    files = sorted(str(p) for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in suffixes)
    if not files:
        raise FileNotFoundError(f"folder {folder} holds no video or image files (extensions {', '.join(suffixes)})")
    return files


def _read_manifest_rows(path: Path) -> list[dict[str, Any]]:
    if path.suffix.lower() == ".csv":
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        for number, row in enumerate(rows, start=2):
            if None in row:  # csv puts the fields beyond the header under the key None
                raise ValueError(f"{path}: row {number} has more fields than the header ({len(row) - 1} columns)")
        return rows
    rows = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as error:
                    raise ValueError(f"{path}: line {number} is not valid JSON ({error.msg})") from error
                if not isinstance(rows[-1], dict):
                    raise ValueError(f"{path}: line {number} must be a JSON object, got {type(rows[-1]).__name__}")
    return rows


def _from_manifest(path: Path, path_column: str) -> EmbeddingInputs:
    rows = _read_manifest_rows(path)
    if not rows:
        raise ValueError(f"manifest {path} lists no videos")
    columns = list(rows[0])
    if path_column not in columns:
        raise ValueError(f"manifest {path} has no {path_column!r} column (columns: {columns}); pass --path-column")
    names = []
    for row in rows:
        name = str(row.get(path_column) or "")
        names.append(name if os.path.isabs(name) or not name else str(path.parent / name))
    metadata = {c: [row.get(c) for row in rows] for c in columns if c != path_column}
    return EmbeddingInputs(sources=list(names), names=names, metadata=metadata)


def _from_dataset(dataset, video_column: str) -> EmbeddingInputs:
    from ..video.video_datasets import prepare_video_column

    dataset = prepare_video_column(dataset, video_column).with_format(None)
    if len(dataset) == 0:
        raise ValueError("the dataset has no rows")
    refs = dataset.select_columns([video_column])[video_column]
    names = []
    for i, value in enumerate(refs):
        path = value.get("path") if isinstance(value, dict) else value
        names.append(str(path) if path else f"row {i}")
    others = [c for c in dataset.column_names if c != video_column]
    metadata = {c: list(dataset[c]) for c in others}
    return EmbeddingInputs(sources=_DatasetVideos(dataset, video_column), names=names, metadata=metadata)


def list_embedding_inputs(
    inputs: str | os.PathLike | Sequence[str | os.PathLike] | Any,
    *,
    path_column: str = "path",
    video_column: str = "video",
) -> EmbeddingInputs:
    """The inputs of a job (see the module docstring), in a deterministic order."""
    if hasattr(inputs, "column_names") and hasattr(inputs, "features"):
        return _from_dataset(inputs, video_column)
    items = [inputs] if isinstance(inputs, (str, os.PathLike)) else list(inputs)
    if not items:
        raise ValueError("no inputs given: expected video files, folders, a CSV/JSONL manifest or a dataset")
    if len(items) == 1 and str(items[0]).lower().endswith(MANIFEST_SUFFIXES):
        path = Path(items[0])
        if not path.is_file():
            raise FileNotFoundError(f"manifest not found: {path}")
        return _from_manifest(path, path_column)
    names: list[str] = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            names.extend(_scan_folder(path))
        elif path.exists():
            names.append(str(path))
        else:
            raise FileNotFoundError(f"input not found: {path}")
    return EmbeddingInputs(sources=list(names), names=names)
