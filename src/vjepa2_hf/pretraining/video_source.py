"""A pretraining source of video (and image) files, decoded and augmented by `vjepa2_hf.video`.

``path`` may be:

* a CSV in the official format (``<path> <label>`` per line, space separated, no header; relative paths are relative
  to the CSV's folder) — the ``datasets:`` entries of the official configs;
* a folder written by ``vjepa2-hf synth`` (its ``train.csv`` is used);
* any folder: every video / image file below it.

Clips are sampled as the official ``VideoDataset`` (``ClipSampler.pretraining``: ``frames_per_clip`` frames at
``fps``, 4 by default) and augmented with the official training transform (random resized crop, horizontal flip,
ImageNet normalisation). Images become static clips (the frame repeated), as the official dataset does. Randomness
comes from the global RNGs, which the pretraining loader seeds per sample from ``(seed, step, row)``.

Bad files (missing, empty, truncated, not a video) are skipped: each is logged with a running count
(``VideoClipSource.bad_files``, a `BadFileHandler`) and replaced by the next file of the list, so a run never stops on
one; ``max_consecutive_errors`` files failing in a row (a wrong folder, a dead mount) still stop it, and
``on_error="raise"`` stops at the first.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

__all__ = ["VideoClipSource", "list_video_files"]


def list_video_files(path: str | os.PathLike) -> list[str]:
    """The files of a source: from a CSV (official format), a ``vjepa2-hf synth`` folder or a folder scan."""
    from ..video.decoding import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS

    path = Path(path).expanduser()
    if path.is_dir() and (path / "train.csv").is_file() and (path / "dataset_info.json").is_file():
        path = path / "train.csv"
    if path.is_file():
        files = []
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if not line.strip():
                continue
            name = line.strip().split(" ")[0]
            file = Path(name) if os.path.isabs(name) else path.parent / name
            files.append(str(file))
        if not files:
            raise ValueError(f"data source {str(path)!r} lists no files (expected `<path> <label>` lines)")
        return files
    if path.is_dir():
        suffixes = tuple(VIDEO_EXTENSIONS) + tuple(IMAGE_EXTENSIONS)
        files = sorted(str(p) for p in path.rglob("*") if p.is_file() and p.suffix.lower() in suffixes)
        if not files:
            raise ValueError(f"data source folder {str(path)!r} holds no video or image files ({suffixes})")
        return files
    raise FileNotFoundError(f"data source {str(path)!r} is neither a CSV file nor a folder")


class VideoClipSource(Dataset):
    """Clips ``[frames_per_clip, 3, crop_size, crop_size]`` (ImageNet-normalised float32) from video / image files."""

    def __init__(
        self,
        path: str | os.PathLike,
        frames_per_clip: int,
        crop_size: int,
        fps: float | None = None,
        train: bool = True,
        random_resized_crop_scale: tuple[float, float] = (0.3, 1.0),
        random_resized_crop_ratio: tuple[float, float] = (0.75, 1.35),
        horizontal_flip: bool = True,
        on_error: str = "skip",
        max_consecutive_errors: int = 50,
    ):
        from ..video.bad_files import BadFileHandler
        from ..video.sampling import ClipSampler
        from ..video.transforms import VideoTrainTransform

        self.files = list_video_files(path)
        self.frames_per_clip = int(frames_per_clip)
        self.sampler = ClipSampler.pretraining(frames_per_clip=self.frames_per_clip, fps=fps or 4)
        self.transform = VideoTrainTransform(
            crop_size,
            random_resize_scale=tuple(random_resized_crop_scale) if train else (1.0, 1.0),
            random_resize_aspect_ratio=tuple(random_resized_crop_ratio) if train else (1.0, 1.0),
            random_horizontal_flip=horizontal_flip and train,
        )
        self.bad_files = BadFileHandler(on_error, max_consecutive=max_consecutive_errors)

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> torch.Tensor:
        from ..video.bad_files import BAD_FILE_ERRORS

        for attempt in range(len(self.files)):
            current = (index + attempt) % len(self.files)
            try:
                clip = self._load(current)
            except BAD_FILE_ERRORS as error:
                self.bad_files.report(self.files[current], error)
                continue
            self.bad_files.success()
            return clip
        raise ValueError(f"none of the {len(self.files)} files of this source could be read")

    def _load(self, index: int) -> torch.Tensor:
        from ..video.sampling import load_clips

        rng = np.random.default_rng(int(np.random.randint(0, 2**31 - 1)))
        loaded = load_clips(self.files[index], self.sampler, rng=rng)
        frames = loaded.clips[0]
        if frames.shape[0] != self.frames_per_clip:  # an image (one frame): a static clip
            frames = np.repeat(frames[:1], self.frames_per_clip, axis=0)
        return self.transform(frames, generator=int(torch.randint(0, 2**31 - 1, ())))
