"""Video transforms in pure torch (no torchvision): input conversion, resize, crops, normalisation, and the official
V-JEPA 2 training augmentation and multi-view evaluation transform.

Layout convention: a video tensor is `[T, C, H, W]` (transformers' `pixel_values_videos` layout per video). The official
code works in `[C, T, H, W]`; every function here documents the layout it takes and returns.

Numerics:
* `resize` reproduces torchvision's `transforms.v2.functional.resize` on tensors (what transformers'
  `VJEPA2VideoProcessor` calls): bilinear, `align_corners=False`, antialias on; uint8 videos are resized by torch's native
  uint8 kernel on CPUs with AVX2/AVX512 or ARM (as torchvision does) and through float32 + round elsewhere.
* `VideoTrainTransform` reproduces `app/vjepa/transforms.py::VideoTransform(training=True)` of the official code:
  random resized crop (area fraction U(0.3, 1.0), log-uniform aspect ratio in [0.75, 1.35], up to 10 tries, then the
  official central fallback), the same box for all frames, `F.interpolate(bilinear, align_corners=False)` without
  antialias, horizontal flip with p=0.5, ImageNet normalisation. Random draws come from a `torch.Generator`, so the
  distribution is the official one but the random stream differs from Python's `random`.
"""

from __future__ import annotations

import math
import os
import platform
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "MultiViewEvalTransform",
    "VideoTrainTransform",
    "center_crop",
    "normalize",
    "random_resized_crop_params",
    "resize",
    "resize_short_side",
    "short_side_size",
    "to_video_tensor",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


# --------------------------------------------------------------------------------------------- input conversion
def _is_pil(x: Any) -> bool:
    try:
        from PIL import Image

        return isinstance(x, Image.Image)
    except ImportError:  # pragma: no cover
        return False


def _channels_first(shape: Sequence[int], channel_dims: tuple[int, int], num_channels=(1, 3, 4)) -> bool:
    """transformers' `infer_channel_dimension_format`: channels-first wins when both axes could be channels."""
    first, last = shape[channel_dims[0]], shape[channel_dims[1]]
    if first in num_channels:
        return True
    if last in num_channels:
        return False
    raise ValueError(
        f"cannot tell the channel axis of a video of shape {tuple(shape)}: expected 1, 3 or 4 channels in the last "
        "axis ([T, H, W, C]) or the second axis ([T, C, H, W])"
    )


def to_rgb(video: torch.Tensor) -> torch.Tensor:
    """`[T, C, H, W]` with C in (1, 3, 4) -> 3 channels: grayscale repeated; RGBA composited over white (as
    transformers' `convert_to_rgb`)."""
    c = video.shape[1]
    if c == 3:
        return video
    if c == 1:
        return video.expand(-1, 3, -1, -1).contiguous()
    if c == 4:
        if video.dtype == torch.uint8:
            v = video.to(torch.float32) / 255.0
            rgb = v[:, :3] * v[:, 3:] + (1 - v[:, 3:])
            return (rgb * 255.0).round().clamp(0, 255).to(torch.uint8)
        v = video.to(torch.float32)
        return v[:, :3] * v[:, 3:] + (1 - v[:, 3:])
    raise ValueError(f"expected 1, 3 or 4 channels, got {c}")


def to_video_tensor(
    video: Any,
    *,
    input_data_format: str | None = None,
    convert_rgb: bool = True,
    contiguous: bool = True,
) -> torch.Tensor:
    """Convert one video (or one image) to a `[T, C, H, W]` tensor, keeping its dtype (uint8 stays uint8).

    Accepts: numpy arrays or torch tensors `[T, H, W, C]` / `[T, C, H, W]` (video), `[H, W, C]` / `[C, H, W]` /
    `[H, W]` (image -> T=1); a PIL image; a list of PIL images or of `[H, W, C]` / `[C, H, W]` frames; a file path
    (decoded with `read_video`, every frame).

    Args:
        input_data_format: `"channels_last"` or `"channels_first"` to skip the inference of the channel axis.
        convert_rgb: make the result 3-channel (grayscale repeated, RGBA over white).
        contiguous: return a contiguous `[T, C, H, W]` tensor; False may return a channels-last view of `[T, H, W, C]`
            input (no copy).
    """
    if isinstance(video, (str, os.PathLike)):
        from .decoding import read_video

        video = read_video(video)
    if _is_pil(video):
        video = [video]
    if isinstance(video, (list, tuple)):
        if len(video) == 0:
            raise ValueError("`videos` contains an empty list of frames; expected at least one frame")
        frames = []
        for f in video:
            if _is_pil(f):
                f = np.asarray(f.convert("RGB") if convert_rgb and f.mode not in ("L", "RGB", "RGBA") else f)
            frames.append(torch.from_numpy(np.array(f)) if not isinstance(f, torch.Tensor) else f)
        shapes = {tuple(f.shape) for f in frames}
        if len(shapes) != 1:
            raise ValueError(f"all frames of a video must have the same shape, got {sorted(shapes)}")
        if frames[0].ndim == 2:
            frames = [f[..., None] for f in frames]
        if frames[0].ndim != 3:
            raise ValueError(f"frames must be [H, W, C], [C, H, W] or [H, W], got shape {tuple(frames[0].shape)}")
        video = torch.stack(frames)
    elif isinstance(video, np.ndarray):
        if not video.flags.writeable or not video.flags.c_contiguous:
            video = np.ascontiguousarray(video).copy() if not video.flags.writeable else np.ascontiguousarray(video)
        video = torch.from_numpy(video)
    elif not isinstance(video, torch.Tensor):
        raise ValueError(
            f"unsupported video type {type(video).__name__}: expected a path, numpy array, torch tensor, PIL image, "
            "or a list of frames"
        )
    if video.ndim == 2:  # grayscale image
        video = video[None, None]
        input_data_format = "channels_first"
    elif video.ndim == 3:  # one image
        if input_data_format is None:
            input_data_format = "channels_first" if _channels_first(video.shape, (0, 2)) else "channels_last"
        video = video[None]
    if video.ndim != 4:
        raise ValueError(
            f"a video must be [T, H, W, C] or [T, C, H, W] (or one image [H, W, C]), got shape {tuple(video.shape)}"
        )
    if input_data_format is None:
        input_data_format = "channels_first" if _channels_first(video.shape, (1, 3)) else "channels_last"
    if input_data_format in ("channels_last", "last"):
        video = video.permute(0, 3, 1, 2)
    elif input_data_format not in ("channels_first", "first"):
        raise ValueError(f"`input_data_format` must be 'channels_last' or 'channels_first', got {input_data_format!r}")
    if contiguous:
        video = video.contiguous()
    if video.shape[0] == 0:
        raise ValueError("video has no frames (T = 0)")
    if convert_rgb:
        video = to_rgb(video)
    return video


# --------------------------------------------------------------------------------------------- geometry
def short_side_size(height: int, width: int, shortest_edge: int) -> tuple[int, int]:
    """Output (height, width) when the short side is resized to `shortest_edge` (transformers / torchvision rule: the
    long side is `int(shortest_edge * long / short)`)."""
    short, long = (width, height) if width <= height else (height, width)
    new_short, new_long = shortest_edge, int(shortest_edge * long / short)
    return (new_long, new_short) if width <= height else (new_short, new_long)


def _native_uint8_bilinear() -> bool:
    """Whether torchvision resizes uint8 bilinear natively on this CPU (same test as torchvision 0.2x)."""
    try:
        cap = torch.backends.cpu.get_cpu_capability()
    except Exception:  # pragma: no cover
        cap = ""
    return cap in ("AVX2", "AVX512") or platform.machine() in ("aarch64", "arm64")


def resize(
    video: torch.Tensor,
    size: tuple[int, int],
    *,
    mode: str = "bilinear",
    antialias: bool = True,
) -> torch.Tensor:
    """Resize `[..., C, H, W]` to `size = (height, width)` exactly as torchvision's v2 `resize` on tensors.

    uint8 input returns uint8 (rounded), float input returns float. `mode` is `"bilinear"` or `"bicubic"`.
    """
    if mode not in ("bilinear", "bicubic"):
        raise ValueError(f"`mode` must be 'bilinear' or 'bicubic', got {mode!r}")
    new_h, new_w = int(size[0]), int(size[1])
    if new_h <= 0 or new_w <= 0:
        raise ValueError(f"resize `size` must be positive, got {size}")
    shape = video.shape
    c, h, w = shape[-3:]
    if (new_h, new_w) == (h, w):
        return video
    if video.numel() == 0:
        return video.new_empty(shape[:-3] + (c, new_h, new_w))
    dtype = video.dtype
    x = video.reshape(-1, c, h, w)
    native = dtype in (torch.float32, torch.float64) or (
        dtype == torch.uint8
        and x.device.type == "cpu"
        and (mode == "bicubic" or _native_uint8_bilinear())
    )
    if not native:
        x = x.to(torch.float32)
    x = F.interpolate(x, size=[new_h, new_w], mode=mode, align_corners=False, antialias=antialias)
    if not native:
        if mode == "bicubic" and dtype == torch.uint8:
            x = x.clamp_(0, 255)
        if not dtype.is_floating_point:
            x = x.round_()
        x = x.to(dtype)
    return x.reshape(shape[:-3] + (c, new_h, new_w))


def resize_short_side(video: torch.Tensor, shortest_edge: int, *, mode: str = "bilinear", antialias: bool = True):
    """Resize `[..., C, H, W]` so that the short side is `shortest_edge` (see `short_side_size`)."""
    h, w = video.shape[-2:]
    return resize(video, short_side_size(h, w, shortest_edge), mode=mode, antialias=antialias)


def center_crop(video: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Centre crop `[..., C, H, W]` to `size = (height, width)` as transformers does (top = int((H - h) / 2)); inputs
    smaller than the crop are zero-padded first (torchvision's centre-crop padding)."""
    ch, cw = int(size[0]), int(size[1])
    h, w = video.shape[-2:]
    if cw > w or ch > h:
        pad_l = (cw - w) // 2 if cw > w else 0
        pad_t = (ch - h) // 2 if ch > h else 0
        pad_r = (cw - w + 1) // 2 if cw > w else 0
        pad_b = (ch - h + 1) // 2 if ch > h else 0
        shape = video.shape
        flat = video.reshape(-1, *shape[-3:])
        flat = F.pad(flat, (pad_l, pad_r, pad_t, pad_b), value=0)
        video = flat.reshape(shape[:-2] + flat.shape[-2:])
        h, w = video.shape[-2:]
        if (h, w) == (ch, cw):
            return video
    top = int((h - ch) / 2.0)
    left = int((w - cw) / 2.0)
    return video[..., top : top + ch, left : left + cw]


def normalize(
    video: torch.Tensor,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
    *,
    rescale_factor: float | None = 1 / 255,
    inplace: bool = False,
) -> torch.Tensor:
    """`(video * rescale_factor - mean) / std` on `[..., C, H, W]`, computed as transformers' fused rescale+normalise:
    `(video.float() - mean / rescale_factor) / (std / rescale_factor)`. Returns float32 (in place for a float32
    `video` when `inplace=True`)."""
    mean_t = torch.tensor(mean)
    std_t = torch.tensor(std)
    if rescale_factor is not None:
        mean_t = mean_t * (1.0 / rescale_factor)
        std_t = std_t * (1.0 / rescale_factor)
    if bool((std_t == 0).any()):
        raise ValueError(f"`std` must be non-zero, got {list(std)}")
    x = video.to(torch.float32)
    if x.data_ptr() == video.data_ptr() and not inplace:
        x = x.clone()
    mean_t = mean_t.to(x.device, torch.float32).view(-1, 1, 1)
    std_t = std_t.to(x.device, torch.float32).view(-1, 1, 1)
    return x.sub_(mean_t).div_(std_t)


# --------------------------------------------------------------------------------------------- training transform
def _uniform(generator: torch.Generator | None, low: float, high: float) -> float:
    return low + (high - low) * float(torch.rand((), generator=generator, dtype=torch.float64))


def _randint(generator: torch.Generator | None, low: int, high: int) -> int:
    """Integer in [low, high] inclusive (Python's random.randint)."""
    return int(torch.randint(low, high + 1, (), generator=generator))


def random_resized_crop_params(
    height: int,
    width: int,
    scale: tuple[float, float] = (0.3, 1.0),
    ratio: tuple[float, float] = (0.75, 1.35),
    *,
    generator: torch.Generator | None = None,
    num_tries: int = 10,
) -> tuple[int, int, int, int]:
    """The official `_get_param_spatial_crop` (log-uniform ratio): returns `(top, left, crop_h, crop_w)`.

    Up to `num_tries` draws of area fraction `U(scale)` and aspect ratio `exp(U(log ratio))`, with
    `w = round(sqrt(A * ar))`, `h = round(sqrt(A / ar))`; the first box that fits is placed uniformly. Otherwise a
    central crop clamped to the ratio range (the whole frame when its ratio is inside the range).
    """
    area = height * width
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(num_tries):
        target_area = _uniform(generator, *scale) * area
        aspect = math.exp(_uniform(generator, *log_ratio))
        w = int(round(math.sqrt(target_area * aspect)))
        h = int(round(math.sqrt(target_area / aspect)))
        if 0 < w <= width and 0 < h <= height:
            top = _randint(generator, 0, height - h)
            left = _randint(generator, 0, width - w)
            return top, left, h, w
    in_ratio = float(width) / float(height)
    if in_ratio < min(ratio):
        w = width
        h = int(round(w / min(ratio)))
    elif in_ratio > max(ratio):
        h = height
        w = int(round(h * max(ratio)))
    else:
        w, h = width, height
    return (height - h) // 2, (width - w) // 2, h, w


def _as_generator(generator: torch.Generator | int | None) -> torch.Generator | None:
    if generator is None or isinstance(generator, torch.Generator):
        return generator
    g = torch.Generator()
    g.manual_seed(int(generator))
    return g


class VideoTrainTransform:
    """The official V-JEPA 2 pretraining augmentation (`app/vjepa/transforms.py::VideoTransform(training=True)`).

    Args:
        crop_size: output side (square).
        random_resize_scale: area fraction range of the random crop.
        random_resize_aspect_ratio: aspect ratio (w/h) range, sampled log-uniformly.
        random_horizontal_flip: flip the whole clip with probability 0.5.
        image_mean, image_std: normalisation (on the 0..1 scale).
        antialias: antialias in the final resize (the official code has none).
        seed: seed of the transform's own generator (None = torch's global RNG). A `generator` passed to `__call__`
            takes precedence.

    Call: `transform(video, generator=None)` with a uint8 (or float 0..255) video `[T, H, W, C]` or `[T, C, H, W]`
    (anything `to_video_tensor` accepts) -> float32 `[T, C, crop, crop]`.
    """

    def __init__(
        self,
        crop_size: int = 256,
        *,
        random_resize_scale: tuple[float, float] = (0.3, 1.0),
        random_resize_aspect_ratio: tuple[float, float] = (0.75, 1.35),
        random_horizontal_flip: bool = True,
        image_mean: Sequence[float] = IMAGENET_MEAN,
        image_std: Sequence[float] = IMAGENET_STD,
        antialias: bool = False,
        seed: int | None = None,
    ):
        if crop_size <= 0:
            raise ValueError(f"`crop_size` must be positive, got {crop_size}")
        if not 0 < random_resize_scale[0] <= random_resize_scale[1] <= 1:
            raise ValueError(f"`random_resize_scale` must satisfy 0 < low <= high <= 1, got {random_resize_scale}")
        if not 0 < random_resize_aspect_ratio[0] <= random_resize_aspect_ratio[1]:
            raise ValueError(f"`random_resize_aspect_ratio` must be 0 < low <= high, got {random_resize_aspect_ratio}")
        self.crop_size = int(crop_size)
        self.random_resize_scale = tuple(random_resize_scale)
        self.random_resize_aspect_ratio = tuple(random_resize_aspect_ratio)
        self.random_horizontal_flip = random_horizontal_flip
        self.image_mean = tuple(image_mean)
        self.image_std = tuple(image_std)
        self.antialias = antialias
        self.generator = _as_generator(seed)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(crop_size={self.crop_size}, scale={self.random_resize_scale}, "
            f"ratio={self.random_resize_aspect_ratio}, hflip={self.random_horizontal_flip})"
        )

    def __call__(self, video: Any, generator: torch.Generator | int | None = None) -> torch.Tensor:
        g = _as_generator(generator) if generator is not None else self.generator
        x = to_video_tensor(video, contiguous=False)  # [T, C, H, W], possibly a channels-last view
        h, w = x.shape[-2:]
        top, left, ch, cw = random_resized_crop_params(
            h, w, self.random_resize_scale, self.random_resize_aspect_ratio, generator=g
        )
        # Channels-last float is the fast layout of the CPU bilinear kernel (the arithmetic per pixel is the same).
        x = x[..., top : top + ch, left : left + cw].to(torch.float32, memory_format=torch.channels_last)
        x = F.interpolate(
            x, size=(self.crop_size, self.crop_size), mode="bilinear", align_corners=False, antialias=self.antialias
        )
        if self.random_horizontal_flip and float(torch.rand((), generator=g)) < 0.5:
            x = x.flip(-1)
        # (x / 255 - mean) / std as one multiply-add per pixel on a contiguous tensor
        scale = 1.0 / (255.0 * torch.tensor(self.image_std, dtype=torch.float32))
        bias = -torch.tensor(self.image_mean, dtype=torch.float32) / torch.tensor(self.image_std, dtype=torch.float32)
        return x.contiguous().mul_(scale.view(-1, 1, 1)).add_(bias.view(-1, 1, 1))


class MultiViewEvalTransform:
    """The official multi-view evaluation transform (`EvalVideoTransform` of the frozen video-classification eval):
    resize the short side to `crop_size`, then take `num_views` square crops along the long side at offsets
    `k * ((L - crop_size) // (num_views - 1))`, normalise.

    Call: video (anything `to_video_tensor` accepts) -> list of `num_views` float32 `[T, C, crop, crop]` tensors.
    With `num_views=1` it is the single centre view of `VJEPA2VideoProcessor` (short side crop*256/224, centre crop).
    """

    def __init__(
        self,
        crop_size: int = 256,
        num_views: int = 3,
        *,
        image_mean: Sequence[float] = IMAGENET_MEAN,
        image_std: Sequence[float] = IMAGENET_STD,
        antialias: bool = True,
    ):
        if num_views < 1:
            raise ValueError(f"`num_views` must be >= 1, got {num_views}")
        self.crop_size = int(crop_size)
        self.num_views = int(num_views)
        self.image_mean = tuple(image_mean)
        self.image_std = tuple(image_std)
        self.antialias = antialias

    def __call__(self, video: Any) -> list[torch.Tensor]:
        x = to_video_tensor(video)
        s = self.crop_size
        if self.num_views == 1:
            x = resize_short_side(x, int(s * 256 / 224), antialias=self.antialias)
            return [normalize(center_crop(x, (s, s)), self.image_mean, self.image_std)]
        x = resize_short_side(x, s, antialias=self.antialias)
        h, w = x.shape[-2:]
        step = (max(h, w) - s) // (self.num_views - 1)
        views = []
        for k in range(self.num_views):
            start = k * step
            view = x[..., start : start + s, :s] if h > w else x[..., :s, start : start + s]
            views.append(normalize(view, self.image_mean, self.image_std))
        return views
