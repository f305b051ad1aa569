"""V-JEPA 2.1 presets on the meta device, and the official checkpoint layout: convert, export, CLI, errors."""

from __future__ import annotations

import pytest
import torch

from vjepa2_hf import VJEPA2Config, VJEPA2Model
from vjepa2_hf.cli import main
from vjepa2_hf.encoder.convert_vjepa2_checkpoint import (
    convert_official_checkpoint,
    default_encoder_key,
    export_to_official,
)

from . import vjepa2_1_reference as ref
from .test_vjepa2_1_parity import REFERENCE, SHAPES, official_checkpoint, our_input, tiny_v21_config

# Parameter counts of the official torch.hub factories (`src/hub/backbones.py`, built on the meta device by
# `scripts/make_vjepa2_1_reference.py --param-counts`): encoder, predictor.
OFFICIAL_COUNTS = {
    "vjepa2_1_vit_base_384": (86_833_152, 22_874_752),
    "vjepa2_1_vit_large_384": (304_680_960, 22_973_056),
    "vjepa2_1_vit_giant_384": (1_013_267_968, 55_400_704),
    "vjepa2_1_vit_gigantic_384": (1_845_216_768, 59_433_472),
}
OFFICIAL_KEYS = {
    "vjepa2_1_vit_base_384": "ema_encoder",
    "vjepa2_1_vit_large_384": "ema_encoder",
    "vjepa2_1_vit_giant_384": "target_encoder",
    "vjepa2_1_vit_gigantic_384": "target_encoder",
}


@pytest.mark.parametrize("name", list(OFFICIAL_COUNTS))
def test_full_size_presets_on_meta_match_official_counts(name):
    config = VJEPA2Config.from_preset(name)
    with torch.device("meta"):
        model = VJEPA2Model(config)
    encoder = sum(p.numel() for p in model.encoder.parameters())
    predictor = sum(p.numel() for p in model.predictor.parameters())
    assert (encoder, predictor) == OFFICIAL_COUNTS[name]
    assert default_encoder_key(config) == OFFICIAL_KEYS[name]
    assert config.crop_size == 384 and config.use_rope_interleave and config.interpolate_rope


def test_v20_presets_are_unchanged():
    config = VJEPA2Config.from_preset("vit_large")
    assert not config.is_vjepa2_1 and not config.use_rope_interleave and not config.interpolate_rope
    assert default_encoder_key(config) == "encoder"
    with torch.device("meta"):
        model = VJEPA2Model(config)
    assert sum(p.numel() for p in model.encoder.parameters()) == 303_885_312  # official vit_large
    assert hasattr(model.encoder, "layernorm") and not hasattr(model.encoder, "norms_block")


@pytest.mark.parametrize("setup", list(ref.SETUPS))
def test_convert_export_convert_is_bit_identical(setup, tmp_path):
    key = default_encoder_key(tiny_v21_config(setup))
    original = official_checkpoint(SHAPES[setup], key)
    model = convert_official_checkpoint(original, config=tiny_v21_config(setup))
    path = export_to_official(model, tmp_path / "back.pt")
    exported = torch.load(path, weights_only=True)
    for entry in (key, "predictor"):
        assert sorted(exported[entry]) == sorted(original[entry])
        for name, value in original[entry].items():
            assert torch.equal(exported[entry][name], value), name
    again = convert_official_checkpoint(path, config=tiny_v21_config(setup))
    for name, value in model.state_dict().items():
        assert torch.equal(again.state_dict()[name], value), name


def test_default_encoder_key_and_clear_errors():
    config = tiny_v21_config("distilled")
    wrong_entry = official_checkpoint(SHAPES["distilled"], "target_encoder")
    with pytest.raises(ValueError, match="no 'ema_encoder' entry; found \\['predictor', 'target_encoder'\\]"):
        convert_official_checkpoint(wrong_entry, config=config)
    assert convert_official_checkpoint(wrong_entry, config=config, encoder_key="target_encoder") is not None
    with pytest.raises(ValueError, match="`encoder_key` must be one of"):
        convert_official_checkpoint(wrong_entry, config=config, encoder_key="student")


def test_wrong_keys_and_shapes_are_listed():
    config = tiny_v21_config("levels4")
    checkpoint = official_checkpoint(SHAPES["levels4"], "target_encoder")
    encoder = checkpoint["target_encoder"]
    del encoder["module.backbone.norms_block.1.bias"]
    encoder["module.backbone.img_mod_embed"] = torch.zeros(1, 1, 32)
    checkpoint["predictor"]["module.backbone.predictor_proj_context.weight"] = torch.zeros(3, 48)
    with pytest.raises(ValueError) as error:
        convert_official_checkpoint(checkpoint, config=config)
    message = str(error.value)
    assert "missing keys (1): ['encoder.norms_block.1.bias']" in message
    assert "encoder.embeddings.image_modality_embedding: expected (1, 1, 64), got (1, 1, 32)" in message
    assert "predictor.proj_context.weight: expected (256, 48), got (3, 48)" in message
    # a 2.0 config does not take a 2.1 checkpoint
    with pytest.raises(ValueError, match="unexpected keys"):
        convert_official_checkpoint(official_checkpoint(SHAPES["levels4"], "encoder"),
                                    config=VJEPA2Config.from_preset("tiny", patch_size=16, hidden_size=64))


def test_convert_official_command(tmp_path, capsys):
    config = tiny_v21_config("distilled")
    config.save_pretrained(tmp_path / "cfg")
    torch.save(official_checkpoint(SHAPES["distilled"], "ema_encoder"), tmp_path / "tiny21.pt")
    out = tmp_path / "converted"
    args = ["convert-official", "--checkpoint", str(tmp_path / "tiny21.pt"), "--arch", "vjepa2_1_vit_base_384",
            "--config", str(tmp_path / "cfg"), "--output-dir", str(out)]
    assert main(args) == 0
    assert "ema_encoder" in capsys.readouterr().out
    model = VJEPA2Model.from_pretrained(out).eval()
    capsys.readouterr()  # the loading progress bar
    with torch.no_grad():
        features = model(our_input("video"), skip_predictor=True, output_hierarchical=True)
    assert (features.hierarchical_hidden_state - REFERENCE["distilled/video/hierarchical"]).abs().max() <= 2e-5
    assert main(args[:-2] + ["--encoder-key", "target_encoder", "--output-dir", str(tmp_path / "x")]) == 2
    error = capsys.readouterr().err
    assert error.startswith("vjepa2-hf convert-official: error: ") and error.count("\n") == 1
    assert "no 'target_encoder' entry" in error


def test_transformers_export_is_refused_and_old_field_name_maps(tmp_path):
    from vjepa2_hf.encoder.convert_vjepa2_checkpoint import export_to_transformers

    model = VJEPA2Model(VJEPA2Config.from_preset("vjepa2_1_tiny"))
    with pytest.raises(ValueError, match="no V-JEPA 2.1 support"):
        export_to_transformers(model, tmp_path / "hf")
    assert VJEPA2Config(img_temporal_dim_size=1).use_image_patch_embedder
    with pytest.raises(ValueError, match="must be 1"):
        VJEPA2Config(img_temporal_dim_size=2)
