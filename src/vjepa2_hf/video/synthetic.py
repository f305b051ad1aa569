"""Synthetic moving-shapes videos: the package's embedded default dataset.

Every clip shows one or more shapes (circle, square, triangle) of random size, colour and start position moving in a
straight line over a plain background. The labels need motion understanding, not a single frame:

* `task="direction"`: direction of motion, 8 classes (0 = right, then counter-clockwise every 45 degrees: 1 = up-right,
  2 = up, 3 = up-left, 4 = left, 5 = down-left, 6 = down, 7 = down-right; "up" is towards row 0 of the image).
* `task="speed"`: speed class, 3 classes (0 slow, 1 medium, 2 fast), random direction.
* `task="count"`: number of moving objects, 4 classes (label = count - 1), random directions and speeds.
* `task="anticipation"`: two consecutive motions. The object moves in `first_direction` for the first
  `switch_frame = num_frames // 2` frames, then turns by a rule that depends on its shape (circle: +90 degrees, square:
  -90 degrees, triangle: +180 degrees). The label is `second_direction` (8 classes): a model that only sees the first
  `switch_frame` frames can predict it from the shape and the first motion (action anticipation).

All attributes (direction, speed, count, shapes, colours, start positions, second direction, ...) are written to
`metadata.jsonl` for every task, so one generated folder can be reused for several labels.

Generation is deterministic: clip `i` of a dataset depends only on `(seed, i)`, the task and the clip geometry.
Videos are real files (H.264 in MP4, `yuv420p`, via PyAV), so the whole decoding path is exercised.

Layout written by `generate_motion_dataset(out_dir, ...)`::

    out_dir/
      train/<label:02d>_<name>/<index:05d>.mp4     class subfolders (also usable as a plain folder dataset)
      test/<label:02d>_<name>/<index:05d>.mp4      held-out split
      train.csv, test.csv                         official V-JEPA 2 format: "<path> <label>" per line, space
                                                  separated, paths relative to out_dir
      metadata.jsonl                              one JSON object per clip with every attribute and its split
      dataset_info.json                           task, class names, geometry, seed
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from transformers.utils import logging

from .encoding import write_video

logger = logging.get_logger(__name__)

__all__ = [
    "DIRECTION_NAMES",
    "SHAPES",
    "SPEED_NAMES",
    "TASKS",
    "MotionClipSpec",
    "MovingObject",
    "decode_index_barcode",
    "generate_motion_dataset",
    "index_barcode_frames",
    "load_dataset_info",
    "render_motion_clip",
    "sample_motion_spec",
    "parity_pattern_frames",
]

DIRECTION_NAMES = ("right", "up-right", "up", "up-left", "left", "down-left", "down", "down-right")
SPEED_NAMES = ("slow", "medium", "fast")
SHAPES = ("circle", "square", "triangle")
TASKS = ("direction", "speed", "count", "anticipation")
# Speed classes in fractions of the frame size per frame (x 0.9 .. 1.1 jitter).
SPEED_LEVELS = (0.014, 0.026, 0.042)
# Anticipation rule: the second direction is the first one turned by this many 45-degree steps.
TURN_BY_SHAPE = {"circle": 2, "square": -2, "triangle": 4}
MAX_COUNT = 4
PALETTE = np.array(
    [
        [230, 25, 75],  # red
        [60, 180, 75],  # green
        [255, 225, 25],  # yellow
        [0, 130, 200],  # blue
        [245, 130, 48],  # orange
        [145, 30, 180],  # purple
        [70, 240, 240],  # cyan
        [240, 50, 230],  # magenta
    ],
    dtype=np.float32,
)
GENERATOR_VERSION = 2


def _num_classes(task: str) -> int:
    return {"direction": 8, "speed": 3, "count": MAX_COUNT, "anticipation": 8}[task]


def _classes(task: str, content: str) -> tuple[int, list[str]]:
    if content == "photographs":
        from .natural_synthetic import natural_class_names

        names = natural_class_names(task)
        return len(names), names
    return _num_classes(task), _class_names(task)


def _class_names(task: str) -> list[str]:
    if task in ("direction", "anticipation"):
        return list(DIRECTION_NAMES)
    if task == "speed":
        return list(SPEED_NAMES)
    return [f"{c}-object{'s' if c > 1 else ''}" for c in range(1, MAX_COUNT + 1)]


def _unit(direction: int) -> np.ndarray:
    """Unit displacement (dx, dy) in image coordinates (y down) for a direction class."""
    angle = direction * math.pi / 4
    return np.array([math.cos(angle), -math.sin(angle)], dtype=np.float64)


@dataclass
class MovingObject:
    """One shape and its trajectory. Sizes and positions are in pixels, velocity in pixels per frame."""

    shape: str
    color: list[int]
    radius: float
    start: list[float]  # (x, y) centre at frame 0
    direction: int
    speed: float  # pixels per frame
    second_direction: int | None = None  # direction after `switch_frame` (anticipation)

    def positions(self, num_frames: int, switch_frame: int | None) -> np.ndarray:
        """Centre positions `[T, 2]` (x, y)."""
        t = np.arange(num_frames, dtype=np.float64)
        v1 = _unit(self.direction) * self.speed
        if switch_frame is None or self.second_direction is None:
            return np.asarray(self.start)[None] + t[:, None] * v1[None]
        v2 = _unit(self.second_direction) * self.speed
        t1 = np.minimum(t, switch_frame)
        t2 = np.maximum(t - switch_frame, 0)
        return np.asarray(self.start)[None] + t1[:, None] * v1[None] + t2[:, None] * v2[None]


@dataclass
class MotionClipSpec:
    """Everything needed to render one clip (and its labels)."""

    task: str
    label: int
    num_frames: int
    size: int
    background: list[int]
    objects: list[MovingObject] = field(default_factory=list)
    switch_frame: int | None = None

    @property
    def direction(self) -> int:
        return self.objects[0].direction

    @property
    def second_direction(self) -> int:
        o = self.objects[0]
        return o.second_direction if o.second_direction is not None else o.direction

    @property
    def count(self) -> int:
        return len(self.objects)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["direction"] = self.direction
        d["direction_name"] = DIRECTION_NAMES[self.direction]
        d["second_direction"] = self.second_direction
        d["count"] = self.count
        d["speed"] = self.objects[0].speed / self.size  # fraction of the frame per frame
        d["speed_class"] = int(np.argmin([abs(self.objects[0].speed / self.size - s) for s in SPEED_LEVELS]))
        d["shape"] = self.objects[0].shape
        return d


def _place(
    rng: np.random.Generator, objects: list[MovingObject], num_frames: int, size: int, switch_frame: int | None
) -> bool:
    """Choose start positions so that every object stays fully inside the frame and, when possible, objects never come
    within 2 pixels of each other. Slows an object down until its trajectory fits. Returns False if some objects had
    to come closer (possible with 4 objects in a small frame; the count label is still right, they may touch)."""
    placed: list[tuple[np.ndarray, float]] = []
    separated = True
    for obj in objects:
        for _shrink in range(4):  # if no separated position exists, make the object smaller and slower
            margin = obj.radius + 1.0
            for _ in range(20):
                obj.start = [0.0, 0.0]
                rel = obj.positions(num_frames, switch_frame)
                lo = margin - rel.min(0)
                hi = size - margin - rel.max(0)
                if np.all(hi >= lo):
                    break
                obj.speed *= 0.85
            best, best_gap = lo, -np.inf
            for _ in range(80):
                start = lo + rng.random(2) * np.maximum(hi - lo, 0)
                traj = rel + start[None]
                gap = np.inf
                for other_traj, other_r in placed:
                    gap = min(gap, np.linalg.norm(traj - other_traj, axis=1).min() - obj.radius - other_r)
                if gap > best_gap:
                    best, best_gap = start, gap
                if gap > 2:
                    break
            if best_gap > 2:
                break
            obj.radius *= 0.85
            obj.speed *= 0.85
        separated = separated and best_gap > 2
        obj.start = [float(best[0]), float(best[1])]
        placed.append((obj.positions(num_frames, switch_frame), obj.radius))
    return separated


def sample_motion_spec(
    rng: np.random.Generator | int,
    *,
    task: str = "direction",
    label: int | None = None,
    num_frames: int = 16,
    size: int = 64,
) -> MotionClipSpec:
    """Draw a random clip for `task` (with the given `label`, or a random one)."""
    if task not in TASKS:
        raise ValueError(f"`task` must be one of {TASKS}, got {task!r}")
    if num_frames < 2:
        raise ValueError(f"`num_frames` must be >= 2 to show motion, got {num_frames}")
    if size < 16:
        raise ValueError(f"`size` must be >= 16 pixels, got {size}")
    rng = np.random.default_rng(rng) if not isinstance(rng, np.random.Generator) else rng
    n_cls = _num_classes(task)
    if label is None:
        label = int(rng.integers(n_cls))
    if not 0 <= label < n_cls:
        raise ValueError(f"`label` for task {task!r} must be in [0, {n_cls}), got {label}")

    steps = num_frames - 1
    background = [int(v) for v in rng.integers(0, 70, size=3)]
    count = label + 1 if task == "count" else 1
    switch_frame = num_frames // 2 if task == "anticipation" else None
    colors = rng.permutation(len(PALETTE))[:count]
    objects = []
    for k in range(count):
        shape = SHAPES[int(rng.integers(len(SHAPES)))]
        if task == "count":
            radius = size * rng.uniform(0.065, 0.095)
        else:
            radius = size * rng.uniform(0.09, 0.15)
        if task == "speed":
            speed_frac = SPEED_LEVELS[label] * rng.uniform(0.9, 1.1)
        else:
            # Travel between 25% and 55% of the frame over the clip (clearly visible, stays in frame).
            speed_frac = rng.uniform(0.25, 0.55) / steps
            if task == "anticipation":
                speed_frac = rng.uniform(0.18, 0.3) / max(switch_frame, 1)
        direction = int(rng.integers(8))
        second = None
        if task == "direction" and k == 0:
            direction = label
        if task == "anticipation":
            second = label
            direction = (label - TURN_BY_SHAPE[shape]) % 8
        objects.append(
            MovingObject(
                shape=shape,
                color=[int(c) for c in PALETTE[colors[k]] * rng.uniform(0.85, 1.0)],
                radius=float(radius),
                start=[0.0, 0.0],
                direction=direction,
                speed=float(speed_frac * size),
                second_direction=second,
            )
        )
    _place(rng, objects, num_frames, size, switch_frame)
    return MotionClipSpec(
        task=task,
        label=int(label),
        num_frames=num_frames,
        size=size,
        background=background,
        objects=objects,
        switch_frame=switch_frame,
    )


def _coverage(shape: str, dx: np.ndarray, dy: np.ndarray, radius: float) -> np.ndarray:
    """Anti-aliased coverage in [0, 1] of a shape centred at the origin (dx, dy: [T, H, W] offsets)."""
    if shape == "circle":
        d = np.sqrt(dx * dx + dy * dy) - radius
    elif shape == "square":
        d = np.maximum(np.abs(dx), np.abs(dy)) - radius * 0.89  # same area as the circle
    elif shape == "triangle":
        # Upward equilateral triangle: intersection of three half-planes, circumradius 1.35 r (same area).
        R = radius * 1.35
        inr = R / 2
        d = np.full_like(dx, -np.inf)
        for ang in (90.0, 210.0, 330.0):  # outward normals of the three edges (y up)
            a = math.radians(ang + 180.0)
            nx, ny = math.cos(a), -math.sin(a)
            d = np.maximum(d, dx * nx + dy * ny - inr)
    else:
        raise ValueError(f"unknown shape {shape!r}; expected one of {SHAPES}")
    return np.clip(0.5 - d, 0.0, 1.0)


def render_motion_clip(
    spec: MotionClipSpec | None = None,
    *,
    num_frames: int = 16,
    size: int = 64,
    seed: int | np.random.Generator = 0,
    task: str = "direction",
    label: int | None = None,
) -> np.ndarray:
    """Render a clip in memory.

    Args:
        spec: a `MotionClipSpec` (from `sample_motion_spec`); when None one is drawn from `seed`, `task` and `label`.
        num_frames, size, seed, task, label: used only when `spec` is None.

    Returns:
        uint8 array `[T, size, size, 3]` (RGB).
    """
    if spec is None:
        spec = sample_motion_spec(seed, task=task, label=label, num_frames=num_frames, size=size)
    T, S = spec.num_frames, spec.size
    img = np.empty((T, S, S, 3), dtype=np.float32)
    img[:] = np.asarray(spec.background, dtype=np.float32)
    coords = np.arange(S, dtype=np.float32) + 0.5
    for obj in spec.objects:
        pos = obj.positions(T, spec.switch_frame).astype(np.float32)  # [T, 2]
        dx = coords[None, None, :] - pos[:, 0, None, None]
        dy = coords[None, :, None] - pos[:, 1, None, None]
        alpha = _coverage(obj.shape, dx, dy, obj.radius)[..., None]
        img = img * (1 - alpha) + alpha * np.asarray(obj.color, dtype=np.float32)
    return np.clip(img + 0.5, 0, 255).astype(np.uint8)


def index_barcode_frames(num_frames: int, height: int = 64, width: int = 64, bits: int | None = None) -> np.ndarray:
    """Frames that encode their own index as a black/white bar code (robust to lossy compression).

    Frame `t` is split into `bits` vertical bands; band `b` is white when bit `b` of `t` is set. Used to check that
    clip sampling returns exactly the frames it claims. Returns uint8 `[T, H, W, 3]`.
    """
    bits = bits or max(1, math.ceil(math.log2(max(num_frames, 2))))
    edges = np.linspace(0, width, bits + 1).round().astype(int)
    frames = np.zeros((num_frames, height, width, 3), dtype=np.uint8)
    for t in range(num_frames):
        for b in range(bits):
            if (t >> b) & 1:
                frames[t, :, edges[b] : edges[b + 1]] = 255
    return frames


def parity_pattern_frames(num_frames: int, height: int, width: int, seed: int = 0) -> np.ndarray:
    """Deterministic uint8 frames `[T, H, W, 3]` from integer arithmetic only (identical on every platform and numpy
    version): diagonal ramps with sharp wrap-around edges, a moving square, and hashed pixel noise. Used as the input of
    the stored processor-parity reference."""
    t, y, x = np.meshgrid(
        np.arange(num_frames, dtype=np.int64), np.arange(height, dtype=np.int64), np.arange(width, dtype=np.int64),
        indexing="ij",
    )
    out = np.empty((num_frames, height, width, 3), dtype=np.uint8)
    for c in range(3):
        ramp = (x * (3 + c) + y * (5 - c) + t * 11 + c * 70 + seed * 17) % 256
        noise = ((x * 73856093) ^ (y * 19349663) ^ (t * 83492791) ^ (c * 2654435761 + seed)) % 61
        square = ((x - 2 * t - seed) % width < width // 3) & ((y + t) % height < height // 3)
        out[..., c] = ((ramp + noise + square * (90 + 40 * c)) % 256).astype(np.uint8)
    return out


def decode_index_barcode(frames: np.ndarray, bits: int) -> np.ndarray:
    """Inverse of `index_barcode_frames`: frame indices `[T]` (int64) read from `[T, H, W, 3]` frames."""
    frames = np.asarray(frames)
    width = frames.shape[2]
    edges = np.linspace(0, width, bits + 1).round().astype(int)
    out = np.zeros(frames.shape[0], dtype=np.int64)
    for b in range(bits):
        lo, hi = edges[b], edges[b + 1]
        pad = max((hi - lo) // 4, 0)
        band = frames[:, :, lo + pad : hi - pad].astype(np.float32).mean(axis=(1, 2, 3))
        out |= (band > 127).astype(np.int64) << b
    return out


def _split_assignment(labels: np.ndarray, held_out_fraction: float) -> np.ndarray:
    """Stratified split: within each class, the first `round(fraction * n_class)` clips (by index) are held out."""
    is_test = np.zeros(len(labels), dtype=bool)
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        n_test = int(round(held_out_fraction * len(idx)))
        if 0 < held_out_fraction and n_test == 0 and len(idx) > 1:
            n_test = 1
        is_test[idx[:n_test]] = True
    return is_test


def _check_dataset_arguments(task: str, num_videos: int, size: int, held_out_fraction: float,
                             content: str = "shapes") -> None:
    if content not in ("shapes", "photographs"):
        raise ValueError(f"`content` must be 'shapes' or 'photographs', got {content!r}")
    if content == "photographs":
        from .natural_synthetic import NATURAL_TASKS, natural_content_available

        tasks = tuple(t for t in NATURAL_TASKS if t != "mixed")
        if task not in tasks:
            raise ValueError(f"`task` must be one of {tasks} with content='photographs', got {task!r}")
        if not natural_content_available():
            raise ValueError("content='photographs' needs the photographs of scikit-image: "
                             "pip install 'vjepa2-hf[natural]'")
    elif task not in TASKS:
        raise ValueError(f"`task` must be one of {TASKS}, got {task!r}")
    if num_videos < 1:
        raise ValueError(f"`num_videos` must be >= 1, got {num_videos}")
    if size % 2 or size < 16:
        raise ValueError(f"`size` must be an even number >= 16 (H.264 with yuv420p), got {size}")
    if not 0.0 <= held_out_fraction < 1.0:
        raise ValueError(f"`held_out_fraction` must be in [0, 1), got {held_out_fraction}")


def _write_lists(out_dir: str, rows: list[dict[str, Any]]) -> None:
    """`metadata.jsonl` (one row per clip) and the `train.csv` / `test.csv` lists (`path label`)."""
    with open(os.path.join(out_dir, "metadata.jsonl"), "w") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
    for split in ("train", "test"):
        with open(os.path.join(out_dir, f"{split}.csv"), "w") as f:
            for row in rows:
                if row["split"] == split:
                    f.write(f"{row['path']} {row['label']}\n")


def _write_clips(out_dir: str, params: dict[str, Any], labels: np.ndarray, is_test: np.ndarray,
                 names: list[str], progress: bool = True) -> list[dict[str, Any]]:
    """Render and encode every clip into `split/label/index.mp4`; one metadata row each."""
    from tqdm.auto import tqdm

    seed, task, num_frames, size = params["seed"], params["task"], params["num_frames"], params["size"]
    rows: list[dict[str, Any]] = []
    num_videos = len(labels)
    for i in tqdm(range(num_videos), desc=f"synth {task}", disable=not progress or num_videos < 200, leave=False):
        rng = np.random.default_rng([seed, i])
        spec, frames = _render(params["content"], rng, task, int(labels[i]), num_frames, size)
        split = "test" if is_test[i] else "train"
        rel = os.path.join(split, f"{spec.label:02d}_{names[spec.label]}", f"{i:05d}.mp4")
        write_video(os.path.join(out_dir, rel), frames, fps=params["fps"], crf=params["crf"])
        row = {"file_name": rel, "path": rel, "label": spec.label, "label_name": names[spec.label], "split": split}
        row["index"] = i
        row.update({k: v for k, v in spec.to_dict().items() if k not in ("label",)})
        rows.append(row)
    return rows


def _render(content: str, rng: np.random.Generator, task: str, label: int, num_frames: int, size: int):
    """`(spec, frames)` of one clip: moving shapes, or (``"photographs"``) natural content over the held-out
    photographs of `natural_synthetic.PHOTO_SPLITS` (never seen by the natural pretraining recipe)."""
    if content == "photographs":
        from .natural_synthetic import render_natural_clip, sample_natural_spec

        spec = sample_natural_spec(rng, task, num_frames, size, split="heldout", label=label)
        return spec, render_natural_clip(spec)
    spec = sample_motion_spec(rng, task=task, label=label, num_frames=num_frames, size=size)
    return spec, render_motion_clip(spec)


def generate_motion_dataset(
    out_dir: str | os.PathLike,
    num_videos: int,
    *,
    num_frames: int = 16,
    size: int = 64,
    fps: float = 8,
    seed: int = 0,
    task: str = "direction",
    held_out_fraction: float = 0.25,
    crf: int = 18,
    overwrite: bool = True,
    content: str = "shapes",
    progress: bool = True,
) -> str:
    """Write a synthetic video dataset (real H.264 MP4 files) with a train / held-out split: moving shapes, or camera
    and object motion over real photographs (``content="photographs"``).

    Args:
        out_dir: output folder (created).
        num_videos: total number of clips (train + held-out). Labels are balanced: clip `i` has label
            `perm[i] % num_classes`.
        num_frames: frames per clip.
        size: frame height and width in pixels (even, >= 16).
        fps: frame rate written in the files.
        seed: clip `i` depends only on `(seed, i)`, the task and the geometry.
        task: one of `"direction"` (8 classes), `"speed"` (3), `"count"` (4), `"anticipation"` (8); see the module
            docstring.
        held_out_fraction: fraction of each class put in the `test` split.
        crf: H.264 quality (lower = closer to the rendered pixels).
        overwrite: when False and `out_dir/dataset_info.json` already describes the same parameters, return without
            regenerating.
        content: `"shapes"` (this module's renderer) or `"photographs"` (`natural_synthetic`, over its held-out
            photographs, with its tasks `"camera"` (12 classes), `"object_direction"` (8), `"relative"` (3),
            `"speed"` (3), `"count"` (4); needs the `natural` extra).
        progress: a progress bar while writing (200 clips or more).

    Returns:
        `out_dir` as a string. See the module docstring for the files written.
    """
    _check_dataset_arguments(task, num_videos, size, held_out_fraction, content)
    out_dir = os.path.abspath(os.fspath(out_dir))
    params = dict(
        num_videos=int(num_videos),
        num_frames=int(num_frames),
        size=int(size),
        fps=float(fps),
        seed=int(seed),
        task=task,
        held_out_fraction=float(held_out_fraction),
        crf=int(crf),
        generator_version=GENERATOR_VERSION,
        content=content,
    )
    info_path = os.path.join(out_dir, "dataset_info.json")
    if not overwrite and os.path.isfile(info_path):
        with open(info_path) as f:
            old = json.load(f)
        if {k: old.get(k) for k in params} == params:
            logger.info(f"synthetic dataset already present in {out_dir}")
            return out_dir
    os.makedirs(out_dir, exist_ok=True)

    n_cls, names = _classes(task, content)
    perm = np.random.default_rng([seed, 1_000_003]).permutation(num_videos)
    labels = perm % n_cls
    is_test = _split_assignment(labels, held_out_fraction)

    t0 = time.perf_counter()
    rows = _write_clips(out_dir, params, labels, is_test, names, progress)
    _write_lists(out_dir, rows)
    info = dict(
        params, class_names=names, num_classes=n_cls, num_train=int((~is_test).sum()), num_test=int(is_test.sum())
    )
    info["switch_frame"] = num_frames // 2 if task == "anticipation" else None
    with open(info_path, "w") as f:
        json.dump(info, f, indent=2)
    logger.info(f"wrote {num_videos} {task} clips to {out_dir} in {time.perf_counter() - t0:.1f}s")
    return out_dir


def load_dataset_info(path: str | os.PathLike) -> dict[str, Any]:
    """Read `dataset_info.json` of a folder written by `generate_motion_dataset`."""
    info_path = os.path.join(os.fspath(path), "dataset_info.json")
    if not os.path.isfile(info_path):
        raise FileNotFoundError(f"{info_path} not found: `path` must be a folder written by generate_motion_dataset")
    with open(info_path) as f:
        return json.load(f)
