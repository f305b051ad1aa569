"""Inputs, bad input, dtypes, gradient checkpointing, intermediate layers and full-size presets on meta."""

from __future__ import annotations

import pytest
import torch

from vjepa2_hf import VJEPA2Config, VJEPA2Model, VJEPA2VisionModel
from vjepa2_hf.encoder.rope import apply_rope, grid_positions, index_to_positions, rope_cos_sin

from .conftest import random_model, tiny_config


def _x(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize(
    "shape, message",
    [
        ((4, 3, 64, 64), r"\[batch, frames, channels, height, width\] \(5 dims\), got shape \(4, 3, 64, 64\)"),
        ((1, 4, 1, 64, 64), "must have 3 channels on dim 2.*got 1"),
        ((1, 4, 3, 60, 64), "multiples of the patch size 8, got 60x64"),
        ((1, 3, 3, 64, 64), "multiple of tubelet_size=2 frames, got 3"),
    ],
)
def test_bad_pixel_values(shape, message):
    model = random_model()
    with pytest.raises(ValueError, match=message):
        model(torch.zeros(shape))


def test_bad_masks():
    model = random_model()
    x = _x(2, 4, 3, 64, 64)
    good = torch.arange(10).repeat(2, 1)
    with pytest.raises(ValueError, match=r"`target_mask` indices must lie in \[0, 128\).*got values in \[0, 128\]"):
        model(x, context_mask=[good], target_mask=[torch.arange(129).repeat(2, 1)])
    with pytest.raises(ValueError, match=r"`context_mask` indices must lie in \[0, 128\).*\[-1, 8\]"):
        model(x, context_mask=[good - 1], target_mask=[good])
    with pytest.raises(ValueError, match=r"`context_mask` entries must have shape \[2, K\], got \(3, 10\)"):
        model(x, context_mask=[torch.arange(10).repeat(3, 1)], target_mask=[good])
    with pytest.raises(ValueError, match="integer index tensors.*torch.float32"):
        model(x, context_mask=[good.float()], target_mask=[good])
    with pytest.raises(ValueError, match=r"`visible_mask` indices must lie in \[0, 128\)"):
        VJEPA2VisionModel(tiny_config())(x, visible_mask=good + 200)
    with pytest.raises(ValueError, match="`output_layers` must index the 2 encoder blocks"):
        VJEPA2VisionModel(tiny_config())(x, output_layers=[5])


def test_single_image_equals_repeated_frames():
    model = VJEPA2VisionModel(tiny_config()).eval()
    image = _x(2, 1, 3, 64, 64, seed=1)
    with torch.no_grad():
        a = model(image).last_hidden_state
        b = model(image.repeat(1, 2, 1, 1, 1)).last_hidden_state
    assert a.shape == (2, 64, 64)
    assert torch.equal(a, b)


def test_pooled_embedding_and_intermediate_layers():
    model = VJEPA2VisionModel(tiny_config(num_hidden_layers=3)).eval()
    x = _x(1, 4, 3, 64, 64, seed=2)
    with torch.no_grad():
        out = model(x, output_layers=[0, -1], output_hidden_states=True)
    assert torch.allclose(out.pooler_output, out.last_hidden_state.mean(1))
    first, last = out.intermediate_hidden_states
    assert torch.equal(last, out.last_hidden_state)
    expected = model.encoder.layernorm(out.hidden_states[1])
    assert (first - expected).abs().max().item() == 0.0
    assert out.grid == (2, 8, 8)


def test_rope_is_the_tiled_variant_and_positions_decompose():
    positions = index_to_positions(torch.tensor([[0, 9, 70]]), (2, 8, 8))
    assert positions.tolist() == [[[0, 0, 0], [0, 1, 1], [1, 0, 6]]]
    assert torch.equal(grid_positions(2, 8, 8)[70], torch.tensor([1, 0, 6]))
    # head dim 16: 4 channels per axis, 4 unrotated; check one channel against the closed form
    x = _x(1, 1, 1, 16, seed=3)
    pos = torch.tensor([[3.0, 5.0, 7.0]])
    cos, sin = rope_cos_sin(pos, 16)
    out = apply_rope(x, cos, sin)
    half = 2
    omega = 1.0 / 10000 ** (torch.arange(half) / half)
    # channel 1 of the row slice (index 4 + 1): angle theta_{1 mod 2} at h = 5, partner +x[4]
    theta = 5.0 * omega[1]
    expected = x[..., 5] * torch.cos(theta) + x[..., 4] * torch.sin(theta)
    assert torch.allclose(out[..., 5], expected, atol=1e-6)
    # channel 2 of the time slice: tiled angle theta_0 (not theta_1 as a true rotation would use), partner -x[3]
    theta = 3.0 * omega[0]
    expected = x[..., 2] * torch.cos(theta) - x[..., 3] * torch.sin(theta)
    assert torch.allclose(out[..., 2], expected, atol=1e-6)
    assert torch.equal(out[..., 12:], x[..., 12:])  # unrotated tail
    zero = apply_rope(x, *rope_cos_sin(torch.tensor([[3.0, 0.0, 0.0]]), 16))
    assert torch.equal(zero[..., 4:], x[..., 4:])  # position 0 is an exact identity (temporal-only RoPE)


@pytest.mark.parametrize("dtype, tol", [(torch.bfloat16, 0.15), (torch.float16, 0.02)])
def test_half_precision_close_to_float32(dtype, tol):
    model = random_model(seed=3)
    x = _x(1, 4, 3, 64, 64, seed=4)
    with torch.no_grad():
        ref = model(x).predictor_output.last_hidden_state
        half = model.to(dtype)(x).predictor_output.last_hidden_state
    assert half.dtype == dtype
    assert {p.dtype for p in model.parameters()} == {dtype}
    assert (half.float() - ref).abs().max().item() < tol


def test_gradient_checkpointing_gives_the_same_gradients():
    torch.manual_seed(0)
    model = VJEPA2Model(tiny_config()).train()
    x = _x(2, 4, 3, 64, 64, seed=5)
    model(x).predictor_output.last_hidden_state.square().mean().backward()
    reference = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    model.zero_grad()
    model.activation_checkpointing_enable()
    model(x).predictor_output.last_hidden_state.square().mean().backward()
    assert len(reference) > 40
    for name, param in model.named_parameters():
        if name in reference:
            assert torch.allclose(param.grad, reference[name], atol=1e-7), name


def test_attention_maps_with_output_attentions():
    model = random_model()
    with torch.no_grad():
        out = model(_x(1, 2, 3, 64, 64), output_attentions=True, skip_predictor=True)
    assert len(out.attentions) == 2 and out.attentions[0].shape == (1, 4, 64, 64)
    assert torch.allclose(out.attentions[0].sum(-1), torch.ones(1, 4, 64), atol=1e-5)


def test_official_init_rescales_residual_projections():
    torch.manual_seed(0)
    model = VJEPA2Model(VJEPA2Config.from_preset("tiny", num_hidden_layers=4, hidden_size=128))
    stds = [layer.attention.proj.weight.std().item() for layer in model.encoder.layer]
    for depth, std in enumerate(stds, start=1):
        assert abs(std - 0.02 / (2 * depth) ** 0.5) < 0.15 * 0.02 / (2 * depth) ** 0.5
    assert model.encoder.layer[0].mlp.fc1.weight.std().item() == pytest.approx(0.02, rel=0.1)
    assert model.predictor.embeddings.mask_tokens.abs().max().item() == 0.0


@pytest.mark.parametrize(
    "preset, encoder_params, predictor_params",
    [
        ("vit_large", 303_885_312, 22_086_016),
        ("vit_huge", 631_648_000, 22_282_880),
        ("vit_giant", 1_012_173_952, 22_381_312),
        ("vit_giant_384", 1_012_173_952, 22_381_312),
    ],
)
def test_full_size_presets_on_meta(preset, encoder_params, predictor_params):
    config = VJEPA2Config.from_preset(preset)
    with torch.device("meta"):
        model = VJEPA2Model(config)
    assert sum(p.numel() for p in model.encoder.parameters()) == encoder_params
    assert sum(p.numel() for p in model.predictor.parameters()) == predictor_params
    if preset.startswith("vit_giant"):
        assert config.num_attention_heads == 22 and config.intermediate_size == 6144
    x = torch.empty(1, 16, 3, config.crop_size, config.crop_size, device="meta")
    assert model.get_grid(x) == (8, config.crop_size // 16, config.crop_size // 16)


def test_non_contiguous_input_and_conv3d_equivalence():
    model = VJEPA2VisionModel(tiny_config()).eval()
    x = _x(2, 3, 4, 64, 64, seed=9).transpose(1, 2)  # (2, 4, 3, 64, 64), not contiguous
    with torch.no_grad():
        tokens = model.encoder.embeddings(x)[0]
        conv = model.encoder.embeddings.patch_embeddings.proj(x.permute(0, 2, 1, 3, 4)).flatten(2).transpose(1, 2)
    assert (tokens - conv).abs().max().item() < 1e-5


def test_index_range_check_reads_no_accelerator_values(monkeypatch):
    """The range check reads index values only where that costs no host-device sync (CPU) or in debug mode: a
    meta-device tensor (no values; reading one raises, as a CUDA read would sync) passes unread by default."""
    from vjepa2_hf.encoder.modeling_vjepa2 import CHECK_INDICES_ENV, validate_token_indices

    monkeypatch.delenv(CHECK_INDICES_ENV, raising=False)
    out_of_range = torch.full((2, 5), 500, dtype=torch.long)
    with pytest.raises(ValueError, match=r"`m` indices must lie in \[0, 128\).*\[500, 500\]"):
        validate_token_indices("m", out_of_range, 2, 128)
    validate_token_indices("m", out_of_range.to("meta"), 2, 128)  # not read: no sync
    with pytest.raises(ValueError, match=r"`m` entries must have shape \[3, K\], got \(2, 5\)"):
        validate_token_indices("m", out_of_range.to("meta"), 3, 128)  # dtype and shape are still checked
    monkeypatch.setenv(CHECK_INDICES_ENV, "1")  # debug mode reads the values on any device
    with pytest.raises((RuntimeError, NotImplementedError)):
        validate_token_indices("m", out_of_range.to("meta"), 2, 128)
