"""VJEPA2ForVideoClassification: parity with transformers, loading rules, frozen backbone, multi-level and multi-view
features, export to transformers' format."""

from __future__ import annotations

import json

import pytest
import torch
import transformers

from vjepa2_hf import VJEPA2Model, VJEPA2VisionModel
from vjepa2_hf.probe import VJEPA2ForVideoClassification
from vjepa2_hf.probe.export import export_classifier_to_transformers

from .conftest import randomize_parameters, tiny_config

TRANSFORMERS_FIELDS = dict(
    hidden_size=64, num_hidden_layers=2, num_attention_heads=4, patch_size=8, crop_size=32, frames_per_clip=4,
    pred_hidden_size=32, pred_num_hidden_layers=2, pred_num_attention_heads=4, pred_num_mask_tokens=2,
)


@pytest.fixture(scope="module")
def transformers_classifier_dir(tmp_path_factory):
    """A classifier saved by transformers itself: the `facebook/vjepa2-vitl-fpc16-256-ssv2` layout (full backbone
    with predictor under `vjepa2.`, `pooler.*`, `classifier.*`, split q/k/v), random weights."""
    torch.manual_seed(0)
    config = transformers.VJEPA2Config(**TRANSFORMERS_FIELDS, num_labels=5)
    model = randomize_parameters(transformers.VJEPA2ForVideoClassification(config), seed=3)
    path = tmp_path_factory.mktemp("transformers_classifier")
    model.save_pretrained(path)
    return path, model.eval()


def test_parity_with_transformers_classifier(transformers_classifier_dir):
    path, theirs = transformers_classifier_dir
    ours = VJEPA2ForVideoClassification.from_pretrained(path).eval()
    clips = torch.randn(3, 4, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        diff = (ours(clips).logits - theirs(pixel_values_videos=clips).logits).abs().max().item()
    assert diff <= 1e-4, diff
    # transformers' pooler runs with the encoder's heads and eps: so does ours when the config leaves them unset
    assert ours.pooler.self_attention_layers[0].self_attn.num_heads == 4
    assert ours.pooler.cross_attention_layer.layer_norm1.eps == 1e-6


def test_transformers_layout_loads_with_its_predictor(transformers_classifier_dir):
    path, theirs = transformers_classifier_dir
    from safetensors import safe_open

    with safe_open(str(path / "model.safetensors"), "pt") as f:
        keys = set(f.keys())
    assert any(k.startswith("vjepa2.predictor.") for k in keys)
    assert "vjepa2.encoder.layer.0.attention.query.weight" in keys
    assert "pooler.cross_attention_layer.cross_attn.k_proj.weight" in keys
    ours, info = VJEPA2ForVideoClassification.from_pretrained(path, output_loading_info=True)
    assert info["missing_keys"] == set() and info["unexpected_keys"] == set()
    assert ours.vjepa2.predictor is not None  # kept by rule (keep_predictor=True)
    their_pred = theirs.vjepa2.predictor.proj.weight
    assert torch.equal(ours.vjepa2.predictor.proj.weight, their_pred)
    # the same folder with the predictor dropped by rule
    dropped = VJEPA2ForVideoClassification.from_pretrained(path, keep_predictor=False)
    assert dropped.vjepa2.predictor is None and not any("predictor" in k for k in dropped.state_dict())


def test_our_save_loads_in_plain_transformers(tmp_path):
    torch.manual_seed(0)
    ours = randomize_parameters(VJEPA2ForVideoClassification(tiny_config(num_labels=3, crop_size=32)), seed=4).eval()
    export_classifier_to_transformers(ours, tmp_path / "exported")
    config = json.loads((tmp_path / "exported" / "config.json").read_text())
    assert config["model_type"] == "vjepa2" and config["num_frames"] == 8
    theirs = transformers.AutoModelForVideoClassification.from_pretrained(tmp_path / "exported").eval()
    assert type(theirs) is transformers.VJEPA2ForVideoClassification
    clips = torch.randn(2, 8, 3, 32, 32)
    with torch.no_grad():
        diff = (ours(clips).logits - theirs(pixel_values_videos=clips).logits).abs().max().item()
    assert diff <= 1e-4, diff


def test_export_refuses_what_transformers_cannot_express(tmp_path):
    official_like = VJEPA2ForVideoClassification(tiny_config(num_labels=3, pooler_num_attention_heads=8))
    with pytest.raises(ValueError, match="8 heads"):
        export_classifier_to_transformers(official_like, tmp_path / "a")
    multilevel = VJEPA2ForVideoClassification(tiny_config(num_labels=3, pooler_input_layers=[0, 1]))
    with pytest.raises(ValueError, match="multi-level"):
        export_classifier_to_transformers(multilevel, tmp_path / "b")


def test_backbone_checkpoints_get_a_fresh_probe(backbone_dir, tmp_path):
    model, info = VJEPA2ForVideoClassification.from_pretrained(backbone_dir, num_labels=4, output_loading_info=True)
    backbone = VJEPA2Model.from_pretrained(backbone_dir)
    assert torch.equal(model.vjepa2.encoder.layer[1].attention.qkv.weight, backbone.encoder.layer[1].attention.qkv.weight)
    assert model.vjepa2.predictor is not None and model.classifier.out_features == 4
    # an encoder-only folder: built without a predictor
    VJEPA2VisionModel.from_pretrained(backbone_dir).save_pretrained(tmp_path / "encoder_only")
    encoder_only = VJEPA2ForVideoClassification.from_pretrained(tmp_path / "encoder_only", num_labels=4)
    assert encoder_only.vjepa2.predictor is None and encoder_only.config.keep_predictor is False
    # and it round-trips without a predictor
    encoder_only.save_pretrained(tmp_path / "clf")
    again = VJEPA2ForVideoClassification.from_pretrained(tmp_path / "clf")
    clips = torch.randn(1, 8, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(encoder_only.eval()(clips).logits, again.eval()(clips).logits)


def test_partial_checkpoints_load_reported_and_raise_when_strict(tmp_path, caplog):
    model = VJEPA2ForVideoClassification(tiny_config(num_labels=3))
    state = model.state_dict()
    from safetensors.torch import save_file

    from vjepa2_hf.encoder.convert_vjepa2_checkpoint import split_qkv

    model.config.save_pretrained(tmp_path / "partial")
    partial = {k: v.contiguous() for k, v in split_qkv(state).items() if k != "classifier.bias"}
    save_file(partial, str(tmp_path / "partial" / "model.safetensors"), metadata={"format": "pt"})
    with pytest.raises(ValueError, match="missing keys.*classifier.bias"):
        VJEPA2ForVideoClassification.from_pretrained(tmp_path / "partial", strict=True)
    loaded, info = VJEPA2ForVideoClassification.from_pretrained(tmp_path / "partial", output_loading_info=True)
    assert info["missing_keys"] == {"classifier.bias"} and info["unexpected_keys"] == set()
    assert torch.equal(loaded.classifier.weight, state["classifier.weight"])
    model.config.save_pretrained(tmp_path / "extra")
    extra = dict(split_qkv(state), **{"pooler.unknown.weight": torch.zeros(2)})
    save_file({k: v.contiguous() for k, v in extra.items()}, str(tmp_path / "extra" / "model.safetensors"),
              metadata={"format": "pt"})
    with pytest.raises(ValueError, match="unexpected keys.*pooler.unknown.weight"):
        VJEPA2ForVideoClassification.from_pretrained(tmp_path / "extra", strict=True)
    _, info = VJEPA2ForVideoClassification.from_pretrained(tmp_path / "extra", output_loading_info=True)
    assert info["unexpected_keys"] == {"pooler.unknown.weight"} and info["missing_keys"] == set()


def test_frozen_backbone_gets_no_gradient():
    torch.manual_seed(0)
    model = VJEPA2ForVideoClassification(tiny_config(num_labels=3)).train()
    assert not model.vjepa2.training  # a frozen backbone stays in eval mode
    out = model(torch.randn(2, 8, 3, 64, 64), labels=torch.tensor([0, 2]))
    out.loss.backward()
    assert all(p.grad is None for p in model.vjepa2.parameters())
    assert model.classifier.weight.grad is not None and model.pooler.query_tokens.grad.abs().sum() > 0
    model.zero_grad()
    model.unfreeze_backbone()
    model.train()
    assert model.vjepa2.encoder.training
    model(torch.randn(2, 8, 3, 64, 64), labels=torch.tensor([0, 2])).loss.backward()
    assert model.vjepa2.encoder.layer[0].attention.qkv.weight.grad.abs().sum() > 0


def test_multilevel_features_concatenate_tapped_layers_along_tokens():
    torch.manual_seed(0)
    model = randomize_parameters(VJEPA2ForVideoClassification(tiny_config(num_labels=3, pooler_input_layers=[0, 1])))
    model.eval()
    clips = torch.randn(2, 8, 3, 64, 64)
    with torch.no_grad():
        features = model.get_video_features(clips).last_hidden_state
        assert features.shape == (2, 2 * 256, 64)
        # block 0's output through the shared final LayerNorm, then block 1's (= the last hidden state)
        hidden = model.vjepa2.encoder(clips, output_hidden_states=True).hidden_states
        expected = torch.cat([model.vjepa2.encoder.layernorm(hidden[1]), model.vjepa2.encoder.layernorm(hidden[2])], 1)
        assert (features - expected).abs().max() < 1e-5
        logits = model(clips).logits
        manual = model.classifier(model.pooler(expected)[:, 0])
    assert (logits - manual).abs().max() < 1e-5


def test_multiclip_multiview_follows_the_official_protocol():
    torch.manual_seed(0)
    model = randomize_parameters(VJEPA2ForVideoClassification(tiny_config(num_labels=5))).eval()
    views, segments = 3, 2
    clips = torch.randn(2, views, segments, 4, 3, 64, 64)
    labels = torch.tensor([1, 3])
    with torch.no_grad():
        out = model(clips, labels=labels)
        manual_views = []
        for v in range(views):
            tokens = torch.cat([model.vjepa2.encoder(clips[:, v, s]).last_hidden_state for s in range(segments)], 1)
            manual_views.append(model.classifier(model.pooler(tokens)[:, 0]))
        manual = torch.stack(manual_views, 1)  # (B, V, C)
    assert out.view_logits.shape == (2, 3, 5)
    assert (out.view_logits - manual).abs().max() < 1e-5
    # prediction = mean over views of the softmax
    assert (out.logits.softmax(-1) - manual.softmax(-1).mean(1)).abs().max() < 1e-6
    expected_loss = torch.stack([torch.nn.functional.cross_entropy(manual[:, v], labels) for v in range(views)]).mean()
    assert abs(out.loss.item() - expected_loss.item()) < 1e-5


def test_cached_features_give_the_same_logits():
    torch.manual_seed(0)
    model = randomize_parameters(VJEPA2ForVideoClassification(tiny_config(num_labels=3))).eval()
    clips = torch.randn(2, 8, 3, 64, 64)
    with torch.no_grad():
        features = model.get_video_features(clips).last_hidden_state
        assert torch.allclose(model(clips).logits, model(encoder_hidden_states=features).logits, atol=1e-6)


def test_bad_inputs_raise():
    model = VJEPA2ForVideoClassification(tiny_config(num_labels=3))
    with pytest.raises(ValueError, match="exactly one"):
        model()
    with pytest.raises(ValueError, match="num_views, num_segments"):
        model(torch.randn(1, 2, 8, 3, 64, 64))
    with pytest.raises(ValueError, match="hidden_size=64"):
        model(encoder_hidden_states=torch.randn(1, 10, 32))
    with pytest.raises(ValueError, match="pooler_input_layers"):
        VJEPA2ForVideoClassification(tiny_config(num_labels=3, pooler_input_layers=[5]))


def test_export_command_writes_a_classifier_folder_plain_transformers_loads(tmp_path):
    from vjepa2_hf.cli import main
    from vjepa2_hf.video.video_processing_vjepa2 import VJEPA2VideoProcessor

    torch.manual_seed(0)
    ours = randomize_parameters(VJEPA2ForVideoClassification(tiny_config(num_labels=3, crop_size=32)), seed=5).eval()
    ours.save_pretrained(tmp_path / "ours")
    VJEPA2VideoProcessor(crop_size=32).save_pretrained(tmp_path / "ours")
    out = tmp_path / "hf"
    assert main(["export", "--model", str(tmp_path / "ours"), "--format", "transformers", "--output-dir", str(out)]) == 0
    assert (out / "video_preprocessor_config.json").is_file()
    theirs = transformers.AutoModelForVideoClassification.from_pretrained(out).eval()
    assert type(theirs) is transformers.VJEPA2ForVideoClassification
    clips = torch.randn(2, 8, 3, 32, 32)
    with torch.no_grad():
        diff = (ours(clips).logits - theirs(pixel_values_videos=clips).logits).abs().max().item()
    assert diff <= 1e-4, diff
    with pytest.raises(ValueError, match="transformers' format only"):
        main(["--debug", "export", "--model", str(tmp_path / "ours"), "--format", "official", "--output-dir",
              str(tmp_path / "x.pt")])


@pytest.mark.parametrize("route", ["config", "unfreeze", "from_pretrained"])
def test_unfrozen_classifier_has_no_trainable_parameter_without_gradient(route, tmp_path):
    """DDP without `find_unused_parameters` refuses trainable parameters that never get a gradient: the unused
    predictor must be frozen whichever way the backbone was unfrozen."""
    torch.manual_seed(0)
    if route == "unfreeze":
        model = VJEPA2ForVideoClassification(tiny_config(num_labels=3))
        model.unfreeze_backbone()
    else:
        model = VJEPA2ForVideoClassification(tiny_config(num_labels=3, freeze_backbone=False))
        if route == "from_pretrained":
            model.save_pretrained(tmp_path)
            model = VJEPA2ForVideoClassification.from_pretrained(tmp_path)
    assert model.vjepa2.predictor is not None
    model.train()
    model(torch.randn(2, 8, 3, 64, 64), labels=torch.tensor([0, 2])).loss.backward()
    trainable = [name for name, p in model.named_parameters() if p.requires_grad]
    without_grad = [name for name, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert without_grad == []
    assert any(name.startswith("vjepa2.encoder.") for name in trainable)
    assert not any(name.startswith("vjepa2.predictor.") for name in trainable)
