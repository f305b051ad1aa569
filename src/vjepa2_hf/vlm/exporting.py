"""The VLM's V-JEPA 2 encoder exported (float32) and run by ONNX Runtime / OpenVINO; projector and LLM stay in PyTorch.

Only the vision encoder is exported: it is the fixed-shape part of the model, and one graph (symbolic batch, frames
and resolution, `vjepa2_hf.encoder.exporting`) serves every clip. The projector is small, and the language model's
cost is `generate` with its key/value cache, which this package does not export (an 8B LLM stays in PyTorch).

The graph returns the features the VLM reads from its encoder (`config.vision_feature_layer`): the encoder's
`last_hidden_state` for the last block (the default; the folder is then a plain encoder export, loadable by
`ExportedVJEPA2Encoder`), else the final-normed outputs of the chosen blocks concatenated along channels. The layers
are recorded in `vision_features.json` beside the graph, so a reused `export_dir` is checked against the model.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import torch
from torch import nn
from transformers.modeling_outputs import BaseModelOutput

from ..encoder.exporting import (
    BACKEND_FORMATS, check_backend, encoder_dynamic_shapes, encoder_sample_inputs, export_program, is_exported_folder,
    load_exported, with_submodule,
)
from ..encoder.modeling_vjepa2 import VJEPA2EncoderOutput, VJEPA2VisionModel

__all__ = ["ExportedVJEPA2VLMVisionTower", "VJEPA2VLMVisionFeatures", "export_vision_tower", "with_vision_backend"]

FEATURES_FILE = "vision_features.json"


def feature_layers(config) -> list[int]:
    """The encoder blocks the VLM reads (`config.vision_feature_layer`, non-negative)."""
    return [layer % config.vision_config.num_hidden_layers for layer in config.vision_feature_layers]


def _reads_last_hidden_state(config) -> bool:
    return feature_layers(config) == [config.vision_config.num_hidden_layers - 1]


class VJEPA2VLMVisionFeatures(nn.Module):
    """The encoder's final-normed outputs of `layers`, concatenated along channels: `last_hidden_state`
    `(batch, tokens, len(layers) * hidden)` of a `(batch, frames, channels, height, width)` clip (the export target
    of a VLM that reads intermediate blocks)."""

    def __init__(self, vision_tower: VJEPA2VisionModel, layers: list[int]) -> None:
        super().__init__()
        self.vision_tower, self.layers, self.config = vision_tower, list(layers), vision_tower.config

    def forward(self, pixel_values_videos: torch.Tensor) -> BaseModelOutput:
        out = self.vision_tower(pixel_values_videos, output_layers=self.layers)
        return BaseModelOutput(last_hidden_state=torch.cat(out.intermediate_hidden_states, -1))


def export_vision_tower(model: nn.Module, output_dir: str | os.PathLike, export_format: str = "onnx"):
    """Export the vision encoder of a [`VJEPA2VLMForConditionalGeneration`] (float32; a bf16 / fp16 encoder is
    exported from a float32 copy of the encoder alone) into `output_dir`; returns the `ExportedModel`."""
    tower = model.vision_tower
    if tower.dtype != torch.float32:
        tower = copy.deepcopy(tower).float()  # the encoder only (small next to the LLM), freed after the export
    config = model.config
    target = tower if _reads_last_hidden_state(config) else VJEPA2VLMVisionFeatures(tower, feature_layers(config))
    exported = export_program(target, encoder_sample_inputs(tower.config), encoder_dynamic_shapes(tower.config),
                              export_format)
    exported.save_pretrained(output_dir)
    (Path(output_dir) / FEATURES_FILE).write_text(json.dumps({"vision_feature_layers": feature_layers(config)}))
    return exported


class ExportedVJEPA2VLMVisionTower(nn.Module):
    """The exported encoder in the VLM's `vision_tower` slot: called as the VLM calls its encoder
    (`vision_tower(clip, output_layers=...)`), it returns a [`VJEPA2EncoderOutput`] with the graph's features as
    `last_hidden_state` (final block) or as the single `intermediate_hidden_states` entry (intermediate blocks, already
    concatenated), `(batch, tokens, channels)`, in `dtype` (the replaced encoder's) on the input's device."""

    def __init__(self, exported, backend: str, layers: list[int], dtype: torch.dtype) -> None:
        super().__init__()
        self.exported, self.backend, self.layers, self.output_dtype = exported, backend, list(layers), dtype
        self.config = exported.config
        # no weights in PyTorch: the VLM casts its pixels to this parameter's dtype (the graph's float32)
        self._anchor = nn.Parameter(torch.empty(0), requires_grad=False)

    @property
    def dtype(self) -> torch.dtype:
        return torch.float32

    def forward(self, pixel_values_videos: torch.Tensor, output_layers=None, output_hidden_states: bool | None = None,
                output_attentions: bool | None = None, **kwargs) -> VJEPA2EncoderOutput:
        last = [self.config.num_hidden_layers - 1]
        asked = last if output_layers is None else [layer % self.config.num_hidden_layers for layer in output_layers]
        if asked != self.layers or output_hidden_states or output_attentions:
            raise ValueError(
                f"the {self.backend} vision tower returns the features of blocks {self.layers} only; got output_layers="
                f"{output_layers}, output_hidden_states={output_hidden_states}, output_attentions={output_attentions}"
            )
        features = self.exported(pixel_values_videos=pixel_values_videos.to(torch.float32).contiguous())
        features = features.last_hidden_state.to(pixel_values_videos.device, self.output_dtype)
        if self.layers == last:
            return VJEPA2EncoderOutput(last_hidden_state=features)
        return VJEPA2EncoderOutput(intermediate_hidden_states=(features,))


def _check_export_dir(export_dir: Path, model: nn.Module, backend: str) -> None:
    """A one-line `ValueError` when `export_dir` holds another encoder or other feature layers than `model` reads."""
    recorded = export_dir / FEATURES_FILE
    layers = json.loads(recorded.read_text())["vision_feature_layers"] if recorded.is_file() else None
    saved = json.loads((export_dir / "config.json").read_text())
    vc = model.config.vision_config
    fields = ("hidden_size", "num_hidden_layers", "patch_size", "tubelet_size")
    if layers != feature_layers(model.config) or any(saved.get(f) != getattr(vc, f) for f in fields):
        raise ValueError(
            f"`export_dir` {export_dir} holds another encoder export (layers {layers}, "
            f"{ {f: saved.get(f) for f in fields} }) than this VLM reads (layers {feature_layers(model.config)}); "
            f"give an empty folder to export backend={backend!r} again"
        )


def with_vision_backend(model: nn.Module, backend: str, export_dir: str | os.PathLike) -> nn.Module:
    """A shallow copy of the VLM `model` whose `vision_tower` is its encoder exported for `backend` (loaded from
    `export_dir` when it holds an export, else exported there first); projector and LLM are shared with `model`,
    which is left unchanged. `backend="torch"` returns `model` itself."""
    if check_backend(backend) == "torch":
        return model
    if not isinstance(getattr(model, "vision_tower", None), VJEPA2VisionModel):
        raise ValueError(
            f"backend={backend!r} runs the V-JEPA 2 encoder of a VJEPA2VLMForConditionalGeneration; got "
            f"{type(model).__name__} with vision_tower {type(getattr(model, 'vision_tower', None)).__name__}"
        )
    export_dir = Path(export_dir)
    if is_exported_folder(export_dir):
        _check_export_dir(export_dir, model, backend)
    else:
        export_vision_tower(model, export_dir, BACKEND_FORMATS[backend])
    runner = ExportedVJEPA2VLMVisionTower(load_exported(export_dir, backend), backend, feature_layers(model.config),
                                          model.vision_tower.dtype)
    return with_submodule(model, "vision_tower", runner)
