"""What the launcher asks (`training/launch_environment.py`) and the one-line refusals of the `Trainer` jobs (`probe`,
`train-vlm`): DeepSpeed, FSDP, and a launcher mixed precision that contradicts the job's, each exit status 2 with one
line on stderr, before any model or data is read."""

from __future__ import annotations

import pytest
import yaml

from vjepa2_hf.cli import main as cli_main
from vjepa2_hf.training.launch_environment import (
    UnsupportedLaunchError,
    check_trainer_launch,
    needs_cpu_processes,
    requested_distributed_type,
    requested_mixed_precision,
    trainer_launch_arguments,
)

LAUNCH_VARIABLES = ("ACCELERATE_USE_DEEPSPEED", "ACCELERATE_USE_FSDP", "ACCELERATE_USE_MEGATRON_LM",
                    "ACCELERATE_MIXED_PRECISION", "WORLD_SIZE", "RANK")


@pytest.fixture(autouse=True)
def clean_launch_environment(monkeypatch):
    for name in LAUNCH_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def test_requests_read_from_the_launcher_environment(monkeypatch):
    assert requested_distributed_type() is None and requested_mixed_precision() is None
    monkeypatch.setenv("ACCELERATE_MIXED_PRECISION", "no")  # what `accelerate launch` sets by default
    assert requested_mixed_precision() is None
    monkeypatch.setenv("ACCELERATE_MIXED_PRECISION", "BF16")
    assert requested_mixed_precision() == "bf16"
    monkeypatch.setenv("ACCELERATE_USE_FSDP", "true")
    assert requested_distributed_type() == "FSDP"
    monkeypatch.setenv("ACCELERATE_USE_DEEPSPEED", "True")
    assert requested_distributed_type() == "DEEPSPEED"


def test_cpu_processes_get_use_cpu(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.accelerator, "is_available", lambda: False)
    assert trainer_launch_arguments("probe", {"output_dir": "x"}) == {"output_dir": "x"}
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert needs_cpu_processes()
    assert trainer_launch_arguments("probe", {"output_dir": "x"}) == {"output_dir": "x", "use_cpu": True}
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert not needs_cpu_processes()


def test_matching_precision_passes(monkeypatch):
    monkeypatch.setenv("ACCELERATE_MIXED_PRECISION", "bf16")
    check_trainer_launch("probe", {"bf16": True})
    with pytest.raises(UnsupportedLaunchError, match="fp32"):
        check_trainer_launch("probe", {"bf16": False})
    monkeypatch.setenv("ACCELERATE_MIXED_PRECISION", "no")
    check_trainer_launch("probe", {"bf16": True})  # accelerate's default is not a request


def _one_line_refusal(capsys, code: int, *words: str) -> str:
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1, err
    assert "Traceback" not in err and all(word in err for word in words), err
    return err


PROBE = ["probe", "--model", "tiny", "--data", "no-such-data", "--output-dir", "unused"]


@pytest.mark.parametrize(
    ("env", "options", "words"),
    [
        ({"ACCELERATE_USE_DEEPSPEED": "true"}, [], ("DeepSpeed", "ACCELERATE_USE_DEEPSPEED", "FSDP2")),
        ({}, ["--deepspeed", "ds_config.json"], ("DeepSpeed", "--deepspeed", "FSDP2")),
        ({"ACCELERATE_USE_FSDP": "true"}, [], ("does not run FSDP", "ACCELERATE_USE_FSDP")),
        ({}, ["--fsdp", "full_shard"], ("does not run FSDP", "--fsdp")),
        ({"ACCELERATE_MIXED_PRECISION": "bf16"}, [], ("mixed precision bf16", "fp32")),
        ({"ACCELERATE_MIXED_PRECISION": "fp16"}, ["--bf16", "true"], ("mixed precision fp16", "set to bf16")),
    ],
)
def test_probe_refuses_what_it_cannot_run(monkeypatch, capsys, env, options, words):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    _one_line_refusal(capsys, cli_main([*PROBE, *options]), "vjepa2-hf probe", *words)


@pytest.mark.parametrize(
    ("env", "training", "words"),
    [
        ({"ACCELERATE_USE_DEEPSPEED": "true"}, {}, ("DeepSpeed", "FSDP2")),
        ({}, {"deepspeed": "ds_config.json"}, ("DeepSpeed", "--deepspeed")),
        ({"ACCELERATE_USE_FSDP": "true"}, {}, ("does not run FSDP",)),
        ({}, {"fsdp": "full_shard"}, ("does not run FSDP",)),
        ({"ACCELERATE_MIXED_PRECISION": "bf16"}, {"bf16": False}, ("mixed precision bf16", "fp32")),
    ],
)
def test_train_vlm_refuses_what_it_cannot_run(tmp_path, monkeypatch, capsys, env, training, words):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    config = dict(output_dir=str(tmp_path / "run"), model={"tiny": {}}, data={"train": "no-such.jsonl"},
                  training=training, stages=[{"name": "align", "train": ["projector"]}])
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(config))
    _one_line_refusal(capsys, cli_main(["train-vlm", "--config", str(path)]), "vjepa2-hf train-vlm", *words)
    assert not (tmp_path / "run").exists()  # refused before anything was written
