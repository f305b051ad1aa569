"""The video classifier (encoder + attentive probe) exported, and run by ONNX Runtime / OpenVINO.

The graph takes `pixel_values_videos` `(batch, frames, channels, height, width)` with symbolic batch, frames and
resolution (see `vjepa2_hf.encoder.exporting`) and returns `logits` `(batch, num_labels)`: single-view clips (the
pipeline's default; multi-view evaluation stays on the PyTorch model).
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from ..encoder.exporting import (
    BACKEND_FORMATS, check_backend, encoder_dynamic_shapes, encoder_sample_inputs, export_program, is_exported_folder,
    load_exported,
)
from .modeling_probe import VJEPA2VideoClassifierOutput

__all__ = ["ExportedVJEPA2Classifier", "classifier_backend", "export_classifier"]


def export_classifier(model: nn.Module, output_dir: str | os.PathLike | None = None, export_format: str = "onnx",
                      int8: bool = False):
    """Export a float32 [`VJEPA2ForVideoClassification`] (dynamic batch, frames, resolution); returns the
    `ExportedModel` and writes it to `output_dir` when given."""
    if model.dtype != torch.float32:
        raise ValueError(f"export a float32 classifier (quantize with int8=True), got {model.dtype}")
    exported = export_program(model, encoder_sample_inputs(model.config), encoder_dynamic_shapes(model.config),
                              export_format, int8)
    if output_dir is not None:
        exported.save_pretrained(output_dir)
    return exported


class ExportedVJEPA2Classifier(nn.Module):
    """An exported classifier called like [`VJEPA2ForVideoClassification`] on single-view clips:
    `classifier(pixel_values_videos)` returns a [`VJEPA2VideoClassifierOutput`] with `logits` `(batch, num_labels)`."""

    def __init__(self, exported, backend: str) -> None:
        super().__init__()
        self.exported, self.backend, self.config = exported, backend, exported.config

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike, backend: str = "onnxruntime") -> "ExportedVJEPA2Classifier":
        return cls(load_exported(path, backend), backend)

    def forward(self, pixel_values_videos: torch.Tensor, **kwargs) -> VJEPA2VideoClassifierOutput:
        if pixel_values_videos.ndim != 5:
            raise ValueError(
                f"the {self.backend} classifier takes single-view clips [batch, frames, channels, height, width], got "
                f"shape {tuple(pixel_values_videos.shape)} (multi-view / multi-segment input runs on backend='torch')"
            )
        out = self.exported(pixel_values_videos=pixel_values_videos.to(torch.float32).contiguous())
        return VJEPA2VideoClassifierOutput(logits=out.logits)


def classifier_backend(model: nn.Module, backend: str, export_dir: str | os.PathLike) -> ExportedVJEPA2Classifier:
    """The classifier run by `backend`: loaded from `export_dir` when it holds an export of that format, else exported
    there first from `model` (cast to float32 in place)."""
    check_backend(backend)
    if not is_exported_folder(export_dir):
        export_classifier(model.float(), Path(export_dir), BACKEND_FORMATS[backend])
    return ExportedVJEPA2Classifier.from_pretrained(export_dir, backend)
