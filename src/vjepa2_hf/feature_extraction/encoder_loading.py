"""Loading the encoder of a feature-extraction job: `tiny` (random, for dry runs), a model folder or a Hub repo."""

from __future__ import annotations

import os

import torch
from transformers.utils import logging

logger = logging.get_logger(__name__)

__all__ = ["load_encoder_and_processor"]


def load_encoder_and_processor(model: str | os.PathLike = "tiny", dtype: torch.dtype = torch.float32, seed: int = 0):
    """A `VJEPA2VisionModel` (eval mode) and its `VJEPA2VideoProcessor`: the one saved with the model, else the
    evaluation transform at the crop size and frame count the model's config records.

    Args:
        model: `"tiny"` (a random tiny encoder built from `seed`, identical in every process), a model folder or a Hub
            repo id of any `VJEPA2VisionModel`-compatible checkpoint (a full `VJEPA2Model` loads without its
            predictor).
        dtype: weights dtype (no float32 copy is made for bf16 / fp16).
    """
    from ..encoder import VJEPA2Config, VJEPA2VisionModel
    from ..encoder.configuration_vjepa2 import clip_num_frames
    from ..video.video_processing_vjepa2 import VJEPA2VideoProcessor, load_video_processor

    model = os.fspath(model)
    if model == "tiny":
        config = VJEPA2Config.from_preset("tiny")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            encoder = VJEPA2VisionModel(config)
        return encoder.to(dtype).eval(), VJEPA2VideoProcessor.for_model_config(config, clip_num_frames(config))
    if not os.path.isdir(model) and (os.path.isabs(model) or model.startswith(".") or os.path.exists(model)):
        raise FileNotFoundError(f"model folder not found: {model} (expected 'tiny', a model folder or a Hub repo id)")
    from ..model_size import load_checked_config

    config = load_checked_config(VJEPA2Config, VJEPA2VisionModel, model, dtype=dtype, what=f"model {model}")
    encoder = VJEPA2VisionModel.from_pretrained(model, config=config, dtype=dtype).eval()
    return encoder, load_video_processor(model, encoder.config, clip_num_frames(encoder.config))
