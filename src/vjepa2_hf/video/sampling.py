"""Clip sampling exactly as the official V-JEPA 2 `VideoDataset.loadvideo_decord` does it.

Rules (`src/datasets/video_dataset.py` of facebookresearch/vjepa2):

* Exactly one of `fps`, `duration`, `frame_step` sets the step between sampled frames. With `fps` (pretraining uses
  16 frames at 4 fps): `frame_step = ceil(video_fps) // fps` (7 at 30 fps, 6 at 25 fps). With `duration` (seconds):
  `frame_step = int(duration * ceil(video_fps) / frames_per_clip)`. `clip_len = frames_per_clip * frame_step`.
* The video is split into `num_clips` equal partitions (`partition_len = num_frames // num_clips`) and one clip is
  taken per partition (the "segments" of multi-clip evaluation).
* Long enough partition (`partition_len > clip_len`): end index `e` uniform in `[clip_len, partition_len)` when
  `random_clip_sampling` (training; also the official default at evaluation), else `e = clip_len` (the start of the
  partition); indices = `floor(clip(linspace(e - clip_len, e, frames_per_clip), e - clip_len, e - 1))` plus the
  partition offset. The effective step is `clip_len / (frames_per_clip - 1)`, slightly larger than `frame_step`.
* Short partition, `allow_clip_overlap=False`: `linspace(0, partition_len, partition_len // frame_step)` padded with the
  partition's last frame up to `frames_per_clip`, then the partition offset.
* Short partition, `allow_clip_overlap=True`: `clip(arange(frames_per_clip) * frame_step, 0, min(clip_len, n) - 1)`
  shifted by `i * ((n - clip_len) // (num_clips - 1))` when `n > clip_len`.
* A still image is a one-frame video: every index is 0 (a static clip).

Evenly spaced sampling (`evenly_spaced_indices`, used by `VJEPA2VideoProcessor(num_frames=...)`, the
video-classification pipeline and `embed_videos`): `T` indices `start + floor(i * L / T)` over a span of `L >= T`
frames; a span shorter than the clip (`L < T`, down to a one-frame file or an image) gives every frame once, then
repeats the last frame up to `T` (a 3-frame video asked for 8 frames reads frames `0 1 2 2 2 2 2 2`).

Deviations, all documented: a `frame_step` that would be 0 (a video slower than the target fps) is raised to 1 with a
warning (the official code asserts); a video with fewer frames than `num_clips` gets partitions of one frame, with
indices clipped to the last frame (the official code fails).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from transformers.utils import logging

from .decoding import VideoDecodeError, VideoMetadata, VideoReader

logger = logging.get_logger(__name__)

__all__ = [
    "ClipSampler",
    "LoadedClips",
    "VideoTooShortError",
    "compute_frame_step",
    "evenly_spaced_indices",
    "load_clips",
    "sample_clip_indices",
]


class VideoTooShortError(VideoDecodeError):
    """Raised with `filter_short_videos=True` when a video is shorter than one clip."""


def evenly_spaced_indices(num_video_frames: int, num_frames: int, start: int = 0, stop: int | None = None) -> np.ndarray:
    """`num_frames` frame indices spread evenly over `[start, stop)` of a `num_video_frames`-frame video.

    A span shorter than `num_frames` gives each of its frames once, then repeats its last frame (the short-video
    rule of the module docstring), so the result always has exactly `num_frames` indices.

    Returns:
        int64 array `[num_frames]`, values in `[0, num_video_frames)`.
    """
    if num_video_frames < 1 or num_frames < 1:
        raise ValueError(f"`num_video_frames` and `num_frames` must be >= 1, got {num_video_frames} and {num_frames}")
    stop = num_video_frames if stop is None else min(int(stop), num_video_frames)
    start = min(max(int(start), 0), num_video_frames - 1)
    length = max(stop - start, 1)
    if length >= num_frames:
        idx = start + (np.arange(num_frames) * (length / num_frames)).astype(np.int64)
    else:
        idx = start + np.minimum(np.arange(num_frames), length - 1)
    return idx.astype(np.int64).clip(0, num_video_frames - 1)


def compute_frame_step(
    video_fps: float,
    frames_per_clip: int,
    *,
    fps: float | None = None,
    duration: float | None = None,
    frame_step: int | None = None,
) -> int:
    """The official frame step (see the module docstring); exactly one of `fps`, `duration`, `frame_step`."""
    if sum(v is not None for v in (fps, duration, frame_step)) != 1:
        raise ValueError(
            f"exactly one of `fps`, `duration`, `frame_step` must be set, got fps={fps}, duration={duration}, "
            f"frame_step={frame_step}"
        )
    if frame_step is not None:
        step = int(frame_step)
    else:
        if not video_fps or video_fps <= 0:
            raise ValueError(f"`video_fps` must be positive to sample at a target fps or duration, got {video_fps}")
        vfps = math.ceil(video_fps)
        if duration is not None:
            step = int(duration * vfps / frames_per_clip)
        else:
            step = int(vfps // fps)
    if step <= 0:
        logger.warning_once(
            f"frame step computed as {step} (video at {video_fps} fps, fps={fps}, duration={duration}): using 1 "
            "(the official code would assert)"
        )
        step = 1
    return step


def sample_clip_indices(
    num_frames: int,
    video_fps: float | None = None,
    *,
    frames_per_clip: int = 16,
    fps: float | None = None,
    duration: float | None = None,
    frame_step: int | None = None,
    num_clips: int = 1,
    random_clip_sampling: bool = True,
    allow_clip_overlap: bool = False,
    filter_short_videos: bool = False,
    rng: np.random.Generator | int | None = None,
    path: str = "<video>",
) -> list[np.ndarray]:
    """Frame indices of `num_clips` clips of `frames_per_clip` frames (official rules, see the module docstring).

    Args:
        num_frames: frames in the video (1 for an image).
        video_fps: the video's average frame rate (needed with `fps` or `duration`).
        rng: numpy Generator (or seed) for the random clip position; None = a fresh unseeded generator.

    Returns:
        list of `num_clips` int64 arrays of shape `[frames_per_clip]`.
    """
    if num_frames < 1:
        raise ValueError(f"`num_frames` must be >= 1, got {num_frames}")
    if frames_per_clip < 1:
        raise ValueError(f"`frames_per_clip` must be >= 1, got {frames_per_clip}")
    if num_clips < 1:
        raise ValueError(f"`num_clips` must be >= 1, got {num_clips}")
    fpc = int(frames_per_clip)
    fstp = compute_frame_step(video_fps or 0.0, fpc, fps=fps, duration=duration, frame_step=frame_step)
    clip_len = fpc * fstp
    if filter_short_videos and num_frames < clip_len:
        raise VideoTooShortError(path, f"video of {num_frames} frames is shorter than one clip ({clip_len} frames)")
    if random_clip_sampling and not isinstance(rng, np.random.Generator):
        rng = np.random.default_rng(rng)

    partition_len = num_frames // num_clips
    if partition_len < 1:
        logger.warning_once(f"{path}: {num_frames} frames for {num_clips} clips; using one-frame partitions")
        partition_len = 1
    clips = []
    for i in range(num_clips):
        if partition_len > clip_len:
            end = clip_len
            if random_clip_sampling:
                end = int(rng.integers(clip_len, partition_len))
            start = end - clip_len
            idx = np.linspace(start, end, num=fpc)
            idx = np.clip(idx, start, end - 1).astype(np.int64)
            idx = idx + i * partition_len
        elif not allow_clip_overlap:
            n_lin = partition_len // fstp
            idx = np.linspace(0, partition_len, num=n_lin)
            idx = np.concatenate((idx, np.ones(fpc - n_lin) * partition_len))
            idx = np.clip(idx, 0, partition_len - 1).astype(np.int64)
            idx = idx + i * partition_len
        else:
            max_idx = min(clip_len, num_frames) - 1
            idx = np.clip(np.arange(fpc) * fstp, 0, max_idx).astype(np.int64)
            clip_step = 0
            if num_frames > clip_len:
                clip_step = (num_frames - clip_len) // (num_clips - 1)
            idx = idx + i * clip_step
        clips.append(np.clip(idx, 0, num_frames - 1).astype(np.int64))
    return clips


@dataclass
class ClipSampler:
    """Official clip-sampling settings bundled (see `sample_clip_indices`).

    With none of `fps`, `duration`, `frame_step` given, `fps=4` (pretraining). Presets: `ClipSampler.pretraining()` =
    16 frames at 4 fps, one random clip; `ClipSampler.evaluation()` = the SSv2
    ViT-L "16x2x3" protocol's temporal part: 16 frames, step 4, 2 segments (spatial views come from
    `MultiViewEvalTransform`).
    """

    frames_per_clip: int = 16
    fps: float | None = None
    duration: float | None = None
    frame_step: int | None = None
    num_clips: int = 1
    random_clip_sampling: bool = True
    allow_clip_overlap: bool = False
    filter_short_videos: bool = False

    def __post_init__(self):
        n_set = sum(v is not None for v in (self.fps, self.duration, self.frame_step))
        if n_set == 0:
            self.fps = 4  # the pretraining default
        elif n_set > 1:
            raise ValueError(
                f"exactly one of `fps`, `duration`, `frame_step` must be set, got fps={self.fps}, "
                f"duration={self.duration}, frame_step={self.frame_step}"
            )
        if self.frames_per_clip < 1 or self.num_clips < 1:
            raise ValueError(
                f"`frames_per_clip` and `num_clips` must be >= 1, got {self.frames_per_clip} and {self.num_clips}"
            )

    @classmethod
    def pretraining(cls, frames_per_clip: int = 16, fps: float = 4) -> "ClipSampler":
        return cls(frames_per_clip=frames_per_clip, fps=fps, random_clip_sampling=True)

    @classmethod
    def evaluation(
        cls, frames_per_clip: int = 16, frame_step: int = 4, num_segments: int = 2, random_clip_sampling: bool = True
    ) -> "ClipSampler":
        return cls(
            frames_per_clip=frames_per_clip,
            frame_step=frame_step,
            num_clips=num_segments,
            random_clip_sampling=random_clip_sampling,
            allow_clip_overlap=True,
        )

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    def __call__(
        self,
        num_frames: int,
        video_fps: float | None = None,
        rng: np.random.Generator | int | None = None,
        path: str = "<video>",
    ) -> list[np.ndarray]:
        return sample_clip_indices(
            num_frames,
            video_fps,
            frames_per_clip=self.frames_per_clip,
            fps=self.fps,
            duration=self.duration,
            frame_step=self.frame_step,
            num_clips=self.num_clips,
            random_clip_sampling=self.random_clip_sampling,
            allow_clip_overlap=self.allow_clip_overlap,
            filter_short_videos=self.filter_short_videos,
            rng=rng,
            path=path,
        )


@dataclass
class LoadedClips:
    """Clips read from one file: `clips[i]` is uint8 `[frames_per_clip, H, W, 3]`, `indices[i]` its frame indices."""

    clips: list[np.ndarray]
    indices: list[np.ndarray]
    metadata: VideoMetadata
    extra: dict[str, Any] = field(default_factory=dict)


def load_clips(
    path: str | os.PathLike,
    sampler: ClipSampler | None = None,
    rng: np.random.Generator | int | None = None,
) -> LoadedClips:
    """Sample clip indices with `sampler` (default: `ClipSampler.pretraining()`) and decode them (one pass)."""
    sampler = sampler or ClipSampler.pretraining()
    with VideoReader(path) as reader:
        md = reader.metadata
        indices = sampler(md.num_frames, md.fps, rng=rng, path=md.path)
        flat = np.concatenate(indices)
        frames = reader.get_frames(flat)
    fpc = sampler.frames_per_clip
    clips = [frames[i * fpc : (i + 1) * fpc] for i in range(len(indices))]
    return LoadedClips(clips=clips, indices=indices, metadata=md)
