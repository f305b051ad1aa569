"""Loading and feature APIs behave as transformers users expect (issue 22): a backbone from a head checkpoint, missing
keys initialised and reported, `output_loading_info` as transformers returns it, transformers' load report left
intact, `get_*_features` under the 5.x contract, and an Auto processor for every saved folder with a processor;
plus the opt-in `strict=True` (README, "Deviations from transformers")."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file, save_file
from transformers import AutoModel, AutoModelForVideoClassification, AutoProcessor
from transformers.modeling_outputs import BaseModelOutputWithPooling
from transformers.testing_utils import CaptureLogger
from transformers.utils import logging

from vjepa2_hf import VJEPA2Model, VJEPA2VisionModel, VJEPA2VideoProcessor
from vjepa2_hf.probe import VJEPA2ForVideoClassification

from ..conftest import randomize_parameters, tiny_config

REPORT_LOGGER = logging.get_logger("transformers.modeling_utils")


@pytest.fixture(scope="module")
def classifier_dir(tmp_path_factory):
    """A classifier folder as `vjepa2-hf probe` writes it: weights, config and the video processor."""
    torch.manual_seed(0)
    model = randomize_parameters(VJEPA2ForVideoClassification(tiny_config(num_labels=3)))
    path = tmp_path_factory.mktemp("classifier")
    model.save_pretrained(path)
    VJEPA2VideoProcessor(crop_size=64).save_pretrained(path)
    return path, model


def test_automodel_on_a_classifier_folder_gives_its_backbone(classifier_dir):
    path, classifier = classifier_dir
    with CaptureLogger(REPORT_LOGGER) as report:
        backbone, info = AutoModel.from_pretrained(path, output_loading_info=True)
    assert type(backbone) is VJEPA2Model
    head = {k for k in classifier.state_dict() if k.startswith(("pooler.", "classifier."))}
    assert len(head) == 65 and info["unexpected_keys"] == head and info["missing_keys"] == set()
    assert "LOAD REPORT" in report.out and "classifier.weight" in report.out  # transformers' report, as it is
    expected = classifier.vjepa2.state_dict()
    assert backbone.state_dict().keys() == expected.keys()
    assert all(torch.equal(backbone.state_dict()[k], v) for k, v in expected.items())
    encoder = VJEPA2VisionModel.from_pretrained(path)  # the encoder alone: the predictor is dropped by rule
    assert all(torch.equal(encoder.encoder.state_dict()[k], v) for k, v in classifier.vjepa2.encoder.state_dict().items())


def test_missing_key_is_initialised_and_reported(classifier_dir, tmp_path):
    path, classifier = classifier_dir
    for name in ("config.json", "video_preprocessor_config.json"):
        (tmp_path / name).write_bytes((path / name).read_bytes())
    weights = load_file(path / "model.safetensors")
    del weights["classifier.bias"], weights["vjepa2.encoder.layernorm.weight"]
    save_file(weights, tmp_path / "model.safetensors", metadata={"format": "pt"})
    with CaptureLogger(REPORT_LOGGER) as report:
        model, info = VJEPA2ForVideoClassification.from_pretrained(tmp_path, output_loading_info=True)
    assert info["missing_keys"] == {"classifier.bias", "vjepa2.encoder.layernorm.weight"}
    assert "MISSING" in report.out and "classifier.bias" in report.out
    assert torch.equal(model.vjepa2.encoder.layernorm.weight, torch.ones(64))  # initialised: LayerNorm weight 1
    assert torch.equal(model.classifier.bias, torch.zeros(3))
    assert torch.equal(model.classifier.weight, classifier.classifier.weight)  # the rest is loaded
    with pytest.raises(ValueError, match=r"strict=True.*\n.*missing keys \(2\)"):
        VJEPA2ForVideoClassification.from_pretrained(tmp_path, strict=True)


def test_output_loading_info_is_transformers_dict_of_sets(classifier_dir):
    path, _ = classifier_dir
    for cls in (VJEPA2ForVideoClassification, VJEPA2Model, VJEPA2VisionModel):
        _, info = cls.from_pretrained(path, output_loading_info=True)
        assert set(info) == {"missing_keys", "unexpected_keys", "mismatched_keys", "error_msgs"}
        assert all(isinstance(info[k], set) for k in ("missing_keys", "unexpected_keys", "mismatched_keys"))


def test_backbone_checkpoint_into_a_classifier_reports_the_new_head(tmp_path):
    torch.manual_seed(0)
    VJEPA2Model(tiny_config()).save_pretrained(tmp_path)
    with CaptureLogger(REPORT_LOGGER) as report:
        _, info = AutoModelForVideoClassification.from_pretrained(tmp_path, num_labels=4, output_loading_info=True)
    assert {"classifier.weight", "classifier.bias", "pooler.query_tokens"} <= info["missing_keys"]
    assert all(k.startswith(("pooler.", "classifier.")) for k in info["missing_keys"])
    assert "MISSING" in report.out and "LOAD REPORT" in report.out


def test_size_mismatch_raises_unless_ignored(classifier_dir):
    path, _ = classifier_dir
    with pytest.raises(RuntimeError, match="ignore_mismatched_sizes"):
        VJEPA2ForVideoClassification.from_pretrained(path, num_labels=5)
    with CaptureLogger(REPORT_LOGGER) as report:
        model, info = VJEPA2ForVideoClassification.from_pretrained(
            path, num_labels=5, ignore_mismatched_sizes=True, output_loading_info=True
        )
    assert {k for k, _, _ in info["mismatched_keys"]} == {"classifier.weight", "classifier.bias"}
    assert "MISMATCH" in report.out and model.classifier.out_features == 5


def test_partly_filled_predictor_is_loud_and_strict_raises(tmp_path):
    """Official issue 149: a deeper predictor config over a shallower checkpoint. transformers' report names every
    block left at its initialisation; `strict=True` refuses it."""
    torch.manual_seed(0)
    VJEPA2Model(tiny_config()).save_pretrained(tmp_path)
    with CaptureLogger(REPORT_LOGGER) as report:
        _, info = VJEPA2Model.from_pretrained(tmp_path, pred_num_hidden_layers=4, output_loading_info=True)
    new_blocks = {k for k in info["missing_keys"] if k.startswith(("predictor.layer.2.", "predictor.layer.3."))}
    assert new_blocks == info["missing_keys"] and len(new_blocks) > 0
    assert "MISSING" in report.out and "predictor.layer" in report.out
    with pytest.raises(ValueError, match="missing keys .*predictor.layer.2"):
        VJEPA2Model.from_pretrained(tmp_path, pred_num_hidden_layers=4, strict=True)


def test_get_video_features_returns_base_model_output_with_pooling(classifier_dir):
    path, _ = classifier_dir
    model = VJEPA2ForVideoClassification.from_pretrained(path).eval()
    clips = torch.randn(2, 8, 3, 64, 64)
    with torch.no_grad():
        features = model.get_video_features(clips)
        as_tuple = model.get_video_features(clips, return_dict=False)
        logits = model(clips).logits
    assert isinstance(features, BaseModelOutputWithPooling)
    assert features.last_hidden_state.shape == (2, 4 * 8 * 8, 64) and features.pooler_output.shape == (2, 64)
    assert isinstance(as_tuple, tuple) and torch.equal(as_tuple[1], features.pooler_output)
    assert torch.allclose(model.classifier(features.pooler_output), logits, atol=1e-6)


def test_autoprocessor_on_saved_folders(classifier_dir, tmp_path):
    path, _ = classifier_dir
    processor = AutoProcessor.from_pretrained(path)
    assert isinstance(processor, VJEPA2VideoProcessor) and processor.crop_size == {"height": 64, "width": 64}
    assert processor == VJEPA2VideoProcessor.from_pretrained(path)
    from ..world_model.helpers import tiny_world_model
    from vjepa2_hf.world_model import VJEPA2ACFrameProcessor

    world = tiny_world_model(processor=VJEPA2ACFrameProcessor(crop_size=64, crop_aspect=1.35))
    world.save_pretrained(tmp_path / "world")
    frames = AutoProcessor.from_pretrained(tmp_path / "world")
    assert isinstance(frames, VJEPA2ACFrameProcessor)
    assert frames.to_dict() == world.processor.to_dict() and frames.crop_aspect == 1.35


def test_output_hidden_states_selects_layers():
    """transformers 5 records only the hidden states asked for (`output_hidden_states=[indices]`)."""
    torch.manual_seed(0)
    clips = torch.randn(1, 8, 3, 64, 64)
    for model in (VJEPA2VisionModel(tiny_config()).eval(), VJEPA2Model(tiny_config()).eval()):
        with torch.no_grad():
            every = model(clips, output_hidden_states=True).hidden_states
            chosen = model(clips, output_hidden_states=[0, -1]).hidden_states
            one = model(clips, output_hidden_states=1).hidden_states
        assert len(every) == 3 and len(chosen) == 2 and len(one) == 1
        assert torch.equal(chosen[0], every[0]) and torch.equal(chosen[1], every[2]) and torch.equal(one[0], every[1])
        with pytest.raises(ValueError, match="output_hidden_states"):
            model(clips, output_hidden_states=[3])
