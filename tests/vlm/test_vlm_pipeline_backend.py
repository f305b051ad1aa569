"""`pipeline("video-text-to-text", backend=...)`: the VLM's V-JEPA 2 encoder exported and run by ONNX Runtime /
OpenVINO (projector and LLM in PyTorch) gives the torch pipeline's scores within 1e-4, the same answers and the same
generated text; a reused `export_dir` is loaded without exporting again; bad values fail with one line."""

from __future__ import annotations

import copy
import importlib.util

import pytest
import torch
from transformers import pipeline

from vjepa2_hf.encoder.modeling_vjepa2 import VJEPA2VisionModel
from vjepa2_hf.vlm import exporting as vlm_exporting

from .conftest import make_tiny

PARITY = 1e-4
QUESTION = "Which way does the square move?"
OPTIONS = ["left", "right", "up", "down"]


def _needs(backend):
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} not installed (extra `deploy`)")


def _saved(tokenizer, folder, **kwargs):
    """A tiny VLM saved as users save one (`save_pretrained` of model and processor); returns the folder."""
    model, processor = make_tiny(tokenizer, seed=3, **kwargs)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return str(folder)


def _answers(pipe, video):
    return {
        "letter": pipe(video, question=QUESTION, options=OPTIONS),
        "option": pipe(video, question=QUESTION, options=OPTIONS, mode="option"),
        "free": pipe({"video": video, "question": QUESTION}, max_new_tokens=6),
    }


def _assert_same(got, want):
    for mode in ("letter", "option"):
        assert got[mode]["option_index"] == want[mode]["option_index"], mode
        assert max(abs(a - b) for a, b in zip(got[mode]["scores"], want[mode]["scores"])) <= PARITY, mode
    assert got["free"]["generated_text"] == want["free"]["generated_text"]


@pytest.fixture(scope="module")
def folder(tokenizer, tmp_path_factory):
    return _saved(tokenizer, tmp_path_factory.mktemp("vlm"))


@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
def test_pipeline_backend_equals_torch(backend, folder, video, tmp_path):
    _needs(backend)
    eager = _answers(pipeline("video-text-to-text", model=folder), video)
    pipe = pipeline("video-text-to-text", model=folder, backend=backend, export_dir=str(tmp_path / backend))
    assert (tmp_path / backend / "export.json").is_file()
    assert type(pipe.model.vision_tower).__name__ == "ExportedVJEPA2VLMVisionTower"
    _assert_same(_answers(pipe, video), eager)
    assert len(eager["free"]["generated_text"].split()) > 1  # a real comparison of several generated tokens


def test_export_dir_reused_without_export(folder, video, tmp_path, monkeypatch):
    _needs("onnxruntime")
    export_dir = tmp_path / "onnx"
    first = pipeline("video-text-to-text", model=folder, backend="onnxruntime", export_dir=str(export_dir))
    mtimes = {p.name: p.stat().st_mtime_ns for p in export_dir.iterdir()}

    def no_export(*args, **kwargs):
        raise AssertionError("exported again")

    monkeypatch.setattr(vlm_exporting, "export_program", no_export)
    second = pipeline("video-text-to-text", model=folder, backend="onnxruntime", export_dir=str(export_dir))
    assert {p.name: p.stat().st_mtime_ns for p in export_dir.iterdir()} == mtimes
    a, b = (p(video, question=QUESTION, options=OPTIONS) for p in (first, second))
    assert a["scores"] == b["scores"] and a["option_index"] == b["option_index"]


def test_intermediate_layers_and_a_model_instance(tokenizer, video, tmp_path):
    """A VLM reading two encoder blocks: the graph returns both, concatenated; the model passed in keeps its encoder."""
    _needs("onnxruntime")
    folder = _saved(tokenizer, tmp_path / "vlm", vision_feature_layer=[0, -1])
    model, processor = make_tiny(tokenizer, seed=3, vision_feature_layer=[0, -1])
    export_dir = tmp_path / "onnx"
    pipe = pipeline("video-text-to-text", model=model, processor=processor, backend="onnxruntime",
                    export_dir=str(export_dir))
    assert isinstance(model.vision_tower, VJEPA2VisionModel) and pipe.model is not model
    assert pipe.model.language_model is model.language_model
    _assert_same(_answers(pipe, video), _answers(pipeline("video-text-to-text", model=folder), video))
    with pytest.raises(ValueError, match=r"`export_dir` .* holds another encoder export \(layers \[0, 1\]"):
        pipeline("video-text-to-text", model=_saved(tokenizer, tmp_path / "last"), backend="onnxruntime",
                 export_dir=str(export_dir))


def test_bf16_model_exports_a_float32_copy_of_its_encoder(tokenizer, video, tmp_path):
    _needs("onnxruntime")
    model, processor = make_tiny(tokenizer, seed=3)
    model = model.to(torch.bfloat16)
    pipe = pipeline("video-text-to-text", model=model, processor=processor, backend="onnxruntime",
                    export_dir=str(tmp_path / "onnx"))
    assert model.vision_tower.dtype == torch.bfloat16  # the user's encoder is not cast
    pixels = torch.randn(1, 4, 3, 32, 32)
    with torch.no_grad():
        want = model.vision_tower.float()(pixels).last_hidden_state
    got = pipe.model.vision_tower(pixels).last_hidden_state
    assert got.dtype == torch.bfloat16  # what the bf16 projector expects
    torch.testing.assert_close(got.float(), want, rtol=0, atol=1e-2)  # bf16 rounding of the fp32 graph's output
    assert pipe(video, question=QUESTION, options=OPTIONS)["answer"] in OPTIONS


def test_bad_backend_values(folder, tiny):
    with pytest.raises(ValueError, match=r"`backend` must be one of \['torch', 'onnxruntime', 'openvino'\], got 'tensorrt'"):
        pipeline("video-text-to-text", model=folder, backend="tensorrt")
    model, processor = tiny
    other = copy.copy(model)
    other._modules = dict(model._modules)
    other.vision_tower = torch.nn.Identity()
    with pytest.raises(ValueError, match="runs the V-JEPA 2 encoder of a VJEPA2VLMForConditionalGeneration"):
        vlm_exporting.with_vision_backend(other, "onnxruntime", "unused")
