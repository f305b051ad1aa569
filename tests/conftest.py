"""Shared by every test: an offline environment, one intra-op thread, and the tiny V-JEPA 2 builders.

Subfolder `conftest.py` files keep only what is specific to their capability (fixtures of saved models, videos,
recipes) and re-export the builders below, so `from .conftest import tiny_config` keeps working in each folder.
"""

from __future__ import annotations

import os

# before anything imports huggingface_hub / datasets / evaluate: the tests build their own models and data
for _name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "HF_EVALUATE_OFFLINE", "TRANSFORMERS_OFFLINE"):
    os.environ.setdefault(_name, "1")
# one intra-op thread (see `one_thread`) also for the commands the tests run, which apply `vjepa2_hf.threads`' default
os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest  # noqa: E402
import torch  # noqa: E402

from vjepa2_hf.encoder.configuration_vjepa2 import VJEPA2Config  # noqa: E402


def tiny_config(**overrides) -> VJEPA2Config:
    """The `tiny` preset (2 layers, 64 px, 8 frames) with `overrides`."""
    return VJEPA2Config.from_preset("tiny", **overrides)


def randomize_parameters(module: torch.nn.Module, seed: int = 0, scale: float = 0.05) -> torch.nn.Module:
    """Perturb every parameter (LayerNorms, biases, mask tokens, queries), so that no value is at its init."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.add_(torch.randn(parameter.shape, generator=generator) * scale)
    return module


@pytest.fixture(autouse=True)
def one_thread():
    """One intra-op thread for every test: tiny tensors run fastest on one, and on a shared CPU a second thread
    oversubscribes the cores (OpenMP spin-waits, 5-10x slower). Tests that time or need threads set their own."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def saved_tiny_encoder(tmp_path_factory):
    """A folder saved by `VJEPA2Model.save_pretrained` of the seeded `tiny` preset (read-only for the tests)."""
    from vjepa2_hf import VJEPA2Model

    folder = tmp_path_factory.mktemp("saved_tiny_encoder")
    torch.manual_seed(0)
    VJEPA2Model(tiny_config()).save_pretrained(folder)
    return folder
