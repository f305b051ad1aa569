"""Weighted mixing with the official `DistributedWeightedSampler` semantics."""

from __future__ import annotations

import numpy as np
import pytest

from vjepa2_hf.video.mixing import WeightedMixDataset, WeightedMixSampler, mixing_probabilities


def test_draw_is_the_official_one():
    sizes, weights = [10, 40, 50], [0.5, 0.3, 0.2]
    sampler = WeightedMixSampler(sizes, weights, seed=7)
    p = np.concatenate([np.full(10, 0.5 / 10), np.full(40, 0.3 / 40), np.full(50, 0.2 / 50)])
    expected = np.random.default_rng(7 + 0).choice(range(100), size=100, p=p / p.sum(), replace=True)
    assert list(sampler) == expected.tolist()
    sampler.set_epoch(3)
    expected3 = np.random.default_rng(7 + 3).choice(range(100), size=100, p=p / p.sum(), replace=True)
    assert list(sampler) == expected3.tolist()


def test_shares_follow_weights_not_sizes():
    sizes, weights = [10, 1000, 90], [0.5, 0.25, 0.25]
    sampler = WeightedMixSampler(sizes, weights, seed=0, num_samples=40_000)
    draw = np.array(list(sampler))
    source = np.searchsorted(np.cumsum(sizes), draw, side="right")
    shares = np.bincount(source, minlength=3) / len(draw)
    assert np.allclose(shares, weights, atol=0.015)
    # within a source, uniform over its samples (with replacement)
    first = draw[source == 0]
    assert set(first.tolist()) == set(range(10))


def test_split_across_ranks_partitions_the_draw():
    sizes, weights = [30, 71], [1.0, 2.0]
    full = WeightedMixSampler(sizes, weights, seed=1, num_replicas=3).draw()  # total_size = 102
    parts = [list(WeightedMixSampler(sizes, weights, seed=1, num_replicas=3, rank=r)) for r in range(3)]
    assert all(len(p) == 34 for p in parts)  # ceil(101 / 3)
    interleaved = [parts[r][i] for i in range(34) for r in range(3)]
    assert interleaved == full.tolist()
    assert len(WeightedMixSampler(sizes, weights, num_replicas=3, rank=0, drop_last=True)) == 33


def test_mix_dataset_for_the_trainer():
    a = [{"x": i, "labels": 0} for i in range(5)]
    b = [{"x": 100 + i, "labels": 1} for i in range(50)]
    mix = WeightedMixDataset([a, b], [0.8, 0.2], seed=0, num_samples=5000)
    sources = np.array([mix[i]["source"] for i in range(len(mix))])
    assert len(mix) == 5000 and abs((sources == 0).mean() - 0.8) < 0.03
    assert all((mix[i]["x"] < 100) == (mix[i]["source"] == 0) for i in range(50))
    before = [mix[i]["x"] for i in range(20)]
    mix.set_epoch(1)
    assert [mix[i]["x"] for i in range(20)] != before


def test_validation():
    with pytest.raises(ValueError, match="one entry per dataset"):
        mixing_probabilities([1, 2], [1.0])
    with pytest.raises(ValueError, match="non-empty"):
        mixing_probabilities([0, 2], [1.0, 1.0])
    with pytest.raises(ValueError, match="non-negative"):
        mixing_probabilities([1, 2], [-1.0, 1.0])
    with pytest.raises(ValueError, match="rank"):
        WeightedMixSampler([3], [1.0], num_replicas=2, rank=2)
