"""What a corpus job embeds: the list of inputs, their names and the metadata carried to the output.

Accepted inputs (`list_embedding_inputs`):

* video or image files, and folders (searched recursively for the extensions of `VIDEO_EXTENSIONS` and
  `IMAGE_EXTENSIONS`, sorted by path; symlinked folders are followed, each real folder once, so a link loop ends;
  a folder that cannot be listed becomes an error row naming it);
* a CSV (header row) or JSONL manifest, UTF-8 (a byte-order mark, as Excel writes, is accepted): one row per video, a
  path column (`path_column`, default `path`; relative paths are relative to the manifest's folder) and any other
  columns, carried through to the output. JSONL rows may have different keys (the union is kept, in order of first
  appearance; a missing key is null). A CSV row with more fields than the header, or a JSONL line that is not an
  object, is refused naming its line;
* a local `datasets.Dataset` with a video column (`video_column`: a `Video` / `Image` feature or path strings); its
  other columns are carried through.

Carried columns whose names the job writes itself (`status`, `embedding`, `error`, ... see `RESERVED_COLUMNS`) are
renamed `<name>_metadata` with a warning, never dropped.

A path named on the command line that does not exist is an error (`FileNotFoundError`); a missing or unreadable file
listed inside a manifest or found in a folder is a bad input, reported per row by the job.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from transformers.utils import logging

logger = logging.get_logger(__name__)

__all__ = [
    "EmbeddingInputs", "RESERVED_COLUMNS", "UnreadableInput", "list_embedding_inputs", "path_bytes", "printable_path",
]

MANIFEST_SUFFIXES = (".csv", ".jsonl")
# Columns every output row has (plus `layer_<i>_embedding`): carried metadata must not take these names.
RESERVED_COLUMNS = ("path", "path_bytes", "status", "error", "num_video_frames", "frame_indices", "embedding", "tokens")


def printable_path(name: str) -> str:
    """`name` as valid UTF-8 text: the bytes of a file name that is not UTF-8 (held by Python as surrogate escapes)
    are written as `\\xff` escapes. Names that are UTF-8 are returned unchanged."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def path_bytes(name: str) -> bytes | None:
    """The exact bytes of a file name that is not valid UTF-8, None for any other name."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return os.fsencode(name)
    return None


@dataclass(frozen=True)
class UnreadableInput:
    """The source of an error row known before decoding (a folder that cannot be listed, a manifest row without a
    path): the job writes `reason` as the row's error."""

    path: str
    reason: str


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


def _scan_folder(folder: Path) -> list[str | UnreadableInput]:
    """Media files below `folder`, sorted. Symlinked folders are listed after the real tree, each real folder once
    (a link loop ends); a folder that cannot be listed is returned as an `UnreadableInput`, to get an error row."""
    suffixes = _media_suffixes()
    found: list[str | UnreadableInput] = []
    seen: set[str] = set()

    def unlistable(error: OSError) -> None:
        reason = f"{type(error).__name__}: cannot list this folder: {error.strerror or error}"
        found.append(UnreadableInput(os.fspath(error.filename), reason))

    queue = [os.fspath(folder)]
    while queue:
        for root, dirs, files in os.walk(queue.pop(0), onerror=unlistable):
            if os.path.realpath(root) in seen:  # a link back to a folder already listed
                dirs[:] = []
                continue
            seen.add(os.path.realpath(root))
            queue += sorted(os.path.join(root, d) for d in dirs if os.path.islink(os.path.join(root, d)))
            for name in files:
                path = os.path.join(root, name)
                if os.path.splitext(name)[1].lower() in suffixes:
                    found.append(path)  # a broken link too: its row says the file is missing
    found.sort(key=lambda f: f.path if isinstance(f, UnreadableInput) else f)
    if not found:
        raise FileNotFoundError(f"folder {folder} holds no video or image files (extensions {', '.join(suffixes)})")
    return found


def _open_text(path: Path):
    """A manifest opened as UTF-8, with or without the byte-order mark spreadsheet programs write."""
    return open(path, newline="" if path.suffix.lower() == ".csv" else None, encoding="utf-8-sig")


def _read_csv_rows(path: Path) -> list[dict[str, Any]]:
    rows = []
    with _open_text(path) as f:
        reader = csv.DictReader(f)
        header = reader.fieldnames or []
        repeated = sorted({name for name in header if header.count(name) > 1})
        if repeated:  # DictReader would keep the last of each: the others would be lost
            raise ValueError(f"{path}: the header names the column(s) {', '.join(map(repr, repeated))} more than once")
        for row in reader:
            if None in row:  # DictReader files fields past the header under the key None
                raise ValueError(
                    f"{path}: line {reader.line_num} has {len(reader.fieldnames or []) + len(row[None])} fields, the "
                    f"header {len(reader.fieldnames or [])} ({', '.join(reader.fieldnames or [])}); quote values "
                    "holding commas"
                )
            rows.append(row)
    return rows


def _read_jsonl_rows(path: Path) -> list[dict[str, Any]]:
    rows = []
    with _open_text(path) as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                raise ValueError(f"{path}: line {number} is not valid JSON ({error.msg})") from error
            if not isinstance(row, dict):
                raise ValueError(
                    f"{path}: line {number} is a JSON {type(row).__name__}, expected an object such as "
                    '{"path": "video.mp4"}'
                )
            rows.append(row)
    return rows


def _read_manifest_rows(path: Path) -> list[dict[str, Any]]:
    try:
        return _read_csv_rows(path) if path.suffix.lower() == ".csv" else _read_jsonl_rows(path)
    except csv.Error as error:  # a field over csv's size limit, ...
        raise ValueError(f"{path}: not a readable CSV file ({error})") from error
    except UnicodeDecodeError as error:
        raise ValueError(
            f"manifest {path} is not UTF-8 text (byte {error.object[error.start]:#04x} at offset {error.start}); "
            "save it as UTF-8"
        ) from error


def _columns(rows: list[dict[str, Any]]) -> list[str]:
    """Every key of every row, in order of first appearance (JSONL rows may differ)."""
    return list(dict.fromkeys(key for row in rows for key in row))


def _is_reserved(name: str) -> bool:
    return name in RESERVED_COLUMNS or re.fullmatch(r"layer_\d+_embedding", name) is not None


def _safe_metadata(metadata: dict[str, list]) -> dict[str, list]:
    """Carried columns with reserved names renamed `<name>_metadata` (with a warning), never dropped."""
    safe: dict[str, list] = {}
    for name, values in metadata.items():
        new = name
        while _is_reserved(new) or (new != name and new in metadata) or new in safe:
            new = f"{new}_metadata"
        if new != name:
            logger.warning(f"input column {name!r} has the name of a column the job writes; kept as {new!r}")
        safe[new] = values
    return safe


def _from_manifest(path: Path, path_column: str) -> EmbeddingInputs:
    rows = _read_manifest_rows(path)
    if not rows:
        raise ValueError(f"manifest {path} lists no videos")
    columns = _columns(rows)
    if path_column not in columns:
        raise ValueError(f"manifest {path} has no {path_column!r} column (columns: {columns}); pass --path-column")
    names, sources = [], []
    for number, row in enumerate(rows, start=1):
        name = str(row.get(path_column) or "")
        names.append(name if os.path.isabs(name) or not name else str(path.parent / name))
        reason = f"ValueError: manifest row {number} has no {path_column!r} value"
        sources.append(names[-1] if name else UnreadableInput("", reason))
    metadata = {c: [row.get(c) for row in rows] for c in columns if c != path_column}
    return EmbeddingInputs(sources=sources, names=names, metadata=_safe_metadata(metadata))


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
    return EmbeddingInputs(sources=_DatasetVideos(dataset, video_column), names=names,
                           metadata=_safe_metadata(metadata))


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
    sources: list[str | UnreadableInput] = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            sources.extend(_scan_folder(path))
        elif path.exists():
            sources.append(str(path))
        else:
            raise FileNotFoundError(f"input not found: {path}")
    names = [s.path if isinstance(s, UnreadableInput) else s for s in sources]
    return EmbeddingInputs(sources=sources, names=names)
