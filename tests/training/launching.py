"""Launching the package's commands on several gloo processes for the scale-out tests: `torchrun` and
`accelerate launch` command lines, a free port, and the state a worker saves per rank."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import torch

ROOT = Path(__file__).resolve().parents[2]
FSDP_YAML = ROOT / "examples" / "accelerate" / "fsdp_vitg.yaml"
# Environment of every launched process: one thread each (2 cores shared), offline, no launcher leftovers.
_DROP = ("ACCELERATE_USE_FSDP", "ACCELERATE_USE_DEEPSPEED", "ACCELERATE_MIXED_PRECISION", "FSDP_VERSION",
         "LOCAL_RANK", "RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _DROP}
    env.update(OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false", **extra)
    return env


def torchrun(nproc: int, *args: str) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc), "--master_addr",
            "127.0.0.1", "--master_port", str(free_port()), *args]


def accelerate_fsdp(nproc: int, *args: str, mixed_precision: str | None = "no", flag: bool = False) -> list[str]:
    """`accelerate launch` with the shipped FSDP2 config (`examples/accelerate/fsdp_vitg.yaml`), or with only
    `--use_fsdp` when `flag`, on `nproc` processes; `mixed_precision` None keeps the config's (bf16)."""
    precision = ["--mixed_precision", mixed_precision] if mixed_precision else []
    fsdp = ["--use_fsdp"] if flag else ["--config_file", str(FSDP_YAML)]
    return [sys.executable, "-m", "accelerate.commands.launch", *fsdp, "--num_processes", str(nproc),
            "--main_process_port", str(free_port()), *precision, *args]


def run(command: list[str], env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    completed = subprocess.run(command, env=env or environment(), capture_output=True, text=True, timeout=timeout,
                               cwd=ROOT)
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-6000:]
    return completed


def run_and_kill_after(command: list[str], ready: Callable[[], bool], env: dict[str, str], timeout: float = 300) -> None:
    """Start `command`, wait until `ready()` (e.g. a checkpoint exists), then `kill -9` the launcher and every process
    it started (torchrun starts its workers in their own sessions, so they are found by parentage)."""
    import psutil

    process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + timeout
    try:
        while not ready():
            assert process.poll() is None, f"the run ended before it was killed: {process.stderr.read()[-4000:]}"
            assert time.monotonic() < deadline, f"not ready after {timeout} s"
            time.sleep(0.05)
    finally:
        if process.poll() is None:
            family = [process.pid] + [child.pid for child in psutil.Process(process.pid).children(recursive=True)]
            for pid in family:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        process.wait()
    assert process.returncode == -signal.SIGKILL, process.returncode


def full_state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """`module`'s weights, whole: FSDP2 shards (DTensors) are gathered, so every process must call it."""
    return {k: (v.full_tensor() if hasattr(v, "full_tensor") else v).detach().clone() for k, v in
            module.state_dict().items()}
