"""Tiny V-JEPA 2-AC models shared by the world-model tests."""

from __future__ import annotations

import os
from pathlib import Path

import torch

# The released example trajectory (`franka_example_traj.npz` of the official repository's notebooks) is not part of
# the checkout. The tests write a file in its layout themselves (`write_franka_example`); where the project's
# `shared/` folder lies beside the checkout (VJEPA2_HF_SHARED overrides where), the same tests also run on the real one.
SHARED = Path(os.environ.get("VJEPA2_HF_SHARED", Path(__file__).resolve().parents[2].parent / "shared"))
FRANKA_NPZ = str(SHARED / "data" / "franka_example_traj.npz")
#: the released file's layout: key -> (shape, dtype)
FRANKA_LAYOUT = {"observations": ((1, 2, 256, 256, 3), "uint8"), "states": ((1, 2, 7), "float32")}


def write_franka_example(path) -> str:
    """Write a trajectory in the released `franka_example_traj.npz` layout (`np.savez`, uncompressed): one episode
    of two 256 x 256 RGB frames, `observations` uint8 `(1, 2, 256, 256, 3)`, and the end-effector `states` float32
    `(1, 2, 7)`: position (m), roll-pitch-yaw (rad), gripper. The frames are a textured scene with three discs
    that move between the frames (as the arm does); the poses move by a few centimetres and the roll crosses
    +-pi, where pose differences must wrap."""
    import numpy as np

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:256, 0:256]
    discs = [(90, 70, 30, (220, 40, 40)), (150, 170, 45, (40, 200, 60)), (200, 60, 20, (250, 250, 250))]
    frames = []
    for t in range(2):
        image = np.stack([xx * 0.6 + 40, yy * 0.5 + 60, (xx + yy) * 0.25 + 30], axis=-1)
        for cy, cx, radius, colour in discs:
            image[(yy - cy - 5 * t) ** 2 + (xx - cx - 8 * t) ** 2 < radius**2] = colour
        image = image + rng.normal(0.0, 12.0, image.shape)
        frames.append(np.clip(image, 0, 255).astype(np.uint8))
    states = np.array([[0.55, 0.01, 0.26, -3.10, 0.05, -1.85, 1.0],
                       [0.62, 0.04, 0.31, 3.12, 0.02, -1.80, 0.8]], dtype=np.float32)
    np.savez(path, observations=np.stack(frames)[None], states=states[None])
    return str(path)


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

