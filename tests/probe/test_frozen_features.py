"""Frozen-feature protocols (issue 13): numbers on features whose answer is known."""

import math

import pytest
import torch

from vjepa2_hf.probe.frozen_features import (
    binomial_standard_error,
    evaluate_frozen_features,
    knn_accuracy,
    linear_probe_accuracy,
    low_shot_indices,
    pool_features,
    seed_standard_error,
)


def _clusters(n, num_classes=4, dim=16, tokens=6, noise=0.3, seed=0, random_labels=False):
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(num_classes, dim, generator=torch.Generator().manual_seed(123)) * 3
    y = torch.arange(n) % num_classes
    x = centres[y][:, None, :] + noise * torch.randn(n, tokens, dim, generator=g)
    if random_labels:
        y = torch.randint(0, num_classes, (n,), generator=g)
    return x, y


def test_separable_features_reach_one():
    tx, ty = _clusters(200, seed=0)
    ex, ey = _clusters(200, seed=1)
    assert knn_accuracy(tx, ty, ex, ey, k=5).accuracy == 1.0
    assert linear_probe_accuracy(tx, ty, ex, ey).accuracy == 1.0
    assert linear_probe_accuracy(tx, ty, ex, ey, pooling="mean_std").accuracy == 1.0


def test_random_labels_are_near_chance():
    tx, ty = _clusters(400, seed=0, random_labels=True)
    ex, ey = _clusters(400, seed=1, random_labels=True)
    for result in (knn_accuracy(tx, ty, ex, ey, k=10), linear_probe_accuracy(tx, ty, ex, ey)):
        # chance 0.25, SE over 400 clips ~0.022: 4 SE either side
        assert abs(result.accuracy - 0.25) < 0.09, result


def test_std_pooling_carries_what_mean_pooling_misses():
    # classes differ only in the token spread: mean pooling is blind, mean+std sees it
    g = torch.Generator().manual_seed(0)
    y = torch.arange(300) % 2
    x = torch.randn(300, 8, 4, generator=g) * (0.2 + 2.0 * y[:, None, None])
    gx = torch.randn(300, 8, 4, generator=torch.Generator().manual_seed(1)) * (0.2 + 2.0 * y[:, None, None])
    assert linear_probe_accuracy(x, y, gx, y, pooling="mean_std").accuracy > 0.95
    assert linear_probe_accuracy(x, y, gx, y, pooling="mean").accuracy < 0.8


def test_standard_error_formulas():
    assert binomial_standard_error(0.5, 100) == pytest.approx(0.05)
    assert binomial_standard_error(0.9, 400) == pytest.approx(math.sqrt(0.09 / 400))
    assert seed_standard_error([0.5, 0.6, 0.7]) == pytest.approx(0.1 / math.sqrt(3))
    assert seed_standard_error([0.5]) == 0.0
    tx, ty = _clusters(40, noise=3.0, seed=0)
    ex, ey = _clusters(50, noise=3.0, seed=1)
    r = knn_accuracy(tx, ty, ex, ey, k=3)
    assert r.standard_error == pytest.approx(math.sqrt(r.accuracy * (1 - r.accuracy) / 50))


def test_knn_cosine_and_k():
    # cosine: the scale of a feature does not matter
    tx = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 5.0]])
    ty = torch.tensor([0, 1, 1])
    ex = torch.tensor([[10.0, 1.0], [0.1, 0.2]])
    assert knn_accuracy(tx, ty, ex, torch.tensor([0, 1]), k=1).accuracy == 1.0
    # with k=3 the majority (class 1) wins for both
    assert knn_accuracy(tx, ty, ex, torch.tensor([1, 1]), k=3).accuracy == 1.0
    with pytest.raises(ValueError, match="k must be >= 1"):
        knn_accuracy(tx, ty, ex, torch.tensor([1, 1]), k=0)


def test_low_shot_and_summary_over_seeds():
    labels = torch.arange(40) % 4
    idx = low_shot_indices(labels, 3, seed=0)
    assert len(idx) == 12 and torch.bincount(labels[idx]).tolist() == [3, 3, 3, 3]
    assert not torch.equal(idx, low_shot_indices(labels, 3, seed=1))
    with pytest.raises(ValueError, match="fewer than shots=11"):
        low_shot_indices(labels, 11)
    tx, ty = _clusters(80, noise=2.5, seed=0)
    ex, ey = _clusters(120, noise=2.5, seed=1)
    out = evaluate_frozen_features(tx, ty, ex, ey, seeds=(0, 1, 2), shots=2, attentive_epochs=15)
    assert set(out) == {"knn", "linear_mean", "linear_mean_std", "attentive", "low_shot"}
    assert len(out["knn"].accuracies) == 1 and len(out["low_shot"].accuracies) == 3
    ls = out["low_shot"]
    assert ls.se_seeds == pytest.approx(seed_standard_error(ls.accuracies))
    assert ls.accuracy == pytest.approx(sum(ls.accuracies) / 3)
    assert out["linear_mean"].accuracy > 0.6 and out["attentive"].accuracy > 0.6  # chance 0.25
    assert out["low_shot"].accuracy < out["linear_mean"].accuracy + 0.05


def test_bad_input_names_the_problem():
    with pytest.raises(ValueError, match="differ in length"):
        knn_accuracy(torch.zeros(3, 2), torch.zeros(2), torch.zeros(1, 2), torch.zeros(1))
    with pytest.raises(ValueError, match="unknown protocols"):
        evaluate_frozen_features(torch.zeros(3, 2), torch.zeros(3), torch.zeros(1, 2), torch.zeros(1),
                                 protocols=("svm",))
    with pytest.raises(ValueError, match="mode must be"):
        pool_features(torch.zeros(2, 3, 4), "max")
