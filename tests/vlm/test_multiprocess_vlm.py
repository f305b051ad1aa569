"""`vjepa2-hf train-vlm` on two CPU processes (`torchrun --nproc_per_node 2`, gloo, no `use_cpu`) equals one process
with the same global batch: the causal-LM loss normalised by the tokens of the whole global batch
(`num_items_in_batch` gathered across ranks), every logged loss and the trained weights; both ranks identical, the
stage folder and `results.json` written once, the summary printed once."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch
import yaml
from safetensors.torch import load_file

from vjepa2_hf.vlm.synthetic_qa import make_motion_qa

WORKER = Path(__file__).with_name("multiprocess_vlm_worker.py")
TOLERANCE = 1e-5
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
TINY = {"tiny": {"num_frames": 4, "vision_overrides": {"crop_size": 32}, "seed": 0}}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _config(path: Path, qa: dict, out: Path, batch_size: int) -> Path:
    config = dict(
        output_dir=str(out), model=TINY, data={"train": qa["train"], "eval": qa["test"]},
        training={"per_device_train_batch_size": batch_size, "logging_steps": 1},
        stages=[{"name": "align", "train": ["projector", "llm"], "learning_rate": 1e-3, "max_steps": 2,
                 "warmup_steps": 0}],
    )
    path.write_text(yaml.safe_dump(config))
    return path


def _losses(history: list[dict]) -> list[tuple[int, str, float]]:
    return [(e["step"], k, float(e[k])) for e in history for k in ("loss", "train_loss") if k in e]


def test_two_processes_train_the_one_process_model(tmp_path):
    qa = make_motion_qa(tmp_path / "qa", 20, num_frames=8, size=32, held_out_fraction=0.2)  # 16 train, 4 eval
    (tmp_path / "r1").mkdir()
    (tmp_path / "r2").mkdir()
    one = subprocess.run(
        [sys.executable, str(WORKER), str(tmp_path / "r1"),
         str(_config(tmp_path / "one.yaml", qa, tmp_path / "one", 8))],
        env=ENV, capture_output=True, text=True, timeout=300,
    )
    assert one.returncode == 0, one.stderr[-3000:]
    two = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
         "--master_port", str(_free_port()), str(WORKER), str(tmp_path / "r2"),
         str(_config(tmp_path / "two.yaml", qa, tmp_path / "two", 4))],
        env=ENV, capture_output=True, text=True, timeout=300,
    )
    assert two.returncode == 0, two.stderr[-3000:]
    load = lambda name: torch.load(name, weights_only=False)  # noqa: E731 - written by this test's worker
    single = load(tmp_path / "r1" / "rank0-align.pt")
    rank0, rank1 = load(tmp_path / "r2" / "rank0-align.pt"), load(tmp_path / "r2" / "rank1-align.pt")
    assert (single["world_size"], rank0["world_size"], rank1["world_size"]) == (1, 2, 2)
    assert rank0["backend"] == "gloo"

    expected = _losses(single["log_history"])
    assert [(s, k) for s, k, _ in expected] == [(1, "loss"), (2, "loss"), (2, "train_loss")]
    for rank in (rank0, rank1):
        got = _losses(rank["log_history"])
        assert [(s, k) for s, k, _ in got] == [(s, k) for s, k, _ in expected]
        np.testing.assert_allclose([v for *_, v in got], [v for *_, v in expected], rtol=0, atol=TOLERANCE)
    assert _losses(rank0["log_history"]) == _losses(rank1["log_history"])
    for name, value in single["trained"].items():
        assert torch.equal(rank0["trained"][name], rank1["trained"][name]), name
        torch.testing.assert_close(rank0["trained"][name], value, rtol=0, atol=TOLERANCE)
    saved_one = load_file(tmp_path / "one" / "align" / "trainable_weights.safetensors")
    saved_two = load_file(tmp_path / "two" / "align" / "trainable_weights.safetensors")
    assert saved_one.keys() == saved_two.keys()
    for name in saved_one:
        torch.testing.assert_close(saved_two[name], saved_one[name], rtol=0, atol=TOLERANCE)

    results = json.loads((tmp_path / "two" / "results.json").read_text())
    assert abs(results["stages"][0]["train_loss"] - expected[-1][2]) <= TOLERANCE
    assert two.stdout.count("stage align: trained projector, llm") == 1 and two.stdout.count('"final_dir"') == 1
