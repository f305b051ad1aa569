"""Resume on another number of processes (what a multi-node job does after losing a node): a checkpoint written by
two processes (`torchrun --nproc_per_node 2`, gloo) resumed by one process continues exactly as an uninterrupted
one-process run, because the data order and the masks are drawn for the global batch, not per process."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import yaml

from vjepa2_hf.pretraining import pretrain
from vjepa2_hf.training import list_checkpoints

from .conftest import tiny_run_config

WORKER = Path(__file__).with_name("ddp_pretrain_worker.py")
TOLERANCE = 1e-5  # gloo's all-reduce of the gradients vs one summed backward
OPTIMIZATION = {"total_steps": 4, "global_batch_size": 4, "warmup_steps": 1}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_process_checkpoint_resumed_by_one_process(tmp_path):
    config = tiny_run_config(tmp_path / "two", optimization=OPTIMIZATION, run={"checkpoint_every": 2})
    config_file = tmp_path / "two.yaml"
    config_file.write_text(yaml.safe_dump(config))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
               "--master_port", str(_free_port()), str(WORKER), str(config_file), str(tmp_path / "two.json")]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-4000:]
    two = json.loads((tmp_path / "two.json").read_text())
    assert two["world_size"] == 2 and two["backend"] == "gloo"

    reference = pretrain(tiny_run_config(tmp_path / "one", optimization=OPTIMIZATION, run={"checkpoint_every": 0}))
    expected = np.array([h["loss"] for h in reference.history])
    np.testing.assert_allclose(two["losses"], expected, rtol=0, atol=TOLERANCE)

    # the node is lost after step 2: one process resumes from the two processes' step-2 checkpoint
    step_2 = [c for c in list_checkpoints(tmp_path / "two") if c.name.endswith("00000002")]
    assert len(step_2) == 1, list_checkpoints(tmp_path / "two")
    resumed_dir = tmp_path / "resumed"
    shutil.copytree(tmp_path / "two", resumed_dir)
    for later in list_checkpoints(resumed_dir):
        if not later.name.endswith("00000002"):
            shutil.rmtree(later)
    resumed = pretrain(tiny_run_config(resumed_dir, optimization=OPTIMIZATION, run={"checkpoint_every": 2}),
                       resume=True)
    losses = np.array([h["loss"] for h in resumed.history])
    assert len(losses) == 4  # the checkpointed history (steps 1-2) and the resumed steps 3-4
    np.testing.assert_allclose(losses, expected, rtol=0, atol=TOLERANCE)
