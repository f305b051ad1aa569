"""End-effector pose arithmetic of V-JEPA 2-AC: poses to actions, and actions applied to poses.

A Franka pose is 7-D: ``[x, y, z, roll, pitch, yaw, gripper]`` with the rotation as **extrinsic** xyz Euler angles
(scipy's ``Rotation.from_euler("xyz", ...)``: ``R = Rz(yaw) @ Ry(pitch) @ Rx(roll)``). The official code converts
with scipy; this module does the same arithmetic in torch (float64 inside) so scipy is not needed.

* `poses_to_actions` = official `poses_to_diff` (DROID loader): ``dxyz``, ``euler(R_{t+1} R_t^T)``, ``dgripper``.
* `apply_franka_action` = official `compute_new_pose` (planning): ``xyz + dxyz``, ``euler(R(d) R(pose))``,
  ``clip(gripper + dgripper, 0, 1)``.
* `apply_additive_action`: ``state + action`` for generic (Euclidean) states, e.g. the in-package environment.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

StateUpdate = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def euler_xyz_to_matrix(angles: torch.Tensor) -> torch.Tensor:
    """Extrinsic xyz Euler angles `(..., 3)` to rotation matrices `(..., 3, 3)` (``Rz @ Ry @ Rx``)."""
    a, b, c = angles.unbind(-1)
    ca, sa, cb, sb, cc, sc = a.cos(), a.sin(), b.cos(), b.sin(), c.cos(), c.sin()
    row0 = torch.stack((cc * cb, cc * sb * sa - sc * ca, cc * sb * ca + sc * sa), dim=-1)
    row1 = torch.stack((sc * cb, sc * sb * sa + cc * ca, sc * sb * ca - cc * sa), dim=-1)
    row2 = torch.stack((-sb, cb * sa, cb * ca), dim=-1)
    return torch.stack((row0, row1, row2), dim=-2)


def matrix_to_euler_xyz(matrix: torch.Tensor) -> torch.Tensor:
    """Rotation matrices `(..., 3, 3)` to extrinsic xyz Euler angles `(..., 3)`: roll, yaw in (-pi, pi], pitch in
    [-pi/2, pi/2] (scipy's ranges). At gimbal lock (|pitch| = pi/2) roll is set to 0, as scipy does."""
    r20 = matrix[..., 2, 0].clamp(-1.0, 1.0)
    pitch = -torch.asin(r20)
    roll = torch.atan2(matrix[..., 2, 1], matrix[..., 2, 2])
    yaw = torch.atan2(matrix[..., 1, 0], matrix[..., 0, 0])
    locked = (1.0 - r20.abs()) < 1e-9
    if locked.any():
        # R = Rz(yaw) Ry(+-pi/2) Rx(0): yaw from the remaining block
        yaw_locked = torch.atan2(-matrix[..., 0, 1], matrix[..., 1, 1])
        roll = torch.where(locked, torch.zeros_like(roll), roll)
        yaw = torch.where(locked, yaw_locked, yaw)
    return torch.stack((roll, pitch, yaw), dim=-1)


def _as_tensor(x) -> tuple[torch.Tensor, bool]:
    if isinstance(x, np.ndarray):
        return torch.from_numpy(x), True
    if not isinstance(x, torch.Tensor):
        return torch.as_tensor(x), True
    return x, False


def poses_to_actions(poses, pose_format: str = "franka") -> torch.Tensor | np.ndarray:
    """Actions between consecutive poses (the official DROID `poses_to_diff`).

    Args:
        poses (`torch.Tensor` or `np.ndarray` of shape `(..., T, state_dim)`): poses over time.
        pose_format (`str`): ``"franka"`` for 7-D ``[xyz, extrinsic-xyz Euler, gripper]`` poses (rotation delta
            ``euler(R_{t+1} R_t^T)``), ``"euclidean"`` for plain differences of any width.

    Returns:
        Actions of shape `(..., T - 1, state_dim)`, same type (numpy or torch) and dtype as `poses`.
    """
    tensor, was_numpy = _as_tensor(poses)
    if tensor.ndim < 2 or tensor.shape[-2] < 2:
        raise ValueError(f"`poses` must have shape (..., T >= 2, state_dim), got {tuple(tensor.shape)}")
    if pose_format == "euclidean":
        out = tensor[..., 1:, :] - tensor[..., :-1, :]
    elif pose_format == "franka":
        if tensor.shape[-1] != 7:
            raise ValueError(
                f"`pose_format='franka'` needs 7-D poses [xyz, euler xyz, gripper], got width {tensor.shape[-1]}"
            )
        p = tensor.to(torch.float64)
        start, end = p[..., :-1, :], p[..., 1:, :]
        r_start = euler_xyz_to_matrix(start[..., 3:6])
        r_end = euler_xyz_to_matrix(end[..., 3:6])
        dtheta = matrix_to_euler_xyz(r_end @ r_start.transpose(-1, -2))
        out = torch.cat((end[..., :3] - start[..., :3], dtheta, end[..., 6:] - start[..., 6:]), dim=-1)
        out = out.to(tensor.dtype)
    else:
        raise ValueError(f"`pose_format` must be 'franka' or 'euclidean', got {pose_format!r}")
    return out.numpy() if was_numpy else out


def apply_franka_action(pose: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
    """Next 7-D Franka pose after an action (the official planning `compute_new_pose`).

    Args:
        pose (`torch.Tensor` of shape `(..., 7)`), action (`torch.Tensor` of shape `(..., 7)`).

    Returns:
        `torch.Tensor` of shape `(..., 7)`: ``xyz + dxyz``, ``euler(R(dtheta) @ R(theta))``, ``clip(g + dg, 0, 1)``.
    """
    if pose.shape[-1] != 7 or action.shape[-1] != 7:
        raise ValueError(
            f"Franka poses and actions must be 7-D, got pose {tuple(pose.shape)} and action {tuple(action.shape)}"
        )
    p, a = pose.to(torch.float64), action.to(torch.float64)
    xyz = p[..., :3] + a[..., :3]
    rot = matrix_to_euler_xyz(euler_xyz_to_matrix(a[..., 3:6]) @ euler_xyz_to_matrix(p[..., 3:6]))
    grip = (p[..., 6:] + a[..., 6:]).clamp(0.0, 1.0)
    return torch.cat((xyz, rot, grip), dim=-1).to(pose.dtype)


def apply_additive_action(state: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
    """``state + action`` (states and actions of the same width, e.g. positions and displacements)."""
    if state.shape[-1] != action.shape[-1]:
        raise ValueError(
            f"additive state update needs actions as wide as states, got state {tuple(state.shape)} and action "
            f"{tuple(action.shape)}"
        )
    return state + action


def get_state_update(name: str) -> StateUpdate:
    """State-update function by name: ``"franka"`` or ``"additive"``."""
    table = {"franka": apply_franka_action, "additive": apply_additive_action}
    if name not in table:
        raise ValueError(f"`state_update` must be one of {sorted(table)}, got {name!r}")
    return table[name]


__all__ = [
    "apply_additive_action",
    "apply_franka_action",
    "euler_xyz_to_matrix",
    "get_state_update",
    "matrix_to_euler_xyz",
    "poses_to_actions",
]
