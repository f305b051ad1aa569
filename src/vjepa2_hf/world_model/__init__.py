"""V-JEPA 2-AC: the action-conditioned world model, its training on trajectories, and CEM/MPC planning."""

from .configuration_vjepa2_ac import AC_PRESETS, VJEPA2ACConfig
from .convert_vjepa2_ac_checkpoint import convert_vjepa2_ac_checkpoint, export_ac_to_official
from .environment import ReachEnv, collect_random_episodes
from .evaluation import (
    action_energy_ranking,
    energy_landscape,
    offline_validation,
    plot_energy_landscape,
    prediction_error_per_horizon,
    run_episodes,
)
from .modeling_vjepa2_ac import VJEPA2ACCache, VJEPA2ACPredictor, VJEPA2ACPredictorOutput, VJEPA2ACPreTrainedModel
from .planning import BoxConstraint, CEMOutput, L1BallConstraint, cem, l1_energy, official_cem, paper_cem
from .policy_vjepa2_ac import VJEPA2ACPolicy, VJEPA2ACPolicyConfig
from .poses import apply_additive_action, apply_franka_action, poses_to_actions
from .processing_vjepa2_ac import VJEPA2ACFrameProcessor
from .trajectories import TrajectoryWindowDataset, load_episodes, save_episodes, save_episodes_lerobot
from .world_model import VJEPA2RolloutOutput, VJEPA2WorldModel, VJEPA2WorldModelOutput

__all__ = [
    "AC_PRESETS",
    "BoxConstraint",
    "CEMOutput",
    "L1BallConstraint",
    "ReachEnv",
    "TrajectoryWindowDataset",
    "VJEPA2ACCache",
    "VJEPA2ACConfig",
    "VJEPA2ACFrameProcessor",
    "VJEPA2ACPolicy",
    "VJEPA2ACPolicyConfig",
    "VJEPA2ACPreTrainedModel",
    "VJEPA2ACPredictor",
    "VJEPA2ACPredictorOutput",
    "VJEPA2RolloutOutput",
    "VJEPA2WorldModel",
    "VJEPA2WorldModelOutput",
    "action_energy_ranking",
    "apply_additive_action",
    "apply_franka_action",
    "cem",
    "collect_random_episodes",
    "convert_vjepa2_ac_checkpoint",
    "energy_landscape",
    "export_ac_to_official",
    "l1_energy",
    "load_episodes",
    "offline_validation",
    "official_cem",
    "paper_cem",
    "plot_energy_landscape",
    "poses_to_actions",
    "prediction_error_per_horizon",
    "run_episodes",
    "save_episodes",
    "save_episodes_lerobot",
]
