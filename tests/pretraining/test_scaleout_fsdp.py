"""`vjepa2-hf pretrain` sharded with FSDP2 through Accelerate's own path (`accelerate launch --config_file
examples/accelerate/fsdp_vitg.yaml`, `FullyShardedDataParallelPlugin(fsdp_version=2)`, `accelerator.prepare`) on two
CPU gloo processes: really sharded, the same losses and weights as one process, a sharded checkpoint that survives
`kill -9` and resumes bit for bit (here launched with `accelerate launch --use_fsdp` alone: FSDP_VERSION=1 and no
wrap policy from the launcher still run FSDP2 sharded by `_no_split_modules`), and that resumes on one process."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
import yaml

from vjepa2_hf.pretraining import pretrain
from vjepa2_hf.training import find_last_checkpoint

from ..training.launching import ROOT, accelerate_fsdp, environment, run, run_and_kill_after
from .conftest import tiny_run_config

WORKER = str(ROOT / "tests" / "pretraining" / "scaleout_worker.py")
STEPS = 4
# gloo's all-reduce of the gradients sums in another order than one process's backward: not bit-identical
TOLERANCE = 1e-5


def _config(tmp_path, name: str) -> str:
    config = tiny_run_config(tmp_path / name, optimization={"total_steps": STEPS, "warmup_steps": 1},
                             run={"checkpoint_every": 2, "keep_last_checkpoints": 3})
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return str(path)


def _launch(tmp_path, name: str, nproc: int, *extra: str, flag: bool = False, **env: str):
    results = tmp_path / f"{name}-results"
    results.mkdir(exist_ok=True)
    command = accelerate_fsdp(nproc, WORKER, str(results), "--config", _config(tmp_path, name), *extra, flag=flag)
    return command, results, environment(**env)


def _losses(output_dir) -> list[float]:
    return [json.loads(line)["loss"] for line in (output_dir / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def fsdp_run(tmp_path_factory):
    """An uninterrupted 2-process FSDP run and the same recipe on one plain process."""
    tmp_path = tmp_path_factory.mktemp("fsdp_pretrain")
    command, results, env = _launch(tmp_path, "fsdp", 2)
    completed = run(command, env)
    ranks = [torch.load(results / f"rank{r}.pt") for r in range(2)]
    single_state = {}

    def keep_last(step, metrics, model):
        if step == STEPS:
            single_state.update({k: v.detach().clone() for k, v in model.state_dict().items()})

    single = pretrain(yaml.safe_load(open(_config(tmp_path, "single"))), callbacks=[keep_last])
    return dict(tmp_path=tmp_path, stdout=completed.stdout, ranks=ranks, single=single, single_state=single_state)


def test_fsdp_through_accelerate_is_sharded_and_equals_one_process(fsdp_run):
    rank0, rank1 = fsdp_run["ranks"]
    assert rank0["world_size"] == rank1["world_size"] == 2 and rank0["backend"] == "gloo"
    # each process holds half of a block's rows; the units: every `_no_split_modules` block (6 VJEPA2Layer of the
    # encoder, its EMA target and the predictor, the predictor embeddings), the patch embeddings, the root
    assert (rank0["block_rows"], rank0["local_block_rows"], rank1["local_block_rows"]) == (256, 128, 128)
    assert (rank0["no_split_blocks"], rank0["fsdp_units"]) == (7, 9)
    assert rank0["reduce_dtypes"] == ["torch.float32"] and rank0["target_dtype"] == "torch.float32"
    for name, value in rank0["state"].items():
        assert torch.equal(value, rank1["state"][name]), name  # ranks identical
    worst = max(float((rank0["state"][k] - v).abs().max()) for k, v in fsdp_run["single_state"].items())
    worst_ema = max(float((rank0["state"][k] - v).abs().max()) for k, v in fsdp_run["single_state"].items()
                    if k.startswith("target_encoder."))
    print(f"FSDP (2 processes) vs one process: weights {worst:.1e}, EMA target {worst_ema:.1e}")
    assert worst < TOLERANCE and worst_ema < TOLERANCE
    fsdp_losses = _losses(fsdp_run["tmp_path"] / "fsdp")
    single_losses = [h["loss"] for h in fsdp_run["single"].history]
    np.testing.assert_allclose(fsdp_losses, single_losses, rtol=0, atol=TOLERANCE)
    assert fsdp_run["stdout"].count("done: 4 steps") == 1  # the summary once


def test_fsdp_checkpoint_survives_kill_and_resumes_bit_identical_and_on_one_process(fsdp_run):
    tmp_path = fsdp_run["tmp_path"]
    output_dir = tmp_path / "killed"
    command, results, env = _launch(tmp_path, "killed", 2, STEP_SLEEP="1.5")
    run_and_kill_after(command, lambda: find_last_checkpoint(output_dir) is not None, env)
    assert find_last_checkpoint(output_dir).name == "step_00000002" and not (output_dir / "final").exists()
    shutil.copytree(output_dir, tmp_path / "one")  # the same interrupted run, resumed on one process below

    command, results, env = _launch(tmp_path, "killed", 2, "--resume", flag=True)
    run(command, env)
    resumed = torch.load(results / "rank0.pt")
    assert (resumed["local_block_rows"], resumed["fsdp_units"]) == (128, fsdp_run["ranks"][0]["fsdp_units"])
    resumed = resumed["state"]
    uninterrupted = fsdp_run["ranks"][0]["state"]
    for name, value in uninterrupted.items():
        assert torch.equal(resumed[name], value), name
    assert _losses(output_dir) == _losses(tmp_path / "fsdp")

    command, results, env = _launch(tmp_path, "one", 1, "--resume")
    run(command, env)
    one = torch.load(results / "rank0.pt")
    assert one["world_size"] == 1 and one["local_block_rows"] == 256
    worst = max(float((one["state"][k] - v).abs().max()) for k, v in uninterrupted.items())
    print(f"resumed on 1 process vs uninterrupted on 2: weights {worst:.1e}")
    assert worst < TOLERANCE
    np.testing.assert_allclose(_losses(tmp_path / "one"), _losses(tmp_path / "fsdp"), rtol=0, atol=TOLERANCE)
