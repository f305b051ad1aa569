"""Tiny V-JEPA 2 models shared between our implementation and transformers' (same random weights)."""

from __future__ import annotations

import pytest
import torch
import transformers

from vjepa2_hf import VJEPA2Model
from vjepa2_hf.encoder.convert_vjepa2_checkpoint import split_qkv, to_transformers_config

from ..conftest import tiny_config

__all__ = ["random_model", "tiny_config", "transformers_twin"]


def transformers_twin(model: VJEPA2Model, **config_overrides) -> transformers.VJEPA2Model:
    """transformers' `VJEPA2Model` holding exactly the weights of `model`."""
    twin = transformers.VJEPA2Model(to_transformers_config(model.config, **config_overrides)).eval()
    twin.load_state_dict(split_qkv(model.state_dict()), strict=True)
    return twin


def random_model(seed: int = 0, **overrides) -> VJEPA2Model:
    torch.manual_seed(seed)
    model = VJEPA2Model(tiny_config(**overrides)).eval()
    with torch.no_grad():  # non-zero mask tokens, so that the choice of token matters
        model.predictor.embeddings.mask_tokens.normal_()
    return model


@pytest.fixture
def model_pair():
    model = random_model()
    return model, transformers_twin(model)
