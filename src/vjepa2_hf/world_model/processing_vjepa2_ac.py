"""Frame preprocessing of V-JEPA 2-AC: uint8 RGB frames to the encoder's normalised input.

The official planning notebook's transform is a centre crop of aspect 1 (scale = ratio = (1, 1): the identity for
square frames, a centre square crop for wider ones), a resize to the crop size and ImageNet normalisation. The
official DROID *training* transform crops a centre box of full height and width ``round(1.35 * H)`` and resizes it
anisotropically to the square crop (`crop_aspect=1.35`). Both are the same function with a different aspect.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class VJEPA2ACFrameProcessor:
    """uint8 `(..., H, W, 3)` frames -> float `(..., 3, crop_size, crop_size)` normalised pixels.

    Args:
        crop_size (`int`, defaults to 256): output side.
        crop_aspect (`float`, defaults to 1.0): width / height of the centre box cropped before resizing (1.0 =
            the planning notebook, 1.35 = the DROID training transform); the box is clipped to the frame.
        image_mean, image_std: normalisation in [0, 1] units (ImageNet by default).
    """

    def __init__(
        self,
        crop_size: int = 256,
        crop_aspect: float = 1.0,
        image_mean: Sequence[float] = IMAGENET_MEAN,
        image_std: Sequence[float] = IMAGENET_STD,
    ) -> None:
        if crop_size < 1 or crop_aspect <= 0:
            raise ValueError(f"need crop_size >= 1 and crop_aspect > 0, got {crop_size}, {crop_aspect}")
        self.crop_size = int(crop_size)
        self.crop_aspect = float(crop_aspect)
        self.image_mean = tuple(float(m) for m in image_mean)
        self.image_std = tuple(float(s) for s in image_std)

    def to_dict(self) -> dict:
        return {
            "crop_size": self.crop_size,
            "crop_aspect": self.crop_aspect,
            "image_mean": list(self.image_mean),
            "image_std": list(self.image_std),
        }

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, **kwargs) -> "VJEPA2ACFrameProcessor":
        """The frame processor saved with a world model (`config.json`'s `frame_processor`, else the default for
        its encoder's crop size), as `AutoProcessor.from_pretrained(<world model folder>)` returns it."""
        from transformers import AutoConfig

        config = AutoConfig.from_pretrained(pretrained_model_name_or_path, **kwargs)
        settings = getattr(config, "frame_processor", None)
        if settings is None:
            encoder = getattr(config, "encoder_config", None)
            if encoder is None:
                raise ValueError(f"{pretrained_model_name_or_path} holds no world model config (no `frame_processor`)")
            settings = {"crop_size": encoder.crop_size}
        return cls(**settings)

    def __call__(self, frames: np.ndarray | torch.Tensor) -> torch.Tensor:
        """
        Args:
            frames: uint8 RGB `(..., H, W, 3)` (numpy or torch).

        Returns:
            `torch.FloatTensor` of shape `(..., 3, crop_size, crop_size)`.
        """
        if isinstance(frames, np.ndarray):
            frames = torch.from_numpy(np.ascontiguousarray(frames))
        if not isinstance(frames, torch.Tensor):
            raise ValueError(f"`frames` must be a uint8 array (..., H, W, 3), got {type(frames).__name__}")
        if frames.ndim < 3 or frames.shape[-1] != 3:
            raise ValueError(f"`frames` must be uint8 RGB of shape (..., H, W, 3), got shape {tuple(frames.shape)}")
        if frames.dtype != torch.uint8:
            raise ValueError(f"`frames` must be uint8 RGB (0..255), got dtype {frames.dtype}")
        lead = frames.shape[:-3]
        height, width = frames.shape[-3:-1]
        x = frames.reshape(-1, height, width, 3).permute(0, 3, 1, 2).float() / 255.0
        box_w = min(width, int(round(self.crop_aspect * height)))
        box_h = min(height, int(round(box_w / self.crop_aspect)))
        top, left = int(round((height - box_h) / 2)), int(round((width - box_w) / 2))
        x = x[:, :, top : top + box_h, left : left + box_w]
        if x.shape[-2:] != (self.crop_size, self.crop_size):
            x = F.interpolate(x, size=(self.crop_size, self.crop_size), mode="bilinear", align_corners=False,
                              antialias=True)
        mean = torch.tensor(self.image_mean).view(1, 3, 1, 1)
        std = torch.tensor(self.image_std).view(1, 3, 1, 1)
        x = (x - mean) / std
        return x.reshape(*lead, 3, self.crop_size, self.crop_size)


__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "VJEPA2ACFrameProcessor"]
