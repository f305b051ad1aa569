"""Hostile pixel arrays given to `VJEPA2VideoProcessor` (issue 21): the accepted dtypes and scales are a stated rule
(uint8 0..255; float 0..255, never negative; uint16 scaled by 255 / 65535), and anything else is refused naming
the dtype or the minimum. Each refusal test failed on the code before the fix (the array was read on a 0..255 scale)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vjepa2_hf.video.video_processing_vjepa2 import VJEPA2VideoProcessor


@pytest.fixture(scope="module")
def processor():
    return VJEPA2VideoProcessor(crop_size=32)


def _frames(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(2, 40, 48, 3), dtype=np.uint8)


def _pixels(processor, video) -> torch.Tensor:
    return processor(video)["pixel_values_videos"]


def test_uint16_is_scaled_to_the_8_bit_range(processor):
    frames = _frames()
    sixteen_bit = frames.astype(np.uint16) * 257  # 255 -> 65535: the same picture at 16 bits
    expected = _pixels(processor, frames.astype(np.float32))  # the float path on the 0..255 scale
    torch.testing.assert_close(_pixels(processor, sixteen_bit), expected, rtol=0, atol=1e-5)
    # and within one uint8 level (0.0175 after normalisation) of the uint8 input, not 257 times brighter
    assert (_pixels(processor, sixteen_bit) - _pixels(processor, frames)).abs().max().item() <= 0.0176
    torch.testing.assert_close(_pixels(processor, torch.from_numpy(sixteen_bit)), expected, rtol=0, atol=1e-5)


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.int16, np.int8, np.uint32, np.bool_, np.complex64])
def test_other_dtypes_are_refused_naming_the_dtype(processor, dtype):
    video = _frames().astype(dtype)
    name = np.dtype(dtype).name if dtype is not np.bool_ else "bool"
    with pytest.raises(ValueError, match=rf"`videos` must hold uint8 \(0\.\.255\), uint16 .* got dtype {name}"):
        processor(video)


def test_negative_values_are_refused(processor):
    with pytest.raises(ValueError, match=r"`videos` must hold uint8 .* got dtype int16"):
        processor(_frames().astype(np.int16) - 128)
    with pytest.raises(ValueError, match=r"float pixel values must be >= 0 .* got a minimum of -1\.5;"):
        processor(_frames().astype(np.float32) - 1.5)


def test_already_normalised_tensors_are_refused(processor):
    normalised = _pixels(processor, _frames())[0]  # [T, 3, crop, crop], mean 0: negative values
    with pytest.raises(ValueError, match="not already normalised values"):
        processor(normalised)


def test_uint8_and_in_range_floats_are_unchanged(processor):
    frames = _frames(1)
    reference = _pixels(processor, frames)
    assert reference.dtype == torch.float32 and reference.shape == (1, 2, 3, 32, 32)
    torch.testing.assert_close(_pixels(processor, frames.astype(np.float64)), reference, rtol=0, atol=0.0176)
    unscaled = VJEPA2VideoProcessor(crop_size=32, do_rescale=False)  # floats 0..1 with do_rescale=False
    torch.testing.assert_close(_pixels(unscaled, frames.astype(np.float32) / 255), _pixels(processor, frames.astype(
        np.float32)), rtol=0, atol=1e-5)
