"""Parity with transformers' VJEPA2Model (PyPI) on shared random weights, float32.

Tolerance: max abs difference <= 1e-4 (observed ~5e-7: the only differences are summation order in the fused
qkv matmul and RoPE tables computed once in float32).
"""

from __future__ import annotations

import torch
import transformers
from transformers.models.vjepa2 import modeling_vjepa2 as hf_modeling

from .conftest import random_model, transformers_twin

ATOL = 1e-4


def _masks(batch: int, num_tokens: int, num_context: int, num_target: int, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    context, target = [], []
    for _ in range(batch):
        perm = torch.randperm(num_tokens, generator=generator)
        context.append(perm[:num_context].sort().values)
        target.append(perm[num_context : num_context + num_target].sort().values)
    return [torch.stack(context)], [torch.stack(target)]


def test_encoder_parity(model_pair):
    ours, theirs = model_pair
    x = torch.randn(2, 8, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        a = ours(x, skip_predictor=True, output_hidden_states=True)
        b = theirs(x, skip_predictor=True, output_hidden_states=True)
    assert a.last_hidden_state.shape == (2, 4 * 8 * 8, 64)
    assert (a.last_hidden_state - b.last_hidden_state).abs().max().item() <= ATOL
    assert len(a.hidden_states) == len(b.hidden_states) == 3
    for mine, ref in zip(a.hidden_states, b.hidden_states):
        assert (mine - ref).abs().max().item() <= ATOL
    with torch.no_grad():
        assert (ours.get_vision_features(x) - theirs.get_vision_features(x)).abs().max().item() <= ATOL


def test_predictor_parity_with_explicit_masks(model_pair):
    ours, theirs = model_pair
    x = torch.randn(2, 8, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    context, target = _masks(2, 256, 100, 60)
    with torch.no_grad():
        a = ours(x, context_mask=context, target_mask=target)
        b = theirs(x, context_mask=context, target_mask=target)
    assert a.predictor_output.last_hidden_state.shape == (2, 60, 64)
    for name in ("last_hidden_state", "target_hidden_state"):
        diff = (getattr(a.predictor_output, name) - getattr(b.predictor_output, name)).abs().max().item()
        assert diff <= ATOL, name
    assert (a.masked_hidden_state - b.masked_hidden_state).abs().max().item() <= ATOL


def test_predictor_parity_default_full_masks(model_pair):
    ours, theirs = model_pair
    x = torch.randn(1, 4, 3, 64, 64, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        a = ours(x).predictor_output.last_hidden_state
        b = theirs(x).predictor_output.last_hidden_state
    assert (a - b).abs().max().item() <= ATOL


def test_other_square_resolution_matches_transformers_built_for_it():
    # transformers derives RoPE positions from config.crop_size; built with crop 96 it is right for 96 px input,
    # while ours (crop 64 in its config) follows the input grid.
    ours = random_model()
    theirs = transformers_twin(ours, crop_size=96)
    x = torch.randn(1, 4, 3, 96, 96, generator=torch.Generator().manual_seed(4))
    context, target = _masks(1, 2 * 12 * 12, 150, 80)
    with torch.no_grad():
        a = ours(x, context_mask=context, target_mask=target)
        b = theirs(x, context_mask=context, target_mask=target)
    assert (a.last_hidden_state - b.last_hidden_state).abs().max().item() <= ATOL
    assert (a.predictor_output.last_hidden_state - b.predictor_output.last_hidden_state).abs().max().item() <= ATOL
    # ...and transformers built for the config's crop size gives different (wrong) positions at 96 px
    wrong = transformers_twin(ours)
    with torch.no_grad():
        c = wrong(x, skip_predictor=True).last_hidden_state
    assert (a.last_hidden_state - c).abs().max().item() > 20 * 5e-7  # far above float noise (~5e-7)


def _official_positions(self, x, masks=None, grid=None):
    """Official `handle_nonsquare_inputs=True` decomposition: row stride = the real width in patches."""
    frames, height, width = grid
    ids = masks.unsqueeze(1).repeat(1, self.num_attention_heads, 1) if masks is not None else torch.arange(x.size(1))
    per_frame = height * width
    t = ids // per_frame
    h = (ids - per_frame * t) // width
    w = ids - per_frame * t - width * h
    return t, h, w


def test_non_square_positions_follow_the_grid(monkeypatch):
    ours = random_model()
    theirs = transformers_twin(ours)
    grid = (2, 4, 10)  # 4 frames, 32 x 80 pixels
    monkeypatch.setattr(
        hf_modeling.VJEPA2RopeAttention,
        "get_position_ids",
        lambda self, x, masks=None: _official_positions(self, x, masks, grid),
    )
    x = torch.randn(2, 4, 3, 32, 80, generator=torch.Generator().manual_seed(5))
    context, target = _masks(2, 80, 40, 20)
    with torch.no_grad():
        a = ours(x, context_mask=context, target_mask=target)
        b = theirs(x, context_mask=context, target_mask=target)
    assert a.last_hidden_state.shape == (2, 80, 64)
    assert (a.last_hidden_state - b.last_hidden_state).abs().max().item() <= ATOL
    assert (a.predictor_output.last_hidden_state - b.predictor_output.last_hidden_state).abs().max().item() <= ATOL


def test_encoder_on_visible_tokens_matches_reference_layers(model_pair):
    """`mask_encoder_input=True` = official encoder with `masks`: embed, gather, blocks with true positions."""
    ours, theirs = model_pair
    x = torch.randn(2, 8, 3, 64, 64, generator=torch.Generator().manual_seed(6))
    context, target = _masks(2, 256, 90, 30)
    with torch.no_grad():
        out = ours(x, context_mask=context, target_mask=target, mask_encoder_input=True, mask_index=0)
        hidden = hf_modeling.apply_masks(theirs.encoder.embeddings(x), context)
        for layer in theirs.encoder.layer:
            hidden = layer(hidden, context[0])[0]
        reference = theirs.encoder.layernorm(hidden)
    assert out.last_hidden_state.shape == (2, 90, 64)
    assert (out.last_hidden_state - reference).abs().max().item() <= ATOL
    # and it is not the same as encoding the whole clip then selecting
    with torch.no_grad():
        full = ours(x, context_mask=context, target_mask=target).masked_hidden_state
    assert (full - out.last_hidden_state).abs().max().item() > 1e-3


def test_mask_index_is_an_argument(model_pair):
    ours, theirs = model_pair
    x = torch.randn(1, 4, 3, 64, 64, generator=torch.Generator().manual_seed(7))
    context, target = _masks(1, 128, 60, 20)
    with torch.no_grad():
        default = ours(x, context_mask=context, target_mask=target).predictor_output.last_hidden_state
        one = ours(x, context_mask=context, target_mask=target, mask_index=1).predictor_output.last_hidden_state
        zero = ours(x, context_mask=context, target_mask=target, mask_index=0).predictor_output.last_hidden_state
    assert torch.equal(default, one)
    assert (zero - one).abs().max().item() > 1e-3


def test_transformers_version_in_tested_range():
    major, minor = (int(p) for p in transformers.__version__.split(".")[:2])
    assert (major, minor) >= (5, 20) and (major, minor) < (5, 25)
