"""Atomic checkpoints: complete ones only get their final name; truncation is detected before loading."""

from __future__ import annotations

import json

import pytest
import torch
from accelerate import Accelerator

from vjepa2_hf.training.checkpointing import (
    CorruptCheckpointError,
    find_last_checkpoint,
    list_checkpoints,
    load_checkpoint,
    save_checkpoint,
    verify_checkpoint,
)


class Counter:
    def __init__(self):
        self.value = 0

    def state_dict(self):
        return {"value": self.value}

    def load_state_dict(self, state):
        self.value = state["value"]


def _accelerator_with_state(tmp_path):
    accelerator = Accelerator(cpu=True, project_dir=str(tmp_path))
    model = torch.nn.Linear(4, 3)
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.1)
    model, optimizer = accelerator.prepare(model, optimizer)
    counter = Counter()
    accelerator.register_for_checkpointing(counter)
    return accelerator, model, optimizer, counter


def test_save_verify_prune_and_load(tmp_path):
    accelerator, model, optimizer, counter = _accelerator_with_state(tmp_path)
    saved = {}
    for step in (1, 2, 3):
        counter.value = step
        model(torch.randn(2, 4)).sum().backward()
        optimizer.step()
        saved[step] = model.weight.detach().clone()
        save_checkpoint(accelerator, tmp_path, step, keep_last=2, metadata={"note": "x"})
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step_00000002", "step_00000003"]
    manifest = verify_checkpoint(find_last_checkpoint(tmp_path))
    assert manifest["step"] == 3 and manifest["metadata"] == {"note": "x"}
    assert {"model.safetensors", "optimizer.safetensors", "optimizer.json", "training_state.json",
            "random_states_0.safetensors"} <= set(manifest["files"])
    assert not [name for name in manifest["files"] if name.endswith((".pkl", ".bin", ".pt"))]  # no pickles
    assert all(len(entry["sha256"]) == 64 for entry in manifest["files"].values())

    with torch.no_grad():
        model.weight.zero_()
    counter.value = -1
    load_checkpoint(accelerator, tmp_path / "checkpoints" / "step_00000002")
    assert counter.value == 2
    torch.testing.assert_close(model.weight, saved[2])


def test_interrupted_save_is_ignored_and_cleaned(tmp_path):
    accelerator, *_ = _accelerator_with_state(tmp_path)
    save_checkpoint(accelerator, tmp_path, 5)
    partial = tmp_path / "checkpoints" / ".tmp-step_00000010"
    partial.mkdir()
    (partial / "model.safetensors").write_bytes(b"half")
    assert find_last_checkpoint(tmp_path).name == "step_00000005"
    save_checkpoint(accelerator, tmp_path, 6)
    assert not partial.exists()
    assert find_last_checkpoint(tmp_path).name == "step_00000006"


def test_truncated_or_incomplete_checkpoints_raise_before_loading(tmp_path):
    accelerator, model, _, counter = _accelerator_with_state(tmp_path)
    counter.value = 7
    path = save_checkpoint(accelerator, tmp_path, 7)
    weights = path / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    counter.value = 0
    with pytest.raises(CorruptCheckpointError, match="truncated"):
        load_checkpoint(accelerator, path)
    assert counter.value == 0  # nothing was loaded

    weights.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))  # same size, one flipped bit
    with pytest.raises(CorruptCheckpointError, match="sha256"):
        verify_checkpoint(path)
    weights.write_bytes(data)
    verify_checkpoint(path)

    (path / "manifest.json").unlink()
    with pytest.raises(CorruptCheckpointError, match="not completely written"):
        verify_checkpoint(path)
    with pytest.raises(FileNotFoundError):
        verify_checkpoint(tmp_path / "nope")
    (path / "manifest.json").write_text("{not json")
    with pytest.raises(CorruptCheckpointError, match="unreadable"):
        verify_checkpoint(path)
    (path / "manifest.json").write_text(json.dumps({"files": {"gone.bin": {"size": 1}}}))
    with pytest.raises(CorruptCheckpointError, match="missing 'gone.bin'"):
        verify_checkpoint(path)
