"""Exported V-JEPA 2 graphs: `torch.export`, ONNX and OpenVINO through transformers' exporters, and their runtimes.

transformers 5.24 ships its own exporters (`transformers.exporters`: `DynamoExporter`, `OnnxExporter`,
`OpenVINOExporter`, runners for ONNX Runtime and OpenVINO, ONNX Runtime int8 quantizers); Optimum's ONNX exporter
(`optimum-onnx` 0.1) requires transformers < 4.58, so it cannot be used with this package. An exported folder is
transformers' layout: `config.json` (the model's config), `export.json` (the manifest: format, traced inputs and
outputs) and the program (`model.pt2`, `model.onnx` + `model.onnx.data`, or `openvino_model.xml` + `.bin`); it loads
with `transformers.exporters.ExportedModel.from_pretrained` or with [`load_exported`] here.

Every graph is exported once with symbolic batch, frame count and resolution (`encoder_dynamic_shapes`): one file
serves every input size. Sizes 0 and 1 are traced size-obliviously (`backed_size_oblivious`), so a batch of 1, a
single tubelet or a one-token-wide grid run through the same file.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import torch
from torch.export import Dim
from transformers.utils import logging

from .configuration_vjepa2 import VJEPA2Config
from .modeling_vjepa2 import VJEPA2EncoderOutput

logger = logging.get_logger(__name__)

__all__ = [
    "BACKENDS", "BACKEND_FORMATS", "ExportedVJEPA2Encoder", "check_backend", "encoder_dynamic_shapes",
    "encoder_sample_inputs", "export_encoder", "export_program", "int8_quantizer", "is_exported_folder",
    "load_exported", "runtime_options", "runtime_precision", "size_oblivious", "with_submodule",
]

# runtime backend -> transformers export format of the graph it runs
BACKEND_FORMATS = {"onnxruntime": "onnx", "openvino": "openvino"}
BACKENDS = ("torch", *BACKEND_FORMATS)
MAX_SIZE = 4096  # upper bound of every symbolic size (tokens per side, frames, batch)


def check_backend(backend: str, name: str = "backend") -> str:
    """`backend` if it is one of `BACKENDS` and its runtime is installed; a one-line `ValueError` / `ImportError`
    otherwise."""
    if backend not in BACKENDS:
        raise ValueError(f"`{name}` must be one of {list(BACKENDS)}, got {backend!r}")
    module = {"onnxruntime": "onnxruntime", "openvino": "openvino"}.get(backend)
    if module is not None:
        import importlib.util

        if importlib.util.find_spec(module) is None:
            raise ImportError(f"{name}={backend!r} needs the `{module}` package: pip install 'vjepa2-hf[deploy]'")
    return backend


@contextlib.contextmanager
def size_oblivious():
    """Trace with sizes 0 / 1 treated like any other size (no specialisation, no guard that fails on a batch of 1)."""
    with torch.fx.experimental._config.patch(backed_size_oblivious=True):
        yield


def encoder_dynamic_shapes(config: VJEPA2Config, image: bool = False, name: str = "pixel_values_videos") -> dict:
    """`torch.export` dynamic shapes of a `(batch, frames, channels, height, width)` input: symbolic batch, frames (a
    multiple of `tubelet_size`; fixed at 1 with `image=True`) and height / width (multiples of `patch_size`)."""
    patch = config.patch_size
    shape = {0: Dim("batch", min=1, max=MAX_SIZE), 3: patch * Dim("grid_h", min=1, max=MAX_SIZE),
             4: patch * Dim("grid_w", min=1, max=MAX_SIZE)}
    if not image:
        shape[1] = config.tubelet_size * Dim("grid_t", min=1, max=MAX_SIZE)
    return {name: shape}


def _exporter(export_format: str):
    from transformers.exporters import DynamoConfig, DynamoExporter, OnnxConfig, OnnxExporter, OpenVINOConfig

    if export_format == "dynamo":
        return DynamoExporter, DynamoConfig
    if export_format == "onnx":
        return OnnxExporter, OnnxConfig
    if export_format == "openvino":
        from transformers.exporters import OpenVINOExporter

        return OpenVINOExporter, OpenVINOConfig
    raise ValueError(f"`export_format` must be 'dynamo', 'onnx' or 'openvino', got {export_format!r}")


def int8_quantizer(calibration: list[dict[str, torch.Tensor]] | None = None, per_channel: bool = True):
    """ONNX Runtime int8 quantizer of transformers' exporters: dynamic (weights int8, activations quantized per call)
    without `calibration`, static (QDQ, activation ranges from the calibration inputs) with it.

    `per_channel` (default): one weight scale per output channel instead of one per matrix. On the main job's
    pretrained encoder it halves the worst frozen-feature accuracy change (`scripts/int8_accuracy.py`, README)."""
    from transformers.exporters import OnnxRuntimeDynamicConfig, OnnxRuntimeQuantizer, OnnxRuntimeStaticConfig

    if calibration is None:
        return OnnxRuntimeQuantizer(OnnxRuntimeDynamicConfig(per_channel=per_channel))
    return OnnxRuntimeQuantizer(OnnxRuntimeStaticConfig(per_channel=per_channel), calibration_dataset=calibration)


def export_program(
    model: torch.nn.Module,
    sample_inputs: dict[str, Any],
    dynamic_shapes: dict | None,
    export_format: str = "onnx",
    int8: bool = False,
    calibration: list[dict[str, torch.Tensor]] | None = None,
    per_channel: bool = True,
):
    """Export `model(**sample_inputs)` as one graph with transformers' exporters; returns an `ExportedModel`.

    Args:
        export_format: `"dynamo"` (`torch.export`, `.pt2`), `"onnx"` or `"openvino"`.
        int8: quantize the ONNX graph to int8 with ONNX Runtime (dynamic, or static with `calibration`).
        per_channel: int8 weight scales per output channel (default) or per matrix.
    """
    exporter_class, config_class = _exporter(export_format)
    options: dict[str, Any] = {"dynamic_shapes": dynamic_shapes}
    if int8:
        if export_format != "onnx":
            raise ValueError(f"int8 quantization is for the ONNX format, got export_format={export_format!r}")
        options["quantizer"] = int8_quantizer(calibration, per_channel)
    with size_oblivious(), torch.no_grad():
        return exporter_class().export(model.eval(), sample_inputs, config_class(**options))


def encoder_sample_inputs(config: VJEPA2Config, image: bool = False) -> dict[str, torch.Tensor]:
    """Tracing inputs: 2 of every symbolic size (batch, tubelets, rows, columns), so no size is a special value."""
    frames = 1 if image else 2 * config.tubelet_size
    side = 2 * config.patch_size
    return {"pixel_values_videos": torch.randn(2, frames, config.in_chans, side, side)}


def export_encoder(
    model: torch.nn.Module,
    output_dir: str | os.PathLike | None = None,
    export_format: str = "onnx",
    image: bool = False,
    int8: bool = False,
    calibration: list[dict[str, torch.Tensor]] | None = None,
    per_channel: bool = True,
):
    """Export a [`VJEPA2VisionModel`] (float32) with dynamic batch, frames and resolution; write it to `output_dir`.

    Args:
        image: export the single-frame graph (frames fixed at 1: V-JEPA 2.1's image tokenizer, or an image repeated
            into a tubelet) instead of the video graph.
        int8: quantize the ONNX graph to int8 with ONNX Runtime (dynamic, or static with `calibration`).
        per_channel: int8 weight scales per output channel (default) or one per matrix.

    Returns:
        the `ExportedModel`; its outputs are `last_hidden_state` `(batch, tokens, hidden)` and `pooler_output`.
    """
    if model.dtype != torch.float32:
        raise ValueError(f"export a float32 model (quantize with int8=True), got {model.dtype}")
    config = model.config
    exported = export_program(model, encoder_sample_inputs(config, image), encoder_dynamic_shapes(config, image),
                              export_format, int8, calibration, per_channel)
    if output_dir is not None:
        exported.save_pretrained(output_dir)
    return exported


def with_submodule(model: torch.nn.Module, name: str, module: torch.nn.Module) -> torch.nn.Module:
    """A shallow copy of `model` whose submodule `name` is `module`: every other submodule, parameter and buffer is
    shared with `model`, which is left unchanged (e.g. a world model running an exported rollout step)."""
    import copy

    copied = copy.copy(model)
    copied._modules = dict(model._modules)  # a shallow copy would share (and overwrite) the module dict
    setattr(copied, name, module)
    return copied


def is_exported_folder(path: str | os.PathLike) -> bool:
    """Whether `path` is a folder written by `ExportedModel.save_pretrained` (has `export.json`)."""
    return (Path(path) / "export.json").is_file()


def load_exported(path: str | os.PathLike, backend: str | None = None, precision: str = "f32"):
    """`ExportedModel.from_pretrained(path)`, checking that its format is the one `backend` runs; `precision`: the
    OpenVINO inference precision (`runtime_options`)."""
    import json

    from transformers.exporters import ExportedModel

    manifest = json.loads((Path(path) / "export.json").read_text())
    found = manifest["export_format"]
    if backend is not None and BACKEND_FORMATS.get(backend, "dynamo") != found:
        raise ValueError(f"{path} holds a {found!r} export; backend={backend!r} runs {BACKEND_FORMATS.get(backend)!r}")
    return ExportedModel.from_pretrained(path, trust_remote_code=found == "dynamo",
                                         **runtime_options(found, precision))


OPENVINO_PRECISIONS = {torch.float32: "f32", torch.bfloat16: "bf16"}


def runtime_precision(backend: str, dtype: torch.dtype) -> str:
    """The inference precision of `backend` for a job's `dtype`: OpenVINO runs the float32 graph in float32 or in
    bfloat16 (`INFERENCE_PRECISION_HINT`); ONNX Runtime runs it in float32 only (int8: a quantized graph)."""
    if backend == "openvino" and dtype in OPENVINO_PRECISIONS:
        return OPENVINO_PRECISIONS[dtype]
    if dtype != torch.float32:
        kinds = "float32 or bfloat16" if backend == "openvino" else "float32 (int8: a quantized graph)"
        raise ValueError(f"backend={backend!r} runs the exported graph in {kinds}, got dtype "
                         f"{str(dtype).replace('torch.', '')}")
    return "f32"


def runtime_options(export_format: str, precision: str = "f32") -> dict[str, Any]:
    """Runner options of `ExportedModel.from_pretrained` for a format.

    ONNX Runtime: as many threads as PyTorch uses (its default counts every core of the machine, not those this
    process may use) and no spin-waiting after a call (spinning threads slow the PyTorch work between calls: the
    planner's state updates, the pipeline's postprocessing). OpenVINO: `precision` `"f32"` (default: the graph's
    numbers; its CPU plugin would otherwise run bf16 where the CPU supports it) or `"bf16"` (faster on CPUs with
    native bf16, ~3e-2 from fp32 on the ViT-L encoder's tokens).
    """
    if precision not in ("f32", "bf16") or (precision != "f32" and export_format != "openvino"):
        raise ValueError(f"`precision` must be 'f32' (or 'bf16' for OpenVINO), got {precision!r} for {export_format}")
    if export_format == "onnx":
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        return {"session_options": options}
    if export_format == "openvino":
        return {"config": {"INFERENCE_PRECISION_HINT": precision}}
    return {}


class ExportedVJEPA2Encoder(torch.nn.Module):
    """An exported encoder called like [`VJEPA2VisionModel`]: `encoder(pixel_values_videos)` returns a
    [`VJEPA2EncoderOutput`] with `last_hidden_state` `(batch, tokens, hidden)`, `pooler_output` `(batch, hidden)` and
    the token `grid` of the input (computed here: the exported graph only returns tensors).

    Inputs are cast to float32 (the exported precision); options the graph was not exported with
    (`output_layers`, `visible_mask`, hidden states, attentions) raise a `ValueError`.
    """

    def __init__(self, exported, backend: str, image: Any = None) -> None:
        super().__init__()
        self.exported, self.backend, self.image = exported, backend, image
        self.config = exported.config
        # no weights in PyTorch: this empty parameter tells callers the dtype and device inputs should have
        self._anchor = torch.nn.Parameter(torch.empty(0), requires_grad=False)

    @property
    def dtype(self) -> torch.dtype:
        return torch.float32

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike, backend: str = "onnxruntime",
                        precision: str = "f32") -> "ExportedVJEPA2Encoder":
        """`precision`: OpenVINO's inference precision, `"f32"` or `"bf16"` (`runtime_options`)."""
        image_dir = Path(path) / "image"
        image = load_exported(image_dir, backend, precision) if is_exported_folder(image_dir) else None
        return cls(load_exported(path, backend, precision), backend, image)

    def forward(self, pixel_values_videos: torch.Tensor, output_layers=None, visible_mask=None,
                 output_hidden_states: bool | None = None, output_attentions: bool | None = None,
                 return_dict: bool = True, **kwargs) -> VJEPA2EncoderOutput:
        unsupported = [n for n, v in (("output_layers", output_layers), ("visible_mask", visible_mask),
                                      ("output_hidden_states", output_hidden_states),
                                      ("output_attentions", output_attentions)) if v]
        if unsupported:
            raise ValueError(f"the {self.backend} encoder returns the final features only; got {unsupported}")
        from .modeling_vjepa2 import VJEPA2Embeddings

        # the eager model's input checks, word for word (`grid` only reads `.config`)
        grid = VJEPA2Embeddings.grid(SimpleNamespace(config=self.config), pixel_values_videos)
        program = self.exported
        if pixel_values_videos.shape[1] == 1:
            if self.image is None:
                raise ValueError(f"this {self.backend} export has no single-frame graph (export it with image=True)")
            program = self.image
        out = program(pixel_values_videos=pixel_values_videos.to(torch.float32).contiguous())
        return VJEPA2EncoderOutput(last_hidden_state=out.last_hidden_state, pooler_output=out.pooler_output, grid=grid)

