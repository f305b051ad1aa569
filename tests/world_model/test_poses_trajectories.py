"""Pose arithmetic (official poses_to_diff / compute_new_pose without scipy) and trajectory files and windows."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from vjepa2_hf.world_model.poses import (
    apply_franka_action,
    euler_xyz_to_matrix,
    matrix_to_euler_xyz,
    poses_to_actions,
)
from vjepa2_hf.world_model.trajectories import (
    TrajectoryWindowDataset,
    load_episodes,
    save_episodes,
    save_episodes_lerobot,
    split_episodes,
    validate_episode,
)


def test_euler_conventions_and_round_trip():
    # extrinsic xyz (scipy "xyz"): R = Rz(c) Ry(b) Rx(a); a rotation of +90 deg about z maps x to y
    r = euler_xyz_to_matrix(torch.tensor([0.0, 0.0, math.pi / 2], dtype=torch.float64))
    assert torch.allclose(r @ torch.tensor([1.0, 0, 0], dtype=torch.float64), torch.tensor([0.0, 1, 0], dtype=torch.float64), atol=1e-12)
    rx = euler_xyz_to_matrix(torch.tensor([0.3, 0.0, 0.0], dtype=torch.float64))
    rz = euler_xyz_to_matrix(torch.tensor([0.0, 0.0, 0.4], dtype=torch.float64))
    assert torch.allclose(euler_xyz_to_matrix(torch.tensor([0.3, 0.0, 0.4], dtype=torch.float64)), rz @ rx)
    g = torch.Generator().manual_seed(0)
    angles = (torch.rand(1000, 3, generator=g, dtype=torch.float64) * 2 - 1) * torch.tensor([math.pi, math.pi / 2, math.pi], dtype=torch.float64)
    back = matrix_to_euler_xyz(euler_xyz_to_matrix(angles))
    assert (back - angles).abs().max() < 1e-9
    locked = matrix_to_euler_xyz(euler_xyz_to_matrix(torch.tensor([0.0, math.pi / 2, 0.7], dtype=torch.float64)))
    assert torch.allclose(euler_xyz_to_matrix(locked), euler_xyz_to_matrix(torch.tensor([0.0, math.pi / 2, 0.7], dtype=torch.float64)), atol=1e-9)


def test_pose_differences_invert_pose_updates(franka_npz):
    states = np.load(franka_npz)["states"][0].astype(np.float64)  # (2, 7) real Franka poses
    action = poses_to_actions(states)  # (1, 7)
    assert action.shape == (1, 7)
    np.testing.assert_allclose(action[0, :3], states[1, :3] - states[0, :3], atol=1e-12)
    # compute_new_pose(pose_t, poses_to_diff(pose_t, pose_t+1)) recovers pose_t+1 (rotation as a matrix)
    nxt = apply_franka_action(torch.from_numpy(states[:1]), torch.from_numpy(action))
    np.testing.assert_allclose(nxt[0, :3].numpy(), states[1, :3], atol=1e-12)
    r1 = euler_xyz_to_matrix(nxt[0, 3:6])
    r2 = euler_xyz_to_matrix(torch.from_numpy(states[1, 3:6]))
    assert (r1 - r2).abs().max() < 1e-9
    # gripper clipped to [0, 1]
    clipped = apply_franka_action(torch.tensor([[0, 0, 0, 0, 0, 0, 0.9]]), torch.tensor([[0, 0, 0, 0, 0, 0, 0.5]]))
    assert clipped[0, 6] == 1.0
    with pytest.raises(ValueError, match="7-D"):
        poses_to_actions(np.zeros((3, 4)), "franka")
    assert np.allclose(poses_to_actions(np.arange(6.0).reshape(3, 2), "euclidean"), 2.0)


def _episodes(num=5, length=9, size=16, seed=0):
    rng = np.random.default_rng(seed)
    eps = []
    for e in range(num):
        pos = np.cumsum(rng.normal(0, 0.05, size=(length, 2)), axis=0).astype(np.float32)
        frames = rng.integers(0, 255, size=(length, size, size, 3), dtype=np.uint8)
        frames[:, 0, 0, 0] = np.arange(length)  # frame index marker
        eps.append({"frames": frames, "states": pos, "actions": np.diff(pos, axis=0)})
    return eps


def test_npz_folder_and_single_npz(tmp_path, franka_npz):
    eps = _episodes()
    save_episodes(tmp_path / "data", eps, fps=10, pose_format="euclidean")
    meta = json.loads((tmp_path / "data" / "meta.json").read_text())
    assert meta["num_episodes"] == 5 and meta["fps"] == 10
    loaded, meta = load_episodes(tmp_path / "data")
    assert len(loaded) == 5 and np.array_equal(loaded[2]["frames"], eps[2]["frames"])
    franka, fmeta = load_episodes(franka_npz, fps=4)
    assert franka[0]["frames"].shape == (2, 256, 256, 3) and fmeta["pose_format"] == "franka"
    with pytest.raises(FileNotFoundError):
        load_episodes(tmp_path / "missing")
    with pytest.raises(ValueError, match="neither"):
        (tmp_path / "empty").mkdir()
        load_episodes(tmp_path / "empty")
    with pytest.raises(ValueError, match="`states` must have shape"):
        validate_episode({"frames": eps[0]["frames"], "states": np.zeros((3, 2))})
    with pytest.raises(ValueError, match="uint8"):
        validate_episode({"frames": eps[0]["frames"].astype(np.float32), "states": eps[0]["states"]})
    with pytest.raises(ValueError, match="NaN"):
        validate_episode({"frames": eps[0]["frames"], "states": np.full((9, 2), np.nan)})


@pytest.mark.parametrize("use_videos", [False, True])
def test_lerobot_layout_round_trip(tmp_path, use_videos):
    eps = _episodes(num=2, length=6, size=32)
    for ep in eps:  # smooth frames so that the lossless-crf video round trip is near exact
        ep["frames"] = np.repeat(np.repeat(ep["frames"][:, ::8, ::8], 8, axis=1), 8, axis=2)
    root = save_episodes_lerobot(tmp_path / "lerobot", eps, fps=5, use_videos=use_videos)
    info = json.loads((root / "meta" / "info.json").read_text())
    assert info["features"]["observation.image"]["dtype"] == ("video" if use_videos else "image")
    loaded, meta = load_episodes(root)
    assert meta["fps"] == 5 and len(loaded) == 2
    np.testing.assert_allclose(loaded[1]["states"], eps[1]["states"])
    np.testing.assert_allclose(loaded[1]["actions"], eps[1]["actions"], atol=1e-7)
    err = np.abs(loaded[1]["frames"].astype(int) - eps[1]["frames"].astype(int)).mean()
    assert err < (8 if use_videos else 1e-9), err


def test_fixed_fps_windows_and_pose_difference_actions():
    eps = _episodes(num=3, length=13)
    # 12 fps recording sampled at 4 fps: frame_step = ceil(12 / 4) = 3 (official droid.py)
    ds = TrajectoryWindowDataset(eps, num_frames=4, fps=4, source_fps=12, pose_format="euclidean")
    assert ds.frame_step == 3 and ds.span == 10 and len(ds) == 3 * 4
    item = ds.window(1, 2)
    assert item["frames"][:, 0, 0, 0].tolist() == [2, 5, 8, 11]
    np.testing.assert_allclose(item["states"].numpy(), eps[1]["states"][[2, 5, 8, 11]])
    # with frame_step > 1 actions are differences of the sampled poses, not the stored per-frame actions
    np.testing.assert_allclose(item["actions"].numpy(), np.diff(eps[1]["states"][[2, 5, 8, 11]], axis=0), atol=1e-7)
    stored = TrajectoryWindowDataset(eps, num_frames=3)  # frame_step 1: stored actions
    assert stored.use_stored and torch.equal(stored.window(0, 0)["actions"], torch.from_numpy(eps[0]["actions"][:2]))
    no_actions = [{k: v for k, v in ep.items() if k != "actions"} for ep in eps]
    poses = TrajectoryWindowDataset(no_actions, num_frames=3, pose_format="euclidean")
    assert not poses.use_stored
    np.testing.assert_allclose(poses.window(0, 0)["actions"].numpy(), eps[0]["actions"][:2], atol=1e-7)
    rnd = TrajectoryWindowDataset(eps, num_frames=4, windows="random", seed=1)
    assert rnd[0]["frames"].shape == (4, 16, 16, 3)
    with pytest.raises(ValueError, match="long enough"):
        TrajectoryWindowDataset(eps, num_frames=20)
    with pytest.raises(ValueError, match="stored per-frame actions"):
        TrajectoryWindowDataset(eps, num_frames=3, fps=2, source_fps=4, action_source="stored")
    with pytest.raises(ValueError, match="source_fps"):
        TrajectoryWindowDataset(eps, num_frames=3, fps=2)
    train, test = split_episodes(eps, 0.34, seed=0)
    assert len(train) == 2 and len(test) == 1


def test_franka_example_file_has_the_released_layout(franka_npz):
    """The trajectory file the tests use (the generated one, and the released one where present) in the layout
    of the released `franka_example_traj.npz`: keys, shapes, dtypes, pixel and pose ranges."""
    from .helpers import FRANKA_LAYOUT

    with np.load(franka_npz, allow_pickle=False) as data:
        assert {key: (data[key].shape, str(data[key].dtype)) for key in data.files} == FRANKA_LAYOUT
        frames, states = data["observations"], data["states"]
    assert frames.std() > 20 and not np.array_equal(frames[0, 0], frames[0, 1])  # two different, textured frames
    assert np.isfinite(states).all() and (np.abs(states[..., 3:6]) <= np.pi + 1e-6).all()  # angles in radians
    assert (0.0 <= states[..., 6]).all() and (states[..., 6] <= 1.0).all()  # gripper opening
