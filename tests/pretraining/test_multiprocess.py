"""Two CPU processes (DDP over gloo, launched with torchrun) reach the same losses as one process with the same
global batch: data order and masks are drawn for the global batch, and DDP averages the gradients."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import yaml

from vjepa2_hf.pretraining import pretrain

from .conftest import tiny_run_config

WORKER = Path(__file__).with_name("ddp_pretrain_worker.py")
# Float reductions differ (gloo all-reduce of gradients vs one summed backward), so not bit-identical.
TOLERANCE = 1e-5


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_reach_the_same_loss_as_one(tmp_path):
    optimization = {"total_steps": 3, "global_batch_size": 4, "warmup_steps": 1}
    run = {"checkpoint_every": 0}
    config = tiny_run_config(tmp_path / "ddp", optimization=optimization, run=run)
    config_file = tmp_path / "ddp.yaml"
    config_file.write_text(yaml.safe_dump(config))
    result_file = tmp_path / "ddp.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
        "--master_port", str(_free_port()), str(WORKER), str(config_file), str(result_file),
    ]
    completed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-4000:]
    distributed = json.loads(result_file.read_text())
    assert distributed["world_size"] == 2 and distributed["backend"] == "gloo"

    single = pretrain(tiny_run_config(tmp_path / "single", optimization=optimization, run=run))
    losses = np.array([h["loss"] for h in single.history])
    np.testing.assert_allclose(np.array(distributed["losses"]), losses, rtol=0, atol=TOLERANCE)
    assert losses[-1] < losses[0]


def test_fsdp2_sharded_model_and_ema_match_one_process(tmp_path):
    """FSDP2 on CPU/gloo (what `examples/accelerate/fsdp_vitg.yaml` sets up on GPUs): every block sharded, two
    encoder calls per step, EMA on the local shards; same losses and weights as one unsharded process."""
    import torch

    worker = Path(__file__).with_name("fsdp2_pretrain_worker.py")
    result_file = tmp_path / "fsdp.pt"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
        "--master_port", str(_free_port()), str(worker), str(result_file),
    ]
    completed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-4000:]
    result = torch.load(result_file)
    assert result["world_size"] == 2
    np.testing.assert_allclose(result["losses"], result["reference_losses"], rtol=0, atol=TOLERANCE)
    assert result["max_weight_diff"] < 1e-5  # encoder, predictor and EMA target after 2 steps
    assert result["target_changed"] > 1e-5  # the EMA did update the sharded target
