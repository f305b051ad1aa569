"""Decoding and preprocessing the clips of a corpus job, one video per item, in DataLoader workers.

Clip rule (`ClipSampling`): the video is cut into `clips_per_video` equal segments and one clip of `num_frames`
frames is read from each. Without `frame_step` the frames are spread evenly over the segment
(`evenly_spaced_indices`); with `frame_step=s` they are consecutive frames `s` apart, centred in the segment. A
video shorter than the clip repeats its last frame (one-frame files and images give a static clip), so every clip
has exactly `num_frames` frames and every video of a job the same token count.

An item that cannot be read (missing, empty, truncated, not a video, ...) is returned with its error instead of
pixels; the job records it and goes on.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from ..video.sampling import evenly_spaced_indices
from .inputs import UnreadableInput

__all__ = ["ClipSampling", "VideoClipItems", "collate_items", "worker_init"]


@dataclass(frozen=True)
class ClipSampling:
    """Which frames of a video a job reads (see the module docstring)."""

    num_frames: int = 16
    frame_step: int | None = None
    clips_per_video: int = 1

    def __post_init__(self):
        if self.num_frames < 1 or self.clips_per_video < 1:
            raise ValueError(
                f"`num_frames` and `clips_per_video` must be >= 1, got {self.num_frames} and {self.clips_per_video}"
            )
        if self.frame_step is not None and self.frame_step < 1:
            raise ValueError(f"`frame_step` must be >= 1 or None (evenly spaced), got {self.frame_step}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def indices(self, num_video_frames: int) -> list[np.ndarray]:
        """`clips_per_video` int64 arrays `[num_frames]` of frame indices in `[0, num_video_frames)`."""
        bounds = np.linspace(0, num_video_frames, self.clips_per_video + 1).astype(np.int64)
        clips = []
        for c in range(self.clips_per_video):
            start, stop = int(bounds[c]), max(int(bounds[c + 1]), int(bounds[c]) + 1)
            if self.frame_step is None:
                clips.append(evenly_spaced_indices(num_video_frames, self.num_frames, start, stop))
                continue
            span = (self.num_frames - 1) * self.frame_step + 1
            first = start + max(0, (stop - start - span) // 2)
            idx = first + np.arange(self.num_frames) * self.frame_step
            clips.append(np.minimum(idx, num_video_frames - 1).astype(np.int64))
        return clips


class VideoClipItems(torch.utils.data.Dataset):
    """Item `i` = the preprocessed clips of input `positions[i]`, or the reason it could not be read.

    Items are dicts: `position` (index into the job's inputs), `pixel_values` (float32 `[clips, T, 3, crop, crop]`
    or None), `frame_indices` (list of per-clip index lists), `num_video_frames`, `error` (None or a message).
    """

    def __init__(self, sources: Any, positions: list[int], sampling: ClipSampling, processor: Any):
        self.sources = sources
        self.positions = list(positions)
        self.sampling = sampling
        self.processor = processor

    def __len__(self) -> int:
        return len(self.positions)

    def _load(self, source: Any) -> tuple[torch.Tensor, list[np.ndarray], int]:
        from ..video.decoding import VideoReader

        with VideoReader(source) as reader:
            total = reader.metadata.num_frames
            indices = self.sampling.indices(total)
            frames = reader.get_frames(np.concatenate(indices))
        t = self.sampling.num_frames
        clips = [frames[i * t : (i + 1) * t] for i in range(len(indices))]
        return self.processor.preprocess_clips(clips)[0], indices, total  # one view: [clips, T, 3, crop, crop]

    def __getitem__(self, index: int) -> dict[str, Any]:
        position = self.positions[index]
        item: dict[str, Any] = {"position": position, "pixel_values": None, "frame_indices": None,
                                "num_video_frames": None, "error": None}
        source = self.sources[position]
        if isinstance(source, UnreadableInput):  # known before decoding: a folder not listable, a row without a path
            item["error"] = source.reason
            return item
        try:
            pixels, indices, total = self._load(source)
        except Exception as error:  # a bad file must never stop the job: the reason goes to its row
            item["error"] = _reason(error)
            return item
        item.update(pixel_values=pixels, frame_indices=[i.tolist() for i in indices], num_video_frames=total)
        return item


def _reason(error: Exception) -> str:
    """`Type: message`, without the file name a `VideoDecodeError` starts with (the row names the file)."""
    message = str(error)
    path = getattr(error, "path", None)
    if path and message.startswith(f"{path}: "):
        message = message[len(path) + 2 :]
    from .inputs import printable_path  # a message may quote a file name that is not UTF-8

    return f"{type(error).__name__}: {printable_path(message)}"


def collate_items(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Keep a batch as a list: videos are stacked later, by equal shape, for the forward pass."""
    return items


def worker_init(_worker_id: int) -> None:
    """One intra-op thread per DataLoader worker (the workers already run in parallel)."""
    torch.set_num_threads(1)
