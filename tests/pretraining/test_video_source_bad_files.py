"""The pretraining video source skips and reports bad files instead of stopping at the first one."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vjepa2_hf.pretraining.video_source import VideoClipSource
from vjepa2_hf.video.encoding import write_video


def _folder(tmp_path):
    for i in range(2):
        frames = np.full((12, 48, 48, 3), 40 * (i + 1), dtype=np.uint8)
        write_video(tmp_path / f"good_{i}.mp4", frames, fps=8)
    (tmp_path / "bad_empty.mp4").write_bytes(b"")
    (tmp_path / "bad_text.mp4").write_text("not a video")
    return tmp_path


def test_bad_files_are_skipped_replaced_and_counted(tmp_path):
    source = VideoClipSource(_folder(tmp_path), frames_per_clip=4, crop_size=32, train=False)
    assert [p.rsplit("/", 1)[1] for p in source.files] == ["bad_empty.mp4", "bad_text.mp4", "good_0.mp4", "good_1.mp4"]
    clips = [source[i] for i in range(len(source))]
    assert all(c.shape == (4, 3, 32, 32) and torch.isfinite(c).all() for c in clips)
    # rows 0 and 1 (bad) are replaced by the next readable file, good_0
    assert torch.equal(clips[0], clips[2]) and torch.equal(clips[1], clips[2]) and not torch.equal(clips[2], clips[3])
    assert source.bad_files.count == 3  # bad_empty (row 0) + bad_empty, bad_text (row 1)
    reported = {name.rsplit("/", 1)[1] for name, _ in source.bad_files.recent}
    assert reported == {"bad_empty.mp4", "bad_text.mp4"}


def test_raise_mode_and_all_bad(tmp_path):
    folder = _folder(tmp_path)
    strict = VideoClipSource(folder, frames_per_clip=4, crop_size=32, train=False, on_error="raise")
    with pytest.raises(ValueError, match="bad_empty.mp4: empty file"):
        strict[0]
    for good in folder.glob("good_*.mp4"):
        good.unlink()
    hopeless = VideoClipSource(folder, frames_per_clip=4, crop_size=32, train=False)
    with pytest.raises(ValueError, match="none of the 2 files"):
        hopeless[0]
