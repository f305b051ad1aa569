"""V-JEPA 2.1 parity with the official modules on fixed random weights, fp32, max abs difference <= 2e-5.

The reference outputs were produced by the official 2.1 `VisionTransformer` / `VisionTransformerPredictor`
(`scripts/make_vjepa2_1_reference.py`); the weights are rebuilt here from the same seeds, laid out as an official
checkpoint and loaded through `convert_official_checkpoint` (the user's path), then saved and reloaded.
"""

from __future__ import annotations

import json

import pytest
import torch
from safetensors import safe_open

from vjepa2_hf import VJEPA2Config, VJEPA2Model, VJEPA2VisionModel
from vjepa2_hf.encoder.convert_vjepa2_checkpoint import convert_official_checkpoint

from . import vjepa2_1_reference as ref

TOLERANCE = 2e-5


def load_reference(path=ref.DATA):
    with safe_open(str(path), "pt") as handle:
        tensors = {key: handle.get_tensor(key) for key in handle.keys()}
        metadata = handle.metadata()
    return tensors, json.loads(metadata["shapes"]), metadata


REFERENCE, SHAPES, _ = load_reference()


def tiny_v21_config(setup: str, encoder=ref.ENCODER, predictor=ref.PREDICTOR) -> VJEPA2Config:
    levels = ref.SETUPS[setup]["levels"]
    preset = "vjepa2_1_vit_giant_384" if levels == 4 else "vjepa2_1_vit_base_384"
    return VJEPA2Config.from_preset(
        preset,
        hidden_size=encoder["embed_dim"],
        num_hidden_layers=encoder["depth"],
        num_attention_heads=encoder["num_heads"],
        mlp_ratio=encoder["mlp_ratio"],
        hierarchical_layers=[2, 5, 8, 11],
        num_distillation_outputs=levels,
        teacher_embed_dim=ref.SETUPS[setup]["teacher_embed_dim"],
        pred_hidden_size=predictor["predictor_embed_dim"],
        pred_num_hidden_layers=predictor["depth"],
        pred_num_attention_heads=predictor["num_heads"],
        pred_num_mask_tokens=predictor["num_mask_tokens"],
        crop_size=ref.NATIVE,
        frames_per_clip=4,
    )


def official_checkpoint(shapes: dict, encoder_key: str, encoder_seed: int = 1, predictor_seed: int = 2) -> dict:
    """The seeded weights in the layout of a released 2.1 `.pt` (DDP / wrapper prefixes included)."""
    encoder = ref.seeded_state_dict(shapes["encoder"], encoder_seed)
    predictor = ref.seeded_state_dict(shapes["predictor"], predictor_seed)
    return {
        encoder_key: {f"module.backbone.{k}": v for k, v in encoder.items()},
        "predictor": {f"module.backbone.{k}": v for k, v in predictor.items()},
    }


@pytest.fixture(scope="module", params=list(ref.SETUPS))
def converted(request, tmp_path_factory):
    setup = request.param
    config = tiny_v21_config(setup)
    key = "target_encoder" if setup == "levels4" else "ema_encoder"
    model = convert_official_checkpoint(official_checkpoint(SHAPES[setup], key), config=config)
    folder = tmp_path_factory.mktemp(f"v21_{setup}")
    model.save_pretrained(folder)
    reloaded = VJEPA2Model.from_pretrained(folder).eval()
    return setup, reloaded, folder


def our_input(case: str) -> torch.Tensor:
    frames, size, _, _ = ref.CASES[case]
    video = ref.video(frames, size)
    assert torch.allclose(video.sum(), REFERENCE[f"input_sum/{case}"][0], atol=1e-3), "seeded input drifted"
    return video.permute(0, 2, 1, 3, 4)


def max_diff(ours: torch.Tensor, official: torch.Tensor) -> float:
    assert ours.shape == official.shape, (tuple(ours.shape), tuple(official.shape))
    return (ours - official).abs().max().item()


@pytest.mark.parametrize("case", list(ref.CASES))
@torch.no_grad()
def test_encoder_matches_official(converted, case):
    """Video at the native grid, a single image (image tokenizer) and video at 96 px (interpolated RoPE)."""
    setup, model, _ = converted
    out = model(our_input(case), skip_predictor=True, output_hierarchical=True)
    assert max_diff(out.last_hidden_state, REFERENCE[f"{setup}/{case}/last_hidden_state"]) <= TOLERANCE
    assert max_diff(out.hierarchical_hidden_state, REFERENCE[f"{setup}/{case}/hierarchical"]) <= TOLERANCE
    levels = ref.SETUPS[setup]["levels"]
    assert out.hierarchical_hidden_state.shape[-1] == levels * model.config.hidden_size


@pytest.mark.parametrize("case", list(ref.CASES))
@torch.no_grad()
def test_predictor_matches_official_on_masked_and_context_tokens(converted, case):
    setup, model, _ = converted
    context, target = REFERENCE[f"masks/{case}/context"], REFERENCE[f"masks/{case}/target"]
    out = model(our_input(case), [context], [target], mask_index=ref.MASK_INDEX, mask_encoder_input=True)
    predicted = out.predictor_output
    assert max_diff(predicted.last_hidden_state, REFERENCE[f"{setup}/{case}/predicted"]) <= TOLERANCE
    assert max_diff(predicted.context_hidden_state, REFERENCE[f"{setup}/{case}/context_predicted"]) <= TOLERANCE


@torch.no_grad()
def test_vision_model_gives_the_same_dense_features(converted):
    """`VJEPA2VisionModel.from_pretrained` of the same folder drops the predictor and gives the same features."""
    setup, _, folder = converted
    vision = VJEPA2VisionModel.from_pretrained(folder).eval()
    out = vision(our_input("image"), output_hierarchical=True)
    assert max_diff(out.hierarchical_hidden_state, REFERENCE[f"{setup}/image/hierarchical"]) <= TOLERANCE


def test_weights_matter(converted):
    """The comparison can fail: a different mask token or a missing modality embedding moves the outputs."""
    setup, model, _ = converted
    context, target = REFERENCE["masks/video/context"], REFERENCE["masks/video/target"]
    with torch.no_grad():
        out = model(our_input("video"), [context], [target], mask_index=0, mask_encoder_input=True)
        assert max_diff(out.predictor_output.last_hidden_state, REFERENCE[f"{setup}/video/predicted"]) > 1e-3
        image = our_input("image")
        video_like = model(image.repeat(1, 2, 1, 1, 1), skip_predictor=True).last_hidden_state
        assert max_diff(video_like, REFERENCE[f"{setup}/image/last_hidden_state"]) > 1e-3


@pytest.mark.parametrize("switch", ["use_rope_interleave", "interpolate_rope", "use_modality_embeddings"])
@torch.no_grad()
def test_each_v21_switch_is_needed_for_parity(converted, switch):
    """With any 2.1 switch off, the 96 px encoder output leaves the official one: the tests see each of them."""
    setup, model, _ = converted
    config = model.config
    setattr(config, switch, False)  # the forward reads the switches per call
    try:
        out = model(our_input("video96"), skip_predictor=True).last_hidden_state
    finally:
        setattr(config, switch, True)
    assert max_diff(out, REFERENCE[f"{setup}/video96/last_hidden_state"]) > 1e-3
