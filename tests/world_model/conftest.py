"""Fixtures of the world-model tests."""

from __future__ import annotations

import os

import pytest

from .helpers import FRANKA_NPZ, write_franka_example

# a trajectory file the tests write in the released layout; the released file too where it is present
FRANKA_SOURCES = ["generated"] + (["released"] if os.path.isfile(FRANKA_NPZ) else [])


@pytest.fixture(scope="session")
def generated_franka_npz(tmp_path_factory) -> str:
    return write_franka_example(tmp_path_factory.mktemp("franka") / "franka_example_traj.npz")


@pytest.fixture(params=FRANKA_SOURCES)
def franka_npz(request, generated_franka_npz) -> str:
    return generated_franka_npz if request.param == "generated" else FRANKA_NPZ
