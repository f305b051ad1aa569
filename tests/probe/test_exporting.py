"""The classifier exported (`vjepa2_hf.probe.exporting`): transformers' `torch.export` test, one ONNX file at two
resolutions and frame counts, and `pipeline("video-classification", backend=...)` equal to PyTorch within 1e-4."""

from __future__ import annotations

import importlib.util

import pytest
import torch
from transformers import pipeline

from vjepa2_hf.probe import VJEPA2ForVideoClassification
from vjepa2_hf.probe.exporting import ExportedVJEPA2Classifier, export_classifier
from vjepa2_hf.video import VJEPA2VideoProcessor

from .conftest import randomize_parameters, tiny_config

PARITY = 1e-4


def _classifier():
    torch.manual_seed(0)
    return randomize_parameters(VJEPA2ForVideoClassification(tiny_config(num_labels=5)), seed=3).eval()


@pytest.mark.parametrize("strict", [True, False])
def test_torch_export_like_transformers_suite(strict):
    model = _classifier()
    inputs = {"pixel_values_videos": torch.randn(2, 4, 3, 64, 64)}
    with torch.no_grad():
        program = torch.export.export(model, args=(), kwargs=inputs, strict=strict)
        torch.testing.assert_close(program.module()(**inputs).logits, model(**inputs).logits, rtol=0, atol=PARITY)


def test_onnxruntime_classifier_one_file(tmp_path):
    model = _classifier()
    export_classifier(model, tmp_path, "onnx")
    runner = ExportedVJEPA2Classifier.from_pretrained(tmp_path, "onnxruntime")
    for shape in [(1, 4, 3, 64, 64), (3, 2, 3, 48, 32)]:
        pixels = torch.randn(shape)
        with torch.no_grad():
            eager = model(pixel_values_videos=pixels).logits
        torch.testing.assert_close(runner(pixels).logits, eager, rtol=0, atol=PARITY)
    with pytest.raises(ValueError, match="single-view clips"):
        runner(torch.randn(1, 3, 1, 4, 3, 64, 64))


@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
def test_pipeline_backend_equals_torch(backend, tmp_path):
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} not installed (extra `deploy`)")
    folder = tmp_path / "classifier"
    _classifier().save_pretrained(folder)
    VJEPA2VideoProcessor(crop_size=64, do_resize=False).save_pretrained(folder)
    video = (torch.rand(12, 64, 64, 3, generator=torch.Generator().manual_seed(1)) * 255).to(torch.uint8).numpy()
    eager = pipeline("video-classification", model=str(folder))(video, top_k=5, num_frames=8)
    exported = pipeline("video-classification", model=str(folder), backend=backend,
                        export_dir=str(tmp_path / backend))(video, top_k=5, num_frames=8)
    assert (tmp_path / backend / "export.json").is_file()
    assert [r["label"] for r in exported] == [r["label"] for r in eager]
    for got, want in zip(exported, eager):
        assert abs(got["score"] - want["score"]) <= PARITY
    with pytest.raises(ValueError, match=r"`backend` must be one of"):
        pipeline("video-classification", model=str(folder), backend="tensorrt")
