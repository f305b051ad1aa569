"""Validating a V-JEPA 2-AC world model without a robot, and measuring planners in an environment.

* `prediction_error_per_horizon`: roll the model out with the *true* actions of held-out trajectories and report
  the mean L1 between predicted and encoded frames at every horizon, next to the "nothing moves" baseline (the
  error of simply copying the context frame).
* `action_energy_ranking`: for held-out transitions, the energy (mean L1 between the predicted next frame and the
  encoded true next frame) of the true action against random actions: a model that understands actions gives the
  true action a lower energy (users ask how to validate AC offline, facebookresearch/vjepa2#57).
* `energy_landscape` / `plot_energy_landscape`: the official notebook's grid of actions (Δxyz in
  [-0.075, 0.075]^3, rotation and gripper 0) one step ahead from a frame, energy to a goal frame, saved as a PNG.
* `run_episodes`: success rate, steps and timing of any action function in a `ReachEnv`-like environment.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .planning import l1_energy
from .trajectories import TrajectoryWindowDataset


def _window_embeddings(world_model, item: dict[str, Any]) -> torch.Tensor:
    if "embeddings" in item:
        return item["embeddings"][None].to(next(world_model.predictor.parameters()).device)
    frames = item["frames"]
    if frames.dtype == torch.uint8:  # raw (T, H, W, 3) frames: preprocess and encode
        return world_model.encode_images(frames)[None]
    device = next(world_model.encoder.parameters()).device
    return world_model.encode(frames[None].to(device))  # already preprocessed (T, 3, H, W)


@torch.no_grad()
def prediction_error_per_horizon(
    world_model, dataset: TrajectoryWindowDataset, max_windows: int | None = 256, seed: int = 0
) -> dict[str, list[float]]:
    """Mean L1 error of autoregressive predictions at horizons 1..T-1 on held-out windows.

    Returns:
        `{"horizon": [1, ...], "model_l1": [...], "copy_last_frame_l1": [...], "num_windows": n}`.
    """
    idx = np.arange(len(dataset))
    if max_windows is not None and len(idx) > max_windows:
        idx = np.random.default_rng(seed).choice(idx, size=max_windows, replace=False)
    errors, copies = [], []
    for i in idx:
        item = dataset[int(i)]
        h = _window_embeddings(world_model, item).float()  # (1, T, N, D)
        states = item["states"][None].to(h.device)
        actions = item["actions"][None].to(h.device)
        out = world_model.rollout(h[:, :1], states[:, :1], actions, use_cache=True).predictions
        errors.append((out - h[:, 1:]).abs().mean(dim=(0, 2, 3)).cpu())
        copies.append((h[:, :1] - h[:, 1:]).abs().mean(dim=(0, 2, 3)).cpu())
    model_l1 = torch.stack(errors).mean(0).tolist()
    copy_l1 = torch.stack(copies).mean(0).tolist()
    return {
        "horizon": list(range(1, len(model_l1) + 1)),
        "model_l1": model_l1,
        "copy_last_frame_l1": copy_l1,
        "num_windows": int(len(idx)),
    }


@torch.no_grad()
def action_energy_ranking(
    world_model,
    dataset: TrajectoryWindowDataset,
    num_random: int = 16,
    max_windows: int | None = 256,
    random_actions: str = "shuffle",
    seed: int = 0,
) -> dict[str, float]:
    """Energy of the true action vs random actions, one step ahead, on held-out transitions.

    Args:
        num_random: random actions per transition.
        random_actions: ``"shuffle"`` takes true actions of other transitions (same marginal distribution);
            ``"uniform"`` draws uniformly in the per-dimension range of the dataset's actions.

    Returns:
        `{"true_action_energy", "random_action_energy", "true_below_random_fraction", "true_action_rank"
        (mean fraction of random actions with a lower energy: 0 is perfect), "num_transitions"}`.
    """
    if random_actions not in ("shuffle", "uniform"):
        raise ValueError(f"`random_actions` must be 'shuffle' or 'uniform', got {random_actions!r}")
    rng = np.random.default_rng(seed)
    idx = np.arange(len(dataset))
    if max_windows is not None and len(idx) > max_windows:
        idx = rng.choice(idx, size=max_windows, replace=False)
    pool = torch.cat([dataset[int(i)]["actions"][:1] for i in idx])  # first action of each window
    low, high = pool.min(0).values, pool.max(0).values
    true_e, rand_e, below, rank = [], [], [], []
    for i in idx:
        item = dataset[int(i)]
        h = _window_embeddings(world_model, item).float()
        state = item["states"][None, :1].to(h.device)
        true_action = item["actions"][:1]
        if random_actions == "shuffle":
            others = pool[torch.from_numpy(rng.integers(0, len(pool), size=num_random))]
        else:
            others = low + (high - low) * torch.from_numpy(rng.random((num_random, pool.shape[1]))).float()
        candidates = torch.cat((true_action, others))[:, None].to(h.device)  # (1 + K, 1, A)
        pred = world_model.rollout(h[:, :1], state, candidates, use_cache=True).predictions[:, 0]
        energy = l1_energy(pred, h[0, 1]).cpu()
        true_e.append(float(energy[0]))
        rand_e.append(float(energy[1:].mean()))
        below.append(float((energy[0] < energy[1:]).float().mean()))
        rank.append(float((energy[1:] < energy[0]).float().mean()))
    return {
        "true_action_energy": float(np.mean(true_e)),
        "random_action_energy": float(np.mean(rand_e)),
        "true_below_random_fraction": float(np.mean(below)),
        "true_action_rank": float(np.mean(rank)),
        "num_transitions": int(len(idx)),
    }


def offline_validation(world_model, dataset: TrajectoryWindowDataset, max_windows: int = 256, seed: int = 0) -> dict:
    """Both offline checks on a held-out window dataset."""
    was_training = world_model.training
    world_model.eval()
    try:
        return {
            "prediction_error": prediction_error_per_horizon(world_model, dataset, max_windows, seed),
            "action_energy": action_energy_ranking(world_model, dataset, max_windows=max_windows, seed=seed),
        }
    finally:
        world_model.train(was_training)


# --------------------------------------------------------------------------------------------- energy landscape
@torch.no_grad()
def energy_landscape(
    world_model,
    frame: np.ndarray,
    state: np.ndarray | torch.Tensor,
    goal_frame: np.ndarray,
    grid_values: Sequence[float] | np.ndarray = np.linspace(-0.075, 0.075, 5),
    grid_dims: Sequence[int] = (0, 1, 2),
    action_dim: int | None = None,
    batch_size: int = 256,
) -> dict[str, Any]:
    """Energy of every action of a grid, one step ahead from `frame`, against `goal_frame` (official notebook).

    Args:
        frame, goal_frame: uint8 RGB `(H, W, 3)` frames.
        state: the state at `frame` `(state_dim,)`.
        grid_values: values taken by each gridded action dimension (official: 5 values in [-0.075, 0.075]).
        grid_dims: action dimensions on the grid (official: Δx, Δy, Δz); others are 0.

    Returns:
        `{"energies": ndarray of shape (len(grid_values),) * len(grid_dims), "grid_values", "grid_dims",
        "argmin_action"}`.
    """
    action_dim = action_dim or world_model.config.action_dim
    values = np.asarray(grid_values, dtype=np.float32)
    z = world_model.encode_images(np.stack([frame, goal_frame]))
    device = z.device
    mesh = np.stack(np.meshgrid(*[values] * len(grid_dims), indexing="ij"), axis=-1).reshape(-1, len(grid_dims))
    actions = torch.zeros(len(mesh), 1, action_dim, device=device)
    actions[:, 0, list(grid_dims)] = torch.from_numpy(mesh).to(device)
    state = torch.as_tensor(np.asarray(state, dtype=np.float32), device=device).view(1, 1, -1)
    energies = []
    for i in range(0, len(actions), batch_size):
        pred = world_model.rollout(z[None, :1], state, actions[i : i + batch_size]).predictions[:, 0]
        energies.append(l1_energy(pred, z[1]).cpu())
    energy = torch.cat(energies).numpy()
    best = actions[int(energy.argmin()), 0].cpu().numpy()
    return {
        "energies": energy.reshape((len(values),) * len(grid_dims)),
        "grid_values": values,
        "grid_dims": tuple(grid_dims),
        "argmin_action": best,
    }


def plot_energy_landscape(
    landscape: dict[str, Any],
    path: str | os.PathLike,
    true_action: np.ndarray | None = None,
    title: str = "V-JEPA 2-AC energy landscape",
) -> Path:
    """Save the landscape as a PNG: one heatmap over (first, second) gridded dims per value of the third."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    energies = np.asarray(landscape["energies"])
    values = landscape["grid_values"]
    dims = landscape["grid_dims"]
    if energies.ndim == 2:
        energies = energies[..., None]
    slices = energies.shape[-1]
    fig, axes = plt.subplots(1, slices, figsize=(3.0 * slices + 1.0, 3.4), squeeze=False, layout="constrained")
    vmin, vmax = float(energies.min()), float(energies.max())
    names = ["Δx", "Δy", "Δz", "Δroll", "Δpitch", "Δyaw", "Δgrip"]
    for k in range(slices):
        ax = axes[0, k]
        im = ax.imshow(
            energies[..., k].T, origin="lower", cmap="viridis", vmin=vmin, vmax=vmax,
            extent=[values[0], values[-1], values[0], values[-1]], aspect="auto",
        )
        ax.set_xlabel(names[dims[0]] if dims[0] < len(names) else f"a[{dims[0]}]")
        if k == 0:
            ax.set_ylabel(names[dims[1]] if dims[1] < len(names) else f"a[{dims[1]}]")
        if len(dims) > 2:
            ax.set_title(f"{names[dims[2]] if dims[2] < len(names) else dims[2]} = {values[k]:+.3f}")
        if true_action is not None:
            ax.plot(true_action[dims[0]], true_action[dims[1]], "r*", markersize=12, label="true action")
            span = [values[0], values[-1], true_action[dims[0]], true_action[dims[1]]]
            pad = 0.05 * (values[-1] - values[0])
            ax.set_xlim(min(span[0], span[2]) - pad, max(span[1], span[2]) + pad)
            ax.set_ylim(min(span[0], span[3]) - pad, max(span[1], span[3]) + pad)
        best = landscape["argmin_action"]
        ax.plot(best[dims[0]], best[dims[1]], "wx", markersize=10, label="argmin")
    axes[0, 0].legend(loc="upper left", fontsize=7)
    fig.colorbar(im, ax=axes.ravel().tolist(), shrink=0.8, label="mean L1 to goal")
    fig.suptitle(title)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


# --------------------------------------------------------------------------------------------- environment runs
def run_episodes(
    env,
    act: Callable[[dict[str, Any], Any], np.ndarray],
    seeds: Sequence[int],
    max_steps: int | None = None,
    on_reset: Callable[[Any], None] | None = None,
) -> dict[str, Any]:
    """Run one episode per seed with an action function `act(observation, env) -> action`.

    Args:
        env: a gymnasium-style environment (`reset(seed=...)`, `step`), e.g. `ReachEnv`.
        act: the controller (a policy's `select_action` wrapped, the oracle, random actions).
        seeds: episode seeds (the same seeds give the same start and goal for every controller).
        max_steps: step budget (default: the environment's `max_episode_steps`).
        on_reset: called with the env after each reset (e.g. to give a policy its goal image).

    Returns:
        `{"success_rate", "successes", "mean_steps", "final_distances", "seconds_per_action"}`.
    """
    max_steps = max_steps or getattr(env, "max_episode_steps", 50)
    successes, steps_used, finals, times = [], [], [], []
    for seed in seeds:
        obs, info = env.reset(seed=int(seed))
        if on_reset is not None:
            on_reset(env)
        success = False
        steps = 0
        for steps in range(1, max_steps + 1):
            t0 = time.perf_counter()
            action = act(obs, env)
            times.append(time.perf_counter() - t0)
            obs, _, terminated, truncated, info = env.step(action)
            if terminated:
                success = True
                break
            if truncated and steps >= max_steps:
                break
        successes.append(bool(info.get("is_success", success)))
        steps_used.append(steps)
        finals.append(float(info.get("distance", float("nan"))))
    return {
        "success_rate": float(np.mean(successes)),
        "successes": successes,
        "mean_steps": float(np.mean(steps_used)),
        "final_distances": finals,
        "seconds_per_action": float(np.mean(times)) if times else float("nan"),
    }


__all__ = [
    "action_energy_ranking",
    "energy_landscape",
    "offline_validation",
    "plot_energy_landscape",
    "prediction_error_per_horizon",
    "run_episodes",
]
