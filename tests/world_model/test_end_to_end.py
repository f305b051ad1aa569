"""End to end: collect random trajectories, train a small AC predictor on a frozen tiny encoder, plan to goal
images with CEM/MPC, and beat random actions (reduced seeded setting; `scripts/plan_reaching.py` gives the full
numbers)."""

from __future__ import annotations

from vjepa2_hf.workflows.reaching import ReachingExperimentConfig, run_reaching_experiment


def test_plan_to_goal_images_beats_random(tmp_path):
    from vjepa2_hf.cli import main

    report = run_reaching_experiment(
        ReachingExperimentConfig(
            output_dir=str(tmp_path), image_size=32, episodes=120, episode_length=8, train_steps=150,
            batch_size=16, eval_episodes=12, samples=100, iterations=4, topk=10, max_steps=20, seed=0,
            progress_bar=False,
        )
    )
    # `vjepa2-hf plan --model` on the trained model
    assert main(["plan", "--model", str(tmp_path / "train" / "final"), "--output-dir", str(tmp_path / "plan"),
                 "--image-size", "32", "--eval-episodes", "2", "--samples", "40", "--iterations", "2"]) == 0
    # the energy landscape of the trained model has its minimum at the action that produced the goal frame
    import numpy as np

    from vjepa2_hf.world_model import ReachEnv, VJEPA2WorldModel, energy_landscape

    wm = VJEPA2WorldModel.from_pretrained(tmp_path / "train" / "final")
    env = ReachEnv(image_size=32)
    true_action = np.array([0.05, -0.1], dtype=np.float32)
    land = energy_landscape(wm, env.render_state([0.4, 0.6]), [0.4, 0.6], env.render_state([0.45, 0.5]),
                            grid_values=np.linspace(-0.1, 0.1, 5), grid_dims=(0, 1))
    assert np.abs(land["argmin_action"] - true_action).max() <= 0.05 + 1e-6, land["argmin_action"]
    rates = report["planning"]["success_rate"]
    print(f"success rate: {rates}, planning {report['planning']['planning_seconds_per_action'] * 1000:.1f} ms/action")
    val = report["offline_validation"]["action_energy"]
    assert val["true_below_random_fraction"] > 0.8  # the true action has a lower energy than random ones
    pe = report["offline_validation"]["prediction_error"]
    assert pe["model_l1"][0] < pe["copy_last_frame_l1"][0]
    assert rates["oracle"] == 1.0
    assert rates["random"] <= 0.35
    assert rates["vjepa2_ac_cem"] >= 0.7


def test_plan_command_energy_landscape(tmp_path, franka_npz, capsys):
    import json

    from vjepa2_hf.cli import main

    assert main(["plan", "--energy-landscape", franka_npz, "--output-dir", str(tmp_path)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["random_model"] is True and (tmp_path / "energy_landscape.png").stat().st_size > 5000
