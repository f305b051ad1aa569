"""Input hygiene: NaN / Inf pixels, short videos in the processor, truncated or foreign checkpoint files."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from vjepa2_hf import VJEPA2Config, VJEPA2Model, VJEPA2VisionModel, VJEPA2VideoProcessor, convert_official_checkpoint
from vjepa2_hf.video.encoding import write_video


def _tiny(**overrides) -> VJEPA2VisionModel:
    torch.manual_seed(0)
    return VJEPA2VisionModel(VJEPA2Config.from_preset("tiny", **overrides)).eval()


def test_nan_and_inf_pixels_raise_with_the_count():
    model = _tiny()
    x = torch.randn(2, 4, 3, 64, 64)
    x[0, 1, 2, 3, :5] = float("nan")
    x[1, 0, 0, 0, 0] = float("inf")
    with pytest.raises(ValueError, match=r"6 non-finite values \(5 NaN, 1 Inf\) out of 98304"):
        model(x)
    with pytest.raises(ValueError, match="6 non-finite values"):  # the model with the predictor checks too
        VJEPA2Model(model.config)(x)
    processor = VJEPA2VideoProcessor(crop_size=64)
    frames = np.random.rand(4, 80, 80, 3).astype(np.float32) * 255
    frames[2, 5, 5, 1] = np.nan
    with pytest.raises(ValueError, match=r"1 non-finite values \(1 NaN, 0 Inf\)"):
        processor(frames)


def test_the_check_can_be_turned_off_and_costs_nothing_in_values():
    model = _tiny()
    x = torch.randn(1, 4, 3, 64, 64)
    with torch.no_grad():
        checked = model(x).last_hidden_state
        model.config.check_finite_inputs = False
        unchecked = model(x).last_hidden_state
        assert torch.equal(checked, unchecked)
        x[0, 0, 0, 0, 0] = float("nan")
        assert torch.isnan(model(x).last_hidden_state).all()  # what the check prevents: NaN everywhere


def test_config_flag_round_trips(tmp_path):
    model = _tiny(check_finite_inputs=False)
    model.save_pretrained(tmp_path / "m")
    assert VJEPA2VisionModel.from_pretrained(tmp_path / "m").config.check_finite_inputs is False


@pytest.mark.parametrize("num_video_frames", [1, 3])
def test_processor_repeats_the_last_frame_of_short_videos(tmp_path, num_video_frames):
    frames = (np.arange(num_video_frames)[:, None, None, None] * 60 + np.zeros((1, 64, 64, 3))).astype(np.uint8)
    path = write_video(tmp_path / "short.mp4", frames, fps=8, codec="ffv1")
    processor = VJEPA2VideoProcessor(crop_size=64)
    pixels = processor(path, num_frames=8)["pixel_values_videos"]
    assert pixels.shape == (1, 8, 3, 64, 64)
    expected = [min(i, num_video_frames - 1) for i in range(8)]
    means = pixels[0].mean(dim=(1, 2, 3))
    reference = processor(frames, return_tensors="pt")["pixel_values_videos"][0].mean(dim=(1, 2, 3))
    torch.testing.assert_close(means, reference[expected], rtol=0, atol=1e-5)
    from_array = processor(frames, num_frames=8)["pixel_values_videos"]  # arrays follow the same rule
    torch.testing.assert_close(from_array, pixels, rtol=0, atol=1e-5)
    with torch.no_grad():
        assert _tiny()(pixels).last_hidden_state.shape == (1, 4 * 8 * 8, 64)


def test_truncated_or_corrupt_safetensors_names_the_file(tmp_path):
    _tiny().save_pretrained(tmp_path / "good")
    data = (tmp_path / "good" / "model.safetensors").read_bytes()
    for name, content, message in [
        ("cut", data[: len(data) - 1000], r"is truncated: .* \(missing 1000 bytes\)"),
        ("tiny", data[:4], "is truncated or corrupt: 4 bytes"),
        ("garbage", b"\x10" + b"\x00" * 7 + b"{not json at all" + data[24:], "is corrupt: its safetensors header"),
    ]:
        folder = tmp_path / name
        shutil.copytree(tmp_path / "good", folder)
        (folder / "model.safetensors").write_bytes(content)
        with pytest.raises(ValueError, match=str(folder / "model.safetensors").replace(".", r"\.") + " " + message):
            VJEPA2VisionModel.from_pretrained(folder)


def test_convert_official_on_files_that_are_not_checkpoints(tmp_path):
    (tmp_path / "text.pt").write_text("not a checkpoint")
    with pytest.raises(ValueError, match="text.pt is not a PyTorch checkpoint"):
        convert_official_checkpoint(tmp_path / "text.pt", arch="vit_large")
    torch.save({"encoder": {"w": torch.zeros(1000)}}, tmp_path / "whole.pt")
    data = (tmp_path / "whole.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="cut.pt is a truncated or corrupt PyTorch checkpoint"):
        convert_official_checkpoint(tmp_path / "cut.pt", arch="vit_large")
