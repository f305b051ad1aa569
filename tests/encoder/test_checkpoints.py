"""Checkpoint layouts: official .pt conversion, save/load, export to transformers and to the official layout."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
import transformers
from safetensors.torch import load_file

from vjepa2_hf import VJEPA2Model, VJEPA2VisionModel, convert_official_checkpoint, export_to_official
from vjepa2_hf import export_to_transformers
from vjepa2_hf.encoder.convert_vjepa2_checkpoint import internal_to_official

from .conftest import random_model, tiny_config, transformers_twin

ATOL = 1e-4


def _official_file(model: VJEPA2Model, path, encoder_noise: float = 0.0):
    """Write `model` in the released layout: module.backbone. prefixes, fused qkv, mask_tokens.{i}; the
    `target_encoder` entry differs from `encoder` by `encoder_noise` so that the choice is observable."""
    state = internal_to_official(model.state_dict())
    encoder = {f"module.backbone.{k}": v.clone() for k, v in state["encoder"].items()}
    target = {k: v + encoder_noise for k, v in encoder.items()}
    predictor = {f"module.backbone.{k}": v.clone() for k, v in state["predictor"].items()}
    torch.save({"encoder": encoder, "target_encoder": target, "predictor": predictor, "epoch": 3}, path)
    return path


def _x(seed=0, frames=4):
    return torch.randn(2, frames, 3, 64, 64, generator=torch.Generator().manual_seed(seed))


def test_official_checkpoint_matches_transformers_route(tmp_path):
    source = random_model(seed=1)
    path = _official_file(source, tmp_path / "vit_tiny.pt", encoder_noise=0.01)
    converted = convert_official_checkpoint(path, config=tiny_config())
    # transformers' route: the hub converter's key map (split qkv) into transformers' VJEPA2Model
    theirs = transformers_twin(source)
    x = _x(1)
    generator = torch.Generator().manual_seed(0)
    context = [torch.stack([torch.randperm(128, generator=generator)[:64].sort().values for _ in range(2)])]
    target = [torch.stack([torch.randperm(128, generator=generator)[:32].sort().values for _ in range(2)])]
    with torch.no_grad():
        a = converted(x, context_mask=context, target_mask=target)
        b = theirs(x, context_mask=context, target_mask=target)
    assert (a.last_hidden_state - b.last_hidden_state).abs().max().item() <= ATOL
    assert (a.predictor_output.last_hidden_state - b.predictor_output.last_hidden_state).abs().max().item() <= ATOL
    # the target encoder is a different set of weights, chosen on request
    ema = convert_official_checkpoint(path, config=tiny_config(), encoder_key="target_encoder", include_predictor=False)
    assert isinstance(ema, VJEPA2VisionModel)
    with torch.no_grad():
        assert (ema(x).last_hidden_state - a.last_hidden_state).abs().max().item() > 1e-3


def test_official_checkpoint_in_bf16_has_no_fp32_copy(tmp_path):
    source = random_model(seed=2)
    path = _official_file(source, tmp_path / "m.pt")
    model = convert_official_checkpoint(path, config=tiny_config(), dtype=torch.bfloat16)
    assert {p.dtype for p in model.parameters()} == {torch.bfloat16}


def test_official_checkpoint_errors(tmp_path):
    source = random_model(seed=3)
    path = _official_file(source, tmp_path / "m.pt")
    checkpoint = torch.load(path, weights_only=True)
    del checkpoint["encoder"]["module.backbone.blocks.1.mlp.fc2.weight"]
    checkpoint["encoder"]["module.backbone.extra.weight"] = torch.zeros(1)
    with pytest.raises(ValueError, match="unexpected key in the official encoder state dict: 'extra.weight'"):
        convert_official_checkpoint(checkpoint, config=tiny_config())
    del checkpoint["encoder"]["module.backbone.extra.weight"]
    with pytest.raises(ValueError, match=r"missing keys \(1\): \['encoder.layer.1.mlp.fc2.weight'\]"):
        convert_official_checkpoint(checkpoint, config=tiny_config())
    with pytest.raises(ValueError, match="wrong shapes"):  # a tiny file is not a ViT-L
        convert_official_checkpoint(path, arch="vit_large")
    with pytest.raises(ValueError, match="unknown arch 'vit_mega'"):
        convert_official_checkpoint(path, arch="vit_mega")
    with pytest.raises(ValueError, match="no 'target_encoder' entry"):
        convert_official_checkpoint({"encoder": {}}, config=tiny_config(), encoder_key="target_encoder")
    with pytest.raises(FileNotFoundError, match="nope.pt"):
        convert_official_checkpoint(tmp_path / "nope.pt", config=tiny_config())
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(path.read_bytes()[:2000])
    with pytest.raises(ValueError, match="truncated.pt is a truncated or corrupt PyTorch checkpoint"):
        convert_official_checkpoint(truncated, config=tiny_config())


def test_save_and_load_round_trip(tmp_path):
    model = random_model(seed=4)
    model.save_pretrained(tmp_path)
    keys = load_file(tmp_path / "model.safetensors")
    assert "encoder.layer.0.attention.query.weight" in keys  # transformers' layout on disk
    again = VJEPA2Model.from_pretrained(tmp_path).eval()
    x = _x(4)
    with torch.no_grad():
        assert torch.equal(model(x).predictor_output.last_hidden_state, again(x).predictor_output.last_hidden_state)
    encoder_only = VJEPA2VisionModel.from_pretrained(tmp_path)
    with torch.no_grad():
        assert torch.equal(encoder_only(x).last_hidden_state, model(x, skip_predictor=True).last_hidden_state)
    # and back: the encoder alone saves and reloads
    encoder_only.save_pretrained(tmp_path / "enc")
    assert torch.equal(VJEPA2VisionModel.from_pretrained(tmp_path / "enc")(x).last_hidden_state,
                       encoder_only(x).last_hidden_state)


def test_load_transformers_saved_repo(tmp_path):
    source = random_model(seed=5)
    theirs = transformers_twin(source)
    theirs.save_pretrained(tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["model_type"] == "vjepa2"
    ours = VJEPA2Model.from_pretrained(tmp_path).eval()
    x = _x(5)
    with torch.no_grad():
        diff = (ours(x).predictor_output.last_hidden_state - theirs(x).predictor_output.last_hidden_state)
    assert diff.abs().max().item() <= ATOL
    assert isinstance(transformers.AutoModel.from_pretrained(tmp_path), transformers.VJEPA2Model)


def test_export_to_transformers_loads_in_plain_transformers(tmp_path):
    model = random_model(seed=6)
    export_to_transformers(model, tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["model_type"] == "vjepa2" and config["architectures"] == ["VJEPA2Model"]
    # a fresh interpreter that never imported vjepa2_hf
    code = (
        "import torch, transformers, sys\n"
        f"m = transformers.VJEPA2Model.from_pretrained(r'{tmp_path}').eval()\n"
        "x = torch.randn(2, 4, 3, 64, 64, generator=torch.Generator().manual_seed(6))\n"
        "torch.save(m(x).predictor_output.last_hidden_state, sys.argv[1])\n"
    )
    out = tmp_path / "out.pt"
    subprocess.run([sys.executable, "-c", code, str(out)], check=True, env={"HF_HUB_OFFLINE": "1", "PATH": ""})
    with torch.no_grad():
        ours = model(_x(6)).predictor_output.last_hidden_state
    assert (torch.load(out) - ours).abs().max().item() <= ATOL


def test_export_to_official_round_trip(tmp_path):
    model = random_model(seed=7)
    path = export_to_official(model, tmp_path / "out.pt")
    raw = torch.load(path, weights_only=True)
    assert "module.backbone.blocks.0.attn.qkv.weight" in raw["encoder"]
    assert "module.backbone.mask_tokens.1" in raw["predictor"]
    again = convert_official_checkpoint(path, config=tiny_config())
    x = _x(7)
    with torch.no_grad():
        assert torch.equal(model(x).predictor_output.last_hidden_state, again(x).predictor_output.last_hidden_state)


def test_strict_from_pretrained_reports_missing_keys(tmp_path):
    """`strict=True` (opt-in) turns the load report into one error; without it, shapes raise as in transformers."""
    model = random_model(seed=8)
    model.save_pretrained(tmp_path)
    keys = load_file(tmp_path / "model.safetensors")
    del keys["encoder.layernorm.weight"]
    keys["encoder.layer.0.mlp.fc1.bias"] = torch.zeros(3)
    from safetensors.torch import save_file

    save_file(keys, tmp_path / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(ValueError, match=r"(?s)missing keys .*encoder\.layernorm\.weight.*wrong shapes .*fc1\.bias"):
        VJEPA2Model.from_pretrained(tmp_path, strict=True)
    with pytest.raises(RuntimeError, match="ignore_mismatched_sizes"):
        VJEPA2Model.from_pretrained(tmp_path)
