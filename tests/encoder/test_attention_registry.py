"""Attention goes through transformers' attention-function registry (issue 16): `attn_implementation` selects the
kernel for the encoder, the predictor and the AC predictor (one shared block module), eager returns weights."""

from __future__ import annotations

import torch
from transformers import AttentionInterface
from transformers.integrations.sdpa_attention import sdpa_attention_forward

from vjepa2_hf import VJEPA2Model
from vjepa2_hf.encoder import modeling_blocks
from vjepa2_hf.world_model.modeling_vjepa2_ac import VJEPA2ACLayer

from .conftest import random_model


def _inputs():
    g = torch.Generator().manual_seed(3)
    x = torch.randn(2, 4, 3, 64, 64, generator=g)
    context = torch.arange(0, 128, 2).repeat(2, 1)
    target = torch.arange(1, 128, 2).repeat(2, 1)
    return x, [context], [target]


def test_eager_and_sdpa_agree_and_eager_returns_attentions(tmp_path):
    model = random_model()
    model.save_pretrained(tmp_path)
    x, context, target = _inputs()
    outputs = {}
    for impl in ("eager", "sdpa"):
        loaded = VJEPA2Model.from_pretrained(tmp_path, attn_implementation=impl).eval()
        assert loaded.config._attn_implementation == impl
        with torch.no_grad():
            outputs[impl] = loaded(x, context_mask=context, target_mask=target, output_attentions=True)
            plain = loaded(x, context_mask=context, target_mask=target)
        assert torch.allclose(plain.predictor_output.last_hidden_state,
                              outputs[impl].predictor_output.last_hidden_state, atol=1e-5, rtol=0)
    for name in ("last_hidden_state", "masked_hidden_state"):
        diff = (getattr(outputs["eager"], name) - getattr(outputs["sdpa"], name)).abs().max().item()
        assert diff < 1e-5, (name, diff)
    attentions = outputs["eager"].attentions
    assert len(attentions) == model.config.num_hidden_layers
    assert attentions[0].shape == (2, model.config.num_attention_heads, 128, 128)
    assert torch.allclose(attentions[0].sum(-1), torch.ones(()), atol=1e-5)


def test_registered_attention_function_is_used(monkeypatch):
    """A function registered with `AttentionInterface` runs when named by `attn_implementation`."""
    calls = []

    def counting_sdpa(module, query, key, value, attention_mask, **kwargs):
        calls.append((type(module).__name__, tuple(query.shape)))
        return sdpa_attention_forward(module, query, key, value, attention_mask, **kwargs)

    AttentionInterface.register("vjepa2_test_counting", counting_sdpa)
    model = random_model()
    x, context, target = _inputs()
    with torch.no_grad():
        reference = model(x, context_mask=context, target_mask=target)
        model.config._attn_implementation = "vjepa2_test_counting"  # read at every call by the shared block
        out = model(x, context_mask=context, target_mask=target)
    layers = model.config.num_hidden_layers + model.config.pred_num_hidden_layers
    assert len(calls) == layers and {c[0] for c in calls} == {"VJEPA2RopeAttention"}
    assert (out.predictor_output.last_hidden_state - reference.predictor_output.last_hidden_state).abs().max() == 0


def test_one_block_module_for_encoder_predictor_and_ac_predictor():
    model = random_model()
    assert type(model.encoder.layer[0]) is modeling_blocks.VJEPA2Layer
    assert type(model.predictor.layer[0]) is modeling_blocks.VJEPA2Layer
    assert issubclass(VJEPA2ACLayer, modeling_blocks.VJEPA2Layer)
    assert VJEPA2ACLayer.forward.__qualname__ == "VJEPA2Layer.forward"  # inherited (transformers re-wraps it)


def test_return_dict_false_gives_tuples():
    """`can_return_tuple`: `return_dict=False` (argument or config) returns the output's tuple."""
    from vjepa2_hf import VJEPA2VisionModel

    model = random_model()
    x, context, target = _inputs()
    with torch.no_grad():
        out = model(x, context_mask=context, target_mask=target)
        as_tuple = model(x, context_mask=context, target_mask=target, return_dict=False)
        vision = VJEPA2VisionModel(model.config).eval()
        vision.load_state_dict(model.state_dict(), strict=False)
        vision_tuple = vision(x, return_dict=False)
    assert isinstance(as_tuple, tuple) and torch.equal(as_tuple[0], out.last_hidden_state)
    assert isinstance(as_tuple[-1], tuple)  # the predictor output, as a tuple too
    assert isinstance(vision_tuple, tuple) and torch.equal(vision_tuple[0], vision(x).last_hidden_state)
