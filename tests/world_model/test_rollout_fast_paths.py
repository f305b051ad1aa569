"""The planning fast paths compute the same thing as the plain ones: a frame/state batch of 1 broadcast to all
action sequences (embedded once), a reserved KV cache (no concatenation copies), and the compiled predictor."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from .helpers import tiny_world_model


def _context(wm, frames=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    d = wm.config.hidden_size
    z = F.layer_norm(torch.randn(1, frames, wm.tokens_per_frame, d, generator=g), (d,))
    return z, torch.rand(1, frames, 7, generator=g), 0.02 * torch.randn(1, frames - 1, 7, generator=g)


@torch.no_grad()
def test_shared_frame_is_broadcast_exactly():
    wm = tiny_world_model()
    z, states, _ = _context(wm, frames=1)
    actions = 0.05 * torch.randn(5, 1, 7, generator=torch.Generator().manual_seed(1))
    shared = wm.predictor(z.flatten(1, 2), actions, states).last_hidden_state
    expanded = wm.predictor(z.flatten(1, 2).expand(5, -1, -1), actions, states.expand(5, -1, -1)).last_hidden_state
    torch.testing.assert_close(shared, expanded, rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match="batch size 1 or 5"):
        wm.predictor(z.flatten(1, 2).expand(2, -1, -1), actions, states)


@torch.no_grad()
def test_reserved_cache_matches_concatenation_and_uncached():
    wm = tiny_world_model()
    z, states, ctx_actions = _context(wm, frames=3)
    actions = 0.05 * torch.randn(6, 3, 7, generator=torch.Generator().manual_seed(2))
    cached = wm.rollout(z, states, actions, ctx_actions, use_cache=True)
    uncached = wm.rollout(z, states, actions, ctx_actions, use_cache=False)
    torch.testing.assert_close(cached.predictions, uncached.predictions, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(cached.states, uncached.states, rtol=0, atol=1e-6)
    # a reserved cache gives exactly the concatenating cache's keys/values, and copies never see later appends
    cache = wm.encode_context(z, states, ctx_actions)
    plain, reserved = cache.repeat_interleave(6), cache.repeat_interleave(6)
    reserved.reserve(2, 6, wm.config.pred_num_attention_heads, wm.config.head_dim, torch.float32, "cpu")
    snapshot = reserved.copy()
    frame = z[:, -1]
    for step in range(2):
        a = actions[:, step : step + 1]
        out_p = wm.predictor(frame, a, states[:, -1:], cache=plain).last_hidden_state
        out_r = wm.predictor(frame, a, states[:, -1:], cache=reserved).last_hidden_state
        torch.testing.assert_close(out_r, out_p, rtol=0, atol=0)
    assert reserved.num_frames == plain.num_frames == 4 and snapshot.num_frames == 2
    assert snapshot.keys[0].shape[2] == 2 * cache.tokens_per_frame


# the first inductor compile of the MLP takes minutes on a 2-core CPU (then cached)
@torch.no_grad()
def test_compiled_predictor_plans_the_same():
    wm = tiny_world_model()
    z, states, ctx_actions = _context(wm, frames=1)
    actions = 0.05 * torch.randn(4, 2, 7, generator=torch.Generator().manual_seed(3))
    eager = wm.rollout_fn(z, states)(actions)
    compiled = wm.rollout_fn(z, states, compile=True)(actions)
    torch.testing.assert_close(compiled, eager, rtol=1e-4, atol=1e-4)
