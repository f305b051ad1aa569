"""`vjepa2-hf train-ac`: losses (official fixed indexing), loss decrease, exact resume, bf16, feature cache."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import yaml

from vjepa2_hf.world_model.environment import ReachEnv, collect_random_episodes
from vjepa2_hf.world_model.training_vjepa2_ac import TrainACConfig, load_train_ac_config, train_ac
from vjepa2_hf.world_model.trajectories import save_episodes
from vjepa2_hf.world_model.world_model import VJEPA2WorldModel, ac_training_losses


@pytest.fixture(scope="module")
def reach_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("reach")
    env = ReachEnv(image_size=32)
    save_episodes(root / "data", collect_random_episodes(env, 24, 6, seed=0), fps=4, pose_format="euclidean")
    return root / "data"


def _config(data, out, **opt) -> dict:
    return {
        "model": {"encoder": "tiny", "encoder_overrides": {"crop_size": 32}, "predictor_preset": "tiny",
                  "predictor_overrides": {"action_dim": 2, "state_dim": 2}, "state_update": "additive"},
        "data": {"path": str(data), "num_frames": 4, "pose_format": "euclidean", "held_out_fraction": 0.2},
        "optimization": {"total_steps": 12, "batch_size": 8, "warmup_steps": 2, "cooldown_steps": 2,
                         "start_lr": 1e-4, "lr": 1e-3, "mixed_precision": "no", **opt},
        "run": {"output_dir": str(out), "seed": 0, "save_every": 4, "keep_last": 5, "progress_bar": False},
    }


def test_losses_use_the_fixed_rollout_indexing():
    """Rollout seeded with [z_0, ẑ_1] (commit 93366fe), compared with frames 1..auto_steps."""
    calls = []

    def predict(z, a, s, e):  # records its inputs; 'predicts' z + 1
        calls.append((z.clone(), a.shape[1], s.shape[1]))
        return z + 1.0

    h = torch.arange(5.0).view(1, 5, 1, 1).expand(1, 5, 2, 3).contiguous()
    out = ac_training_losses(predict, h, torch.zeros(1, 4, 2), torch.zeros(1, 5, 2), auto_steps=3)
    # teacher forcing sees frames 0..3; rollout step 1 sees [z_0, ẑ_1 = z_0 + 1] with 2 actions and states
    assert calls[0][1:] == (4, 4) and torch.equal(calls[1][0][0, :, 0, 0], torch.tensor([0.0, 1.0]))
    assert calls[1][1:] == (2, 2) and calls[2][1:] == (3, 3)
    assert torch.equal(calls[2][0][0, :, 0, 0], torch.tensor([0.0, 1.0, 2.0]))
    assert out.teacher_forcing_loss.item() == 0.0 and out.rollout_loss.item() == 0.0
    with pytest.raises(ValueError, match="auto_steps"):
        ac_training_losses(predict, h, torch.zeros(1, 4, 2), torch.zeros(1, 5, 2), auto_steps=5)
    with pytest.raises(ValueError, match="`actions` must have shape"):
        ac_training_losses(predict, h, torch.zeros(1, 5, 2), torch.zeros(1, 5, 2))


def test_cli_training_reduces_the_loss_and_writes_outputs(tmp_path, reach_data):
    from vjepa2_hf.cli import main

    cfg = _config(reach_data, tmp_path / "run", total_steps=60)
    path = tmp_path / "ac.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert main(["train-ac", "--config", str(path)]) == 0
    out = tmp_path / "run"
    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert len(log) == 60
    first, last = np.mean([r["loss"] for r in log[:5]]), np.mean([r["loss"] for r in log[-5:]])
    print(f"train-ac loss {first:.3f} -> {last:.3f}")
    assert last < 0.6 * first
    # warmup-constant-decay learning rate: linear warmup, constant, linear decay to final_lr 0
    lrs = [r["lr"] for r in log]
    assert lrs[0] < lrs[1] == pytest.approx(1e-3) == lrs[30] and lrs[-1] == 0.0
    assert (out / "loss.png").stat().st_size > 1000
    summary = json.loads((out / "summary.json").read_text())
    val = summary["validation"]
    assert len(val["prediction_error"]["model_l1"]) == 3
    model = VJEPA2WorldModel.from_pretrained(out / "final")
    assert model.config.action_dim == 2 and model.state_update_name == "additive"
    # the folder describes its training input: the windows' frame count and the frames' resolution
    assert model.config.num_frames == cfg["data"]["num_frames"]
    assert model.config.frame_processor["crop_size"] == model.config.encoder_config.crop_size
    saved = sorted(p.name for p in (out / "checkpoints").iterdir())
    assert saved == [f"step_{s:08d}" for s in (44, 48, 52, 56, 60)]  # every 4 steps, keep_last 5


def test_exact_resume(tmp_path, reach_data):
    straight = TrainACConfig.from_dict(_config(reach_data, tmp_path / "a"))
    train_ac(straight)
    split = TrainACConfig.from_dict(_config(reach_data, tmp_path / "b"))
    train_ac(split, stop_after=6)  # interrupted after step 6; last checkpoint at step 4
    assert not (tmp_path / "b" / "final").exists()
    train_ac(split)  # resumes from step 4
    a = VJEPA2WorldModel.from_pretrained(tmp_path / "a" / "final").predictor.state_dict()
    b = VJEPA2WorldModel.from_pretrained(tmp_path / "b" / "final").predictor.state_dict()
    diff = max((a[k] - b[k]).abs().max().item() for k in a)
    print(f"resumed vs uninterrupted predictor weights: max abs diff {diff:.1e}")
    assert diff == 0.0
    log_a = [json.loads(x)["loss"] for x in (tmp_path / "a" / "train_log.jsonl").read_text().splitlines()]
    log_b = [json.loads(x)["loss"] for x in (tmp_path / "b" / "train_log.jsonl").read_text().splitlines()]
    assert log_a == log_b


def test_bf16_and_uncached_features(tmp_path, reach_data):
    cfg = _config(reach_data, tmp_path / "bf16", total_steps=4, mixed_precision="bf16")
    cfg["data"]["cache_features"] = False
    summary = train_ac(TrainACConfig.from_dict(cfg))
    assert np.isfinite(summary["final_loss"])
    assert not (tmp_path / "bf16" / "features").exists()


def test_example_configs_parse():
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "examples"
    reach = load_train_ac_config(root / "train_ac_reach.yaml")
    droid = load_train_ac_config(root / "train_ac_droid_vitg.yaml", ["optimization.batch_size=4"])
    assert reach.model.predictor_overrides["action_dim"] == 2
    assert (droid.optimization.total_steps, droid.optimization.warmup_steps, droid.optimization.lr) == (94500, 4500, 4.25e-4)
    assert droid.optimization.batch_size == 4 and droid.data.crop_aspect == 1.35


def test_config_errors(tmp_path, reach_data):
    with pytest.raises(ValueError, match="unknown key"):
        TrainACConfig.from_dict({"data": {"path": "x", "bogus": 1}})
    with pytest.raises(ValueError, match="`data` section"):
        TrainACConfig.from_dict({})
    with pytest.raises(FileNotFoundError):
        load_train_ac_config(tmp_path / "none.yaml")
    bad = _config(reach_data, tmp_path / "bad")
    bad["model"]["predictor_overrides"] = {"action_dim": 3, "state_dim": 2}
    with pytest.raises(ValueError, match="action_dim=3"):
        train_ac(TrainACConfig.from_dict(bad))
