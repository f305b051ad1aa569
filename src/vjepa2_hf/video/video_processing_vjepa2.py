"""`VJEPA2VideoProcessor`: the V-JEPA 2 evaluation transform, numerically identical to transformers' processor, without
torchvision.

transformers' `VJEPA2VideoProcessor` is a `BaseVideoProcessor`, which requires torchvision; torchvision wheels pin an
exact torch build (on Linux, the CUDA one: about 5.5 GB), which this package does not impose. This class is therefore a
plain Python class with the same configuration format and the same arithmetic:

1. frames as a uint8 `[T, C, H, W]` tensor (float inputs are processed in float, as transformers does; see "Pixel
   values" below for the accepted dtypes);
2. resize the short side to `int(crop_size * 256 / 224)` (292 for 256, 438 for 384), long side `int(short * L / S)`,
   bilinear with antialias (torchvision's tensor resize: native uint8 kernel on AVX2/AVX512/ARM CPUs);
3. centre crop `crop_size` (top = int((H - crop) / 2));
4. fused rescale + normalise: `(x - 255 * mean) / (255 * std)` in float32, ImageNet mean and std.

Output: `BatchFeature({"pixel_values_videos": float32 [B, T, 3, crop, crop]})`.

Multi-clip, multi-view evaluation (the official protocol) is laid out here too, for every user (the pipeline, the
probe runner and its collators, corpus feature extraction): `view_transform(V)` is the per-clip transform with `V`
spatial views, `preprocess_clips(clips, V)` turns the `S` temporal segments of one video into the model's
`[V, S, T, 3, crop, crop]`, and `views_first(pixels, S, V)` turns a batch of segment-major samples `[B, S*V, ...]`
(what `VideoClipDataset` returns) into `[B, V, S, ...]`.

Pixel values: uint8 (0..255) as they are; float16 / bfloat16 / float32 / float64 on transformers' scale, 0..255
(or 0..1 with `do_rescale=False`), and a negative float (already normalised input) is refused; uint16 (16-bit video)
is scaled by 255 / 65535 to that float scale. Other dtypes (bool, signed and wider integers, complex) are refused with a
`ValueError` naming the dtype: convert them (e.g. `.astype(np.uint8)` for integer values 0..255).

With `num_frames=T`, every video comes out with exactly `T` frames, spread evenly; a video shorter than `T` (a
3-frame file, a one-frame file, an image) gives all its frames, then its last frame repeated. Float inputs holding
NaN or Inf raise a `ValueError` saying how many values are affected (uint8 inputs cannot hold them).

It reads `video_preprocessor_config.json` (or `preprocessor_config.json`) from a local folder or a Hub repo such as
`facebook/vjepa2-vitl-fpc64-256`, and `save_pretrained` writes `video_preprocessor_config.json` in transformers' format
(with `"video_processor_type": "VJEPA2VideoProcessor"`), so transformers' `AutoVideoProcessor` loads what this class
saves when torchvision is installed.

Parity (tests/video/test_processor.py, reference made by scripts/make_processor_reference.py with transformers 5.24.0 and
torchvision 0.29.1): max abs difference 0.0 on every stored case (uint8 and float inputs, landscape, portrait, square,
upscaling, batches, crops 32/48/64/256). On CPUs without AVX2 (and not ARM) torchvision resizes uint8 through float +
round; we follow it, and both differ from the AVX result by at most one uint8 level (0.0175 after normalisation).

The official repository's own preprocessor (`evals/hub/preprocessor.py`) differs: for numpy `[T, H, W, C]` input it
resizes with OpenCV (`cv2.INTER_LINEAR`, no antialias) and centre-crops at `round((L - crop) / 2)`
(facebookresearch/vjepa2 issues 41 and 168). Measured against it (opencv 5.0, crop 256): mean abs difference 0.41
(max 3.96, in normalised units) on detailed 720x1280 frames, 0.087 (max 1.89) on 360x480 ones, 0.001 on smooth
synthetic shapes: the gap is aliasing when downscaling, largest for high-resolution, high-frequency content.
"""

from __future__ import annotations

import copy
import json
import os
from typing import Any, Sequence

import numpy as np
import torch
from transformers import BatchFeature
from transformers.utils import logging

from ..input_checks import check_finite
from .sampling import evenly_spaced_indices
from .transforms import IMAGENET_MEAN, IMAGENET_STD, _is_pil, center_crop, normalize, resize_short_side, to_video_tensor

logger = logging.get_logger(__name__)

__all__ = ["VJEPA2VideoProcessor", "VIDEO_PROCESSOR_NAME", "IMAGE_PROCESSOR_NAME", "load_video_processor"]

VIDEO_PROCESSOR_NAME = "video_preprocessor_config.json"
IMAGE_PROCESSOR_NAME = "preprocessor_config.json"
# PIL resampling codes used in the JSON configs -> torch interpolate modes we implement.
_RESAMPLE = {2: "bilinear", 3: "bicubic"}


def _checked_pixels(x: torch.Tensor) -> torch.Tensor:
    """`x` itself for uint8 and non-negative float pixels, uint16 scaled to the 0..255 float scale; else a
    ValueError."""
    if x.dtype == torch.uint8:
        return x
    if x.dtype == torch.uint16:
        return x.to(torch.float32) * (255.0 / 65535.0)
    if not x.is_floating_point():
        raise ValueError(
            f"`videos` must hold uint8 (0..255), uint16 (0..65535) or float (0..255) pixels, got dtype "
            f"{str(x.dtype).replace('torch.', '')}; convert it first (e.g. `.astype(np.uint8)` for values 0..255)"
        )
    check_finite(x, "video pixel values")
    low = float(x.min())
    if low < 0:  # pixels are never negative; values above 255 (resampling overshoot) are accepted, as transformers does
        raise ValueError(
            f"`videos` float pixel values must be >= 0 (0..255, or 0..1 with do_rescale=False), got a minimum of "
            f"{low:g}; pass pixels, not already normalised values"
        )
    return x


def _crop_to_int(crop_size: Any) -> int:
    if isinstance(crop_size, int):
        return crop_size
    if isinstance(crop_size, dict) and "height" in crop_size:
        if "width" in crop_size and crop_size["width"] != crop_size["height"]:
            raise ValueError(f"`crop_size` must be square, got {crop_size}")
        return int(crop_size["height"])
    raise ValueError(f"`crop_size` must be an integer or a dictionary with a 'height' key, got {crop_size!r}")


class VJEPA2VideoProcessor:
    """Evaluation-time video processor for V-JEPA 2 (transformers-compatible configuration and numerics).

    Args:
        crop_size: output side (int or `{"height": h, "width": w}` with h == w). The resize size is always derived from
            it as `int(crop_size * 256 / 224)`, exactly as transformers' class does (any `size` in a config is
            recomputed).
        do_resize, do_center_crop, do_rescale, do_normalize: the four steps.
        resample: PIL code of the interpolation (2 = bilinear, 3 = bicubic).
        rescale_factor: 1/255.
        image_mean, image_std: ImageNet statistics by default.
        do_convert_rgb: convert grayscale (repeat) and RGBA (over white) inputs to RGB.
        num_frames: the frame count the model was trained or evaluated at (None: not recorded). Videos given as
            file paths are sampled to it when a call passes no `num_frames`; arrays and tensors are taken as given
            (their caller chose the frames). Commands and jobs read it as their default clip length.
        kwargs: other keys of a transformers config (kept and written back by `save_pretrained`).

    Example:
        ```python
        processor = VJEPA2VideoProcessor.from_pretrained("facebook/vjepa2-vitl-fpc64-256")
        batch = processor(frames)               # frames: uint8 [T, H, W, 3] numpy array
        batch["pixel_values_videos"].shape      # [1, T, 3, 256, 256]
        ```
    """

    model_input_names = ["pixel_values_videos"]
    video_processor_type = "VJEPA2VideoProcessor"

    def __init__(
        self,
        crop_size: int | dict = 256,
        do_resize: bool = True,
        do_center_crop: bool = True,
        do_rescale: bool = True,
        do_normalize: bool = True,
        resample: int = 2,
        rescale_factor: float = 1 / 255,
        image_mean: Sequence[float] = IMAGENET_MEAN,
        image_std: Sequence[float] = IMAGENET_STD,
        do_convert_rgb: bool = True,
        num_frames: int | None = None,
        **kwargs,
    ):
        crop = _crop_to_int(crop_size)
        if num_frames is not None and int(num_frames) < 1:
            raise ValueError(f"`num_frames` must be a positive integer or None, got {num_frames!r}")
        if crop <= 0:
            raise ValueError(f"`crop_size` must be positive, got {crop}")
        if int(resample) not in _RESAMPLE:
            raise ValueError(f"`resample` must be 2 (bilinear) or 3 (bicubic), got {resample!r}")
        for name, stat in (("image_mean", image_mean), ("image_std", image_std)):
            if len(stat) != 3:
                raise ValueError(f"`{name}` must have 3 values (RGB), got {list(stat)}")
        self.crop_size = {"height": crop, "width": crop}
        self.size = {"shortest_edge": int(crop * 256 / 224)}
        self.do_resize = bool(do_resize)
        self.do_center_crop = bool(do_center_crop)
        self.do_rescale = bool(do_rescale)
        self.do_normalize = bool(do_normalize)
        self.resample = int(resample)
        self.rescale_factor = float(rescale_factor)
        self.image_mean = [float(v) for v in image_mean]
        self.image_std = [float(v) for v in image_std]
        self.do_convert_rgb = bool(do_convert_rgb)
        self.num_frames = None if num_frames is None else int(num_frames)
        self._warned_unresized = False
        kwargs.pop("size", None)
        kwargs.pop("video_processor_type", None)
        kwargs.pop("image_processor_type", None)
        self._extra = kwargs

    # ------------------------------------------------------------------ configuration I/O
    def to_dict(self) -> dict[str, Any]:
        d = dict(self._extra)
        d.update(
            crop_size=dict(self.crop_size),
            do_center_crop=self.do_center_crop,
            do_normalize=self.do_normalize,
            do_rescale=self.do_rescale,
            do_resize=self.do_resize,
            image_mean=list(self.image_mean),
            image_std=list(self.image_std),
            resample=self.resample,
            rescale_factor=self.rescale_factor,
            size=dict(self.size),
            video_processor_type=self.video_processor_type,
        )
        if not self.do_convert_rgb:
            d["do_convert_rgb"] = False
        if self.num_frames is not None:
            d["num_frames"] = self.num_frames
        d.setdefault("return_metadata", False)
        return dict(sorted(d.items()))

    def to_json_string(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    def __repr__(self) -> str:
        return f"{type(self).__name__} {self.to_json_string()}"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, VJEPA2VideoProcessor) and self.to_dict() == other.to_dict()

    @classmethod
    def from_dict(cls, config: dict[str, Any], **kwargs) -> "VJEPA2VideoProcessor":
        cfg = copy.deepcopy(config)
        cfg.update(kwargs)
        kind = cfg.get("video_processor_type") or cfg.get("image_processor_type")
        if kind and "VJEPA2" not in kind:
            logger.warning(f"loading a {kind} configuration into VJEPA2VideoProcessor")
        cfg.pop("processor_class", None)
        return cls(**cfg)

    @classmethod
    def for_model_config(cls, config: Any, num_frames: int | None = None, **kwargs) -> "VJEPA2VideoProcessor":
        """The evaluation transform at the resolution a model config records (`crop_size`) and `num_frames` (the
        model's frame count: `vjepa2_hf.encoder.configuration_vjepa2.clip_num_frames(config)`). `kwargs` override
        other settings (e.g. `do_resize=False`)."""
        return cls(**{"crop_size": int(config.crop_size), "num_frames": num_frames, **kwargs})

    @classmethod
    def from_pretrained(
        cls,
        pretrained_model_name_or_path: str | os.PathLike,
        *,
        revision: str | None = None,
        cache_dir: str | os.PathLike | None = None,
        local_files_only: bool = False,
        token: str | bool | None = None,
        **kwargs,
    ) -> "VJEPA2VideoProcessor":
        """Load from a folder or a Hub repo holding `video_preprocessor_config.json` or `preprocessor_config.json`.

        Works offline (`HF_HUB_OFFLINE=1` or `local_files_only=True`) from a local folder or the Hub cache. Extra
        `kwargs` override config values (e.g. `crop_size=384`).
        """
        for key in ("_from_auto", "trust_remote_code"):  # passed by AutoProcessor
            kwargs.pop(key, None)
        path = os.fspath(pretrained_model_name_or_path)
        config_file = None
        if os.path.isdir(path):
            for name in (VIDEO_PROCESSOR_NAME, IMAGE_PROCESSOR_NAME):
                if os.path.isfile(os.path.join(path, name)):
                    config_file = os.path.join(path, name)
                    break
            if config_file is None:
                raise FileNotFoundError(
                    f"{path} has neither {VIDEO_PROCESSOR_NAME} nor {IMAGE_PROCESSOR_NAME}; expected a processor folder"
                )
        elif os.path.isfile(path) and path.endswith(".json"):
            config_file = path
        else:
            from huggingface_hub import hf_hub_download
            from huggingface_hub.utils import EntryNotFoundError, LocalEntryNotFoundError

            from ..hub_access import prepare_hub_load

            names = (VIDEO_PROCESSOR_NAME, IMAGE_PROCESSOR_NAME)
            local_files_only = local_files_only or prepare_hub_load(path, names, cache_dir, what="processor")
            errors = []
            for name in names:
                try:
                    config_file = hf_hub_download(
                        path,
                        name,
                        revision=revision,
                        cache_dir=cache_dir,
                        local_files_only=local_files_only,
                        token=token,
                    )
                    break
                except (EntryNotFoundError, LocalEntryNotFoundError) as e:
                    errors.append(f"{name}: {type(e).__name__}")
                except Exception as e:  # repository not found, offline without cache, invalid id, ...
                    errors.append(f"{name}: {type(e).__name__}: {e}")
            if config_file is None:
                raise OSError(
                    f"could not load a processor config from {path!r} (not a local folder; Hub lookup failed: "
                    f"{'; '.join(errors)})"
                )
        with open(config_file, encoding="utf-8") as f:
            config = json.load(f)
        return cls.from_dict(config, **kwargs)

    def save_pretrained(self, save_directory: str | os.PathLike, **kwargs) -> list[str]:
        """Write `video_preprocessor_config.json` (transformers' format) into `save_directory`."""
        if os.path.isfile(save_directory):
            raise ValueError(f"`save_directory` must be a folder, got the file {save_directory}")
        os.makedirs(save_directory, exist_ok=True)
        out = os.path.join(os.fspath(save_directory), VIDEO_PROCESSOR_NAME)
        with open(out, "w", encoding="utf-8") as f:
            f.write(self.to_json_string())
        return [out]

    # ------------------------------------------------------------------ processing
    @staticmethod
    def _split_batch(videos: Any) -> list[Any]:
        """One video or a batch -> list of videos (transformers' `make_batched_videos` rules)."""
        if isinstance(videos, (str, os.PathLike)) or _is_pil(videos):
            return [videos]
        if isinstance(videos, (np.ndarray, torch.Tensor)):
            if videos.ndim == 5:
                return list(videos)
            if videos.ndim in (2, 3, 4):
                return [videos]
            raise ValueError(
                f"`videos` must be [T, H, W, C] / [T, C, H, W], a batch [B, T, ...] or one image, got shape "
                f"{tuple(videos.shape)}"
            )
        if isinstance(videos, (list, tuple)):
            if len(videos) == 0:
                raise ValueError("`videos` is an empty list")
            first = videos[0]
            if _is_pil(first):
                return [list(videos)]  # one video given as a list of frames
            if isinstance(first, (np.ndarray, torch.Tensor)) and first.ndim in (2, 3):
                return [list(videos)]  # a list of frames
            return list(videos)  # a batch: videos, lists of frames or paths
        raise ValueError(
            f"unsupported `videos` type {type(videos).__name__}: expected a path, numpy array, torch tensor, PIL image, "
            "or a list of those"
        )

    def preprocess_video(self, video: Any, *, input_data_format: str | None = None, num_frames: int | None = None):
        """One video -> float32 `[T, 3, crop, crop]` (or un-cropped when `do_center_crop=False`).

        With `num_frames`, exactly `num_frames` frames are kept, spread evenly (`evenly_spaced_indices`): a shorter
        video (or an image) gives all its frames, then its last frame repeated.
        """
        if isinstance(video, (str, os.PathLike)) and num_frames is not None:
            from .decoding import VideoReader

            with VideoReader(video) as reader:
                video = reader.get_frames(evenly_spaced_indices(reader.metadata.num_frames, int(num_frames)))
        x = to_video_tensor(video, input_data_format=input_data_format, convert_rgb=self.do_convert_rgb)
        if num_frames is not None and x.shape[0] != num_frames:
            x = x[torch.from_numpy(evenly_spaced_indices(x.shape[0], int(num_frames)))]
        x = _checked_pixels(x)
        if self.do_resize:
            x = resize_short_side(x, self.size["shortest_edge"], mode=_RESAMPLE[self.resample], antialias=True)
        if self.do_center_crop:
            if not self.do_resize:
                self._warn_unresized(tuple(x.shape[-2:]))
            x = center_crop(x, (self.crop_size["height"], self.crop_size["width"]))
        if self.do_normalize:
            factor = self.rescale_factor if self.do_rescale else None
            return normalize(x, self.image_mean, self.image_std, rescale_factor=factor)
        if self.do_rescale:
            return x.to(torch.float32) * self.rescale_factor
        return x.to(torch.float32)

    def _warn_unresized(self, frame_size: tuple[int, int]) -> None:
        """Without a resize, frames of another size than the crop are cropped or zero-padded: say so once."""
        crop = (self.crop_size["height"], self.crop_size["width"])
        if frame_size == crop or self._warned_unresized or not self.do_center_crop:
            return
        self._warned_unresized = True
        what = "zero-padded" if frame_size[0] < crop[0] or frame_size[1] < crop[1] else "centre-cropped"
        logger.warning(f"frames of {frame_size[0]}x{frame_size[1]} px are {what} to {crop[0]}x{crop[1]} without "
                       "resizing (this processor has do_resize=False: it reproduces clips made at the crop size); "
                       "pass do_resize=True to resize them first")

    def __call__(
        self,
        videos: Any,
        return_tensors: str | None = "pt",
        *,
        input_data_format: str | None = None,
        num_frames: int | None = None,
        device: str | torch.device | None = None,
        **kwargs,
    ) -> BatchFeature:
        """Process one video or a batch.

        Args:
            videos: a video (`[T, H, W, C]` / `[T, C, H, W]` numpy array or tensor, list of PIL images or frames, file
                path) or a batch of them (a list, or a 5-D array `[B, T, ...]`). Images count as one-frame videos.
            return_tensors: `"pt"` (stacked tensor, needs equal T), `"np"`, or None (list of tensors).
            input_data_format: `"channels_last"` / `"channels_first"` to skip the channel-axis inference.
            num_frames: keep exactly this many evenly spaced frames (file paths read only those); shorter videos and
                images repeat their last frame (see `vjepa2_hf.video.sampling.evenly_spaced_indices`). Default: the
                processor's `num_frames` for videos given as paths, all frames of arrays and tensors.
            device: move the output there.
            kwargs: per-call overrides of the configuration (e.g. `crop_size=384`).

        Returns:
            `BatchFeature` with `pixel_values_videos`: float32 `[B, T, 3, crop, crop]`.
        """
        proc = self
        if kwargs:
            cfg = self.to_dict()
            cfg.update(kwargs)
            proc = type(self).from_dict(cfg)
        items = self._split_batch(videos)
        out = [proc.preprocess_video(v, input_data_format=input_data_format, num_frames=proc._frames_for(v, num_frames))
               for v in items]
        if device is not None:
            out = [o.to(device) for o in out]
        if return_tensors in ("pt", "np"):
            shapes = {tuple(o.shape) for o in out}
            if len(shapes) > 1:
                raise ValueError(
                    f"cannot stack videos of different shapes {sorted(shapes)} into one tensor; pass videos with the "
                    "same number of frames or use return_tensors=None"
                )
            stacked = torch.stack(out)
            data = {"pixel_values_videos": stacked if return_tensors == "pt" else stacked.cpu().numpy()}
        elif return_tensors is None:
            data = {"pixel_values_videos": out}
        else:
            raise ValueError(f"`return_tensors` must be 'pt', 'np' or None, got {return_tensors!r}")
        return BatchFeature(data=data)

    preprocess = __call__

    def _frames_for(self, video: Any, num_frames: int | None) -> int | None:
        if num_frames is not None:
            return num_frames
        return self.num_frames if isinstance(video, (str, os.PathLike)) else None

    # ------------------------------------------------------------------ multi-clip, multi-view evaluation layout
    def view_transform(self, num_views: int = 1):
        """The per-clip evaluation transform with `num_views` spatial views: this processor for one view, else the
        official multi-view crops ([`MultiViewEvalTransform`]: short side = crop, `num_views` crops along the long
        side) with this processor's crop size and statistics, returning a list of `num_views` `[T, 3, crop, crop]`."""
        if int(num_views) < 1:
            raise ValueError(f"`num_views` must be >= 1, got {num_views}")
        if int(num_views) == 1:
            return self
        from .transforms import MultiViewEvalTransform

        return MultiViewEvalTransform(
            self.crop_size["height"], int(num_views), image_mean=self.image_mean, image_std=self.image_std
        )

    def preprocess_clips(self, clips: Sequence[Any], num_views: int = 1) -> torch.Tensor:
        """The `S` clips (temporal segments) of one video -> float32 `[V, S, T, 3, crop, crop]`, the layout
        `VJEPA2ForVideoClassification` reads for multi-clip multi-view evaluation (`V = num_views`)."""
        transform = self.view_transform(num_views)
        if transform is self:
            return torch.stack([self.preprocess_video(clip) for clip in clips]).unsqueeze(0)
        per_segment = [transform(clip) for clip in clips]  # S lists of V tensors
        return torch.stack([torch.stack([views[v] for views in per_segment]) for v in range(int(num_views))])

    @staticmethod
    def views_first(pixel_values: torch.Tensor, num_segments: int, num_views: int) -> torch.Tensor:
        """`[B, S*V, T, C, H, W]` (segment-major samples, as `VideoClipDataset` returns them) -> the model's
        `[B, V, S, T, C, H, W]`; single-clip single-view batches `[B, T, C, H, W]` are returned unchanged."""
        if int(num_segments) * int(num_views) == 1:
            return pixel_values
        batch = pixel_values.shape[0]
        grouped = pixel_values.reshape(batch, int(num_segments), int(num_views), *pixel_values.shape[2:])
        return grouped.transpose(1, 2).contiguous()


def load_video_processor(model_path: str | os.PathLike | None, config: Any, num_frames: int | None = None,
                         **kwargs) -> VJEPA2VideoProcessor:
    """The processor saved with a model (`video_preprocessor_config.json` / `preprocessor_config.json` in its folder
    or Hub repo), else the evaluation transform at the resolution its `config` records and `num_frames` (the
    model's frame count, `clip_num_frames(config)`; see `VJEPA2VideoProcessor.for_model_config`)."""
    processor = None
    if model_path is not None:
        path = os.fspath(model_path)
        try:
            processor = VJEPA2VideoProcessor.from_pretrained(path, local_files_only=os.path.isdir(path), **kwargs)
        except (OSError, ValueError) as error:
            logger.info(f"no processor config with {path} ({error}); using the model config's crop and frames")
    return processor if processor is not None else VJEPA2VideoProcessor.for_model_config(config, num_frames, **kwargs)
