"""Planning with fp32, bf16 and fp16 world models: rollouts in the model's dtype, CEM statistics in float32.

Models are built, saved and reloaded with `VJEPA2WorldModel.from_pretrained(folder, dtype=...)`, as users do.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from vjepa2_hf.world_model import (
    VJEPA2ACPolicy,
    VJEPA2ACPolicyConfig,
    VJEPA2WorldModel,
    cem,
    l1_energy,
    official_cem,
    paper_cem,
)
from vjepa2_hf.world_model.planning import BoxConstraint

from .helpers import tiny_world_model


def _fp16_supported() -> bool:
    try:
        x = torch.ones(2, 4, 8, 8, dtype=torch.float16)
        F.scaled_dot_product_attention(x, x, x)
        torch.nn.Linear(8, 8).half()(x)
        return True
    except RuntimeError:
        return False


DTYPES = [
    torch.float32,
    torch.bfloat16,
    pytest.param(torch.float16, marks=pytest.mark.skipif(not _fp16_supported(), reason="no fp16 on this CPU")),
]


@pytest.fixture(scope="module")
def saved_world_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("wm")
    tiny_world_model(seed=0).save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def separated_world_model(tmp_path_factory):
    """One token per frame (16 px crop): the action token carries a large share of the attention, so candidate
    energies are well separated. Over 12 seeds, bf16 always picked fp32's top-k where fp32's gap at k was
    >= 2e-3, and flipped 4 of 17 boundaries with gaps of 1.0-1.4e-3."""
    path = tmp_path_factory.mktemp("wm_sep")
    tiny_world_model(seed=0, crop_size=16).save_pretrained(path)
    return path


def _inputs(wm, seed=0):
    g = torch.Generator().manual_seed(seed)
    d = wm.config.hidden_size
    z = F.layer_norm(torch.randn(1, 1, wm.tokens_per_frame, d, generator=g), (d,))
    pose = torch.rand(1, 1, 7, generator=g)
    return z, pose


@pytest.mark.parametrize("dtype", DTYPES)
def test_planners_run_in_the_model_dtype(saved_world_model, dtype):
    wm = VJEPA2WorldModel.from_pretrained(saved_world_model, dtype=dtype)
    assert wm.dtype == dtype and wm.encoder.dtype == dtype
    assert all(p.dtype == dtype for p in wm.parameters())  # no float32 copy of the weights
    frames = np.random.RandomState(0).randint(0, 256, (2, 64, 64, 3), dtype=np.uint8)
    z = wm.encode_images(frames)  # uint8 -> float32 pixels -> cast at the encoder's boundary
    assert z.dtype == dtype and torch.isfinite(z.float()).all()
    pose = torch.rand(1, 1, 7, generator=torch.Generator().manual_seed(0))

    out = wm.rollout(z[None, :1], pose, 0.02 * torch.ones(3, 2, 7))  # float32 actions into a low-precision model
    assert out.predictions.dtype == dtype and out.predictions.shape == (3, 2, wm.tokens_per_frame, wm.config.hidden_size)
    assert out.states.dtype == torch.float32

    fn = wm.rollout_fn(z[None, :1], pose)
    res = cem(fn, z[1], action_dim=7, horizon=2, num_samples=12, iterations=2, topk=3,
              constraint=BoxConstraint(-0.05, 0.05), generator=torch.Generator().manual_seed(0))
    for t in (res.actions, res.mean, res.std, res.best_actions):
        assert t.dtype == torch.float32 and torch.isfinite(t).all()
    assert res.actions.abs().max() <= 0.05 and all(np.isfinite(res.energies))

    plan = official_cem(fn, z[1], rollout=2, samples=12, topk=3, cem_steps=2, generator=torch.Generator().manual_seed(0))
    assert plan.dtype == torch.float32 and plan.shape == (2, 7) and plan[:, :3].abs().max() <= 0.05

    res = paper_cem(fn, z[1], num_samples=12, iterations=2, topk=3, generator=torch.Generator().manual_seed(0))
    assert res.actions.dtype == torch.float32 and res.actions[:, :3].abs().sum() <= 0.075 + 1e-6

    act = wm.infer_next_action(z[0], pose[0, 0], z[1], samples=12, topk=3, cem_steps=2,
                               generator=torch.Generator().manual_seed(0))
    assert act.dtype == torch.float32 and act.shape == (2, 7) and torch.isfinite(act).all()

    for planner in ("cem", "official"):
        policy = VJEPA2ACPolicy(wm, VJEPA2ACPolicyConfig(planner=planner, num_samples=12, iterations=2, topk=3))
        policy.set_goal(frames[1])
        action = policy.select_action({"pixels": frames[0], "agent_pos": np.zeros(7, dtype=np.float32)})
        assert action.dtype == torch.float32 and action.shape == (1, 7) and torch.isfinite(action).all()


def test_l1_energy_is_float32_for_low_precision_predictions():
    g = torch.Generator().manual_seed(0)
    pred = torch.randn(40, 16, 32, generator=g).to(torch.bfloat16)
    goal = torch.randn(16, 32, generator=g)
    e = l1_energy(pred, goal)
    assert e.dtype == torch.float32
    torch.testing.assert_close(e, (pred.float() - goal).abs().flatten(1).mean(1), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("dtype,energy_tol", [(torch.bfloat16, 6e-3), (torch.float16, 1e-3)])
def test_low_precision_plan_agrees_with_fp32(separated_world_model, dtype, energy_tol):
    """Same seed, same candidates: on a well-separated landscape the bf16/fp16 world model picks the same top-k
    as fp32, so the refit plan is the same to float32 rounding (tolerance 1e-6); energies agree within
    `energy_tol` (bf16: 8 mantissa bits on unit-variance embeddings)."""
    if dtype == torch.float16 and not _fp16_supported():
        pytest.skip("no fp16 on this CPU")
    topk, samples = 6, 64
    runs = {}
    for dt in (torch.float32, dtype):
        wm = VJEPA2WorldModel.from_pretrained(separated_world_model, dtype=dt)
        z, pose = _inputs(wm)
        target = torch.tensor([[[0.03, -0.02, 0.01, 0, 0, 0, 0.5], [0.0, 0.04, -0.03, 0, 0, 0, 0.5]]])
        fn = wm.rollout_fn(z, pose)
        goal = fn(target)[0]  # the goal frame as this model predicts it (a goal image encoded by the same model)
        seen = {}

        def recording(candidates, fn=fn, seen=seen):
            seen["candidates"] = candidates
            seen["final"] = fn(candidates)
            return seen["final"]

        res = cem(recording, goal, action_dim=7, horizon=2, num_samples=samples, iterations=1, topk=topk,
                  free_dims=(0, 1, 2, 6), init_std=[0.05, 0.05, 0.05, 0.5],
                  generator=torch.Generator().manual_seed(1))  # seed 1: gap 2.5e-3 at k=6
        runs[dt] = (res, seen["candidates"], l1_energy(seen["final"], goal))
    (ref, cand32, e32), (low, cand_low, e_low) = runs[torch.float32], runs[dtype]
    torch.testing.assert_close(cand_low, cand32, rtol=0, atol=0)  # sampling does not depend on the model dtype
    sorted32 = e32.sort()
    gap = float(sorted32.values[topk] - sorted32.values[topk - 1])
    assert gap > 2e-3, f"the landscape is not well separated at k={topk}: gap {gap:.2e}"
    assert float((e_low - e32).abs().max()) < energy_tol
    assert set(e_low.topk(topk, largest=False).indices.tolist()) == set(sorted32.indices[:topk].tolist())
    torch.testing.assert_close(low.actions, ref.actions, rtol=0, atol=1e-6)
    torch.testing.assert_close(low.std, ref.std, rtol=0, atol=1e-6)
