"""`VJEPA2VideoProcessor` recording a model's input: `num_frames`, `load_video_processor`, and the warning when a
processor without resize pads or crops frames of another size (issue 23)."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from vjepa2_hf.video.encoding import write_video
from vjepa2_hf.video.video_processing_vjepa2 import VJEPA2VideoProcessor, load_video_processor


def test_num_frames_is_saved_and_samples_paths_only(tmp_path):
    frames = np.random.default_rng(0).integers(0, 255, (12, 32, 32, 3), dtype=np.uint8)
    path = write_video(tmp_path / "clip.mp4", frames, fps=8)
    processor = VJEPA2VideoProcessor(crop_size=32, do_resize=False, num_frames=4)
    processor.save_pretrained(tmp_path / "saved")
    again = VJEPA2VideoProcessor.from_pretrained(tmp_path / "saved")
    assert again == processor and again.num_frames == 4
    assert again(str(path))["pixel_values_videos"].shape == (1, 4, 3, 32, 32)  # a path: sampled to 4 frames
    assert again(frames)["pixel_values_videos"].shape == (1, 12, 3, 32, 32)  # an array: taken as given
    assert again(str(path), num_frames=6)["pixel_values_videos"].shape == (1, 6, 3, 32, 32)
    with pytest.raises(ValueError, match="num_frames"):
        VJEPA2VideoProcessor(num_frames=0)


def test_load_video_processor_falls_back_to_the_model_config(tmp_path):
    from vjepa2_hf.encoder.configuration_vjepa2 import VJEPA2Config

    config = VJEPA2Config.from_preset("tiny", crop_size=48)
    processor = load_video_processor(tmp_path, config, num_frames=6)  # a folder without a processor config
    assert processor.crop_size == {"height": 48, "width": 48} and processor.num_frames == 6 and processor.do_resize
    VJEPA2VideoProcessor(crop_size=32, do_resize=False, num_frames=8).save_pretrained(tmp_path)
    saved = load_video_processor(tmp_path, config, num_frames=6)  # the saved one wins
    assert (saved.crop_size["height"], saved.num_frames, saved.do_resize) == (32, 8, False)


def test_padding_without_resize_is_announced_once(caplog):
    from transformers.utils import logging as hf_logging

    hf_logging.enable_propagation()
    processor = VJEPA2VideoProcessor(crop_size=64, do_resize=False)
    small = torch.zeros(2, 3, 32, 32, dtype=torch.uint8)
    with caplog.at_level(logging.WARNING):
        out = processor([small, small], return_tensors=None)["pixel_values_videos"]
        processor(torch.zeros(2, 3, 64, 64, dtype=torch.uint8))
    assert out[0].shape == (2, 3, 64, 64)
    warnings = [r.getMessage() for r in caplog.records if "without resizing" in r.getMessage()]
    assert len(warnings) == 1 and "32x32 px are zero-padded to 64x64" in warnings[0]
    hf_logging.disable_propagation()
