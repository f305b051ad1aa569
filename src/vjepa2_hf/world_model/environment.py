"""A small reaching environment rendered with numpy, to test planning end to end without downloads.

`ReachEnv` follows the gymnasium API (`reset(seed=..., options=...) -> (obs, info)`,
`step(action) -> (obs, reward, terminated, truncated, info)`, `render()`, `observation_space`, `action_space`)
without depending on gymnasium. A point agent moves on a square table in ``[0, 1]^2``; an action is a 2-D
displacement, clipped to ``[-max_step, max_step]`` per coordinate; the episode succeeds when the agent is within
`success_radius` of the goal. Observations are RGB renders of the table (the goal is *not* drawn: planners get a
goal *image*, the render of the agent at the goal position) plus the agent position as proprioceptive state.

The agent is a disc with a wide coloured glow over the table, so that every patch depends on the agent position and
an image-space energy decreases smoothly toward the goal from anywhere on the table; the table has a fixed colour
gradient so that every patch is distinguishable.

`collect_random_episodes` records random-action trajectories; `oracle_action` is the straight-line controller.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class Box:
    """A gymnasium-like box space (`low`, `high`, `shape`, `dtype`, `sample()`, `contains()`)."""

    low: np.ndarray
    high: np.ndarray
    dtype: Any = np.float32

    def __post_init__(self) -> None:
        self.low = np.asarray(self.low, dtype=self.dtype)
        self.high = np.asarray(self.high, dtype=self.dtype)
        if self.low.shape != self.high.shape:
            raise ValueError(f"Box low/high shapes differ: {self.low.shape} vs {self.high.shape}")
        self._rng = np.random.default_rng()

    @property
    def shape(self) -> tuple[int, ...]:
        return self.low.shape

    def seed(self, seed: int | None = None) -> None:
        self._rng = np.random.default_rng(seed)

    def sample(self) -> np.ndarray:
        if np.issubdtype(self.dtype, np.integer):
            return self._rng.integers(self.low, self.high.astype(np.int64) + 1, dtype=np.int64).astype(self.dtype)
        return self._rng.uniform(self.low, self.high).astype(self.dtype)

    def contains(self, x) -> bool:
        x = np.asarray(x)
        return x.shape == self.shape and bool(np.all(x >= self.low) and np.all(x <= self.high))


@dataclass
class DictSpace:
    """A gymnasium-like dict of spaces."""

    spaces: dict[str, Box]

    def __getitem__(self, key: str) -> Box:
        return self.spaces[key]

    def sample(self) -> dict[str, np.ndarray]:
        return {k: v.sample() for k, v in self.spaces.items()}


class ReachEnv:
    """Reach a goal position with a point agent, from RGB observations.

    Args:
        image_size (`int`, defaults to 64): side of the rendered square RGB frame.
        max_step (`float`, defaults to 0.1): largest displacement per coordinate and step (table units).
        success_radius (`float`, defaults to 0.06): success when ``||agent - goal|| < success_radius``.
        max_episode_steps (`int`, defaults to 20): truncation horizon.
        agent_radius (`float`, defaults to 0.1): radius of the agent disc (table units).
        glow_sigma (`float`, defaults to 0.3): width of the agent's glow over the table (table units).
        glow_strength (`float`, defaults to 0.8): opacity of the glow at the agent.
        margin (`float`, defaults to 0.1): agent and goal stay in ``[margin, 1 - margin]^2``.
        min_goal_distance (`float`, defaults to 0.3): initial agent-goal distance at reset (unless given).
        render_mode (`str`, defaults to "rgb_array"): only "rgb_array" is supported.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 4}

    def __init__(
        self,
        image_size: int = 64,
        max_step: float = 0.1,
        success_radius: float = 0.06,
        max_episode_steps: int = 20,
        agent_radius: float = 0.1,
        glow_sigma: float = 0.3,
        glow_strength: float = 0.8,
        margin: float = 0.1,
        min_goal_distance: float = 0.3,
        render_mode: str = "rgb_array",
    ) -> None:
        if render_mode != "rgb_array":
            raise ValueError(f"`render_mode` must be 'rgb_array', got {render_mode!r}")
        if image_size < 8:
            raise ValueError(f"`image_size` must be at least 8, got {image_size}")
        if not 0 < margin < 0.5:
            raise ValueError(f"`margin` must be in (0, 0.5), got {margin}")
        self.image_size = image_size
        self.max_step = float(max_step)
        self.success_radius = float(success_radius)
        self.max_episode_steps = int(max_episode_steps)
        self.agent_radius = float(agent_radius)
        self.glow_sigma = float(glow_sigma)
        self.glow_strength = float(glow_strength)
        self.margin = float(margin)
        self.min_goal_distance = float(min_goal_distance)
        self.render_mode = render_mode
        self.action_space = Box(low=[-self.max_step] * 2, high=[self.max_step] * 2)
        self.observation_space = DictSpace(
            {
                "pixels": Box(
                    low=np.zeros((image_size, image_size, 3)), high=np.full((image_size, image_size, 3), 255),
                    dtype=np.uint8,
                ),
                "agent_pos": Box(low=[0.0, 0.0], high=[1.0, 1.0]),
            }
        )
        coords = (np.arange(image_size, dtype=np.float32) + 0.5) / image_size
        self._yy, self._xx = np.meshgrid(coords, coords, indexing="ij")
        # static table: a two-axis colour gradient (dark, distinct in every patch)
        self._background = np.stack(
            (0.15 + 0.25 * self._xx, 0.15 + 0.25 * self._yy, 0.35 + 0.0 * self._xx), axis=-1
        ).astype(np.float32)
        self._agent_color = np.array([0.95, 0.85, 0.2], dtype=np.float32)
        self._glow_color = np.array([0.9, 0.3, 0.1], dtype=np.float32)
        self._rng = np.random.default_rng()
        self.agent_pos = np.full(2, 0.5, dtype=np.float32)
        self.goal_pos = np.full(2, 0.5, dtype=np.float32)
        self.steps = 0

    # ------------------------------------------------------------------ rendering
    def render_state(self, agent_pos) -> np.ndarray:
        """uint8 `(image_size, image_size, 3)` frame with the agent at `agent_pos` (table units, x right, y down)."""
        pos = np.asarray(agent_pos, dtype=np.float32)
        if pos.shape != (2,) or not np.all(np.isfinite(pos)):
            raise ValueError(f"`agent_pos` must be 2 finite numbers, got {agent_pos!r}")
        dist = np.sqrt((self._xx - pos[0]) ** 2 + (self._yy - pos[1]) ** 2)
        # a wide glow of the agent's colour over the table (so that every patch depends on the agent position) ...
        glow = (self.glow_strength * np.exp(-0.5 * (dist / self.glow_sigma) ** 2))[..., None]
        img = (1 - glow) * self._background + glow * self._glow_color
        # ... and the agent itself, a disc with a soft rim
        soft = 0.25 * self.agent_radius
        alpha = np.clip((self.agent_radius - dist) / soft + 0.5, 0.0, 1.0)[..., None]
        img = (1 - alpha) * img + alpha * self._agent_color
        return np.clip(img * 255.0 + 0.5, 0, 255).astype(np.uint8)

    def render(self) -> np.ndarray:
        return self.render_state(self.agent_pos)

    @property
    def goal_image(self) -> np.ndarray:
        """The frame the agent would produce at the goal (the planner's goal image)."""
        return self.render_state(self.goal_pos)

    # ------------------------------------------------------------------ API
    def _obs(self) -> dict[str, np.ndarray]:
        return {"pixels": self.render(), "agent_pos": self.agent_pos.copy()}

    def _info(self) -> dict[str, Any]:
        distance = float(np.linalg.norm(self.agent_pos - self.goal_pos))
        return {"distance": distance, "is_success": distance < self.success_radius, "goal_pos": self.goal_pos.copy()}

    def _random_position(self) -> np.ndarray:
        return self._rng.uniform(self.margin, 1 - self.margin, size=2).astype(np.float32)

    def reset(self, seed: int | None = None, options: dict[str, Any] | None = None):
        """Start an episode. `options` may give `agent_pos` and/or `goal_pos` (table units)."""
        if seed is not None:
            self._rng = np.random.default_rng(seed)
            self.action_space.seed(seed)
        options = options or {}
        agent = options.get("agent_pos")
        goal = options.get("goal_pos")
        self.agent_pos = self._random_position() if agent is None else self._check_pos(agent, "agent_pos")
        if goal is None:
            for _ in range(1000):
                goal = self._random_position()
                if np.linalg.norm(goal - self.agent_pos) >= self.min_goal_distance:
                    break
        self.goal_pos = self._check_pos(goal, "goal_pos")
        self.steps = 0
        return self._obs(), self._info()

    def _check_pos(self, pos, name: str) -> np.ndarray:
        arr = np.asarray(pos, dtype=np.float32)
        if arr.shape != (2,) or not np.all(np.isfinite(arr)):
            raise ValueError(f"`{name}` must be 2 finite numbers in [0, 1], got {pos!r}")
        return np.clip(arr, self.margin, 1 - self.margin)

    def step(self, action):
        """Move by `action` (2-D, clipped to the action space). Returns `(obs, reward, terminated, truncated,
        info)`; reward is minus the distance to the goal, `terminated` is success."""
        act = np.asarray(action, dtype=np.float32).reshape(-1)
        if act.shape != (2,):
            raise ValueError(f"`action` must have 2 values (dx, dy), got shape {np.asarray(action).shape}")
        if not np.all(np.isfinite(act)):
            raise ValueError(f"`action` must be finite, got {act}")
        act = np.clip(act, -self.max_step, self.max_step)
        self.agent_pos = np.clip(self.agent_pos + act, self.margin, 1 - self.margin).astype(np.float32)
        self.steps += 1
        info = self._info()
        terminated = bool(info["is_success"])
        truncated = self.steps >= self.max_episode_steps and not terminated
        return self._obs(), -info["distance"], terminated, truncated, info

    def oracle_action(self) -> np.ndarray:
        """The straight-line controller (knows the goal state): the clipped displacement to the goal."""
        return np.clip(self.goal_pos - self.agent_pos, -self.max_step, self.max_step).astype(np.float32)

    def close(self) -> None:
        pass


def collect_random_episodes(
    env: ReachEnv, num_episodes: int, episode_length: int, seed: int = 0, action_scale: float = 1.0
) -> list[dict[str, np.ndarray]]:
    """Random-action trajectories: uniform actions in the action space (times `action_scale`), random starts.

    Returns:
        a list of episodes, each a dict with `frames` uint8 `(episode_length + 1, H, W, 3)`, `states` float32
        `(episode_length + 1, 2)` (agent positions) and `actions` float32 `(episode_length, 2)` (the displacement
        actually applied, i.e. after the table border clipped it), the npz trajectory layout of `trajectories`.
    """
    if num_episodes < 1 or episode_length < 1:
        raise ValueError(f"need num_episodes >= 1 and episode_length >= 1, got {num_episodes}, {episode_length}")
    rng = np.random.default_rng(seed)
    episodes = []
    for _ in range(num_episodes):
        obs, _ = env.reset(seed=int(rng.integers(2**31)))
        frames, states, actions = [obs["pixels"]], [obs["agent_pos"]], []
        for _ in range(episode_length):
            action = rng.uniform(-env.max_step, env.max_step, size=2).astype(np.float32) * action_scale
            before = env.agent_pos.copy()
            obs, *_ = env.step(action)
            frames.append(obs["pixels"])
            states.append(obs["agent_pos"])
            actions.append(obs["agent_pos"] - before)
        episodes.append(
            {
                "frames": np.stack(frames),
                "states": np.stack(states).astype(np.float32),
                "actions": np.stack(actions).astype(np.float32),
            }
        )
    return episodes


__all__ = ["Box", "DictSpace", "ReachEnv", "collect_random_episodes"]
