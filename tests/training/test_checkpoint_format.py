"""The checkpoint format: tensors in safetensors, the rest in JSON, exact round trips, FSDP2-sharded states saved by
2 processes loaded on 2 and on 1."""

from __future__ import annotations

import json
import os
import random
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from accelerate import Accelerator
from safetensors.torch import load_file

from vjepa2_hf.training.checkpointing import CorruptCheckpointError, load_checkpoint, save_checkpoint
from vjepa2_hf.training.state_files import read_tree, write_tree

WORKER = Path(__file__).with_name("fsdp2_checkpoint_worker.py")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_state_tree_round_trips_exactly(tmp_path):
    tree = {
        "python": random.getstate(),  # a tuple of 625 ints
        "numpy": np.random.get_state(),  # ('MT19937', uint32 array, ...)
        "torch": torch.get_rng_state(),
        "nested": {"a": [1, 2.5, None, "s", True], 3: torch.arange(4), "t": (torch.ones(2, dtype=torch.bfloat16),)},
        "nan": float("nan"),
    }
    write_tree(tree, tmp_path, "state")
    back = read_tree(tmp_path, "state")
    assert back["python"] == tree["python"]
    assert back["numpy"][0] == "MT19937" and back["numpy"][1].dtype == np.uint32
    assert np.array_equal(back["numpy"][1], tree["numpy"][1]) and back["numpy"][2:] == tree["numpy"][2:]
    assert torch.equal(back["torch"], tree["torch"]) and back["torch"].dtype == torch.uint8
    assert back["nested"]["a"] == [1, 2.5, None, "s", True] and torch.equal(back["nested"][3], torch.arange(4))
    assert back["nested"]["t"][0].dtype == torch.bfloat16 and np.isnan(back["nan"])
    with pytest.raises(TypeError, match=r"cannot store object at 'bad/x'"):
        write_tree({"x": object()}, tmp_path, "bad")


class Counter:
    def __init__(self):
        self.value = 0

    def state_dict(self):
        return {"value": self.value, "history": [{"loss": 0.5}]}

    def load_state_dict(self, state):
        self.value = state["value"]


def test_resume_restores_weights_optimizer_objects_and_rng_exactly(tmp_path):
    accelerator = Accelerator(cpu=True)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Linear(8, 2))
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.1)
    model, optimizer = accelerator.prepare(model, optimizer)
    counter = Counter()
    accelerator.register_for_checkpointing(counter)
    model(torch.randn(3, 4)).sum().backward()
    optimizer.step()
    counter.value = 7
    path = save_checkpoint(accelerator, tmp_path, 1)
    expected = (torch.rand(3), np.random.rand(), random.random())  # what the RNGs give next after the save
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    moments = {k: v.clone() for k, v in optimizer.state_dict()["state"][0].items()}

    model(torch.randn(3, 4)).sum().backward()  # move everything on
    optimizer.step()
    counter.value = 0
    manifest = load_checkpoint(accelerator, path)
    assert manifest["format"] == "vjepa2_hf.training/2" and counter.value == 7
    assert all(torch.equal(model.state_dict()[k], v) for k, v in weights.items())
    assert all(torch.equal(optimizer.state_dict()["state"][0][k], v) for k, v in moments.items())
    assert torch.equal(torch.rand(3), expected[0])
    assert np.random.rand() == expected[1] and random.random() == expected[2]
    assert not list(path.glob("*.pkl")) and not list(path.glob("*.bin"))


def test_checkpoint_of_another_model_is_refused_in_one_line(tmp_path):
    accelerator = Accelerator(cpu=True)
    accelerator.prepare(torch.nn.Linear(4, 3))
    path = save_checkpoint(accelerator, tmp_path, 1)
    other = Accelerator(cpu=True)
    other.prepare(torch.nn.Linear(5, 3))
    fit = r"does not fit this run.s model: 1 of another shape \(e\.g\. weight \(3, 4\) vs \(3, 5\)"
    with pytest.raises(ValueError, match=fit):
        load_checkpoint(other, path)


def test_older_pickle_format_is_refused(tmp_path):
    accelerator = Accelerator(cpu=True)
    accelerator.prepare(torch.nn.Linear(4, 3))
    path = save_checkpoint(accelerator, tmp_path, 1)
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["format"] = "vjepa2_hf.pretraining/1"
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="stores pickles") as refused:
        load_checkpoint(accelerator, path)
    assert not isinstance(refused.value, CorruptCheckpointError)  # bad input (exit 2), not a damaged file


def test_fsdp2_sharded_checkpoint_round_trips_and_loads_in_one_process(tmp_path):
    """2 gloo processes, every block sharded with `fully_shard`: save -> load on 2 processes is bit-identical
    (weights right after loading, and 2 more steps), and the same checkpoint loads into 1 unsharded process whose 2
    steps match the sharded run."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
               "--master_port", str(_free_port()), str(WORKER), str(tmp_path)]
    completed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-4000:]
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["world_size"] == 2 and report["sharded_rows"] == [128, 64] and report["full_rows"] == [256, 64]
    assert report["loaded_step"] == 2 and report["max_loaded_diff"] == 0.0 and report["max_resumed_diff"] == 0.0
    assert sorted(p.name for p in Path(report["checkpoint"]).glob("random_states_*.json")) == [
        "random_states_0.json", "random_states_1.json"]

    sys.path.insert(0, str(WORKER.parent))
    try:
        import fsdp2_checkpoint_worker as worker
    finally:
        sys.path.remove(str(WORKER.parent))
    accelerator = Accelerator(cpu=True)
    model, optimizer, state = worker.build(accelerator, sharded=False)
    load_checkpoint(accelerator, report["checkpoint"])
    assert state.step == 2
    worker.train(model, optimizer, state, slice(0, 4), 2)
    sharded = load_file(str(tmp_path / "uninterrupted.safetensors"))
    diff = max(float((v - sharded[k]).abs().max()) for k, v in model.state_dict().items())
    print(f"2-process sharded run vs resumed on 1 process after 2 more steps: max abs weight diff {diff:.1e}")
    assert diff < 1e-5  # gloo's reduce-scatter of the two halves vs one backward over the whole batch


def test_pretraining_saved_by_two_processes_resumes_on_one(tmp_path):
    """`vjepa2-hf pretrain` under torchrun (DDP, 2 gloo processes) checkpoints steps 2 and 4; one process resumes
    from step 2 and ends within 1e-5 of the 2-process run (gradients averaged by gloo vs one backward)."""
    import shutil

    import yaml

    from vjepa2_hf.pretraining import pretrain

    from ..pretraining.conftest import tiny_run_config

    config = tiny_run_config(tmp_path / "run", optimization={"total_steps": 4}, run={"checkpoint_every": 2})
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(config))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
               "--master_port", str(_free_port()), "-m", "vjepa2_hf.cli", "pretrain", "--config",
               str(tmp_path / "recipe.yaml")]
    completed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-4000:]
    checkpoint = tmp_path / "run" / "checkpoints" / "step_00000002"
    assert sorted(p.name for p in checkpoint.glob("random_states_*.json")) == [
        "random_states_0.json", "random_states_1.json"]  # two processes did save
    two = load_file(str(tmp_path / "run" / "final" / "model.safetensors"))
    shutil.rmtree(tmp_path / "run" / "final")
    resumed = pretrain(str(tmp_path / "recipe.yaml"), resume=str(checkpoint))
    assert resumed.step == 4 and [h["step"] for h in resumed.history] == [1, 2, 3, 4]
    one = load_file(str(resumed.final_model_dir / "model.safetensors"))
    diff = max(float((one[k] - two[k]).abs().max()) for k in two)
    print(f"2-process run vs resumed on 1 process from step 2: max abs weight diff {diff:.1e}")
    assert diff < 1e-5


@pytest.mark.parametrize("text", ["[]", '{"step": 1, "custom": 5}', '{"__tensor__": "absent"}', "[" * 5000 + "]" * 5000])
def test_malformed_training_state_is_a_value_error(tmp_path, text):
    """A rewritten training_state.json (with its manifest entry) is refused as bad input, not as a bug."""
    accelerator = Accelerator(cpu=True)
    accelerator.prepare(torch.nn.Linear(2, 2))
    path = save_checkpoint(accelerator, tmp_path, 1, with_hash=False)
    (path / "training_state.json").write_text(text)
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["files"]["training_state.json"]["size"] = len(text)
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="training_state.json is (malformed|not a training state)"):
        load_checkpoint(accelerator, path)
