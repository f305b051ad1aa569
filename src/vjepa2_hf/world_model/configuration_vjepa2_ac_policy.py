"""Configuration of [`VJEPA2ACPolicy`], saved as `policy_config.json` beside the world model (LeRobot's convention: a
policy folder holds its config and its weights)."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

POLICY_CONFIG_NAME = "policy_config.json"


@dataclass
class VJEPA2ACPolicyConfig:
    """Planner settings of [`VJEPA2ACPolicy`].

    Args:
        planner (`str`, defaults to "cem"): ``"cem"`` (generic, constraint below) or ``"official"`` (the official
            Franka planner, `official_cem`, 7-D actions only).
        horizon, num_samples, iterations, topk: CEM sizes (paper: 1, 800, 10, 10).
        constraint (`str`, defaults to "l1"): ``"l1"`` (each action in an L1 ball of `l1_radius`, the paper) or
            ``"box"`` (per-coordinate `[action_low, action_high]`).
        l1_radius (`float`, defaults to 0.075): the paper's radius.
        action_low, action_high: box bounds (scalars or one per free dim).
        free_dims (`list[int]`, *optional*): optimised action dims (others 0); None = all.
        init_std (`float`): initial sampling std (None: `l1_radius` or half the box width).
        momentum_mean, momentum_std: CEM momenta.
        official_kwargs (`dict`): extra arguments of `official_cem` (maxnorm, momenta, close_gripper, ...).
        use_cache (`bool`, defaults to True): KV-cached rollouts.
        seed (`int`, *optional*): seed of the planner's RNG (reset by `reset()`), for reproducible episodes.
        subgoal_switch_energy (`float`, *optional*): move to the next subgoal early when the current frame's energy
            to it falls below this value.

    Saved as `policy_config.json` beside the world model (`save_pretrained` / `from_pretrained`), as LeRobot saves
    a policy's config beside its weights (with a `"type"` key naming the policy).
    """

    type = "vjepa2_ac"  # class attribute, not a field: LeRobot's policy name

    planner: str = "cem"
    horizon: int = 1
    num_samples: int = 800
    iterations: int = 10
    topk: int = 10
    constraint: str = "l1"
    l1_radius: float = 0.075
    action_low: float | list[float] = -0.075
    action_high: float | list[float] = 0.075
    free_dims: list[int] | None = None
    init_std: float | None = None
    momentum_mean: float = 0.0
    momentum_std: float = 0.0
    official_kwargs: dict[str, Any] = field(default_factory=dict)
    use_cache: bool = True
    seed: int | None = 0
    subgoal_switch_energy: float | None = None

    def __post_init__(self) -> None:
        if self.planner not in ("cem", "official"):
            raise ValueError(f"`planner` must be 'cem' or 'official', got {self.planner!r}")
        if self.constraint not in ("l1", "box"):
            raise ValueError(f"`constraint` must be 'l1' or 'box', got {self.constraint!r}")

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, **asdict(self)}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "VJEPA2ACPolicyConfig":
        values = dict(values)
        kind = values.pop("type", cls.type)
        if kind != cls.type:
            raise ValueError(f"policy config of type {kind!r} given to {cls.__name__} (type {cls.type!r})")
        unknown = sorted(set(values) - {f.name for f in fields(cls)})
        if unknown:
            raise ValueError(f"unknown {cls.__name__} fields {unknown}; expected among {[f.name for f in fields(cls)]}")
        return cls(**values)

    def save_pretrained(self, save_directory: str | os.PathLike) -> Path:
        """Write `policy_config.json` into `save_directory` (atomically); returns its path."""
        path = Path(save_directory) / POLICY_CONFIG_NAME
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n")
        os.replace(tmp, path)
        return path

    @classmethod
    def from_pretrained(cls, directory: str | os.PathLike) -> "VJEPA2ACPolicyConfig":
        """Read the `policy_config.json` of a folder written by `save_pretrained`."""
        path = Path(directory) / POLICY_CONFIG_NAME
        if not path.is_file():
            raise FileNotFoundError(f"{directory} holds no {POLICY_CONFIG_NAME} (not a VJEPA2ACPolicy folder)")
        return cls.from_dict(json.loads(path.read_text()))


__all__ = ["POLICY_CONFIG_NAME", "VJEPA2ACPolicyConfig"]
