"""Multi-block 3-D masking of V-JEPA 2 pretraining, as a seedable, worker-safe collator.

The rule is the official one (``src/masks/multiseq_multiblock3d.py::_MaskGenerator``):

1. once per batch and per mask configuration, draw a block size from three uniforms (in this order):
   ``t = max(1, int(T' * U(t_min, t_max)))``; ``num = int(H' * W' * U(s_min, s_max))``;
   ``ar = U(ar_min, ar_max)`` (linear, not log); ``h = round(sqrt(num * ar))``, ``w = round(sqrt(num / ar))``,
   each clipped to the grid;
2. for every sample, zero ``num_blocks`` boxes of that size at uniformly random positions (the union is the
   target set); if ``max_temporal_keep < 1`` also mask every frame at or after ``max(1, int(T' * keep))``;
   redraw a sample whose context came out empty;
3. targets are the masked flat indices, context the kept ones, both ascending; every list is then
   **truncated to the shortest one in the batch** (keeping the lowest indices), optionally further capped by
   ``max_keep``.

Differences from the official code, on purpose:

* Randomness. The official generator seeds the block size with a shared multiprocessing counter and places the
  boxes with the *global* torch RNG, so the masks depend on the worker count and on everything else that uses the
  global RNG. Here everything is drawn from ``numpy.random.default_rng([seed, step, config_index])``: the masks of
  a batch are a pure function of ``(seed, step)``, whatever the number of DataLoader workers or processes.
* Global batch. The masks are drawn for the **global** batch (all processes, all accumulation micro-batches) and
  each process keeps its own rows. The block size is then shared by the global batch and the truncation length is
  the global minimum, so a run on 1 or N processes sees exactly the same masks. (The official code draws and
  equalises per GPU batch.)

Flat token index: ``n = t * H' * W' + h * W' + w`` (the patch-embedding order).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import torch
from torch.utils.data import default_collate, get_worker_info

__all__ = [
    "MaskBlockConfig",
    "OFFICIAL_MASK_CONFIGS",
    "MultiBlockMaskGenerator",
    "MultiBlockMaskCollator",
    "StepSample",
    "MaskedBatch",
    "masked_fraction",
]


@dataclass(frozen=True)
class MaskBlockConfig:
    """One mask configuration (one entry of the official ``mask:`` list).

    Args:
        num_blocks (`int`): boxes per sample (official ``num_blocks``, the generator's ``npred``).
        spatial_scale (`tuple[float, float]`): range of the box area as a fraction of ``H' * W'``.
        temporal_scale (`tuple[float, float]`): range of the box duration as a fraction of ``T'``.
        aspect_ratio (`tuple[float, float]`): range of the box height/width ratio (drawn linearly).
        max_temporal_keep (`float`): fraction of the frames that may hold context; later frames are all targets.
        max_keep (`int`, *optional*): cap on the number of context tokens.
        full_complement (`bool`): targets := complement of the (truncated) context.
        pred_full_complement (`bool`): context := complement of the (truncated) targets.
        inv_block (`bool`): swap the roles of context and targets (the boxes become the context).
    """

    num_blocks: int = 8
    spatial_scale: tuple[float, float] = (0.15, 0.15)
    temporal_scale: tuple[float, float] = (1.0, 1.0)
    aspect_ratio: tuple[float, float] = (0.75, 1.5)
    max_temporal_keep: float = 1.0
    max_keep: int | None = None
    full_complement: bool = False
    pred_full_complement: bool = False
    inv_block: bool = False

    def __post_init__(self):
        for name in ("spatial_scale", "temporal_scale", "aspect_ratio"):
            value = getattr(self, name)
            if not isinstance(value, (tuple, list)) or len(value) != 2:
                raise ValueError(f"MaskBlockConfig.{name} must be a pair (min, max), got {value!r}")
            lo, hi = float(value[0]), float(value[1])
            if not (0 < lo <= hi) or (name != "aspect_ratio" and hi > 1.0):
                raise ValueError(
                    f"MaskBlockConfig.{name} must satisfy 0 < min <= max"
                    f"{' <= 1' if name != 'aspect_ratio' else ''}, got {value!r}"
                )
            object.__setattr__(self, name, (lo, hi))
        if int(self.num_blocks) < 1:
            raise ValueError(f"MaskBlockConfig.num_blocks must be >= 1, got {self.num_blocks!r}")
        if not 0 < float(self.max_temporal_keep) <= 1:
            raise ValueError(f"MaskBlockConfig.max_temporal_keep must be in (0, 1], got {self.max_temporal_keep!r}")
        if self.max_keep is not None and int(self.max_keep) < 1:
            raise ValueError(f"MaskBlockConfig.max_keep must be None or >= 1, got {self.max_keep!r}")

    @classmethod
    def from_dict(cls, cfg: Mapping[str, Any]) -> "MaskBlockConfig":
        """Build from a dict with this class's field names or the official config keys (``num_blocks``,
        ``spatial_scale``, ``temporal_scale``, ``aspect_ratio``, ``max_temporal_keep``, ``max_keep``,
        ``full_complement``, ``pred_full_complement``, ``inv_block``)."""
        known = set(cls.__dataclass_fields__)
        unknown = set(cfg) - known
        if unknown:
            raise ValueError(f"unknown mask config keys {sorted(unknown)}; expected a subset of {sorted(known)}")
        values = dict(cfg)
        for name in ("spatial_scale", "temporal_scale", "aspect_ratio"):
            if name in values:
                values[name] = tuple(values[name])
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for name in ("spatial_scale", "temporal_scale", "aspect_ratio"):
            out[name] = list(out[name])
        return out


#: The two mask configurations of every official pretraining and cooldown config
#: (``configs/train/*/pretrain-256px-16f.yaml``): "short range" and "long range".
OFFICIAL_MASK_CONFIGS: tuple[MaskBlockConfig, ...] = (
    MaskBlockConfig(num_blocks=8, spatial_scale=(0.15, 0.15), temporal_scale=(1.0, 1.0), aspect_ratio=(0.75, 1.5)),
    MaskBlockConfig(num_blocks=2, spatial_scale=(0.7, 0.7), temporal_scale=(1.0, 1.0), aspect_ratio=(0.75, 1.5)),
)


def _check_grid(grid: Sequence[int]) -> tuple[int, int, int]:
    if len(grid) != 3 or any(int(g) < 1 for g in grid):
        raise ValueError(f"grid must be three positive ints (T', H', W'), got {tuple(grid)!r}")
    return int(grid[0]), int(grid[1]), int(grid[2])


class MultiBlockMaskGenerator:
    """Draws the (context, target) index lists of one mask configuration for a batch.

    Stateless: all randomness comes from the ``numpy.random.Generator`` passed to each call.
    """

    def __init__(self, config: MaskBlockConfig):
        self.config = config

    def sample_block_size(self, rng: np.random.Generator, grid: Sequence[int]) -> tuple[int, int, int]:
        """The official ``_sample_block_size``: returns ``(t, h, w)`` in tokens."""
        duration, height, width = _check_grid(grid)
        cfg = self.config
        u_t, u_s, u_ar = rng.random(3)
        t_scale = cfg.temporal_scale[0] + u_t * (cfg.temporal_scale[1] - cfg.temporal_scale[0])
        t = max(1, int(duration * t_scale))
        s_scale = cfg.spatial_scale[0] + u_s * (cfg.spatial_scale[1] - cfg.spatial_scale[0])
        num = int(height * width * s_scale)
        ar = cfg.aspect_ratio[0] + u_ar * (cfg.aspect_ratio[1] - cfg.aspect_ratio[0])
        h = min(int(round(math.sqrt(num * ar))), height)
        w = min(int(round(math.sqrt(num / ar))), width)
        if h < 1 or w < 1:
            raise ValueError(
                f"mask config {cfg} gives an empty block ({t}x{h}x{w} tokens) on the token grid {tuple(grid)}; "
                "raise spatial_scale or use a larger crop / smaller patch"
            )
        return min(t, duration), h, w

    def sample_keep_grids(
        self, rng: np.random.Generator, grid: Sequence[int], block: tuple[int, int, int], batch_size: int
    ) -> np.ndarray:
        """Per-sample keep maps (1 = context, 0 = masked) before any truncation.

        Returns:
            `np.ndarray` of bool, shape `(batch_size, T', H', W')`.
        """
        duration, height, width = _check_grid(grid)
        t, h, w = block
        n = self.config.num_blocks
        keep = np.empty((batch_size, duration, height, width), dtype=bool)
        todo = np.arange(batch_size)
        max_context = max(1, int(duration * self.config.max_temporal_keep))
        ar_t, ar_h, ar_w = np.arange(duration), np.arange(height), np.arange(width)
        for _ in range(1000):  # redraw the samples whose context came out empty (official behaviour)
            k = len(todo)
            # same draw order per box as the official code: top, left, start
            top = rng.integers(0, height - h + 1, size=(k, n))
            left = rng.integers(0, width - w + 1, size=(k, n))
            start = rng.integers(0, duration - t + 1, size=(k, n))
            in_t = (ar_t >= start[..., None]) & (ar_t < start[..., None] + t)  # (k, n, T')
            in_h = (ar_h >= top[..., None]) & (ar_h < top[..., None] + h)  # (k, n, H')
            in_w = (ar_w >= left[..., None]) & (ar_w < left[..., None] + w)  # (k, n, W')
            masked = np.zeros((k, duration, height, width), dtype=bool)
            for j in range(n):  # union of the boxes; a loop over boxes keeps memory at k*T'*H'*W'
                masked |= in_t[:, j, :, None, None] & in_h[:, j, None, :, None] & in_w[:, j, None, None, :]
            if max_context < duration:
                masked[:, max_context:] = True
            keep[todo] = ~masked
            empty = ~keep[todo].reshape(k, -1).any(axis=1)
            todo = todo[empty]
            if len(todo) == 0:
                return keep
        raise RuntimeError(f"could not draw a non-empty context for mask config {self.config} on grid {grid}")

    def __call__(
        self, batch_size: int, grid: Sequence[int], rng: np.random.Generator
    ) -> tuple[torch.Tensor, torch.Tensor, tuple[int, int, int]]:
        """Masks of one batch.

        Args:
            batch_size (`int`): number of samples (the global batch).
            grid (`tuple[int, int, int]`): the token grid ``(T', H', W')`` of the clips.
            rng (`numpy.random.Generator`): source of all the randomness of this call.

        Returns:
            context (`torch.LongTensor` of shape `(batch_size, K_ctx)`), target (`torch.LongTensor` of shape
            `(batch_size, K_tgt)`), both ascending per row, and the block size ``(t, h, w)``.
        """
        if int(batch_size) < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size!r}")
        cfg = self.config
        block = self.sample_block_size(rng, grid)
        keep = self.sample_keep_grids(rng, grid, block, batch_size).reshape(batch_size, -1)
        if cfg.inv_block:
            keep = ~keep
        n_ctx = keep.sum(axis=1)
        n_tgt = keep.shape[1] - n_ctx
        k_ctx = int(n_ctx.min())
        if cfg.max_keep is not None:
            k_ctx = min(k_ctx, int(cfg.max_keep))
        k_tgt = int(n_tgt.min())
        if k_ctx < 1 or k_tgt < 1:
            raise ValueError(
                f"mask config {cfg} on grid {tuple(grid)} left {k_ctx} context and {k_tgt} target tokens for some "
                "sample; both must be >= 1"
            )
        # argsort of a stable sort on "not keep" lists the kept indices first in ascending order, then the masked
        # ones in ascending order: row-wise nonzero / argwhere of the official code, vectorised.
        order = np.argsort(~keep, axis=1, kind="stable")
        context = np.stack([order[b, : n_ctx[b]][:k_ctx] for b in range(batch_size)])
        target = np.stack([order[b, n_ctx[b] :][:k_tgt] for b in range(batch_size)])
        n_tokens = keep.shape[1]
        if cfg.full_complement:
            target = np.stack([np.setdiff1d(np.arange(n_tokens), row, assume_unique=True) for row in context])
        elif cfg.pred_full_complement:
            context = np.stack([np.setdiff1d(np.arange(n_tokens), row, assume_unique=True) for row in target])
        return torch.from_numpy(context.astype(np.int64)), torch.from_numpy(target.astype(np.int64)), block


@dataclass
class StepSample:
    """A dataset sample tagged with its place in the global batch stream (what `GlobalBatchSampler` yields).

    Args:
        sample: the dataset item (a tensor ``[T, C, H, W]``, a dict holding ``pixel_values_videos``, or a tuple
            whose first element is the clip).
        step (`int`): the optimizer step this sample belongs to.
        slot (`int`): its row in the global batch of that step.
        global_batch_size (`int`): size of the global batch of that step.
    """

    sample: Any
    step: int
    slot: int
    global_batch_size: int


@dataclass
class MaskedBatch:
    """A collated batch with its masks (what `MultiBlockMaskCollator` returns).

    Args:
        pixel_values_videos (`torch.FloatTensor` of shape `(batch_size, T, C, H, W)`): the clips.
        context_masks (`list[torch.LongTensor]`): one `(batch_size, K_ctx)` index tensor per mask config.
        target_masks (`list[torch.LongTensor]`): one `(batch_size, K_tgt)` index tensor per mask config.
        block_sizes (`list[tuple[int, int, int]]`): the ``(t, h, w)`` block of each mask config.
        step (`int`): the step whose seed drew the masks.
        extras (`dict`): the other collated fields of dict samples (labels, ...).
    """

    pixel_values_videos: torch.Tensor
    context_masks: list[torch.Tensor]
    target_masks: list[torch.Tensor]
    block_sizes: list[tuple[int, int, int]]
    step: int
    extras: dict[str, Any] = field(default_factory=dict)

    def to(self, device: torch.device | str) -> "MaskedBatch":
        self.pixel_values_videos = self.pixel_values_videos.to(device, non_blocking=True)
        self.context_masks = [m.to(device, non_blocking=True) for m in self.context_masks]
        self.target_masks = [m.to(device, non_blocking=True) for m in self.target_masks]
        return self

    def pin_memory(self) -> "MaskedBatch":
        self.pixel_values_videos = self.pixel_values_videos.pin_memory()
        self.context_masks = [m.pin_memory() for m in self.context_masks]
        self.target_masks = [m.pin_memory() for m in self.target_masks]
        return self


def _clip_of(sample: Any) -> tuple[torch.Tensor, dict[str, Any]]:
    if isinstance(sample, torch.Tensor):
        return sample, {}
    if isinstance(sample, Mapping):
        if "pixel_values_videos" not in sample:
            raise ValueError(f"dict samples must hold 'pixel_values_videos'; got keys {sorted(sample)}")
        return sample["pixel_values_videos"], {k: v for k, v in sample.items() if k != "pixel_values_videos"}
    if isinstance(sample, (tuple, list)) and sample and isinstance(sample[0], torch.Tensor):
        return sample[0], {f"field_{i}": v for i, v in enumerate(sample[1:], start=1)}
    raise ValueError(
        "a sample must be a clip tensor [T, C, H, W], a dict with 'pixel_values_videos' or a tuple (clip, ...); "
        f"got {type(sample).__name__}"
    )


class MultiBlockMaskCollator:
    """Collates clips and draws their multi-block masks, one (context, target) pair per mask configuration.

    The masks of a batch depend only on ``(seed, step)`` and the token grid:

    * samples wrapped in `StepSample` (what `GlobalBatchSampler` produces) carry their step and their row in the
      global batch, so masks are drawn for the whole global batch and each process keeps its rows — identical
      masks whatever the number of processes, accumulation steps or DataLoader workers;
    * plain samples use a per-collator batch counter; inside a DataLoader worker the counter is combined with the
      worker id so that batch ``b`` gets seed step ``b`` (the DataLoader hands batches to workers round-robin),
      which makes the masks independent of ``num_workers`` within one pass over the loader.

    Args:
        mask_configs (`Sequence[MaskBlockConfig | dict]`): the mask configurations (default: the official two).
        patch_size (`int`): spatial patch size of the encoder.
        tubelet_size (`int`): temporal patch size of the encoder.
        seed (`int`): base seed.

    Example:
        ```python
        collator = MultiBlockMaskCollator(patch_size=16, tubelet_size=2, seed=0)
        batch = collator([torch.zeros(16, 3, 256, 256)] * 4)
        batch.context_masks[0].shape  # (4, K_ctx) for the 8-block config
        ```
    """

    def __init__(
        self,
        mask_configs: Sequence[MaskBlockConfig | Mapping[str, Any]] = OFFICIAL_MASK_CONFIGS,
        patch_size: int = 16,
        tubelet_size: int = 2,
        seed: int = 0,
    ):
        if not mask_configs:
            raise ValueError("mask_configs must hold at least one mask configuration")
        self.mask_configs = [c if isinstance(c, MaskBlockConfig) else MaskBlockConfig.from_dict(c) for c in mask_configs]
        self.generators = [MultiBlockMaskGenerator(c) for c in self.mask_configs]
        if int(patch_size) < 1 or int(tubelet_size) < 1:
            raise ValueError(f"patch_size and tubelet_size must be >= 1, got {patch_size!r}, {tubelet_size!r}")
        self.patch_size = int(patch_size)
        self.tubelet_size = int(tubelet_size)
        self.seed = int(seed)
        self._counter = 0
        self._cache: tuple[Any, list] | None = None

    def grid_for(self, num_frames: int, height: int, width: int) -> tuple[int, int, int]:
        """Token grid ``(T', H', W')`` of clips of ``num_frames x height x width`` pixels."""
        if num_frames < self.tubelet_size or height < self.patch_size or width < self.patch_size:
            raise ValueError(
                f"clip of {num_frames} frames of {height}x{width} px is smaller than one {self.tubelet_size}x"
                f"{self.patch_size}x{self.patch_size} tubelet"
            )
        return num_frames // self.tubelet_size, height // self.patch_size, width // self.patch_size

    def masks_for_step(
        self, step: int, grid: Sequence[int], global_batch_size: int, rows: Sequence[int] | None = None
    ) -> tuple[list[torch.Tensor], list[torch.Tensor], list[tuple[int, int, int]]]:
        """Masks of the global batch of ``step`` (optionally only some of its rows).

        Returns:
            (context_masks, target_masks, block_sizes): per mask config, `(len(rows), K_ctx)` and
            `(len(rows), K_tgt)` LongTensors and the ``(t, h, w)`` block size.
        """
        grid = _check_grid(grid)
        key = (self.seed, int(step), grid, int(global_batch_size))
        if self._cache is None or self._cache[0] != key:
            # one global draw per step, reused by the accumulation micro-batches of that step
            drawn = [
                generator(global_batch_size, grid, np.random.default_rng([self.seed, int(step), index]))
                for index, generator in enumerate(self.generators)
            ]
            self._cache = (key, drawn)
        contexts, targets, blocks = [], [], []
        for ctx, tgt, block in self._cache[1]:
            if rows is not None:
                rows_t = torch.as_tensor(list(rows), dtype=torch.long)
                if rows_t.numel() and (int(rows_t.min()) < 0 or int(rows_t.max()) >= global_batch_size):
                    raise ValueError(f"rows must lie in [0, {global_batch_size}), got {list(rows)}")
                ctx, tgt = ctx[rows_t], tgt[rows_t]
            contexts.append(ctx)
            targets.append(tgt)
            blocks.append(block)
        return contexts, targets, blocks

    def _next_plain_step(self) -> int:
        info = get_worker_info()
        count = self._counter
        self._counter += 1
        if info is None:
            return count
        return count * info.num_workers + info.id

    def __call__(self, samples: Sequence[Any]) -> MaskedBatch:
        if len(samples) == 0:
            raise ValueError("cannot collate an empty batch")
        if all(isinstance(s, StepSample) for s in samples):
            steps = {s.step for s in samples}
            sizes = {s.global_batch_size for s in samples}
            if len(steps) != 1 or len(sizes) != 1:
                raise ValueError(f"a batch must come from one step of one global batch; got steps {sorted(steps)}")
            step, global_batch_size = steps.pop(), sizes.pop()
            rows = [s.slot for s in samples]
            items = [s.sample for s in samples]
        elif any(isinstance(s, StepSample) for s in samples):
            raise ValueError("a batch mixes StepSample and plain samples")
        else:
            step, global_batch_size, rows, items = self._next_plain_step(), len(samples), None, list(samples)
        clips, extras = zip(*(_clip_of(item) for item in items))
        shapes = {tuple(c.shape) for c in clips}
        if len(shapes) != 1:
            raise ValueError(f"all clips of a batch must have the same shape [T, C, H, W]; got {sorted(shapes)}")
        shape = shapes.pop()
        if len(shape) != 4:
            raise ValueError(f"clips must be [T, C, H, W] tensors, got shape {shape}")
        grid = self.grid_for(shape[0], shape[2], shape[3])
        context, target, blocks = self.masks_for_step(step, grid, global_batch_size, rows)
        collated_extras = default_collate(list(extras)) if extras and extras[0] else {}
        return MaskedBatch(
            pixel_values_videos=torch.stack(list(clips)),
            context_masks=context,
            target_masks=target,
            block_sizes=blocks,
            step=step,
            extras=collated_extras,
        )

    # checkpointable (Accelerate's register_for_checkpointing protocol)
    def state_dict(self) -> dict[str, Any]:
        return {"seed": self.seed, "counter": self._counter}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.seed = int(state["seed"])
        self._counter = int(state["counter"])


def masked_fraction(target_masks: Iterable[torch.Tensor], num_tokens: int) -> list[float]:
    """Fraction of the tokens that are prediction targets, per mask config (after truncation)."""
    return [m.shape[1] / float(num_tokens) for m in target_masks]
