"""Synthetic clips with natural content: camera motion over real photographs, objects cut from other photographs.

The photographs are the ones scikit-image ships in its wheel (``skimage/data``: astronaut, chelsea, coffee, rocket,
...). Only the image files are read (with PIL, from the installed package folder): scikit-image itself is never
imported, so `pip install vjepa2-hf[natural]` is all that is needed. The photographs are split once, by name, into
``pretrain`` and ``heldout`` sets (`PHOTO_SPLITS`); evaluation clips rendered from the held-out split contain no
photograph seen in pretraining, neither as background nor as object.

A clip (``[T, size, size, 3]`` uint8) is a window of a background photograph that the camera pans (8 directions),
zooms (in / out) or rotates (cw / ccw), with 0-4 objects (elliptical cut-outs of other photographs) moving over it;
objects overlap and occlude each other. Tasks (label families), all sampled by `sample_natural_spec`:

- ``camera``: 12 classes, 8 pan directions + zoom in / out + rotate cw / ccw (no objects);
- ``object_direction``: 8 classes, direction of a single object's motion over a static background;
- ``relative``: 3 classes, a single object pinned to the scene (moves with the background), pinned to the camera
  (static in the frame) or moving against the background, while the camera pans;
- ``speed``: 3 classes, the object's speed (slow / medium / fast), static camera;
- ``count``: 4 classes, 1-4 moving objects, static camera;
- ``mixed``: any of the above at random (pretraining data; label = the task index).
"""

from __future__ import annotations

import importlib.util
import math
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

__all__ = [
    "NATURAL_TASKS",
    "PHOTO_SPLITS",
    "NaturalSpec",
    "photograph_folder",
    "natural_content_available",
    "load_photograph",
    "sample_natural_spec",
    "render_natural_clip",
    "num_natural_classes",
    "natural_class_names",
]

NATURAL_TASKS = ("camera", "object_direction", "relative", "speed", "count", "mixed")

#: photographs (file stems in ``skimage/data``) of each split; no photograph is in both
PHOTO_SPLITS = {
    "pretrain": ("astronaut", "coffee", "brick", "grass", "motorcycle_left", "hubble_deep_field", "camera", "ihc",
                 "page", "text", "cell", "color"),
    "heldout": ("chelsea", "rocket", "gravel", "retina", "coins", "moon"),
}
_EXTENSIONS = (".png", ".jpg")
_DIRECTIONS = [(math.cos(a), math.sin(a)) for a in np.arange(8) * math.pi / 4]  # (dx, dy), 0 = right, ccw in 45°
_SPEEDS = (0.5, 1.5, 3.0)  # object speed classes, pixels per frame at 32 px (scaled with the clip size)


def photograph_folder() -> Path | None:
    """The ``skimage/data`` folder of the installed scikit-image wheel (found without importing it), or None."""
    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(list(spec.submodule_search_locations)[0]) / "data"
    return folder if folder.is_dir() else None


def natural_content_available() -> bool:
    """Whether every photograph of `PHOTO_SPLITS` is installed (`pip install vjepa2-hf[natural]`)."""
    folder = photograph_folder()
    if folder is None:
        return False
    return all(_photo_path(folder, name) is not None for names in PHOTO_SPLITS.values() for name in names)


def _photo_path(folder: Path, name: str) -> Path | None:
    for ext in _EXTENSIONS:
        if (folder / f"{name}{ext}").is_file():
            return folder / f"{name}{ext}"
    return None


@lru_cache(maxsize=64)
def load_photograph(name: str, short_side: int) -> np.ndarray:
    """Photograph ``name`` as uint8 RGB ``[H, W, 3]`` resized so that its short side is ``short_side`` (cached)."""
    from PIL import Image

    folder = photograph_folder()
    if folder is None:
        raise ImportError("natural clips need the photographs of scikit-image: pip install 'vjepa2-hf[natural]'")
    path = _photo_path(folder, name)
    if path is None:
        raise FileNotFoundError(f"photograph {name!r} not found in {folder}")
    with Image.open(path) as image:
        image = image.convert("RGB")
        scale = short_side / min(image.size)
        image = image.resize((max(short_side, round(image.width * scale)), max(short_side, round(image.height * scale))),
                             Image.BILINEAR)
        return np.asarray(image, dtype=np.uint8).copy()


@dataclass
class _Object:
    photo: str
    crop: tuple[int, int]  # top-left corner of the cut-out in the object photograph
    radius: float  # of the elliptical cut-out (pixels)
    start: tuple[float, float]  # centre (x, y) in frame pixels at frame 0
    velocity: tuple[float, float]  # pixels per frame, in the frame


@dataclass
class NaturalSpec:
    """Everything that determines a natural clip (sampled by `sample_natural_spec`, rendered by
    `render_natural_clip`)."""

    task: str
    label: int
    num_frames: int
    size: int
    background: str
    camera: str = "static"  # "static", "pan", "zoom_in", "zoom_out", "rotate_cw", "rotate_ccw"
    pan_velocity: tuple[float, float] = (0.0, 0.0)  # camera velocity over the photograph, pixels per frame
    view_offset: tuple[int, int] = (0, 0)  # window centre offset in the photograph at frame 0
    objects: list[_Object] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def num_natural_classes(task: str) -> int:
    """Number of labels of ``task``."""
    return {"camera": 12, "object_direction": 8, "relative": 3, "speed": 3, "count": 4, "mixed": 5}[task]


def natural_class_names(task: str) -> list[str]:
    """Names of the labels of ``task`` (directions and speeds named as the moving-shapes tasks name them)."""
    from .synthetic import DIRECTION_NAMES, SPEED_NAMES

    return {
        "camera": [f"pan-{d}" for d in DIRECTION_NAMES] + ["zoom-in", "zoom-out", "rotate-cw", "rotate-ccw"],
        "object_direction": list(DIRECTION_NAMES),
        "relative": ["with-scene", "with-camera", "against-scene"],
        "speed": list(SPEED_NAMES),
        "count": [f"{c}-object{'s' if c > 1 else ''}" for c in range(1, 5)],
        "mixed": list(NATURAL_TASKS[:5]),
    }[task]


def _sample_object(rng: np.random.Generator, photos, size, velocity, num_frames) -> _Object:
    radius = float(rng.uniform(0.12, 0.2) * size)
    photo = str(rng.choice(photos))
    # frame-0 centre such that the whole path stays inside the frame
    vx, vy = velocity
    span = (num_frames - 1)
    lo_x, hi_x = radius - min(0, vx * span), size - radius - max(0, vx * span)
    lo_y, hi_y = radius - min(0, vy * span), size - radius - max(0, vy * span)
    start = (float(rng.uniform(lo_x, max(lo_x, hi_x))), float(rng.uniform(lo_y, max(lo_y, hi_y))))
    source = load_photograph(photo, 2 * size)
    top = int(rng.integers(0, source.shape[0] - 2 * int(radius) - 1))
    left = int(rng.integers(0, source.shape[1] - 2 * int(radius) - 1))
    return _Object(photo, (top, left), radius, start, (float(vx), float(vy)))


def _pan(rng, size) -> tuple[int, tuple[float, float]]:
    direction = int(rng.integers(8))
    speed = float(rng.uniform(1.5, 2.5)) * size / 32
    return direction, (_DIRECTIONS[direction][0] * speed, -_DIRECTIONS[direction][1] * speed)


def sample_natural_spec(rng: np.random.Generator, task: str, num_frames: int, size: int,
                        split: str = "pretrain", label: int | None = None) -> NaturalSpec:
    """A random clip of ``task`` whose photographs all come from ``split`` (`PHOTO_SPLITS`); ``label`` fixes the
    class (drawn at random when None)."""
    if task not in NATURAL_TASKS:
        raise ValueError(f"task must be one of {NATURAL_TASKS}, got {task!r}")
    if split not in PHOTO_SPLITS:
        raise ValueError(f"split must be one of {tuple(PHOTO_SPLITS)}, got {split!r}")
    if label is not None and not 0 <= label < num_natural_classes(task):
        raise ValueError(f"`label` for task {task!r} must be in [0, {num_natural_classes(task)}), got {label}")
    pick = (lambda n: int(rng.integers(n))) if label is None else (lambda n: int(label))
    if task == "mixed":
        inner = NATURAL_TASKS[pick(5)]
        spec = sample_natural_spec(rng, inner, num_frames, size, split)
        spec.task, spec.label = "mixed", NATURAL_TASKS.index(inner)
        return spec
    photos = PHOTO_SPLITS[split]
    background = str(rng.choice(photos))
    others = [p for p in photos if p != background]
    spec = NaturalSpec(task, 0, num_frames, size, background,
                       view_offset=(int(rng.integers(-size // 4, size // 4 + 1)),
                                    int(rng.integers(-size // 4, size // 4 + 1))))
    scale = size / 32
    if task == "camera":
        spec.label = pick(12)
        if spec.label < 8:
            spec.camera = "pan"
            direction = spec.label
            speed = float(rng.uniform(1.5, 2.5)) * scale
            spec.pan_velocity = (_DIRECTIONS[direction][0] * speed, -_DIRECTIONS[direction][1] * speed)
        else:
            spec.camera = ("zoom_in", "zoom_out", "rotate_cw", "rotate_ccw")[spec.label - 8]
    elif task in ("object_direction", "speed"):
        direction = pick(8) if task == "object_direction" else int(rng.integers(8))
        klass = pick(3) if task == "speed" else int(rng.integers(3))
        speed = (_SPEEDS[klass] if task == "speed" else float(rng.uniform(1.5, 2.5))) * scale
        velocity = (_DIRECTIONS[direction][0] * speed, -_DIRECTIONS[direction][1] * speed)
        spec.label = direction if task == "object_direction" else klass
        spec.objects = [_sample_object(rng, others, size, velocity, num_frames)]
    elif task == "relative":
        _, pan = _pan(rng, size)
        spec.camera, spec.pan_velocity = "pan", pan
        spec.label = pick(3)
        # the background moves by -pan in the frame: pinned to the scene, pinned to the camera, against the scene
        velocity = {0: (-pan[0], -pan[1]), 1: (0.0, 0.0), 2: (pan[0], pan[1])}[spec.label]
        spec.objects = [_sample_object(rng, others, size, velocity, num_frames)]
    else:  # count
        spec.label = pick(4)
        for _ in range(spec.label + 1):
            _, velocity = _pan(rng, size)
            spec.objects.append(_sample_object(rng, others, size, velocity, num_frames))
    return spec


def _background_frame(spec: NaturalSpec, photo: np.ndarray, t: int) -> np.ndarray:
    from PIL import Image

    size, cy, cx = spec.size, photo.shape[0] / 2 + spec.view_offset[1], photo.shape[1] / 2 + spec.view_offset[0]
    if spec.camera == "pan":
        cx, cy = cx + spec.pan_velocity[0] * t, cy + spec.pan_velocity[1] * t
    window = float(size)
    if spec.camera in ("zoom_in", "zoom_out"):
        window = size * (1.3 - 0.05 * t if spec.camera == "zoom_in" else 0.95 + 0.05 * t)
    angle = 0.0
    if spec.camera in ("rotate_cw", "rotate_ccw"):
        angle = (4.0 if spec.camera == "rotate_ccw" else -4.0) * t
    box = (cx - window / 2, cy - window / 2, cx + window / 2, cy + window / 2)
    image = Image.fromarray(photo)
    if angle:
        image = image.rotate(angle, resample=Image.BILINEAR, center=(cx, cy))
    return np.asarray(image.resize((size, size), Image.BILINEAR, box=box))


def render_natural_clip(spec: NaturalSpec) -> np.ndarray:
    """The clip of ``spec`` as uint8 ``[num_frames, size, size, 3]``."""
    size = spec.size
    photo = load_photograph(spec.background, 3 * size)  # room for pan + zoom + offset
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    frames = np.empty((spec.num_frames, size, size, 3), dtype=np.uint8)
    for t in range(spec.num_frames):
        frame = _background_frame(spec, photo, t).astype(np.float32)
        for obj in spec.objects:
            r = int(obj.radius)
            patch = load_photograph(obj.photo, 2 * size)[obj.crop[0]: obj.crop[0] + 2 * r, obj.crop[1]: obj.crop[1] + 2 * r]
            cx, cy = obj.start[0] + obj.velocity[0] * t, obj.start[1] + obj.velocity[1] * t
            inside = ((xx - cx) ** 2 + (yy - cy) ** 2) < obj.radius ** 2
            py = np.clip((yy - cy + r).astype(np.int64), 0, 2 * r - 1)
            px = np.clip((xx - cx + r).astype(np.int64), 0, 2 * r - 1)
            frame[inside] = patch[py[inside], px[inside]]
        frames[t] = frame.clip(0, 255).astype(np.uint8)
    return frames
