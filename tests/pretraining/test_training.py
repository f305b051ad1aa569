"""The Accelerate pretraining loop on tiny recipes: learning, artifacts, exact resume, faults, accumulation,
progressive resolution, mixing of video-file and in-memory sources, bf16 + activation checkpointing, CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import yaml
from safetensors.torch import load_file

from vjepa2_hf import cli
from vjepa2_hf.encoder.configuration_vjepa2 import VJEPA2Config
from vjepa2_hf.encoder.modeling_vjepa2 import VJEPA2Model
from vjepa2_hf.pretraining import CorruptCheckpointError, NonFiniteLossError, VJEPA2ForPretraining, pretrain
from vjepa2_hf.training.checkpointing import find_last_checkpoint, verify_checkpoint
from vjepa2_hf.pretraining.configuration_pretraining import ModelArguments, load_pretraining_config
from vjepa2_hf.pretraining.data import GlobalBatchSampler
from vjepa2_hf.pretraining.initialization import build_pretraining_model
from vjepa2_hf.pretraining.masking import MultiBlockMaskCollator
from vjepa2_hf.pretraining.optimization import build_param_groups

from .conftest import tiny_run_config


def _losses(result):
    return np.array([h["loss"] for h in result.history])


def test_tiny_run_learns_and_writes_its_artifacts(tmp_path):
    config = tiny_run_config(tmp_path, optimization={"total_steps": 10}, run={"report_to": ["tensorboard"]})
    result = pretrain(config)
    losses = _losses(result)
    assert result.step == 10 and len(losses) == 10 and np.isfinite(losses).all()
    assert losses[-3:].mean() < 0.85 * losses[0], losses
    assert all(h["target_std"] > 0.05 for h in result.history)  # no collapse, and it is logged
    assert [h["lr"] for h in result.history][:3] == pytest.approx([6e-4, 1e-3, 1e-3])  # warmup 2 from 2e-4
    assert (tmp_path / "loss_curve.png").stat().st_size > 1000
    assert len((tmp_path / "metrics.jsonl").read_text().splitlines()) == 10
    assert list((tmp_path / "logs").rglob("events.out.tfevents.*"))
    assert yaml.safe_load((tmp_path / "pretraining_config.yaml").read_text())["optimization"]["total_steps"] == 10
    final = VJEPA2Model.from_pretrained(result.final_model_dir)
    weights = load_file(str(find_last_checkpoint(tmp_path) / "model.safetensors"))
    for name, value in final.encoder.state_dict().items():
        assert torch.equal(value, weights["encoder." + name]), name  # exported context encoder = last state


def test_interrupted_run_resumes_exactly(tmp_path):
    reference = pretrain(tiny_run_config(tmp_path / "a"))

    def crash(step, metrics, model):
        if step == 5:
            raise KeyboardInterrupt("simulated kill")

    with pytest.raises(KeyboardInterrupt):
        pretrain(tiny_run_config(tmp_path / "b"), callbacks=[crash])
    last = find_last_checkpoint(tmp_path / "b")
    assert last.name == "step_00000004"  # the run lost only the step after its last checkpoint
    resumed = pretrain(tiny_run_config(tmp_path / "b"), resume=True)
    assert resumed.step == 6 and [h["step"] for h in resumed.history] == list(range(1, 7))
    np.testing.assert_allclose(_losses(resumed), _losses(reference), rtol=0, atol=1e-6)
    a = load_file(str(find_last_checkpoint(tmp_path / "a") / "model.safetensors"))
    b = load_file(str(find_last_checkpoint(tmp_path / "b") / "model.safetensors"))
    assert max(float((a[k] - b[k]).abs().max()) for k in a) < 1e-6  # encoder, predictor and EMA target
    assert len((tmp_path / "b" / "metrics.jsonl").read_text().splitlines()) == 6


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    original = VJEPA2ForPretraining.forward
    calls = {"n": 0}

    def forward(self, *args, **kwargs):
        out = original(self, *args, **kwargs)
        calls["n"] += 1
        if calls["n"] >= 3:
            out.loss = out.loss * float("nan")
        return out

    monkeypatch.setattr(VJEPA2ForPretraining, "forward", forward)
    with pytest.raises(NonFiniteLossError, match=r"non-finite loss \(nan\) at step 3.*step_00000002"):
        pretrain(tiny_run_config(tmp_path))
    assert find_last_checkpoint(tmp_path).name == "step_00000002"
    verify_checkpoint(find_last_checkpoint(tmp_path))
    assert not (tmp_path / "final").exists()


def test_truncated_checkpoint_is_refused_on_resume(tmp_path, capsys):
    config_file = tmp_path / "recipe.yaml"
    config_file.write_text(yaml.safe_dump(tiny_run_config(tmp_path / "run", optimization={"total_steps": 2})))
    assert cli.main(["pretrain", "--config", str(config_file)]) == 0
    optimizer_file = find_last_checkpoint(tmp_path / "run") / "optimizer.safetensors"
    optimizer_file.write_bytes(optimizer_file.read_bytes()[:100])
    with pytest.raises(CorruptCheckpointError, match="optimizer.safetensors.*truncated"):
        pretrain(str(config_file), resume=True)
    assert cli.main(["pretrain", "--config", str(config_file), "--resume"]) == 1
    assert "truncated" in capsys.readouterr().err


def test_gradient_accumulation_matches_one_big_batch(tmp_path):
    overrides = {"total_steps": 3, "global_batch_size": 4}
    whole = pretrain(tiny_run_config(tmp_path / "a", optimization=overrides))
    accumulated = pretrain(tiny_run_config(tmp_path / "b", optimization={**overrides, "micro_batch_size": 2}))
    np.testing.assert_allclose(_losses(accumulated), _losses(whole), rtol=0, atol=1e-5)
    a = load_file(str(find_last_checkpoint(tmp_path / "a") / "model.safetensors"))
    b = load_file(str(find_last_checkpoint(tmp_path / "b") / "model.safetensors"))
    assert max(float((a[k] - b[k]).abs().max()) for k in a) < 1e-5


def test_progressive_resolution_continues_with_the_optimizer_state(tmp_path):
    first = pretrain(tiny_run_config(tmp_path / "p1", optimization={"total_steps": 2}))
    checkpoint = first.last_checkpoint
    model, loader = build_pretraining_model(ModelArguments(preset="tiny", init_from=str(checkpoint),
                                                           init_optimizer=True))
    weights = load_file(str(checkpoint / "model.safetensors"))
    assert all(torch.equal(model.state_dict()[k], v) for k, v in weights.items())
    groups = build_param_groups(model, 0.04)
    state = loader(groups)
    saved = load_file(str(checkpoint / "optimizer.safetensors"))
    first_name = next(n for n, p in model.named_parameters() if p is groups[0]["params"][0])
    assert torch.equal(state["state"][0]["exp_avg"], saved[f"optimizer/state/{first_name}/exp_avg"])
    optimizer = torch.optim.AdamW(groups)
    optimizer.load_state_dict(state)
    assert float(optimizer.state[groups[0]["params"][0]]["step"]) == 2.0

    cooldown = tiny_run_config(
        tmp_path / "p2",
        model={"preset": "tiny", "init_from": str(checkpoint), "init_optimizer": True},
        data={"sources": [{"type": "synthetic", "num_clips": 16}], "frames_per_clip": 8, "crop_size": 64},
        optimization={"total_steps": 2, "warmup_steps": 0, "cooldown_steps": 2, "lr": 1e-3, "final_lr": 1e-6},
    )
    second = pretrain(cooldown)
    assert second.step == 2 and np.isfinite(_losses(second)).all()
    assert [h["lr"] for h in second.history] == pytest.approx([1e-3 + 0.5 * (1e-6 - 1e-3), 1e-6])


def test_weighted_mixing_of_video_files_and_in_memory_clips(tmp_path):
    from vjepa2_hf.video.synthetic import generate_motion_dataset

    sampler = GlobalBatchSampler([10, 1000], [0.25, 0.75], 8, 8, seed=0, total_steps=300)
    sources = np.array([s for step in range(300) for s, _ in sampler.global_batch(step)])
    assert abs((sources == 1).mean() - 0.75) < 0.03

    folder = generate_motion_dataset(tmp_path / "synth", 6, num_frames=8, size=32, fps=8, held_out_fraction=0.0)
    config = tiny_run_config(
        tmp_path / "run",
        data={
            "sources": [
                {"type": "videos", "path": folder, "weight": 0.5, "fps": 4},
                {"type": "synthetic", "num_clips": 16, "weight": 0.5},
            ],
            "frames_per_clip": 4,
            "crop_size": 32,
        },
        optimization={"total_steps": 2, "global_batch_size": 4, "mixed_precision": "bf16"},
        model={"preset": "tiny", "gradient_checkpointing": True},
    )
    result = pretrain(config)
    assert result.step == 2 and np.isfinite(_losses(result)).all()


def test_gradient_checkpointing_changes_nothing_numerically():
    torch.manual_seed(0)
    plain = VJEPA2ForPretraining(VJEPA2Config.from_preset("tiny"))
    checkpointed = VJEPA2ForPretraining(plain.config)
    checkpointed.load_state_dict(plain.state_dict())
    checkpointed.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
    plain.train(), checkpointed.train()
    torch.manual_seed(1)
    batch = MultiBlockMaskCollator(patch_size=8)([torch.randn(4, 3, 32, 32) for _ in range(2)])
    losses = []
    for model in (plain, checkpointed):
        out = model(batch.pixel_values_videos, batch.context_masks, batch.target_masks)
        out.loss.backward()
        losses.append(out.loss.detach())
    torch.testing.assert_close(losses[0], losses[1])
    for (name, a), (_, b) in zip(plain.named_parameters(), checkpointed.named_parameters()):
        if a.grad is not None:
            torch.testing.assert_close(a.grad, b.grad, msg=name)


def test_collapse_monitor_can_stop_a_run(tmp_path):
    config = tiny_run_config(tmp_path, run={"collapse_std_floor": 100.0, "stop_on_collapse": True})
    result = pretrain(config)
    assert result.stopped == "collapse" and result.step == 1
    assert result.final_model_dir is None and find_last_checkpoint(tmp_path).name == "step_00000001"


def test_config_errors_and_presets(tmp_path, capsys):
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['learning_rate'\] in `optimization`"):
        load_pretraining_config(tiny_run_config(tmp_path, optimization={"learning_rate": 1.0}))
    with pytest.raises(ValueError, match="must be a multiple of micro_batch_size"):
        load_pretraining_config(tiny_run_config(tmp_path, optimization={"micro_batch_size": 3})).optimization \
            .accumulation_steps(1)
    with pytest.raises(FileNotFoundError, match="neither a file nor a preset"):
        load_pretraining_config("no_such_recipe")
    config = load_pretraining_config("vit_large_pretrain", ["optimization.total_steps=50000", "data.sources.0.weight=1"])
    assert config.optimization.total_steps == 50000 and config.data.sources[0].weight == 1.0
    assert cli.main(["pretrain", "--list-presets"]) == 0
    listed = capsys.readouterr().out.split()
    assert {"tiny", "vit_large_pretrain", "vit_large_cooldown", "vit_giant_cooldown_384"} <= set(listed)
    assert cli.main(["pretrain", "--config", "tiny", "--set", "optimization.mixed_precision=fp8"]) == 2
    assert "mixed_precision" in capsys.readouterr().err
    cooldown = load_pretraining_config("vit_large_cooldown")
    assert cooldown.model.init_optimizer and cooldown.data.frames_per_clip == 64
    assert cooldown.optimization.final_lr == 1e-6 and cooldown.optimization.cooldown_steps == 12000
    assert json.loads(json.dumps(cooldown.to_dict()))["masks"][1]["num_blocks"] == 2


def test_push_to_hub_sends_the_exported_model(tmp_path, monkeypatch):
    pushed = []
    monkeypatch.setattr(VJEPA2Model, "push_to_hub", lambda self, repo_id, **kw: pushed.append((repo_id, kw, self)))
    config = tiny_run_config(tmp_path, optimization={"total_steps": 1, "warmup_steps": 0},
                             run={"push_to_hub": True, "hub_model_id": "me/vjepa2-tiny", "export_encoder":
                                  "target_encoder"})
    result = pretrain(config)
    assert len(pushed) == 1 and pushed[0][0] == "me/vjepa2-tiny" and pushed[0][1]["private"] is True
    weights = load_file(str(result.last_checkpoint / "model.safetensors"))
    for name, value in pushed[0][2].encoder.state_dict().items():
        assert torch.equal(value, weights["target_encoder." + name]), name
    with pytest.raises(ValueError, match="needs `run.hub_model_id`"):
        load_pretraining_config(tiny_run_config(tmp_path, run={"push_to_hub": True}))


def test_freeze_encoder_trains_the_predictor_only(tmp_path):
    config = tiny_run_config(tmp_path, model={"preset": "tiny", "freeze_encoder": True}, optimization={"total_steps": 10})
    torch.manual_seed(0)
    initial = VJEPA2ForPretraining(VJEPA2Config.from_preset("tiny"))  # run.seed 0: the run's own initialisation
    result = pretrain(config)
    losses = _losses(result)
    assert losses[-3:].mean() < 0.85 * losses[0], losses
    weights = load_file(str(find_last_checkpoint(tmp_path) / "model.safetensors"))
    for name, value in initial.encoder.state_dict().items():
        assert torch.equal(weights["encoder." + name], value), name  # frozen: bit-identical to the start
        assert torch.equal(weights["target_encoder." + name], value), name  # the EMA of a constant is the constant
    moved = max((weights["predictor." + n] - v).abs().max().item() for n, v in initial.predictor.state_dict().items())
    assert moved > 1e-3


def test_freeze_encoder_refuses_an_optimizer_state_to_load():
    with pytest.raises(ValueError, match="freeze_encoder"):
        pretrain({"model": {"preset": "tiny", "freeze_encoder": True, "init_from": "x.pt", "init_optimizer": True}})
