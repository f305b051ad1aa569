"""CPU thread defaults (`vjepa2_hf.threads`): passive OpenMP waiting, threads = cores / local processes.

The speed itself is measured by `scripts/bench_probe_threads.py`, not here."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from vjepa2_hf import threads


@pytest.fixture
def clean_env(monkeypatch):
    for name in ("OMP_NUM_THREADS", "LOCAL_WORLD_SIZE", "OMP_WAIT_POLICY"):
        monkeypatch.delenv(name, raising=False)
    previous = torch.get_num_threads()
    yield monkeypatch
    torch.set_num_threads(previous)


def test_default_threads_divide_the_cores_among_local_processes(clean_env, monkeypatch):
    monkeypatch.setattr(threads, "available_cores", lambda: 8)
    assert threads.default_num_threads() == 8
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")  # torchrun / accelerate launch with 2 processes on this machine
    assert threads.default_num_threads() == 4
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "16")
    assert threads.default_num_threads() == 1
    monkeypatch.setenv("OMP_NUM_THREADS", "3")  # the user's (or torchrun's) explicit choice wins
    assert threads.default_num_threads() == 3


def test_configure_threads_sets_torch_and_the_wait_policy(clean_env):
    assert threads.configure_threads(3) == 3 and torch.get_num_threads() == 3
    assert os.environ["OMP_WAIT_POLICY"] == "PASSIVE"  # inherited by workers and launched processes
    assert threads.configure_threads() == threads.default_num_threads() == torch.get_num_threads()
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="num_threads: expected a positive integer"):
            threads.configure_threads(bad)


def test_an_explicit_wait_policy_is_kept(clean_env):
    clean_env.setenv("OMP_WAIT_POLICY", "ACTIVE")
    assert threads.prefer_passive_openmp() is True
    assert os.environ["OMP_WAIT_POLICY"] == "ACTIVE"


def test_the_command_line_sets_the_policy_before_torch_loads():
    code = ("import os, sys\nfrom vjepa2_hf.cli import main\nmain(['--help'])\n"
            "print(os.environ.get('OMP_WAIT_POLICY'), 'torch' in sys.modules)")
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "PASSIVE False"


def test_every_command_applies_the_thread_default(clean_env):
    """The command line's shared options call `configure_threads`: without `--num-threads`, the cores divided by the
    job's local processes; with it, that number."""
    import argparse

    from vjepa2_hf.commands._options import apply_common_options

    clean_env.setattr(threads, "available_cores", lambda: 8)
    clean_env.setenv("LOCAL_WORLD_SIZE", "4")
    apply_common_options(argparse.Namespace(num_threads=None, no_progress=False))
    assert torch.get_num_threads() == 2
    apply_common_options(argparse.Namespace(num_threads=3, no_progress=False))
    assert torch.get_num_threads() == 3
