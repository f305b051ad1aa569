"""What the launcher asks for, checked before a training loop starts (`vjepa2_hf.training.accelerator_setup`):
DeepSpeed, FSDP where it cannot run and a launcher precision that contradicts the recipe's stop `vjepa2-hf pretrain`
and `vjepa2-hf train-ac` with one line and exit status 2, before any output exists; FSDP2's gradient reduction stays
float32 whatever the precision Accelerate applies to the plugin."""

from __future__ import annotations

import pytest
import torch
import yaml

from vjepa2_hf.cli import main
from vjepa2_hf.training.accelerator_setup import check_launch, fsdp2_plugin, read_launch

from .launching import ROOT, accelerate_fsdp, environment

CASES = {
    "deepspeed": ({"ACCELERATE_USE_DEEPSPEED": "true"}, ["does not run DeepSpeed", "FSDP2", "fsdp_vitg.yaml"]),
    "fsdp_without_launcher": ({"ACCELERATE_USE_FSDP": "true"}, ["FSDP asked", "no distributed launcher"]),
    "fsdp_offload_on_cpu": ({"ACCELERATE_USE_FSDP": "true", "FSDP_OFFLOAD_PARAMS": "true", "WORLD_SIZE": "2",
                             "LOCAL_RANK": "0"}, ["FSDP parameter offload", "without GPUs"]),
    "launcher_precision": ({"ACCELERATE_MIXED_PRECISION": "bf16"},
                           ["mixed precision 'bf16'", "optimization.mixed_precision is 'no'"]),
}


def _command(job: str, tmp_path) -> list[str]:
    output_dir = tmp_path / "run"
    if job == "pretrain":
        return ["pretrain", "--config", "tiny", "--set", f"run.output_dir={output_dir}"]
    config = tmp_path / "ac.yaml"
    config.write_text(yaml.safe_dump({"data": {"path": str(tmp_path / "trajectories")},
                                      "optimization": {"mixed_precision": "no"},
                                      "run": {"output_dir": str(output_dir)}}))
    return ["train-ac", "--config", str(config)]


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("job", ["pretrain", "train-ac"])
def test_refused_with_one_line_before_any_work(job, case, tmp_path, monkeypatch, capsys):
    for name in ("ACCELERATE_USE_FSDP", "ACCELERATE_USE_DEEPSPEED", "ACCELERATE_MIXED_PRECISION", "LOCAL_RANK",
                 "WORLD_SIZE", "FSDP_OFFLOAD_PARAMS"):
        monkeypatch.delenv(name, raising=False)
    env, expected = CASES[case]
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert main(_command(job, tmp_path)) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith(f"vjepa2-hf {job}: error: {job}"), err
    assert all(text in err for text in expected), err
    assert not (tmp_path / "run").exists()  # stopped before any work


def test_precision_rule():
    """The recipe's precision runs; a launcher's `no` (what `accelerate launch` exports when nothing is asked) or the
    same precision is accepted, and the log line says which decided."""
    def note(asked, recipe):
        environ = {"ACCELERATE_MIXED_PRECISION": asked} if asked else {}
        return check_launch(read_launch(environ), "pretrain", recipe, gpus=False)

    assert "accelerate launch's default" in note("no", "bf16")
    assert "as the launcher asks" in note("bf16", "bf16")
    assert "asked for none" in note(None, "bf16")
    with pytest.raises(ValueError, match="launch with --mixed_precision bf16"):
        note("fp16", "bf16")


def test_fsdp2_plugin_reduces_gradients_in_float32_under_any_precision():
    plugin, notes = fsdp2_plugin(read_launch({"ACCELERATE_USE_FSDP": "true", "FSDP_VERSION": "1"}))
    assert plugin.fsdp_version == 2 and notes == ["FSDP_VERSION=1 (accelerate launch's default is 1) runs as FSDP2"]
    plugin.set_mixed_precision("bf16")  # what Accelerate's state does with the run's precision
    policy = plugin.mixed_precision_policy
    assert policy.reduce_dtype == torch.float32 and policy.param_dtype is None


def test_launcher_config_precision_contradicting_the_recipe_stops_every_process(tmp_path):
    """`accelerate launch --config_file examples/accelerate/fsdp_vitg.yaml` (mixed_precision: bf16) with the tiny
    recipe (mixed_precision: no): each of the two processes prints the one-line refusal and exits 2."""
    import subprocess

    command = accelerate_fsdp(2, "-m", "vjepa2_hf.cli", "pretrain", "--config", "tiny", "--set",
                              f"run.output_dir={tmp_path / 'run'}", mixed_precision=None)
    completed = subprocess.run(command, env=environment(), capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert completed.returncode != 0
    refusal = "vjepa2-hf pretrain: error: pretrain: the launcher asks for mixed precision 'bf16'"
    assert completed.stderr.count(refusal) == 2, completed.stderr[-3000:]
    assert "exitcode  : 2" in completed.stderr
    assert not (tmp_path / "run").exists()
