"""Shared fixtures for the VLM tests: a word-level tokenizer and tiny random VLMs built locally (no downloads)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vjepa2_hf.vlm import VJEPA2VLMForConditionalGeneration, VJEPA2VLMProcessor
from vjepa2_hf.vlm.tiny import build_word_tokenizer, tiny_vlm_config


@pytest.fixture(scope="session")
def tokenizer():
    return build_word_tokenizer()


def make_tiny(tokenizer, seed: int = 0, **kwargs):
    """A tiny VLM (tiny V-JEPA 2 at 32 px, 2-layer Llama) and its processor."""
    kwargs.setdefault("vision_overrides", {"crop_size": 32})
    config = tiny_vlm_config(tokenizer, **kwargs)
    torch.manual_seed(seed)
    model = VJEPA2VLMForConditionalGeneration(config).eval()
    return model, VJEPA2VLMProcessor.from_model_config(config, tokenizer)


@pytest.fixture(scope="session")
def tiny(tokenizer):
    return make_tiny(tokenizer)


@pytest.fixture
def video():
    """A random uint8 clip `[10, 40, 48, 3]` (odd length, non-square: sampling and resizing are exercised)."""
    return np.random.default_rng(0).integers(0, 256, (10, 40, 48, 3), dtype=np.uint8)


def mc_conversation(video, answer: str | None = "B"):
    user = {
        "role": "user",
        "content": [
            {"type": "video", "video": video},
            {"type": "text", "text": "Which way does the square move?\n(A) left\n(B) right\n(C) up\n(D) down"},
        ],
    }
    return [user] + ([{"role": "assistant", "content": answer}] if answer is not None else [])
