"""Shared fixtures of the probe tests: tiny random models and small real synthetic video datasets."""

from __future__ import annotations

import pytest
import torch

from vjepa2_hf import VJEPA2Model
from vjepa2_hf.video.synthetic import generate_motion_dataset

from ..conftest import randomize_parameters, tiny_config

__all__ = ["randomize_parameters", "tiny_config"]


@pytest.fixture(scope="session")
def backbone_dir(tmp_path_factory):
    """A saved tiny `VJEPA2Model` (encoder and predictor) with random weights."""
    torch.manual_seed(0)
    model = randomize_parameters(VJEPA2Model(tiny_config()))
    path = tmp_path_factory.mktemp("backbone")
    model.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def direction_data(tmp_path_factory):
    """96 direction clips (8 frames, 64 px) with a 25% held-out split: real H.264 mp4 files."""
    out = tmp_path_factory.mktemp("direction")
    return generate_motion_dataset(out, 96, num_frames=8, size=64, seed=0, task="direction")
