"""Fixtures of the world-model tests."""

from __future__ import annotations

import os

import pytest

from .helpers import FRANKA_NPZ


@pytest.fixture
def franka_npz():
    if not os.path.isfile(FRANKA_NPZ):
        pytest.skip(f"{FRANKA_NPZ} not available")
    return FRANKA_NPZ
