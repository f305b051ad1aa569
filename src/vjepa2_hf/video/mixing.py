"""Weighted mixing of several datasets, with the official V-JEPA 2 sampler semantics.

The official pretraining (`src/datasets/utils/weighted_sampler.py::DistributedWeightedSampler`) concatenates the
datasets, gives every sample the weight `dataset_weight / dataset_size`, and each epoch draws
`total_size = ceil(N / world_size) * world_size` indices **with replacement** with
`np.random.default_rng(seed + epoch).choice(N, size=total_size, p=weights / sum(weights))`; process `rank` takes
`indices[rank::world_size]`. So a source's share of the samples is its weight, independent of its size.

* `WeightedMixSampler`: that sampler (for a `DataLoader` over `torch.utils.data.ConcatDataset(datasets)`).
* `WeightedMixDataset`: the same draw materialised as a map-style dataset (item `i` of the epoch = the `i`-th drawn
  index), for the `Trainer`, which builds its own sampler. Call `set_epoch` to redraw.
"""

from __future__ import annotations

import math
from typing import Any, Iterator, Sequence

import numpy as np
import torch

__all__ = ["WeightedMixDataset", "WeightedMixSampler", "mixing_probabilities"]


def mixing_probabilities(dataset_sizes: Sequence[int], weights: Sequence[float]) -> np.ndarray:
    """Per-sample probabilities `weight_d / size_d`, normalised, over the concatenation of the datasets."""
    if len(dataset_sizes) != len(weights):
        raise ValueError(
            f"`weights` must have one entry per dataset ({len(dataset_sizes)} datasets), got {len(weights)}"
        )
    if any(n <= 0 for n in dataset_sizes):
        raise ValueError(f"every dataset must be non-empty, got sizes {list(dataset_sizes)}")
    if any(w < 0 for w in weights) or sum(weights) <= 0:
        raise ValueError(f"`weights` must be non-negative with a positive sum, got {list(weights)}")
    probs = np.concatenate([np.full(int(n), float(w) / int(n)) for n, w in zip(dataset_sizes, weights)])
    return probs / probs.sum()


class WeightedMixSampler(torch.utils.data.Sampler[int]):
    """Official `DistributedWeightedSampler` over datasets of `dataset_sizes` mixed by `weights`.

    Args:
        dataset_sizes: sizes of the concatenated datasets (in `ConcatDataset` order).
        weights: one weight per dataset (e.g. K710 0.335, SSv2 0.100, HowTo100M 0.565).
        num_replicas, rank: distributed split (`indices[rank::num_replicas]`).
        seed: the draw of epoch `e` uses `default_rng(seed + e)` (same on every rank).
        drop_last: as `DistributedSampler` (affects `total_size` only).
        num_samples: total draws per epoch before the split (default: the total size, as the official sampler).
    """

    def __init__(
        self,
        dataset_sizes: Sequence[int],
        weights: Sequence[float],
        *,
        num_replicas: int = 1,
        rank: int = 0,
        seed: int = 0,
        drop_last: bool = False,
        num_samples: int | None = None,
    ):
        if num_replicas < 1 or not 0 <= rank < num_replicas:
            raise ValueError(f"need 0 <= rank < num_replicas, got rank={rank}, num_replicas={num_replicas}")
        self.dataset_sizes = [int(n) for n in dataset_sizes]
        self.weights = [float(w) for w in weights]
        self.probabilities = mixing_probabilities(self.dataset_sizes, self.weights)
        self.num_replicas = int(num_replicas)
        self.rank = int(rank)
        self.seed = int(seed)
        self.epoch = 0
        n = int(num_samples) if num_samples is not None else int(sum(self.dataset_sizes))
        if drop_last and n % self.num_replicas:
            self.num_samples = math.ceil((n - self.num_replicas) / self.num_replicas)
        else:
            self.num_samples = math.ceil(n / self.num_replicas)
        self.total_size = self.num_samples * self.num_replicas

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def draw(self) -> np.ndarray:
        """All `total_size` indices of the current epoch (before the split across replicas)."""
        rng = np.random.default_rng(self.seed + self.epoch)
        return rng.choice(len(self.probabilities), size=self.total_size, p=self.probabilities, replace=True)

    def __iter__(self) -> Iterator[int]:
        return iter(self.draw()[self.rank : self.total_size : self.num_replicas].tolist())

    def __len__(self) -> int:
        return self.num_samples


class WeightedMixDataset(torch.utils.data.Dataset):
    """Several map-style datasets mixed by weight; item `i` is the `i`-th draw of `WeightedMixSampler`.

    Each item is the underlying dataset's item, with `"source"` (the dataset's position) added when items are dicts.
    Call `set_epoch(e)` to redraw (also forwarded to the datasets that have `set_epoch`).
    """

    def __init__(
        self,
        datasets: Sequence[Any],
        weights: Sequence[float],
        *,
        seed: int = 0,
        num_samples: int | None = None,
        add_source: bool = True,
    ):
        if len(datasets) == 0:
            raise ValueError("`datasets` is empty")
        self.datasets = list(datasets)
        self.offsets = np.cumsum([0] + [len(d) for d in self.datasets])
        self.sampler = WeightedMixSampler([len(d) for d in self.datasets], weights, seed=seed, num_samples=num_samples)
        self.add_source = add_source
        self._drawn = self.sampler.draw()

    def set_epoch(self, epoch: int) -> None:
        self.sampler.set_epoch(epoch)
        self._drawn = self.sampler.draw()
        for d in self.datasets:
            if hasattr(d, "set_epoch"):
                d.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self._drawn)

    def locate(self, index: int) -> tuple[int, int]:
        """(dataset position, index inside it) of item `index`."""
        flat = int(self._drawn[index])
        d = int(np.searchsorted(self.offsets, flat, side="right") - 1)
        return d, flat - int(self.offsets[d])

    def __getitem__(self, index: int) -> Any:
        d, i = self.locate(index)
        item = self.datasets[d][i]
        if self.add_source and isinstance(item, dict):
            item = dict(item)
            item["source"] = d
        return item
