"""Exported encoders (`vjepa2_hf.encoder.exporting`): transformers' `torch.export` test on our models, and one exported
file (torch.export, ONNX Runtime, OpenVINO) equal to eager within 1e-4 at two resolutions and frame counts."""

from __future__ import annotations

import importlib.util

import pytest
import torch

from vjepa2_hf.encoder import VJEPA2Model, VJEPA2VisionModel
from vjepa2_hf.encoder.exporting import ExportedVJEPA2Encoder, check_backend, export_encoder

from ..conftest import randomize_parameters, tiny_config

PARITY = 1e-4
PRESETS = ["tiny", "vjepa2_1_tiny"]
# two frame counts and two resolutions (square and not), batch 1 and 3, through the same exported file
SHAPES = [(1, 4, 3, 64, 64), (3, 2, 3, 48, 32)]


def _model(cls, preset: str):
    torch.manual_seed(0)
    return randomize_parameters(cls(tiny_config() if preset == "tiny" else _v21_config()).eval())


def _v21_config():
    from vjepa2_hf.encoder import VJEPA2Config

    return VJEPA2Config.from_preset("vjepa2_1_tiny")


@pytest.mark.parametrize("strict", [True, False])
@pytest.mark.parametrize("cls", [VJEPA2Model, VJEPA2VisionModel])
def test_torch_export_like_transformers_suite(cls, strict):
    """transformers' `test_torch_export`: `torch.export.export(model, args=(), kwargs=inputs_dict, strict=...)`, and
    the exported program's outputs equal the model's."""
    model = _model(cls, "tiny")
    inputs = {"pixel_values_videos": torch.randn(2, 4, 3, 64, 64)}
    with torch.no_grad():
        program = torch.export.export(model, args=(), kwargs=inputs, strict=strict)
        eager, exported = model(**inputs), program.module()(**inputs)
    torch.testing.assert_close(exported.last_hidden_state, eager.last_hidden_state, rtol=0, atol=PARITY)
    if cls is VJEPA2Model:
        torch.testing.assert_close(exported.predictor_output.last_hidden_state,
                                   eager.predictor_output.last_hidden_state, rtol=0, atol=PARITY)


def _check_parity(runner, model, shapes):
    for shape in shapes:
        pixels = torch.randn(shape)
        with torch.no_grad():
            eager = model(pixels)
        out = runner(pixels)
        assert out.last_hidden_state.shape == eager.last_hidden_state.shape
        assert out.grid == eager.grid
        torch.testing.assert_close(out.last_hidden_state, eager.last_hidden_state, rtol=0, atol=PARITY)
        torch.testing.assert_close(out.pooler_output, eager.pooler_output, rtol=0, atol=PARITY)


@pytest.mark.parametrize("preset", PRESETS)
def test_dynamic_torch_export_one_file(preset, tmp_path):
    """One `.pt2` (saved, loaded back) serves two resolutions, two frame counts and batch 1 / 3."""
    from transformers.exporters import ExportedModel

    model = _model(VJEPA2VisionModel, preset)
    export_encoder(model, tmp_path, export_format="dynamo")
    loaded = ExportedModel.from_pretrained(tmp_path, trust_remote_code=True)
    for shape in SHAPES:
        pixels = torch.randn(shape)
        with torch.no_grad():
            eager, out = model(pixels), loaded(pixel_values_videos=pixels)
        torch.testing.assert_close(out.last_hidden_state, eager.last_hidden_state, rtol=0, atol=PARITY)


@pytest.mark.parametrize("preset", PRESETS)
def test_onnxruntime_encoder_one_file(preset, tmp_path):
    """One ONNX file run by ONNX Runtime, video and single-frame graphs (V-JEPA 2.1: the image tokenizer)."""
    model = _model(VJEPA2VisionModel, preset)
    export_encoder(model, tmp_path, "onnx")
    export_encoder(model, tmp_path / "image", "onnx", image=True)
    assert {"config.json", "export.json", "model.onnx"} <= {p.name for p in tmp_path.iterdir()}
    runner = ExportedVJEPA2Encoder.from_pretrained(tmp_path, "onnxruntime")
    _check_parity(runner, model, SHAPES + [(2, 1, 3, 64, 48)])


@pytest.mark.skipif(importlib.util.find_spec("openvino") is None, reason="openvino not installed (extra `deploy`)")
def test_openvino_encoder(tmp_path):
    model = _model(VJEPA2VisionModel, "tiny")
    export_encoder(model, tmp_path, "openvino")
    _check_parity(ExportedVJEPA2Encoder.from_pretrained(tmp_path, "openvino"), model, SHAPES)


def test_int8_encoder_close_to_fp32(tmp_path):
    """Dynamic int8 (ONNX Runtime): a different graph, close to fp32 (cosine of the clip embeddings > 0.99)."""
    model = _model(VJEPA2VisionModel, "tiny")
    export_encoder(model, tmp_path, "onnx", int8=True)
    runner = ExportedVJEPA2Encoder.from_pretrained(tmp_path, "onnxruntime")
    pixels = torch.randn(3, 4, 3, 64, 64)
    with torch.no_grad():
        eager = model(pixels).pooler_output
    quantized = runner(pixels).pooler_output
    assert not torch.equal(quantized, eager)
    assert torch.nn.functional.cosine_similarity(quantized, eager).min() > 0.99


def _weight_scale_shapes(folder) -> list[tuple[int, ...]]:
    import onnx

    graph = onnx.load(str(folder / "model.onnx"), load_external_data=False).graph
    return [tuple(init.dims) for init in graph.initializer if init.name.endswith("_scale")]


def test_int8_weights_per_output_channel_by_default(tmp_path):
    """int8 weights carry one scale per output channel unless `per_channel=False` (one per matrix); every matrix
    product of the blocks is quantized (4 per block) in both."""
    model = _model(VJEPA2VisionModel, "tiny")
    export_encoder(model, tmp_path / "channel", "onnx", int8=True)
    export_encoder(model, tmp_path / "tensor", "onnx", int8=True, per_channel=False)
    per_channel, per_tensor = _weight_scale_shapes(tmp_path / "channel"), _weight_scale_shapes(tmp_path / "tensor")
    blocks, hidden = model.config.num_hidden_layers, model.config.hidden_size
    assert len(per_channel) == len(per_tensor) == 4 * blocks
    assert all(shape == () for shape in per_tensor)
    assert sorted(per_channel) == sorted([(3 * hidden,), (hidden,), (int(model.config.mlp_ratio * hidden),), (hidden,)]
                                         * blocks)


def test_backend_errors_name_the_argument(tmp_path):
    with pytest.raises(ValueError, match=r"`backend` must be one of \['torch', 'onnxruntime', 'openvino'\], got 'trt'"):
        check_backend("trt")
    model = _model(VJEPA2VisionModel, "tiny")
    export_encoder(model, tmp_path, "onnx")
    runner = ExportedVJEPA2Encoder.from_pretrained(tmp_path, "onnxruntime")
    with pytest.raises(ValueError, match="returns the final features only; got \\['output_layers'\\]"):
        runner(torch.randn(1, 2, 3, 64, 64), output_layers=[0])
    with pytest.raises(ValueError, match="holds a 'onnx' export; backend='openvino'"):
        ExportedVJEPA2Encoder.from_pretrained(tmp_path, "openvino")
    with pytest.raises(ValueError, match="multiples of the patch size"):
        runner(torch.randn(1, 2, 3, 60, 64))


def test_export_command_onnx_folder(tmp_path, capsys):
    """`vjepa2-hf export --format onnx` on a saved model: transformers' export folder (video and image graphs) that
    `ExportedModel.from_pretrained` loads, equal to the model; `--int8` with another format is a one-line error."""
    from transformers.exporters import ExportedModel

    from vjepa2_hf.cli import main

    model = _model(VJEPA2Model, "tiny")
    model.save_pretrained(tmp_path / "model")
    assert main(["export", "--model", str(tmp_path / "model"), "--format", "onnx",
                 "--output-dir", str(tmp_path / "onnx")]) == 0
    loaded = ExportedModel.from_pretrained(tmp_path / "onnx")
    assert loaded.config.model_type == model.config.model_type
    pixels = torch.randn(2, 4, 3, 48, 64)
    with torch.no_grad():
        eager = model.encoder(pixels).last_hidden_state
    torch.testing.assert_close(loaded(pixel_values_videos=pixels).last_hidden_state, eager, rtol=0, atol=PARITY)
    assert (tmp_path / "onnx" / "image" / "model.onnx").is_file()
    capsys.readouterr()
    assert main(["export", "--model", str(tmp_path / "model"), "--format", "openvino", "--int8",
                 "--output-dir", str(tmp_path / "ov")]) == 2
    assert "--int8 quantizes ONNX graphs" in capsys.readouterr().err


def test_export_command_static_int8_with_calibration(tmp_path):
    """`vjepa2-hf export --format onnx --int8 --calibration CLIPS`: a static int8 graph calibrated on the clips,
    close to fp32 on another clip (cosine of the clip embedding > 0.99)."""
    from vjepa2_hf.cli import main
    from vjepa2_hf.video import VJEPA2VideoProcessor
    from vjepa2_hf.video.encoding import write_video

    model = _model(VJEPA2VisionModel, "tiny")
    model.save_pretrained(tmp_path / "model")
    clips = []
    for i in range(3):
        frames = (torch.rand(8, 64, 64, 3, generator=torch.Generator().manual_seed(i)) * 255).to(torch.uint8).numpy()
        clips.append(str(write_video(tmp_path / f"clip{i}.mp4", frames, fps=8)))
    assert main(["export", "--model", str(tmp_path / "model"), "--format", "onnx", "--int8", "--calibration",
                 *clips[:2], "--calibration-frames", "8", "--output-dir", str(tmp_path / "int8")]) == 0
    pixels = VJEPA2VideoProcessor(crop_size=64)(clips[2], num_frames=8)["pixel_values_videos"]
    runner = ExportedVJEPA2Encoder.from_pretrained(tmp_path / "int8", "onnxruntime")
    with torch.no_grad():
        eager = model(pixels).pooler_output
    assert torch.nn.functional.cosine_similarity(runner(pixels).pooler_output, eager).item() > 0.99
    assert main(["export", "--model", str(tmp_path / "model"), "--format", "onnx", "--calibration", clips[0],
                 "--output-dir", str(tmp_path / "x")]) == 2


def test_openvino_bf16_precision(tmp_path):
    """OpenVINO runs the same float32 graph in bfloat16 with `precision="bf16"`: not the f32 numbers, within bf16
    rounding of them (tokens of unit scale: max 0.1, clip embeddings' cosine > 0.999); `runtime_precision` maps a
    job's dtype and refuses what a runtime cannot do, naming the dtype."""
    if importlib.util.find_spec("openvino") is None:
        pytest.skip("openvino not installed (extra `deploy`)")
    from vjepa2_hf.encoder.exporting import runtime_options, runtime_precision

    model = _model(VJEPA2VisionModel, "tiny")
    export_encoder(model, tmp_path, "openvino")
    pixels = torch.randn(2, 4, 3, 64, 64)
    f32 = ExportedVJEPA2Encoder.from_pretrained(tmp_path, "openvino")(pixels)
    bf16 = ExportedVJEPA2Encoder.from_pretrained(tmp_path, "openvino", precision="bf16")(pixels)
    with torch.no_grad():
        torch.testing.assert_close(f32.last_hidden_state, model(pixels).last_hidden_state, rtol=0, atol=PARITY)
    difference = (bf16.last_hidden_state - f32.last_hidden_state).abs().max()
    assert 1e-4 < difference < 0.1
    assert torch.nn.functional.cosine_similarity(bf16.pooler_output, f32.pooler_output).min() > 0.999
    assert runtime_precision("openvino", torch.bfloat16) == "bf16"
    assert runtime_precision("onnxruntime", torch.float32) == runtime_precision("openvino", torch.float32) == "f32"
    with pytest.raises(ValueError, match=r"backend='onnxruntime' runs the exported graph in float32 \(int8: a "
                                         r"quantized graph\), got dtype bfloat16"):
        runtime_precision("onnxruntime", torch.bfloat16)
    with pytest.raises(ValueError, match="backend='openvino' runs the exported graph in float32 or bfloat16, got "
                                         "dtype float16"):
        runtime_precision("openvino", torch.float16)
    with pytest.raises(ValueError, match="`precision` must be 'f32' \\(or 'bf16' for OpenVINO\\), got 'bf16' for onnx"):
        runtime_options("onnx", "bf16")
