"""Video datasets on top of 🤗 `datasets` and torch: build, decode on the fly, collate.

Building a `datasets.Dataset` of video references (decoding happens later, per sample):

* `dataset_from_folder(root)`: class subfolders (`root/<class>/<file>`), labels in sorted folder order (a `ClassLabel`).
* `dataset_from_csv(path)`: the official `path label` lines (space, tab or `::` separated; relative paths resolved
  against the CSV's folder or `root`).
* `dataset_from_synthetic(path, split)`: a folder written by `generate_motion_dataset`, with every attribute as a column.
* `prepare_video_column(dataset)`: a Hub / `datasets` dataset with a `Video` (or `Image`) column is cast to
  `decode=False`, so values stay `{"bytes", "path"}` and are decoded by our PyAV decoder (the `datasets` Video feature
  decodes through torchcodec, which needs a system FFmpeg).

Decoding and transforming on the fly:

* `VideoClipDataset(dataset, transform, sampler)`: a torch map-style dataset for the `Trainer` and `DataLoader`s with
  workers. `dataset[i]` = `{"pixel_values_videos": float32 [T, C, H, W], "labels": int}` (`[S*V, T, C, H, W]` for S
  temporal segments x V spatial views, segment-major). A bad file is reported and replaced by another random sample
  (the official `VideoDataset` behaviour) unless `on_error="raise"`. Random choices are drawn from
  `(seed, epoch, index)` so they do not depend on the number of workers; call `set_epoch` every epoch.
* `VideoClipTransform(transform, sampler)`: the same as a `datasets` `set_transform` / `with_transform` function;
  a bad row yields `pixel_values_videos = None`, which `VideoCollator` drops (with a warning). With the `Trainer`, pass
  `remove_unused_columns=False` (otherwise it drops the video column before the transform runs) or use
  `VideoClipDataset`.
* `VideoCollator()`: stacks `pixel_values_videos` and `labels` (picklable, so it works with DataLoader workers).
"""

from __future__ import annotations

import json
import os
import zlib
from typing import Any, Sequence

import numpy as np
import torch
from transformers.utils import logging

from .bad_files import BAD_FILE_ERRORS, BadFileHandler
from .decoding import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, VideoReader
from .sampling import ClipSampler
from .transforms import VideoTrainTransform

logger = logging.get_logger(__name__)

__all__ = [
    "VideoClipDataset",
    "VideoClipTransform",
    "VideoCollator",
    "apply_video_transform",
    "dataset_from_csv",
    "dataset_from_folder",
    "dataset_from_synthetic",
    "load_video_sample",
    "prepare_video_column",
]

VIDEO_COLUMN = "video"
LABEL_COLUMN = "label"
PIXEL_KEY = "pixel_values_videos"


# --------------------------------------------------------------------------------------------- building
def dataset_from_folder(
    root: str | os.PathLike,
    *,
    extensions: Sequence[str] = VIDEO_EXTENSIONS + IMAGE_EXTENSIONS,
    video_column: str = VIDEO_COLUMN,
    label_column: str = LABEL_COLUMN,
):
    """A `datasets.Dataset` with columns `video` (absolute path) and `label` (`ClassLabel` of the subfolder names,
    sorted) from `root/<class>/**/<file>`."""
    import datasets

    root = os.path.abspath(os.fspath(root))
    if not os.path.isdir(root):
        raise FileNotFoundError(f"`root` must be a folder of class subfolders, {root} does not exist")
    exts = tuple(e.lower() for e in extensions)
    classes = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)) and not d.startswith("."))
    paths, labels = [], []
    for ci, cls in enumerate(classes):
        for dirpath, dirnames, filenames in os.walk(os.path.join(root, cls)):
            dirnames.sort()
            for fn in sorted(filenames):
                if fn.lower().endswith(exts):
                    paths.append(os.path.join(dirpath, fn))
                    labels.append(ci)
    if not paths:
        raise ValueError(
            f"no video or image files ({', '.join(exts)}) found in class subfolders of {root}; expected "
            f"root/<class>/<file> (found subfolders: {classes[:10]})"
        )
    features = datasets.Features(
        {video_column: datasets.Value("string"), label_column: datasets.ClassLabel(names=classes)}
    )
    return datasets.Dataset.from_dict({video_column: paths, label_column: labels}, features=features)


def _split_line(line: str, delimiter: str | None) -> list[str]:
    if delimiter is not None:
        return line.rsplit(delimiter, 1)
    if "::" in line:
        return line.rsplit("::", 1)
    if "\t" in line:
        return line.rsplit("\t", 1)
    return line.rsplit(None, 1)


def dataset_from_csv(
    path: str | os.PathLike,
    *,
    root: str | os.PathLike | None = None,
    delimiter: str | None = None,
    video_column: str = VIDEO_COLUMN,
    label_column: str = LABEL_COLUMN,
):
    """A `datasets.Dataset` from an official-format list: one `<path> <label>` per line (space, tab or `::`).

    The path is everything before the last separator (so paths may contain spaces with tab or `::` files, and with
    space-separated files as long as the label has none). Integer labels are kept as integers; other labels become a
    `ClassLabel` of the sorted names. Relative paths are resolved against `root` (default: the CSV's folder). A header
    line `path label` (or `video label`) is skipped.
    """
    import datasets

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"CSV file not found: {path}")
    base = os.path.abspath(os.fspath(root)) if root is not None else os.path.dirname(os.path.abspath(path))
    videos, labels = [], []
    with open(path, encoding="utf-8") as f:
        for lineno, raw in enumerate(f, 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            parts = _split_line(line, delimiter)
            if len(parts) != 2 or not parts[0].strip():
                raise ValueError(f"{path}:{lineno}: expected '<path> <label>', got {line!r}")
            p, lab = parts[0].strip(), parts[1].strip()
            if lineno == 1 and p.lower() in ("path", "video", "file", "filename") and lab.lower() in ("label", "labels"):
                continue
            videos.append(p if os.path.isabs(p) or "://" in p else os.path.join(base, p))
            labels.append(lab)
    if not videos:
        raise ValueError(f"{path} has no '<path> <label>' lines")
    try:
        int_labels = [int(v) for v in labels]
        features = datasets.Features({video_column: datasets.Value("string"), label_column: datasets.Value("int64")})
        return datasets.Dataset.from_dict({video_column: videos, label_column: int_labels}, features=features)
    except ValueError:
        names = sorted(set(labels))
        features = datasets.Features(
            {video_column: datasets.Value("string"), label_column: datasets.ClassLabel(names=names)}
        )
        ids = [names.index(v) for v in labels]
        return datasets.Dataset.from_dict({video_column: videos, label_column: ids}, features=features)


def dataset_from_synthetic(
    path: str | os.PathLike,
    split: str = "train",
    *,
    label: str = "label",
    video_column: str = VIDEO_COLUMN,
):
    """A split (`"train"`, `"test"` or `"all"`) of a folder written by `generate_motion_dataset` as a
    `datasets.Dataset`: `video` (absolute path), `label` (the task label, or another attribute named by `label`, e.g.
    `"direction"`, `"speed_class"`, `"count"`, `"second_direction"`) and every scalar attribute as a column."""
    import datasets

    root = os.path.abspath(os.fspath(path))
    meta = os.path.join(root, "metadata.jsonl")
    if not os.path.isfile(meta):
        raise FileNotFoundError(f"{meta} not found: `path` must be a folder written by generate_motion_dataset")
    if split not in ("train", "test", "all"):
        raise ValueError(f"`split` must be 'train', 'test' or 'all', got {split!r}")
    rows = [json.loads(line) for line in open(meta, encoding="utf-8") if line.strip()]
    rows = [r for r in rows if split == "all" or r["split"] == split]
    if not rows:
        raise ValueError(f"no clips in split {split!r} of {root}")
    if label not in rows[0]:
        raise ValueError(f"`label` must be an attribute of the clips, one of {sorted(rows[0])}; got {label!r}")
    cols: dict[str, list] = {video_column: [os.path.join(root, r["path"]) for r in rows]}
    cols["label"] = [int(r[label]) for r in rows]
    for k, v in rows[0].items():
        if k in ("label", "path", "file_name", "objects", "background") or k in cols:
            continue
        if isinstance(v, (int, float, str, bool)) or v is None:
            cols[k] = [r.get(k) for r in rows]
    cols["objects"] = [json.dumps(r["objects"]) for r in rows]
    return datasets.Dataset.from_dict(cols)


def prepare_video_column(dataset, video_column: str = VIDEO_COLUMN):
    """Make `video_column` hold undecoded references our decoder reads: a `datasets.Video` / `Image` column is cast to
    `decode=False` (values `{"bytes": ..., "path": ...}`); string paths are left as they are."""
    import datasets

    if video_column not in dataset.column_names:
        raise ValueError(f"`video_column` {video_column!r} is not a column; columns: {dataset.column_names}")
    feature = dataset.features[video_column]
    video_cls = getattr(datasets, "Video", None)
    if video_cls is not None and isinstance(feature, video_cls) and feature.decode:
        return dataset.cast_column(video_column, video_cls(decode=False))
    if isinstance(feature, datasets.Image) and feature.decode:
        return dataset.cast_column(video_column, datasets.Image(decode=False))
    return dataset


# --------------------------------------------------------------------------------------------- decoding a sample
def apply_video_transform(transform: Any, clip: np.ndarray, generator: torch.Generator | None = None):
    """Apply a transform to one uint8 clip `[T, H, W, 3]`; returns a tensor `[T, C, H, W]` or a list of them (views).

    `transform` may be None (uint8 `[T, C, H, W]` tensor), a `VJEPA2VideoProcessor`, a `VideoTrainTransform` (gets the
    generator), a `MultiViewEvalTransform`, or any callable taking the numpy clip (a returned `BatchFeature` / dict is
    unpacked from `pixel_values_videos[0]`).
    """
    if transform is None:
        return torch.from_numpy(np.ascontiguousarray(clip)).permute(0, 3, 1, 2).contiguous()
    if isinstance(transform, VideoTrainTransform):
        return transform(clip, generator=generator)
    out = transform(clip)
    if isinstance(out, dict) or hasattr(out, "data") and isinstance(getattr(out, "data"), dict):
        out = out[PIXEL_KEY][0]
    return out


def _stack_views(outputs: list) -> torch.Tensor:
    flat = []
    for o in outputs:
        flat.extend(o if isinstance(o, (list, tuple)) else [o])
    flat = [torch.as_tensor(x) for x in flat]
    return flat[0] if len(flat) == 1 else torch.stack(flat)


def load_video_sample(
    source: Any,
    transform: Any = None,
    sampler: ClipSampler | None = None,
    *,
    rng: np.random.Generator | None = None,
    generator: torch.Generator | None = None,
    name: str | None = None,
) -> tuple[torch.Tensor, dict[str, Any]]:
    """Decode the clips of one file (`sampler`, default `ClipSampler.pretraining()`) and transform them.

    Returns:
        `(pixel_values, info)`: `[T, C, H, W]` for one clip and one view, else `[S*V, T, C, H, W]` (segment-major);
        `info` has `frame_indices` (list of arrays) and `metadata`.
    """
    sampler = sampler or ClipSampler.pretraining()
    with VideoReader(source, name=name) as reader:
        md = reader.metadata
        indices = sampler(md.num_frames, md.fps, rng=rng, path=md.path)
        frames = reader.get_frames(np.concatenate(indices))
    fpc = sampler.frames_per_clip
    outs = [apply_video_transform(transform, frames[i * fpc : (i + 1) * fpc], generator) for i in range(len(indices))]
    return _stack_views(outs), {"frame_indices": indices, "metadata": md}


def _sample_rngs(seed: int | None, epoch: int, index: int, attempt: int) -> tuple[np.random.Generator, torch.Generator]:
    if seed is None:
        rng = np.random.default_rng()
    else:
        rng = np.random.default_rng([int(seed), int(epoch), int(index), int(attempt)])
    g = torch.Generator()
    g.manual_seed(int(rng.integers(0, 2**62)))
    return rng, g


def _source_name(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("path") or "<bytes>")
    return str(value)


# --------------------------------------------------------------------------------------------- torch dataset
class _LazyColumn:
    """One column of a `datasets.Dataset`, read row by row."""

    def __init__(self, dataset, column: str):
        self.dataset = dataset
        self.column = column

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> Any:
        return self.dataset[int(index)][self.column]


class VideoClipDataset(torch.utils.data.Dataset):
    """Map-style dataset that decodes, samples and transforms videos on the fly.

    Args:
        data: a `datasets.Dataset` (with `video_column`, optional `label_column`), a list of paths, or a list of
            `(path, label)` pairs.
        transform: see `apply_video_transform` (e.g. `VideoTrainTransform(crop_size)` for training,
            `VJEPA2VideoProcessor(crop_size)` for evaluation).
        sampler: clip sampling (default `ClipSampler.pretraining()`).
        seed: base seed; sample `i` of epoch `e` uses `(seed, e, i)` whatever the number of workers. None = random.
        on_error: `"skip"` (report and load another random sample) or `"raise"`.
        max_consecutive_errors: see `BadFileHandler`.
        extra_columns: other columns of `data` to return with each sample.
    """

    def __init__(
        self,
        data: Any,
        transform: Any = None,
        sampler: ClipSampler | None = None,
        *,
        video_column: str = VIDEO_COLUMN,
        label_column: str | None = LABEL_COLUMN,
        seed: int | None = 0,
        on_error: str = "skip",
        max_consecutive_errors: int = 50,
        extra_columns: Sequence[str] = (),
    ):
        if hasattr(data, "column_names"):
            # Rows are read lazily (a Hub dataset may embed every video's bytes); labels and extras are small.
            data = prepare_video_column(data, video_column).with_format(None)
            self.videos = _LazyColumn(data, video_column)
            self.labels = data[label_column] if label_column and label_column in data.column_names else None
            missing = [c for c in extra_columns if c not in data.column_names]
            if missing:
                raise ValueError(f"`extra_columns` {missing} are not columns of `data` ({data.column_names})")
            self.extra = {c: data[c] for c in extra_columns}
        else:
            items = list(data)
            if items and isinstance(items[0], (tuple, list)):
                self.videos = [x[0] for x in items]
                self.labels = [x[1] for x in items]
            else:
                self.videos, self.labels = items, None
            if extra_columns:
                raise ValueError("`extra_columns` needs a `datasets.Dataset` as `data`")
            self.extra = {}
        if len(self.videos) == 0:
            raise ValueError("`data` is empty")
        self.transform = transform
        self.sampler = sampler or ClipSampler.pretraining()
        self.seed = seed
        self.epoch = 0
        self.bad_files = BadFileHandler(on_error, max_consecutive=max_consecutive_errors)

    def __len__(self) -> int:
        return len(self.videos)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def load(self, index: int, attempt: int = 0) -> dict[str, Any]:
        """Load sample `index` (no bad-file handling)."""
        rng, g = _sample_rngs(self.seed, self.epoch, index, attempt)
        pixels, info = load_video_sample(self.videos[index], self.transform, self.sampler, rng=rng, generator=g)
        out: dict[str, Any] = {PIXEL_KEY: pixels}
        if self.labels is not None:
            out["labels"] = self.labels[index]
        for k, v in self.extra.items():
            out[k] = v[index]
        return out

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for a dataset of {len(self)} videos")
        index = index % len(self)
        current, attempt = index, 0
        while True:
            try:
                out = self.load(current, attempt)
                self.bad_files.success()
                return out
            except BAD_FILE_ERRORS as e:
                self.bad_files.report(_source_name(self.videos[current]), e)
                attempt += 1
                rng, _ = _sample_rngs(self.seed, self.epoch, index, 10_000 + attempt)
                current = int(rng.integers(len(self)))


# --------------------------------------------------------------------------------------------- datasets transform
class VideoClipTransform:
    """A `datasets` `set_transform` / `with_transform` function: `{"video": [...], "label": [...]}` ->
    `{"pixel_values_videos": [tensor | None, ...], "labels": [...]}` (plus `keep_columns`).

    Bad rows give `None` (reported with a running count, or raised with `on_error="raise"`); `VideoCollator` drops them.
    Without a seed the random clip position and augmentation differ at every access (training); with a seed they are a
    function of the row's video and the seed.
    """

    def __init__(
        self,
        transform: Any = None,
        sampler: ClipSampler | None = None,
        *,
        video_column: str = VIDEO_COLUMN,
        label_column: str | None = LABEL_COLUMN,
        keep_columns: Sequence[str] = (),
        seed: int | None = None,
        on_error: str = "skip",
        max_consecutive_errors: int = 50,
    ):
        self.transform = transform
        self.sampler = sampler or ClipSampler.pretraining()
        self.video_column = video_column
        self.label_column = label_column
        self.keep_columns = tuple(keep_columns)
        self.seed = seed
        self.bad_files = BadFileHandler(on_error, max_consecutive=max_consecutive_errors)

    def __call__(self, batch: dict[str, list]) -> dict[str, list]:
        if self.video_column not in batch:
            raise ValueError(
                f"column {self.video_column!r} missing from the batch (columns: {sorted(batch)}); with the Trainer set "
                "remove_unused_columns=False"
            )
        videos = batch[self.video_column]
        pixels: list[Any] = []
        for j, v in enumerate(videos):
            key = zlib.crc32(_source_name(v).encode("utf-8"))
            rng, g = _sample_rngs(self.seed, 0, key, 0)
            try:
                p, _ = load_video_sample(v, self.transform, self.sampler, rng=rng, generator=g)
                self.bad_files.success()
            except BAD_FILE_ERRORS as e:
                self.bad_files.report(_source_name(v), e)
                p = None
            pixels.append(p)
        out: dict[str, list] = {PIXEL_KEY: pixels}
        if self.label_column and self.label_column in batch:
            out["labels"] = list(batch[self.label_column])
        for c in self.keep_columns:
            out[c] = list(batch[c])
        return out


# --------------------------------------------------------------------------------------------- collator
class VideoCollator:
    """Collate samples into `{"pixel_values_videos": [B, ...], "labels": LongTensor [B], ...}`.

    Samples whose `pixel_values_videos` is None (bad files from `VideoClipTransform`) are dropped with a warning; a
    batch with no good sample raises. `label` is renamed to `labels`. Other tensor fields are stacked, numbers become
    tensors, anything else is returned as a list.
    """

    def __init__(self, pixel_key: str = PIXEL_KEY, label_key: str = "labels"):
        self.pixel_key = pixel_key
        self.label_key = label_key
        self.dropped = 0

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, Any]:
        good = [f for f in features if f is not None and f.get(self.pixel_key) is not None]
        if len(good) < len(features):
            self.dropped += len(features) - len(good)
            logger.warning(
                f"dropped {len(features) - len(good)} sample(s) that failed to load from a batch of {len(features)} "
                f"[{self.dropped} dropped so far]"
            )
        if not good:
            raise ValueError(f"none of the {len(features)} samples of this batch could be loaded (all bad files)")
        batch: dict[str, Any] = {}
        shapes = {tuple(torch.as_tensor(f[self.pixel_key]).shape) for f in good}
        if len(shapes) != 1:
            raise ValueError(f"cannot batch `{self.pixel_key}` of different shapes {sorted(shapes)}")
        batch[self.pixel_key] = torch.stack([torch.as_tensor(f[self.pixel_key]) for f in good])
        for key in good[0]:
            if key == self.pixel_key:
                continue
            values = [f[key] for f in good]
            out_key = self.label_key if key in ("label", "labels") else key
            if out_key == self.label_key:
                batch[out_key] = torch.as_tensor(values, dtype=torch.long)
            elif isinstance(values[0], torch.Tensor):
                batch[out_key] = torch.stack(values)
            elif isinstance(values[0], (int, float, bool, np.integer, np.floating)):
                batch[out_key] = torch.as_tensor(values)
            else:
                batch[out_key] = values
        return batch
