"""`vjepa2-hf train-ac` on two CPU gloo processes: under `torchrun` (DDP) and under `accelerate launch` with the
shipped FSDP2 config (Accelerate's own FSDP2 path), the ranks end identical and equal to one process (weights and
every logged loss), the summary is printed once; the FSDP run is really sharded, its sharded checkpoint survives
`kill -9` and resumes bit for bit, and resumes on one process."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
import yaml

from vjepa2_hf.training import find_last_checkpoint
from vjepa2_hf.world_model.environment import ReachEnv, collect_random_episodes
from vjepa2_hf.world_model.training_vjepa2_ac import TrainACConfig, train_ac
from vjepa2_hf.world_model.trajectories import save_episodes
from vjepa2_hf.world_model.world_model import VJEPA2WorldModel

from ..training.launching import ROOT, accelerate_fsdp, environment, run, run_and_kill_after, torchrun

WORKER = str(ROOT / "tests" / "world_model" / "scaleout_worker.py")
STEPS = 6
LOSSES = ("loss", "teacher_forcing_loss", "rollout_loss")
# gloo's all-reduce of the gradients sums in another order than one process's backward: not bit-identical
TOLERANCE = 1e-5


def _config(root, name: str) -> str:
    config = {
        "model": {"encoder": "tiny", "encoder_overrides": {"crop_size": 32}, "predictor_preset": "tiny",
                  "predictor_overrides": {"action_dim": 2, "state_dim": 2}, "state_update": "additive"},
        "data": {"path": str(root / "data"), "num_frames": 4, "pose_format": "euclidean", "held_out_fraction": 0.2},
        "optimization": {"total_steps": STEPS, "batch_size": 8, "warmup_steps": 2, "cooldown_steps": 2,
                         "start_lr": 1e-4, "lr": 1e-3, "mixed_precision": "no"},
        "run": {"output_dir": str(root / name), "seed": 0, "save_every": 2, "keep_last": 5, "progress_bar": False},
    }
    path = root / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return str(path)


def _launch(root, name: str, launcher, nproc: int, **env: str):
    results = root / f"{name}-results"
    results.mkdir(exist_ok=True)
    return launcher(nproc, WORKER, str(results), "--config", _config(root, name)), results, environment(**env)


def _log(output_dir) -> list[dict]:
    return [json.loads(line) for line in (output_dir / "train_log.jsonl").read_text().splitlines()]


def _ranks(results, world: int) -> list[dict]:
    for r in range(world):  # each process is one rank of one process group (before anything is compared)
        layout = torch.load(results / f"layout{r}.pt")
        assert (layout["world_size"], layout["backend"]) == (world, "gloo"), layout
    ranks = [torch.load(results / f"rank{r}.pt") for r in range(world)]
    for rank in ranks[1:]:  # ranks identical: weights and every loss they computed
        assert rank["losses"] == ranks[0]["losses"]
        for name, value in ranks[0]["state"].items():
            assert torch.equal(value, rank["state"][name]), name
    assert all(r["world_size"] == world and r["backend"] == "gloo" for r in ranks)
    return ranks


def _assert_equals_one_process(rank: dict, single: dict) -> None:
    worst = max(float((rank["state"][k] - v).abs().max()) for k, v in single["state"].items())
    print(f"{rank['distributed_type']} on {rank['world_size']} processes vs one process: weights {worst:.1e}")
    assert worst < TOLERANCE
    for key in LOSSES:
        np.testing.assert_allclose([h[key] for h in rank["losses"]], [h[key] for h in single["log"]], rtol=0,
                                   atol=TOLERANCE, err_msg=key)


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("ac_scaleout")
    save_episodes(root / "data", collect_random_episodes(ReachEnv(image_size=32), 24, 6, seed=0), fps=4,
                  pose_format="euclidean")
    return root


@pytest.fixture(scope="module")
def single(root):
    """The recipe on one plain process (in this process)."""
    train_ac(TrainACConfig.from_dict(yaml.safe_load(open(_config(root, "single")))))
    state = VJEPA2WorldModel.from_pretrained(root / "single" / "final").predictor.state_dict()
    return {"state": state, "log": _log(root / "single")}


def test_torchrun_two_processes_equal_one(root, single):
    command, results, env = _launch(root, "ddp", torchrun, 2)
    completed = run(command, env)
    rank0, _ = _ranks(results, 2)
    assert rank0["distributed_type"] == "DistributedType.MULTI_CPU"
    _assert_equals_one_process(rank0, single)
    assert _log(root / "ddp") == rank0["losses"]  # the log holds the losses averaged over the processes
    assert completed.stdout.count('"final_loss"') == 1  # the summary, once


@pytest.fixture(scope="module")
def fsdp_run(root):
    command, results, env = _launch(root, "fsdp", accelerate_fsdp, 2)
    completed = run(command, env)
    return {"stdout": completed.stdout, "ranks": _ranks(results, 2)}


def test_fsdp_through_accelerate_is_sharded_and_equals_one_process(root, single, fsdp_run):
    rank0, rank1 = fsdp_run["ranks"]
    assert rank0["distributed_type"] == "DistributedType.FSDP"
    assert (rank0["block_rows"], rank0["local_block_rows"], rank1["local_block_rows"]) == (256, 128, 128)
    assert rank0["fsdp_units"] == 3  # the two VJEPA2ACLayer blocks and the root
    assert rank0["reduce_dtypes"] == ["torch.float32"]
    _assert_equals_one_process(rank0, single)
    exported = VJEPA2WorldModel.from_pretrained(root / "fsdp" / "final").predictor.state_dict()
    assert all(torch.equal(exported[k], v) for k, v in rank0["state"].items())  # the gathered export
    assert fsdp_run["stdout"].count('"final_loss"') == 1


def test_fsdp_checkpoint_survives_kill_and_resumes_bit_identical_and_on_one_process(root, fsdp_run):
    output_dir = root / "killed"
    command, results, env = _launch(root, "killed", accelerate_fsdp, 2, STEP_SLEEP="1.5")
    run_and_kill_after(command, lambda: find_last_checkpoint(output_dir) is not None, env)
    assert find_last_checkpoint(output_dir).name == "step_00000002" and not (output_dir / "final").exists()
    shutil.copytree(output_dir, root / "one")  # the same interrupted run, resumed on one process below

    command, results, env = _launch(root, "killed", accelerate_fsdp, 2)
    run(command, env)  # run.resume: auto
    resumed, uninterrupted = _ranks(results, 2)[0], fsdp_run["ranks"][0]
    for name, value in uninterrupted["state"].items():
        assert torch.equal(resumed["state"][name], value), name
    assert _log(output_dir) == _log(root / "fsdp")

    command, results, env = _launch(root, "one", accelerate_fsdp, 1)
    run(command, env)
    (one,) = _ranks(results, 1)
    assert one["local_block_rows"] == 256
    _assert_equals_one_process(one, {"state": uninterrupted["state"], "log": _log(root / "fsdp")})


def test_the_global_batch_is_split_across_processes(root):
    from vjepa2_hf.world_model.training_vjepa2_ac import batch_indices

    dataset = list(range(50))
    for step in (1, 7):
        whole = batch_indices(dataset, 0, step, 8)
        halves = [batch_indices(dataset, 0, step, 8, rank, 2) for rank in range(2)]
        quarters = [batch_indices(dataset, 0, step, 8, rank, 4) for rank in range(4)]
        assert halves[0] + halves[1] == whole == sum(quarters, []) and len(halves[0]) == 4


def test_a_batch_the_processes_cannot_share_evenly_is_refused(root):
    """`optimization.batch_size` 7 on two processes: each prints the one-line refusal and exits 2."""
    import subprocess

    config = yaml.safe_load(open(_config(root, "uneven")))
    config["optimization"]["batch_size"] = 7
    path = root / "uneven.yaml"
    path.write_text(yaml.safe_dump(config))
    command = torchrun(2, "-m", "vjepa2_hf.cli", "train-ac", "--config", str(path))
    completed = subprocess.run(command, env=environment(), capture_output=True, text=True, timeout=300, cwd=ROOT)
    refusal = ("vjepa2-hf train-ac: error: train-ac: optimization.batch_size (7, the global batch) must be divisible "
               "by the number of processes (2)")
    assert completed.stderr.count(refusal) == 2, completed.stderr[-3000:]
    assert "exitcode  : 2" in completed.stderr and not (root / "uneven").exists()  # stopped before any work
