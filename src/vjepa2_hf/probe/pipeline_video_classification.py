"""`pipeline("video-classification", ...)` for V-JEPA 2 classifiers, decoding with the package's PyAV decoder.

transformers' stock `VideoClassificationPipeline` cannot run V-JEPA 2 without extra packages: it reads
`config.num_frames` (absent from transformers' `VJEPA2Config`), and it decodes file paths through the video
processor's `load_video` (torchcodec) with transformers' `VJEPA2VideoProcessor` (torchvision). This subclass:

* for V-JEPA 2 models (ours, model type `vjepa2_hf`, or transformers' `VJEPA2ForVideoClassification`, model type
  `vjepa2`): decodes paths with `vjepa2_hf.video.VideoReader` (PyAV), samples `num_frames` frames (default
  `config.num_frames`, else `config.frames_per_clip`) evenly over the video, or consecutive frames every
  `frame_sampling_rate` frames from the start; accepts arrays / tensors `[T, H, W, C]` or `[T, C, H, W]`; runs the
  package's `VJEPA2VideoProcessor` (loaded from the model folder, or built from `config.crop_size`); optional
  multi-clip multi-view evaluation (`num_segments`, `num_views`: the official protocol, softmax averaged over views);
* for every other model: behaves exactly as the stock pipeline.

`import vjepa2_hf` registers [`VideoClassificationTaskPipeline`] as the `video-classification` task (through
`vjepa2_hf.auto_registration`, like every other registration of the package): it builds this class for our model type
(`vjepa2_hf`) and transformers' own `VideoClassificationPipeline`, unchanged, for every other model (transformers'
`VJEPA2ForVideoClassification` included), so importing the package changes nothing for transformers' models.
`pipeline("video-classification", model=..., pipeline_class=VJEPA2VideoClassificationPipeline)` runs this class on
transformers' V-JEPA 2 classifiers too (PyAV decoding, no torchcodec / torchvision needed).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch
from transformers.pipelines.video_classification import VideoClassificationPipeline
from transformers.utils import logging

logger = logging.get_logger(__name__)

__all__ = [
    "VJEPA2VideoClassificationPipeline", "VideoClassificationTaskPipeline", "register_video_classification_pipeline",
    "is_vjepa2_model",
]

VJEPA2_MODEL_TYPES = ("vjepa2", "vjepa2_hf")
OUR_MODEL_TYPES = ("vjepa2_hf",)  # what the `video-classification` task hands to our pipeline


def is_vjepa2_model(model: Any) -> bool:
    """True for our classifiers and transformers' `VJEPA2ForVideoClassification`."""
    config = getattr(model, "config", None)
    return getattr(config, "model_type", None) in VJEPA2_MODEL_TYPES


def _default_processor(model: Any):
    """The processor saved with the model, else one at the crop size and frame count its config records."""
    from ..encoder.configuration_vjepa2 import clip_num_frames
    from ..video.video_processing_vjepa2 import load_video_processor

    path = getattr(model, "name_or_path", None) or getattr(model.config, "_name_or_path", None)
    return load_video_processor(path or None, model.config, clip_num_frames(model.config))


def _evenly_spaced(num_video_frames: int, num_frames: int, start: int = 0, stop: int | None = None) -> np.ndarray:
    """`num_frames` indices spread over `[start, stop)` (the transformers converter's `arange(0, n, n / fpc)`); a
    span shorter than `num_frames` repeats its last frame (`vjepa2_hf.video.sampling.evenly_spaced_indices`)."""
    from ..video.sampling import evenly_spaced_indices

    return evenly_spaced_indices(num_video_frames, num_frames, start, stop)


class VJEPA2VideoClassificationPipeline(VideoClassificationPipeline):
    """Video classification with V-JEPA 2 classifiers (see the module docstring); other models use the stock path.

    Call arguments (besides the stock `top_k` and `function_to_apply`):
        num_frames (`int`): frames per clip (default `config.num_frames` or `config.frames_per_clip`).
        frame_sampling_rate (`int`, *optional*): step between consecutive frames; default: frames spread evenly over
            the video (or over each segment).
        num_segments (`int`, defaults to 1): temporal segments, one clip each, whose tokens the probe reads together.
        num_views (`int`, defaults to 1): spatial views (3 = the official left / centre / right crops); the
            prediction is the mean of the views' softmax.

        on_error (`str`): `"raise"` (default for one input) or `"report"` (default for a list): an input that cannot
            be read (missing, empty, truncated, not a video) gives `[{"label": None, "score": None, "error": reason}]`
            and the other inputs keep their results. Reporting needs `batch_size=1` (the default).

    Inputs: a video file path, or a `[T, H, W, C]` / `[T, C, H, W]` uint8 array or tensor (a list means a batch).

    Construction arguments (`pipeline("video-classification", model=..., backend=...)`):
        backend (`str`, defaults to `"torch"`): `"onnxruntime"` / `"openvino"` export the classifier (float32) once
            into `export_dir` (a temporary folder when None) and run it there; single-view, single-segment clips.
    """

    def __call__(self, inputs: Any = None, **kwargs: Any):
        if isinstance(inputs, (list, tuple)) and "on_error" not in kwargs and is_vjepa2_model(self.model):
            kwargs["on_error"] = "report"
        return super().__call__(inputs, **kwargs)

    def __init__(self, *args: Any, backend: str = "torch", export_dir: str | None = None, **kwargs: Any) -> None:
        model = kwargs.get("model", args[0] if args else None)
        if (
            model is not None
            and not isinstance(model, str)
            and is_vjepa2_model(model)
            and kwargs.get("video_processor") is None
        ):
            kwargs["video_processor"] = _default_processor(model)
        super().__init__(*args, **kwargs)
        self.exported_model = self._exported(backend, export_dir)

    def _exported(self, backend: str, export_dir: str | None):
        """`backend="onnxruntime"` / `"openvino"`: the classifier exported (float32) into `export_dir` (a temporary
        folder when None) and run by that runtime; None for PyTorch."""
        from ..encoder.exporting import check_backend

        if check_backend(backend) == "torch":
            return None
        if not is_vjepa2_model(self.model) or self.model.config.model_type not in OUR_MODEL_TYPES:
            raise ValueError(f"backend={backend!r} runs this package's V-JEPA 2 classifiers only")
        from .exporting import classifier_backend

        if export_dir is None:
            import tempfile

            export_dir = tempfile.mkdtemp(prefix=f"vjepa2-{backend}-")
            logger.info(f"exporting the classifier for {backend} into {export_dir}")
        return classifier_backend(self.model, backend, export_dir)

    def _sanitize_parameters(
        self,
        top_k=None,
        num_frames=None,
        frame_sampling_rate=None,
        function_to_apply=None,
        num_segments=None,
        num_views=None,
        on_error=None,
    ):
        preprocess, forward, postprocess = super()._sanitize_parameters(
            top_k=top_k, num_frames=num_frames, frame_sampling_rate=frame_sampling_rate,
            function_to_apply=function_to_apply,
        )
        if on_error is not None:
            if on_error not in ("raise", "report"):
                raise ValueError(f"`on_error` must be 'raise' or 'report', got {on_error!r}")
            preprocess["on_error"] = on_error
        for name, value in (("num_segments", num_segments), ("num_views", num_views)):
            if value is not None:
                if int(value) < 1:
                    raise ValueError(f"`{name}` must be >= 1, got {value}")
                preprocess[name] = int(value)
        for name, value in (("frame_sampling_rate", frame_sampling_rate), ("num_frames", num_frames)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1):
                raise ValueError(f"`{name}` must be an integer >= 1, got {value!r}")
        return preprocess, forward, postprocess

    def _frames_per_clip(self, num_frames: int | None) -> int:
        from ..encoder.configuration_vjepa2 import clip_num_frames

        return clip_num_frames(self.model.config, num_frames)

    def _read_clips(self, video: Any, num_frames: int, step: int | None, num_segments: int) -> list[np.ndarray]:
        """`num_segments` uint8 clips `[num_frames, H, W, 3]` from a path (PyAV) or an array / tensor."""
        from ..video.decoding import VideoReader

        if isinstance(video, (str, os.PathLike)):
            if str(video).startswith(("http://", "https://")):
                raise ValueError(
                    f"`inputs` must be a local video file, an array or a tensor; download {video} first (the V-JEPA 2 "
                    "pipeline does not fetch URLs)"
                )
            with VideoReader(video) as reader:
                total = reader.metadata.num_frames
                indices = self._indices(total, num_frames, step, num_segments)
                frames = reader.get_frames(np.concatenate(indices))
        else:
            array = video.cpu().numpy() if isinstance(video, torch.Tensor) else np.asarray(video)
            if array.ndim != 4 or (array.shape[-1] not in (1, 3, 4) and array.shape[1] not in (1, 3, 4)):
                raise ValueError(
                    "a video array must have shape [frames, height, width, channels] or [frames, channels, height, "
                    f"width], got {array.shape}"
                )
            indices = self._indices(array.shape[0], num_frames, step, num_segments)
            frames = array[np.concatenate(indices)]
        return [frames[i * num_frames : (i + 1) * num_frames] for i in range(num_segments)]

    @staticmethod
    def _indices(total: int, num_frames: int, step: int | None, num_segments: int) -> list[np.ndarray]:
        bounds = np.linspace(0, total, num_segments + 1).astype(np.int64)
        clips = []
        for s in range(num_segments):
            start, stop = int(bounds[s]), max(int(bounds[s + 1]), int(bounds[s]) + 1)
            if step is None:
                clips.append(_evenly_spaced(total, num_frames, start, stop))
            else:
                clips.append(np.clip(start + np.arange(num_frames) * int(step), 0, total - 1).astype(np.int64))
        return clips

    def preprocess(self, video, num_frames=None, frame_sampling_rate=None, num_segments=1, num_views=1, on_error="raise"):
        if not is_vjepa2_model(self.model):
            if num_segments != 1 or num_views != 1:
                raise ValueError("`num_segments` / `num_views` are only supported for V-JEPA 2 models")
            return super().preprocess(video, num_frames=num_frames, frame_sampling_rate=frame_sampling_rate or 1)
        from ..video.bad_files import BAD_FILE_ERRORS

        num_frames = self._frames_per_clip(num_frames)
        try:
            clips = self._read_clips(video, num_frames, frame_sampling_rate, num_segments)
        except BAD_FILE_ERRORS as error:
            if on_error != "report":
                raise
            logger.warning(f"video-classification: cannot read {video!s:.200}: {error}")
            return {"error": f"{type(error).__name__}: {error}"}
        pixel_values = self.video_processor.preprocess_clips(clips, num_views).unsqueeze(0)  # (1, V, S, T, C, H, W)
        if num_views == 1 and num_segments == 1:
            pixel_values = pixel_values[:, 0, 0]  # (1, T, C, H, W)
        return {"pixel_values_videos": pixel_values.to(self.dtype or torch.float32)}


    def _forward(self, model_inputs):
        if "error" in model_inputs:  # an unreadable input reported with on_error="report"
            return model_inputs
        if self.exported_model is not None:
            return self.exported_model(**model_inputs)
        return super()._forward(model_inputs)

    def postprocess(self, model_outputs, top_k=5, function_to_apply=None):
        if isinstance(model_outputs, dict) and "error" in model_outputs:
            return [{"label": None, "score": None, "error": model_outputs["error"]}]
        return super().postprocess(model_outputs, top_k=top_k, function_to_apply=function_to_apply)


class VideoClassificationTaskPipeline(VideoClassificationPipeline):
    """The `video-classification` task's class once `vjepa2_hf` is imported: builds a
    [`VJEPA2VideoClassificationPipeline`] for our model type and transformers' own `VideoClassificationPipeline`,
    with the same arguments, for every other model (the class attributes `pipeline()` reads are the stock ones)."""

    def __new__(cls, *args: Any, **kwargs: Any):
        model = kwargs.get("model", args[0] if args else None)
        ours = getattr(getattr(model, "config", None), "model_type", None) in OUR_MODEL_TYPES
        return (VJEPA2VideoClassificationPipeline if ours else VideoClassificationPipeline)(*args, **kwargs)


def register_video_classification_pipeline() -> None:
    """Deprecated: `import vjepa2_hf` registers the `video-classification` task (see `vjepa2_hf.auto_registration`)."""
    import warnings

    from ..auto_registration import register_auto_classes

    warnings.warn(
        "register_video_classification_pipeline() is deprecated: `import vjepa2_hf` registers the task",
        FutureWarning, stacklevel=2,
    )
    register_auto_classes()
