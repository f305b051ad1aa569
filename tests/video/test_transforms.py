"""The official training augmentation, the multi-view eval transform and the resize/crop building blocks."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from vjepa2_hf.video.synthetic import parity_pattern_frames
from vjepa2_hf.video.transforms import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    MultiViewEvalTransform,
    VideoTrainTransform,
    center_crop,
    random_resized_crop_params,
    resize,
    to_video_tensor,
)
from vjepa2_hf.video.video_processing_vjepa2 import VJEPA2VideoProcessor


def _gen(seed):
    g = torch.Generator()
    g.manual_seed(seed)
    return g


def test_crop_params_follow_the_official_distribution():
    h, w = 240, 320
    areas, log_ratios = [], []
    for seed in range(400):
        top, left, ch, cw = random_resized_crop_params(h, w, (0.3, 1.0), (0.75, 1.35), generator=_gen(seed))
        assert 0 <= top <= h - ch and 0 <= left <= w - cw and ch > 0 and cw > 0
        areas.append(ch * cw / (h * w))
        log_ratios.append(math.log(cw / ch))
    areas, log_ratios = np.array(areas), np.array(log_ratios)
    assert areas.min() > 0.29 and areas.max() <= 1.0
    assert log_ratios.min() > math.log(0.75) - 0.02 and log_ratios.max() < math.log(1.35) + 0.02
    # log-uniform: the log ratios spread evenly around the middle of the log range (the few draws that do not fit
    # the 4:3 frame are redrawn, so the spread is only approximately uniform)
    mid = (math.log(0.75) + math.log(1.35)) / 2
    assert abs(np.median(log_ratios) - mid) < 0.06
    # same distribution as the official algorithm (Python's `random`), simulated verbatim
    sim_areas, sim_logr = [], []
    rnd = random.Random(0)
    for _ in range(4000):
        for _try in range(10):
            target = rnd.uniform(0.3, 1.0) * h * w
            ar = math.exp(rnd.uniform(math.log(0.75), math.log(1.35)))
            cw, ch = int(round(math.sqrt(target * ar))), int(round(math.sqrt(target / ar)))
            if 0 < cw <= w and 0 < ch <= h:
                sim_areas.append(ch * cw / (h * w))
                sim_logr.append(math.log(cw / ch))
                break
    assert areas.mean() == pytest.approx(np.mean(sim_areas), abs=0.03)
    assert log_ratios.mean() == pytest.approx(np.mean(sim_logr), abs=0.03)


def test_crop_params_fallback_is_the_official_central_crop():
    # no box with area >= 99% fits a 3:1 frame within ratio [0.75, 1.35]: central crop of ratio 1.35
    assert random_resized_crop_params(100, 300, (0.99, 1.0), (0.75, 1.35), generator=_gen(0)) == (0, 82, 100, 135)
    # portrait 1:3 -> width kept, height = round(w / 0.75)
    assert random_resized_crop_params(300, 100, (0.99, 1.0), (0.75, 1.35), generator=_gen(0)) == (83, 0, 133, 100)


def _official_reference(frames: np.ndarray, box, flip: bool, size: int) -> torch.Tensor:
    """app/vjepa/transforms.py: float -> normalise (mean/std x 255) -> [C,T,H,W] -> crop -> interpolate -> flip."""
    x = torch.from_numpy(frames).float()  # T H W C
    mean = torch.tensor(IMAGENET_MEAN) * 255
    std = torch.tensor(IMAGENET_STD) * 255
    x = ((x - mean) / std).permute(3, 0, 1, 2)  # C T H W
    top, left, h, w = box
    x = x[:, :, top : top + h, left : left + w]
    x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    if flip:
        x = x.flip(-1)
    return x.permute(1, 0, 2, 3)  # T C H W


def test_train_transform_matches_the_official_arithmetic():
    frames = parity_pattern_frames(4, 72, 96, seed=3)
    t = VideoTrainTransform(crop_size=48)
    for seed in range(6):
        out = t(frames, generator=seed)
        g = _gen(seed)
        box = random_resized_crop_params(72, 96, (0.3, 1.0), (0.75, 1.35), generator=g)
        flip = float(torch.rand((), generator=g)) < 0.5
        ref = _official_reference(frames, box, flip, 48)
        assert out.shape == (4, 3, 48, 48) and out.dtype == torch.float32
        assert (out - ref).abs().max().item() < 1e-4


def test_train_transform_same_box_for_all_frames_and_seedable():
    base = parity_pattern_frames(1, 60, 80, seed=5)[0].astype(np.int32) // 2
    frames = np.stack([base + 10 * k for k in range(5)]).astype(np.uint8)  # frame k = frame 0 + 10 k
    t = VideoTrainTransform(crop_size=32, seed=11)
    out = t(frames)
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1) * 255
    for k in range(1, 5):
        delta = (out[k] - out[0]) * std  # a per-frame box would not give a constant difference
        assert torch.allclose(delta, torch.full_like(delta, 10.0 * k), atol=1e-3)
    assert torch.equal(VideoTrainTransform(32, seed=11)(frames), out)
    assert not torch.equal(VideoTrainTransform(32, seed=12)(frames), out)


def test_horizontal_flip_half_of_the_time():
    frames = np.zeros((2, 40, 40, 3), np.uint8)
    frames[:, :, :20] = 255  # left half white
    t = VideoTrainTransform(crop_size=16, random_resize_scale=(1.0, 1.0), random_resize_aspect_ratio=(1.0, 1.0))
    flips = 0
    for seed in range(200):
        out = t(frames, generator=seed)
        flips += bool(out[0, 0, :, 0].mean() < out[0, 0, :, -1].mean())
    assert 70 < flips < 130
    t_noflip = VideoTrainTransform(
        crop_size=16, random_resize_scale=(1.0, 1.0), random_resize_aspect_ratio=(1.0, 1.0), random_horizontal_flip=False
    )
    assert all(t_noflip(frames, generator=s)[0, 0, :, 0].mean() > 0 for s in range(20))


def test_multi_view_eval_transform_offsets():
    frames = parity_pattern_frames(2, 40, 100, seed=0)  # landscape: views along the width
    views = MultiViewEvalTransform(crop_size=20, num_views=3)(frames)
    assert len(views) == 3 and all(v.shape == (2, 3, 20, 20) for v in views)
    resized = resize(to_video_tensor(frames), (20, 50))
    step = (50 - 20) // 2
    for k, v in enumerate(views):
        crop = resized[..., :, k * step : k * step + 20]
        ref = (crop.float() - torch.tensor(IMAGENET_MEAN).view(3, 1, 1) * 255) / (
            torch.tensor(IMAGENET_STD).view(3, 1, 1) * 255
        )
        assert (v - ref).abs().max() < 1e-5
    portrait = MultiViewEvalTransform(crop_size=20, num_views=3)(frames.transpose(0, 2, 1, 3).copy())
    assert all(v.shape == (2, 3, 20, 20) for v in portrait)
    single = MultiViewEvalTransform(crop_size=32, num_views=1)(frames)
    assert torch.equal(single[0], VJEPA2VideoProcessor(crop_size=32)(frames)["pixel_values_videos"][0])


def test_resize_and_center_crop_building_blocks():
    x = torch.from_numpy(parity_pattern_frames(2, 50, 70, seed=1)).permute(0, 3, 1, 2).contiguous()
    u8 = resize(x, (25, 35))
    f32 = resize(x.float(), (25, 35))
    assert u8.dtype == torch.uint8 and f32.dtype == torch.float32
    assert (u8.float() - f32).abs().max() <= 1.0  # uint8 kernel rounds
    assert resize(x, (50, 70)) is x
    padded = center_crop(x[..., :10, :12], (16, 16))
    assert padded.shape == (2, 3, 16, 16)
    assert padded[..., :3, :].abs().sum() == 0 and torch.equal(padded[..., 3:13, 2:14], x[..., :10, :12])
    assert torch.equal(center_crop(x, (20, 30)), x[..., 15:35, 20:50])


def test_transform_argument_validation():
    with pytest.raises(ValueError, match="crop_size"):
        VideoTrainTransform(crop_size=0)
    with pytest.raises(ValueError, match="random_resize_scale"):
        VideoTrainTransform(random_resize_scale=(0.5, 1.5))
    with pytest.raises(ValueError, match="num_views"):
        MultiViewEvalTransform(num_views=0)
    with pytest.raises(ValueError, match=r"\[T, H, W, C\]"):
        to_video_tensor(np.zeros((2, 2, 4, 4, 3, 1), np.uint8))
