"""Fixtures of the world-model tests."""

from __future__ import annotations

import os

import pytest

from .helpers import FRANKA_NPZ

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture
def franka_npz():
    if not os.path.isfile(FRANKA_NPZ):
        pytest.skip(f"{FRANKA_NPZ} not available")
    return FRANKA_NPZ


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """The world-model tests run tiny tensors: one intra-op thread is faster, and much faster on a shared CPU
    where a second thread oversubscribes the cores."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
