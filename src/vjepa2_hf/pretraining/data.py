"""Data order of pretraining: weighted mixing of sources into global batches that do not depend on the process count.

The official trainer samples each GPU's batch with a ``DistributedWeightedSampler`` (per-sample weight = source
weight / source size, with replacement, reseeded every epoch). Here the whole **global** batch of step ``s`` is a
pure function of ``(seed, s)``: ``rng = default_rng([seed, s])`` draws the source of every row by weight and a
uniform index inside it (the same distribution as the official sampler). Each process then takes its rows, split into
accumulation micro-batches. Consequences:

* 1 process x 2 accumulation steps, 2 processes x 1 step, or 4 processes see exactly the same global batch;
* resuming at step ``s`` needs nothing but ``s`` (no sampler state, no skipping through a DataLoader);
* random augmentations run under a per-sample RNG seeded from ``(seed, s, row)``, so they are reproducible too,
  whatever the number of DataLoader workers.
"""

from __future__ import annotations

import contextlib
import random
from typing import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from .masking import StepSample

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "GlobalBatchSampler",
    "StepIndexedDataset",
    "NaturalMotionClips",
    "SyntheticMotionClips",
    "sample_rng",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def normalize_clip(frames: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 ``[T, H, W, 3]`` frames -> float ``[T, 3, H, W]`` in ImageNet-normalised units."""
    clip = torch.as_tensor(frames)
    if clip.ndim != 4 or clip.shape[-1] != 3:
        raise ValueError(f"frames must be [T, H, W, 3], got shape {tuple(clip.shape)}")
    clip = clip.permute(0, 3, 1, 2).float().div_(255.0)
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (clip - mean) / std


@contextlib.contextmanager
def sample_rng(seed: Sequence[int]):
    """Run a block with torch, numpy and python RNGs seeded from ``seed`` and restore them afterwards.

    Transforms that draw from the global RNGs (as most do) become a function of ``seed`` without touching the RNG
    stream of the training loop.
    """
    value = int(np.random.SeedSequence(list(seed)).generate_state(1, dtype=np.uint32)[0])
    np_state, py_state = np.random.get_state(), random.getstate()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(value)
        np.random.seed(value)
        random.seed(value)
        try:
            yield
        finally:
            np.random.set_state(np_state)
            random.setstate(py_state)


class SyntheticMotionClips(Dataset):
    """Moving-shapes clips rendered in memory with `vjepa2_hf.video.synthetic.render_motion_clip` (no files).

    Clip ``i`` depends only on ``(seed, i)``; ``__getitem__`` returns the clip as ImageNet-normalised
    ``[T, 3, size, size]`` floats, randomly flipped left-right when ``horizontal_flip`` (drawn from the global torch
    RNG, which `StepIndexedDataset` seeds per sample). ``labels[i]`` is the task label (for probes; pretraining
    ignores it).
    """

    def __init__(
        self,
        num_clips: int,
        num_frames: int,
        size: int,
        seed: int = 0,
        task: str = "direction",
        horizontal_flip: bool = False,
    ):
        from ..video.synthetic import sample_motion_spec

        if num_clips < 1:
            raise ValueError(f"num_clips must be >= 1, got {num_clips}")
        self.num_clips, self.num_frames, self.size, self.seed, self.task = num_clips, num_frames, size, seed, task
        self.horizontal_flip = horizontal_flip
        self._specs = [
            sample_motion_spec(np.random.default_rng([seed, i]), task=task, num_frames=num_frames, size=size)
            for i in range(num_clips)
        ]
        self.labels = [spec.label for spec in self._specs]

    def __len__(self) -> int:
        return self.num_clips

    def __getitem__(self, index: int) -> torch.Tensor:
        from ..video.synthetic import render_motion_clip

        clip = normalize_clip(render_motion_clip(self._specs[index]))
        if self.horizontal_flip and torch.rand(()) < 0.5:
            clip = clip.flip(-1)
        return clip


class NaturalMotionClips(Dataset):
    """Clips of camera and object motion over real photographs (`vjepa2_hf.video.natural_synthetic`), in memory.

    Like `SyntheticMotionClips`: clip ``i`` depends only on ``(seed, i)``, items are ImageNet-normalised
    ``[T, 3, size, size]`` floats, ``labels[i]`` is the ``task`` label. ``split`` picks the photographs
    (``"pretrain"`` or ``"heldout"``: disjoint sets).
    """

    def __init__(self, num_clips: int, num_frames: int, size: int, seed: int = 0, task: str = "mixed",
                 split: str = "pretrain", horizontal_flip: bool = False):
        from ..video.natural_synthetic import sample_natural_spec

        if num_clips < 1:
            raise ValueError(f"num_clips must be >= 1, got {num_clips}")
        self.num_clips, self.num_frames, self.size, self.seed, self.task = num_clips, num_frames, size, seed, task
        self.split, self.horizontal_flip = split, horizontal_flip
        self._specs = [sample_natural_spec(np.random.default_rng([seed, i]), task, num_frames, size, split)
                       for i in range(num_clips)]
        self.labels = [spec.label for spec in self._specs]

    def __len__(self) -> int:
        return self.num_clips

    def __getitem__(self, index: int) -> torch.Tensor:
        from ..video.natural_synthetic import render_natural_clip

        clip = normalize_clip(render_natural_clip(self._specs[index]))
        if self.horizontal_flip and torch.rand(()) < 0.5:
            clip = clip.flip(-1)
        return clip


class StepIndexedDataset(Dataset):
    """Wraps the sources; an index ``(step, slot, global_batch_size, source, item)`` returns a `StepSample`.

    The item is produced under `sample_rng((seed, step, slot))`.
    """

    def __init__(self, sources: Sequence[Dataset], seed: int = 0):
        if not sources:
            raise ValueError("at least one source is needed")
        self.sources = list(sources)
        self.seed = int(seed)

    def __len__(self) -> int:
        return sum(len(s) for s in self.sources)

    def __getitem__(self, key: tuple[int, int, int, int, int]) -> StepSample:
        step, slot, global_batch_size, source, item = key
        with sample_rng((self.seed, 0x5A17, step, slot)):
            sample = self.sources[source][item]
        return StepSample(sample=sample, step=step, slot=slot, global_batch_size=global_batch_size)


class GlobalBatchSampler(Sampler[list[tuple[int, int, int, int, int]]]):
    """Yields this process's micro-batches, step after step, as lists of `StepIndexedDataset` keys.

    Row ``r`` of the global batch of step ``s`` goes to micro-batch ``m = r // (micro * P)`` of process
    ``(r // micro) % P``, so process ``p`` gets rows ``[(m * P + p) * micro, (m * P + p + 1) * micro)``.

    Args:
        source_sizes (`list[int]`): length of each source.
        weights (`list[float]`): sampling weight of each source (normalised here).
        global_batch_size (`int`): rows per step over all processes.
        micro_batch_size (`int`): rows per micro-batch.
        num_processes (`int`), process_index (`int`): this process's place.
        seed (`int`): base seed.
        start_step (`int`), total_steps (`int`): steps ``[start_step, total_steps)`` are yielded.
    """

    def __init__(
        self,
        source_sizes: Sequence[int],
        weights: Sequence[float],
        global_batch_size: int,
        micro_batch_size: int,
        num_processes: int = 1,
        process_index: int = 0,
        seed: int = 0,
        start_step: int = 0,
        total_steps: int = 1,
    ):
        if len(source_sizes) != len(weights) or not source_sizes:
            raise ValueError(f"need one weight per source, got {len(source_sizes)} sources and {len(weights)} weights")
        if any(int(n) < 1 for n in source_sizes):
            raise ValueError(f"every source must hold at least one item, got sizes {list(source_sizes)}")
        w = np.asarray(weights, dtype=np.float64)
        if (w <= 0).any():
            raise ValueError(f"source weights must be > 0, got {list(weights)}")
        if global_batch_size % (micro_batch_size * num_processes):
            raise ValueError(
                f"global_batch_size {global_batch_size} is not a multiple of micro_batch_size x num_processes "
                f"({micro_batch_size} x {num_processes})"
            )
        if not 0 <= process_index < num_processes:
            raise ValueError(f"process_index must be in [0, {num_processes}), got {process_index}")
        self.source_sizes = [int(n) for n in source_sizes]
        self.probabilities = w / w.sum()
        self.global_batch_size = int(global_batch_size)
        self.micro_batch_size = int(micro_batch_size)
        self.num_processes = int(num_processes)
        self.process_index = int(process_index)
        self.accumulation_steps = self.global_batch_size // (self.micro_batch_size * self.num_processes)
        self.seed = int(seed)
        self.start_step = int(start_step)
        self.total_steps = int(total_steps)

    def global_batch(self, step: int) -> list[tuple[int, int]]:
        """``(source, item)`` of every row of the global batch of ``step``."""
        rng = np.random.default_rng([self.seed, 0xDA7A, int(step)])
        sources = rng.choice(len(self.source_sizes), size=self.global_batch_size, p=self.probabilities)
        uniform = rng.random(self.global_batch_size)
        sizes = np.asarray(self.source_sizes)[sources]
        items = np.minimum((uniform * sizes).astype(np.int64), sizes - 1)
        return list(zip(sources.tolist(), items.tolist()))

    def rows(self, micro_step: int) -> range:
        start = (micro_step * self.num_processes + self.process_index) * self.micro_batch_size
        return range(start, start + self.micro_batch_size)

    def __iter__(self) -> Iterator[list[tuple[int, int, int, int, int]]]:
        for step in range(self.start_step, self.total_steps):
            batch = self.global_batch(step)
            for micro in range(self.accumulation_steps):
                yield [(step, r, self.global_batch_size, *batch[r]) for r in self.rows(micro)]

    def __len__(self) -> int:
        return max(0, self.total_steps - self.start_step) * self.accumulation_steps
