"""V-JEPA 2-AC: the action-conditioned world model, its training on trajectories, and CEM/MPC planning."""

from ..lazy_imports import attach

# submodules are imported on first use of one of their names
_SUBMODULES = {
    "configuration_vjepa2_ac": ['AC_PRESETS', 'VJEPA2ACConfig'],
    "configuration_vjepa2_ac_policy": ['VJEPA2ACPolicyConfig'],
    "configuration_vjepa2_world_model": ['VJEPA2WorldModelConfig'],
    "convert_vjepa2_ac_checkpoint": ['convert_vjepa2_ac_checkpoint', 'export_ac_to_official'],
    "environment": ['ReachEnv', 'collect_random_episodes'],
    "evaluation": ['action_energy_ranking', 'energy_landscape', 'offline_validation', 'plot_energy_landscape', 'prediction_error_per_horizon', 'run_episodes'],
    "modeling_vjepa2_ac": ['VJEPA2ACCache', 'VJEPA2ACPreTrainedModel', 'VJEPA2ACPredictor', 'VJEPA2ACPredictorOutput'],
    "planning": ['BoxConstraint', 'CEMOutput', 'L1BallConstraint', 'cem', 'l1_energy', 'official_cem', 'paper_cem'],
    "policy_vjepa2_ac": ['VJEPA2ACPolicy'],
    "poses": ['apply_additive_action', 'apply_franka_action', 'poses_to_actions'],
    "processing_vjepa2_ac": ['VJEPA2ACFrameProcessor'],
    "trajectories": ['TrajectoryWindowDataset', 'load_episodes', 'save_episodes', 'save_episodes_lerobot'],
    "world_model": ['VJEPA2RolloutOutput', 'VJEPA2WorldModel', 'VJEPA2WorldModelOutput'],
}

__getattr__, __dir__ = attach(__name__, _SUBMODULES)

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
    "VJEPA2WorldModelConfig",
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
