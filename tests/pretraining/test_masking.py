"""Multi-block 3-D masks: the official rule's statistics, truncation, determinism, workers and global batches."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from vjepa2_hf.pretraining.data import GlobalBatchSampler, StepIndexedDataset
from vjepa2_hf.pretraining.masking import (
    OFFICIAL_MASK_CONFIGS,
    MaskBlockConfig,
    MultiBlockMaskCollator,
    MultiBlockMaskGenerator,
)

GRID = (8, 16, 16)  # 16 frames at 256 px with tubelet 2, patch 16: the official pretraining grid


def official_reference_masked_fraction(cfg: MaskBlockConfig, grid, num_batches: int, batch_size: int, seed: int):
    """A literal port of the official `_MaskGenerator` (torch RNGs), returning per-sample masked fractions before
    truncation, the truncated target lengths and the block sizes."""
    duration, height, width = grid
    gen = torch.Generator()
    fractions, k_tgt, blocks = [], [], []
    torch.manual_seed(seed)
    for step in range(num_batches):
        gen.manual_seed(step)
        r = torch.rand(1, generator=gen).item()
        t = max(1, int(duration * (cfg.temporal_scale[0] + r * (cfg.temporal_scale[1] - cfg.temporal_scale[0]))))
        r = torch.rand(1, generator=gen).item()
        num = int(height * width * (cfg.spatial_scale[0] + r * (cfg.spatial_scale[1] - cfg.spatial_scale[0])))
        r = torch.rand(1, generator=gen).item()
        ar = cfg.aspect_ratio[0] + r * (cfg.aspect_ratio[1] - cfg.aspect_ratio[0])
        h = min(int(round(math.sqrt(num * ar))), height)
        w = min(int(round(math.sqrt(num / ar))), width)
        blocks.append((t, h, w))
        lengths = []
        for _ in range(batch_size):
            mask = torch.ones(duration, height, width, dtype=torch.int32)
            for _ in range(cfg.num_blocks):
                top = torch.randint(0, height - h + 1, (1,)).item()
                left = torch.randint(0, width - w + 1, (1,)).item()
                start = torch.randint(0, duration - t + 1, (1,)).item()
                mask[start : start + t, top : top + h, left : left + w] = 0
            masked = int((mask == 0).sum())
            fractions.append(masked / mask.numel())
            lengths.append(masked)
        k_tgt.append(min(lengths))
    return np.array(fractions), np.array(k_tgt), blocks


def official_block_shapes(cfg: MaskBlockConfig, grid) -> set[tuple[int, int]]:
    _, height, width = grid
    shapes = set()
    for s in np.linspace(*cfg.spatial_scale, 5):
        num = int(height * width * s)
        for ar in np.linspace(*cfg.aspect_ratio, 20001):
            shapes.add((min(int(round(math.sqrt(num * ar))), height), min(int(round(math.sqrt(num / ar))), width)))
    return shapes


@pytest.mark.parametrize("cfg_index", [0, 1])
def test_statistics_match_the_official_rule(cfg_index):
    cfg = OFFICIAL_MASK_CONFIGS[cfg_index]
    generator = MultiBlockMaskGenerator(cfg)
    num_batches, batch_size = 60, 8
    ours_fraction, ours_k, ours_blocks = [], [], []
    for step in range(num_batches):
        rng = np.random.default_rng([3, step])
        block = generator.sample_block_size(rng, GRID)
        keep = generator.sample_keep_grids(rng, GRID, block, batch_size)
        ours_fraction.extend((~keep).reshape(batch_size, -1).mean(axis=1).tolist())
        ours_blocks.append(block)
        _, target, _ = generator(batch_size, GRID, np.random.default_rng([3, step]))
        ours_k.append(target.shape[1])
    ref_fraction, ref_k, ref_blocks = official_reference_masked_fraction(cfg, GRID, num_batches, batch_size, seed=0)

    # block shapes: every block spans the whole clip and has a shape the official formula can produce
    allowed = official_block_shapes(cfg, GRID)
    assert all(t == GRID[0] for t, _, _ in ours_blocks + ref_blocks)
    assert {(h, w) for _, h, w in ours_blocks} <= allowed
    assert {(h, w) for _, h, w in ref_blocks} <= allowed
    # masked fraction before truncation and truncated target length: same distribution as the official rule
    assert abs(np.mean(ours_fraction) - np.mean(ref_fraction)) < 0.03, (np.mean(ours_fraction), np.mean(ref_fraction))
    assert abs(np.std(ours_fraction) - np.std(ref_fraction)) < 0.03
    n_tokens = math.prod(GRID)
    assert abs(np.mean(ours_k) - np.mean(ref_k)) / n_tokens < 0.04, (np.mean(ours_k), np.mean(ref_k))
    # the two configurations are the short-range (~0.6 of the tokens masked) and long-range (~0.85) ones
    expected = {0: (0.45, 0.75), 1: (0.75, 0.95)}[cfg_index]
    assert expected[0] < np.mean(ours_fraction) < expected[1]


def test_masks_are_time_spanning_unions_of_boxes():
    cfg = OFFICIAL_MASK_CONFIGS[0]
    generator = MultiBlockMaskGenerator(cfg)
    rng = np.random.default_rng(0)
    t, h, w = generator.sample_block_size(rng, GRID)
    keep = generator.sample_keep_grids(rng, GRID, (t, h, w), 16)
    for sample in keep:
        masked = ~sample
        assert (masked == masked[0]).all()  # temporal_scale 1.0: tubes through every frame
        # every masked position lies in an h x w box that is entirely masked
        spatial = masked[0]
        covered = np.zeros_like(spatial)
        for top in range(GRID[1] - h + 1):
            for left in range(GRID[2] - w + 1):
                if spatial[top : top + h, left : left + w].all():
                    covered[top : top + h, left : left + w] = True
        assert (covered == spatial).all()
        assert spatial.sum() <= cfg.num_blocks * h * w


def test_truncation_to_the_batch_minimum_keeps_the_lowest_indices():
    generator = MultiBlockMaskGenerator(OFFICIAL_MASK_CONFIGS[0])
    context, target, block = generator(12, GRID, np.random.default_rng(5))
    # redraw the untruncated masks with the same rng stream
    rng = np.random.default_rng(5)
    assert generator.sample_block_size(rng, GRID) == block
    keep = generator.sample_keep_grids(rng, GRID, block, 12).reshape(12, -1)
    k_ctx, k_tgt = int(keep.sum(1).min()), int((~keep).sum(1).min())
    assert context.shape == (12, k_ctx) and target.shape == (12, k_tgt)
    for b in range(12):
        full_ctx = np.flatnonzero(keep[b])
        full_tgt = np.flatnonzero(~keep[b])
        assert context[b].tolist() == full_ctx[:k_ctx].tolist()
        assert target[b].tolist() == full_tgt[:k_tgt].tolist()
        assert not set(context[b].tolist()) & set(target[b].tolist())
    assert context.dtype == torch.int64


def test_seeded_deterministic_and_step_dependent():
    a = MultiBlockMaskCollator(seed=1)
    b = MultiBlockMaskCollator(seed=1)
    c = MultiBlockMaskCollator(seed=2)
    ca, ta, _ = a.masks_for_step(7, GRID, 4)
    cb, tb, _ = b.masks_for_step(7, GRID, 4)
    assert all(torch.equal(x, y) for x, y in zip(ca + ta, cb + tb))
    c8, _, _ = a.masks_for_step(8, GRID, 4)
    cc, _, _ = c.masks_for_step(7, GRID, 4)
    assert not torch.equal(ca[0], c8[0]) or ca[0].shape != c8[0].shape
    assert not torch.equal(ca[0], cc[0]) or ca[0].shape != cc[0].shape


def test_global_batch_rows_match_the_full_batch():
    collator = MultiBlockMaskCollator(seed=0)
    full_ctx, full_tgt, _ = collator.masks_for_step(3, GRID, 8)
    collator = MultiBlockMaskCollator(seed=0)  # fresh cache
    half_ctx, half_tgt, _ = collator.masks_for_step(3, GRID, 8, rows=[4, 5, 6, 7])
    for full, half in zip(full_ctx + full_tgt, half_ctx + half_tgt):
        assert torch.equal(full[4:], half)


def _loader(num_workers: int, num_processes: int = 1, process_index: int = 0, accumulation: int = 1):
    clips = [torch.full((4, 3, 32, 32), float(i)) for i in range(10)]
    global_batch = 8
    micro = global_batch // (num_processes * accumulation)
    sampler = GlobalBatchSampler([10], [1.0], global_batch, micro, num_processes, process_index, seed=0,
                                 start_step=0, total_steps=3)
    collator = MultiBlockMaskCollator(patch_size=8, tubelet_size=2, seed=0)
    return DataLoader(StepIndexedDataset([clips]), batch_sampler=sampler, collate_fn=collator, num_workers=num_workers)


def test_dataloader_workers_and_process_split_give_the_same_global_batches():
    single = list(_loader(0))
    workers = list(_loader(2))
    assert len(single) == len(workers) == 3
    for x, y in zip(single, workers):
        assert torch.equal(x.pixel_values_videos, y.pixel_values_videos)
        assert all(torch.equal(a, b) for a, b in zip(x.context_masks + x.target_masks, y.context_masks + y.target_masks))
    # two processes (or two accumulation micro-batches): the halves of each global batch, in row order
    rank0, rank1 = list(_loader(0, 2, 0)), list(_loader(0, 2, 1))
    accum = list(_loader(0, 1, 0, accumulation=2))
    for step, full in enumerate(single):
        for parts in ((rank0[step], rank1[step]), (accum[2 * step], accum[2 * step + 1])):
            assert torch.equal(torch.cat([p.pixel_values_videos for p in parts]), full.pixel_values_videos)
            for j in range(2):
                assert torch.equal(torch.cat([p.context_masks[j] for p in parts]), full.context_masks[j])
                assert torch.equal(torch.cat([p.target_masks[j] for p in parts]), full.target_masks[j])


def test_plain_samples_use_the_batch_index_whatever_the_workers():
    clips = [torch.zeros(4, 3, 32, 32)] * 12
    runs = []
    for workers in (0, 2):
        collator = MultiBlockMaskCollator(patch_size=8, tubelet_size=2, seed=4)
        loader = DataLoader(clips, batch_size=3, collate_fn=collator, num_workers=workers)
        runs.append([(b.step, b.context_masks[0]) for b in loader])
    assert [s for s, _ in runs[0]] == [0, 1, 2, 3] == [s for s, _ in runs[1]]
    assert all(torch.equal(a, b) for (_, a), (_, b) in zip(*runs))


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="spatial_scale"):
        MaskBlockConfig(spatial_scale=(0.5, 0.2))
    with pytest.raises(ValueError, match="unknown mask config keys"):
        MaskBlockConfig.from_dict({"num_blocks": 2, "scale": 0.3})
    with pytest.raises(ValueError, match="empty block"):
        MultiBlockMaskGenerator(MaskBlockConfig(spatial_scale=(0.01, 0.01)))(2, (2, 4, 4), np.random.default_rng(0))
    collator = MultiBlockMaskCollator(patch_size=8)
    with pytest.raises(ValueError, match="same shape"):
        collator([torch.zeros(4, 3, 32, 32), torch.zeros(4, 3, 64, 64)])
    with pytest.raises(ValueError, match="smaller than one"):
        collator([torch.zeros(1, 3, 32, 32)])
