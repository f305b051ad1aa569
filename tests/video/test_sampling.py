"""Clip sampling: the official index rules, checked on hand-computed cases and on decoded bar-coded videos."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from vjepa2_hf.video.decoding import read_video
from vjepa2_hf.video.sampling import (
    ClipSampler,
    VideoTooShortError,
    compute_frame_step,
    load_clips,
    sample_clip_indices,
)
from vjepa2_hf.video.synthetic import decode_index_barcode

from video_helpers import make_index_video


def _official_loop(n, fstp, fpc, num_clips, random_clip_sampling, allow_clip_overlap, rng):
    """A literal transcription of the official `loadvideo_decord` index loop (np.random.randint -> rng.integers)."""
    clip_len = int(fpc * fstp)
    partition_len = n // num_clips
    out = []
    for i in range(num_clips):
        if partition_len > clip_len:
            end_indx = clip_len
            if random_clip_sampling:
                end_indx = rng.integers(clip_len, partition_len)
            start_indx = end_indx - clip_len
            indices = np.linspace(start_indx, end_indx, num=fpc)
            indices = np.clip(indices, start_indx, end_indx - 1).astype(np.int64)
            indices = indices + i * partition_len
        else:
            if not allow_clip_overlap:
                indices = np.linspace(0, partition_len, num=partition_len // fstp)
                indices = np.concatenate((indices, np.ones(fpc - partition_len // fstp) * partition_len))
                indices = np.clip(indices, 0, partition_len - 1).astype(np.int64)
                indices = indices + i * partition_len
            else:
                max_idx = min(clip_len, n) - 1
                indices = np.clip(np.arange(fpc) * fstp, 0, max_idx).astype(np.int64)
                clip_step = 0
                if n > clip_len:
                    clip_step = (n - clip_len) // (num_clips - 1)
                indices = indices + i * clip_step
        out.append(indices)
    return out


@pytest.mark.parametrize("video_fps,expected", [(30, 7), (29.97, 7), (25, 6), (24, 6), (60, 15), (8, 2)])
def test_frame_step_official_rule(video_fps, expected):
    assert compute_frame_step(video_fps, 16, fps=4) == expected


def test_frame_step_duration_and_validation():
    assert compute_frame_step(30, 16, duration=2.0) == 3  # int(2 * 30 / 16)
    assert compute_frame_step(30, 16, frame_step=5) == 5
    assert compute_frame_step(2, 16, fps=4) == 1  # slower than the target fps: 0 raised to 1 (documented)
    with pytest.raises(ValueError, match="exactly one"):
        compute_frame_step(30, 16, fps=4, frame_step=2)
    with pytest.raises(ValueError, match="exactly one"):
        ClipSampler(fps=4, duration=1.0)
    assert ClipSampler().fps == 4  # pretraining default


def test_pretraining_indices_hand_computed():
    # 300 frames at 30 fps, 16 frames at 4 fps: step 7, clip_len 112; deterministic position = start of the video.
    clips = sample_clip_indices(300, 30, frames_per_clip=16, fps=4, random_clip_sampling=False)
    assert len(clips) == 1
    expected = np.floor(np.clip(np.linspace(0, 112, 16), 0, 111)).astype(int)
    assert clips[0].tolist() == expected.tolist() == [0, 7, 14, 22, 29, 37, 44, 52, 59, 67, 74, 82, 89, 97, 104, 111]


def test_short_video_is_padded_with_last_frame():
    clips = sample_clip_indices(50, 30, frames_per_clip=16, fps=4, random_clip_sampling=False)
    assert clips[0].tolist() == [0, 8, 16, 25, 33, 41, 49] + [49] * 9
    one = sample_clip_indices(1, 30, frames_per_clip=16, fps=4)
    assert one[0].tolist() == [0] * 16
    with pytest.raises(VideoTooShortError, match="shorter than one clip"):
        sample_clip_indices(50, 30, frames_per_clip=16, fps=4, filter_short_videos=True, path="v.mp4")


def test_random_position_range_and_determinism():
    ends = set()
    for seed in range(200):
        idx = sample_clip_indices(300, 30, frames_per_clip=16, fps=4, rng=seed)[0]
        start, last = int(idx[0]), int(idx[-1])
        end = start + 112
        assert 112 <= end < 300 and last == end - 1
        ends.add(end)
        assert np.array_equal(idx, sample_clip_indices(300, 30, frames_per_clip=16, fps=4, rng=seed)[0])
    assert len(ends) > 100  # positions really vary


@pytest.mark.parametrize(
    "n,fstp,fpc,num_clips,rand,overlap",
    [
        (300, 7, 16, 1, True, False),
        (300, 4, 16, 2, False, True),
        (300, 4, 16, 2, True, True),
        (40, 4, 16, 2, True, True),
        (100, 4, 16, 3, True, True),
        (90, 2, 16, 3, False, False),
        (20, 3, 8, 2, True, False),
        (1000, 2, 64, 2, True, True),
    ],
)
def test_matches_official_loop(n, fstp, fpc, num_clips, rand, overlap):
    for seed in range(5):
        ours = sample_clip_indices(
            n, 30, frames_per_clip=fpc, frame_step=fstp, num_clips=num_clips, random_clip_sampling=rand,
            allow_clip_overlap=overlap, rng=np.random.default_rng(seed),
        )
        ref = _official_loop(n, fstp, fpc, num_clips, rand, overlap, np.random.default_rng(seed))
        assert [c.tolist() for c in ours] == [c.tolist() for c in ref]


def test_multi_clip_segments():
    clips = ClipSampler.evaluation(random_clip_sampling=False)(300, 30)
    assert len(clips) == 2
    base = np.floor(np.clip(np.linspace(0, 64, 16), 0, 63)).astype(int)
    assert clips[0].tolist() == base.tolist() and clips[1].tolist() == (base + 150).tolist()
    rand = ClipSampler.evaluation()(300, 30, rng=0)
    assert 0 <= rand[0][0] and rand[0][-1] < 150 <= rand[1][0] and rand[1][-1] < 300


# ------------------------------------------------------------------------------------ on decoded videos
def test_decoded_frames_are_the_sampled_indices(video_dir):
    path = make_index_video(video_dir / "sample300.mp4", 300, fps=30, gop_size=30)
    for seed in range(3):
        loaded = load_clips(path, ClipSampler.pretraining(), rng=seed)
        assert len(loaded.clips) == 1 and loaded.clips[0].shape == (16, 32, 64, 3)
        assert np.array_equal(decode_index_barcode(loaded.clips[0], 9), loaded.indices[0])
        assert np.all(np.diff(loaded.indices[0]) >= 7)
    multi = load_clips(path, ClipSampler.evaluation(), rng=1)
    assert len(multi.clips) == 2
    for clip, idx in zip(multi.clips, multi.indices):
        assert np.array_equal(decode_index_barcode(clip, 9), idx)


def test_decoded_short_and_single_frame_videos(video_dir):
    short = make_index_video(video_dir / "short50.mp4", 50, fps=30)
    loaded = load_clips(short, ClipSampler.pretraining(), rng=0)
    assert decode_index_barcode(loaded.clips[0], 6).tolist() == [0, 8, 16, 25, 33, 41, 49] + [49] * 9
    single = make_index_video(video_dir / "single.mp4", 1, fps=30)
    loaded = load_clips(single, ClipSampler(frames_per_clip=8, frame_step=1))
    assert loaded.clips[0].shape == (8, 32, 64, 3)
    assert np.array_equal(loaded.clips[0][0], loaded.clips[0][7])


def test_image_is_a_static_clip(tmp_path):
    rgb = np.arange(12 * 16 * 3, dtype=np.uint8).reshape(12, 16, 3)
    Image.fromarray(rgb).save(tmp_path / "still.png")
    loaded = load_clips(tmp_path / "still.png", ClipSampler.pretraining(), rng=0)
    assert loaded.clips[0].shape == (16, 12, 16, 3) and loaded.metadata.is_image
    assert all(np.array_equal(f, rgb) for f in loaded.clips[0])
    assert np.array_equal(read_video(tmp_path / "still.png", loaded.indices[0]), loaded.clips[0])
