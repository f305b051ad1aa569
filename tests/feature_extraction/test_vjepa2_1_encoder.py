"""Corpus feature extraction takes a V-JEPA 2.1 encoder folder unchanged (issue 14): the rows equal the encoder's
own output on the processor's clips, for videos and a one-frame image (the 2.1 image tokenizer)."""

from __future__ import annotations

from pathlib import Path

import datasets
import numpy as np
import torch

from vjepa2_hf import VJEPA2Config, VJEPA2VisionModel, embed_videos
from vjepa2_hf.video import VJEPA2VideoProcessor

from .corpus import write_good_clips


def test_embed_videos_with_a_saved_vjepa2_1_encoder(tmp_path):
    torch.manual_seed(0)
    config = VJEPA2Config.from_preset("vjepa2_1_tiny")
    model_dir = tmp_path / "enc21"
    VJEPA2VisionModel(config).save_pretrained(model_dir)
    VJEPA2VideoProcessor(crop_size=config.crop_size).save_pretrained(model_dir)
    write_good_clips(tmp_path / "videos", count=3)
    folder = tmp_path / "videos"
    result = embed_videos(folder, tmp_path / "emb", model=str(model_dir), num_frames=4, batch_size=2, progress=False)
    rows = datasets.load_dataset("parquet", data_dir=str(tmp_path / "emb" / "data"), split="train",
                                 cache_dir=str(tmp_path / "hf_cache"))
    assert result.num_embedded == len(rows) > 0 and set(rows["status"]) == {"ok"}
    encoder = VJEPA2VisionModel.from_pretrained(model_dir).eval()
    processor = VJEPA2VideoProcessor.from_pretrained(model_dir)
    for row in rows:
        with torch.no_grad():
            clip = processor(row["path"], num_frames=4)["pixel_values_videos"]
            expected = encoder(clip).pooler_output[0]
        np.testing.assert_allclose(row["embedding"], expected.numpy(), rtol=0, atol=1e-5)
    with torch.no_grad():  # a single frame goes through the 2.1 image tokenizer, not the repeated video tubelet
        image = processor(next(Path(p) for p in rows["path"]), num_frames=1)["pixel_values_videos"]
        assert encoder(image).last_hidden_state.shape[1] == (config.crop_size // config.patch_size) ** 2
