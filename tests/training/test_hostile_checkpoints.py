"""Hostile checkpoints and run folders, as an attacker or a careless user would leave them: a pickle planted in a
checkpoint never runs on any resume path (pretrain --resume, train-ac's automatic resume, probe
--resume_from_checkpoint, train-vlm), and a run never adopts, prunes or continues another run's state."""

from __future__ import annotations

import hashlib
import json
import pickle

import pytest
import torch
import yaml
from safetensors.torch import load_file

from vjepa2_hf.cli import main
from vjepa2_hf.training.checkpointing import find_last_checkpoint, list_checkpoints

from ..pretraining.conftest import tiny_run_config

# every pickle Accelerate's `load_state` reads; `custom_checkpoint_*.pkl` with weights_only=False
ACCELERATE_PICKLES = ("custom_checkpoint_0.pkl", "custom_checkpoint_1.pkl")


class Payload:
    """Unpickling this object creates the file `marker` (what a real payload would do: run any code)."""

    def __init__(self, marker) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def plant(folder, names, marker, rewrite_manifest: bool = True) -> None:
    """Write a payload under each of `names`, then rewrite the manifest's sizes and sha256 as an attacker would."""
    for name in names:
        if name.startswith("."):  # a raw pickle (torch.save cannot name an archive ".metadata")
            (folder / name).write_bytes(pickle.dumps({"state": Payload(marker)}))
        else:
            torch.save({"state": Payload(marker)}, folder / name)
    if rewrite_manifest and (folder / "manifest.json").is_file():
        manifest = json.loads((folder / "manifest.json").read_text())
        manifest["files"] = {
            p.name: {"size": p.stat().st_size, "sha256": hashlib.sha256(p.read_bytes()).hexdigest()}
            for p in sorted(folder.iterdir()) if p.is_file() and p.name != "manifest.json"
        }
        (folder / "manifest.json").write_text(json.dumps(manifest))


def _pretrain_config(tmp_path, name: str = "recipe.yaml", **sections):
    config = tiny_run_config(tmp_path / "run", **{"optimization": {"total_steps": 2}, **sections})
    path = tmp_path / name
    path.write_text(yaml.safe_dump(config))
    return str(path)


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


# ------------------------------------------------------------------------------------------ planted pickles


def test_pretrain_resume_never_unpickles_a_planted_payload(tmp_path):
    marker = tmp_path / "PAYLOAD_RAN"
    config = _pretrain_config(tmp_path)
    assert main(["pretrain", "--config", config]) == 0
    checkpoint = find_last_checkpoint(tmp_path / "run")
    plant(checkpoint, ACCELERATE_PICKLES, marker)
    code = main(["pretrain", "--config", config, "--resume", str(checkpoint)])
    assert not marker.exists()
    assert code == 0  # the planted files are ignored


def test_payload_in_the_formats_own_files_is_refused_in_one_line(tmp_path, capsys):
    marker = tmp_path / "PAYLOAD_RAN"
    config = _pretrain_config(tmp_path)
    assert main(["pretrain", "--config", config]) == 0
    checkpoint = find_last_checkpoint(tmp_path / "run")
    plant(checkpoint, ("random_states_0.pkl", "optimizer.bin", "scheduler.bin", "scaler.pt", "sampler.bin"), marker)
    for name in ("training_state.json", "optimizer.safetensors", "model.safetensors"):
        original = (checkpoint / name).read_bytes()
        plant(checkpoint, (name,), marker)
        capsys.readouterr()
        assert main(["pretrain", "--config", config, "--resume", str(checkpoint)]) == 2
        assert "vjepa2-hf pretrain: error:" in _one_line_error(capsys)
        assert not marker.exists()
        (checkpoint / name).write_bytes(original)
        plant(checkpoint, (), marker)  # manifest matching the restored file


@pytest.fixture(scope="module")
def reach_data(tmp_path_factory):
    from vjepa2_hf.world_model.environment import ReachEnv, collect_random_episodes
    from vjepa2_hf.world_model.trajectories import save_episodes

    root = tmp_path_factory.mktemp("reach")
    episodes = collect_random_episodes(ReachEnv(image_size=32), 8, 6, seed=0)
    save_episodes(root / "data", episodes, fps=4, pose_format="euclidean")
    return root / "data"


def _ac_config(tmp_path, data, seed: int = 0) -> str:
    config = {
        "model": {"encoder": "tiny", "encoder_overrides": {"crop_size": 32}, "predictor_preset": "tiny",
                  "predictor_overrides": {"action_dim": 2, "state_dim": 2}, "state_update": "additive"},
        "data": {"path": str(data), "num_frames": 4, "pose_format": "euclidean", "held_out_fraction": 0.25},
        "optimization": {"total_steps": 4, "batch_size": 4, "warmup_steps": 1, "cooldown_steps": 1,
                         "mixed_precision": "no"},
        "run": {"output_dir": str(tmp_path / "ac"), "seed": seed, "save_every": 2, "keep_last": 3,
                "progress_bar": False},
    }
    path = tmp_path / f"ac_{seed}.yaml"
    path.write_text(yaml.safe_dump(config))
    return str(path)


def test_train_ac_automatic_resume_never_unpickles_a_planted_payload(tmp_path, reach_data):
    marker = tmp_path / "PAYLOAD_RAN"
    config = _ac_config(tmp_path, reach_data)
    assert main(["train-ac", "--config", config]) == 0
    plant(find_last_checkpoint(tmp_path / "ac"), ACCELERATE_PICKLES[:1], marker)
    code = main(["train-ac", "--config", config])  # resumes from its output folder, ignoring the pickle
    assert not marker.exists()
    assert code == 0


# ------------------------------------------------------------------------------------------ run identity


def _checkpoint_bytes(output_dir) -> dict[str, bytes]:
    return {f"{p.parent.name}/{p.name}": p.read_bytes() for c in list_checkpoints(output_dir) for p in c.iterdir()}


def test_new_run_in_another_runs_folder_stops_and_leaves_it_untouched(tmp_path, capsys):
    config_a = _pretrain_config(tmp_path, optimization={"total_steps": 3}, run={"checkpoint_every": 1,
                                                                                 "keep_last_checkpoints": 3})
    assert main(["pretrain", "--config", config_a]) == 0
    before = _checkpoint_bytes(tmp_path / "run")
    config_b = _pretrain_config(tmp_path, "b.yaml", optimization={"total_steps": 3},
                                run={"seed": 1, "checkpoint_every": 1, "keep_last_checkpoints": 3})
    capsys.readouterr()
    assert main(["pretrain", "--config", config_b]) == 2
    line = _one_line_error(capsys)
    assert "holds another run" in line and "seed (0 -> 1)" in line and "--overwrite" in line
    assert main(["pretrain", "--config", config_b, "--resume"]) == 2  # continuing A's state as B: refused too
    line = _one_line_error(capsys)
    assert "cannot resume the run in" in line and "seed (0 -> 1)" in line
    assert main(["pretrain", "--config", config_b, "--resume", "--overwrite"]) == 2
    assert "pass one of them" in _one_line_error(capsys)
    assert _checkpoint_bytes(tmp_path / "run") == before  # A's checkpoints: same files, same bytes


def test_resume_with_another_recipe_names_the_fields(tmp_path, capsys):
    assert main(["pretrain", "--config", _pretrain_config(tmp_path)]) == 0
    changed = _pretrain_config(tmp_path, "c.yaml", optimization={"total_steps": 2, "lr": 2e-3})
    capsys.readouterr()
    assert main(["pretrain", "--config", changed, "--resume"]) == 2
    assert "recipe.optimization.lr (0.001 -> 0.002)" in _one_line_error(capsys)
    elsewhere = ["--output-dir", str(tmp_path / "new"), "--resume", str(find_last_checkpoint(tmp_path / "run"))]
    assert main(["pretrain", "--config", changed, *elsewhere]) == 2  # another run's checkpoint, into a new folder
    assert "cannot resume the run in" in _one_line_error(capsys) and not (tmp_path / "new").exists()
    # the same recipe resumes (and a rerun of the same run starts again in place)
    assert main(["pretrain", "--config", _pretrain_config(tmp_path), "--resume"]) == 0
    assert main(["pretrain", "--config", _pretrain_config(tmp_path)]) == 0


def test_overwrite_replaces_the_old_run_with_the_new_one(tmp_path):
    assert main(["pretrain", "--config", _pretrain_config(tmp_path)]) == 0
    config_b = _pretrain_config(tmp_path, "b.yaml", run={"seed": 1})
    assert main(["pretrain", "--config", config_b, "--overwrite"]) == 0
    assert json.loads((tmp_path / "run" / "run.json").read_text())["seed"] == 1
    assert [p.name for p in list_checkpoints(tmp_path / "run")] == ["step_00000002"]
    fresh = tiny_run_config(tmp_path / "fresh", optimization={"total_steps": 2}, run={"seed": 1})
    (tmp_path / "fresh.yaml").write_text(yaml.safe_dump(fresh))
    assert main(["pretrain", "--config", str(tmp_path / "fresh.yaml")]) == 0
    overwritten = load_file(str(tmp_path / "run" / "final" / "model.safetensors"))
    clean = load_file(str(tmp_path / "fresh" / "final" / "model.safetensors"))
    assert all(torch.equal(overwritten[k], clean[k]) for k in clean)  # B's model, not A's


def test_train_ac_does_not_resume_another_run(tmp_path, reach_data, capsys):
    assert main(["train-ac", "--config", _ac_config(tmp_path, reach_data)]) == 0
    before = _checkpoint_bytes(tmp_path / "ac")
    other = _ac_config(tmp_path, reach_data, seed=1)
    capsys.readouterr()
    assert main(["train-ac", "--config", other]) == 2
    line = _one_line_error(capsys)
    assert "cannot resume the run in" in line and "seed (0 -> 1)" in line and "--overwrite" in line
    assert _checkpoint_bytes(tmp_path / "ac") == before
    assert main(["train-ac", "--config", other, "--overwrite"]) == 0
    assert json.loads((tmp_path / "ac" / "run.json").read_text())["seed"] == 1


# ------------------------------------------------------------------------------------------ Trainer jobs


@pytest.fixture(scope="module")
def probe_data(tmp_path_factory):
    from vjepa2_hf.video.synthetic import generate_motion_dataset

    return generate_motion_dataset(tmp_path_factory.mktemp("probe"), 16, num_frames=8, size=64, seed=0,
                                   task="direction")


def _probe(data, out, *extra) -> int:
    return main(["probe", "--model", "tiny", "--data", str(data), "--output-dir", str(out), "--num_train_epochs", "2",
                 "--cache_features", "--frame_step", "1", "--no_do_resize", "--num_pooler_layers", "0", "--use_cpu",
                 "--disable_tqdm", "true", "--save_strategy", "epoch", "--per_device_train_batch_size", "4", *extra])


def test_probe_resumes_from_a_trainer_checkpoint_and_refuses_a_planted_payload(tmp_path, probe_data, capsys):
    import shutil

    from safetensors.torch import save_file

    assert _probe(probe_data, tmp_path / "a") == 0
    uninterrupted = load_file(str(tmp_path / "a" / "model.safetensors"))
    checkpoint = tmp_path / "checkpoint-2"  # after epoch 1 of 2
    shutil.copytree(tmp_path / "a" / "checkpoint-2", checkpoint)
    marker = tmp_path / "PAYLOAD_RAN"
    plant(checkpoint, ("training_args.bin",), marker)  # written by the Trainer, never read on resume
    assert _probe(probe_data, tmp_path / "b", "--resume_from_checkpoint", str(checkpoint)) == 0
    resumed = load_file(str(tmp_path / "b" / "model.safetensors"))
    diff = max(float((resumed[k] - uninterrupted[k]).abs().max()) for k in uninterrupted)
    assert diff < 1e-6, diff  # resumed after epoch 1 = uninterrupted
    assert not marker.exists()

    # the run continues with the checkpoint's weights, the (frozen) backbone's split q/k/v included
    shutil.copytree(checkpoint, tmp_path / "edited")
    weights = load_file(str(tmp_path / "edited" / "model.safetensors"))
    query = "vjepa2.encoder.layer.0.attention.query.weight"
    weights[query] = weights[query] + 1.0
    save_file(weights, str(tmp_path / "edited" / "model.safetensors"))
    assert _probe(probe_data, tmp_path / "c", "--resume_from_checkpoint", str(tmp_path / "edited")) == 0
    assert torch.equal(load_file(str(tmp_path / "c" / "model.safetensors"))[query], weights[query])

    for name in ("rng_state.pth", "optimizer.pt", "scheduler.pt"):
        planted = tmp_path / f"planted-{name}"
        shutil.copytree(checkpoint, planted)
        plant(planted, (name,), marker)
        capsys.readouterr()
        assert _probe(probe_data, tmp_path / "d", "--resume_from_checkpoint", str(planted)) == 2
        line = _one_line_error(capsys)
        assert f"{name} holds more than tensors" in line and "Unsupported global: GLOBAL io.open" in line, line
        assert not marker.exists()

    sharded = tmp_path / "planted-fsdp"  # an FSDP SHARDED_STATE_DICT checkpoint: DCP unpickles its .metadata
    shutil.copytree(checkpoint, sharded)
    (sharded / "pytorch_model_fsdp_0").mkdir()
    plant(sharded / "pytorch_model_fsdp_0", (".metadata",), marker)
    assert _probe(probe_data, tmp_path / "d", "--resume_from_checkpoint", str(sharded)) == 2
    assert "is a sharded torch.distributed.checkpoint folder" in _one_line_error(capsys)
    assert not marker.exists()


def test_train_vlm_refuses_a_trainer_checkpoint_it_would_ignore(tmp_path, capsys):
    """train-vlm has no resume: a `resume_from_checkpoint` is refused in one line, before anything is read (the
    `Trainer` used to ignore it silently and train from the start)."""
    from vjepa2_hf.vlm.synthetic_qa import make_motion_qa

    qa = make_motion_qa(tmp_path / "qa", 8, num_frames=4, size=32, held_out_fraction=0.25)
    marker = tmp_path / "PAYLOAD_RAN"
    checkpoint = tmp_path / "checkpoint-1"
    checkpoint.mkdir()
    (checkpoint / "trainer_state.json").write_text("{}")
    plant(checkpoint, ("rng_state.pth", "optimizer.pt", "scheduler.pt"), marker)
    tiny = {"tiny": {"num_frames": 4, "vision_overrides": {"crop_size": 32}, "seed": 0}}
    for where in ("training", "stage"):
        training = {"per_device_train_batch_size": 4, "use_cpu": True}
        stage = {"name": "s1", "train": ["projector"], "learning_rate": 1e-2, "max_steps": 1}
        (training if where == "training" else stage.setdefault("training_args", {}))["resume_from_checkpoint"] = str(
            checkpoint)
        config = {"output_dir": str(tmp_path / "vlm"), "model": tiny, "data": {"train": qa["train"]},
                  "training": training, "stages": [stage]}
        (tmp_path / "vlm.yaml").write_text(yaml.safe_dump(config))
        capsys.readouterr()
        assert main(["train-vlm", "--config", str(tmp_path / "vlm.yaml")]) == 2
        assert "resume_from_checkpoint`: train-vlm does not resume" in _one_line_error(capsys)
        assert not marker.exists() and not (tmp_path / "vlm" / "s1").exists()
