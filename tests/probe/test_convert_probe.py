"""Official probe files -> our models: a synthetic file in the official layout, evaluated against the official
module structure (tests/probe/official_reference.py)."""

from __future__ import annotations

import pytest
import torch

from vjepa2_hf import VJEPA2Model
from vjepa2_hf.encoder.convert_vjepa2_checkpoint import internal_to_official
from vjepa2_hf.probe import (
    VJEPA2ForActionAnticipation,
    VJEPA2ForVideoClassification,
    convert_official_probe,
    internal_probe_to_official,
    official_probe_to_internal,
)

from .conftest import randomize_parameters, tiny_config
from .official_reference import AttentiveClassifier, EK100Classifier, official_probe_file, randomize


@pytest.fixture(scope="module")
def backbone():
    torch.manual_seed(0)
    return randomize_parameters(VJEPA2Model(tiny_config()), seed=5).eval()


def test_official_classifier_file_converts_exactly(backbone, tmp_path):
    official = randomize(AttentiveClassifier(dim=64, num_heads=16, depth=4, num_classes=7), seed=6)
    official_probe_file(official, tmp_path / "ssv2-probe.pt")
    model = convert_official_probe(
        tmp_path / "ssv2-probe.pt", backbone, frames_per_clip=8, id2label={i: f"class {i}" for i in range(7)}
    )
    assert isinstance(model, VJEPA2ForVideoClassification)
    # official probe settings are written into the config
    assert model.config.pooler_num_attention_heads == 16 and model.config.pooler_layer_norm_eps == 1e-5
    assert model.config.num_pooler_layers == 3 and model.config.num_labels == 7 and model.config.num_frames == 8
    assert model.config.id2label[3] == "class 3"
    clips = torch.randn(2, 8, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        reference = official(backbone.encoder(clips).last_hidden_state)
        diff = (model(clips).logits - reference).abs().max().item()
    assert diff < 1e-5, diff
    # the converted model saves and reloads like any classifier
    model.save_pretrained(tmp_path / "converted")
    reloaded = VJEPA2ForVideoClassification.from_pretrained(tmp_path / "converted").eval()
    with torch.no_grad():
        assert torch.equal(reloaded(clips).logits, model(clips).logits)


def test_official_backbone_file_and_multilevel_probe(backbone, tmp_path):
    """Backbone given as an official pretraining `.pt` file (`module.backbone.` keys), probe on two tapped layers."""
    official_backbone = internal_to_official(backbone.state_dict())
    checkpoint = {
        key: {f"module.backbone.{k}": v for k, v in official_backbone[part].items()}
        for key, part in (("encoder", "encoder"), ("target_encoder", "encoder"), ("predictor", "predictor"))
    }
    torch.save(checkpoint, tmp_path / "pretrain.pt")
    official = randomize(AttentiveClassifier(dim=64, num_heads=16, depth=2, num_classes=3), seed=7)
    official_probe_file(official, tmp_path / "diving48-probe.pt")
    with pytest.raises(ValueError, match="arch"):
        convert_official_probe(tmp_path / "diving48-probe.pt", tmp_path / "pretrain.pt")
    model = convert_official_probe(
        tmp_path / "diving48-probe.pt", tmp_path / "pretrain.pt", backbone_config=tiny_config(),
        encoder_key="target_encoder", pooler_input_layers=[0, 1],
    )
    assert model.config.num_pooler_layers == 1
    clips = torch.randn(1, 8, 3, 64, 64)
    with torch.no_grad():
        hidden = backbone.encoder(clips, output_layers=[0, 1]).intermediate_hidden_states
        reference = official(torch.cat(hidden, dim=1))  # official multilevel: tapped layers joined along tokens
        diff = (model(clips).logits - reference).abs().max().item()
    assert diff < 1e-5, diff


def test_official_ek100_probe_converts_to_anticipation_model(backbone, tmp_path):
    official = randomize(EK100Classifier(64, 16, 4, num_verbs=5, num_nouns=4, num_actions=9), seed=8)
    official_probe_file(official, tmp_path / "ek100.pt")
    model = convert_official_probe(tmp_path / "ek100.pt", backbone)
    assert isinstance(model, VJEPA2ForActionAnticipation)
    assert (model.config.num_verbs, model.config.num_nouns, model.config.num_actions) == (5, 4, 9)
    clips = torch.randn(2, 8, 3, 64, 64)
    with torch.no_grad():
        out = model(clips, anticipation_steps=1)
        features = torch.cat([backbone.encoder(clips).last_hidden_state, out.predicted_hidden_states], dim=1)
        reference = official(features)
    for head in ("verb", "noun", "action"):
        assert (getattr(out, f"{head}_logits") - reference[head]).abs().max() < 1e-5


def test_key_maps_round_trip_and_reject_unknown_keys():
    official = randomize(AttentiveClassifier(dim=64, num_heads=16, depth=4, num_classes=7), seed=9)
    state = {f"module.{k}": v for k, v in official.state_dict().items()}
    internal = official_probe_to_internal(state)
    assert "pooler.self_attention_layers.2.self_attn.v_proj.weight" in internal
    assert "pooler.cross_attention_layer.cross_attn.k_proj.bias" in internal and "classifier.weight" in internal
    back = internal_probe_to_official(internal)
    assert set(back) == set(state)
    assert all(torch.equal(back[k], state[k]) for k in state)
    with pytest.raises(ValueError, match="no mapping.*pooler.extra"):
        official_probe_to_internal(dict(state, **{"module.pooler.extra.weight": torch.zeros(1)}))
    with pytest.raises(ValueError, match="classifiers"):
        convert_official_probe({"opt": {}}, VJEPA2Model(tiny_config()))
    with pytest.raises(ValueError, match="classifier_index"):
        convert_official_probe({"classifiers": [state]}, VJEPA2Model(tiny_config()), classifier_index=3)
    with pytest.raises(FileNotFoundError):
        convert_official_probe("/does/not/exist.pt", VJEPA2Model(tiny_config()))


def test_convert_official_command_converts_a_probe_on_an_official_backbone(backbone, tmp_path):
    from vjepa2_hf.cli import main

    official_backbone = internal_to_official(backbone.state_dict())
    checkpoint = {
        key: {f"module.backbone.{k}": v for k, v in official_backbone[part].items()}
        for key, part in (("encoder", "encoder"), ("target_encoder", "encoder"), ("predictor", "predictor"))
    }
    torch.save(checkpoint, tmp_path / "pretrain.pt")
    official = randomize(AttentiveClassifier(dim=64, num_heads=16, depth=4, num_classes=5), seed=8)
    official_probe_file(official, tmp_path / "probe.pt")
    out = tmp_path / "classifier"
    args = ["convert-official", "--checkpoint", str(tmp_path / "pretrain.pt"), "--arch", "tiny", "--probe",
            str(tmp_path / "probe.pt"), "--frames-per-clip", "8", "--output-dir", str(out)]
    assert main(args) == 0
    model = VJEPA2ForVideoClassification.from_pretrained(out).eval()
    assert model.config.num_labels == 5 and model.config.num_frames == 8
    assert (out / "video_preprocessor_config.json").is_file()
    clips = torch.randn(2, 8, 3, 64, 64, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        reference = official(backbone.encoder(clips).last_hidden_state)
        diff = (model(clips).logits - reference).abs().max().item()
    assert diff < 1e-5, diff
    with pytest.raises(ValueError, match="pooler-input-layers"):
        main([*args, "--pooler-input-layers", "a,b", "--debug"])  # --debug: the exception, not the one-line message
    with pytest.raises(ValueError, match="pass --probe too"):
        main(["--debug", "convert-official", "--checkpoint", str(tmp_path / "pretrain.pt"), "--arch", "tiny",
              "--frames-per-clip", "8", "--output-dir", str(tmp_path / "x")])
