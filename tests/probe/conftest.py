"""Shared fixtures of the probe tests: tiny random models and small real synthetic video datasets."""

from __future__ import annotations

import os

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_EVALUATE_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

from vjepa2_hf import VJEPA2Config, VJEPA2Model  # noqa: E402
from vjepa2_hf.video.synthetic import generate_motion_dataset  # noqa: E402


def tiny_config(**overrides) -> VJEPA2Config:
    return VJEPA2Config.from_preset("tiny", **overrides)


def randomize_parameters(module: torch.nn.Module, seed: int = 0, scale: float = 0.05) -> torch.nn.Module:
    """Perturb every parameter (LayerNorms, biases, mask tokens, queries), so that no value is at its init."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.add_(torch.randn(parameter.shape, generator=generator) * scale)
    return module


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


@pytest.fixture(autouse=True)
def _single_thread():
    """Tiny models run fastest on one thread, and a shared 2-core machine makes multi-threaded OpenMP spin-wait."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
