"""The reaching environment, the LeRobot-style policy (MPC, subgoals), offline validation and the energy landscape."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vjepa2_hf.world_model.environment import ReachEnv, collect_random_episodes
from vjepa2_hf.world_model.evaluation import (
    action_energy_ranking,
    energy_landscape,
    plot_energy_landscape,
    prediction_error_per_horizon,
    run_episodes,
)
from vjepa2_hf.world_model.policy_vjepa2_ac import VJEPA2ACPolicy, VJEPA2ACPolicyConfig
from vjepa2_hf.world_model.poses import poses_to_actions
from vjepa2_hf.world_model.trajectories import TrajectoryWindowDataset

from .helpers import tiny_world_model


def test_environment_api_and_controllers():
    env = ReachEnv(image_size=32, max_episode_steps=15)
    obs, info = env.reset(seed=3)
    assert obs["pixels"].shape == (32, 32, 3) and obs["pixels"].dtype == np.uint8
    assert env.observation_space["pixels"].contains(obs["pixels"]) and info["distance"] >= env.min_goal_distance
    again, _ = env.reset(seed=3)
    assert np.array_equal(again["pixels"], obs["pixels"])  # seeded
    assert not np.array_equal(env.goal_image, obs["pixels"])
    obs, reward, terminated, truncated, info = env.step([0.5, -0.5])  # clipped to max_step
    assert np.allclose(np.abs(obs["agent_pos"] - again["agent_pos"]), 0.1, atol=1e-6) or info["distance"] >= 0
    with pytest.raises(ValueError, match="2 values"):
        env.step([0.1])
    with pytest.raises(ValueError, match="finite"):
        env.step([np.nan, 0.0])
    seeds = list(range(20))
    oracle = run_episodes(env, lambda o, e: e.oracle_action(), seeds)
    rng = np.random.default_rng(0)
    random = run_episodes(env, lambda o, e: rng.uniform(-0.1, 0.1, 2), seeds)
    assert oracle["success_rate"] == 1.0 and random["success_rate"] <= 0.3
    eps = collect_random_episodes(env, 3, 5, seed=1)
    assert eps[0]["frames"].shape == (6, 32, 32, 3) and eps[0]["actions"].shape == (5, 2)
    np.testing.assert_allclose(np.diff(eps[0]["states"], axis=0), eps[0]["actions"], atol=1e-6)


def test_policy_select_action_lerobot_conventions_and_subgoals():
    wm = tiny_world_model(action_dim=2, state_dim=2, crop_size=32)
    env = ReachEnv(image_size=32)
    obs, _ = env.reset(seed=0)
    cfg = VJEPA2ACPolicyConfig(num_samples=16, iterations=2, topk=4, constraint="box", action_low=-0.1,
                               action_high=0.1, seed=0)
    policy = VJEPA2ACPolicy(wm, cfg)
    with pytest.raises(ValueError, match="no goal"):
        policy.select_action(obs)
    goals = np.stack([env.render_state([0.2, 0.2]), env.render_state([0.8, 0.8]), env.goal_image])
    policy.set_goal(goals, steps_per_goal=[2, 3, 1])
    # LeRobot batch: float (B, 3, H, W) images in [0, 1] and (B, state_dim) states
    batch = {"observation.image": torch.from_numpy(obs["pixels"]).permute(2, 0, 1)[None].float() / 255,
             "observation.state": torch.from_numpy(obs["agent_pos"])[None]}
    a1 = policy.select_action(batch)
    assert a1.shape == (1, 2) and (a1.abs() <= 0.1 + 1e-6).all()
    policy.reset()
    assert torch.equal(policy.select_action(batch), a1)  # reset restarts the seeded planner
    indices = []
    policy.reset()
    for _ in range(7):
        policy.select_action(obs)  # raw env observation (pixels / agent_pos) works too
        indices.append(policy.current_goal_index)
    assert indices == [0, 0, 1, 1, 1, 2, 2]
    assert len(policy.planning_times) == 9
    with pytest.raises(ValueError, match="goal embedding must have shape"):
        policy.set_goal_embedding(torch.zeros(5, 64))
    with pytest.raises(ValueError, match="state must have shape"):
        policy.select_action({"pixels": obs["pixels"], "agent_pos": np.zeros(3, np.float32)})
    with pytest.raises(ValueError, match="uint8"):
        policy.set_goal(np.zeros((32, 32, 3), np.float32))
    with pytest.raises(ValueError, match="7-D Franka"):
        VJEPA2ACPolicy(wm, VJEPA2ACPolicyConfig(planner="official"))


def test_official_planner_policy_on_franka_frames(franka_npz):
    data = np.load(franka_npz)
    wm = tiny_world_model(crop_size=32)
    policy = VJEPA2ACPolicy(wm, VJEPA2ACPolicyConfig(planner="official", horizon=2, num_samples=16, iterations=2,
                                                     official_kwargs={"maxnorm": 0.05}))
    policy.set_goal(data["observations"][0, 1])
    action = policy.select_action({"observation.image": data["observations"][0, 0],
                                   "observation.state": torch.from_numpy(data["states"][0, 0])})
    assert action.shape == (1, 7)
    assert (action[0, :3].abs() <= 0.05).all() and (action[0, 3:6] == 0).all()


def test_energy_landscape_png_on_real_franka_frames(tmp_path, franka_npz):
    """Exercises the path of the official notebook on the two real frames; the tiny model is random, so the
    landscape itself means nothing here."""
    data = np.load(franka_npz)
    frames, states = data["observations"][0], data["states"][0]
    wm = tiny_world_model(crop_size=64)
    land = energy_landscape(wm, frames[0], states[0], frames[1])
    assert land["energies"].shape == (5, 5, 5) and np.isfinite(land["energies"]).all()
    assert land["energies"].std() > 0
    true_action = poses_to_actions(states.astype(np.float64))[0]
    path = plot_energy_landscape(land, tmp_path / "landscape.png", true_action=true_action)
    assert path.stat().st_size > 5000


def test_offline_validation_metrics():
    env = ReachEnv(image_size=32)
    eps = collect_random_episodes(env, 4, 5, seed=0)
    wm = tiny_world_model(action_dim=2, state_dim=2, crop_size=32)
    ds = TrajectoryWindowDataset(eps, num_frames=4, pose_format="euclidean")
    err = prediction_error_per_horizon(wm, ds, max_windows=6)
    assert err["horizon"] == [1, 2, 3] and len(err["model_l1"]) == 3 and err["num_windows"] == 6
    assert all(e > 0 for e in err["copy_last_frame_l1"])
    rank = action_energy_ranking(wm, ds, num_random=4, max_windows=6)
    assert 0.0 <= rank["true_below_random_fraction"] <= 1.0 and rank["num_transitions"] == 6
    with pytest.raises(ValueError, match="random_actions"):
        action_energy_ranking(wm, ds, random_actions="gaussian")
