"""A planning policy with LeRobot's conventions: `select_action(observation)`, `predict_action_chunk`, `reset()`.

`VJEPA2ACPolicy` plans with CEM over a [`VJEPA2WorldModel`] toward goal images (model-predictive control: plan,
return the first action, replan at the next call). Goals are set with `set_goal(images, steps_per_goal=...)`:
one image, or a list of subgoals (the paper's pick-and-place: 3 goal images with 4, 10 and 4 steps), or are read
from the observation under ``observation.images.goal``.

Observations follow LeRobot's keys, with the raw keys of gymnasium-style environments accepted too:

* image: ``observation.image`` (or ``observation.images.<cam>``), float `(B, 3, H, W)` in [0, 1] as LeRobot
  delivers, or uint8 `(H, W, 3)`; ``pixels`` (raw environment) also works;
* state: ``observation.state`` `(B, state_dim)`, or ``agent_pos``.

`select_action` returns a float tensor `(B, action_dim)` (B = 1 for a single observation).

A saved policy is a world-model folder (`config.json`, `model.safetensors`: `AutoModel` loads it) plus the policy's
`policy_config.json`: `policy.save_pretrained(dir)`, `VJEPA2ACPolicy.from_pretrained(dir or repo id)`,
`policy.push_to_hub(repo_id)`. Goals are per episode and are not saved.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .configuration_vjepa2_ac_policy import POLICY_CONFIG_NAME, VJEPA2ACPolicyConfig
from .planning import BoxConstraint, L1BallConstraint, cem, official_cem

OBS_IMAGE = "observation.image"
OBS_IMAGES_PREFIX = "observation.images."
OBS_STATE = "observation.state"
GOAL_IMAGE = "observation.images.goal"


class VJEPA2ACPolicy(nn.Module):
    """Goal-image MPC with a V-JEPA 2-AC world model, usable as a LeRobot-style policy.

    Args:
        world_model ([`VJEPA2WorldModel`]): encoder + AC predictor.
        config ([`VJEPA2ACPolicyConfig`], *optional*).
    """

    name = "vjepa2_ac"

    def __init__(self, world_model, config: VJEPA2ACPolicyConfig | None = None) -> None:
        super().__init__()
        self.world_model = world_model.eval()
        self.config = config or VJEPA2ACPolicyConfig()
        if self.config.planner == "official" and world_model.config.action_dim != 7:
            raise ValueError(
                f"the official planner is for 7-D Franka actions; this model has action_dim="
                f"{world_model.config.action_dim} (use planner='cem')"
            )
        self._goals: torch.Tensor | None = None
        self._steps_per_goal: list[int] | None = None
        self.planning_times: list[float] = []
        self.last_energies: list[float] = []
        self.reset()

    # ------------------------------------------------------------------ goals
    def set_goal(self, images, steps_per_goal: Sequence[int] | None = None) -> None:
        """Set the goal image, or a list of subgoal images reached in order.

        Args:
            images: one uint8 `(H, W, 3)` image, or a list / `(K, H, W, 3)` array of K subgoal images.
            steps_per_goal: steps spent on each subgoal before moving on (paper pick-and-place: ``[4, 10, 4]``);
                the last goal is kept once its budget is spent. None: switch only on `subgoal_switch_energy`.
        """
        arr = np.asarray(images)
        if arr.ndim == 3:
            arr = arr[None]
        if arr.ndim != 4 or arr.shape[-1] != 3 or arr.dtype != np.uint8:
            raise ValueError(
                f"goal images must be uint8 (H, W, 3) or (K, H, W, 3), got shape {arr.shape} dtype {arr.dtype}"
            )
        if steps_per_goal is not None and len(steps_per_goal) != len(arr):
            raise ValueError(f"`steps_per_goal` needs one entry per goal ({len(arr)}), got {list(steps_per_goal)}")
        self._goals = self.world_model.encode_images(arr)
        self._steps_per_goal = None if steps_per_goal is None else [int(s) for s in steps_per_goal]
        self._goal_index = 0
        self._steps_on_goal = 0

    def set_goal_embedding(self, embedding: torch.Tensor) -> None:
        """Set a goal directly as a normalised embedding `(tokens_per_frame, hidden_size)` (or `(K, N, D)`)."""
        cfg = self.world_model.config
        emb = embedding if embedding.ndim == 3 else embedding[None]
        if emb.ndim != 3 or tuple(emb.shape[1:]) != (cfg.tokens_per_frame, cfg.hidden_size):
            raise ValueError(
                f"goal embedding must have shape ({cfg.tokens_per_frame}, {cfg.hidden_size}) or (K, "
                f"{cfg.tokens_per_frame}, {cfg.hidden_size}), got {tuple(embedding.shape)}"
            )
        self._goals = emb
        self._steps_per_goal = None
        self._goal_index = 0
        self._steps_on_goal = 0

    @property
    def current_goal_index(self) -> int:
        return self._goal_index

    def reset(self) -> None:
        """Call on every environment reset: restarts the subgoal schedule and the planner RNG."""
        self._goal_index = 0
        self._steps_on_goal = 0
        device = next(self.world_model.predictor.parameters()).device
        self._generator = None
        if self.config.seed is not None:
            self._generator = torch.Generator(device=device)
            self._generator.manual_seed(self.config.seed)

    # ------------------------------------------------------------------ observations
    def _read_observation(self, observation: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        image = None
        for key in [OBS_IMAGE, *sorted(k for k in observation if k.startswith(OBS_IMAGES_PREFIX) and k != GOAL_IMAGE),
                    "pixels"]:
            if key in observation:
                image = observation[key]
                break
        if image is None:
            raise ValueError(f"the observation has no image: expected {OBS_IMAGE!r} (or 'pixels'), got {sorted(observation)}")
        state = observation.get(OBS_STATE, observation.get("agent_pos"))
        if state is None:
            raise ValueError(f"the observation has no state: expected {OBS_STATE!r} (or 'agent_pos'), got {sorted(observation)}")
        goal = observation.get(GOAL_IMAGE)
        return self._to_uint8(image), torch.as_tensor(np.asarray(state, dtype=np.float32)), (
            None if goal is None else self._to_uint8(goal)
        )

    @staticmethod
    def _to_uint8(image) -> np.ndarray:
        """float `(B, 3, H, W)` / `(3, H, W)` in [0, 1] (LeRobot) or uint8 `(..., H, W, 3)` -> uint8 `(B, H, W, 3)`."""
        if isinstance(image, torch.Tensor):
            image = image.detach().cpu()
            if image.dtype.is_floating_point:
                if image.ndim == 3:
                    image = image[None]
                if image.ndim != 4 or image.shape[1] != 3:
                    raise ValueError(f"float images must be (B, 3, H, W) in [0, 1], got {tuple(image.shape)}")
                return (image.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
            image = image.numpy()
        arr = np.asarray(image)
        if arr.dtype != np.uint8:
            raise ValueError(f"images must be uint8 (H, W, 3) or float (B, 3, H, W) in [0, 1], got dtype {arr.dtype}")
        return arr[None] if arr.ndim == 3 else arr

    # ------------------------------------------------------------------ planning
    def _advance_goal(self, frame_embedding: torch.Tensor) -> None:
        goals = self._goals
        if self._goal_index < len(goals) - 1:
            if self._steps_per_goal is not None and self._steps_on_goal >= self._steps_per_goal[self._goal_index]:
                self._goal_index += 1
                self._steps_on_goal = 0
            elif self.config.subgoal_switch_energy is not None:
                energy = float((frame_embedding.float() - goals[self._goal_index].float()).abs().mean())
                if energy < self.config.subgoal_switch_energy:
                    self._goal_index += 1
                    self._steps_on_goal = 0

    def _plan(self, z: torch.Tensor, state: torch.Tensor, goal: torch.Tensor) -> torch.Tensor:
        cfg = self.config
        wm = self.world_model
        rollout_fn = wm.rollout_fn(z[None, None], state[None, None], use_cache=cfg.use_cache)
        action_dim = wm.config.action_dim
        if cfg.planner == "official":
            kwargs = {"rollout": cfg.horizon, "samples": cfg.num_samples, "cem_steps": cfg.iterations,
                      "topk": cfg.topk, **cfg.official_kwargs}
            plan = official_cem(rollout_fn, goal, generator=self._generator, **kwargs)
            self.last_energies = []
            return plan
        nf = action_dim if cfg.free_dims is None else len(cfg.free_dims)
        if cfg.constraint == "l1":
            constraint = L1BallConstraint(cfg.l1_radius)
            init_std = cfg.init_std if cfg.init_std is not None else cfg.l1_radius
        else:
            constraint = BoxConstraint(cfg.action_low, cfg.action_high)
            width = np.asarray(cfg.action_high, dtype=np.float32) - np.asarray(cfg.action_low, dtype=np.float32)
            init_std = cfg.init_std if cfg.init_std is not None else torch.as_tensor(width / 2).expand(nf).clone()
        out = cem(
            rollout_fn, goal, action_dim=action_dim, horizon=cfg.horizon, num_samples=cfg.num_samples,
            iterations=cfg.iterations, topk=cfg.topk, constraint=constraint, free_dims=cfg.free_dims,
            init_std=init_std, momentum_mean=cfg.momentum_mean, momentum_std=cfg.momentum_std,
            generator=self._generator,
        )
        self.last_energies = out.energies
        return out.actions

    @torch.no_grad()
    def predict_action_chunk(self, observation: dict[str, Any]) -> torch.Tensor:
        """Plan from the observation; returns the whole plan `(B, horizon, action_dim)`."""
        images, states, goal_images = self._read_observation(observation)
        if goal_images is not None:
            self.set_goal(goal_images[:1])
        if self._goals is None:
            raise ValueError("no goal: call `set_goal(image)` or pass 'observation.images.goal' in the observation")
        if states.ndim == 1:
            states = states[None]
        if states.shape != (len(images), self.world_model.config.state_dim):
            raise ValueError(
                f"the state must have shape (batch_size={len(images)}, state_dim={self.world_model.config.state_dim}), "
                f"got {tuple(states.shape)}"
            )
        z = self.world_model.encode_images(images)  # (B, N, D)
        states = states.to(z.device)
        self._advance_goal(z[0])
        goal = self._goals[self._goal_index]
        plans = []
        t0 = time.perf_counter()
        for b in range(len(images)):
            plans.append(self._plan(z[b], states[b], goal))
        self.planning_times.append(time.perf_counter() - t0)
        self._steps_on_goal += 1
        return torch.stack(plans)

    @torch.no_grad()
    def select_action(self, observation: dict[str, Any]) -> torch.Tensor:
        """MPC: plan from the current observation and return the first action, `(B, action_dim)`."""
        return self.predict_action_chunk(observation)[:, 0]

    def forward(self, batch: dict[str, Any]):
        raise NotImplementedError(
            "VJEPA2ACPolicy plans with a trained world model; train the predictor with `vjepa2-hf train-ac`"
        )

    def config_dict(self) -> dict[str, Any]:
        return asdict(self.config)

    # ------------------------------------------------------------------ save / load / Hub
    def save_pretrained(self, save_directory: str | os.PathLike, **kwargs) -> Path:
        """Write the world model (`config.json`, `model.safetensors`; `kwargs` go to its `save_pretrained`) and
        `policy_config.json` into `save_directory`; returns the folder."""
        root = self.world_model.save_pretrained(save_directory, **kwargs)
        self.config.save_pretrained(root)
        return root

    @classmethod
    def from_pretrained(
        cls,
        pretrained_name_or_path: str | os.PathLike,
        config: VJEPA2ACPolicyConfig | None = None,
        revision: str | None = None,
        cache_dir: str | os.PathLike | None = None,
        token: str | bool | None = None,
        **world_model_kwargs,
    ) -> "VJEPA2ACPolicy":
        """Load a policy from a folder of `save_pretrained` or a Hub repo id.

        Args:
            config ([`VJEPA2ACPolicyConfig`], *optional*): planner settings replacing the saved ones.
            world_model_kwargs: passed to `VJEPA2WorldModel.from_pretrained` (`dtype`, `attn_implementation`, ...).
        """
        from .world_model import VJEPA2WorldModel

        root = Path(pretrained_name_or_path)
        if not root.is_dir():
            from huggingface_hub import snapshot_download

            root = Path(snapshot_download(str(pretrained_name_or_path), revision=revision, cache_dir=cache_dir,
                                          token=token))
        config = config or VJEPA2ACPolicyConfig.from_pretrained(root)
        return cls(VJEPA2WorldModel.from_pretrained(root, **world_model_kwargs), config)

    def push_to_hub(
        self,
        repo_id: str,
        commit_message: str = "Upload VJEPA2ACPolicy",
        private: bool | None = None,
        token: str | None = None,
        revision: str | None = None,
        create_pr: bool = False,
    ):
        """Upload the `save_pretrained` folder to the Hub repo `repo_id` (created if needed); returns the commit."""
        from huggingface_hub import HfApi

        api = HfApi(token=token)
        repo_id = api.create_repo(repo_id, private=private, exist_ok=True).repo_id
        with tempfile.TemporaryDirectory() as tmp:
            self.save_pretrained(tmp)
            return api.upload_folder(repo_id=repo_id, folder_path=tmp, commit_message=commit_message,
                                     revision=revision, create_pr=create_pr)


__all__ = ["VJEPA2ACPolicy", "VJEPA2ACPolicyConfig"]
