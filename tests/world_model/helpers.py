"""Tiny V-JEPA 2-AC models shared by the world-model tests."""

from __future__ import annotations

import os
from pathlib import Path

import torch

# The project's `shared/` folder lies beside the checkout (CI copies it there too); VJEPA2_HF_SHARED overrides it.
SHARED = Path(os.environ.get("VJEPA2_HF_SHARED", Path(__file__).resolve().parents[2].parent / "shared"))
FRANKA_NPZ = str(SHARED / "data" / "franka_example_traj.npz")


def tiny_world_model(
    seed: int = 0, action_dim: int = 7, state_dim: int = 7, crop_size: int = 64, processor=None, **pred_overrides
):
    from vjepa2_hf.encoder.configuration_vjepa2 import VJEPA2Config
    from vjepa2_hf.world_model.configuration_vjepa2_ac import VJEPA2ACConfig
    from vjepa2_hf.world_model.world_model import VJEPA2WorldModel

    torch.manual_seed(seed)
    enc = VJEPA2Config.from_preset("tiny", crop_size=crop_size)
    pred = VJEPA2ACConfig.from_preset(
        "tiny", action_dim=action_dim, state_dim=state_dim, crop_size=crop_size, **pred_overrides
    )
    state_update = "franka" if action_dim == 7 and state_dim == 7 else "additive"
    return VJEPA2WorldModel.from_configs(enc, pred, state_update=state_update, processor=processor).eval()

