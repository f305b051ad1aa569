"""The world model's attention implementation reaches both parts (encoder and AC predictor), whichever way it is
built (configs, saved folder, switched later); eager and sdpa agree, and the predictor stays block-causal."""

from __future__ import annotations

import pytest
import torch

from vjepa2_hf.world_model.world_model import VJEPA2WorldModel

from .helpers import tiny_world_model

TOL = 1e-5


def _outputs(wm: VJEPA2WorldModel):
    """Encoder features, teacher-forced predictions (block-causal) and a cached rollout of a fixed input."""
    g = torch.Generator().manual_seed(0)
    pixels = torch.randn(1, 3, 3, 64, 64, generator=g)
    actions = torch.randn(1, 3, 7, generator=g) * 0.05
    states = torch.randn(1, 3, 7, generator=g) * 0.1
    with torch.no_grad():
        z = wm.encode(pixels)
        pred = wm.predict(z, actions, states)
        roll = wm.rollout(z[:, :2], states[:, :2], actions[:, 1:], context_actions=actions[:, :1]).predictions
    return z, pred, roll


def test_world_model_attention_per_part(tmp_path):
    wm = tiny_world_model()
    assert wm.get_attn_implementation() == {"encoder": "sdpa", "predictor": "sdpa"}
    reference = _outputs(wm)
    wm.save_pretrained(tmp_path / "wm")

    loaded = VJEPA2WorldModel.from_pretrained(tmp_path / "wm")
    assert loaded.get_attn_implementation() == {"encoder": "sdpa", "predictor": "sdpa"}
    eager = VJEPA2WorldModel.from_pretrained(tmp_path / "wm", attn_implementation="eager")
    assert eager.get_attn_implementation() == {"encoder": "eager", "predictor": "eager"}
    for a, b in zip(_outputs(eager), reference):
        assert (a - b).abs().max().item() <= TOL
    mixed = VJEPA2WorldModel.from_pretrained(tmp_path / "wm", attn_implementation={"predictor": "eager"})
    assert mixed.get_attn_implementation() == {"encoder": "sdpa", "predictor": "eager"}

    # switched after building, and built from configs
    wm.set_attn_implementation({"encoder": "eager"})
    assert wm.get_attn_implementation() == {"encoder": "eager", "predictor": "sdpa"}
    for a, b in zip(_outputs(wm), reference):
        assert (a - b).abs().max().item() <= TOL
    built = VJEPA2WorldModel.from_configs(
        loaded.encoder.config, loaded.predictor.config, attn_implementation="eager"
    )
    assert built.get_attn_implementation() == {"encoder": "eager", "predictor": "eager"}


def test_eager_predictor_is_block_causal(monkeypatch):
    """Changing the last frame's input leaves the earlier frames' predictions unchanged with eager attention."""
    wm = tiny_world_model()
    wm.set_attn_implementation("eager")

    def no_sdpa(*args, **kwargs):
        raise AssertionError("eager attention must not call scaled_dot_product_attention")

    monkeypatch.setattr(torch.nn.functional, "scaled_dot_product_attention", no_sdpa)
    g = torch.Generator().manual_seed(1)
    z = torch.randn(1, 3, wm.tokens_per_frame, wm.config.hidden_size, generator=g)
    actions, states = torch.randn(1, 3, 7, generator=g) * 0.05, torch.randn(1, 3, 7, generator=g) * 0.1
    changed = z.clone()
    changed[:, -1] += 1.0
    with torch.no_grad():
        a, b = wm.predict(z, actions, states), wm.predict(changed, actions, states)
    assert (a[:, :-1] - b[:, :-1]).abs().max().item() <= TOL
    assert (a[:, -1] - b[:, -1]).abs().max().item() > 1e-3


def test_bad_world_model_attention_is_named(tmp_path):
    wm = tiny_world_model()
    with pytest.raises(ValueError, match="`attn_implementation` must be a str or a dict with keys among"):
        wm.set_attn_implementation({"decoder": "eager"})
