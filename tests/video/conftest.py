"""Shared fixtures for the video tests: small real video files written with the package's own encoder."""

from __future__ import annotations

import pytest

from vjepa2_hf.video.synthetic import generate_motion_dataset


@pytest.fixture(scope="session")
def video_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("videos")


@pytest.fixture(scope="session")
def synth_direction(tmp_path_factory):
    """64 direction clips (16 frames, 32 px) with a train/test split."""
    out = tmp_path_factory.mktemp("synth_direction")
    return generate_motion_dataset(out, 64, num_frames=16, size=32, fps=8, seed=0, task="direction")
